//! Walks the RabbitMQ 0-9-1 spec JSON and checks the hand-written codec
//! against it: every method's class id, method id, name and field list
//! (names and wire types, in order), that the `Method` enum covers every
//! method, the basic properties, and the constants.

use std::collections::{BTreeMap, BTreeSet};

use amqp_proto::ReplyCode;
use amqp_proto::frame;
use amqp_proto::method::CATALOG;
use amqp_proto::properties::PROPERTY_NAMES;
use serde_json::Value;

const SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/spec/amqp/amqp-rabbitmq-0.9.1.json"
);

fn spec() -> Value {
    let text = std::fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("reading {SPEC}: {e}"));
    serde_json::from_str(&text).expect("the spec is JSON")
}

/// Domain name -> wire type.
fn domains(spec: &Value) -> BTreeMap<String, String> {
    spec["domains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d[0].as_str().unwrap().to_owned(),
                d[1].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn wire_type(domains: &BTreeMap<String, String>, arg: &Value) -> String {
    if let Some(t) = arg["type"].as_str() {
        return t.to_owned();
    }
    let d = arg["domain"].as_str().expect("a type or a domain");
    domains
        .get(d)
        .cloned()
        .unwrap_or_else(|| panic!("unknown domain {d}"))
}

#[test]
fn every_method_matches_the_spec_and_the_enum_covers_it() {
    let spec = spec();
    let domains = domains(&spec);
    let by_ids: BTreeMap<(u16, u16), _> = CATALOG
        .iter()
        .map(|m| ((m.class_id, m.method_id), m))
        .collect();
    assert_eq!(by_ids.len(), CATALOG.len(), "ids are unique");
    let mut in_spec = BTreeSet::new();
    for class in spec["classes"].as_array().unwrap() {
        let class_name = class["name"].as_str().unwrap();
        let class_id = class["id"].as_u64().unwrap() as u16;
        for method in class["methods"].as_array().unwrap() {
            let method_id = method["id"].as_u64().unwrap() as u16;
            let name = format!("{class_name}.{}", method["name"].as_str().unwrap());
            in_spec.insert((class_id, method_id));
            let ours = by_ids
                .get(&(class_id, method_id))
                .unwrap_or_else(|| panic!("{name} ({class_id}.{method_id}) is not implemented"));
            assert_eq!(ours.name, name, "name of {class_id}.{method_id}");
            let expected: Vec<(String, String)> = method["arguments"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| {
                    (
                        a["name"].as_str().unwrap().to_owned(),
                        wire_type(&domains, a),
                    )
                })
                .collect();
            let got: Vec<(String, String)> = ours
                .fields
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect();
            assert_eq!(got, expected, "fields of {name}");
        }
    }
    let ours: BTreeSet<(u16, u16)> = by_ids.keys().copied().collect();
    assert_eq!(ours, in_spec, "no method beyond the spec");
    assert_eq!(CATALOG.len(), 66);
}

#[test]
fn content_methods_and_synchronous_flags_match_the_spec() {
    use amqp_proto::Method;
    let spec = spec();
    // Build each method from its ids with default arguments.
    for class in spec["classes"].as_array().unwrap() {
        let class_id = class["id"].as_u64().unwrap() as u16;
        for method in class["methods"].as_array().unwrap() {
            let method_id = method["id"].as_u64().unwrap() as u16;
            let mut payload = Vec::new();
            payload.extend_from_slice(&class_id.to_be_bytes());
            payload.extend_from_slice(&method_id.to_be_bytes());
            // Zero arguments of each type: bits pack, so count octets.
            let mut bits = 0;
            for a in method["arguments"].as_array().unwrap() {
                let t = wire_type(&domains(&spec), a);
                if t == "bit" {
                    if bits % 8 == 0 {
                        payload.push(0);
                    }
                    bits += 1;
                    continue;
                }
                bits = 0;
                let zeros = match t.as_str() {
                    "octet" | "shortstr" => 1,
                    "short" => 2,
                    "long" | "longstr" | "table" => 4,
                    "longlong" | "timestamp" => 8,
                    t => panic!("type {t}"),
                };
                payload.extend(std::iter::repeat_n(0, zeros));
            }
            let m = Method::decode(&payload.into())
                .unwrap_or_else(|e| panic!("{class_id}.{method_id}: {e}"));
            let content = method["content"].as_bool().unwrap_or(false);
            assert_eq!(m.has_content(), content, "{} carries content", m.name());
            let synchronous = method["synchronous"].as_bool().unwrap_or(false);
            assert_eq!(
                m.is_request(),
                synchronous,
                "{} is a synchronous request",
                m.name()
            );
        }
    }
}

#[test]
fn basic_properties_match_the_spec() {
    let spec = spec();
    let basic = spec["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "basic")
        .unwrap();
    let expected: Vec<(String, String)> = basic["properties"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let got: Vec<(String, String)> = PROPERTY_NAMES
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn constants_match_the_spec() {
    let spec = spec();
    let mut codes = BTreeMap::new();
    for c in spec["constants"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let value = c["value"].as_u64().unwrap();
        match name {
            "FRAME-METHOD" => assert_eq!(value, u64::from(frame::FRAME_METHOD)),
            "FRAME-HEADER" => assert_eq!(value, u64::from(frame::FRAME_HEADER)),
            "FRAME-BODY" => assert_eq!(value, u64::from(frame::FRAME_BODY)),
            "FRAME-HEARTBEAT" => assert_eq!(value, u64::from(frame::FRAME_HEARTBEAT)),
            "FRAME-MIN-SIZE" => assert_eq!(value, u64::from(frame::FRAME_MIN_SIZE)),
            "FRAME-END" => assert_eq!(value, u64::from(frame::FRAME_END)),
            _ => {
                let hard = c["class"].as_str() == Some("hard-error");
                codes.insert(value as u16, (name.to_owned(), hard));
            }
        }
    }
    let ours: BTreeMap<u16, (String, bool)> = ReplyCode::ALL
        .iter()
        .map(|(code, name, hard)| (code.0, ((*name).to_owned(), *hard)))
        .collect();
    assert_eq!(ours, codes);
    assert!(ReplyCode::FRAME_ERROR.is_hard_error());
    assert!(!ReplyCode::NOT_FOUND.is_hard_error());
    assert_eq!(ReplyCode(999).name(), None, "unknown codes still fit");
}
