//! THE GROUP GATE: the one place where a command stops because the client
//! it needs is not built yet.
//!
//! Every Kafka command runs on `mq_client::kafka` (see [`crate::kafka`])
//! except `mq consume kafka://... --group G`: consuming as a member of a
//! consumer group, committing offsets, needs the consumer-group client
//! (issue 7), which is being written on another branch. Until it lands,
//! that command line is parsed and checked in full (so a bad URL or option
//! is reported as such), and then [`needs_group_client`] ends it with exit
//! status 2 and one line saying what it needs.
//!
//! When the group client lands, replace the call in `main.rs`'s `run` with
//! the group consumer, and delete this module.

use crate::error::{CliError, Failure};
use crate::url::KafkaUrl;

/// Ends `mq consume kafka://... --group G`.
pub(crate) fn needs_group_client(url: &KafkaUrl) -> Result<(), CliError> {
    Err(CliError::new(
        Failure::NotBuilt,
        format!(
            "'mq consume --group' needs the Kafka consumer-group client (issue 7), which is \
             not built yet; drop --group to read {url} without a group"
        ),
    ))
}
