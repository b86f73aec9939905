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

pub mod compression;
#[doc(hidden)]
pub mod fuzz;
pub mod record;
