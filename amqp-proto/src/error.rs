//! Errors: what was malformed and where, whose fault a protocol failure is,
//! and the reply code that goes on the wire for it.

use std::fmt;

/// An AMQP reply code, as carried by `connection.close`, `channel.close`
/// and `basic.return`.
///
/// A newtype rather than an enum, so codes that this crate does not name
/// still fit. The associated constants are every reply code of the spec.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(pub u16);

macro_rules! reply_codes {
    ($($(#[$doc:meta])* $name:ident = $value:literal, $spec:literal, $hard:literal;)*) => {
        impl ReplyCode {
            $($(#[$doc])* pub const $name: ReplyCode = ReplyCode($value);)*

            /// Every reply code of the spec: constant, spec name, and whether
            /// the spec calls it a hard (connection) error.
            pub const ALL: &'static [(ReplyCode, &'static str, bool)] =
                &[$((ReplyCode($value), $spec, $hard)),*];
        }
    };
}

reply_codes! {
    /// 200: the method completed successfully.
    SUCCESS = 200, "REPLY-SUCCESS", false;
    /// 311: the content was too large for the server to accept now.
    CONTENT_TOO_LARGE = 311, "CONTENT-TOO-LARGE", false;
    /// 312: a mandatory message could not be routed to any queue.
    NO_ROUTE = 312, "NO-ROUTE", false;
    /// 313: an immediate message had no consumer to take it.
    NO_CONSUMERS = 313, "NO-CONSUMERS", false;
    /// 320: an operator closed the connection.
    CONNECTION_FORCED = 320, "CONNECTION-FORCED", true;
    /// 402: the virtual host path is not valid.
    INVALID_PATH = 402, "INVALID-PATH", true;
    /// 403: access refused (authentication or permissions).
    ACCESS_REFUSED = 403, "ACCESS-REFUSED", false;
    /// 404: the entity does not exist.
    NOT_FOUND = 404, "NOT-FOUND", false;
    /// 405: the entity is locked by another connection (exclusive queue).
    RESOURCE_LOCKED = 405, "RESOURCE-LOCKED", false;
    /// 406: a precondition failed (for example, mismatched declare arguments).
    PRECONDITION_FAILED = 406, "PRECONDITION-FAILED", false;
    /// 501: a malformed frame.
    FRAME_ERROR = 501, "FRAME-ERROR", true;
    /// 502: a frame with a malformed field.
    SYNTAX_ERROR = 502, "SYNTAX-ERROR", true;
    /// 503: a method that is not valid here (wrong direction or state).
    COMMAND_INVALID = 503, "COMMAND-INVALID", true;
    /// 504: a channel that is not open, or was used wrongly.
    CHANNEL_ERROR = 504, "CHANNEL-ERROR", true;
    /// 505: a frame that was not expected (content out of sequence).
    UNEXPECTED_FRAME = 505, "UNEXPECTED-FRAME", true;
    /// 506: the server ran out of a resource.
    RESOURCE_ERROR = 506, "RESOURCE-ERROR", true;
    /// 530: the operation is not allowed.
    NOT_ALLOWED = 530, "NOT-ALLOWED", true;
    /// 540: the functionality is not implemented.
    NOT_IMPLEMENTED = 540, "NOT-IMPLEMENTED", true;
    /// 541: the peer had an internal error.
    INTERNAL_ERROR = 541, "INTERNAL-ERROR", true;
}

impl ReplyCode {
    /// The spec's name for this code, if it has one.
    pub fn name(self) -> Option<&'static str> {
        Self::ALL
            .iter()
            .find(|(code, _, _)| *code == self)
            .map(|(_, name, _)| *name)
    }

    /// Whether the spec classes this code as a hard error, one that closes
    /// the whole connection rather than a channel.
    pub fn is_hard_error(self) -> bool {
        Self::ALL
            .iter()
            .find(|(code, _, _)| *code == self)
            .is_some_and(|(_, _, hard)| *hard)
    }
}

impl fmt::Debug for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "ReplyCode({} {})", self.0, name),
            None => write!(f, "ReplyCode({})", self.0),
        }
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} {}", self.0, name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl From<u16> for ReplyCode {
    fn from(code: u16) -> Self {
        ReplyCode(code)
    }
}

/// Malformed input: what was wrong and where.
///
/// Partial input is never a `DecodeError`; the frame decoder reports it as
/// "need more" (`Ok(None)`). Every variant maps to the reply code a peer
/// sends back for it ([`DecodeError::reply_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A field runs past the end of its frame payload.
    #[error("{what} truncated at byte {offset} of the frame payload")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Offset in the payload where the field started.
        offset: usize,
    },
    /// The octet after the payload was not the frame-end octet 0xCE.
    #[error("frame on channel {channel} ends with {found:#04x}, not 0xce")]
    FrameEnd {
        /// The channel of the frame.
        channel: u16,
        /// The octet found instead.
        found: u8,
    },
    /// A frame larger than the negotiated frame_max.
    #[error("frame of {size} bytes exceeds frame_max {max}")]
    FrameTooLarge {
        /// The size the frame header announced (payload plus 8).
        size: u64,
        /// The limit in force.
        max: u32,
    },
    /// A frame type octet that is not method, header, body or heartbeat.
    #[error("unknown frame type {frame_type}")]
    UnknownFrameType {
        /// The octet found.
        frame_type: u8,
    },
    /// Class and method ids that name no method of the spec.
    #[error("unknown method {class_id}.{method_id}")]
    UnknownMethod {
        /// The class id read.
        class_id: u16,
        /// The method id read.
        method_id: u16,
    },
    /// A field-table value with an unknown type tag.
    #[error("unknown field value type {tag:#04x} at byte {offset}")]
    UnknownFieldType {
        /// The tag octet.
        tag: u8,
        /// Its offset within the table or array.
        offset: usize,
    },
    /// Tables or arrays nested deeper than [`crate::table::MAX_DEPTH`].
    #[error("field tables nested deeper than {max}")]
    NestingTooDeep {
        /// The limit.
        max: usize,
    },
    /// Bytes left over after the last field of a method or header.
    #[error("{extra} unexpected bytes after {what}")]
    TrailingBytes {
        /// What was decoded.
        what: &'static str,
        /// How many bytes were left.
        extra: usize,
    },
    /// A field whose value is not allowed.
    #[error("invalid {what}: {value}")]
    InvalidValue {
        /// The field.
        what: &'static str,
        /// The value found.
        value: u64,
    },
    /// A protocol header that is not `AMQP 0-9-1`.
    #[error("protocol header {found:?} is not AMQP 0-9-1")]
    BadProtocolHeader {
        /// The eight bytes received.
        found: [u8; 8],
    },
}

impl DecodeError {
    /// The reply code a peer closes the connection with for this error.
    pub fn reply_code(&self) -> ReplyCode {
        match self {
            DecodeError::FrameEnd { .. }
            | DecodeError::FrameTooLarge { .. }
            | DecodeError::UnknownFrameType { .. }
            | DecodeError::BadProtocolHeader { .. } => ReplyCode::FRAME_ERROR,
            DecodeError::UnknownMethod { .. } => ReplyCode::NOT_IMPLEMENTED,
            DecodeError::Truncated { .. }
            | DecodeError::UnknownFieldType { .. }
            | DecodeError::NestingTooDeep { .. }
            | DecodeError::TrailingBytes { .. }
            | DecodeError::InvalidValue { .. } => ReplyCode::SYNTAX_ERROR,
        }
    }
}

/// Whose the fault is: the whole connection's, or one channel's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The connection must close (`connection.close`).
    Connection,
    /// Only this channel must close (`channel.close`).
    Channel(u16),
}

/// The peer broke the protocol.
///
/// Carries the reply code and text that this side sends in its
/// `connection.close` or `channel.close`, and the class and method that
/// caused it (0 when no method did).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("peer broke the protocol ({scope:?}): {code}: {text}")]
pub struct ProtocolError {
    /// Connection or channel.
    pub scope: Scope,
    /// The reply code to send.
    pub code: ReplyCode,
    /// What went wrong, for the reply text (truncated to 255 bytes on the wire).
    pub text: String,
    /// The class id of the offending method, or 0.
    pub class_id: u16,
    /// The method id of the offending method, or 0.
    pub method_id: u16,
}

impl ProtocolError {
    /// A connection-level protocol error not tied to a method.
    pub fn connection(code: ReplyCode, text: impl Into<String>) -> Self {
        ProtocolError {
            scope: Scope::Connection,
            code,
            text: text.into(),
            class_id: 0,
            method_id: 0,
        }
    }

    /// Names the method that caused the error.
    pub fn with_method(mut self, class_id: u16, method_id: u16) -> Self {
        self.class_id = class_id;
        self.method_id = method_id;
        self
    }
}

impl From<DecodeError> for ProtocolError {
    fn from(e: DecodeError) -> Self {
        ProtocolError::connection(e.reply_code(), e.to_string())
    }
}

/// An error that ends the connection, returned from
/// [`Connection::handle_input`](crate::Connection::handle_input).
///
/// After a [`ConnectionError::Protocol`] the connection has already queued
/// its `connection.close`: flush [`poll_transmit`](crate::Connection::poll_transmit),
/// then wait for the peer's `close-ok` (reported as
/// [`Event::ConnectionClosed`](crate::Event::ConnectionClosed)) or a timeout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer broke the protocol; the close is queued.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// The server answered the protocol header with its own: it does not
    /// speak AMQP 0-9-1. The socket should be closed.
    #[error("server wants protocol {major}-{minor}-{revision}, not 0-9-1")]
    UnsupportedProtocol {
        /// Major version offered.
        major: u8,
        /// Minor version offered.
        minor: u8,
        /// Revision offered.
        revision: u8,
    },
}

/// A command that could not be queued. Nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The handshake has not finished yet.
    #[error("the connection is not open yet")]
    NotConnected,
    /// The connection is closing or closed.
    #[error("the connection is closing or closed")]
    Closed,
    /// The channel is not open (or is closing).
    #[error("channel {0} is not open")]
    ChannelNotOpen(u16),
    /// Every channel number up to channel_max is in use.
    #[error("no free channel number (channel_max {0})")]
    NoFreeChannel(u16),
    /// A short string longer than 255 bytes.
    #[error("{what} is {len} bytes, longer than the 255 a short string holds")]
    StringTooLong {
        /// Which argument.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// The method cannot be sent this way or by this role.
    #[error("{method} cannot be sent here: {why}")]
    NotAllowed {
        /// The method's name, such as `basic.deliver`.
        method: &'static str,
        /// Why.
        why: &'static str,
    },
}
