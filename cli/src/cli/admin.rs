//! `mq groups`, `mq group delete|reset-offsets` and `mq config get|set`:
//! Kafka's group and config administration, the arguments and their help.

use clap::{Args, Subcommand, ValueEnum};

use super::{ClientProps, parse_key_value};

/// How an admin listing is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub(crate) enum ListFormat {
    /// Aligned columns under a header.
    #[default]
    Text,
    /// One JSON document, for scripts.
    Json,
}

pub(super) const GROUPS_ABOUT: &str = concat!(
    "\
List a Kafka cluster's groups: id, state (Stable, Empty, ...), type
(classic, consumer, share) and protocol type (consumer for consumer
groups, empty for groups that only hold committed offsets).",
    kafka_connection_help!()
);

pub(super) const GROUPS_EXAMPLES: &str = "\
Examples:
  mq groups kafka://localhost:9092
  mq groups kafka://localhost:9092 --format json";

/// `mq groups`.
#[derive(Debug, Args)]
pub(crate) struct GroupsArgs {
    /// kafka://host:port[,host:port...]
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Aligned columns, or JSON.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub(crate) format: ListFormat,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

pub(super) const GROUP_EXAMPLES: &str = "\
Examples:
  mq group reset-offsets kafka://localhost:9092/orders --group billing --to-earliest
  mq group reset-offsets kafka://localhost:9092/orders --group billing --to-earliest --execute
  mq group describe kafka://localhost:9092/orders --group billing
  mq group delete kafka://localhost:9092 --group billing";

/// `mq group`.
#[derive(Debug, Args)]
pub(crate) struct GroupArgs {
    /// reset-offsets or delete.
    #[command(subcommand)]
    pub(crate) action: GroupAction,
}

/// `mq group reset-offsets|delete`.
#[derive(Debug, Subcommand)]
pub(crate) enum GroupAction {
    /// Set a stopped group's committed offsets of a topic (a dry run unless --execute).
    #[command(
        long_about = concat!("\
Set a group's committed offsets of the URL's topic, so that its next run
starts there, as kafka-consumer-groups --reset-offsets does. It prints
each partition's current and new offset; without --execute that is all
(a dry run), with --execute the offsets are committed. Only a group with
no live members can be reset: stop its consumers first.", kafka_connection_help!()),
        after_help = GROUP_EXAMPLES
    )]
    ResetOffsets(GroupResetArgs),
    /// Show a group: state, members and their partitions, and lag per partition.
    #[command(
        long_about = concat!("\
Show a group: its state and assignor, its members (client id, host) and
the partitions each is assigned, and per partition the committed offset,
the end of the log and the lag between them. The partitions are the
members' assignments and, with a topic in the URL, every partition of
that topic (a stopped group has no assignment).", kafka_connection_help!()),
        after_help = GROUP_EXAMPLES
    )]
    Describe(GroupDescribeArgs),
    /// Delete a group and its committed offsets (it must have no live members).
    #[command(
        long_about = concat!("Delete a group and its committed offsets; a group with live members is refused.", kafka_connection_help!()),
        after_help = GROUP_EXAMPLES
    )]
    Delete(GroupDeleteArgs),
}

/// Where `reset-offsets` moves the group.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ResetTo {
    /// The first offset still in each partition.
    #[arg(long)]
    pub(crate) to_earliest: bool,
    /// The end of each partition: only new records are read.
    #[arg(long)]
    pub(crate) to_latest: bool,
    /// This offset in every partition (clamped to what each keeps).
    #[arg(long, value_name = "OFFSET")]
    pub(crate) to_offset: Option<i64>,
    /// The first record at or after this time (milliseconds since the epoch).
    #[arg(long, value_name = "MS")]
    pub(crate) to_timestamp: Option<i64>,
}

/// `mq group reset-offsets`.
#[derive(Debug, Args)]
pub(crate) struct GroupResetArgs {
    /// kafka://host:port/topic
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// The group.
    #[arg(long, value_name = "GROUP")]
    pub(crate) group: String,
    #[command(flatten)]
    pub(crate) to: ResetTo,
    /// Only this partition (all of the topic's by default).
    #[arg(long, value_name = "N")]
    pub(crate) partition: Option<i32>,
    /// Commit the new offsets (without it, only show them).
    #[arg(long)]
    pub(crate) execute: bool,
    /// Aligned columns, or JSON.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub(crate) format: ListFormat,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

/// `mq group describe`.
#[derive(Debug, Args)]
pub(crate) struct GroupDescribeArgs {
    /// The cluster's URL, with a topic to show every partition of it.
    #[arg(value_name = "URL", help = "kafka://host:port[,host:port...][/topic]")]
    pub(crate) url: String,
    /// The group.
    #[arg(long, value_name = "GROUP")]
    pub(crate) group: String,
    /// Aligned columns, or JSON.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub(crate) format: ListFormat,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

/// `mq group delete`.
#[derive(Debug, Args)]
pub(crate) struct GroupDeleteArgs {
    /// kafka://host:port[,host:port...]
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// The group.
    #[arg(long, value_name = "GROUP")]
    pub(crate) group: String,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

pub(super) const CONFIG_EXAMPLES: &str = "\
Examples:
  mq config get kafka://localhost:9092/orders
  mq config set kafka://localhost:9092/orders retention.ms=86400000
  mq config set kafka://localhost:9092/orders --delete retention.ms
  mq config get kafka://localhost:9092 --broker 1 --format json";

/// `mq config`.
#[derive(Debug, Args)]
pub(crate) struct ConfigArgs {
    /// get or set.
    #[command(subcommand)]
    pub(crate) action: ConfigAction,
}

/// `mq config get|set`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigAction {
    /// Show a topic's or a broker's configs.
    #[command(
        long_about = concat!("\
Show the configs of the URL's topic, or of broker --broker N: name, value
and where the value comes from (topic, broker, default, ...).", kafka_connection_help!()),
        after_help = CONFIG_EXAMPLES
    )]
    Get(ConfigGetArgs),
    /// Change single configs of a topic or a broker, leaving the others.
    #[command(
        long_about = concat!("\
Set configs of the URL's topic, or of broker --broker N, entry by entry
(IncrementalAlterConfigs): NAME=VALUE sets one, --delete NAME puts one back
to its default; the others stay as they are. An unknown name or a bad
value is refused by the broker, and nothing changes.", kafka_connection_help!()),
        after_help = CONFIG_EXAMPLES
    )]
    Set(ConfigSetArgs),
}

/// `mq config get`.
#[derive(Debug, Args)]
pub(crate) struct ConfigGetArgs {
    /// kafka://host:port/topic, or kafka://host:port with --broker.
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// A broker's configs instead of the topic's.
    #[arg(long, value_name = "ID")]
    pub(crate) broker: Option<i32>,
    /// Aligned columns, or JSON.
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub(crate) format: ListFormat,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}

/// `mq config set`.
#[derive(Debug, Args)]
pub(crate) struct ConfigSetArgs {
    /// kafka://host:port/topic, or kafka://host:port with --broker.
    #[arg(value_name = "URL")]
    pub(crate) url: String,
    /// Configs to set.
    #[arg(value_name = "NAME=VALUE", value_parser = parse_key_value)]
    pub(crate) set: Vec<(String, String)>,
    /// A config to put back to its default (repeatable).
    #[arg(long, value_name = "NAME")]
    pub(crate) delete: Vec<String>,
    /// A broker's configs instead of the topic's.
    #[arg(long, value_name = "ID")]
    pub(crate) broker: Option<i32>,
    #[command(flatten)]
    pub(crate) props: ClientProps,
}
