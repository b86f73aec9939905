//! Checks every implemented API against Kafka's JSON message schemas: API
//! key, supported versions within `validVersions`, the flexible-version
//! threshold, and for every field (nested structs and tagged fields
//! included) its name, type, versions, nullable versions, tag and default.
//! The data formats (schemas of type `data`, such as the consumer
//! protocol's subscription and assignment) are checked the same way, with
//! no API key: their schema must say it is `data` and have none.
//!
//! Fields whose versions lie wholly outside the range this crate supports
//! (below the KIP-896 floor) may be left out of the DSL; every other schema
//! field must be declared, in order.

use std::collections::HashMap;
use std::path::PathBuf;

use kafka_proto::api::{ApiSupport, DataSupport, all_data_schemas, all_schemas};
use kafka_proto::schema::{FieldMeta, StructMeta, TypeMeta, Versions};
use serde_json::Value;

fn schema_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/spec/kafka/message-4.3.1"
    ))
}

/// Loads a schema file, dropping `//` comment lines first.
fn load(name: &str) -> Value {
    let path = schema_dir().join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let stripped: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&stripped).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn normalize(name: &str) -> String {
    name.trim_start_matches("r#")
        .replace('_', "")
        .to_lowercase()
}

/// Parses an integer or boolean default as the schema or the DSL writes it.
fn parse_default(text: &str) -> Option<String> {
    let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let t = t
        .strip_prefix("ErrorCode(")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or(&t)
        .to_owned();
    if t == "true" || t == "false" {
        return Some(t);
    }
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.as_str()),
    };
    let value = if let Some(hex) = digits.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else {
        digits.parse::<i64>().ok()?
    };
    Some(if neg { -value } else { value }.to_string())
}

fn is_zero_default(text: &str) -> bool {
    matches!(text, "" | "null" | "0" | "false")
}

struct Checker {
    supported: Versions,
    common: HashMap<String, Value>,
    errors: Vec<String>,
}

impl Checker {
    fn fail(&mut self, msg: String) {
        self.errors.push(msg);
    }

    fn check_struct(&mut self, path: &str, schema_fields: &[Value], dsl: &StructMeta) {
        let wanted: Vec<&Value> = schema_fields
            .iter()
            .filter(|f| {
                let v = Versions::parse(str_of(f, "versions").unwrap_or("none"));
                !v.intersect(&self.supported).is_empty()
            })
            .collect();
        let names: Vec<_> = wanted
            .iter()
            .map(|f| str_of(f, "name").unwrap_or("?"))
            .collect();
        let dsl_names: Vec<_> = dsl.fields.iter().map(|f| f.name).collect();
        if wanted.len() != dsl.fields.len() {
            self.fail(format!(
                "{path}: schema fields {names:?} but DSL declares {dsl_names:?}"
            ));
            return;
        }
        for (sf, df) in wanted.into_iter().zip(&dsl.fields) {
            self.check_field(path, sf, df);
        }
    }

    fn check_field(&mut self, path: &str, sf: &Value, df: &FieldMeta) {
        let name = str_of(sf, "name").unwrap_or("?");
        let here = format!("{path}.{name}");
        if normalize(name) != normalize(df.name) {
            self.fail(format!("{here}: DSL field is named {:?}", df.name));
            return;
        }
        let ty = str_of(sf, "type").unwrap_or("?");
        if ty != df.ty.schema_name() {
            self.fail(format!(
                "{here}: type {ty} but DSL has {}",
                df.ty.schema_name()
            ));
        }
        let versions = str_of(sf, "versions").unwrap_or("?");
        if versions != df.versions {
            self.fail(format!(
                "{here}: versions {versions} but DSL has {}",
                df.versions
            ));
        }
        let nullable = str_of(sf, "nullableVersions");
        if nullable != df.nullable_versions {
            self.fail(format!(
                "{here}: nullableVersions {nullable:?} but DSL has {:?}",
                df.nullable_versions
            ));
        }
        let tag = sf.get("tag").and_then(Value::as_u64).map(|t| t as u32);
        if tag != df.tag {
            self.fail(format!("{here}: tag {tag:?} but DSL has {:?}", df.tag));
        }
        let tagged = str_of(sf, "taggedVersions");
        if tagged != df.tagged_versions {
            self.fail(format!(
                "{here}: taggedVersions {tagged:?} but DSL has {:?}",
                df.tagged_versions
            ));
        }
        if let Some(flex) = str_of(sf, "flexibleVersions") {
            self.fail(format!(
                "{here}: field-level flexibleVersions {flex} is not supported by the DSL"
            ));
        }
        // Defaults: a non-zero schema default must be declared, with the same
        // value; a DSL default must match the schema's.
        let schema_default = match sf.get("default") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        match (schema_default.as_deref(), df.default) {
            (Some(s), None) if !is_zero_default(s) => self.fail(format!(
                "{here}: schema default {s} not declared in the DSL"
            )),
            (Some(s), Some(d)) if parse_default(s) != parse_default(d) => {
                self.fail(format!("{here}: schema default {s} but DSL has {d}"))
            }
            (None, Some(d)) if !is_zero_default(d) => {
                self.fail(format!("{here}: DSL default {d} but the schema has none"))
            }
            _ => {}
        }
        // Nested structs: inline fields or a common struct.
        if let Some(nested) = df.ty.struct_meta() {
            let fields = match sf.get("fields").and_then(Value::as_array) {
                Some(f) => f.clone(),
                None => {
                    let sname = ty.trim_start_matches("[]");
                    match self
                        .common
                        .get(sname)
                        .and_then(|c| c.get("fields"))
                        .and_then(Value::as_array)
                    {
                        Some(f) => f.clone(),
                        None => {
                            self.fail(format!(
                                "{here}: no fields for struct {sname} in the schema"
                            ));
                            return;
                        }
                    }
                }
            };
            self.check_struct(&here, &fields, nested);
        } else if sf.get("fields").is_some() {
            self.fail(format!(
                "{here}: schema has a struct, the DSL a {}",
                df.ty.schema_name()
            ));
        }
    }
}

fn flexible_min(text: &str) -> Option<i16> {
    let v = Versions::parse(text);
    if v.is_empty() { None } else { Some(v.min) }
}

fn check_message(support: &ApiSupport, kind: &str, dsl: &StructMeta, errors: &mut Vec<String>) {
    let file = format!("{}{kind}", support.api_key.name());
    let json = load(&file);
    if json.get("apiKey").and_then(Value::as_i64) != Some(i64::from(support.api_key.0)) {
        errors.push(format!("{file}: apiKey differs from {}", support.api_key.0));
    }
    let versions = Versions {
        min: support.min_version,
        max: support.max_version,
    };
    check_schema(
        &file,
        &json,
        versions,
        support.flexible_version,
        dsl,
        errors,
    );
}

fn check_data(support: &DataSupport, dsl: &StructMeta, errors: &mut Vec<String>) {
    let file = support.name;
    let json = load(file);
    if str_of(&json, "type") != Some("data") {
        errors.push(format!("{file}: not a data schema"));
    }
    if json.get("apiKey").is_some() {
        errors.push(format!("{file}: a data schema with an apiKey"));
    }
    let versions = Versions {
        min: support.min_version,
        max: support.max_version,
    };
    check_schema(file, &json, versions, support.flexible_version, dsl, errors);
}

/// What messages and data formats share: the struct's name, the version
/// range and flexible threshold, and every field.
fn check_schema(
    file: &str,
    json: &Value,
    supported: Versions,
    flexible_version: Option<i16>,
    dsl: &StructMeta,
    errors: &mut Vec<String>,
) {
    if dsl.name != file {
        errors.push(format!("{file}: DSL struct is named {}", dsl.name));
    }
    let valid = Versions::parse(str_of(json, "validVersions").unwrap_or("none"));
    if !(valid.contains(supported.min) && valid.contains(supported.max)) {
        errors.push(format!(
            "{file}: supported {}..={} is not within validVersions {valid:?}",
            supported.min, supported.max
        ));
    }
    if supported.max != valid.max {
        errors.push(format!(
            "{file}: newest version in the schema is {}, but {} is implemented",
            valid.max, supported.max
        ));
    }
    let flex = flexible_min(str_of(json, "flexibleVersions").unwrap_or("none"));
    if flex != flexible_version {
        errors.push(format!(
            "{file}: flexibleVersions starts at {flex:?}, DSL says {flexible_version:?}"
        ));
    }
    let common = json
        .get("commonStructs")
        .and_then(Value::as_array)
        .map(|cs| {
            cs.iter()
                .filter_map(|c| Some((str_of(c, "name")?.to_owned(), c.clone())))
                .collect()
        })
        .unwrap_or_default();
    let mut checker = Checker {
        supported,
        common,
        errors: Vec::new(),
    };
    let fields = json
        .get("fields")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    checker.check_struct(file, &fields, dsl);
    errors.extend(checker.errors);
}

#[test]
fn every_api_matches_its_schema() {
    let schemas = all_schemas();
    assert_eq!(
        schemas.len(),
        50,
        "the 23 APIs of issue 4, the 4 transaction APIs of issue 18, the group, config, ACL, operator admin, KIP-848 and KIP-714 APIs of issue 19, and the 4 share group APIs (KIP-932)"
    );
    let mut errors = Vec::new();
    let mut checked_fields = 0;
    for (support, req, resp) in &schemas {
        check_message(support, "Request", req, &mut errors);
        check_message(support, "Response", resp, &mut errors);
        checked_fields += count_fields(req) + count_fields(resp);
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
    assert!(checked_fields > 300, "only {checked_fields} fields checked");
}

#[test]
fn every_data_format_matches_its_schema() {
    let schemas = all_data_schemas();
    let names: Vec<&str> = schemas.iter().map(|(s, _)| s.name).collect();
    assert_eq!(
        names,
        ["ConsumerProtocolSubscription", "ConsumerProtocolAssignment"],
        "the consumer protocol's formats"
    );
    let mut errors = Vec::new();
    let mut checked_fields = 0;
    for (support, dsl) in &schemas {
        check_data(support, dsl, &mut errors);
        checked_fields += count_fields(dsl);
    }
    assert!(
        errors.is_empty(),
        "{} mismatches:\n{}",
        errors.len(),
        errors.join("\n")
    );
    // Subscription: 5 fields and 2 nested; assignment: 2 and 2.
    assert_eq!(checked_fields, 11);
}

fn count_fields(s: &StructMeta) -> usize {
    s.fields
        .iter()
        .map(|f| 1 + f.ty.struct_meta().map_or(0, count_fields))
        .sum()
}

#[test]
fn supported_ranges_are_the_kip896_floors() {
    let floors: HashMap<&str, (i16, i16)> = [
        ("Produce", (3, 13)),
        ("Fetch", (4, 18)),
        ("ListOffsets", (1, 11)),
        ("Metadata", (0, 13)),
        ("OffsetCommit", (2, 10)),
        ("OffsetFetch", (1, 10)),
        ("FindCoordinator", (0, 6)),
        ("JoinGroup", (0, 9)),
        ("Heartbeat", (0, 4)),
        ("LeaveGroup", (0, 5)),
        ("SyncGroup", (0, 5)),
        ("DescribeGroups", (0, 6)),
        ("ListGroups", (0, 5)),
        ("SaslHandshake", (0, 1)),
        ("ApiVersions", (0, 4)),
        ("CreateTopics", (2, 7)),
        ("DeleteTopics", (1, 6)),
        ("DeleteRecords", (0, 2)),
        ("InitProducerId", (0, 6)),
        ("OffsetForLeaderEpoch", (2, 4)),
        ("AddPartitionsToTxn", (0, 5)),
        ("AddOffsetsToTxn", (0, 4)),
        ("EndTxn", (0, 5)),
        ("TxnOffsetCommit", (0, 5)),
        ("DescribeConfigs", (1, 4)),
        ("SaslAuthenticate", (0, 2)),
        ("CreatePartitions", (0, 3)),
        ("DeleteGroups", (0, 2)),
        ("IncrementalAlterConfigs", (0, 1)),
        ("OffsetDelete", (0, 0)),
        ("DescribeAcls", (1, 3)),
        ("CreateAcls", (1, 3)),
        ("DeleteAcls", (1, 3)),
        ("ConsumerGroupHeartbeat", (0, 1)),
        ("ConsumerGroupDescribe", (0, 1)),
        ("GetTelemetrySubscriptions", (0, 0)),
        ("PushTelemetry", (0, 0)),
        ("DescribeLogDirs", (1, 5)),
        ("ElectLeaders", (0, 2)),
        ("AlterPartitionReassignments", (0, 1)),
        ("ListPartitionReassignments", (0, 0)),
        ("DescribeUserScramCredentials", (0, 0)),
        ("AlterUserScramCredentials", (0, 0)),
        ("DescribeProducers", (0, 0)),
        ("DescribeTransactions", (0, 0)),
        ("ListTransactions", (0, 2)),
        ("ShareGroupHeartbeat", (1, 1)),
        ("ShareGroupDescribe", (1, 1)),
        ("ShareFetch", (1, 2)),
        ("ShareAcknowledge", (1, 2)),
    ]
    .into_iter()
    .collect();
    for (support, _, _) in all_schemas() {
        let name = support.api_key.name();
        assert_eq!(
            floors.get(name),
            Some(&(support.min_version, support.max_version)),
            "{name}"
        );
    }
}

#[test]
fn nested_and_tagged_fields_are_described() {
    // A spot check that the metadata the conformance test walks is deep.
    let schemas = all_schemas();
    let (_, _, fetch_resp) = schemas
        .iter()
        .find(|(s, _, _)| s.api_key.name() == "Fetch")
        .expect("Fetch");
    let responses = &fetch_resp.fields[3];
    assert_eq!(responses.name, "responses");
    let partitions = &responses.ty.struct_meta().expect("struct").fields[2];
    let data = partitions.ty.struct_meta().expect("struct");
    let records = data
        .fields
        .iter()
        .find(|f| f.name == "records")
        .expect("records");
    assert_eq!(records.ty, TypeMeta::Records);
    let leader = data
        .fields
        .iter()
        .find(|f| f.name == "current_leader")
        .expect("tagged");
    assert_eq!((leader.tag, leader.tagged_versions), (Some(1), Some("12+")));
}
