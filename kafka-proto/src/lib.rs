//! Sans-IO Apache Kafka wire protocol.
//!
//! This crate holds the Kafka half of the protocol core: hand-written codecs
//! for the protocol primitives, request and response messages, record batches
//! (v2, with every compression codec) and a connection state machine that
//! frames requests, matches responses by correlation id and negotiates API
//! versions. It performs no IO and reads no clock; the `mq-client` crate
//! drives it over tokio.
//!
//! - [`primitives`]: varints, (compact) strings/bytes/arrays, uuid, tagged fields.
//! - [`header`]: request/response headers and which version each API uses.
//! - [`api`]: one module per API; every message implements [`Message`], every
//!   request [`Request`] (tying it to its response type). Also the consumer
//!   protocol's embedded formats ([`api::consumer_protocol`]), which carry
//!   their own version ([`api::VersionedData`]).
//! - [`error`]: [`ErrorCode`] with every Kafka code, and the crate's one
//!   [`DecodeError`] and one [`EncodeError`] (messages, record batches and
//!   compression alike).
//! - [`connection`]: the sans-IO [`Connection`]: framing, correlation ids,
//!   ApiVersions negotiation, SASL PLAIN, request deadlines.
//! - [`schema`]: the DSL's field metadata, checked against Kafka's schema files.
//! - [`record`]: record batch v2 and legacy message sets, read lazily as
//!   zero-copy views, and a builder for producers.
//! - [`compression`]: gzip, snappy (raw and xerial), LZ4 frames and zstd, all
//!   pure Rust, with capped output.
//!
//! ```
//! use bytes::BytesMut;
//! use kafka_proto::api::{MetadataRequest, MetadataResponse};
//! use kafka_proto::Message;
//!
//! let request = MetadataRequest { topics: None, ..Default::default() };
//! let mut buf = BytesMut::new();
//! request.encode(12, &mut buf).unwrap();
//! assert_eq!(&buf[..], &[0x00, 0x01, 0x00, 0x00]); // null topics, auto-create, no auth ops, no tags
//! let back = MetadataRequest::decode(&mut buf.freeze(), 12).unwrap();
//! assert_eq!(back, request);
//! # let _ = MetadataResponse::default();
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod primitives;

pub use error::{DecodeError, DecodeErrorKind, EncodeError, ErrorCode, RecordProblem};
pub use primitives::{RawTaggedField, Uuid};

pub mod api;
pub mod compression;
pub mod connection;
#[doc(hidden)]
pub mod fuzz;
pub mod header;
pub mod record;
pub mod schema;

pub use api::{ApiKey, Message, Request};
pub use compression::Compression;
pub use connection::{Config, Connection, ConnectionError, Event, Response};
