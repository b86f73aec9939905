//! ListTransactions (key 66) and DescribeTransactions (key 65): the
//! transactional ids a transaction coordinator holds, and their state.

use crate::error::ErrorCode;

kafka_struct! {
    /// Lists the receiving broker's transactional ids.
    pub struct ListTransactionsRequest {
        /// States to keep (`Ongoing`, `CompleteCommit`, ...); empty for all.
        state_filters: Vec<String> = "0+";
        /// Producer ids to keep; empty for all.
        producer_id_filters: Vec<i64> = "0+";
        /// Keep only transactions running longer than this, in
        /// milliseconds (v1+; negative for all).
        duration_filter: i64 = "1+" default -1;
        /// A regular expression the transactional ids must match (v2+;
        /// `None` or empty for all).
        transactional_id_pattern: Option<String> = "2+" nullable "2+" default None;
    }
}

kafka_struct! {
    /// The transactional ids.
    pub struct ListTransactionsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// NONE, or why not (COORDINATOR_LOAD_IN_PROGRESS, ...).
        error_code: ErrorCode = "0+";
        /// State filters the coordinator does not know.
        unknown_state_filters: Vec<String> = "0+";
        /// One per transactional id.
        transaction_states: Vec<ListedTransactionState> = "0+";
    }
}

kafka_struct! {
    /// One transactional id.
    pub struct ListedTransactionState as "TransactionState" {
        /// Transactional id.
        transactional_id: String = "0+";
        /// Its producer id.
        producer_id: i64 = "0+";
        /// Its state.
        transaction_state: String = "0+";
    }
}

kafka_api!(ListTransactionsRequest => ListTransactionsResponse, key LIST_TRANSACTIONS, versions 0..=2, flexible Some(0),
min_usable_version |r| {
    if r.transactional_id_pattern.as_deref().is_some_and(|p| !p.is_empty()) {
        2
    } else if r.duration_filter >= 0 {
        1
    } else {
        0
    }
});

kafka_struct! {
    /// Describes transactional ids (sent to their coordinator).
    pub struct DescribeTransactionsRequest {
        /// The transactional ids.
        transactional_ids: Vec<String> = "0+";
    }
}

kafka_struct! {
    /// The descriptions.
    pub struct DescribeTransactionsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per transactional id.
        transaction_states: Vec<DescribedTransactionState> = "0+";
    }
}

kafka_struct! {
    /// One transactional id's state.
    pub struct DescribedTransactionState as "TransactionState" {
        /// NONE, or why not (TRANSACTIONAL_ID_NOT_FOUND, NOT_COORDINATOR, ...).
        error_code: ErrorCode = "0+";
        /// Transactional id.
        transactional_id: String = "0+";
        /// Its state (`Empty`, `Ongoing`, `PrepareCommit`, ...).
        transaction_state: String = "0+";
        /// Its transaction timeout, in milliseconds.
        transaction_timeout_ms: i32 = "0+";
        /// When the open transaction started (epoch milliseconds), or -1.
        transaction_start_time_ms: i64 = "0+";
        /// Its producer id.
        producer_id: i64 = "0+";
        /// Its producer epoch.
        producer_epoch: i16 = "0+";
        /// The partitions in the open transaction.
        topics: Vec<DescribeTransactionsTopicData> = "0+";
    }
}

kafka_struct! {
    /// One topic's partitions in a transaction.
    pub struct DescribeTransactionsTopicData as "TopicData" {
        /// Topic name.
        topic: String = "0+";
        /// Partition indexes.
        partitions: Vec<i32> = "0+";
    }
}

kafka_api!(DescribeTransactionsRequest => DescribeTransactionsResponse, key DESCRIBE_TRANSACTIONS, versions 0..=0, flexible Some(0));
