//! The errors: [`Error`] for the bus, publishers and subscribers,
//! [`CodecError`] for payloads, and [`HandlerError`], what a handler
//! returns when it fails.

use std::fmt;

/// What the bus, a publisher or a subscriber can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration that cannot work, refused when the subscriber or
    /// publisher is built. `setting` names the builder method.
    #[error("invalid setting `{setting}`: {reason}")]
    Config {
        /// The setting (the builder method's name).
        setting: &'static str,
        /// Why it cannot work.
        reason: String,
    },
    /// The RabbitMQ client failed.
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] mq_client::amqp::Error),
    /// The Kafka client failed.
    #[error("Kafka: {0}")]
    Kafka(#[from] mq_client::kafka::Error),
    /// The payload could not be encoded.
    #[error("cannot encode the payload: {0}")]
    Codec(#[from] CodecError),
    /// An option that belongs to the other broker (a partition on
    /// RabbitMQ, an exchange on Kafka).
    #[error("`{option}` is a {broker} option")]
    WrongBroker {
        /// The option.
        option: &'static str,
        /// The broker it belongs to.
        broker: &'static str,
    },
    /// The subscriber's task ended abnormally (it panicked or was aborted).
    #[error("the subscriber task failed: {0}")]
    Task(String),
}

/// A payload that could not be encoded or decoded. On consume, any of
/// these makes the message poison: it goes straight to the dead letters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The message's content type is not the codec's.
    #[error("content type {found:?} where {expected:?} was expected")]
    ContentType {
        /// The codec's content type.
        expected: String,
        /// The message's.
        found: String,
    },
    /// The bytes are not a valid payload.
    #[error("cannot decode the payload: {0}")]
    Decode(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The value could not be encoded.
    #[error("cannot encode the payload: {0}")]
    Encode(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A message without a body (a Kafka tombstone).
    #[error("the message has no payload")]
    Empty,
}

impl CodecError {
    /// The low-cardinality name used as `error.type` and in the
    /// `x-mq-error` header's prefix.
    pub fn kind(&self) -> &'static str {
        match self {
            CodecError::ContentType { .. } => "content_type",
            CodecError::Decode(_) => "decode",
            CodecError::Encode(_) => "encode",
            CodecError::Empty => "empty_payload",
        }
    }
}

/// Whether a failure may go away if the message is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Try again, after the backoff, until the attempts run out.
    Retriable,
    /// Trying again cannot help: dead-letter at once.
    Permanent,
}

/// A handler's failure: the error and whether it is worth retrying.
///
/// Any `std::error::Error` converts into a retriable one, so `?` works in
/// handlers; say [`HandlerError::permanent`] for failures no retry can
/// fix (invalid input, a business rule), which skip the retries and go
/// to the dead letters at once.
///
/// ```
/// use mq_service::HandlerError;
///
/// fn check(amount: i64) -> Result<(), HandlerError> {
///     if amount < 0 {
///         return Err(HandlerError::permanent("negative amount"));
///     }
///     let _n: u32 = "42".parse()?; // a plain error: retriable
///     Ok(())
/// }
/// assert!(check(-1).unwrap_err().is_permanent());
/// ```
///
/// It deliberately does not implement `std::error::Error` itself (as
/// `anyhow::Error` does not), so that every error type can convert into it.
pub struct HandlerError {
    kind: FailureKind,
    type_name: &'static str,
    source: Box<dyn std::error::Error + Send + Sync>,
}

impl HandlerError {
    /// A failure worth retrying (a timeout, a service briefly down).
    pub fn retriable<E>(error: E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Self::new(FailureKind::Retriable, short_type_name::<E>(), error.into())
    }

    /// A failure no retry can fix: the message is dead-lettered at once.
    pub fn permanent<E>(error: E) -> Self
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        Self::new(FailureKind::Permanent, short_type_name::<E>(), error.into())
    }

    fn new(
        kind: FailureKind,
        type_name: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    ) -> Self {
        HandlerError {
            kind,
            type_name,
            source,
        }
    }

    /// Whether it is permanent.
    pub fn is_permanent(&self) -> bool {
        self.kind == FailureKind::Permanent
    }

    /// Retriable or permanent.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// The error's type name (the last path segment), the `error.type`
    /// attribute of the process span.
    pub fn type_name(&self) -> &'static str {
        self.type_name
    }

    /// The error.
    pub fn error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.source
    }

    /// The error, owned.
    pub fn into_error(self) -> Box<dyn std::error::Error + Send + Sync> {
        self.source
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        Self::new(
            FailureKind::Retriable,
            short_type_name::<E>(),
            Box::new(error),
        )
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("kind", &self.kind)
            .field("type", &self.type_name)
            .field("error", &self.source)
            .finish()
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.source, f)
    }
}

/// `std::io::Error` rather than `std::io::error::Error`; strings as
/// `string`.
fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    match full {
        "&str" | "alloc::string::String" => "string",
        _ => {
            // Strip generic arguments, then keep the last path segment.
            let base = full.split('<').next().unwrap_or(full);
            base.rsplit("::").next().unwrap_or(base)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_errors_are_retriable_and_named() {
        let e: HandlerError = std::io::Error::other("down").into();
        assert!(!e.is_permanent());
        assert_eq!(e.type_name(), "Error");
        let e = HandlerError::permanent("bad input");
        assert!(e.is_permanent());
        assert_eq!(e.type_name(), "string");
        assert_eq!(e.to_string(), "bad input");
        let e = HandlerError::retriable(String::from("later"));
        assert_eq!(e.kind(), FailureKind::Retriable);
        assert_eq!(e.type_name(), "string");
    }

    #[test]
    fn config_errors_name_the_setting() {
        let e = Error::Config {
            setting: "concurrency",
            reason: "must be at least 1".into(),
        };
        assert_eq!(
            e.to_string(),
            "invalid setting `concurrency`: must be at least 1"
        );
    }
}
