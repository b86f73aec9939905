//! Record batches: in a Produce request or Fetch response, or a bare
//! sequence of them (`--records`, such as a partition's `.log` segment).
//!
//! `kafka_proto`'s [`BatchReader`] frames and checks each batch (CRC
//! included) and decompresses its records; each batch is shown as a summary
//! of its header and then its records.

use bytes::Bytes;
use kafka_proto::record::{Batch, BatchReader, Record};

use super::text::{Block, Payload, millis, plural, quote};
use super::{Sink, malformed, truncated};
use crate::error::CliError;

/// Prints the records field `name`, whose bytes `blob` start at byte `at`
/// of the input. A partial batch at the end is shown as such (a Fetch may
/// end inside one); a malformed batch is an error.
pub(crate) fn render(
    block: &mut Block,
    depth: usize,
    name: &str,
    blob: &Bytes,
    at: usize,
) -> Result<(), CliError> {
    let mut reader = BatchReader::new(blob.clone());
    let mut inner = Block::default();
    let mut count = 0;
    let result = loop {
        let pos = reader.position();
        match reader.next() {
            None => break Ok(()),
            Some(Ok(batch)) => {
                count += 1;
                if let Err(e) = batch_lines(&mut inner, 0, &batch, at + pos) {
                    break Err(e);
                }
            }
            Some(Err(e)) => break Err(malformed("record batch", at + pos, e.kind)),
        }
    };
    block.field(
        depth,
        name,
        format_args!("{} in {} bytes", plural(count, "batch"), blob.len()),
    );
    block.append(depth + 1, inner);
    result?;
    let trailing = reader.trailing_bytes();
    if trailing > 0 {
        block.line(
            depth + 1,
            format_args!(
                "partial batch at byte {}: {trailing} bytes (a fetch may end inside a batch)",
                at + reader.position()
            ),
        );
    }
    Ok(())
}

/// `mq decode kafka --records`: one block per batch.
pub(crate) fn decode_log(input: Bytes, sink: &mut Sink<'_>) -> Result<(), CliError> {
    let total = input.len();
    let mut reader = BatchReader::new(input.clone());
    loop {
        let pos = reader.position();
        match reader.next() {
            None => break,
            Some(Ok(batch)) => {
                let mut block = Block::default();
                let result = batch_lines(&mut block, 0, &batch, pos);
                sink.block(&block)?;
                result?;
            }
            Some(Err(e)) => return Err(malformed("record batch", pos, e.kind)),
        }
    }
    let pos = reader.position();
    if pos < total {
        // Base offset (8 bytes), then the length of what follows (4).
        let need = match input.get(pos + 8..pos + 12) {
            Some(l) => {
                let len = i32::from_be_bytes([l[0], l[1], l[2], l[3]]);
                format!("the batch needs {} bytes", i64::from(len) + 12)
            }
            None => "a batch header needs 12 bytes".to_owned(),
        };
        return Err(truncated(pos, &need, total - pos));
    }
    Ok(())
}

/// A batch's summary line at `depth`, its header fields and its records
/// below. The batch starts at byte `at` of the input.
fn batch_lines(block: &mut Block, depth: usize, batch: &Batch, at: usize) -> Result<(), CliError> {
    let d = depth + 1;
    match batch {
        Batch::V2(b) => {
            block.line(
                depth,
                format_args!(
                    "[{at}] batch: offsets {}..={}, {}, magic 2, {} bytes",
                    b.base_offset(),
                    b.last_offset(),
                    plural(usize::try_from(b.record_count()).unwrap_or(0), "record"),
                    b.size()
                ),
            );
            block.field(d, "compression", b.compression().name());
            block.field(
                d,
                "timestamps",
                format_args!(
                    "{}, first {}, max {}",
                    b.timestamp_type().name(),
                    millis(b.base_timestamp()),
                    millis(b.max_timestamp())
                ),
            );
            if b.producer_id() < 0 {
                block.field(d, "producer", "none (not idempotent)");
            } else {
                block.field(
                    d,
                    "producer",
                    format_args!(
                        "id {}, epoch {}, sequence {}",
                        b.producer_id(),
                        b.producer_epoch(),
                        b.base_sequence()
                    ),
                );
            }
            let flags: Vec<&str> = [
                (b.is_transactional(), "transactional"),
                (b.is_control(), "control"),
                (b.has_delete_horizon(), "delete horizon"),
            ]
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect();
            if !flags.is_empty() {
                block.field(d, "flags", flags.join(", "));
            }
            block.field(d, "partition leader epoch", b.partition_leader_epoch());
            block.field(d, "crc", format_args!("{:#010x} (verified)", b.crc()));
        }
        Batch::Legacy(l) => {
            block.line(
                depth,
                format_args!(
                    "[{at}] legacy message: offset {}, magic {}, {} bytes",
                    l.offset(),
                    l.magic(),
                    l.as_bytes().len()
                ),
            );
            block.field(d, "compression", l.compression().name());
            if l.magic() > 0 {
                block.field(
                    d,
                    "timestamp",
                    format_args!("{}, {}", l.timestamp_type().name(), millis(l.timestamp())),
                );
            }
            block.field(d, "crc", format_args!("{:#010x} (verified)", l.crc()));
        }
    }
    let records = batch
        .records()
        .map_err(|e| malformed("record batch", at, e.kind))?;
    for record in records.iter() {
        let record = record.map_err(|e| malformed("record batch", at, e.kind))?;
        record_lines(block, d, &record, batch.is_control())
            .map_err(|e| malformed("record batch", at, e.kind))?;
    }
    Ok(())
}

/// One record: offset and timestamp, then key, value and headers (or, in
/// a control batch, what the control record says).
fn record_lines(
    block: &mut Block,
    depth: usize,
    r: &Record<'_>,
    control: bool,
) -> Result<(), kafka_proto::DecodeError> {
    block.line(
        depth,
        format_args!(
            "record offset {}: timestamp {}",
            r.offset(),
            millis(r.timestamp())
        ),
    );
    let d = depth + 1;
    if control {
        let key = r.control_key()?;
        let name = key.record_type.name().unwrap_or("unknown");
        block.field(
            d,
            "control",
            format_args!(
                "{name} (type {}, key version {})",
                key.record_type.0, key.version
            ),
        );
        if let Some(marker) = r.end_txn_marker()? {
            block.field(d, "coordinator epoch", marker.coordinator_epoch);
        }
        return Ok(());
    }
    let show = |b: Option<&[u8]>| b.map_or_else(|| "null".to_owned(), |b| Payload(b).to_string());
    block.field(d, "key", show(r.key()));
    block.field(d, "value", show(r.value()));
    let headers = r.headers();
    if headers.len() > 0 {
        block.line(d, "headers:");
        for h in headers {
            block.field(d + 1, &quote(h.key()), show(h.value()));
        }
    }
    Ok(())
}
