//! Request and response messages, one module per API.
//!
//! Every message is a plain struct with public fields and a `Default` that
//! holds the schema's defaults; [`Message::encode`] and [`Message::decode`]
//! handle every supported version. [`Request`] ties a request to its response
//! type. Fields are declared by hand in a small DSL (`kafka_struct!`, in
//! the private `dsl` module) that lists each field's versions, nullability
//! and tag, as in Kafka's schema files; [`Message::schema`] exposes that for
//! the conformance test.
//!
//! Produce request records and Fetch response records stay opaque [`Bytes`]
//! slices of the input; the `record` module decodes them lazily.
//!
//! The consumer protocol's embedded formats (the subscription and
//! assignment that JoinGroup and SyncGroup carry as bytes) are declared in
//! the same DSL, in [`consumer_protocol`]; they implement
//! [`VersionedData`], since they carry their own version.
//!
//! [`Bytes`]: bytes::Bytes

use std::fmt;

use bytes::{Bytes, BytesMut};

#[macro_use]
pub(crate) mod dsl;

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::schema::StructMeta;

/// A Kafka API key (the `int16` that starts every request header).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ApiKey(pub i16);

macro_rules! api_keys {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        impl ApiKey {
            $(
                #[doc = concat!("`", $text, "` (", $code, ").")]
                pub const $name: ApiKey = ApiKey($code);
            )*

            /// The API's name (`"Metadata"`), or `"Unknown"`.
            pub fn name(self) -> &'static str {
                match self.0 {
                    $($code => $text,)*
                    _ => "Unknown",
                }
            }
        }
    };
}

api_keys! {
    PRODUCE = 0, "Produce";
    FETCH = 1, "Fetch";
    LIST_OFFSETS = 2, "ListOffsets";
    METADATA = 3, "Metadata";
    OFFSET_COMMIT = 8, "OffsetCommit";
    OFFSET_FETCH = 9, "OffsetFetch";
    FIND_COORDINATOR = 10, "FindCoordinator";
    JOIN_GROUP = 11, "JoinGroup";
    HEARTBEAT = 12, "Heartbeat";
    LEAVE_GROUP = 13, "LeaveGroup";
    SYNC_GROUP = 14, "SyncGroup";
    DESCRIBE_GROUPS = 15, "DescribeGroups";
    LIST_GROUPS = 16, "ListGroups";
    SASL_HANDSHAKE = 17, "SaslHandshake";
    API_VERSIONS = 18, "ApiVersions";
    CREATE_TOPICS = 19, "CreateTopics";
    DELETE_TOPICS = 20, "DeleteTopics";
    DELETE_RECORDS = 21, "DeleteRecords";
    INIT_PRODUCER_ID = 22, "InitProducerId";
    OFFSET_FOR_LEADER_EPOCH = 23, "OffsetForLeaderEpoch";
    ADD_PARTITIONS_TO_TXN = 24, "AddPartitionsToTxn";
    ADD_OFFSETS_TO_TXN = 25, "AddOffsetsToTxn";
    END_TXN = 26, "EndTxn";
    TXN_OFFSET_COMMIT = 28, "TxnOffsetCommit";
    DESCRIBE_ACLS = 29, "DescribeAcls";
    CREATE_ACLS = 30, "CreateAcls";
    DELETE_ACLS = 31, "DeleteAcls";
    DESCRIBE_CONFIGS = 32, "DescribeConfigs";
    DESCRIBE_LOG_DIRS = 35, "DescribeLogDirs";
    SASL_AUTHENTICATE = 36, "SaslAuthenticate";
    CREATE_PARTITIONS = 37, "CreatePartitions";
    DELETE_GROUPS = 42, "DeleteGroups";
    ELECT_LEADERS = 43, "ElectLeaders";
    INCREMENTAL_ALTER_CONFIGS = 44, "IncrementalAlterConfigs";
    ALTER_PARTITION_REASSIGNMENTS = 45, "AlterPartitionReassignments";
    LIST_PARTITION_REASSIGNMENTS = 46, "ListPartitionReassignments";
    OFFSET_DELETE = 47, "OffsetDelete";
    DESCRIBE_USER_SCRAM_CREDENTIALS = 50, "DescribeUserScramCredentials";
    ALTER_USER_SCRAM_CREDENTIALS = 51, "AlterUserScramCredentials";
    DESCRIBE_PRODUCERS = 61, "DescribeProducers";
    DESCRIBE_TRANSACTIONS = 65, "DescribeTransactions";
    LIST_TRANSACTIONS = 66, "ListTransactions";
    CONSUMER_GROUP_HEARTBEAT = 68, "ConsumerGroupHeartbeat";
    CONSUMER_GROUP_DESCRIBE = 69, "ConsumerGroupDescribe";
    GET_TELEMETRY_SUBSCRIPTIONS = 71, "GetTelemetrySubscriptions";
    PUSH_TELEMETRY = 72, "PushTelemetry";
    SHARE_GROUP_HEARTBEAT = 76, "ShareGroupHeartbeat";
    SHARE_GROUP_DESCRIBE = 77, "ShareGroupDescribe";
    SHARE_FETCH = 78, "ShareFetch";
    SHARE_ACKNOWLEDGE = 79, "ShareAcknowledge";
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// A request or response body of one API.
pub trait Message:
    Sized + Default + Clone + fmt::Debug + PartialEq + Send + Sync + 'static
{
    /// The API this message belongs to.
    const API_KEY: ApiKey;
    /// Lowest version this crate implements (the KIP-896 floor).
    const MIN_VERSION: i16;
    /// Highest version this crate implements (the newest in the schema).
    const MAX_VERSION: i16;
    /// The first flexible version (KIP-482), if any.
    const FLEXIBLE_VERSION: Option<i16>;

    /// Whether `version` uses the flexible encoding.
    fn is_flexible(version: i16) -> bool {
        matches!(Self::FLEXIBLE_VERSION, Some(f) if version >= f)
    }

    /// Appends the body, encoded at `version`, to `buf`.
    fn encode(&self, version: i16, buf: &mut BytesMut) -> Result<(), EncodeError>;

    /// Reads a body encoded at `version` from the front of `buf`, advancing
    /// it. Bytes fields are zero-copy slices of `buf`. Bytes after the body
    /// are left in `buf`.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;

    /// The message's fields as declared, for conformance checks.
    fn schema() -> StructMeta;
}

/// A request: a [`Message`] that the broker answers with `Response`.
pub trait Request: Message {
    /// The response's type.
    type Response: Message;

    /// Whether the broker sends a response (false only for a Produce with
    /// `acks = 0`).
    fn expects_response(&self) -> bool {
        true
    }

    /// The highest version this request's content can be written at. It is
    /// [`MAX_VERSION`](Message::MAX_VERSION) unless a version names things
    /// differently: Produce v13, Fetch v13+ and OffsetCommit/OffsetFetch
    /// v10 name topics by id only, so a request with a topic whose id is
    /// unknown (zero) stops at the version before. A connection sends at
    /// the highest version both sides support, capped by this.
    fn max_usable_version(&self) -> i16 {
        Self::MAX_VERSION
    }

    /// The lowest version this request's content can be written at. It is
    /// [`MIN_VERSION`](Message::MIN_VERSION) unless the request asks for
    /// something older versions cannot say, which they would silently
    /// drop: an unclean ElectLeaders needs v1 (v0 is always preferred),
    /// a ListTransactions duration filter v1 and its transactional-id
    /// pattern v2. A connection refuses to send below it, as Java's client
    /// fails with `UnsupportedVersionException`.
    fn min_usable_version(&self) -> i16 {
        Self::MIN_VERSION
    }
}

/// A versioned data format of Kafka's (a schema of type `data`): a struct
/// written on its own after an `int16` version, and carried as the bytes of
/// another message's field. The consumer protocol's subscription and
/// assignment are such formats, in JoinGroup's and SyncGroup's metadata.
///
/// Such schemas promise that a newer version only appends fields, and
/// Kafka's readers parse a version newer than they know with the fields
/// they know; so does [`VersionedData::decode`]. A version below the
/// schema's lowest is malformed.
pub trait VersionedData:
    Sized + Default + Clone + fmt::Debug + PartialEq + Send + Sync + 'static
{
    /// The schema's name (`"ConsumerProtocolSubscription"`).
    const NAME: &'static str;
    /// Lowest version the schema defines.
    const MIN_VERSION: i16;
    /// Highest version the schema defines (and this crate implements).
    const MAX_VERSION: i16;
    /// The first flexible version (KIP-482), if any.
    const FLEXIBLE_VERSION: Option<i16>;

    /// Whether `version` uses the flexible encoding.
    fn is_flexible(version: i16) -> bool {
        matches!(Self::FLEXIBLE_VERSION, Some(f) if version >= f)
    }

    /// Appends `version` (`int16`) and the value encoded at that version to
    /// `buf`. A version above [`MAX_VERSION`](Self::MAX_VERSION) is written
    /// with the fields this crate knows, so that a value read at a newer
    /// version writes back as it was read.
    fn encode(&self, version: i16, buf: &mut BytesMut) -> Result<(), EncodeError>;

    /// Reads the version and the value encoded at it from the front of
    /// `buf`, advancing it; returns both. Bytes fields are zero-copy slices
    /// of `buf`. Bytes after the value (fields of a newer version) are left
    /// in `buf`.
    fn decode(buf: &mut Bytes) -> Result<(i16, Self), DecodeError>;

    /// The format's fields as declared, for conformance checks.
    fn schema() -> StructMeta;
}

pub(crate) fn check_encode_version(
    api_key: ApiKey,
    version: i16,
    min: i16,
    max: i16,
) -> Result<(), EncodeError> {
    if (min..=max).contains(&version) {
        Ok(())
    } else {
        Err(EncodeError::UnsupportedVersion {
            api_key: api_key.0,
            version,
            min,
            max,
        })
    }
}

pub(crate) fn check_data_encode_version(
    name: &'static str,
    version: i16,
    min: i16,
) -> Result<(), EncodeError> {
    if version >= min {
        Ok(())
    } else {
        Err(EncodeError::UnsupportedDataVersion { name, version, min })
    }
}

/// Reads a data format's version, refusing one below `min`.
pub(crate) fn read_data_version(
    name: &'static str,
    field: &'static str,
    buf: &mut Bytes,
    min: i16,
) -> Result<i16, DecodeError> {
    let start = buf.clone();
    let version = crate::primitives::read_i16(buf).map_err(|e| e.in_field(field).at_offset(0))?;
    if version < min {
        *buf = start;
        return Err(DecodeError::from(DecodeErrorKind::UnsupportedDataVersion {
            name,
            version,
            min,
        })
        .in_field(field)
        .at_offset(0));
    }
    Ok(version)
}

pub(crate) fn check_decode_version(
    api_key: ApiKey,
    version: i16,
    min: i16,
    max: i16,
) -> Result<(), DecodeError> {
    if (min..=max).contains(&version) {
        Ok(())
    } else {
        Err(DecodeErrorKind::UnsupportedVersion {
            api_key: api_key.0,
            version,
            min,
            max,
        }
        .into())
    }
}

/// Implements [`Message`] for a request and its response, and [`Request`].
macro_rules! kafka_api {
    (
        $req:ident => $resp:ident, key $key:ident, versions $min:literal ..= $max:literal,
        flexible $flex:expr $(, expects_response |$r:ident| $expects:expr)?
        $(, max_usable_version |$mr:ident| $max_usable:expr)?
        $(, min_usable_version |$nr:ident| $min_usable:expr)?
    ) => {
        kafka_api!(@message $req, $key, $min, $max, $flex);
        kafka_api!(@message $resp, $key, $min, $max, $flex);
        impl $crate::api::Request for $req {
            type Response = $resp;
            $(
                fn expects_response(&self) -> bool {
                    let $r = self;
                    $expects
                }
            )?
            $(
                fn max_usable_version(&self) -> i16 {
                    let $mr = self;
                    $max_usable
                }
            )?
            $(
                fn min_usable_version(&self) -> i16 {
                    let $nr = self;
                    $min_usable
                }
            )?
        }
    };
    (@message $ty:ident, $key:ident, $min:literal, $max:literal, $flex:expr) => {
        impl $crate::api::Message for $ty {
            const API_KEY: $crate::api::ApiKey = $crate::api::ApiKey::$key;
            const MIN_VERSION: i16 = $min;
            const MAX_VERSION: i16 = $max;
            const FLEXIBLE_VERSION: Option<i16> = $flex;

            fn encode(&self, version: i16, buf: &mut ::bytes::BytesMut) -> Result<(), $crate::error::EncodeError> {
                $crate::api::check_encode_version(Self::API_KEY, version, $min, $max)?;
                let v = $crate::api::dsl::Ver { version, flexible: <Self as $crate::api::Message>::is_flexible(version) };
                $crate::api::dsl::Wire::write(self, buf, v)
            }

            fn decode(buf: &mut ::bytes::Bytes, version: i16) -> Result<Self, $crate::error::DecodeError> {
                $crate::api::check_decode_version(Self::API_KEY, version, $min, $max)?;
                let v = $crate::api::dsl::Ver { version, flexible: <Self as $crate::api::Message>::is_flexible(version) };
                let total = buf.len();
                <Self as $crate::api::dsl::Wire>::read(buf, v)
                    .map_err(|e| e.at_offset(total.saturating_sub(buf.len())))
            }

            fn schema() -> $crate::schema::StructMeta {
                Self::struct_meta()
            }
        }
    };
}

/// Implements [`VersionedData`] for a data format declared with
/// `kafka_struct!`.
macro_rules! kafka_data {
    ($ty:ident, versions $min:literal ..= $max:literal, flexible $flex:expr) => {
        impl $crate::api::VersionedData for $ty {
            const NAME: &'static str = stringify!($ty);
            const MIN_VERSION: i16 = $min;
            const MAX_VERSION: i16 = $max;
            const FLEXIBLE_VERSION: Option<i16> = $flex;

            fn encode(
                &self,
                version: i16,
                buf: &mut ::bytes::BytesMut,
            ) -> Result<(), $crate::error::EncodeError> {
                $crate::api::check_data_encode_version(Self::NAME, version, $min)?;
                ::bytes::BufMut::put_i16(buf, version);
                let v = $crate::api::dsl::Ver {
                    version,
                    flexible: <Self as $crate::api::VersionedData>::is_flexible(version),
                };
                $crate::api::dsl::Wire::write(self, buf, v)
            }

            fn decode(buf: &mut ::bytes::Bytes) -> Result<(i16, Self), $crate::error::DecodeError> {
                let total = buf.len();
                let version = $crate::api::read_data_version(
                    Self::NAME,
                    concat!(stringify!($ty), ".version"),
                    buf,
                    $min,
                )?;
                let v = $crate::api::dsl::Ver {
                    version,
                    flexible: <Self as $crate::api::VersionedData>::is_flexible(version),
                };
                let value = <Self as $crate::api::dsl::Wire>::read(buf, v)
                    .map_err(|e| e.at_offset(total.saturating_sub(buf.len())))?;
                Ok((version, value))
            }

            fn schema() -> $crate::schema::StructMeta {
                Self::struct_meta()
            }
        }
    };
}

pub mod acls;
pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod consumer_protocol;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_groups;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_producers;
pub mod elect_leaders;
pub mod end_txn;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod partition_reassignments;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod share_acknowledge;
pub mod share_fetch;
pub mod share_group_describe;
pub mod share_group_heartbeat;
pub mod sync_group;
pub mod telemetry;
pub mod transactions;
pub mod txn_offset_commit;
pub mod user_scram_credentials;

mod any;
pub use any::*;

pub use acls::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
pub use add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
pub use add_partitions_to_txn::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
pub use api_versions::{ApiVersionsRequest, ApiVersionsResponse};
pub use consumer_group_describe::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};
pub use consumer_group_heartbeat::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
pub use consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, StickyAssignorUserData,
};
pub use create_partitions::{CreatePartitionsRequest, CreatePartitionsResponse};
pub use create_topics::{CreateTopicsRequest, CreateTopicsResponse};
pub use delete_groups::{DeleteGroupsRequest, DeleteGroupsResponse};
pub use delete_records::{DeleteRecordsRequest, DeleteRecordsResponse};
pub use delete_topics::{DeleteTopicsRequest, DeleteTopicsResponse};
pub use describe_configs::{DescribeConfigsRequest, DescribeConfigsResponse};
pub use describe_groups::{DescribeGroupsRequest, DescribeGroupsResponse};
pub use describe_log_dirs::{DescribeLogDirsRequest, DescribeLogDirsResponse};
pub use describe_producers::{DescribeProducersRequest, DescribeProducersResponse};
pub use elect_leaders::{ElectLeadersRequest, ElectLeadersResponse};
pub use end_txn::{EndTxnRequest, EndTxnResponse};
pub use fetch::{FetchRequest, FetchResponse};
pub use find_coordinator::{FindCoordinatorRequest, FindCoordinatorResponse};
pub use heartbeat::{HeartbeatRequest, HeartbeatResponse};
pub use incremental_alter_configs::{
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
pub use init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
pub use join_group::{JoinGroupRequest, JoinGroupResponse};
pub use leave_group::{LeaveGroupRequest, LeaveGroupResponse};
pub use list_groups::{ListGroupsRequest, ListGroupsResponse};
pub use list_offsets::{ListOffsetsRequest, ListOffsetsResponse};
pub use metadata::{MetadataRequest, MetadataResponse};
pub use offset_commit::{OffsetCommitRequest, OffsetCommitResponse};
pub use offset_delete::{OffsetDeleteRequest, OffsetDeleteResponse};
pub use offset_fetch::{OffsetFetchRequest, OffsetFetchResponse};
pub use offset_for_leader_epoch::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
pub use partition_reassignments::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};
pub use produce::{ProduceRequest, ProduceResponse};
pub use sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
pub use sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
pub use share_acknowledge::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};
pub use share_fetch::{ShareFetchRequest, ShareFetchResponse};
pub use share_group_describe::{ShareGroupDescribeRequest, ShareGroupDescribeResponse};
pub use share_group_heartbeat::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
pub use sync_group::{SyncGroupRequest, SyncGroupResponse};
pub use telemetry::{
    GetTelemetrySubscriptionsRequest, GetTelemetrySubscriptionsResponse, PushTelemetryRequest,
    PushTelemetryResponse,
};
pub use transactions::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ListTransactionsRequest,
    ListTransactionsResponse,
};
pub use txn_offset_commit::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
pub use user_scram_credentials::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
