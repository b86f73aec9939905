//! What comes out of a connection: events and responses.

use bytes::Bytes;

use crate::api::{AnyResponse, ApiKey, Message};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::header::ResponseHeader;

use super::{ConnectionError, RequestError};

/// A response, matched to its request; the body is still encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The request's correlation id.
    pub correlation_id: i32,
    /// The request's API.
    pub api_key: ApiKey,
    /// The request's (and so the response's) version.
    pub api_version: i16,
    /// The response header.
    pub header: ResponseHeader,
    /// The body, a zero-copy slice of the read buffer.
    pub body: Bytes,
}

impl Response {
    /// Decodes the body as `M` (the request type's `Response`).
    pub fn decode<M: Message>(&self) -> Result<M, DecodeError> {
        if M::API_KEY != self.api_key {
            return Err(DecodeErrorKind::UnknownApiKey(self.api_key.0).into());
        }
        M::decode(&mut self.body.clone(), self.api_version)
    }

    /// Decodes the body as whichever API it answers.
    pub fn decode_any(&self) -> Result<AnyResponse, DecodeError> {
        AnyResponse::decode(self.api_key, self.api_version, &mut self.body.clone())
    }
}

/// Something that happened on the connection.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Negotiation (and SASL, if configured) finished: `send` works now.
    Ready,
    /// A re-authentication started with
    /// [`Connection::start_reauthentication`](super::Connection::start_reauthentication)
    /// succeeded; requests held during it are on their way.
    Reauthenticated,
    /// A response to a request sent with `send` or `send_at_version`.
    Response(Response),
    /// A request ended without a response.
    RequestFailed {
        /// Its correlation id.
        correlation_id: i32,
        /// Its API.
        api_key: ApiKey,
        /// Why.
        error: RequestError,
    },
    /// The connection failed (setup timed out); it should be closed.
    Failed(ConnectionError),
}
