//! The client's one error type.
//!
//! Every variant is matchable and cheap to clone (one failure is often
//! reported to many waiters). No variant carries the password: URIs are
//! shown through their redacting `Display`, and server texts cannot contain
//! it.

use std::sync::Arc;
use std::time::Duration;

use amqp_proto::{CommandError, ProtocolError, ReplyCode, Returned};

use super::uri::UriError;

/// Everything that can go wrong in the RabbitMQ client.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URI could not be parsed.
    #[error("invalid AMQP URI: {0}")]
    InvalidUri(#[from] UriError),
    /// The TCP connection could not be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// `host:port`.
        addr: String,
        /// The socket error.
        #[source]
        source: Arc<std::io::Error>,
    },
    /// The TLS handshake failed or TLS could not be set up: the cause is
    /// named (unknown issuer, hostname mismatch, expired certificate,
    /// refused by the server, an unreadable CA or key file).
    #[cfg(feature = "tls")]
    #[error("TLS to {addr}: {source}")]
    Tls {
        /// `host:port`.
        addr: String,
        /// What failed.
        #[source]
        source: crate::tls::TlsError,
    },
    /// The server refused the login or the virtual host.
    #[error("the server refused the connection to {addr}: {code}: {text}")]
    Refused {
        /// `host:port`.
        addr: String,
        /// The reply code (403 ACCESS_REFUSED, 530 NOT_ALLOWED for a vhost).
        code: ReplyCode,
        /// The server's text.
        text: String,
    },
    /// The connection broke (socket error, end of stream, missed
    /// heartbeats, or a close the application did not ask for). Recovery,
    /// if on, is reconnecting.
    #[error("the connection was lost: {reason}")]
    ConnectionLost {
        /// What happened.
        reason: String,
    },
    /// The connection is closed for good: closed by the application, or
    /// recovery is off or gave up.
    #[error("the connection is closed: {code}: {text}")]
    ConnectionClosed {
        /// The reply code of the close.
        code: ReplyCode,
        /// Its text.
        text: String,
    },
    /// The channel was closed, by the server (a channel error such as 404
    /// NOT_FOUND or 406 PRECONDITION_FAILED) or by the application.
    #[error("the channel is closed: {code}: {text}")]
    ChannelClosed {
        /// The reply code.
        code: ReplyCode,
        /// The reply text.
        text: String,
    },
    /// The operation did not finish in time. The request still completes
    /// in the driver; its outcome is discarded.
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        /// The operation, such as `queue.declare`.
        operation: &'static str,
        /// The limit that passed.
        after: Duration,
    },
    /// The broker could not take the message (basic.nack).
    #[error("the broker nacked the message")]
    Nacked,
    /// A mandatory message could not be routed and came back.
    #[error("the message was returned: {code}: {text}")]
    Returned {
        /// The reply code (312 NO_ROUTE).
        code: ReplyCode,
        /// The reply text.
        text: String,
        /// The message as the broker returned it.
        message: Box<Returned>,
    },
    /// The connection was lost while the message awaited its confirm: it
    /// may or may not have reached a queue. Publish it again.
    #[error("the connection was lost before the broker confirmed the message")]
    ConfirmLost,
    /// The broker did not settle the publish within the confirm timeout
    /// (it may block publishers for low memory or disk). The channel stays
    /// usable; the message may still reach a queue later, so a retry may
    /// duplicate it.
    #[error("the broker did not confirm the message within {after:?}")]
    ConfirmTimeout {
        /// The limit that passed.
        after: Duration,
    },
    /// The delivery came before a connection loss (or its consumer was
    /// cancelled); it cannot be acked now, and the broker redelivers it.
    #[error("the delivery is from before a connection loss; the broker redelivers it")]
    StaleDelivery,
    /// The broker blocked publishing (connection.blocked) for longer than
    /// the operation timeout.
    #[error("the broker blocks publishing: {reason}")]
    Blocked {
        /// The reason the broker gave (low memory, low disk).
        reason: String,
    },
    /// The server cancelled the consumer (its queue was deleted, for
    /// example).
    #[error("the server cancelled consumer {consumer_tag}")]
    ConsumerCancelled {
        /// The consumer's tag.
        consumer_tag: String,
    },
    /// The call does not fit the object's state (acking a no-ack
    /// delivery, a publish on a channel in the wrong mode, ...).
    #[error("{0}")]
    Usage(&'static str),
    /// A command was refused before it was sent (a name longer than 255
    /// bytes, no free channel number, ...).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The server broke the protocol; the connection was closed with the
    /// reply code shown.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
}

impl Error {
    /// Whether trying again (after recovery, or later) may succeed.
    ///
    /// Retriable: lost connections and confirms, timeouts, nacks, blocked
    /// publishing, connect failures, and forced closes (320
    /// CONNECTION_FORCED, as in a broker restart).
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::ConnectionLost { .. }
            | Error::Timeout { .. }
            | Error::Nacked
            | Error::ConfirmLost
            | Error::ConfirmTimeout { .. }
            | Error::Blocked { .. } => true,
            Error::ConnectionClosed { code, .. } | Error::ChannelClosed { code, .. } => {
                *code == ReplyCode::CONNECTION_FORCED
            }
            #[cfg(feature = "tls")]
            Error::Tls { source, .. } => source.is_retriable(),
            Error::InvalidUri(_)
            | Error::Refused { .. }
            | Error::Returned { .. }
            | Error::StaleDelivery
            | Error::ConsumerCancelled { .. }
            | Error::Usage(_)
            | Error::Command(_)
            | Error::Protocol(_) => false,
        }
    }

    /// The reply code, for errors that carry one.
    pub fn reply_code(&self) -> Option<ReplyCode> {
        match self {
            Error::Refused { code, .. }
            | Error::ConnectionClosed { code, .. }
            | Error::ChannelClosed { code, .. }
            | Error::Returned { code, .. } => Some(*code),
            Error::Protocol(p) => Some(p.code),
            _ => None,
        }
    }

    pub(crate) fn lost(reason: impl Into<String>) -> Self {
        Error::ConnectionLost {
            reason: reason.into(),
        }
    }

    pub(crate) fn closed_by_app() -> Self {
        Error::ConnectionClosed {
            code: ReplyCode::SUCCESS,
            text: "closed by the application".to_owned(),
        }
    }
}

/// The client's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retriable_classes() {
        assert!(Error::ConfirmLost.is_retriable());
        assert!(Error::lost("eof").is_retriable());
        assert!(Error::Nacked.is_retriable());
        assert!(!Error::StaleDelivery.is_retriable());
        assert!(
            !Error::ChannelClosed {
                code: ReplyCode::NOT_FOUND,
                text: "no queue".into()
            }
            .is_retriable()
        );
        assert!(
            Error::ConnectionClosed {
                code: ReplyCode::CONNECTION_FORCED,
                text: "shutdown".into()
            }
            .is_retriable()
        );
        assert_eq!(
            Error::ChannelClosed {
                code: ReplyCode::NOT_FOUND,
                text: String::new()
            }
            .reply_code(),
            Some(ReplyCode::NOT_FOUND)
        );
    }
}
