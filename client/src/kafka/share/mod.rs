//! Share groups (KIP-932, "queues for Kafka"): the [`ShareConsumer`],
//! whose group's members share partitions record by record and
//! acknowledge each record.
//!
//! - [`membership`]: ShareGroupHeartbeat, the member id, epoch and
//!   assignment.
//! - [`session`]: share sessions with partition leaders: epochs, and the
//!   ShareFetch and ShareAcknowledge requests.
//! - [`acks`]: records in flight, acknowledgements batched into ranges,
//!   acquired ranges.
//! - [`records`]: a ShareFetch answer's acquired records.
//! - [`fetch`]: the fetcher task.
//! - [`record`]: the [`ShareRecord`] handed out.
//! - [`consumer`] and [`config`]: the public consumer and its builder.
//! - [`describe`], for the admin client: ShareGroupDescribe.

pub(crate) mod acks;
pub(crate) mod config;
pub(crate) mod consumer;
pub(crate) mod describe;
pub(crate) mod fetch;
pub(crate) mod membership;
pub(crate) mod record;
pub(crate) mod records;
pub(crate) mod session;

pub use acks::AcknowledgeType;
pub use config::{AcknowledgementMode, AcquireMode, ShareConsumerBuilder};
pub use consumer::ShareConsumer;
pub use describe::{ShareGroupDescription, ShareMemberDescription};
pub use record::ShareRecord;
