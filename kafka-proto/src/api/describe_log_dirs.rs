//! DescribeLogDirs (key 35): a broker's log directories, with the size and
//! lag of each partition they hold and the volume's total and usable bytes.

use crate::error::ErrorCode;

kafka_struct! {
    /// Describes the receiving broker's log directories.
    pub struct DescribeLogDirsRequest {
        /// The partitions to report, or `None` for all.
        topics: Option<Vec<DescribableLogDirTopic>> = "0+" nullable "0+";
    }
}

kafka_struct! {
    /// One topic's partitions to report.
    pub struct DescribableLogDirTopic {
        /// Topic name.
        topic: String = "0+";
        /// Partition indexes.
        partitions: Vec<i32> = "0+";
    }
}

kafka_struct! {
    /// The broker's log directories.
    pub struct DescribeLogDirsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// A request-wide error (v3+).
        error_code: ErrorCode = "3+";
        /// One per log directory.
        results: Vec<DescribeLogDirsResult> = "0+";
    }
}

kafka_struct! {
    /// One log directory.
    pub struct DescribeLogDirsResult {
        /// NONE, or KAFKA_STORAGE_ERROR for a failed directory.
        error_code: ErrorCode = "0+";
        /// Its absolute path.
        log_dir: String = "0+";
        /// The topics in it.
        topics: Vec<DescribeLogDirsTopic> = "0+";
        /// The volume's size in bytes (v4+; -1 unknown).
        total_bytes: i64 = "4+" default -1;
        /// The volume's usable bytes (v4+; -1 unknown).
        usable_bytes: i64 = "4+" default -1;
        /// Whether the directory is cordoned (v5+).
        is_cordoned: bool = "5+" default false;
    }
}

kafka_struct! {
    /// One topic in a log directory.
    pub struct DescribeLogDirsTopic {
        /// Topic name.
        name: String = "0+";
        /// Its partitions there.
        partitions: Vec<DescribeLogDirsPartition> = "0+";
    }
}

kafka_struct! {
    /// One partition's log.
    pub struct DescribeLogDirsPartition {
        /// Partition index.
        partition_index: i32 = "0+";
        /// Size of its segments in bytes.
        partition_size: i64 = "0+";
        /// How far the log end is behind the high watermark (or, for a
        /// future log, the current replica's log end).
        offset_lag: i64 = "0+";
        /// Whether this is a future log (being moved here).
        is_future_key: bool = "0+";
    }
}

kafka_api!(DescribeLogDirsRequest => DescribeLogDirsResponse, key DESCRIBE_LOG_DIRS, versions 1..=5, flexible Some(2));
