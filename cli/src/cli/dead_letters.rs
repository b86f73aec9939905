//! `mq dead-letters list|replay`: the arguments and their help.

use clap::{Args, Subcommand, ValueEnum};

use super::ClientProps;

pub(crate) const DEAD_LETTERS_ABOUT: &str = "\
List the dead letters of an mq-service subscriber, or replay chosen ones to
where they came from.

A dead letter is a message mq-service gave up on (a permanent failure, its
attempts spent, or a payload it could not decode), with x-mq-* headers that
say why: x-mq-message-id, x-mq-origin-topic/-partition/-offset (Kafka) or
x-mq-origin-exchange/-routing-key/-queue (RabbitMQ), x-mq-consumer-group,
x-mq-reason, x-mq-error, x-mq-attempts, x-mq-first-failure and
x-mq-last-failure. Kafka: the URL names the dead-letter topic. RabbitMQ:
--queue names the dead-letter queue.";

pub(crate) const DEAD_LETTERS_EXAMPLES: &str = "\
Examples:
  mq dead-letters list kafka://localhost:9092/orders.billing.dead
  mq dead-letters list amqp://guest:guest@localhost:5672/%2f --queue orders.billing.dead --format json
  mq dead-letters replay kafka://localhost:9092/orders.billing.dead --message-id 3f9a0c...
  mq dead-letters replay amqp://guest:guest@localhost:5672/%2f --queue orders.billing.dead --all";

pub(crate) const LIST_ABOUT: &str = "\
List a dead-letter topic or queue: one line per dead letter with its
position (Kafka: partition@offset in the dead-letter topic; RabbitMQ: its
place in the queue, from 1), message id, origin (topic[partition]@offset,
or exchange:routing-key with the default exchange as (default)), reason,
attempts, the times of the first and last failure (RFC 3339, UTC) and the
last error. A header that is missing shows as -. --format json writes one
object per line instead, with the origin as an object and the consumer
group and error type too.

Kafka: the topic is read from its earliest offset to the end it had when mq
started; nothing is committed. RabbitMQ: the messages are taken with
basic.get and all given back to the queue (in their order) when mq is done;
the queue is left as it was, but their redelivered flag is set.";

pub(crate) const LIST_EXAMPLES: &str = "\
Examples:
  mq dead-letters list kafka://localhost:9092/orders.billing.dead
  mq dead-letters list kafka://localhost:9092/orders.billing.dead --format json | jq .error
  mq dead-letters list amqp://guest:guest@localhost:5672/%2f --queue orders.billing.dead --count 20";

pub(crate) const REPLAY_ABOUT: &str = "\
Publish dead letters again to where they came from, so their subscriber
processes them once more: chosen by --message-id (repeatable), or --all.

Each goes back with its body, key and headers, without the failure
headers (x-mq-origin-*, x-mq-error*, x-mq-reason, x-mq-attempts,
x-mq-*-failure, x-mq-consumer-group, the retry-stage headers, and
RabbitMQ's x-death): its subscriber starts its attempts afresh. Kafka: to
x-mq-origin-topic, with the same key (so the same partition with the
default partitioner), acks=all. RabbitMQ: to x-mq-origin-exchange with
x-mq-origin-routing-key, with its properties, mandatory and confirmed.

Before anything is sent, every --message-id must be found and every chosen
dead letter must name its origin; else nothing is replayed (exit status
8).

Kafka: the dead-letter topic is read from its earliest offset to the end it
had when mq started, and is not changed: a replayed dead letter stays in
it, and 'replay --all' twice replays twice. A message id that occurs more
than once (dead-lettered again after a replay) is replayed from its latest
dead letter. RabbitMQ: the messages are taken with basic.get; each replayed
one is acked once the broker confirmed its new copy, and the others are
given back to the queue (nack with requeue). A copy that is not confirmed
or has no queue to go to stops the replay with exit status 9; what was not
replayed stays in the dead-letter queue.";

pub(crate) const REPLAY_EXAMPLES: &str = "\
Examples:
  mq dead-letters replay kafka://localhost:9092/orders.billing.dead --message-id 3f9a0c...
  mq dead-letters replay kafka://localhost:9092/orders.billing.dead --all
  mq dead-letters replay amqp://guest:guest@localhost:5672/%2f --queue orders.billing.dead --message-id a1 --message-id b2";

/// `mq dead-letters`.
#[derive(Debug, Args)]
pub(crate) struct DeadLettersArgs {
    /// list or replay.
    #[command(subcommand)]
    pub(crate) action: DeadLettersAction,
}

/// `mq dead-letters list|replay`.
#[derive(Debug, Subcommand)]
pub(crate) enum DeadLettersAction {
    /// List the dead letters of a topic or queue.
    #[command(long_about = LIST_ABOUT, after_help = LIST_EXAMPLES)]
    List(DeadLettersListArgs),
    /// Publish chosen dead letters again to their origin.
    #[command(long_about = REPLAY_ABOUT, after_help = REPLAY_EXAMPLES)]
    Replay(DeadLettersReplayArgs),
}

/// `mq dead-letters list`.
#[derive(Debug, Args)]
pub(crate) struct DeadLettersListArgs {
    /// kafka://host:port/dead-letter-topic, or amqp://user:pass@host:port/vhost with --queue
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// List at most N dead letters (the oldest).
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,
    /// Output format.
    #[arg(long, value_name = "FORMAT", default_value = "table")]
    pub(crate) format: DeadLettersFormat,
    /// The dead-letter queue.
    #[arg(long, value_name = "Q", help_heading = "AMQP")]
    pub(crate) queue: Option<String>,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

/// `mq dead-letters replay`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["message_ids", "all"]))]
pub(crate) struct DeadLettersReplayArgs {
    /// kafka://host:port/dead-letter-topic, or amqp://user:pass@host:port/vhost with --queue
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Replay the dead letter with this message id (repeatable).
    #[arg(long = "message-id", value_name = "ID")]
    pub(crate) message_ids: Vec<String>,
    /// Replay every dead letter.
    #[arg(long, conflicts_with = "message_ids")]
    pub(crate) all: bool,
    /// The dead-letter queue.
    #[arg(long, value_name = "Q", help_heading = "AMQP")]
    pub(crate) queue: Option<String>,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

/// `mq dead-letters list --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DeadLettersFormat {
    /// Aligned columns with a header line.
    Table,
    /// One JSON object per dead letter per line.
    Json,
}
