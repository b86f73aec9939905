//! THE CLIENT GATE: the one place where broker commands stop until the
//! async clients land.
//!
//! `produce`, `consume`, `topics`, `topic`, `declare` and `bench` need the
//! RabbitMQ client (issue 5) or the Kafka client (issue 6), which are being
//! written on other branches. Until then each of these commands parses and
//! checks its whole command line (so `--help` is complete, and a bad URL or
//! option is reported as such), and then [`needs_client`] ends it with exit
//! status 2 and one line saying which client it needs.
//!
//! When a client lands, replace the call to [`needs_client`] for its
//! commands in `main.rs`'s `run` with the command's implementation, and
//! delete this module when no command calls it any more.

use crate::error::{CliError, Failure};
use crate::url::{Protocol, Target};

/// Ends `mq <command>`, which needs the client for `target`'s protocol.
pub(crate) fn needs_client(command: &str, target: &Target) -> Result<(), CliError> {
    let (client, issue) = match target.protocol() {
        Protocol::Kafka => ("Kafka client", 6),
        Protocol::Amqp => ("RabbitMQ client", 5),
    };
    Err(CliError::new(
        Failure::NotBuilt,
        format!(
            "'mq {command}' needs the {client} (issue {issue}), which is not built yet \
             (the URL parsed as {target})"
        ),
    ))
}
