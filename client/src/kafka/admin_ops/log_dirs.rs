//! Log directories (DescribeLogDirs): where each broker keeps its
//! partitions, how big they are, and how full the volumes are.

use std::collections::BTreeMap;

use kafka_proto::ErrorCode;
use kafka_proto::api::DescribeLogDirsRequest;

use super::top_level;
use crate::kafka::admin::{Admin, retry};
use crate::kafka::error::{Error, Result};
use crate::kafka::group::TopicPartition;

/// One log directory of a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirDescription {
    /// Its absolute path.
    pub path: String,
    /// `None`, or the directory's error (`KAFKA_STORAGE_ERROR` for a
    /// failed disk): its partitions are then not listed.
    pub error: Option<ErrorCode>,
    /// The partition logs it holds.
    pub replicas: BTreeMap<TopicPartition, ReplicaInfo>,
    /// The size of its volume in bytes, if the broker says (Kafka 3.3+).
    pub total_bytes: Option<u64>,
    /// The usable bytes left on its volume, if the broker says.
    pub usable_bytes: Option<u64>,
    /// Whether the directory is cordoned: no new partitions go there
    /// (Kafka 4.3+).
    pub is_cordoned: bool,
}

/// One partition's log in a log directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaInfo {
    /// The size of its segments in bytes.
    pub size: i64,
    /// How many offsets the log end is behind the high watermark (for a
    /// future log: behind the current replica's log end).
    pub offset_lag: i64,
    /// Whether this is a future log: the partition is being moved into
    /// this directory.
    pub is_future: bool,
}

impl Admin {
    /// The log directories of each of `brokers`, asking each broker about
    /// its own, with every partition it holds. A broker id that is not in
    /// the cluster's metadata is [`Error::NoBrokerAvailable`] at once; a
    /// broker's request-wide error code is [`Error::Broker`].
    pub async fn describe_log_dirs(
        &self,
        brokers: &[i32],
    ) -> Result<BTreeMap<i32, Vec<LogDirDescription>>> {
        let md = self.cluster().metadata();
        if let Some(unknown) = brokers.iter().find(|id| !md.brokers.contains_key(id)) {
            // Not retried: a broker id that is not in the cluster does not
            // come back by asking again.
            return Err(Error::NoBrokerAvailable(format!(
                "broker {unknown} is not in the cluster's metadata"
            )));
        }
        let mut out = BTreeMap::new();
        for &broker in brokers {
            let response = retry(self.cluster(), self.operation_timeout(), || async {
                let request = DescribeLogDirsRequest {
                    topics: None,
                    ..Default::default()
                };
                let response = self.cluster().broker(broker)?.call(request).await?;
                top_level(
                    response.error_code,
                    None,
                    &format!("DescribeLogDirs on broker {broker}"),
                )?;
                Ok(response)
            })
            .await?;
            let dirs = response
                .results
                .into_iter()
                .map(|dir| LogDirDescription {
                    path: dir.log_dir,
                    error: (!dir.error_code.is_ok()).then_some(dir.error_code),
                    replicas: dir
                        .topics
                        .into_iter()
                        .flat_map(|t| {
                            let topic: std::sync::Arc<str> = t.name.into();
                            t.partitions.into_iter().map(move |p| {
                                (
                                    TopicPartition::new(topic.clone(), p.partition_index),
                                    ReplicaInfo {
                                        size: p.partition_size,
                                        offset_lag: p.offset_lag,
                                        is_future: p.is_future_key,
                                    },
                                )
                            })
                        })
                        .collect(),
                    total_bytes: u64::try_from(dir.total_bytes).ok(),
                    usable_bytes: u64::try_from(dir.usable_bytes).ok(),
                    is_cordoned: dir.is_cordoned,
                })
                .collect();
            out.insert(broker, dirs);
        }
        Ok(out)
    }
}
