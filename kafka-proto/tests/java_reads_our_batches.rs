//! Batches we encode are read by Java: a segment file of our batches (every
//! codec, see `support/interop_segment.rs`) goes through Kafka's own
//! `DumpLogSegments --deep-iteration --print-data-log` (Java's CRC check and
//! decompressors) and through `scripts/lib/KafkaRecordGoldens.java dump`
//! (Java's record classes, printing header values too), and every line they
//! print is compared with what we wrote.
//!
//! Needs `java` and the Kafka jars that `scripts/brokers up` fetches. They
//! are looked up in `$KAFKA_LIBS`, `$BROKERS_STATE/kafka-dist/<v>/lib`, then
//! `.brokers/kafka-dist/<v>/lib` of this checkout and of the repository's
//! main worktree (`<v>` is `$KAFKA_VERSION`, default 4.3.1).

mod support {
    pub(crate) mod interop_segment;
}

use std::path::{Path, PathBuf};
use std::process::Command;

use support::interop_segment::{self, Written, WrittenBatch};

fn kafka_libs() -> PathBuf {
    let version = std::env::var("KAFKA_VERSION").unwrap_or_else(|_| "4.3.1".to_owned());
    let lib = |state: PathBuf| state.join("kafka-dist").join(&version).join("lib");
    let mut candidates = Vec::new();
    if let Ok(dir) = std::env::var("KAFKA_LIBS") {
        candidates.push(PathBuf::from(dir));
    }
    if let Ok(state) = std::env::var("BROKERS_STATE") {
        candidates.push(lib(PathBuf::from(state)));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    candidates.push(lib(root.join(".brokers")));
    // In a git worktree, the brokers live in the main checkout.
    if let Ok(out) = Command::new("git")
        .args(["rev-parse", "--path-format=absolute", "--git-common-dir"])
        .current_dir(&root)
        .output()
    {
        let common = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if let Some(main) = common.parent() {
            candidates.push(lib(main.join(".brokers")));
        }
    }
    candidates
        .iter()
        .find(|dir| dir.join(format!("kafka-clients-{version}.jar")).is_file())
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "Kafka {version} jars not found in {candidates:?}: run scripts/brokers up, \
                 or set KAFKA_LIBS to the directory holding kafka-clients-{version}.jar"
            )
        })
}

/// Runs a Java main class (or single-file program) with the Kafka jars.
fn java(args: &[&str]) -> String {
    let classpath = format!("{}/*", kafka_libs().display());
    let out = Command::new("java")
        .arg("-cp")
        .arg(&classpath)
        .args(args)
        .output()
        .expect("java must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "java {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Writes the segment into a fresh directory and returns its path.
fn write_segment(tag: &str) -> (PathBuf, Vec<WrittenBatch>) {
    let dir = std::env::temp_dir().join(format!("kafka-proto-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("00000000000000000000.log");
    let (segment, batches) = interop_segment::build();
    std::fs::write(&path, segment).unwrap();
    (path, batches)
}

fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

fn hex(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".to_owned(),
        Some(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

fn record_timestamp(batch: &WrittenBatch, record: &Written) -> i64 {
    batch.options.log_append_time.unwrap_or(record.timestamp)
}

/// The lines `DumpLogSegments --deep-iteration --print-data-log` prints for
/// one record of ours.
fn dump_log_segments_line(batch: &WrittenBatch, index: usize, record: &Written) -> String {
    let time = if batch.options.log_append_time.is_some() {
        "LogAppendTime"
    } else {
        "CreateTime"
    };
    let sequence = if batch.options.base_sequence < 0 {
        -1
    } else {
        batch.options.base_sequence + index as i32
    };
    let size = |b: &Option<Vec<u8>>| b.as_ref().map_or(-1, |b| b.len() as i64);
    let keys: Vec<&str> = record.headers.iter().map(|(k, _)| k.as_str()).collect();
    let mut line = format!(
        "| offset: {} {time}: {} keySize: {} valueSize: {} sequence: {sequence} headerKeys: [{}]",
        record.offset,
        record_timestamp(batch, record),
        size(&record.key),
        size(&record.value),
        keys.join(","),
    );
    if let Some(key) = &record.key {
        line += &format!(" key: {}", text(key));
    }
    if let Some(value) = &record.value {
        line += &format!(" payload: {}", text(value));
    }
    line
}

#[test]
fn dump_log_segments_reads_every_batch_and_record_we_write() {
    let (path, batches) = write_segment("dump-log-segments");
    let output = java(&[
        "org.apache.kafka.tools.DumpLogSegments",
        "--deep-iteration",
        "--print-data-log",
        "--files",
        path.to_str().unwrap(),
    ]);
    let batch_lines: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("baseOffset:"))
        .collect();
    let record_lines: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("| offset:"))
        .collect();
    assert_eq!(batch_lines.len(), batches.len(), "{output}");

    let mut records = record_lines.iter();
    for (batch, line) in batches.iter().zip(&batch_lines) {
        let o = &batch.options;
        let count = batch.records.len().max(1);
        let last = o.base_offset + count as i64 - 1;
        let last_sequence = if o.base_sequence < 0 {
            -1
        } else {
            o.base_sequence + count as i32 - 1
        };
        let expected_start = format!(
            "baseOffset: {} lastOffset: {last} count: {count} baseSequence: {} lastSequence: {last_sequence} \
             producerId: {} producerEpoch: {} partitionLeaderEpoch: -1 isTransactional: {} isControl: {} ",
            o.base_offset,
            o.base_sequence,
            o.producer_id,
            o.producer_epoch,
            o.transactional,
            o.control,
        );
        assert!(
            line.starts_with(&expected_start),
            "\n{line}\n{expected_start}"
        );
        assert!(
            line.contains(&format!(" magic: 2 compresscodec: {} crc: ", o.compression)),
            "{line}"
        );
        assert!(line.ends_with(" isvalid: true"), "{line}");

        match batch.marker {
            Some((commit, epoch)) => {
                let marker = if commit { "COMMIT" } else { "ABORT" };
                let expected = format!(
                    "| offset: {} CreateTime: 1700000000999 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] \
                     endTxnMarker: {marker} coordinatorEpoch: {epoch}",
                    batch.marker_offset
                );
                assert_eq!(*records.next().unwrap(), expected);
            }
            None => {
                for (index, record) in batch.records.iter().enumerate() {
                    assert_eq!(
                        *records.next().unwrap(),
                        dump_log_segments_line(batch, index, record)
                    );
                }
            }
        }
    }
    assert!(records.next().is_none());
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn java_record_classes_read_header_values_too() {
    let (path, batches) = write_segment("java-records");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/lib/KafkaRecordGoldens.java");
    let output = java(&[script.to_str().unwrap(), "dump", path.to_str().unwrap()]);

    let mut expected = Vec::new();
    for batch in &batches {
        let o = &batch.options;
        let last = o.base_offset + batch.records.len().max(1) as i64 - 1;
        expected.push(format!(
            "batch {} {last} {} control={} valid",
            o.base_offset, o.compression, o.control
        ));
        if let Some((commit, epoch)) = batch.marker {
            let key = [0, 0, 0, u8::from(commit)];
            let mut value = vec![0, 0];
            value.extend_from_slice(&epoch.to_be_bytes());
            expected.push(format!(
                "record {} 1700000000999 {} {} -",
                batch.marker_offset,
                hex(Some(&key)),
                hex(Some(&value))
            ));
        }
        for record in &batch.records {
            let headers: Vec<String> = record
                .headers
                .iter()
                .map(|(k, v)| format!("{k}={}", hex(v.as_deref())))
                .collect();
            expected.push(format!(
                "record {} {} {} {} {}",
                record.offset,
                record_timestamp(batch, record),
                hex(record.key.as_deref()),
                hex(record.value.as_deref()),
                if headers.is_empty() {
                    "-".to_owned()
                } else {
                    headers.join(";")
                },
            ));
        }
    }
    let got: Vec<&str> = output
        .lines()
        .filter(|l| l.starts_with("batch ") || l.starts_with("record "))
        .collect();
    assert_eq!(got.len(), expected.len());
    for (got, expected) in got.iter().zip(&expected) {
        assert_eq!(got, expected);
    }
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
