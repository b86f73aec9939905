//! The consumer protocol's embedded formats: what a member sends in
//! JoinGroup (`ConsumerProtocolSubscription`) and what the leader hands out
//! in SyncGroup (`ConsumerProtocolAssignment`), as Java's `ConsumerProtocol`
//! writes them, so that Java and librdkafka members share a group with ours.
//! Also the sticky assignors' user data, as librdkafka writes it.
//!
//! Both formats are versioned, non-flexible structs (int16 version, then
//! fields). The schema files say a newer version only appends fields, so a
//! reader parses any version with the fields it knows and ignores the rest;
//! a version below 0 is malformed.
//!
//! ```text
//! Subscription => version:int16 topics:[string] user_data:nullable_bytes
//!                 owned_partitions:[topic:string partitions:[int32]]  (v1+)
//!                 generation_id:int32                                  (v2+)
//!                 rack_id:nullable_string                              (v3+)
//! Assignment   => version:int16 assigned_partitions:[topic:string partitions:[int32]]
//!                 user_data:nullable_bytes
//! ```

use std::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_proto::primitives::{
    read_array_len, read_i16, read_i32, read_nullable_bytes, read_nullable_string, read_string,
    write_array_len, write_nullable_bytes, write_nullable_string, write_string,
};
use kafka_proto::{DecodeError, DecodeErrorKind};

use super::topic_partition::TopicPartition;

/// The subscription version this client writes (with rack id).
pub(crate) const SUBSCRIPTION_VERSION: i16 = 3;
/// The assignment version this client writes.
pub(crate) const ASSIGNMENT_VERSION: i16 = 3;

/// A member's subscription, as sent in JoinGroup's protocol metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerProtocolSubscription {
    /// The version it was read with, or is written with.
    pub version: i16,
    /// Subscribed topics.
    pub topics: Vec<String>,
    /// Assignor-specific data (the sticky assignors' previous assignment).
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (v1+; cooperative rebalancing).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which it owned them, or -1 (v2+).
    pub generation_id: i32,
    /// The member's rack, if configured (v3+).
    pub rack_id: Option<String>,
}

/// A member's assignment, as handed out in SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerProtocolAssignment {
    /// The version it was read with, or is written with.
    pub version: i16,
    /// The partitions assigned.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific data.
    pub user_data: Option<Bytes>,
}

fn at(e: DecodeError, field: &'static str, input: &Bytes, rest: &Bytes) -> DecodeError {
    e.in_field(field)
        .at_offset(input.len().saturating_sub(rest.len()))
}

/// Writes partitions grouped by topic, topics and partitions in order.
fn write_topic_partitions(buf: &mut BytesMut, partitions: &[TopicPartition]) {
    let mut sorted: Vec<&TopicPartition> = partitions.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut groups: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in sorted {
        match groups.last_mut() {
            Some((topic, parts)) if *topic == &*tp.topic => parts.push(tp.partition),
            _ => groups.push((&tp.topic, vec![tp.partition])),
        }
    }
    // Counts and names fit: they come from Kafka topic names (at most 249
    // bytes) and partition lists far below i32::MAX entries.
    let _ = write_array_len(buf, Some(groups.len()), false);
    for (topic, parts) in groups {
        let _ = write_string(buf, topic, false);
        let _ = write_array_len(buf, Some(parts.len()), false);
        for p in parts {
            buf.put_i32(p);
        }
    }
}

fn read_topic_partitions(
    input: &Bytes,
    buf: &mut Bytes,
    field: &'static str,
) -> Result<Vec<TopicPartition>, DecodeError> {
    let topics = read_array_len(buf, false)
        .map_err(|e| at(e, field, input, buf))?
        .unwrap_or(0);
    let mut out = Vec::new();
    for _ in 0..topics {
        let topic: Arc<str> = read_string(buf, false)
            .map_err(|e| at(e, field, input, buf))?
            .into();
        let count = read_array_len(buf, false)
            .map_err(|e| at(e, field, input, buf))?
            .unwrap_or(0);
        // Each partition takes 4 bytes: the count is checked against the
        // input before anything is allocated for it.
        if count > buf.len() / 4 {
            return Err(at(
                DecodeErrorKind::LengthExceedsInput {
                    len: count as u64,
                    remaining: buf.len(),
                }
                .into(),
                field,
                input,
                buf,
            ));
        }
        out.reserve(count);
        for _ in 0..count {
            let partition = read_i32(buf).map_err(|e| at(e, field, input, buf))?;
            out.push(TopicPartition {
                topic: topic.clone(),
                partition,
            });
        }
    }
    Ok(out)
}

fn read_version(input: &Bytes, buf: &mut Bytes) -> Result<i16, DecodeError> {
    let version = read_i16(buf).map_err(|e| at(e, "version", input, buf))?;
    if version < 0 {
        return Err(
            DecodeError::new(DecodeErrorKind::InvalidLength(i64::from(version)))
                .in_field("version")
                .at_offset(0),
        );
    }
    Ok(version)
}

impl ConsumerProtocolSubscription {
    /// A subscription to `topics` at the version this client writes.
    pub fn new(topics: Vec<String>) -> Self {
        ConsumerProtocolSubscription {
            version: SUBSCRIPTION_VERSION,
            topics,
            generation_id: -1,
            ..Default::default()
        }
    }

    /// Encodes at `self.version` (fields of later versions are left out).
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(64);
        buf.put_i16(self.version);
        let _ = write_array_len(&mut buf, Some(self.topics.len()), false);
        for t in &self.topics {
            let _ = write_string(&mut buf, t, false);
        }
        let _ = write_nullable_bytes(&mut buf, self.user_data.as_deref(), false);
        if self.version >= 1 {
            write_topic_partitions(&mut buf, &self.owned_partitions);
        }
        if self.version >= 2 {
            buf.put_i32(self.generation_id);
        }
        if self.version >= 3 {
            let _ = write_nullable_string(&mut buf, self.rack_id.as_deref(), false);
        }
        buf.freeze()
    }

    /// Decodes any version; fields of versions after 3 are ignored.
    pub fn decode(input: &Bytes) -> Result<Self, DecodeError> {
        let mut buf = input.clone();
        let version = read_version(input, &mut buf)?;
        let count = read_array_len(&mut buf, false)
            .map_err(|e| at(e, "topics", input, &buf))?
            .unwrap_or(0);
        let mut topics = Vec::with_capacity(count);
        for _ in 0..count {
            topics.push(read_string(&mut buf, false).map_err(|e| at(e, "topics", input, &buf))?);
        }
        let user_data =
            read_nullable_bytes(&mut buf, false).map_err(|e| at(e, "user_data", input, &buf))?;
        let mut sub = ConsumerProtocolSubscription {
            version,
            topics,
            user_data,
            owned_partitions: Vec::new(),
            generation_id: -1,
            rack_id: None,
        };
        if version >= 1 {
            sub.owned_partitions = read_topic_partitions(input, &mut buf, "owned_partitions")?;
        }
        if version >= 2 {
            sub.generation_id =
                read_i32(&mut buf).map_err(|e| at(e, "generation_id", input, &buf))?;
        }
        if version >= 3 {
            sub.rack_id =
                read_nullable_string(&mut buf, false).map_err(|e| at(e, "rack_id", input, &buf))?;
        }
        Ok(sub)
    }
}

impl ConsumerProtocolAssignment {
    /// An assignment of `partitions` at the version this client writes.
    pub fn new(partitions: Vec<TopicPartition>) -> Self {
        ConsumerProtocolAssignment {
            version: ASSIGNMENT_VERSION,
            partitions,
            user_data: None,
        }
    }

    /// Encodes (every version has the same fields).
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(32);
        buf.put_i16(self.version);
        write_topic_partitions(&mut buf, &self.partitions);
        let _ = write_nullable_bytes(&mut buf, self.user_data.as_deref(), false);
        buf.freeze()
    }

    /// Decodes any version. An empty input is an empty assignment: the
    /// coordinator sends one to members the leader gave nothing.
    pub fn decode(input: &Bytes) -> Result<Self, DecodeError> {
        if input.is_empty() {
            return Ok(ConsumerProtocolAssignment::default());
        }
        let mut buf = input.clone();
        let version = read_version(input, &mut buf)?;
        let partitions = read_topic_partitions(input, &mut buf, "assigned_partitions")?;
        let user_data =
            read_nullable_bytes(&mut buf, false).map_err(|e| at(e, "user_data", input, &buf))?;
        Ok(ConsumerProtocolAssignment {
            version,
            partitions,
            user_data,
        })
    }
}

/// The sticky assignors' user data, as librdkafka writes it in the
/// subscription (and Java's eager `StickyAssignor` v1):
/// `previous_assignment:[topic:string partitions:[int32]] generation:int32`.
/// Java's cooperative-sticky assignor writes only the generation (int32)
/// and uses the subscription's v1/v2 fields; both are read here.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StickyUserData {
    /// The member's previous assignment.
    pub previous: Vec<TopicPartition>,
    /// Its generation, or -1.
    pub generation: i32,
}

impl StickyUserData {
    /// Encodes in librdkafka's format.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(32);
        write_topic_partitions(&mut buf, &self.previous);
        buf.put_i32(self.generation);
        buf.freeze()
    }

    /// Decodes either format (a lone int32 is Java's generation).
    pub fn decode(input: &Bytes) -> Result<Self, DecodeError> {
        if input.len() == 4 {
            let mut buf = input.clone();
            let generation = read_i32(&mut buf).map_err(|e| at(e, "generation", input, &buf))?;
            return Ok(StickyUserData {
                previous: Vec::new(),
                generation,
            });
        }
        let mut buf = input.clone();
        let previous = read_topic_partitions(input, &mut buf, "previous_assignment")?;
        let generation = read_i32(&mut buf).map_err(|e| at(e, "generation", input, &buf))?;
        Ok(StickyUserData {
            previous,
            generation,
        })
    }
}

/// The fuzz target's body: decoding arbitrary bytes never panics, and
/// what decodes re-encodes to something that decodes the same.
#[doc(hidden)]
pub fn fuzz_decoders(data: &[u8]) {
    let data = Bytes::copy_from_slice(data);
    // Partitions are written grouped by topic, sorted and deduplicated.
    if let Ok(mut sub) = ConsumerProtocolSubscription::decode(&data) {
        let again = ConsumerProtocolSubscription::decode(&sub.encode());
        sub.owned_partitions.sort();
        sub.owned_partitions.dedup();
        assert_eq!(again.as_ref(), Ok(&sub), "subscription round trip");
    }
    if let Ok(mut a) = ConsumerProtocolAssignment::decode(&data) {
        let again = ConsumerProtocolAssignment::decode(&a.encode());
        a.partitions.sort();
        a.partitions.dedup();
        assert_eq!(again.as_ref(), Ok(&a), "assignment round trip");
    }
    if let Ok(u) = StickyUserData::decode(&data) {
        let _ = StickyUserData::decode(&u.encode());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Bytes {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
            .into()
    }

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    // Golden bytes from Kafka 4.3.1's Java client:
    // `ConsumerProtocol.serializeSubscription(new Subscription(["orders",
    // "payments"], [0,0,0,7], [orders-0, orders-3, payments-1], 7,
    // "rack-a"))`, and the same at versions 0 and 1.
    const JAVA_SUB_V3: &str = "00030000000200066f726465727300087061796d656e747300000004000000070000000200066f726465727300000002000000000000000300087061796d656e747300000001000000010000000700067261636b2d61";
    const JAVA_SUB_V1: &str = "00010000000200066f726465727300087061796d656e747300000004000000070000000200066f726465727300000002000000000000000300087061796d656e74730000000100000001";
    const JAVA_SUB_V0: &str = "00000000000100066f7264657273ffffffff";
    // `serializeAssignment(new Assignment([orders-0, orders-3, payments-1]))`
    // and an empty assignment at version 0.
    const JAVA_ASG_V3: &str = "00030000000200066f726465727300000002000000000000000300087061796d656e74730000000100000001ffffffff";
    const JAVA_ASG_V0_EMPTY: &str = "000000000000ffffffff";

    fn java_subscription() -> ConsumerProtocolSubscription {
        ConsumerProtocolSubscription {
            version: 3,
            topics: vec!["orders".into(), "payments".into()],
            user_data: Some(Bytes::from_static(&[0, 0, 0, 7])),
            owned_partitions: vec![tp("orders", 0), tp("orders", 3), tp("payments", 1)],
            generation_id: 7,
            rack_id: Some("rack-a".into()),
        }
    }

    #[test]
    fn subscription_matches_java_bytes() {
        let sub = java_subscription();
        assert_eq!(sub.encode(), unhex(JAVA_SUB_V3));
        assert_eq!(
            ConsumerProtocolSubscription::decode(&unhex(JAVA_SUB_V3)).unwrap(),
            sub
        );
        let v1 = ConsumerProtocolSubscription {
            version: 1,
            generation_id: -1,
            rack_id: None,
            ..sub.clone()
        };
        assert_eq!(v1.encode(), unhex(JAVA_SUB_V1));
        assert_eq!(
            ConsumerProtocolSubscription::decode(&unhex(JAVA_SUB_V1)).unwrap(),
            v1
        );
        let v0 = ConsumerProtocolSubscription {
            version: 0,
            topics: vec!["orders".into()],
            ..Default::default()
        };
        let mut v0 = v0;
        v0.generation_id = -1;
        assert_eq!(v0.encode(), unhex(JAVA_SUB_V0));
        assert_eq!(
            ConsumerProtocolSubscription::decode(&unhex(JAVA_SUB_V0)).unwrap(),
            v0
        );
    }

    #[test]
    fn assignment_matches_java_bytes() {
        let a = ConsumerProtocolAssignment::new(vec![
            tp("payments", 1),
            tp("orders", 3),
            tp("orders", 0),
        ]);
        assert_eq!(a.encode(), unhex(JAVA_ASG_V3));
        let back = ConsumerProtocolAssignment::decode(&unhex(JAVA_ASG_V3)).unwrap();
        assert_eq!(
            back.partitions,
            vec![tp("orders", 0), tp("orders", 3), tp("payments", 1)]
        );
        let empty = ConsumerProtocolAssignment::decode(&unhex(JAVA_ASG_V0_EMPTY)).unwrap();
        assert_eq!((empty.version, empty.partitions.len()), (0, 0));
        assert_eq!(
            ConsumerProtocolAssignment::decode(&Bytes::new()).unwrap(),
            ConsumerProtocolAssignment::default()
        );
    }

    #[test]
    fn newer_versions_are_read_with_known_fields() {
        let mut bytes = unhex(JAVA_SUB_V3).to_vec();
        bytes[1] = 9; // version 9
        bytes.extend_from_slice(&[1, 2, 3, 4]); // a field from the future
        let sub = ConsumerProtocolSubscription::decode(&Bytes::from(bytes)).unwrap();
        assert_eq!(sub.version, 9);
        assert_eq!(sub.rack_id.as_deref(), Some("rack-a"));
    }

    #[test]
    fn malformed_input_is_a_located_error() {
        let full = unhex(JAVA_SUB_V3);
        // Every truncation fails with an error, never a panic.
        for cut in 0..full.len() - 1 {
            let err = ConsumerProtocolSubscription::decode(&full.slice(..cut)).unwrap_err();
            assert!(err.field.is_some() || cut < 2, "cut {cut}: {err:?}");
        }
        // A negative version.
        let err = ConsumerProtocolSubscription::decode(&unhex("ffff00000000")).unwrap_err();
        assert_eq!(err.field, Some("version"));
        // A partition count far beyond the input.
        let err =
            ConsumerProtocolAssignment::decode(&unhex("00000000000100017400ffffff00")).unwrap_err();
        assert_eq!(err.field, Some("assigned_partitions"));
        assert!(matches!(
            err.kind,
            DecodeErrorKind::LengthExceedsInput { .. }
        ));
    }

    fn tps() -> impl proptest::strategy::Strategy<Value = Vec<TopicPartition>> {
        use proptest::prelude::*;
        proptest::collection::vec(("[a-z.-]{1,12}", 0i32..1000), 0..20).prop_map(|v| {
            let mut v: Vec<TopicPartition> = v
                .into_iter()
                .map(|(t, p)| TopicPartition::new(t.as_str(), p))
                .collect();
            v.sort();
            v.dedup();
            v
        })
    }

    proptest::proptest! {
        #[test]
        fn subscriptions_round_trip(
            version in 0i16..=3,
            topics in proptest::collection::vec("[a-z]{1,10}", 0..5),
            user_data in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)),
            owned in tps(),
            generation in -1i32..100,
            rack in proptest::option::of("[a-z]{1,5}"),
        ) {
            let sub = ConsumerProtocolSubscription {
                version,
                topics,
                user_data: user_data.map(Bytes::from),
                owned_partitions: if version >= 1 { owned } else { Vec::new() },
                generation_id: if version >= 2 { generation } else { -1 },
                rack_id: if version >= 3 { rack } else { None },
            };
            proptest::prop_assert_eq!(ConsumerProtocolSubscription::decode(&sub.encode()).unwrap(), sub);
        }

        #[test]
        fn assignments_round_trip(partitions in tps(), version in 0i16..=3) {
            let a = ConsumerProtocolAssignment { version, partitions, user_data: None };
            proptest::prop_assert_eq!(ConsumerProtocolAssignment::decode(&a.encode()).unwrap(), a);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_round_trip(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            fuzz_decoders(&data);
        }
    }

    #[test]
    fn sticky_user_data_both_formats() {
        let ud = StickyUserData {
            previous: vec![tp("orders", 2), tp("orders", 1)],
            generation: 12,
        };
        let back = StickyUserData::decode(&ud.encode()).unwrap();
        assert_eq!(back.previous, vec![tp("orders", 1), tp("orders", 2)]);
        assert_eq!(back.generation, 12);
        let java = StickyUserData::decode(&Bytes::from_static(&[0, 0, 0, 7])).unwrap();
        assert_eq!((java.previous.len(), java.generation), (0, 7));
        assert!(StickyUserData::decode(&Bytes::from_static(&[0, 0, 0, 1, 0])).is_err());
    }
}
