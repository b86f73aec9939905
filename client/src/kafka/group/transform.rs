//! Consume-transform-produce in one transaction (exactly once, KIP-98 and
//! KIP-447): a batch of input records, the records made from them, and the
//! input offsets commit together or not at all.

use bytes::Bytes;
use tracing::{debug, warn};

use super::listener::RebalanceListener;
use super::{Consumer, OffsetAndEpoch, TopicPartition};
use crate::kafka::error::{Error, Result};
use crate::kafka::reader::ConsumerRecord;
use crate::kafka::{Offset, Producer, ProducerRecord};

/// One output record of a transform: an owned key and value for the
/// output topic (the partition follows the key, as in
/// [`Producer::send`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transformed {
    /// The key.
    pub key: Option<Bytes>,
    /// The value (`None`: a tombstone).
    pub value: Option<Bytes>,
}

impl Transformed {
    /// An output record with this key and value.
    pub fn new(key: Option<impl Into<Bytes>>, value: impl Into<Bytes>) -> Self {
        Transformed {
            key: key.map(Into::into),
            value: Some(value.into()),
        }
    }
}

impl<L: RebalanceListener> Consumer<L> {
    /// One step of an exactly-once consume-transform-produce loop: takes
    /// the next fetched batch of one partition, runs `transform` on each
    /// record, and in one transaction of `producer` sends the outputs to
    /// `output_topic` and commits the batch's offsets with this consumer's
    /// [`group_metadata`](Self::group_metadata)
    /// ([`Producer::send_offsets_to_transaction`]). Returns how many input
    /// records were committed.
    ///
    /// `producer` must be transactional and initialized
    /// ([`Producer::init_transactions`]), with no transaction open; the
    /// consumer must not auto-commit, and should read read_committed (the
    /// default) so that it waits for pending transactional offsets.
    ///
    /// If a step fails for any reason but fencing, the transaction is
    /// aborted and the partition rewound to its committed offset (the batch
    /// will be read again), and [`Error::TransactionAbortable`] is returned:
    /// call again. [`Error::Fenced`] means another instance took over the
    /// producer's `transactional_id`: stop.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), mq_client::kafka::Error> {
    /// use mq_client::kafka::{Consumer, Producer, Transformed};
    ///
    /// let producer = Producer::builder("localhost:9092")
    ///     .transactional_id("orders-enricher-0")
    ///     .build()
    ///     .await?;
    /// producer.init_transactions().await?;
    /// let mut consumer = Consumer::builder("localhost:9092")
    ///     .group("orders-enricher")
    ///     .build()
    ///     .await?;
    /// consumer.subscribe(["orders"]).await?;
    /// loop {
    ///     let step = consumer
    ///         .transform_in_transaction(&producer, "orders-enriched", |record| {
    ///             let mut value = record.value().unwrap_or_default().to_vec();
    ///             value.extend_from_slice(b" (enriched)");
    ///             vec![Transformed::new(record.key.clone(), value)]
    ///         })
    ///         .await;
    ///     match step {
    ///         Ok(_) => {}
    ///         Err(e) if e.is_abortable() => continue, // aborted and rewound: retry
    ///         Err(e) => return Err(e),                // fenced, or the consumer closed
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn transform_in_transaction<F>(
        &mut self,
        producer: &Producer,
        output_topic: &str,
        mut transform: F,
    ) -> Result<usize>
    where
        F: FnMut(&ConsumerRecord) -> Vec<Transformed>,
    {
        if self.shared.settings.auto_commit.is_some() {
            return Err(Error::Config(
                "transform_in_transaction needs a consumer without auto-commit".into(),
            ));
        }
        let batch = self.next_batch().await?;
        let tp = TopicPartition::new(batch.topic_arc().clone(), batch.partition());
        let mut inputs = Vec::new();
        for item in batch.iter_with_epochs() {
            let (record, epoch) = item?;
            inputs.push(ConsumerRecord::from_view(
                batch.topic_arc(),
                batch.partition(),
                &record,
                epoch,
            ));
        }
        let next = OffsetAndEpoch::new(batch.next_offset(), batch.last_leader_epoch());
        producer.begin_transaction().await?;
        let result = async {
            let mut deliveries = Vec::new();
            for input in &inputs {
                for out in transform(input) {
                    let mut record = ProducerRecord::new(output_topic);
                    record.key = out.key.as_deref();
                    record.value = out.value.as_deref();
                    deliveries.push(producer.enqueue(record).await?);
                }
            }
            for delivery in deliveries {
                delivery.await?;
            }
            producer
                .send_offsets_to_transaction([(tp.clone(), next)], &self.group_metadata())
                .await?;
            producer.commit_transaction().await
        }
        .await;
        let error = match result {
            Ok(()) => {
                debug!(partition = %tp, records = inputs.len(), next = next.offset, "transformed and committed");
                return Ok(inputs.len());
            }
            Err(e) if e.is_fenced() => return Err(e),
            Err(e) => e,
        };
        warn!(partition = %tp, error = %error, "consume-transform-produce step failed; aborting and rewinding");
        producer.abort_transaction().await?;
        let committed = self
            .committed(std::slice::from_ref(&tp))
            .await?
            .get(&tp)
            .copied()
            .flatten()
            .map_or(batch.start_offset(), |c| c.offset);
        // The partition may have moved to another member meanwhile: then
        // there is nothing to rewind.
        match self
            .seek(&tp.topic, tp.partition, Offset::At(committed))
            .await
        {
            Ok(()) | Err(Error::NotAssigned { .. }) => {}
            Err(e) => return Err(e),
        }
        Err(Error::TransactionAbortable {
            reason: format!(
                "{error}; the transaction was aborted and {tp} rewound to offset {committed}"
            ),
        })
    }
}
