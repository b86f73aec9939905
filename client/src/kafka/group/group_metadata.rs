//! A group member's identity as a transactional producer sends it with
//! consumed offsets (KIP-447).

/// Who consumed the offsets a transaction commits: the group, the
/// generation and the member (Java's `ConsumerGroupMetadata`). The group
/// coordinator refuses the offsets (and the transaction must abort) if the
/// member has left that generation, so a consumer that lost its partitions
/// in a rebalance cannot commit for them.
///
/// Take it from [`Consumer::group_metadata`](crate::kafka::Consumer::group_metadata)
/// right before [`Producer::send_offsets_to_transaction`](crate::kafka::Producer::send_offsets_to_transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    /// The group id.
    pub group_id: String,
    /// The generation the member is in, or -1.
    pub generation_id: i32,
    /// The member id (empty before the first join).
    pub member_id: String,
    /// The static member id (KIP-345), if any.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// Metadata of a group seen from outside any generation: the
    /// coordinator checks no member (generation -1, no member id).
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}
