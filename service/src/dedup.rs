//! The deduplication hook: where idempotent consumption plugs in.
//!
//! Before the handler, the subscriber asks [`Dedup::seen`] whether the
//! message was processed already and, if so, settles it without calling
//! the handler; after a success it calls [`Dedup::mark`]. The id is the
//! message id (`x-mq-message-id`, or the AMQP `message_id` property),
//! else on Kafka `<topic>/<partition>/<offset>`; a RabbitMQ message with
//! no id is not deduplicated. The default, [`NoDedup`], remembers nothing.
//! Stores (memory, embedded, Redis, Postgres) come with the idempotency
//! work.

use futures_util::future::BoxFuture;

/// Remembers which messages were processed.
pub trait Dedup: Send + Sync + 'static {
    /// Whether `id` was processed already.
    fn seen<'a>(&'a self, id: &'a str) -> BoxFuture<'a, bool>;

    /// Records that `id` was processed.
    fn mark<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()>;
}

/// No deduplication (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDedup;

impl Dedup for NoDedup {
    fn seen<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async { false })
    }

    fn mark<'a>(&'a self, _id: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}
