//! The Apache Kafka client.

pub mod partitioner;
