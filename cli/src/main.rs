//! `mq`: a command line for RabbitMQ and Kafka, built on `mq-client`.
//!
//! The subcommands (produce, consume, topics, bench, decode) arrive with the
//! command-line issue; until then the binary only reports its version.

fn main() {
    println!("mq {}", env!("CARGO_PKG_VERSION"));
}
