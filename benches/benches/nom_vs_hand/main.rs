//! nom against our hand-written decoders, on the same input in the same run.
//!
//! The design named nom as the parsing library, but the cores were written by
//! hand; this bench is what the decision to keep or drop nom rests on.
//!
//! - `amqp_field_table`: one field table as RabbitMQ sends it in message
//!   headers (11 entries: long strings `S`, ints `I` and `l`, bools `t`, two
//!   nested tables `F`, one holding an array `A` and a timestamp `T`).
//!   `validate` is what [`FieldTable::decode`] does on every delivery: check
//!   every tag, length and the nesting depth without allocating. `read-all`
//!   also reads every entry, nested tables and arrays included.
//! - `kafka_record_fields`: 100 record-v2 bodies (signed varints and
//!   varlongs, a 16 B key, a 100 B value, one header), decoded with
//!   `kafka_proto::primitives` readers into zero-copy `Bytes` fields.
//! - `kafka_flexible_struct`: a compact array of 50 flexible-version structs
//!   (compact string, int32, two int64, compact int32 and int64 arrays,
//!   tagged fields).
//!
//! Both sides are complete parsers with the same checks (lengths against the
//! input left, the nesting limit, UTF-8, null where not allowed). The setup
//! asserts that they give equal results on the input, and on every
//! truncation and every single-byte corruption of it they either both
//! refuse it or both give the same result.
//!
//! `cargo bench -p mq-benches --bench nom_vs_hand`

mod amqp;
mod kafka;

use criterion::{criterion_group, criterion_main};

criterion_group!(benches, amqp::bench_amqp_table, kafka::bench_kafka);
criterion_main!(benches);
