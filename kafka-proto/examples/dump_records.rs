//! Prints every batch and record of a records blob or log segment file.
//!
//! `cargo run -p kafka-proto --example dump_records -- FILE...`

use bytes::Bytes;
use kafka_proto::record::{Batch, BatchReader};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for path in std::env::args().skip(1) {
        println!("{path}");
        let mut reader = BatchReader::new(Bytes::from(std::fs::read(&path)?));
        for batch in reader.by_ref() {
            let batch = batch?;
            match &batch {
                Batch::V2(b) => println!(
                    "  batch offsets {}..={} {} {:?} pid {} epoch {} seq {} txn {} control {} crc {:#010x}",
                    b.base_offset(),
                    b.last_offset(),
                    b.compression(),
                    b.timestamp_type(),
                    b.producer_id(),
                    b.producer_epoch(),
                    b.base_sequence(),
                    b.is_transactional(),
                    b.is_control(),
                    b.crc()
                ),
                Batch::Legacy(b) => println!(
                    "  legacy magic {} offset {} {} {:?}",
                    b.magic(),
                    b.offset(),
                    b.compression(),
                    b.timestamp_type()
                ),
            }
            for record in batch.records()?.iter() {
                let record = record?;
                let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
                let headers: Vec<String> = record
                    .headers()
                    .map(|h| format!("{}={:?}", String::from_utf8_lossy(h.key()), text(h.value())))
                    .collect();
                if batch.is_control() {
                    println!(
                        "    {} control {:?} {:?}",
                        record.offset(),
                        record.control_key()?,
                        record.end_txn_marker()?
                    );
                } else {
                    println!(
                        "    {} ts {} key {:?} value {:?} headers [{}]",
                        record.offset(),
                        record.timestamp(),
                        text(record.key()),
                        text(record.value()),
                        headers.join(", ")
                    );
                }
            }
        }
        if reader.trailing_bytes() > 0 {
            println!(
                "  ({} trailing bytes of a partial batch)",
                reader.trailing_bytes()
            );
        }
    }
    Ok(())
}
