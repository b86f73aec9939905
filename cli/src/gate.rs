//! THE CLIENT GATE: the one place where the Kafka commands stop until the
//! Kafka client lands.
//!
//! `produce`, `consume`, `topics`, `topic` and `bench` on `kafka://` URLs
//! need the Kafka client (issue 6), which is being written on another
//! branch. Until then each of these commands parses and checks its whole
//! command line (so `--help` is complete, and a bad URL or option is
//! reported as such), and then [`needs_client`] ends it with exit status 2
//! and one line saying which client it needs. The RabbitMQ commands run
//! (see [`crate::amqp`]); their arm here is unreachable in practice and
//! stays for completeness.
//!
//! When the Kafka client lands, replace the calls to [`needs_client`] in
//! `main.rs`'s `run` with the commands' implementations, and delete this
//! module when no command calls it any more.

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
