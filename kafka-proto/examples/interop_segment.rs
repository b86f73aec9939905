//! Writes the segment of our own batches that Java's tools read back (see
//! `tests/java_reads_our_batches.rs`): `cargo run -p kafka-proto --example
//! interop_segment -- DIR/00000000000000000000.log`.

#[path = "../tests/support/interop_segment.rs"]
#[allow(dead_code)]
mod interop_segment;

fn main() -> std::io::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "00000000000000000000.log".to_owned());
    let (segment, batches) = interop_segment::build();
    std::fs::write(&path, segment)?;
    println!("{path}: {} batches", batches.len());
    Ok(())
}
