//! The RabbitMQ (AMQP 0-9-1) client.

pub mod uri;

pub use uri::{AmqpUri, Secret, UriError};
