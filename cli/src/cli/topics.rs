//! `mq topics` and `mq topic create|delete`: Kafka's topic administration,
//! the arguments and their help.

use clap::{Args, Subcommand};

use super::{ClientProps, parse_key_value};

pub(super) const TOPICS_ABOUT: &str = concat!(
    "\
List a Kafka cluster's topics: one line per partition with its leader,
replicas and in-sync replicas (ISR), by broker id. With a topic in the URL,
only that topic. Internal topics (__consumer_offsets) are listed too.",
    kafka_connection_help!()
);

pub(super) const TOPICS_EXAMPLES: &str = "\
Examples:
  mq topics kafka://localhost:9092
  mq topics kafka://localhost:9092/orders
  mq topics kafka://broker1:9092,broker2:9092
  mq topics kafka://broker:9093 -X security.protocol=SSL -X ssl.truststore.location=ca.pem";

/// `mq topics`.
#[derive(Debug, Args)]
pub(crate) struct TopicsArgs {
    /// The cluster's URL, with a topic to list that topic only.
    #[arg(value_name = "URL", help = "kafka://host:port[,host:port...][/topic]")]
    pub(crate) url: String,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

pub(super) const TOPIC_EXAMPLES: &str = "\
Examples:
  mq topic create kafka://localhost:9092/orders --partitions 6 --replication-factor 1
  mq topic create kafka://broker:9094/orders --topic-config retention.ms=86400000 --config admin.properties
  mq topic delete kafka://localhost:9092/orders";

/// `mq topic`.
#[derive(Debug, Args)]
pub(crate) struct TopicArgs {
    /// create or delete.
    #[command(subcommand)]
    pub(crate) action: TopicAction,
}

/// `mq topic create|delete`.
#[derive(Debug, Subcommand)]
pub(crate) enum TopicAction {
    /// Create a topic.
    #[command(
        long_about = concat!("Create a topic.", kafka_connection_help!()),
        after_help = "Examples:\n  mq topic create kafka://localhost:9092/orders --partitions 6\n  \
            mq topic create kafka://broker:9094/orders --topic-config cleanup.policy=compact --config admin.properties"
    )]
    Create(TopicCreateArgs),
    /// Delete a topic.
    #[command(
        long_about = concat!("Delete a topic.", kafka_connection_help!()),
        after_help = "Examples:\n  mq topic delete kafka://localhost:9092/orders\n  \
            mq topic delete kafka://broker:9094/orders --config admin.properties"
    )]
    Delete(TopicDeleteArgs),
}

/// `mq topic create`.
#[derive(Debug, Args)]
pub(crate) struct TopicCreateArgs {
    /// kafka://host:port/topic
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Number of partitions.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=1_000_000))]
    pub(crate) partitions: i32,
    /// Replicas of each partition.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(i16).range(1..))]
    pub(crate) replication_factor: i16,
    /// A topic config, such as retention.ms=86400000 (repeatable).
    #[arg(long = "topic-config", value_name = "K=V", value_parser = parse_key_value)]
    pub(crate) configs: Vec<(String, String)>,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

/// `mq topic delete`.
#[derive(Debug, Args)]
pub(crate) struct TopicDeleteArgs {
    /// kafka://host:port/topic
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}
