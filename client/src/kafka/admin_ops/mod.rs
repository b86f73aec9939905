//! The admin operations that operators run against a cluster, beyond
//! topics, configs, groups and ACLs: leader elections, partition
//! reassignments, log directories, producers and transactions, and SCRAM
//! credentials (what `kafka-leader-election`, `kafka-reassign-partitions`,
//! `kafka-log-dirs`, `kafka-transactions` and `kafka-configs
//! --entity-type users` do).
//!
//! Requests go where Kafka's Java admin sends them: elections,
//! reassignments and SCRAM credentials to any broker (in KRaft the broker
//! forwards them to the controller); DescribeLogDirs to each broker asked
//! about; DescribeProducers to each partition's leader; ListTransactions
//! to every broker; DescribeTransactions to each transactional id's
//! coordinator (FindCoordinator key type 1).

mod elect;
mod log_dirs;
mod reassign;
mod scram;
mod transactions;

pub use elect::ElectionType;
pub use log_dirs::{LogDirDescription, ReplicaInfo};
pub use reassign::PartitionReassignment;
pub use scram::{ScramCredentialInfo, UserScramCredentialAlteration};
pub use transactions::{
    ActiveProducer, ListTransactionsOptions, TransactionDescription, TransactionListing,
};

use std::collections::BTreeMap;

use kafka_proto::{ErrorCode, Request};

use super::admin::{Admin, retry};
use super::error::{Error, Result};
use super::group::TopicPartition;

impl Admin {
    /// Sends `request` to the controller (in KRaft any broker, which
    /// forwards it), with the admin's retries, and turns the answer's
    /// request-wide error (`top`: its code and message) into an error
    /// naming `what`.
    async fn controller_call<R: Request>(
        &self,
        request: &R,
        what: &str,
        top: impl Fn(&R::Response) -> (ErrorCode, Option<&str>),
    ) -> Result<R::Response> {
        retry(self.cluster(), self.operation_timeout(), || async {
            let response = self.cluster().controller()?.call(request.clone()).await?;
            let (code, message) = top(&response);
            top_level(code, message, what)?;
            Ok(response)
        })
        .await
    }
}

/// A partition's error code as a result: `Ok` for NONE, otherwise the
/// broker's error naming the partition and the broker's message.
fn partition_result(tp: &TopicPartition, code: ErrorCode, message: Option<&str>) -> Result<()> {
    if code.is_ok() {
        return Ok(());
    }
    let context = match message.map(str::trim) {
        Some(m) if !m.is_empty() => format!("{tp}: {m}"),
        _ => tp.to_string(),
    };
    Err(Error::broker(code, context))
}

/// A request-wide error code as a result.
fn top_level(code: ErrorCode, message: Option<&str>, what: &str) -> Result<()> {
    if code.is_ok() {
        return Ok(());
    }
    let context = match message.map(str::trim) {
        Some(m) if !m.is_empty() => format!("{what}: {m}"),
        _ => what.to_owned(),
    };
    Err(Error::broker(code, context))
}

/// Partitions grouped by topic, in order.
fn by_topic<'a>(
    partitions: impl IntoIterator<Item = &'a TopicPartition>,
) -> BTreeMap<&'a str, Vec<i32>> {
    let mut out: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        out.entry(&tp.topic).or_default().push(tp.partition);
    }
    out
}
