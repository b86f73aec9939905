//! OpenTelemetry semantic conventions for messaging
//! (<https://opentelemetry.io/docs/specs/semconv/messaging/>): every span
//! and attribute name this crate emits, in one place.
//!
//! `tracing` span names are static, so spans are named `send` and
//! `process` and carry the convention's full name (`send orders`,
//! `process orders`) in [`OTEL_NAME`], the field tracing-opentelemetry
//! uses as the exported span's name; [`OTEL_KIND`] gives its kind.

/// The exported span name (tracing-opentelemetry's `otel.name`).
pub const OTEL_NAME: &str = "otel.name";
/// The exported span kind: `producer` for send, `consumer` for process.
pub const OTEL_KIND: &str = "otel.kind";

/// `rabbitmq` or `kafka`.
pub const MESSAGING_SYSTEM: &str = "messaging.system";
/// The topic, or the exchange (send) / queue (process).
pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
/// `send` or `process`.
pub const MESSAGING_OPERATION_NAME: &str = "messaging.operation.name";
/// `send` or `process` (the operation's type).
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
/// The Kafka consumer group, or the subscriber's group on RabbitMQ.
pub const MESSAGING_CONSUMER_GROUP_NAME: &str = "messaging.consumer.group.name";
/// The message id (`x-mq-message-id` / the AMQP `message_id`).
pub const MESSAGING_MESSAGE_ID: &str = "messaging.message.id";
/// The Kafka record key (as text, when it is UTF-8).
pub const MESSAGING_KAFKA_MESSAGE_KEY: &str = "messaging.kafka.message.key";
/// The Kafka record offset.
pub const MESSAGING_KAFKA_OFFSET: &str = "messaging.kafka.offset";
/// The Kafka partition.
pub const MESSAGING_DESTINATION_PARTITION_ID: &str = "messaging.destination.partition.id";
/// The RabbitMQ routing key.
pub const MESSAGING_RABBITMQ_ROUTING_KEY: &str = "messaging.rabbitmq.destination.routing_key";
/// The RabbitMQ delivery tag.
pub const MESSAGING_RABBITMQ_DELIVERY_TAG: &str = "messaging.rabbitmq.message.delivery_tag";
/// The low-cardinality class of a failure (`timeout`, `panic`, `decode`,
/// `content_type`, or the handler's error type name).
pub const ERROR_TYPE: &str = "error.type";

/// [`MESSAGING_SYSTEM`]'s value for RabbitMQ.
pub const SYSTEM_RABBITMQ: &str = "rabbitmq";
/// [`MESSAGING_SYSTEM`]'s value for Kafka.
pub const SYSTEM_KAFKA: &str = "kafka";
/// [`MESSAGING_OPERATION_NAME`]'s value on publish.
pub const OPERATION_SEND: &str = "send";
/// [`MESSAGING_OPERATION_NAME`]'s value on consume.
pub const OPERATION_PROCESS: &str = "process";
