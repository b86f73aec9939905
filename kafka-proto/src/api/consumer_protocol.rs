//! The consumer protocol's embedded formats, as Java's `ConsumerProtocol`
//! writes them, so that Java, librdkafka and this crate's users share a
//! group: what a member sends in JoinGroup's protocol metadata
//! ([`ConsumerProtocolSubscription`]) and what the leader hands out in
//! SyncGroup ([`ConsumerProtocolAssignment`]). Also the sticky assignors'
//! user data ([`StickyAssignorUserData`]), as librdkafka writes it.
//!
//! The first two are Kafka's `data` schemas (`ConsumerProtocolSubscription.json`,
//! `ConsumerProtocolAssignment.json`): an `int16` version, then the
//! non-flexible struct at that version ([`VersionedData`]). A reader parses
//! any version from 0 with the fields it knows (newer versions only append
//! fields); a version below 0 is malformed.
//!
//! ```text
//! Subscription => version:int16 topics:[string] user_data:nullable_bytes
//!                 owned_partitions:[topic:string partitions:[int32]]  (v1+)
//!                 generation_id:int32                                  (v2+)
//!                 rack_id:nullable_string                              (v3+)
//! Assignment   => version:int16 assigned_partitions:[topic:string partitions:[int32]]
//!                 user_data:nullable_bytes
//! ```
//!
//! ```
//! use bytes::BytesMut;
//! use kafka_proto::api::VersionedData;
//! use kafka_proto::api::consumer_protocol::{
//!     ConsumerProtocolAssignment, ConsumerProtocolAssignmentTopicPartition,
//! };
//!
//! let assignment = ConsumerProtocolAssignment {
//!     assigned_partitions: vec![ConsumerProtocolAssignmentTopicPartition {
//!         topic: "orders".into(),
//!         partitions: vec![0, 3],
//!         ..Default::default()
//!     }],
//!     ..Default::default()
//! };
//! let mut buf = BytesMut::new();
//! assignment.encode(3, &mut buf).unwrap();
//! let (version, back) = ConsumerProtocolAssignment::decode(&mut buf.freeze()).unwrap();
//! assert_eq!((version, back), (3, assignment));
//! ```
//!
//! [`VersionedData`]: crate::api::VersionedData

use bytes::{Bytes, BytesMut};

use crate::api::dsl::{Ver, Wire};
use crate::error::{DecodeError, EncodeError};

kafka_struct! {
    /// A member's subscription, as sent in JoinGroup's protocol metadata
    /// (one per assignor the member offers).
    #[derive(Eq)]
    pub struct ConsumerProtocolSubscription {
        /// Subscribed topics.
        topics: Vec<String> = "0+";
        /// Assignor-specific data (the sticky assignors' previous
        /// assignment, see [`StickyAssignorUserData`]).
        user_data: Option<Bytes> = "0+" nullable "0+";
        /// Partitions the member owns now, by topic (cooperative
        /// rebalancing).
        owned_partitions: Vec<ConsumerProtocolSubscriptionTopicPartition> = "1+";
        /// The generation in which it owned them, or -1.
        generation_id: i32 = "2+" default -1;
        /// The member's rack, if configured (rack-aware assignment).
        rack_id: Option<String> = "3+" nullable "3+";
    }
}

kafka_struct! {
    /// A topic and the partitions of it that a member owns.
    #[derive(Eq)]
    pub struct ConsumerProtocolSubscriptionTopicPartition as "TopicPartition" {
        /// The topic.
        topic: String = "1+";
        /// Its partitions.
        partitions: Vec<i32> = "1+";
    }
}

kafka_data!(ConsumerProtocolSubscription, versions 0..=3, flexible None);

kafka_struct! {
    /// A member's assignment, as the leader hands it out in SyncGroup.
    #[derive(Eq)]
    pub struct ConsumerProtocolAssignment {
        /// The partitions assigned, by topic.
        assigned_partitions: Vec<ConsumerProtocolAssignmentTopicPartition> = "0+";
        /// Assignor-specific data.
        user_data: Option<Bytes> = "0+" nullable "0+";
    }
}

kafka_struct! {
    /// A topic and the partitions of it assigned to a member (also the
    /// entries of [`StickyAssignorUserData::previous_assignment`]).
    #[derive(Eq)]
    pub struct ConsumerProtocolAssignmentTopicPartition as "TopicPartition" {
        /// The topic.
        topic: String = "0+";
        /// Its partitions.
        partitions: Vec<i32> = "0+";
    }
}

kafka_data!(ConsumerProtocolAssignment, versions 0..=3, flexible None);

kafka_struct! {
    /// The sticky assignors' user data, carried in
    /// [`ConsumerProtocolSubscription::user_data`] as librdkafka writes it
    /// (and Java's eager `StickyAssignor`, version 1 of its user data): the
    /// member's previous assignment and its generation.
    ///
    /// No schema file describes it and it carries no version. Java's
    /// cooperative-sticky assignor writes only the generation (one
    /// `int32`) and uses the subscription's v1/v2 fields;
    /// [`StickyAssignorUserData::decode`] reads both forms.
    #[derive(Eq)]
    pub struct StickyAssignorUserData {
        /// The member's previous assignment, by topic.
        previous_assignment: Vec<ConsumerProtocolAssignmentTopicPartition> = "0+";
        /// Its generation, or -1.
        generation: i32 = "0+" default -1;
    }
}

/// The one layout of [`StickyAssignorUserData`]: non-flexible, unversioned.
const STICKY_USER_DATA: Ver = Ver {
    version: 0,
    flexible: false,
};

impl StickyAssignorUserData {
    /// Appends the user data in librdkafka's form (previous assignment,
    /// then generation).
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        self.write(buf, STICKY_USER_DATA)
    }

    /// Reads user data in either form from the front of `buf`: exactly
    /// four bytes are Java's lone generation, anything else librdkafka's
    /// previous assignment and generation.
    pub fn decode(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let total = buf.len();
        let read = if total == 4 {
            crate::primitives::read_i32(buf)
                .map(|generation| StickyAssignorUserData {
                    generation,
                    ..Default::default()
                })
                .map_err(|e| e.in_field("StickyAssignorUserData.generation"))
        } else {
            Self::read(buf, STICKY_USER_DATA)
        };
        read.map_err(|e| e.at_offset(total.saturating_sub(buf.len())))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::api::VersionedData;
    use crate::api::dsl::testgen::Gen;
    use crate::error::DecodeErrorKind;

    fn unhex(s: &str) -> Bytes {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
            .into()
    }

    fn encoded<T: VersionedData>(value: &T, version: i16) -> Bytes {
        let mut buf = BytesMut::new();
        value.encode(version, &mut buf).unwrap();
        buf.freeze()
    }

    fn decoded<T: VersionedData>(bytes: &Bytes) -> Result<(i16, T), DecodeError> {
        T::decode(&mut bytes.clone())
    }

    fn owned(topic: &str, partitions: &[i32]) -> ConsumerProtocolSubscriptionTopicPartition {
        ConsumerProtocolSubscriptionTopicPartition {
            topic: topic.into(),
            partitions: partitions.to_vec(),
            ..Default::default()
        }
    }

    fn assigned(topic: &str, partitions: &[i32]) -> ConsumerProtocolAssignmentTopicPartition {
        ConsumerProtocolAssignmentTopicPartition {
            topic: topic.into(),
            partitions: partitions.to_vec(),
            ..Default::default()
        }
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
            topics: vec!["orders".into(), "payments".into()],
            user_data: Some(Bytes::from_static(&[0, 0, 0, 7])),
            owned_partitions: vec![owned("orders", &[0, 3]), owned("payments", &[1])],
            generation_id: 7,
            rack_id: Some("rack-a".into()),
            ..Default::default()
        }
    }

    #[test]
    fn subscription_matches_java_bytes() {
        let sub = java_subscription();
        assert_eq!(encoded(&sub, 3), unhex(JAVA_SUB_V3));
        assert_eq!(decoded(&unhex(JAVA_SUB_V3)), Ok((3, sub.clone())));
        // Version 1 has no generation or rack: they read as the defaults.
        let v1 = ConsumerProtocolSubscription {
            generation_id: -1,
            rack_id: None,
            ..sub.clone()
        };
        assert_eq!(encoded(&sub, 1), unhex(JAVA_SUB_V1));
        assert_eq!(decoded(&unhex(JAVA_SUB_V1)), Ok((1, v1)));
        let v0 = ConsumerProtocolSubscription {
            topics: vec!["orders".into()],
            ..Default::default()
        };
        assert_eq!(v0.generation_id, -1);
        assert_eq!(encoded(&v0, 0), unhex(JAVA_SUB_V0));
        assert_eq!(decoded(&unhex(JAVA_SUB_V0)), Ok((0, v0)));
    }

    #[test]
    fn assignment_matches_java_bytes() {
        let a = ConsumerProtocolAssignment {
            assigned_partitions: vec![assigned("orders", &[0, 3]), assigned("payments", &[1])],
            ..Default::default()
        };
        assert_eq!(encoded(&a, 3), unhex(JAVA_ASG_V3));
        assert_eq!(decoded(&unhex(JAVA_ASG_V3)), Ok((3, a)));
        let (version, empty) =
            decoded::<ConsumerProtocolAssignment>(&unhex(JAVA_ASG_V0_EMPTY)).unwrap();
        assert_eq!((version, empty.assigned_partitions.len()), (0, 0));
        assert_eq!(empty, ConsumerProtocolAssignment::default());
    }

    #[test]
    fn newer_versions_are_read_with_known_fields() {
        let mut bytes = unhex(JAVA_SUB_V3).to_vec();
        bytes[1] = 9; // version 9
        bytes.extend_from_slice(&[1, 2, 3, 4]); // a field from the future
        let mut input = Bytes::from(bytes);
        let (version, sub) = ConsumerProtocolSubscription::decode(&mut input).unwrap();
        assert_eq!(version, 9);
        assert_eq!(sub.rack_id.as_deref(), Some("rack-a"));
        // The unknown field is left, not read.
        assert_eq!(&input[..], &[1, 2, 3, 4]);
        // Written back at version 9, it is the input without that field.
        assert_eq!(&encoded(&sub, 9)[2..], &unhex(JAVA_SUB_V3)[2..]);
    }

    #[test]
    fn malformed_input_is_a_located_error() {
        let full = unhex(JAVA_SUB_V3);
        // Every truncation fails with an error, never a panic.
        for cut in 0..full.len() - 1 {
            let err = decoded::<ConsumerProtocolSubscription>(&full.slice(..cut)).unwrap_err();
            assert!(err.field.is_some(), "cut {cut}: {err:?}");
            assert!(err.offset.is_some_and(|o| o <= cut), "cut {cut}: {err:?}");
        }
        // A negative version.
        let err = decoded::<ConsumerProtocolSubscription>(&unhex("ffff00000000")).unwrap_err();
        assert_eq!(err.field, Some("ConsumerProtocolSubscription.version"));
        assert_eq!(
            err.kind,
            DecodeErrorKind::UnsupportedDataVersion {
                name: "ConsumerProtocolSubscription",
                version: -1,
                min: 0
            }
        );
        // A partition count far beyond the input.
        let err = decoded::<ConsumerProtocolAssignment>(&unhex("00000000000100017400ffffff00"))
            .unwrap_err();
        assert_eq!(
            err.field,
            Some("ConsumerProtocolAssignmentTopicPartition.partitions")
        );
        assert!(matches!(
            err.kind,
            DecodeErrorKind::LengthExceedsInput { .. }
        ));
        // A version below 0 is not written either.
        let mut buf = BytesMut::new();
        assert_eq!(
            ConsumerProtocolAssignment::default().encode(-1, &mut buf),
            Err(EncodeError::UnsupportedDataVersion {
                name: "ConsumerProtocolAssignment",
                version: -1,
                min: 0
            })
        );
    }

    #[test]
    fn sticky_user_data_both_forms() {
        let ud = StickyAssignorUserData {
            previous_assignment: vec![assigned("orders", &[1, 2])],
            generation: 12,
            ..Default::default()
        };
        let mut buf = BytesMut::new();
        ud.encode(&mut buf).unwrap();
        assert_eq!(
            &buf[..],
            &unhex("0000000100066f72646572730000000200000001000000020000000c")[..]
        );
        assert_eq!(
            StickyAssignorUserData::decode(&mut buf.freeze()),
            Ok(ud.clone())
        );
        // Java's cooperative-sticky: the generation alone.
        let java = StickyAssignorUserData::decode(&mut Bytes::from_static(&[0, 0, 0, 7])).unwrap();
        assert_eq!((java.previous_assignment.len(), java.generation), (0, 7));
        assert!(StickyAssignorUserData::decode(&mut Bytes::from_static(&[0, 0, 0, 1, 0])).is_err());
    }

    /// Generates a value valid for `version`, and checks that it encodes,
    /// decodes and encodes again to the same value and bytes.
    fn round_trip<T: VersionedData + Wire>(seed: u64, version: i16) -> Result<(), TestCaseError> {
        let mut g = Gen::new(seed);
        let value = T::generate(
            &mut g,
            Ver {
                version,
                flexible: false,
            },
        );
        let bytes = encoded(&value, version);
        let mut cursor = bytes.clone();
        let back = T::decode(&mut cursor);
        prop_assert_eq!(back, Ok((version, value)));
        prop_assert!(cursor.is_empty());
        Ok(())
    }

    proptest! {
        #[test]
        fn subscriptions_round_trip(seed in any::<u64>(), version in 0i16..=4) {
            round_trip::<ConsumerProtocolSubscription>(seed, version)?;
        }

        #[test]
        fn assignments_round_trip(seed in any::<u64>(), version in 0i16..=4) {
            round_trip::<ConsumerProtocolAssignment>(seed, version)?;
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_round_trip(
            data in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            crate::fuzz::consumer_protocol_decoders(&data);
        }
    }
}
