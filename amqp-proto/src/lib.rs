//! Sans-IO AMQP 0-9-1 for RabbitMQ.
//!
//! This crate holds the RabbitMQ half of the protocol core: hand-written
//! codecs for frames, methods, field tables and content properties, and a
//! connection state machine that takes bytes and time in and gives bytes,
//! events and deadlines out. It performs no IO, spawns nothing and reads no
//! clock; the `mq-client` crate drives it over tokio.
//!
//! - [`frame`]: the protocol header and the four frame types, a decoder that
//!   splits complete frames off a `BytesMut` (partial input is "need more")
//!   and encoders that write straight into the outgoing buffer, among them
//!   [`frame::encode_publish`]: basic.publish, its header and its body
//!   frames in one pass (written beside the frames, below the connection,
//!   which calls down into it).
//! - [`method`]: every class and method of the RabbitMQ 0-9-1 spec, both
//!   directions, as plain structs and the [`Method`] enum.
//! - [`table`]: field tables and arrays, validated once and read lazily.
//! - [`properties`]: the content header and the 14 basic properties.
//! - [`connection`]: the sans-IO [`Connection`], client or server role.
//! - [`error`]: decode errors, protocol errors and [`ReplyCode`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod connection;
pub mod error;
pub mod frame;
#[doc(hidden)]
pub mod fuzz;
pub mod message;
pub mod method;
pub(crate) mod primitives;
pub mod properties;
mod publish;
pub mod strings;
pub mod table;

pub use connection::{
    ChannelId, ClientConfig, Connection, Delivery, Event, GetMessage, Initiator, Published,
    RequestId, Returned, Role, SaslMechanism, ServerConfig, Tune,
};
pub use error::{CommandError, ConnectionError, DecodeError, ProtocolError, ReplyCode, Scope};
pub use frame::{FrameDecoder, FrameKind, PROTOCOL_HEADER, RawFrame};
pub use method::Method;
pub use properties::{BasicProperties, ContentHeader};
pub use strings::{LongStr, ShortStr};
pub use table::{FieldArray, FieldTable, FieldValue, TableBuilder};
