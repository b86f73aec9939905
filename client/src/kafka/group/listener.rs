//! The rebalance listener: what the application hears when partitions are
//! assigned to it, revoked from it, or lost.

use std::future::Future;

use super::rebalance::Rebalance;
use super::topic_partition::TopicPartition;

/// Callbacks run while the consumer rebalances, from inside the
/// application's own `next()` / `next_batch()` call, so no record is being
/// processed while they run.
///
/// - [`on_revoked`](Self::on_revoked): the partitions are about to go to
///   another member. The consumer still owns them, so this is the place to
///   finish their work and commit ([`Rebalance::commit`]); after it
///   returns, the consumer commits whatever was marked processed and stops
///   reading them. With the eager protocols (range, roundrobin) every
///   partition is revoked before each rebalance; with cooperative-sticky
///   only those that move.
/// - [`on_assigned`](Self::on_assigned): newly assigned partitions, already
///   positioned at their committed offsets (or per `auto_offset_reset`);
///   [`Rebalance::seek`] moves them.
/// - [`on_lost`](Self::on_lost): the consumer is no longer a member (its
///   session expired, it stalled past `max_poll_interval`, or it was
///   fenced), so the partitions may already be another member's: commits
///   would be refused. Drop the partitions' local state here.
///
/// Every callback does nothing by default.
///
/// Implement it with `async fn`s:
///
/// ```
/// use mq_client::kafka::{Rebalance, RebalanceListener, TopicPartition};
///
/// struct FlushOnRevoke;
///
/// impl RebalanceListener for FlushOnRevoke {
///     async fn on_revoked(&mut self, ctx: &mut Rebalance<'_>, partitions: &[TopicPartition]) {
///         // Finish in-flight work for `partitions` here, then commit it.
///         if let Err(e) = ctx.commit_processed().await {
///             eprintln!("commit on revoke failed: {e}");
///         }
///     }
/// }
/// ```
pub trait RebalanceListener: Send + 'static {
    /// Partitions newly assigned to this consumer.
    fn on_assigned(
        &mut self,
        ctx: &mut Rebalance<'_>,
        partitions: &[TopicPartition],
    ) -> impl Future<Output = ()> + Send {
        let _ = (ctx, partitions);
        async {}
    }

    /// Partitions about to be taken from this consumer; commits still work.
    fn on_revoked(
        &mut self,
        ctx: &mut Rebalance<'_>,
        partitions: &[TopicPartition],
    ) -> impl Future<Output = ()> + Send {
        let _ = (ctx, partitions);
        async {}
    }

    /// Partitions this consumer lost without a chance to commit.
    fn on_lost(
        &mut self,
        ctx: &mut Rebalance<'_>,
        partitions: &[TopicPartition],
    ) -> impl Future<Output = ()> + Send {
        let _ = (ctx, partitions);
        async {}
    }
}

/// A listener that does nothing (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopListener;

impl RebalanceListener for NoopListener {}
