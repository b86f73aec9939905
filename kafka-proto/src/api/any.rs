//! Every implemented API and data format in one place: the tables of
//! supported versions and schemas, and request/response enums decoded by
//! API key (for connection code, fake brokers in tests, and fuzzing).

use bytes::{Bytes, BytesMut};

use super::*;

/// What this crate implements of one API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiSupport {
    /// The API.
    pub api_key: ApiKey,
    /// Lowest implemented version.
    pub min_version: i16,
    /// Highest implemented version.
    pub max_version: i16,
    /// First flexible version, if any.
    pub flexible_version: Option<i16>,
}

macro_rules! all_apis {
    ($($variant:ident: $req:ty => $resp:ty;)*) => {
        /// Every API this crate implements, with its version range, in API
        /// key order.
        pub const SUPPORTED_APIS: &[ApiSupport] = &[$(
            ApiSupport {
                api_key: <$req as Message>::API_KEY,
                min_version: <$req as Message>::MIN_VERSION,
                max_version: <$req as Message>::MAX_VERSION,
                flexible_version: <$req as Message>::FLEXIBLE_VERSION,
            },
        )*];

        /// A request of any implemented API.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum AnyRequest {
            $(
                #[doc = concat!("A `", stringify!($req), "`.")]
                $variant($req),
            )*
        }

        /// A response of any implemented API.
        #[derive(Debug, Clone, PartialEq)]
        #[allow(clippy::large_enum_variant)]
        pub enum AnyResponse {
            $(
                #[doc = concat!("A `", stringify!($resp), "`.")]
                $variant($resp),
            )*
        }

        impl AnyRequest {
            /// Decodes a request body of `api_key` at `version`.
            pub fn decode(api_key: ApiKey, version: i16, buf: &mut Bytes) -> Result<Self, DecodeError> {
                $(
                    if api_key == <$req as Message>::API_KEY {
                        return <$req as Message>::decode(buf, version).map(AnyRequest::$variant);
                    }
                )*
                Err(DecodeErrorKind::UnknownApiKey(api_key.0).into())
            }

            /// Encodes the body at `version`.
            pub fn encode(&self, version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {
                match self {
                    $(AnyRequest::$variant(m) => m.encode(version, buf),)*
                }
            }

            /// The request's API.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(AnyRequest::$variant(_) => <$req as Message>::API_KEY,)*
                }
            }
        }

        impl AnyResponse {
            /// Decodes a response body of `api_key` at `version`.
            pub fn decode(api_key: ApiKey, version: i16, buf: &mut Bytes) -> Result<Self, DecodeError> {
                $(
                    if api_key == <$resp as Message>::API_KEY {
                        return <$resp as Message>::decode(buf, version).map(AnyResponse::$variant);
                    }
                )*
                Err(DecodeErrorKind::UnknownApiKey(api_key.0).into())
            }

            /// Encodes the body at `version`.
            pub fn encode(&self, version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {
                match self {
                    $(AnyResponse::$variant(m) => m.encode(version, buf),)*
                }
            }

            /// The response's API.
            pub fn api_key(&self) -> ApiKey {
                match self {
                    $(AnyResponse::$variant(_) => <$resp as Message>::API_KEY,)*
                }
            }
        }

        /// The declared schema of every implemented request and response, as
        /// `(api support, request schema, response schema)`.
        pub fn all_schemas() -> Vec<(ApiSupport, StructMeta, StructMeta)> {
            vec![$(
                (
                    ApiSupport {
                        api_key: <$req as Message>::API_KEY,
                        min_version: <$req as Message>::MIN_VERSION,
                        max_version: <$req as Message>::MAX_VERSION,
                        flexible_version: <$req as Message>::FLEXIBLE_VERSION,
                    },
                    <$req as Message>::schema(),
                    <$resp as Message>::schema(),
                ),
            )*]
        }

        /// A random response of `api_key`, valid at `version` (tests only).
        #[cfg(test)]
        pub(crate) fn generate_response(
            api_key: ApiKey,
            version: i16,
            g: &mut crate::api::dsl::testgen::Gen,
        ) -> Option<AnyResponse> {
            $(
                if api_key == <$resp as Message>::API_KEY {
                    let v = crate::api::dsl::Ver { version, flexible: <$resp as Message>::is_flexible(version) };
                    return Some(AnyResponse::$variant(<$resp as crate::api::dsl::Wire>::generate(g, v)));
                }
            )*
            None
        }

        #[cfg(test)]
        mod round_trip {
            use super::*;
            use crate::api::dsl::{testgen::Gen, Ver, Wire};
            use proptest::prelude::*;

            /// Generates a value valid for `version`, encodes it, decodes it,
            /// and checks that the value and the bytes come back unchanged.
            fn check<M: Message + Wire>(seed: u64) -> Result<(), TestCaseError> {
                for version in M::MIN_VERSION..=M::MAX_VERSION {
                    let mut g = Gen::new(seed ^ (version as u64).wrapping_mul(0x1234_5678_9abc));
                    let v = Ver { version, flexible: M::is_flexible(version) };
                    let value = M::generate(&mut g, v);
                    let mut buf = BytesMut::new();
                    value.encode(version, &mut buf).map_err(|e| TestCaseError::fail(format!("{e} at v{version}")))?;
                    let bytes = buf.freeze();
                    let mut cursor = bytes.clone();
                    let back = M::decode(&mut cursor, version)
                        .map_err(|e| TestCaseError::fail(format!("{e} at v{version}: {value:?}")))?;
                    prop_assert!(cursor.is_empty(), "{} bytes left at v{}", cursor.len(), version);
                    prop_assert_eq!(&back, &value, "v{}", version);
                    let mut again = BytesMut::new();
                    back.encode(version, &mut again).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(&again[..], &bytes[..], "v{}", version);
                    // Every strict prefix is an error, never a panic.
                    for cut in [0, bytes.len() / 2, bytes.len().saturating_sub(1)] {
                        if cut < bytes.len() {
                            let _ = M::decode(&mut bytes.slice(..cut), version);
                        }
                    }
                }
                Ok(())
            }

            /// The generator reaches deep: nested arrays, tagged structs and
            /// unknown tagged fields all get non-default values.
            #[test]
            fn generated_values_are_not_trivial() {
                use crate::api::fetch::{FetchResponse, FetchResponseLeaderIdAndEpoch};
                let (mut tagged, mut nested, mut unknown, mut null_records) = (0, 0, 0, 0);
                for seed in 0..200 {
                    let mut g = Gen::new(seed);
                    let r = FetchResponse::generate(&mut g, Ver { version: 16, flexible: true });
                    unknown += usize::from(!r.unknown_tagged_fields.is_empty());
                    tagged += usize::from(!r.node_endpoints.is_empty());
                    for p in r.responses.iter().flat_map(|t| &t.partitions) {
                        nested += 1;
                        tagged += usize::from(p.current_leader != FetchResponseLeaderIdAndEpoch::default());
                        null_records += usize::from(p.records.is_none());
                    }
                }
                assert!(tagged > 50 && nested > 100 && unknown > 50 && null_records > 10,
                    "tagged {tagged}, nested {nested}, unknown {unknown}, null {null_records}");
            }

            /// The fields of the newest versions (Kafka 4.3.1) get values
            /// too: Fetch v18's tagged high watermark, Produce v13's topic
            /// ids (with no name written), DescribeGroups v6's message.
            #[test]
            fn newest_versions_generate_their_new_fields() {
                use crate::api::{DescribeGroupsResponse, FetchRequest, ProduceRequest};
                let (mut hw, mut ids, mut messages) = (0, 0, 0);
                for seed in 0..100 {
                    let v = |version| Ver { version, flexible: true };
                    let f = FetchRequest::generate(&mut Gen::new(seed), v(18));
                    hw += f.topics.iter().flat_map(|t| &t.partitions)
                        .filter(|p| p.high_watermark != i64::MAX).count();
                    let p = ProduceRequest::generate(&mut Gen::new(seed), v(13));
                    ids += p.topic_data.iter()
                        .filter(|t| !t.topic_id.is_zero() && t.name.is_empty()).count();
                    let d = DescribeGroupsResponse::generate(&mut Gen::new(seed), v(6));
                    messages += d.groups.iter().filter(|g| g.error_message.is_some()).count();
                }
                assert!(hw > 50 && ids > 50 && messages > 50,
                    "high watermarks {hw}, topic ids {ids}, error messages {messages}");
            }

            $(
                #[allow(non_snake_case)]
                mod $variant {
                    use super::*;
                    proptest! {
                        #![proptest_config(ProptestConfig::with_cases(64))]
                        #[test]
                        fn request(seed in any::<u64>()) {
                            check::<$req>(seed)?;
                        }
                        #[test]
                        fn response(seed in any::<u64>()) {
                            check::<$resp>(seed)?;
                        }
                    }
                }
            )*
        }
    };
}

all_apis! {
    Produce: ProduceRequest => ProduceResponse;
    Fetch: FetchRequest => FetchResponse;
    ListOffsets: ListOffsetsRequest => ListOffsetsResponse;
    Metadata: MetadataRequest => MetadataResponse;
    OffsetCommit: OffsetCommitRequest => OffsetCommitResponse;
    OffsetFetch: OffsetFetchRequest => OffsetFetchResponse;
    FindCoordinator: FindCoordinatorRequest => FindCoordinatorResponse;
    JoinGroup: JoinGroupRequest => JoinGroupResponse;
    Heartbeat: HeartbeatRequest => HeartbeatResponse;
    LeaveGroup: LeaveGroupRequest => LeaveGroupResponse;
    SyncGroup: SyncGroupRequest => SyncGroupResponse;
    DescribeGroups: DescribeGroupsRequest => DescribeGroupsResponse;
    ListGroups: ListGroupsRequest => ListGroupsResponse;
    SaslHandshake: SaslHandshakeRequest => SaslHandshakeResponse;
    ApiVersions: ApiVersionsRequest => ApiVersionsResponse;
    CreateTopics: CreateTopicsRequest => CreateTopicsResponse;
    DeleteTopics: DeleteTopicsRequest => DeleteTopicsResponse;
    DeleteRecords: DeleteRecordsRequest => DeleteRecordsResponse;
    InitProducerId: InitProducerIdRequest => InitProducerIdResponse;
    OffsetForLeaderEpoch: OffsetForLeaderEpochRequest => OffsetForLeaderEpochResponse;
    AddPartitionsToTxn: AddPartitionsToTxnRequest => AddPartitionsToTxnResponse;
    AddOffsetsToTxn: AddOffsetsToTxnRequest => AddOffsetsToTxnResponse;
    EndTxn: EndTxnRequest => EndTxnResponse;
    TxnOffsetCommit: TxnOffsetCommitRequest => TxnOffsetCommitResponse;
    DescribeAcls: DescribeAclsRequest => DescribeAclsResponse;
    CreateAcls: CreateAclsRequest => CreateAclsResponse;
    DeleteAcls: DeleteAclsRequest => DeleteAclsResponse;
    DescribeConfigs: DescribeConfigsRequest => DescribeConfigsResponse;
    DescribeLogDirs: DescribeLogDirsRequest => DescribeLogDirsResponse;
    SaslAuthenticate: SaslAuthenticateRequest => SaslAuthenticateResponse;
    CreatePartitions: CreatePartitionsRequest => CreatePartitionsResponse;
    DeleteGroups: DeleteGroupsRequest => DeleteGroupsResponse;
    ElectLeaders: ElectLeadersRequest => ElectLeadersResponse;
    IncrementalAlterConfigs: IncrementalAlterConfigsRequest => IncrementalAlterConfigsResponse;
    AlterPartitionReassignments: AlterPartitionReassignmentsRequest => AlterPartitionReassignmentsResponse;
    ListPartitionReassignments: ListPartitionReassignmentsRequest => ListPartitionReassignmentsResponse;
    OffsetDelete: OffsetDeleteRequest => OffsetDeleteResponse;
    DescribeUserScramCredentials: DescribeUserScramCredentialsRequest => DescribeUserScramCredentialsResponse;
    AlterUserScramCredentials: AlterUserScramCredentialsRequest => AlterUserScramCredentialsResponse;
    DescribeProducers: DescribeProducersRequest => DescribeProducersResponse;
    DescribeTransactions: DescribeTransactionsRequest => DescribeTransactionsResponse;
    ListTransactions: ListTransactionsRequest => ListTransactionsResponse;
    ConsumerGroupHeartbeat: ConsumerGroupHeartbeatRequest => ConsumerGroupHeartbeatResponse;
    ConsumerGroupDescribe: ConsumerGroupDescribeRequest => ConsumerGroupDescribeResponse;
    GetTelemetrySubscriptions: GetTelemetrySubscriptionsRequest => GetTelemetrySubscriptionsResponse;
    PushTelemetry: PushTelemetryRequest => PushTelemetryResponse;
    ShareGroupHeartbeat: ShareGroupHeartbeatRequest => ShareGroupHeartbeatResponse;
    ShareGroupDescribe: ShareGroupDescribeRequest => ShareGroupDescribeResponse;
    ShareFetch: ShareFetchRequest => ShareFetchResponse;
    ShareAcknowledge: ShareAcknowledgeRequest => ShareAcknowledgeResponse;
}

/// What this crate implements of `api_key`, if anything.
pub fn api_support(api_key: ApiKey) -> Option<ApiSupport> {
    SUPPORTED_APIS
        .iter()
        .find(|s| s.api_key == api_key)
        .copied()
}

/// What this crate implements of one data format (a schema of type
/// `data`, with no API key of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataSupport {
    /// The schema's name (`"ConsumerProtocolSubscription"`).
    pub name: &'static str,
    /// Lowest implemented version.
    pub min_version: i16,
    /// Highest implemented version.
    pub max_version: i16,
    /// First flexible version, if any.
    pub flexible_version: Option<i16>,
}

/// The declared schema of every implemented data format, as
/// `(support, schema)`.
pub fn all_data_schemas() -> Vec<(DataSupport, StructMeta)> {
    fn one<T: VersionedData>() -> (DataSupport, StructMeta) {
        (
            DataSupport {
                name: T::NAME,
                min_version: T::MIN_VERSION,
                max_version: T::MAX_VERSION,
                flexible_version: T::FLEXIBLE_VERSION,
            },
            T::schema(),
        )
    }
    vec![
        one::<ConsumerProtocolSubscription>(),
        one::<ConsumerProtocolAssignment>(),
    ]
}
