//! `mq topics kafka://...` and `mq topic create|delete kafka://.../topic`.
//!
//! `topics` prints one line per partition under a header:
//!
//! ```text
//! TOPIC   PARTITION  LEADER  REPLICAS  ISR
//! orders          0       1  1,2,3     1,2,3
//! orders          1       2  2,3,1     2,3
//! ```
//!
//! Brokers are named by id; a partition without a leader shows `none`.

use mq_client::kafka::{Admin, Error, ErrorCode, NewTopic, TopicDescription};

use super::{KafkaTarget, admin, describe, failure};
use crate::cli::{TopicCreateArgs, TopicDeleteArgs};
use crate::error::{CliError, Failure};
use crate::output::Output;
use crate::runtime::block_on;

/// `mq topics`: every topic, or the URL's.
pub(crate) fn list(target: &KafkaTarget, out: &mut Output) -> Result<(), CliError> {
    let topics = block_on(async {
        let admin = admin(target).await?;
        match &target.url.topic {
            Some(topic) => {
                let doing = format!("describe topic '{topic}'");
                Ok(vec![describe(&admin, topic, &doing).await?])
            }
            None => describe_all(&admin).await,
        }
    })?;
    out.write_all(table(&topics).as_bytes())
}

async fn describe_all(admin: &Admin) -> Result<Vec<TopicDescription>, CliError> {
    let doing = "list the topics";
    let names = admin.list_topics().await.map_err(|e| failure(&e, doing))?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut topics = admin
        .describe_topics(names)
        .await
        .map_err(|e| failure(&e, doing))?;
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(topics)
}

/// Broker ids, comma-separated.
fn ids(ids: &[i32]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// The listing: a header, then one line per partition.
fn table(topics: &[TopicDescription]) -> String {
    let header = ["TOPIC", "PARTITION", "LEADER", "REPLICAS", "ISR"];
    let mut rows: Vec<[String; 5]> = Vec::new();
    for t in topics {
        for p in &t.partitions {
            let leader = if p.leader < 0 {
                "none".to_owned()
            } else {
                p.leader.to_string()
            };
            rows.push([
                t.name.clone(),
                p.partition.to_string(),
                leader,
                ids(&p.replicas),
                ids(&p.isr),
            ]);
        }
    }
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let [w0, w1, w2, w3, _] = widths;
    let mut text = String::new();
    let mut line = |cells: [&str; 5]| {
        let [topic, partition, leader, replicas, isr] = cells;
        let l = format!("{topic:<w0$}  {partition:>w1$}  {leader:>w2$}  {replicas:<w3$}  {isr}");
        text.push_str(l.trim_end());
        text.push('\n');
    };
    line(header);
    for row in &rows {
        let [a, b, c, d, e] = row;
        line([a, b, c, d, e]);
    }
    text
}

/// `mq topic create`.
pub(crate) fn create(
    a: &TopicCreateArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let topic = target.url.topic.as_deref().unwrap_or_default();
    let doing = format!("create topic '{topic}'");
    let mut new = NewTopic::new(topic, a.partitions, a.replication_factor);
    for (k, v) in &a.configs {
        new = new.config(k, v);
    }
    block_on(async {
        let admin = admin(target).await?;
        match admin.create_topics([new]).await {
            Ok(()) => Ok(()),
            Err(Error::Broker {
                code: ErrorCode::TOPIC_ALREADY_EXISTS,
                ..
            }) => Err(CliError::new(
                Failure::Refused,
                format!("cannot {doing}: it already exists"),
            )),
            Err(Error::Broker { code, context }) => {
                // The broker's message follows "topic: ".
                let why = context
                    .as_deref()
                    .and_then(|c| c.split_once(": "))
                    .map(|(_, m)| m.trim())
                    .filter(|m| !m.is_empty());
                let why = match why {
                    Some(m) => format!("{m} ({code})"),
                    None => format!("the broker answered {code}"),
                };
                Err(CliError::new(
                    Failure::Refused,
                    format!("cannot {doing}: {why}"),
                ))
            }
            Err(e) => Err(failure(&e, &doing)),
        }
    })?;
    let plural = |n: i64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    out.line(&format!(
        "topic '{topic}' created: {}, replication factor {}",
        plural(i64::from(a.partitions), "partition", "partitions"),
        a.replication_factor
    ))
}

/// `mq topic delete`.
pub(crate) fn delete(
    _: &TopicDeleteArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let topic = target.url.topic.as_deref().unwrap_or_default();
    let doing = format!("delete topic '{topic}'");
    block_on(async {
        let admin = admin(target).await?;
        match admin.delete_topics([topic]).await {
            Ok(()) => Ok(()),
            Err(Error::Broker {
                code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION | ErrorCode::UNKNOWN_TOPIC_ID,
                ..
            }) => Err(CliError::new(
                Failure::NotFound,
                format!("cannot {doing}: unknown topic '{topic}'"),
            )),
            Err(e) => Err(failure(&e, &doing)),
        }
    })?;
    out.line(&format!("topic '{topic}' deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_client::kafka::PartitionMeta;

    fn partition(partition: i32, leader: i32, replicas: &[i32], isr: &[i32]) -> PartitionMeta {
        PartitionMeta {
            partition,
            leader,
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: isr.to_vec(),
            offline_replicas: Vec::new(),
            error: ErrorCode::NONE,
        }
    }

    #[test]
    fn the_table_lines_up() {
        let topics = vec![
            TopicDescription {
                name: "orders".into(),
                id: Default::default(),
                error: ErrorCode::NONE,
                is_internal: false,
                partitions: vec![
                    partition(0, 1, &[1, 2, 3], &[1, 2, 3]),
                    partition(10, -1, &[2, 3, 1], &[]),
                ],
            },
            TopicDescription {
                name: "a-much-longer-name".into(),
                id: Default::default(),
                error: ErrorCode::NONE,
                is_internal: false,
                partitions: vec![partition(0, 2, &[2], &[2])],
            },
        ];
        assert_eq!(
            table(&topics),
            "\
TOPIC               PARTITION  LEADER  REPLICAS  ISR
orders                      0       1  1,2,3     1,2,3
orders                     10    none  2,3,1
a-much-longer-name          0       2  2         2
"
        );
        assert_eq!(table(&[]), "TOPIC  PARTITION  LEADER  REPLICAS  ISR\n");
    }
}
