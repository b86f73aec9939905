//! `mq groups`, `mq group reset-offsets|delete` and `mq config get|set`:
//! groups and configs on the admin client.
//!
//! Listings follow `mq topics`: aligned columns under a header, or
//! `--format json` (one document) for scripts. A refusal (a group with
//! live members, an unknown config name) is one line on stderr and a
//! non-zero exit status.

use std::collections::BTreeMap;

use mq_client::kafka::{
    AlterConfigOp, ConfigEntry, ConfigResource, GroupListing, IsolationLevel, OffsetSpec,
    TopicPartition,
};
use serde_json::json;

use super::{KafkaTarget, admin, admin_at, check_partition, describe, failure};
use crate::cli::{
    ConfigGetArgs, ConfigSetArgs, GroupDeleteArgs, GroupDescribeArgs, GroupResetArgs, ListFormat,
};
use crate::error::{CliError, Failure};
use crate::output::Output;
use crate::runtime::block_on;

/// Aligned columns: the header, then the rows; the last column is not
/// padded.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut text = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                l.push_str("  ");
            }
            l.push_str(&format!("{cell:<w$}"));
        }
        text.push_str(l.trim_end());
        text.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    text
}

fn print_json(out: &mut Output, value: &serde_json::Value) -> Result<(), CliError> {
    out.line(&value.to_string())
}

/// `mq groups`.
pub(crate) fn groups(
    format: ListFormat,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let groups: Vec<GroupListing> = block_on(async {
        let admin = admin(target).await?;
        admin
            .list_groups()
            .await
            .map_err(|e| failure(&e, "list the groups"))
    })?;
    match format {
        ListFormat::Json => print_json(
            out,
            &json!(
                groups
                    .iter()
                    .map(|g| json!({
                        "group": g.group_id,
                        "state": g.state,
                        "type": g.group_type,
                        "protocol_type": g.protocol_type,
                    }))
                    .collect::<Vec<_>>()
            ),
        ),
        ListFormat::Text => {
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| {
                    vec![
                        g.group_id.clone(),
                        g.state.clone(),
                        g.group_type.clone(),
                        g.protocol_type.clone(),
                    ]
                })
                .collect();
            out.write_all(table(&["GROUP", "STATE", "TYPE", "PROTOCOL"], &rows).as_bytes())
        }
    }
}

/// `mq group describe`: the group, its members, and lag per partition.
pub(crate) fn describe_group(
    a: &GroupDescribeArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let doing = format!("describe group '{}'", a.group);
    let (group, rows) = block_on(async {
        // The end of the log, as kafka-consumer-groups shows it: the high
        // watermark, records of open transactions included.
        let admin = admin_at(target, IsolationLevel::ReadUncommitted).await?;
        let group = admin
            .describe_consumer_group(&a.group)
            .await
            .map_err(|e| failure(&e, &doing))?;
        // Each partition and the member it is assigned to.
        let mut owner: BTreeMap<TopicPartition, String> = BTreeMap::new();
        for m in &group.members {
            for tp in &m.assignment {
                owner.insert(tp.clone(), m.client_id.clone());
            }
        }
        if let Some(topic) = target.url.topic.as_deref() {
            let described = describe(&admin, topic, &doing).await?;
            for p in &described.partitions {
                owner
                    .entry(TopicPartition::new(topic, p.partition))
                    .or_default();
            }
        }
        let tps: Vec<TopicPartition> = owner.keys().cloned().collect();
        let committed = admin
            .consumer_group_offsets(&a.group, &tps)
            .await
            .map_err(|e| failure(&e, &doing))?;
        let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for tp in &tps {
            by_topic.entry(&tp.topic).or_default().push(tp.partition);
        }
        let mut ends: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for (topic, partitions) in by_topic {
            let listed = admin
                .list_offsets(topic, &partitions, OffsetSpec::Latest)
                .await
                .map_err(|e| failure(&e, &doing))?;
            for (p, o) in listed {
                ends.insert(TopicPartition::new(topic, p), o.offset);
            }
        }
        let rows: Vec<(TopicPartition, Option<i64>, Option<i64>, String)> = owner
            .into_iter()
            .map(|(tp, member)| {
                let c = committed.get(&tp).copied().flatten().map(|o| o.offset);
                let end = ends.get(&tp).copied();
                (tp, c, end, member)
            })
            .collect();
        Ok((group, rows))
    })?;
    let lag = |c: Option<i64>, end: Option<i64>| match (c, end) {
        (Some(c), Some(e)) => Some((e - c).max(0)),
        _ => None,
    };
    match a.format {
        ListFormat::Json => print_json(
            out,
            &json!({
                "group": group.group_id,
                "type": group.group_type,
                "state": group.state,
                "protocol": group.protocol,
                "members": group.members.iter().map(|m| json!({
                    "member_id": m.member_id,
                    "client_id": m.client_id,
                    "host": m.client_host,
                    "instance_id": m.instance_id,
                    "member_epoch": m.member_epoch,
                    "assignment": m.assignment.iter().map(|tp| json!({
                        "topic": &*tp.topic, "partition": tp.partition,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
                "partitions": rows.iter().map(|(tp, c, end, member)| json!({
                    "topic": &*tp.topic,
                    "partition": tp.partition,
                    "committed": c,
                    "end": end,
                    "lag": lag(*c, *end),
                    "member": if member.is_empty() { None } else { Some(member) },
                })).collect::<Vec<_>>(),
            }),
        ),
        ListFormat::Text => {
            out.line(&format!(
                "group '{}': {}, {} member(s){}{}",
                group.group_id,
                group.state,
                group.members.len(),
                if group.protocol.is_empty() {
                    String::new()
                } else {
                    format!(", assignor {}", group.protocol)
                },
                match group.group_type.as_str() {
                    "classic" => "",
                    "share" => ", share group (KIP-932)",
                    _ => ", consumer protocol (KIP-848)",
                }
            ))?;
            let shown = |v: Option<i64>| v.map_or("-".to_owned(), |v| v.to_string());
            let rows: Vec<Vec<String>> = rows
                .iter()
                .map(|(tp, c, end, member)| {
                    vec![
                        tp.topic.to_string(),
                        tp.partition.to_string(),
                        shown(*c),
                        shown(*end),
                        shown(lag(*c, *end)),
                        if member.is_empty() {
                            "-".to_owned()
                        } else {
                            member.clone()
                        },
                    ]
                })
                .collect();
            out.write_all(
                table(
                    &["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"],
                    &rows,
                )
                .as_bytes(),
            )
        }
    }
}

/// `mq group delete`.
pub(crate) fn delete_group(
    a: &GroupDeleteArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let doing = format!("delete group '{}'", a.group);
    block_on(async {
        let admin = admin(target).await?;
        admin
            .delete_groups([a.group.as_str()])
            .await
            .map_err(|e| failure(&e, &doing))
    })?;
    out.line(&format!("group '{}' deleted", a.group))
}

/// `mq group reset-offsets`: the plan, applied with `--execute`.
pub(crate) fn reset_offsets(
    a: &GroupResetArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let topic = target.url.topic.as_deref().unwrap_or_default();
    let doing = format!(
        "reset the offsets of group '{}' on topic '{topic}'",
        a.group
    );
    let plan = block_on(async {
        // Offsets in the log, as kafka-consumer-groups resets them: the
        // high watermark is the end (--to-latest skips the records of open
        // transactions too, and --to-offset is clamped to the log, not to
        // the last stable offset).
        let admin = admin_at(target, IsolationLevel::ReadUncommitted).await?;
        let described = describe(&admin, topic, &doing).await?;
        let partitions: Vec<i32> = match a.partition {
            Some(p) => {
                check_partition(&described, p, &doing)?;
                vec![p]
            }
            None => described.partitions.iter().map(|p| p.partition).collect(),
        };
        let group = admin
            .describe_consumer_group(&a.group)
            .await
            .map_err(|e| failure(&e, &doing))?;
        if !group.members.is_empty() {
            return Err(CliError::new(
                Failure::Refused,
                format!(
                    "cannot {doing}: the group has {} live member(s) (state {}); stop its consumers first",
                    group.members.len(),
                    group.state
                ),
            ));
        }
        let offsets = |spec| admin.list_offsets(topic, &partitions, spec);
        let earliest = offsets(OffsetSpec::Earliest)
            .await
            .map_err(|e| failure(&e, &doing))?;
        let latest = offsets(OffsetSpec::Latest)
            .await
            .map_err(|e| failure(&e, &doing))?;
        let by_time = match a.to.to_timestamp {
            Some(ms) => Some(
                offsets(OffsetSpec::Timestamp(ms))
                    .await
                    .map_err(|e| failure(&e, &doing))?,
            ),
            None => None,
        };
        let tps: Vec<TopicPartition> = partitions
            .iter()
            .map(|&p| TopicPartition::new(topic, p))
            .collect();
        let current = admin
            .consumer_group_offsets(&a.group, &tps)
            .await
            .map_err(|e| failure(&e, &doing))?;
        let mut plan = BTreeMap::new();
        for tp in tps {
            let p = tp.partition;
            let (low, high) = (
                earliest.get(&p).map_or(0, |o| o.offset),
                latest.get(&p).map_or(0, |o| o.offset),
            );
            let new = if a.to.to_earliest {
                low
            } else if a.to.to_latest {
                high
            } else if let Some(o) = a.to.to_offset {
                o.clamp(low, high)
            } else {
                // No record at or after the time: the end.
                by_time
                    .as_ref()
                    .and_then(|t| t.get(&p))
                    .map_or(high, |o| if o.offset < 0 { high } else { o.offset })
            };
            let was = current.get(&tp).copied().flatten().map(|o| o.offset);
            plan.insert(tp, (was, new));
        }
        if a.execute {
            let offsets: BTreeMap<TopicPartition, i64> = plan
                .iter()
                .map(|(tp, (_, new))| (tp.clone(), *new))
                .collect();
            admin
                .alter_group_offsets(&a.group, &offsets)
                .await
                .map_err(|e| failure(&e, &doing))?;
        }
        Ok(plan)
    })?;
    match a.format {
        ListFormat::Json => print_json(
            out,
            &json!({
                "group": a.group,
                "executed": a.execute,
                "partitions": plan.iter().map(|(tp, (was, new))| json!({
                    "topic": &*tp.topic,
                    "partition": tp.partition,
                    "current": was,
                    "new": new,
                })).collect::<Vec<_>>(),
            }),
        ),
        ListFormat::Text => {
            let rows: Vec<Vec<String>> = plan
                .iter()
                .map(|(tp, (was, new))| {
                    vec![
                        tp.topic.to_string(),
                        tp.partition.to_string(),
                        was.map_or("-".to_owned(), |o| o.to_string()),
                        new.to_string(),
                    ]
                })
                .collect();
            out.write_all(table(&["TOPIC", "PARTITION", "CURRENT", "NEW"], &rows).as_bytes())?;
            if a.execute {
                out.line(&format!("group '{}': offsets committed", a.group))
            } else {
                out.line("dry run: nothing changed (add --execute to commit these offsets)")
            }
        }
    }
}

/// The resource a config command names: the URL's topic, or `--broker`.
fn resource(
    target: &KafkaTarget,
    broker: Option<i32>,
    command: &str,
) -> Result<(ConfigResource, String), CliError> {
    match (broker, target.url.topic.as_deref()) {
        (Some(id), None) => Ok((ConfigResource::Broker(id), format!("broker {id}"))),
        (None, Some(t)) => Ok((ConfigResource::Topic(t.to_owned()), format!("topic '{t}'"))),
        (Some(_), Some(_)) => Err(CliError::usage(format!(
            "'mq config {command}' takes a topic in the URL or --broker, not both"
        ))),
        (None, None) => Err(CliError::usage(format!(
            "'mq config {command}' needs a topic (kafka://host:port/TOPIC) or --broker ID"
        ))),
    }
}

/// Where a config's value comes from (Kafka's `ConfigSource`).
fn source(entry: &ConfigEntry) -> &'static str {
    match entry.source {
        1 => "topic",
        2 => "broker (dynamic)",
        3 => "broker default (dynamic)",
        4 => "broker (static)",
        5 => "default",
        6 => "broker logger",
        7 => "client metrics",
        8 => "group",
        _ => "unknown",
    }
}

/// `mq config get`.
pub(crate) fn config_get(
    a: &ConfigGetArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let (resource, name) = resource(target, a.broker, "get")?;
    let doing = format!("read the configs of {name}");
    let mut entries = block_on(async {
        let admin = admin(target).await?;
        admin
            .describe_configs(resource)
            .await
            .map_err(|e| failure(&e, &doing))
    })?;
    entries.sort_by(|x, y| x.name.cmp(&y.name));
    let shown = |e: &ConfigEntry| match (&e.value, e.sensitive) {
        (_, true) => "(sensitive)".to_owned(),
        (Some(v), _) => v.clone(),
        (None, _) => "(none)".to_owned(),
    };
    match a.format {
        ListFormat::Json => print_json(
            out,
            &json!(
                entries
                    .iter()
                    .map(|e| json!({
                        "name": e.name,
                        "value": if e.sensitive { None } else { e.value.clone() },
                        "source": source(e),
                        "read_only": e.read_only,
                        "sensitive": e.sensitive,
                    }))
                    .collect::<Vec<_>>()
            ),
        ),
        ListFormat::Text => {
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| vec![e.name.clone(), shown(e), source(e).to_owned()])
                .collect();
            out.write_all(table(&["NAME", "VALUE", "SOURCE"], &rows).as_bytes())
        }
    }
}

/// `mq config set`.
pub(crate) fn config_set(
    a: &ConfigSetArgs,
    target: &KafkaTarget,
    out: &mut Output,
) -> Result<(), CliError> {
    let (resource, name) = resource(target, a.broker, "set")?;
    if a.set.is_empty() && a.delete.is_empty() {
        return Err(CliError::usage(
            "'mq config set' needs NAME=VALUE or --delete NAME",
        ));
    }
    let ops: Vec<AlterConfigOp> = a
        .set
        .iter()
        .map(|(k, v)| AlterConfigOp::set(k, v))
        .chain(a.delete.iter().map(AlterConfigOp::delete))
        .collect();
    let doing = format!("set the configs of {name}");
    block_on(async {
        let admin = admin(target).await?;
        admin
            .incremental_alter_configs(resource, &ops)
            .await
            .map_err(|e| failure(&e, &doing))
    })?;
    let mut changed: Vec<String> = a.set.iter().map(|(k, v)| format!("{k}={v}")).collect();
    changed.extend(a.delete.iter().map(|k| format!("{k} (default)")));
    out.line(&format!("{name}: {}", changed.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn columns_line_up_and_the_last_is_not_padded() {
        let rows = vec![
            vec![
                "billing".to_owned(),
                "Empty".to_owned(),
                "classic".to_owned(),
            ],
            vec![
                "a-longer-group".to_owned(),
                "Stable".to_owned(),
                "consumer".to_owned(),
            ],
        ];
        assert_eq!(
            table(&["GROUP", "STATE", "TYPE"], &rows),
            "GROUP           STATE   TYPE\nbilling         Empty   classic\na-longer-group  Stable  consumer\n"
        );
    }
}
