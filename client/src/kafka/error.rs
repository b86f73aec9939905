//! The Kafka client's error type.

use std::time::Duration;

use kafka_proto::ErrorCode;
use kafka_proto::api::ApiKey;

/// Everything that can go wrong in the Kafka client.
///
/// Broker error codes are carried as [`ErrorCode`], so callers can match on
/// the exact code (`Error::Broker { code: ErrorCode::TOPIC_ALREADY_EXISTS, .. }`).
/// [`Error::is_retriable`] says whether trying again may succeed. No variant
/// carries credentials, so `Debug` and `Display` are safe to log.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A socket error while connecting to or talking with a broker.
    #[error("broker {broker}: {message}")]
    Io {
        /// The broker's address.
        broker: String,
        /// What happened (the `io::Error`'s kind and text).
        message: String,
    },
    /// The connection to a broker was lost with the request in flight, or
    /// could not be (re)established; the request may or may not have been
    /// processed.
    #[error("connection to broker {broker} lost")]
    Disconnected {
        /// The broker's address.
        broker: String,
    },
    /// The TLS handshake with a broker failed, or TLS could not be set up:
    /// the cause is named (unknown issuer, hostname mismatch, expired
    /// certificate, refused by the broker, an unreadable CA or key file).
    #[cfg(feature = "tls")]
    #[error("TLS to broker {broker}: {source}")]
    Tls {
        /// The broker's address.
        broker: String,
        /// What failed.
        #[source]
        source: crate::tls::TlsError,
    },
    /// The sans-IO connection failed (bad frames, negotiation, SASL).
    #[error("broker {broker}: {source}")]
    Connection {
        /// The broker's address.
        broker: String,
        /// The protocol core's error.
        #[source]
        source: kafka_proto::ConnectionError,
    },
    /// A request got no answer within its timeout.
    #[error("{api} request to broker {broker} timed out")]
    RequestTimedOut {
        /// The broker's address.
        broker: String,
        /// The request's API.
        api: ApiKey,
    },
    /// A response could not be decoded.
    #[error("bad {api} response: {source}")]
    Decode {
        /// The response's API.
        api: ApiKey,
        /// The decoder's error.
        #[source]
        source: kafka_proto::DecodeError,
    },
    /// Record batches in a fetch response could not be decoded.
    #[error("bad records from {topic}/{partition}: {source}")]
    Records {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The record decoder's error.
        #[source]
        source: kafka_proto::DecodeError,
    },
    /// A record batch, or a consumer-protocol subscription or assignment,
    /// could not be encoded.
    #[error("could not encode: {0}")]
    Encode(#[from] kafka_proto::EncodeError),
    /// The broker answered with an error code.
    #[error("{code}{}", context.as_deref().map(|c| format!(": {c}")).unwrap_or_default())]
    Broker {
        /// The Kafka error code.
        code: ErrorCode,
        /// Topic, partition or message the broker gave, if any.
        context: Option<String>,
    },
    /// No broker of the bootstrap list or the metadata could be reached.
    #[error("no broker reachable: {0}")]
    NoBrokerAvailable(String),
    /// The topic does not exist (or has no partitions yet).
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    /// The partition does not exist in the topic.
    #[error("topic {topic} has no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
    },
    /// The producer's buffer stayed full for `max_block`, or metadata for a
    /// topic did not arrive within it.
    #[error("{what} did not happen within {after:?}")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// How long.
        after: Duration,
    },
    /// A record was not acknowledged within `delivery_timeout`.
    ///
    /// `possibly_written` says whether the broker may have it: `false` if
    /// no request carrying it ever went out, or every one that did was
    /// answered with an error (it is not in the log); `true` if one went
    /// out and no answer came back (a broken connection, a request
    /// timeout), so it may be in the log. Either way the producer never
    /// reuses its sequence numbers: an idempotent producer moves to a new
    /// epoch before it sends on, so a record sent again later is a new
    /// record, and the log holds at most one copy of each send.
    #[error("delivery timed out after {after:?} ({})", if *possibly_written { "possibly written: a request went out and no answer came" } else { "not written" })]
    DeliveryTimeout {
        /// `delivery_timeout`.
        after: Duration,
        /// Whether the record may be in the log.
        possibly_written: bool,
    },
    /// No leader was known for the partition a record must go to, for
    /// `after`: the partition is offline (its replicas' brokers are
    /// down), or the topic is still being created. The producer refreshed
    /// the metadata with backoff all along. A record fails with it at its
    /// delivery timeout; `enqueue` fails with it when the buffer stays full
    /// of records waiting for that partition for `max_block`.
    #[error(
        "no leader for partition {partition} of topic '{topic}' within {after:?} (the partition is offline, or the topic is still being created)"
    )]
    PartitionUnavailable {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// How long the record (or `enqueue`) waited.
        after: Duration,
    },
    /// A record is larger than the producer accepts.
    #[error("record of {size} bytes exceeds the limit of {limit} bytes")]
    RecordTooLarge {
        /// Its estimated encoded size.
        size: usize,
        /// `max_request_size` or `buffer_memory`.
        limit: usize,
    },
    /// A group's committed offsets can change only while it has no
    /// members ([`Admin::alter_group_offsets`](crate::kafka::Admin::alter_group_offsets)).
    #[error(
        "group '{group}' has {members} live member(s) (state {state}): stop them first; its offsets can change only while it is empty"
    )]
    GroupNotEmpty {
        /// The group.
        group: String,
        /// Its state.
        state: String,
        /// How many members it has.
        members: usize,
    },
    /// The producer, admin client or reader was closed.
    #[error("the client is closed")]
    Closed,
    /// A reader built with
    /// [`stop_at_end`](crate::kafka::PartitionReaderBuilder::stop_at_end)
    /// read every partition to the end it had when reading began.
    #[error("every partition was read to its end")]
    ReachedEnd,
    /// The partition reader's position is out of range and its reset policy
    /// is [`OffsetReset::None`](crate::kafka::OffsetReset::None).
    #[error("offset {offset} is out of range for {topic}/{partition}")]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset that was asked for.
        offset: i64,
    },
    /// The partition is not assigned to this consumer (or reader).
    #[error("{topic}/{partition} is not assigned to this consumer")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// The group coordinator refused an offset commit because this member
    /// is no longer in the group's current generation (it was fenced, left
    /// after `max_poll_interval`, or its session expired): the partitions
    /// may belong to another member now, and whatever was processed since
    /// the last commit will be processed again.
    #[error("offset commit refused ({code}): this member is no longer in the group's generation")]
    CommitFailed {
        /// The coordinator's error code (ILLEGAL_GENERATION,
        /// UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID, ...), or NONE when the
        /// consumer knew before asking.
        code: ErrorCode,
    },
    /// This transactional producer is fenced: another producer started
    /// with the same `transactional_id` (PRODUCER_FENCED,
    /// INVALID_PRODUCER_EPOCH), the transaction coordinator fenced it
    /// (TRANSACTION_COORDINATOR_FENCED), or it may not use the id
    /// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED). Not retriable: nothing this
    /// producer sends from now on can commit. Drop it; a new producer with
    /// the same id takes over (and aborts what this one left open).
    #[error("producer fenced ({code}): {context}")]
    Fenced {
        /// The broker's error code.
        code: ErrorCode,
        /// Which call or partition saw it.
        context: String,
    },
    /// The current transaction cannot commit: a send in it failed, a
    /// coordinator refused a step (TRANSACTION_ABORTABLE, a group
    /// generation that moved on), or a request's outcome is unknown.
    /// **Abort and retry**: call
    /// [`abort_transaction`](crate::kafka::Producer::abort_transaction),
    /// rewind the input to the last committed offsets, and run the whole
    /// transaction again. The producer stays usable.
    #[error("the transaction must be aborted: {reason}")]
    TransactionAbortable {
        /// What went wrong (the failed send names its topic, partition and
        /// error).
        reason: String,
    },
    /// The record's transaction was aborted before the record was
    /// acknowledged: [`abort_transaction`](crate::kafka::Producer::abort_transaction)
    /// failed it instead of sending it (or sending it again). It is not in
    /// the log, or only as part of the aborted transaction, which
    /// read_committed consumers never see. Send it in a new transaction
    /// if it is still wanted.
    #[error("the record's transaction was aborted before it was acknowledged: not committed")]
    TransactionAborted,
    /// A transactional call in the wrong state: `send` outside a
    /// transaction, `commit` or `abort` without `begin`, a second `begin`,
    /// transactions before `init_transactions`, or a transactional call on a
    /// producer without a `transactional_id`. Nothing was done; the producer
    /// stays usable.
    #[error("transaction misuse: {0}")]
    TransactionState(String),
    /// A newly assigned partition has no committed offset and the reset
    /// policy is [`OffsetReset::None`](crate::kafka::OffsetReset::None):
    /// seek it to start reading.
    #[error("no committed offset for {topic}/{partition} and no reset policy")]
    NoOffset {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
}

impl Error {
    /// Whether trying the operation again may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Io { .. }
            | Error::Disconnected { .. }
            | Error::RequestTimedOut { .. }
            | Error::NoBrokerAvailable(_)
            | Error::UnknownTopic(_)
            | Error::Timeout { .. } => true,
            Error::Broker { code, .. } => code.is_retriable(),
            #[cfg(feature = "tls")]
            Error::Tls { source, .. } => source.is_retriable(),
            Error::Connection { source, .. } => matches!(
                source,
                kafka_proto::ConnectionError::SetupTimedOut(_)
                    | kafka_proto::ConnectionError::Failed
            ),
            _ => false,
        }
    }

    /// Whether this is [`Error::Fenced`]: the transactional producer must
    /// be dropped.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Error::Fenced { .. })
    }

    /// Whether this is [`Error::TransactionAbortable`]: abort the
    /// transaction and retry it.
    pub fn is_abortable(&self) -> bool {
        matches!(self, Error::TransactionAbortable { .. })
    }

    /// The broker's error code, for [`Error::Broker`] and [`Error::Fenced`].
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Broker { code, .. } | Error::Fenced { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// A broker error with a context.
    pub(crate) fn broker(code: ErrorCode, context: impl Into<String>) -> Error {
        Error::Broker {
            code,
            context: Some(context.into()),
        }
    }

    /// Whether the error means the metadata is stale: leadership moved, the
    /// topic or partition is not (yet) known, or the connection died.
    pub(crate) fn needs_metadata_refresh(&self) -> bool {
        match self {
            Error::Broker { code, .. } => code_needs_refresh(*code),
            Error::Disconnected { .. }
            | Error::Io { .. }
            | Error::RequestTimedOut { .. }
            | Error::NoBrokerAvailable(_)
            | Error::UnknownTopic(_) => true,
            _ => false,
        }
    }
}

/// Whether a partition error code means the client's metadata is stale.
pub(crate) fn code_needs_refresh(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NOT_LEADER_OR_FOLLOWER
            | ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
            | ErrorCode::LEADER_NOT_AVAILABLE
            | ErrorCode::FENCED_LEADER_EPOCH
            | ErrorCode::UNKNOWN_LEADER_EPOCH
            | ErrorCode::UNKNOWN_TOPIC_ID
            | ErrorCode::INCONSISTENT_TOPIC_ID
            | ErrorCode::REPLICA_NOT_AVAILABLE
            | ErrorCode::BROKER_NOT_AVAILABLE
            | ErrorCode::KAFKA_STORAGE_ERROR
            | ErrorCode::NOT_CONTROLLER
            | ErrorCode::OFFSET_NOT_AVAILABLE
    )
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriable_and_refresh_classification() {
        let e = Error::broker(ErrorCode::NOT_LEADER_OR_FOLLOWER, "orders/3");
        assert!(e.is_retriable());
        assert!(e.needs_metadata_refresh());
        assert_eq!(e.code(), Some(ErrorCode::NOT_LEADER_OR_FOLLOWER));
        let e = Error::broker(ErrorCode::TOPIC_AUTHORIZATION_FAILED, "orders");
        assert!(!e.is_retriable());
        assert!(!e.needs_metadata_refresh());
        assert!(Error::Disconnected { broker: "b".into() }.is_retriable());
        assert!(!Error::Closed.is_retriable());
        let shown = Error::broker(ErrorCode::FENCED_LEADER_EPOCH, "t/1").to_string();
        assert!(
            shown.contains("FENCED_LEADER_EPOCH") && shown.contains("t/1"),
            "{shown}"
        );
    }

    #[test]
    fn matchable_by_code() {
        let e = Error::broker(ErrorCode::TOPIC_ALREADY_EXISTS, "orders");
        assert!(matches!(
            e,
            Error::Broker {
                code: ErrorCode::TOPIC_ALREADY_EXISTS,
                ..
            }
        ));
    }
}
