//! The Kafka side of the broker commands, on `mq_client::kafka`:
//! `mq produce`, `consume` (alone, in a consumer group or in a share
//! group), `topics`, `topic create|delete`, `bench` and `dead-letters` (see
//! [`mod@produce`], [`mod@consume`], [`mod@group`], [`mod@share`],
//! [`mod@topics`], [`mod@bench`] and [`mod@dead_letters`]).
//!
//! Every command first connects an [`Admin`] client: it fails fast when no
//! broker answers, and it looks the topic up without creating it (a
//! producer's metadata request may create a topic on a broker that allows
//! it; `mq` never does). Client errors become one line and an exit status
//! in [`failure`].
//!
//! Every client is built from one [`ClientConfig`]: the URL's bootstrap
//! list with the command line's `-X` and `--config` properties on top
//! (security protocol, TLS, SASL, ...), see [`crate::properties`].

mod acl;
mod bench;
mod consume;
mod dead_letters;
mod group;
mod manage;
mod produce;
mod share;
mod topics;

use std::time::Duration;

use kafka_proto::ConnectionError;
use mq_client::kafka::{Admin, ClientConfig, Error, ErrorCode, IsolationLevel, TopicDescription};

use crate::cli::ClientProps;
use crate::error::{CliError, Failure};
use crate::properties::{self, Sources};
use crate::url::KafkaUrl;

pub(crate) use acl::{add as acl_add, list as acl_list, remove as acl_remove};
pub(crate) use bench::run as bench;
pub(crate) use consume::run as consume;
pub(crate) use dead_letters::{list as list_dead_letters, replay as replay_dead_letters};
pub(crate) use group::run as consume_group;
pub(crate) use manage::{
    config_get, config_set, delete_group, describe_group, groups, reset_offsets,
};
pub(crate) use produce::run as produce;
pub(crate) use share::run as consume_share_group;
pub(crate) use topics::{create as create_topic, delete as delete_topic, list as topics};

/// The `client.id` brokers see, unless a `client.id` property says
/// otherwise.
const CLIENT_ID: &str = "mq";

/// A Kafka cluster as the command line names it: the URL (brokers and
/// topic), and the client settings every client of the command is built
/// with.
#[derive(Debug, Clone)]
pub(crate) struct KafkaTarget {
    /// The URL.
    pub(crate) url: KafkaUrl,
    /// The URL's bootstrap list, `client.id` mq, and the `-X` and
    /// `--config` properties.
    pub(crate) client: ClientConfig,
}

impl KafkaTarget {
    /// The URL with the command line's properties; a bad property (or an
    /// unset variable or unreadable file it names) is a usage error.
    pub(crate) fn new(
        url: KafkaUrl,
        props: &ClientProps,
        src: &impl Sources,
    ) -> Result<KafkaTarget, CliError> {
        let client = properties::client_config(&bootstrap(&url), CLIENT_ID, props, src)?;
        Ok(KafkaTarget { url, client })
    }
}

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

/// Connects an admin client to the cluster `target` names; the latest
/// offsets it lists are read_committed's (the last stable offsets), as
/// the readers' and group consumers' default.
async fn admin(target: &KafkaTarget) -> Result<Admin, CliError> {
    admin_at(target, IsolationLevel::default()).await
}

/// [`admin`] listing latest offsets at `isolation`: the ends that a reader
/// at that level reaches.
async fn admin_at(target: &KafkaTarget, isolation: IsolationLevel) -> Result<Admin, CliError> {
    Admin::builder(&bootstrap(&target.url))
        .client_config(target.client.clone())
        .operation_timeout(ADMIN_TIMEOUT)
        .isolation_level(isolation)
        .build()
        .await
        .map_err(|e| failure(&e, &format!("connect to {}", shown(&target.url))))
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
        Error::DeliveryTimeout { .. }
        | Error::RecordTooLarge { .. }
        | Error::PartitionUnavailable { .. } => cannot(Failure::NotConfirmed, e.to_string()),
        // One line as the AMQP side says it: "TLS to host:port: why".
        Error::Tls { broker, source } => {
            CliError::new(Failure::Tls, format!("TLS to {broker}: {source}"))
        }
        Error::Connection {
            broker,
            source: ConnectionError::Sasl { code, message, .. },
        } => {
            let why = match message.as_deref().map(str::trim) {
                Some(m) if !m.is_empty() => format!("{m} ({code})"),
                _ => code.to_string(),
            };
            CliError::new(
                Failure::Auth,
                format!("authentication failed at {broker}: {why}"),
            )
        }
        Error::Config(why) => CliError::usage(format!("cannot {doing}: {why}")),
        _ => cannot(Failure::Refused, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_proto::api::api_versions::ApiVersion;
    use kafka_proto::api::{
        ApiKey, ApiVersionsResponse, SaslAuthenticateResponse, SaslHandshakeResponse,
    };
    use kafka_proto::connection::{
        FrameDecoder, Sasl, SaslPlain, read_request_frame, write_response_frame,
    };
    use kafka_proto::{Config, Connection, Message};
    use mq_client::tls::TlsError;
    use std::time::Instant;

    /// A PLAIN login refused by a broker, at the handshake (the mechanism
    /// is not enabled) or at authenticate (bad credentials), as the
    /// protocol core reports it.
    fn sasl_failure(at_handshake: bool) -> ConnectionError {
        let now = Instant::now();
        let sasl = Sasl::Plain(SaslPlain::new("alice", "hunter2"));
        let config = Config {
            sasl: Some(sasl),
            ..Config::default()
        };
        let mut conn = Connection::new(config, now);
        // The next request's correlation id and version.
        let next = |conn: &mut Connection| {
            let mut out = BytesMut::new();
            conn.poll_transmit(&mut out);
            let frame = FrameDecoder::new(1 << 20)
                .decode(&mut out)
                .unwrap()
                .expect("a request");
            let (header, _) = read_request_frame(frame).unwrap();
            (header.correlation_id, header.request_api_version)
        };
        fn reply<M: Message>(id: i32, version: i16, body: &M) -> BytesMut {
            let mut b = BytesMut::new();
            write_response_frame(&mut b, id, version, body).unwrap();
            b
        }
        let api = |api_key, max_version| ApiVersion {
            api_key,
            min_version: 0,
            max_version,
            ..Default::default()
        };
        let versions = ApiVersionsResponse {
            api_keys: vec![
                api(ApiKey::API_VERSIONS, 4),
                api(ApiKey::SASL_HANDSHAKE, 1),
                api(ApiKey::SASL_AUTHENTICATE, 2),
            ],
            ..Default::default()
        };
        let (id, v) = next(&mut conn);
        conn.handle_input(now, &mut reply(id, v, &versions))
            .unwrap();
        let (id, v) = next(&mut conn);
        let handshake = if at_handshake {
            SaslHandshakeResponse {
                error_code: ErrorCode::UNSUPPORTED_SASL_MECHANISM,
                mechanisms: vec!["SCRAM-SHA-512".into()],
                ..Default::default()
            }
        } else {
            SaslHandshakeResponse::default()
        };
        let handshaken = conn.handle_input(now, &mut reply(id, v, &handshake));
        if at_handshake {
            return handshaken.unwrap_err();
        }
        handshaken.unwrap();
        let (id, v) = next(&mut conn);
        let denied = SaslAuthenticateResponse {
            error_code: ErrorCode::SASL_AUTHENTICATION_FAILED,
            error_message: Some("Authentication failed: Invalid username or password".into()),
            ..Default::default()
        };
        conn.handle_input(now, &mut reply(id, v, &denied))
            .unwrap_err()
    }

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
            (
                Error::Tls {
                    broker: "127.0.0.1:9093".into(),
                    source: TlsError::UnknownIssuer,
                },
                Failure::Tls,
                "TLS to 127.0.0.1:9093: the server's certificate is signed by an unknown issuer",
            ),
            (
                Error::Tls {
                    broker: "h:9093".into(),
                    source: TlsError::Expired,
                },
                Failure::Tls,
                "TLS to h:9093: the server's certificate has expired",
            ),
            (
                Error::Tls {
                    broker: "h:9093".into(),
                    source: TlsError::HandshakeRefused("certificate required".into()),
                },
                Failure::Tls,
                "TLS to h:9093: the server refused the TLS handshake: certificate required",
            ),
            (
                Error::Connection {
                    broker: "127.0.0.1:9094".into(),
                    source: sasl_failure(false),
                },
                Failure::Auth,
                "authentication failed at 127.0.0.1:9094: Authentication failed: \
                 Invalid username or password (SASL_AUTHENTICATION_FAILED (58))",
            ),
            (
                Error::Connection {
                    broker: "h:9094".into(),
                    source: sasl_failure(true),
                },
                Failure::Auth,
                "authentication failed at h:9094: broker enables [\"SCRAM-SHA-512\"] \
                 (UNSUPPORTED_SASL_MECHANISM (33))",
            ),
        ];
        for (e, kind, text) in cases {
            let c = failure(&e, "work");
            assert_eq!(c.kind(), kind, "{e}");
            assert!(c.to_string().contains(text), "{c} lacks {text}");
        }
    }
}
