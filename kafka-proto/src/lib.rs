//! Sans-IO Apache Kafka wire protocol.
//!
//! This crate holds the Kafka half of the protocol core: hand-written codecs
//! for the protocol primitives, request and response messages, record batches
//! (v2, with every compression codec) and a connection state machine that
//! frames requests, matches responses by correlation id and negotiates API
//! versions. It performs no IO and reads no clock; the `mq-client` crate
//! drives it over tokio.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod primitives;

pub use error::{DecodeError, DecodeErrorKind, EncodeError, ErrorCode};
pub use primitives::{RawTaggedField, Uuid};

#[macro_use]
mod codec;
pub mod api;
pub mod connection;
#[doc(hidden)]
pub mod fuzz;
pub mod header;
pub mod schema;

pub use api::{ApiKey, Message, Request};
pub use connection::{Config, Connection, ConnectionError, Event, Response};
