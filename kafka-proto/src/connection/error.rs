//! What ends a connection, or a request.

use crate::api::ApiKey;
use crate::error::{DecodeError, EncodeError, ErrorCode};

use super::SaslErrorKind;

/// A fatal connection error: after it the connection is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// A frame or response header was malformed (or a frame too large).
    #[error("bad response from the broker: {0}")]
    Decode(#[from] DecodeError),
    /// A response came for a correlation id with no request in flight.
    #[error("response for unknown correlation id {0}")]
    UnknownCorrelationId(i32),
    /// The broker rejected ApiVersions.
    #[error("ApiVersions failed: {0}")]
    ApiVersions(ErrorCode),
    /// The broker supports no version of an API in common with this crate.
    #[error("the broker supports no common version of {0}")]
    UnsupportedApi(ApiKey),
    /// SASL failed. The message never holds the password or token.
    #[error("SASL {stage} failed ({kind}): {code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Sasl {
        /// `"handshake"`, `"authenticate"`, or `"setup"` (the credentials
        /// or nonce were refused before anything was sent).
        stage: &'static str,
        /// What went wrong.
        kind: SaslErrorKind,
        /// The broker's error code; SASL_AUTHENTICATION_FAILED when the
        /// client ended the exchange itself (as the Java client reports it).
        code: ErrorCode,
        /// The broker's message (and OAUTHBEARER's error status), the
        /// mechanisms it enables, or what the client found wrong.
        message: Option<String>,
    },
    /// ApiVersions or a SASL step timed out.
    #[error("{0} timed out while setting up the connection")]
    SetupTimedOut(ApiKey),
    /// [`Connection::send`](super::Connection::send) was called before
    /// [`Event::Ready`](super::Event::Ready).
    #[error("the connection is not ready (ApiVersions/SASL not finished)")]
    NotReady,
    /// A request could not be encoded.
    #[error("could not encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// The connection already failed.
    #[error("the connection has failed")]
    Failed,
}

/// Why a request ended without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Its deadline passed.
    #[error("request timed out")]
    TimedOut,
}
