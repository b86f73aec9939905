//! The consumer protocol as this client speaks it: subscriptions,
//! assignments and the sticky assignors' user data built from this
//! client's [`TopicPartition`]s, and read back into them.
//!
//! The formats themselves (Java's `ConsumerProtocol`, and the sticky user
//! data as librdkafka writes it) are kafka-proto's, in
//! [`kafka_proto::api::consumer_protocol`]. What is ours: the versions this
//! client writes, writing partitions grouped by topic (sorted, each once,
//! as Java does), and reading an empty SyncGroup assignment as an empty
//! one.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use kafka_proto::api::VersionedData;
use kafka_proto::api::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolAssignmentTopicPartition,
    ConsumerProtocolSubscription, ConsumerProtocolSubscriptionTopicPartition,
    StickyAssignorUserData,
};
use kafka_proto::{DecodeError, EncodeError};

use super::topic_partition::TopicPartition;

/// The subscription version this client writes (with rack id).
pub(crate) const SUBSCRIPTION_VERSION: i16 = 3;
/// The assignment version this client writes.
pub(crate) const ASSIGNMENT_VERSION: i16 = 3;

/// `partitions` grouped by topic, topics and partitions in order, each
/// partition once.
fn by_topic(partitions: &[TopicPartition]) -> Vec<(String, Vec<i32>)> {
    let mut sorted: Vec<&TopicPartition> = partitions.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut groups: Vec<(String, Vec<i32>)> = Vec::new();
    for tp in sorted {
        match groups.last_mut() {
            Some((topic, parts)) if **topic == *tp.topic => parts.push(tp.partition),
            _ => groups.push((tp.topic.to_string(), vec![tp.partition])),
        }
    }
    groups
}

/// The partitions of `(topic, partitions)` entries, in wire order (the
/// topic's name shared by its partitions).
fn flatten<'a>(entries: impl Iterator<Item = (&'a str, &'a [i32])>) -> Vec<TopicPartition> {
    let mut out = Vec::new();
    for (topic, partitions) in entries {
        let topic: Arc<str> = topic.into();
        out.extend(partitions.iter().map(|&partition| TopicPartition {
            topic: topic.clone(),
            partition,
        }));
    }
    out
}

/// Encodes `value` at `version`.
fn encode<T: VersionedData>(value: &T, version: i16) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::with_capacity(64);
    value.encode(version, &mut buf)?;
    Ok(buf.freeze())
}

/// A subscription to `topics` with nothing owned, at the version this
/// client writes.
pub(crate) fn subscription(topics: Vec<String>) -> ConsumerProtocolSubscription {
    ConsumerProtocolSubscription {
        topics,
        generation_id: -1,
        ..Default::default()
    }
}

/// `owned` as a subscription's owned partitions.
pub(crate) fn owned_partitions(
    owned: &[TopicPartition],
) -> Vec<ConsumerProtocolSubscriptionTopicPartition> {
    by_topic(owned)
        .into_iter()
        .map(
            |(topic, partitions)| ConsumerProtocolSubscriptionTopicPartition {
                topic,
                partitions,
                ..Default::default()
            },
        )
        .collect()
}

/// The partitions a subscription says its member owns, in wire order.
pub(crate) fn owned_of(subscription: &ConsumerProtocolSubscription) -> Vec<TopicPartition> {
    flatten(
        subscription
            .owned_partitions
            .iter()
            .map(|o| (o.topic.as_str(), o.partitions.as_slice())),
    )
}

/// Encodes a subscription at [`SUBSCRIPTION_VERSION`].
pub(crate) fn encode_subscription(
    subscription: &ConsumerProtocolSubscription,
) -> Result<Bytes, EncodeError> {
    encode(subscription, SUBSCRIPTION_VERSION)
}

/// Decodes a member's subscription (any version), with the version it was
/// written at.
pub(crate) fn decode_subscription(
    bytes: &Bytes,
) -> Result<(i16, ConsumerProtocolSubscription), DecodeError> {
    ConsumerProtocolSubscription::decode(&mut bytes.clone())
}

/// `partitions` as an assignment at [`ASSIGNMENT_VERSION`].
pub(crate) fn encode_assignment(partitions: &[TopicPartition]) -> Result<Bytes, EncodeError> {
    let assignment = ConsumerProtocolAssignment {
        assigned_partitions: by_topic(partitions)
            .into_iter()
            .map(
                |(topic, partitions)| ConsumerProtocolAssignmentTopicPartition {
                    topic,
                    partitions,
                    ..Default::default()
                },
            )
            .collect(),
        ..Default::default()
    };
    encode(&assignment, ASSIGNMENT_VERSION)
}

/// The partitions of an assignment (any version), in wire order. An empty
/// input is an empty assignment: the coordinator sends one to members the
/// leader gave nothing.
pub(crate) fn decode_assignment(bytes: &Bytes) -> Result<Vec<TopicPartition>, DecodeError> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let (_, assignment) = ConsumerProtocolAssignment::decode(&mut bytes.clone())?;
    Ok(flatten(
        assignment
            .assigned_partitions
            .iter()
            .map(|a| (a.topic.as_str(), a.partitions.as_slice())),
    ))
}

/// The sticky assignors' user data for a member that owned `previous` in
/// `generation` (librdkafka's form).
pub(crate) fn encode_sticky_user_data(
    previous: &[TopicPartition],
    generation: i32,
) -> Result<Bytes, EncodeError> {
    let user_data = StickyAssignorUserData {
        previous_assignment: by_topic(previous)
            .into_iter()
            .map(
                |(topic, partitions)| ConsumerProtocolAssignmentTopicPartition {
                    topic,
                    partitions,
                    ..Default::default()
                },
            )
            .collect(),
        generation,
        ..Default::default()
    };
    let mut buf = BytesMut::with_capacity(32);
    user_data.encode(&mut buf)?;
    Ok(buf.freeze())
}

/// The previous assignment and generation in sticky user data (either
/// form; Java's lone generation has no previous assignment).
pub(crate) fn decode_sticky_user_data(
    bytes: &Bytes,
) -> Result<(Vec<TopicPartition>, i32), DecodeError> {
    let user_data = StickyAssignorUserData::decode(&mut bytes.clone())?;
    let previous = flatten(
        user_data
            .previous_assignment
            .iter()
            .map(|a| (a.topic.as_str(), a.partitions.as_slice())),
    );
    Ok((previous, user_data.generation))
}

#[cfg(test)]
mod tests {
    use kafka_proto::DecodeErrorKind;

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

    // Golden bytes from Kafka 4.3.1's Java client (kafka-proto checks them
    // field by field): `ConsumerProtocol.serializeSubscription(new
    // Subscription(["orders", "payments"], [0,0,0,7], [orders-0, orders-3,
    // payments-1], 7, "rack-a"))` and `serializeAssignment(new
    // Assignment([orders-0, orders-3, payments-1]))`.
    const JAVA_SUB_V3: &str = "00030000000200066f726465727300087061796d656e747300000004000000070000000200066f726465727300000002000000000000000300087061796d656e747300000001000000010000000700067261636b2d61";
    const JAVA_ASG_V3: &str = "00030000000200066f726465727300000002000000000000000300087061796d656e74730000000100000001ffffffff";
    const JAVA_ASG_V0_EMPTY: &str = "000000000000ffffffff";

    #[test]
    fn subscription_matches_java_bytes() {
        // Owned partitions in any order, duplicates included, are written
        // grouped by topic, sorted, once each.
        let owned = [
            tp("payments", 1),
            tp("orders", 3),
            tp("orders", 0),
            tp("orders", 3),
        ];
        let sub = ConsumerProtocolSubscription {
            user_data: Some(Bytes::from_static(&[0, 0, 0, 7])),
            owned_partitions: owned_partitions(&owned),
            generation_id: 7,
            rack_id: Some("rack-a".into()),
            ..subscription(vec!["orders".into(), "payments".into()])
        };
        assert_eq!(encode_subscription(&sub).unwrap(), unhex(JAVA_SUB_V3));
        let (version, back) = decode_subscription(&unhex(JAVA_SUB_V3)).unwrap();
        assert_eq!((version, &back), (SUBSCRIPTION_VERSION, &sub));
        assert_eq!(
            owned_of(&back),
            vec![tp("orders", 0), tp("orders", 3), tp("payments", 1)]
        );
    }

    #[test]
    fn assignment_matches_java_bytes() {
        let partitions = [tp("payments", 1), tp("orders", 3), tp("orders", 0)];
        assert_eq!(encode_assignment(&partitions).unwrap(), unhex(JAVA_ASG_V3));
        assert_eq!(
            decode_assignment(&unhex(JAVA_ASG_V3)).unwrap(),
            vec![tp("orders", 0), tp("orders", 3), tp("payments", 1)]
        );
        assert_eq!(decode_assignment(&unhex(JAVA_ASG_V0_EMPTY)), Ok(Vec::new()));
        assert_eq!(decode_assignment(&Bytes::new()), Ok(Vec::new()));
        // A partition count far beyond the input.
        let err = decode_assignment(&unhex("00000000000100017400ffffff00")).unwrap_err();
        assert!(matches!(
            err.kind,
            DecodeErrorKind::LengthExceedsInput { .. }
        ));
    }

    fn tps() -> impl proptest::strategy::Strategy<Value = Vec<TopicPartition>> {
        use proptest::prelude::*;
        proptest::collection::vec(("[a-z.-]{1,12}", 0i32..1000), 0..20).prop_map(|v| {
            v.into_iter()
                .map(|(t, p)| TopicPartition::new(t.as_str(), p))
                .collect()
        })
    }

    fn sorted(mut v: Vec<TopicPartition>) -> Vec<TopicPartition> {
        v.sort();
        v.dedup();
        v
    }

    proptest::proptest! {
        #[test]
        fn subscriptions_round_trip(
            topics in proptest::collection::vec("[a-z]{1,10}", 0..5),
            user_data in proptest::option::of(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)),
            owned in tps(),
            generation in -1i32..100,
            rack in proptest::option::of("[a-z]{1,5}"),
        ) {
            let sub = ConsumerProtocolSubscription {
                user_data: user_data.map(Bytes::from),
                owned_partitions: owned_partitions(&owned),
                generation_id: generation,
                rack_id: rack,
                ..subscription(topics)
            };
            let (version, back) = decode_subscription(&encode_subscription(&sub).unwrap()).unwrap();
            proptest::prop_assert_eq!(version, SUBSCRIPTION_VERSION);
            proptest::prop_assert_eq!(owned_of(&back), sorted(owned));
            proptest::prop_assert_eq!(back, sub);
        }

        #[test]
        fn assignments_round_trip(partitions in tps()) {
            let back = decode_assignment(&encode_assignment(&partitions).unwrap()).unwrap();
            proptest::prop_assert_eq!(back, sorted(partitions));
        }

        #[test]
        fn sticky_user_data_round_trips(previous in tps(), generation in -1i32..100) {
            let bytes = encode_sticky_user_data(&previous, generation).unwrap();
            proptest::prop_assert_eq!(
                decode_sticky_user_data(&bytes),
                Ok((sorted(previous), generation))
            );
        }
    }

    #[test]
    fn sticky_user_data_both_formats() {
        let bytes = encode_sticky_user_data(&[tp("orders", 2), tp("orders", 1)], 12).unwrap();
        assert_eq!(
            decode_sticky_user_data(&bytes),
            Ok((vec![tp("orders", 1), tp("orders", 2)], 12))
        );
        let java = decode_sticky_user_data(&Bytes::from_static(&[0, 0, 0, 7])).unwrap();
        assert_eq!((java.0.len(), java.1), (0, 7));
        assert!(decode_sticky_user_data(&Bytes::from_static(&[0, 0, 0, 1, 0])).is_err());
    }
}
