//! The Kafka side of the broker commands, on `mq_client::kafka`:
//! `mq produce`, `consume` (alone or in a consumer group), `topics`,
//! `topic create|delete` and `bench` (see [`mod@produce`], [`mod@consume`],
//! [`mod@group`], [`mod@topics`] and [`mod@bench`]).
//!
//! Every command first connects an [`Admin`] client: it fails fast when no
//! broker answers, and it looks the topic up without creating it (a
//! producer's metadata request may create a topic on a broker that allows
//! it; `mq` never does). Client errors become one line and an exit status
//! in [`failure`].

mod bench;
mod consume;
mod group;
mod produce;
mod topics;

use std::time::Duration;

use mq_client::kafka::{Admin, Error, ErrorCode, TopicDescription};

use crate::error::{CliError, Failure};
use crate::url::KafkaUrl;

pub(crate) use bench::run as bench;
pub(crate) use consume::run as consume;
pub(crate) use group::run as consume_group;
pub(crate) use produce::run as produce;
pub(crate) use topics::{create as create_topic, delete as delete_topic, list as topics};

/// The `client.id` brokers see.
const CLIENT_ID: &str = "mq";

/// How long an admin operation, retries included, may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// The bootstrap list as the client takes it: `host:port,host:port`.
fn bootstrap(url: &KafkaUrl) -> String {
    url.bootstrap
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The bootstrap list for messages: `kafka://host:port,host:port`.
fn shown(url: &KafkaUrl) -> String {
    format!("kafka://{}", bootstrap(url))
}

/// Connects an admin client to the cluster at `url`.
async fn admin(url: &KafkaUrl) -> Result<Admin, CliError> {
    Admin::builder(&bootstrap(url))
        .client_id(CLIENT_ID)
        .operation_timeout(ADMIN_TIMEOUT)
        .build()
        .await
        .map_err(|e| failure(&e, &format!("connect to {}", shown(url))))
}

/// The topic's partitions, leaders and replicas; an unknown topic is
/// [`Failure::NotFound`].
async fn describe(admin: &Admin, topic: &str, doing: &str) -> Result<TopicDescription, CliError> {
    match admin.describe_topics([topic]).await {
        Ok(mut found) => found.pop().ok_or_else(|| unknown_topic(topic, doing)),
        Err(Error::Broker {
            code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
            ..
        }) => Err(unknown_topic(topic, doing)),
        Err(e) => Err(failure(&e, doing)),
    }
}

fn unknown_topic(topic: &str, doing: &str) -> CliError {
    CliError::new(
        Failure::NotFound,
        format!("cannot {doing}: unknown topic '{topic}'"),
    )
}

/// Checks that `partition` is one of the topic's.
fn check_partition(t: &TopicDescription, partition: i32, doing: &str) -> Result<(), CliError> {
    if t.partition(partition).is_some() {
        return Ok(());
    }
    let n = t.partitions.len();
    let has = match n {
        1 => "it has 1 partition, 0".to_owned(),
        n => format!("it has {n} partitions, 0 to {}", n.saturating_sub(1)),
    };
    Err(CliError::new(
        Failure::NotFound,
        format!(
            "cannot {doing}: topic '{}' has no partition {partition} ({has})",
            t.name
        ),
    ))
}

/// The one line and exit status for a client error; `doing` says what
/// failed, as in "cannot {doing}: ..." ("consume from topic 'orders'").
pub(crate) fn failure(e: &Error, doing: &str) -> CliError {
    let cannot = |kind: Failure, why: String| CliError::new(kind, format!("cannot {doing}: {why}"));
    match e {
        Error::NoBrokerAvailable(why) => {
            cannot(Failure::Unreachable, format!("no broker reachable ({why})"))
        }
        Error::Io { .. }
        | Error::Disconnected { .. }
        | Error::RequestTimedOut { .. }
        | Error::Timeout { .. } => cannot(Failure::Unreachable, e.to_string()),
        Error::UnknownTopic(topic) => cannot(Failure::NotFound, format!("unknown topic '{topic}'")),
        Error::UnknownPartition { topic, partition } => cannot(
            Failure::NotFound,
            format!("topic '{topic}' has no partition {partition}"),
        ),
        Error::Broker { code, context } => {
            let kind = match *code {
                ErrorCode::UNKNOWN_TOPIC_OR_PARTITION | ErrorCode::UNKNOWN_TOPIC_ID => {
                    Failure::NotFound
                }
                ErrorCode::TOPIC_AUTHORIZATION_FAILED
                | ErrorCode::CLUSTER_AUTHORIZATION_FAILED
                | ErrorCode::SASL_AUTHENTICATION_FAILED => Failure::Auth,
                _ => Failure::Refused,
            };
            let why = match context.as_deref().map(str::trim) {
                Some(c) if !c.is_empty() => format!("{c} ({code})"),
                _ => format!("the broker answered {code}"),
            };
            cannot(kind, why)
        }
        Error::DeliveryTimeout(_) | Error::RecordTooLarge { .. } => {
            cannot(Failure::NotConfirmed, e.to_string())
        }
        Error::Config(why) => CliError::usage(format!("cannot {doing}: {why}")),
        _ => cannot(Failure::Refused, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::url::KafkaUrl;

    #[test]
    fn the_bootstrap_list_is_the_urls() {
        let url = KafkaUrl::parse("kafka://a:1,b,[::1]:3/t").unwrap();
        assert_eq!(bootstrap(&url), "a:1,b:9092,[::1]:3");
        assert_eq!(shown(&url), "kafka://a:1,b:9092,[::1]:3");
    }

    #[test]
    fn errors_map_to_exit_statuses() {
        let cases: Vec<(Error, Failure, &str)> = vec![
            (
                Error::NoBrokerAvailable("broker 127.0.0.1:1: refused".into()),
                Failure::Unreachable,
                "cannot work: no broker reachable (broker 127.0.0.1:1: refused)",
            ),
            (
                Error::Disconnected {
                    broker: "h:9092".into(),
                },
                Failure::Unreachable,
                "connection to broker h:9092 lost",
            ),
            (
                Error::UnknownTopic("orders".into()),
                Failure::NotFound,
                "cannot work: unknown topic 'orders'",
            ),
            (
                Error::UnknownPartition {
                    topic: "orders".into(),
                    partition: 7,
                },
                Failure::NotFound,
                "topic 'orders' has no partition 7",
            ),
            (
                Error::Broker {
                    code: ErrorCode::TOPIC_AUTHORIZATION_FAILED,
                    context: Some("orders".into()),
                },
                Failure::Auth,
                "cannot work: orders (TOPIC_AUTHORIZATION_FAILED (29))",
            ),
            (
                Error::Broker {
                    code: ErrorCode::INVALID_REPLICATION_FACTOR,
                    context: None,
                },
                Failure::Refused,
                "the broker answered INVALID_REPLICATION_FACTOR (38)",
            ),
            (
                Error::RecordTooLarge { size: 10, limit: 5 },
                Failure::NotConfirmed,
                "record of 10 bytes exceeds the limit of 5 bytes",
            ),
            (
                Error::Config("bad".into()),
                Failure::Usage,
                "cannot work: bad",
            ),
            (Error::Closed, Failure::Refused, "the client is closed"),
        ];
        for (e, kind, text) in cases {
            let c = failure(&e, "work");
            assert_eq!(c.kind(), kind, "{e}");
            assert!(c.to_string().contains(text), "{c} lacks {text}");
        }
    }
}
