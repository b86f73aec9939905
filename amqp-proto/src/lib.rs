//! Sans-IO AMQP 0-9-1 for RabbitMQ.
//!
//! This crate holds the RabbitMQ half of the protocol core: hand-written
//! codecs for frames, methods, field tables and content properties, and a
//! connection state machine that takes bytes and time in and gives bytes,
//! events and deadlines out. It performs no IO, spawns nothing and reads no
//! clock; the `mq-client` crate drives it over tokio.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
