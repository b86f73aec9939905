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

use std::hint::black_box;

use amqp_proto::table::{FieldArray, MAX_DEPTH};
use amqp_proto::{FieldTable, FieldValue};
use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kafka_proto::primitives::{
    read_array_len, read_i8, read_i32, read_i64, read_string, read_tagged_fields, read_varint,
    read_varlong, write_unsigned_varint, write_varint, write_varlong,
};
use kafka_proto::{DecodeError, DecodeErrorKind, RawTaggedField};

// ---------------------------------------------------------------------------
// AMQP field table
// ---------------------------------------------------------------------------

/// The table's contents (without the 4-byte length), as RabbitMQ would send
/// a message's headers after one dead-lettering.
fn amqp_table() -> Bytes {
    let death = FieldTable::builder()
        .insert("count", 1i64)
        .insert("reason", "rejected")
        .insert("queue", "orders")
        .insert("time", FieldValue::Timestamp(1_718_035_200))
        .insert("exchange", "")
        .insert(
            "routing-keys",
            FieldValue::Array(["order.created"].into_iter().collect::<FieldArray>()),
        )
        .build();
    let origin = FieldTable::builder()
        .insert("host", "api-7")
        .insert("pid", 4242i32)
        .insert("tls", true)
        .build();
    let t = FieldTable::builder()
        .insert("x-request-id", "3f2c9a1e-8d4b-4c6f-9e7a-1b2c3d4e5f60")
        .insert("x-retry-count", 3i32)
        .insert("x-published-at", 1_718_035_200_123i64)
        .insert("x-redelivered", false)
        .insert("x-tenant", "acme-eu-west-1")
        .insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .insert("x-death", death)
        .insert("x-schema-version", 2i32)
        .insert("x-compressed", true)
        .insert("x-size", 4096i64)
        .insert("x-origin", origin)
        .build();
    Bytes::copy_from_slice(t.as_bytes())
}

/// A value in a form both decoders can be compared in.
#[derive(Debug, Clone, PartialEq)]
enum Owned {
    Bool(bool),
    I8(i8),
    U8(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    F32(u32),
    F64(u64),
    Decimal(u8, u32),
    Str(Vec<u8>),
    Array(Vec<Owned>),
    Timestamp(u64),
    Table(Vec<(Vec<u8>, Owned)>),
    Void,
    Bytes(Vec<u8>),
}

fn mix(acc: u64, x: u64) -> u64 {
    acc.wrapping_mul(31).wrapping_add(x)
}

mod hand_amqp {
    use super::*;

    pub(super) fn owned_table(t: &FieldTable) -> Vec<(Vec<u8>, Owned)> {
        t.iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), owned(&v)))
            .collect()
    }

    fn owned(v: &FieldValue) -> Owned {
        match v {
            FieldValue::Bool(x) => Owned::Bool(*x),
            FieldValue::I8(x) => Owned::I8(*x),
            FieldValue::U8(x) => Owned::U8(*x),
            FieldValue::I16(x) => Owned::I16(*x),
            FieldValue::U16(x) => Owned::U16(*x),
            FieldValue::I32(x) => Owned::I32(*x),
            FieldValue::U32(x) => Owned::U32(*x),
            FieldValue::I64(x) => Owned::I64(*x),
            FieldValue::F32(x) => Owned::F32(x.to_bits()),
            FieldValue::F64(x) => Owned::F64(x.to_bits()),
            FieldValue::Decimal { scale, value } => Owned::Decimal(*scale, *value),
            FieldValue::LongStr(s) => Owned::Str(s.as_bytes().to_vec()),
            FieldValue::Array(a) => Owned::Array(a.iter().map(|v| owned(&v)).collect()),
            FieldValue::Timestamp(x) => Owned::Timestamp(*x),
            FieldValue::Table(t) => Owned::Table(owned_table(t)),
            FieldValue::Void => Owned::Void,
            FieldValue::Bytes(b) => Owned::Bytes(b.to_vec()),
        }
    }

    /// Reads every entry, nested tables and arrays included.
    pub(super) fn sum_table(t: &FieldTable) -> u64 {
        t.iter().fold(0, |acc, (k, v)| {
            mix(mix(acc, k.len() as u64), sum_value(&v))
        })
    }

    fn sum_value(v: &FieldValue) -> u64 {
        match v {
            FieldValue::Bool(x) => u64::from(*x),
            FieldValue::I8(x) => *x as u64,
            FieldValue::U8(x) => u64::from(*x),
            FieldValue::I16(x) => *x as u64,
            FieldValue::U16(x) => u64::from(*x),
            FieldValue::I32(x) => *x as u64,
            FieldValue::U32(x) => u64::from(*x),
            FieldValue::I64(x) => *x as u64,
            FieldValue::F32(x) => u64::from(x.to_bits()),
            FieldValue::F64(x) => x.to_bits(),
            FieldValue::Decimal { scale, value } => mix(u64::from(*scale), u64::from(*value)),
            FieldValue::LongStr(s) => s.len() as u64,
            FieldValue::Array(a) => a.iter().fold(0, |acc, v| mix(acc, sum_value(&v))),
            FieldValue::Timestamp(x) => *x,
            FieldValue::Table(t) => sum_table(t),
            FieldValue::Void => 0,
            FieldValue::Bytes(b) => b.len() as u64,
        }
    }
}

/// The same table format with nom: the same tags (RabbitMQ's), the same
/// length checks and the same nesting limit as `amqp_proto::table`.
mod nom_amqp {
    use nom::combinator::{all_consuming, map};
    use nom::error::{Error, ErrorKind};
    use nom::multi::{fold_many0, length_data};
    use nom::number::complete::{
        be_f32, be_f64, be_i8, be_i16, be_i32, be_i64, be_u8, be_u16, be_u32, be_u64,
    };
    use nom::{IResult, Parser};

    use super::{Bytes, MAX_DEPTH, Owned, mix};

    type R<'a, T> = IResult<&'a [u8], T>;

    /// A value; strings, arrays and nested tables are validated slices of the
    /// input, read again on demand (as `amqp_proto` keeps them).
    #[derive(Debug, Clone, Copy)]
    pub(super) enum Value<'a> {
        Bool(bool),
        I8(i8),
        U8(u8),
        I16(i16),
        U16(u16),
        I32(i32),
        U32(u32),
        I64(i64),
        F32(f32),
        F64(f64),
        Decimal(u8, u32),
        Str(&'a [u8]),
        Array(&'a [u8]),
        Timestamp(u64),
        Table(&'a [u8]),
        Void,
        Bytes(&'a [u8]),
    }

    fn too_deep(i: &[u8]) -> nom::Err<Error<&[u8]>> {
        nom::Err::Error(Error::new(i, ErrorKind::TooLarge))
    }

    fn value(i: &[u8], depth: usize) -> R<'_, Value<'_>> {
        let (i, tag) = be_u8(i)?;
        match tag {
            b't' => map(be_u8, |v| Value::Bool(v != 0)).parse_complete(i),
            b'b' => map(be_i8, Value::I8).parse_complete(i),
            b'B' => map(be_u8, Value::U8).parse_complete(i),
            b's' => map(be_i16, Value::I16).parse_complete(i),
            b'u' => map(be_u16, Value::U16).parse_complete(i),
            b'I' => map(be_i32, Value::I32).parse_complete(i),
            b'i' => map(be_u32, Value::U32).parse_complete(i),
            b'l' => map(be_i64, Value::I64).parse_complete(i),
            b'f' => map(be_f32, Value::F32).parse_complete(i),
            b'd' => map(be_f64, Value::F64).parse_complete(i),
            b'D' => map((be_u8, be_u32), |(s, v)| Value::Decimal(s, v)).parse_complete(i),
            b'S' => map(length_data(be_u32), Value::Str).parse_complete(i),
            b'x' => map(length_data(be_u32), Value::Bytes).parse_complete(i),
            b'T' => map(be_u64, Value::Timestamp).parse_complete(i),
            b'V' => Ok((i, Value::Void)),
            b'A' => {
                let (rest, body) = length_data(be_u32).parse_complete(i)?;
                array(body, depth + 1, &mut |_| {})?;
                Ok((rest, Value::Array(body)))
            }
            b'F' => {
                let (rest, body) = length_data(be_u32).parse_complete(i)?;
                table(body, depth + 1, &mut |_, _| {})?;
                Ok((rest, Value::Table(body)))
            }
            _ => Err(nom::Err::Error(Error::new(i, ErrorKind::Switch))),
        }
    }

    /// Parses a whole table's contents, handing each entry to `f`.
    pub(super) fn table<'a, F>(i: &'a [u8], depth: usize, f: &mut F) -> R<'a, ()>
    where
        F: FnMut(&'a [u8], Value<'a>),
    {
        if depth > MAX_DEPTH {
            return Err(too_deep(i));
        }
        all_consuming(fold_many0(
            |i: &'a [u8]| {
                let (i, key) = length_data(be_u8).parse_complete(i)?;
                let (i, v) = value(i, depth)?;
                Ok((i, (key, v)))
            },
            || (),
            |(), (k, v)| f(k, v),
        ))
        .parse_complete(i)
    }

    /// Parses a whole array's contents, handing each value to `f`.
    pub(super) fn array<'a, F>(i: &'a [u8], depth: usize, f: &mut F) -> R<'a, ()>
    where
        F: FnMut(Value<'a>),
    {
        if depth > MAX_DEPTH {
            return Err(too_deep(i));
        }
        all_consuming(fold_many0(
            |i: &'a [u8]| value(i, depth),
            || (),
            |(), v| f(v),
        ))
        .parse_complete(i)
    }

    /// What `FieldTable::decode` does: validate, allocate nothing.
    pub(super) fn validate(i: &[u8]) -> bool {
        table(i, 0, &mut |_, _| {}).is_ok()
    }

    /// Validates and reads every entry, nested tables and arrays included.
    /// Keys, strings, byte arrays, arrays and nested tables are handed out
    /// as `Bytes` slices of `src`, as `FieldTable::iter` hands them out.
    pub(super) fn sum(src: &Bytes) -> Option<u64> {
        sum_table(src, src, 0)
    }

    fn sum_table(src: &Bytes, i: &[u8], depth: usize) -> Option<u64> {
        let mut acc = 0;
        let mut ok = true;
        table(i, depth, &mut |k, v| match sum_value(src, v, depth) {
            Some(s) => acc = mix(mix(acc, src.slice_ref(k).len() as u64), s),
            None => ok = false,
        })
        .ok()?;
        ok.then_some(acc)
    }

    fn sum_value(src: &Bytes, v: Value<'_>, depth: usize) -> Option<u64> {
        Some(match v {
            Value::Bool(x) => u64::from(x),
            Value::I8(x) => x as u64,
            Value::U8(x) => u64::from(x),
            Value::I16(x) => x as u64,
            Value::U16(x) => u64::from(x),
            Value::I32(x) => x as u64,
            Value::U32(x) => u64::from(x),
            Value::I64(x) => x as u64,
            Value::F32(x) => u64::from(x.to_bits()),
            Value::F64(x) => x.to_bits(),
            Value::Decimal(s, v) => mix(u64::from(s), u64::from(v)),
            Value::Str(s) | Value::Bytes(s) => src.slice_ref(s).len() as u64,
            Value::Array(a) => {
                let a = src.slice_ref(a);
                let mut acc = 0;
                let mut ok = true;
                array(&a, depth + 1, &mut |v| match sum_value(src, v, depth + 1) {
                    Some(s) => acc = mix(acc, s),
                    None => ok = false,
                })
                .ok()?;
                if !ok {
                    return None;
                }
                acc
            }
            Value::Timestamp(x) => x,
            Value::Table(t) => {
                let t = src.slice_ref(t);
                sum_table(src, &t, depth + 1)?
            }
            Value::Void => 0,
        })
    }

    pub(super) fn owned_table(i: &[u8], depth: usize) -> Option<Vec<(Vec<u8>, Owned)>> {
        let mut out = Vec::new();
        table(i, depth, &mut |k, v| out.push((k, v))).ok()?;
        out.into_iter()
            .map(|(k, v)| Some((k.to_vec(), owned(v, depth)?)))
            .collect()
    }

    fn owned(v: Value<'_>, depth: usize) -> Option<Owned> {
        Some(match v {
            Value::Bool(x) => Owned::Bool(x),
            Value::I8(x) => Owned::I8(x),
            Value::U8(x) => Owned::U8(x),
            Value::I16(x) => Owned::I16(x),
            Value::U16(x) => Owned::U16(x),
            Value::I32(x) => Owned::I32(x),
            Value::U32(x) => Owned::U32(x),
            Value::I64(x) => Owned::I64(x),
            Value::F32(x) => Owned::F32(x.to_bits()),
            Value::F64(x) => Owned::F64(x.to_bits()),
            Value::Decimal(s, v) => Owned::Decimal(s, v),
            Value::Str(s) => Owned::Str(s.to_vec()),
            Value::Bytes(s) => Owned::Bytes(s.to_vec()),
            Value::Array(a) => {
                let mut vs = Vec::new();
                array(a, depth + 1, &mut |v| vs.push(v)).ok()?;
                Owned::Array(
                    vs.into_iter()
                        .map(|v| owned(v, depth + 1))
                        .collect::<Option<_>>()?,
                )
            }
            Value::Timestamp(x) => Owned::Timestamp(x),
            Value::Table(t) => Owned::Table(owned_table(t, depth + 1)?),
            Value::Void => Owned::Void,
        })
    }
}

/// Every truncation and every single-byte corruption of `input`: both
/// decoders refuse it, or both give the same entries.
fn check_amqp_equivalence(input: &Bytes) {
    let agree = |b: &Bytes| {
        let hand = FieldTable::decode(b.clone()).ok();
        let nom = nom_amqp::owned_table(b, 0);
        assert_eq!(hand.is_some(), nom_amqp::validate(b), "validate disagrees");
        match (&hand, &nom) {
            (Some(h), Some(n)) => {
                assert_eq!(&hand_amqp::owned_table(h), n);
                assert_eq!(Some(hand_amqp::sum_table(h)), nom_amqp::sum(b));
            }
            (None, None) => assert_eq!(nom_amqp::sum(b), None),
            _ => panic!("one decoder accepted what the other refused: {b:?}"),
        }
    };
    agree(input);
    for n in 0..input.len() {
        agree(&input.slice(..n));
    }
    for at in 0..input.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut v = input.to_vec();
            v[at] ^= x;
            agree(&Bytes::from(v));
        }
    }
    // Nesting: the limit is the same on both sides.
    for depth in [MAX_DEPTH, MAX_DEPTH + 1] {
        let mut t = FieldTable::builder().insert("k", 1i32).build();
        for _ in 0..depth {
            t = FieldTable::builder().insert("n", t).build();
        }
        let b = Bytes::copy_from_slice(t.as_bytes());
        assert_eq!(nom_amqp::validate(&b), depth <= MAX_DEPTH);
        agree(&b);
    }
}

fn bench_amqp_table(c: &mut Criterion) {
    let raw = amqp_table();
    let hand = FieldTable::decode(raw.clone()).expect("hand decodes");
    let expect = hand_amqp::owned_table(&hand);
    assert_eq!(expect.len(), 11);
    assert_eq!(nom_amqp::owned_table(&raw, 0).as_ref(), Some(&expect));
    check_amqp_equivalence(&raw);

    let mut g = c.benchmark_group("amqp_field_table");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hand/validate", |b| {
        b.iter(|| black_box(FieldTable::decode(black_box(&raw).clone()).is_ok()))
    });
    g.bench_function("nom/validate", |b| {
        b.iter(|| black_box(nom_amqp::validate(black_box(&raw))))
    });
    g.bench_function("hand/read-all", |b| {
        b.iter(|| {
            let t = FieldTable::decode(black_box(&raw).clone()).ok();
            black_box(t.map(|t| hand_amqp::sum_table(&t)))
        })
    });
    g.bench_function("nom/read-all", |b| {
        b.iter(|| black_box(nom_amqp::sum(black_box(&raw))))
    });
    g.finish();
}

// ---------------------------------------------------------------------------
// Kafka primitives
// ---------------------------------------------------------------------------

const RECORDS: usize = 100;
const PARTS: usize = 50;

/// A record-v2 body's fields, keys and values zero-copy.
#[derive(Debug, Clone, PartialEq)]
struct Rec {
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(Bytes, Option<Bytes>)>,
}

/// One flexible-version struct of the shape Kafka's responses are made of.
#[derive(Debug, Clone, PartialEq)]
struct Part {
    topic: String,
    partition: i32,
    high_watermark: i64,
    log_start_offset: i64,
    replicas: Vec<i32>,
    offsets: Vec<i64>,
    tagged: Vec<RawTaggedField>,
}

fn kafka_records() -> Bytes {
    let mut out = BytesMut::new();
    for n in 0..RECORDS {
        let key = format!("order-{n:010}");
        let value = format!(
            "{{\"id\":{n:08},\"status\":\"created\",\"amount\":1999,\"currency\":\"EUR\",\"note\":\"{}\"}}",
            "x".repeat(25)
        );
        assert_eq!((key.len(), value.len()), (16, 100));
        let mut body = BytesMut::new();
        body.put_i8(0);
        write_varlong(&mut body, n as i64 * 1_000 + 7);
        write_varint(&mut body, n as i32);
        write_varint(&mut body, key.len() as i32);
        body.put_slice(key.as_bytes());
        write_varint(&mut body, value.len() as i32);
        body.put_slice(value.as_bytes());
        write_varint(&mut body, 1);
        write_varint(&mut body, 8);
        body.put_slice(b"trace-id");
        write_varint(&mut body, 16);
        body.put_slice(&[0xab; 16]);
        write_varint(&mut out, body.len() as i32);
        out.put_slice(&body);
    }
    out.freeze()
}

fn kafka_parts() -> Bytes {
    let mut out = BytesMut::new();
    write_unsigned_varint(&mut out, PARTS as u32 + 1);
    for n in 0..PARTS {
        let topic = format!("orders.events.v{}", n % 3);
        write_unsigned_varint(&mut out, topic.len() as u32 + 1);
        out.put_slice(topic.as_bytes());
        out.put_i32(n as i32);
        out.put_i64(1_000_000 + n as i64 * 4_321);
        out.put_i64(n as i64 * 17);
        write_unsigned_varint(&mut out, 3 + 1);
        for r in 0..3 {
            out.put_i32((n as i32 + r) % 5);
        }
        write_unsigned_varint(&mut out, 4 + 1);
        for o in 0..4 {
            out.put_i64(1_000_000 + n as i64 * 4_321 - o * 100);
        }
        if n % 10 == 0 {
            // one tagged field now and then
            write_unsigned_varint(&mut out, 1);
            write_unsigned_varint(&mut out, 0);
            write_unsigned_varint(&mut out, 4);
            out.put_i32(-1);
        } else {
            write_unsigned_varint(&mut out, 0);
        }
    }
    out.freeze()
}

mod hand_kafka {
    use super::*;
    use bytes::Buf;

    fn err(kind: DecodeErrorKind) -> DecodeError {
        DecodeError::new(kind)
    }

    /// Nullable bytes with a signed varint length (-1 is null), zero-copy.
    fn var_bytes(buf: &mut Bytes) -> Result<Option<Bytes>, DecodeError> {
        let len = read_varint(buf)?;
        if len == -1 {
            return Ok(None);
        }
        let len =
            usize::try_from(len).map_err(|_| err(DecodeErrorKind::InvalidLength(len.into())))?;
        if len > buf.len() {
            return Err(err(DecodeErrorKind::LengthExceedsInput {
                len: len as u64,
                remaining: buf.len(),
            }));
        }
        Ok(Some(buf.split_to(len)))
    }

    fn record(body: &mut Bytes) -> Result<Rec, DecodeError> {
        let attributes = read_i8(body)?;
        let timestamp_delta = read_varlong(body)?;
        let offset_delta = read_varint(body)?;
        let key = var_bytes(body)?;
        let value = var_bytes(body)?;
        let count = read_varint(body)?;
        let count = usize::try_from(count)
            .ok()
            .filter(|&n| n <= body.len())
            .ok_or_else(|| err(DecodeErrorKind::InvalidLength(count.into())))?;
        let mut headers = Vec::with_capacity(count);
        for _ in 0..count {
            let k = var_bytes(body)?.ok_or_else(|| err(DecodeErrorKind::UnexpectedNull))?;
            headers.push((k, var_bytes(body)?));
        }
        if body.has_remaining() {
            return Err(err(DecodeErrorKind::InvalidLength(body.len() as i64)));
        }
        Ok(Rec {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
        })
    }

    pub(super) fn records(src: &Bytes) -> Result<Vec<Rec>, DecodeError> {
        let mut buf = src.clone();
        let mut out = Vec::new();
        while buf.has_remaining() {
            let mut body =
                var_bytes(&mut buf)?.ok_or_else(|| err(DecodeErrorKind::UnexpectedNull))?;
            out.push(record(&mut body)?);
        }
        Ok(out)
    }

    fn array_len(buf: &mut Bytes) -> Result<usize, DecodeError> {
        read_array_len(buf, true)?.ok_or_else(|| err(DecodeErrorKind::UnexpectedNull))
    }

    fn part(buf: &mut Bytes) -> Result<Part, DecodeError> {
        let topic = read_string(buf, true)?;
        let partition = read_i32(buf)?;
        let high_watermark = read_i64(buf)?;
        let log_start_offset = read_i64(buf)?;
        let n = array_len(buf)?;
        let mut replicas = Vec::with_capacity(n);
        for _ in 0..n {
            replicas.push(read_i32(buf)?);
        }
        let n = array_len(buf)?;
        let mut offsets = Vec::with_capacity(n);
        for _ in 0..n {
            offsets.push(read_i64(buf)?);
        }
        let tagged = read_tagged_fields(buf)?;
        Ok(Part {
            topic,
            partition,
            high_watermark,
            log_start_offset,
            replicas,
            offsets,
            tagged,
        })
    }

    pub(super) fn parts(src: &Bytes) -> Result<Vec<Part>, DecodeError> {
        let mut buf = src.clone();
        let n = array_len(&mut buf)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(part(&mut buf)?);
        }
        if buf.has_remaining() {
            return Err(err(DecodeErrorKind::InvalidLength(buf.len() as i64)));
        }
        Ok(out)
    }
}

/// The same formats with nom. nom has no varint parser, so the varints are
/// written over `be_u8`, the way nom-based Kafka and protobuf parsers do.
/// Parsers run over `&[u8]`; byte fields become `Bytes` with `slice_ref`,
/// zero-copy like the hand-written ones.
mod nom_kafka {
    use nom::bytes::complete::take;
    use nom::combinator::{all_consuming, map_res};
    use nom::error::{Error, ErrorKind};
    use nom::multi::{count, length_data, many0};
    use nom::number::complete::{be_i8, be_i32, be_i64, be_u8};
    use nom::{IResult, Parser};

    use super::{Bytes, Part, RawTaggedField, Rec};

    type R<'a, T> = IResult<&'a [u8], T>;

    fn fail<T>(i: &[u8], kind: ErrorKind) -> R<'_, T> {
        Err(nom::Err::Error(Error::new(i, kind)))
    }

    pub(super) fn uvarint(i: &[u8]) -> R<'_, u32> {
        let mut value = 0u32;
        let mut rest = i;
        for n in 0..5 {
            let (r, b) = be_u8(rest)?;
            rest = r;
            value |= u32::from(b & 0x7f) << (7 * n);
            if b & 0x80 == 0 {
                return Ok((rest, value));
            }
        }
        fail(i, ErrorKind::TooLarge)
    }

    fn uvarlong(i: &[u8]) -> R<'_, u64> {
        let mut value = 0u64;
        let mut rest = i;
        for n in 0..10 {
            let (r, b) = be_u8(rest)?;
            rest = r;
            value |= u64::from(b & 0x7f) << (7 * n);
            if b & 0x80 == 0 {
                return Ok((rest, value));
            }
        }
        fail(i, ErrorKind::TooLarge)
    }

    fn varint(i: &[u8]) -> R<'_, i32> {
        uvarint
            .map(|raw| ((raw >> 1) as i32) ^ -((raw & 1) as i32))
            .parse_complete(i)
    }

    fn varlong(i: &[u8]) -> R<'_, i64> {
        uvarlong
            .map(|raw| ((raw >> 1) as i64) ^ -((raw & 1) as i64))
            .parse_complete(i)
    }

    /// Nullable bytes with a signed varint length (-1 is null).
    fn var_slice(i: &[u8]) -> R<'_, Option<&[u8]>> {
        let (i, len) = varint(i)?;
        if len == -1 {
            return Ok((i, None));
        }
        let Ok(len) = usize::try_from(len) else {
            return fail(i, ErrorKind::LengthValue);
        };
        take(len).map(Some).parse_complete(i)
    }

    /// The same, as a zero-copy `Bytes` slice of `src`.
    fn var_bytes<'a>(src: &Bytes, i: &'a [u8]) -> R<'a, Option<Bytes>> {
        var_slice
            .map(|b| b.map(|b| src.slice_ref(b)))
            .parse_complete(i)
    }

    fn record<'a>(src: &Bytes, i: &'a [u8]) -> R<'a, Rec> {
        let (i, attributes) = be_i8(i)?;
        let (i, timestamp_delta) = varlong(i)?;
        let (i, offset_delta) = varint(i)?;
        let (i, key) = var_bytes(src, i)?;
        let (i, value) = var_bytes(src, i)?;
        let (i, n) = map_res(varint, usize::try_from).parse_complete(i)?;
        let (i, headers) = count(
            |i| {
                let (i, k) = var_bytes(src, i)?;
                let Some(k) = k else {
                    return fail(i, ErrorKind::Verify);
                };
                let (i, v) = var_bytes(src, i)?;
                Ok((i, (k, v)))
            },
            n,
        )
        .parse_complete(i)?;
        Ok((
            i,
            Rec {
                attributes,
                timestamp_delta,
                offset_delta,
                key,
                value,
                headers,
            },
        ))
    }

    pub(super) fn records(src: &Bytes) -> Option<Vec<Rec>> {
        let (_, out) = all_consuming(many0(|i| {
            let (rest, body) = var_slice(i)?;
            let Some(body) = body else {
                return fail(i, ErrorKind::Verify);
            };
            let (_, r) = all_consuming(|b| record(src, b)).parse_complete(body)?;
            Ok((rest, r))
        }))
        .parse_complete(&src[..])
        .ok()?;
        Some(out)
    }

    /// A compact length: unsigned varint holding `len + 1`; 0 (null) refused.
    fn compact_len(i: &[u8]) -> R<'_, usize> {
        let (rest, n) = uvarint(i)?;
        match n.checked_sub(1) {
            Some(n) => Ok((rest, n as usize)),
            None => fail(i, ErrorKind::Verify),
        }
    }

    fn compact_string(i: &[u8]) -> R<'_, String> {
        map_res(length_data(compact_len), |s: &[u8]| {
            std::str::from_utf8(s).map(str::to_owned)
        })
        .parse_complete(i)
    }

    fn tagged_fields<'a>(src: &Bytes, i: &'a [u8]) -> R<'a, Vec<RawTaggedField>> {
        let (i, n) = uvarint(i)?;
        count(
            (uvarint, length_data(uvarint)).map(|(tag, data)| RawTaggedField {
                tag,
                data: src.slice_ref(data),
            }),
            n as usize,
        )
        .parse_complete(i)
    }

    fn part<'a>(src: &Bytes, i: &'a [u8]) -> R<'a, Part> {
        let (i, topic) = compact_string(i)?;
        let (i, partition) = be_i32(i)?;
        let (i, high_watermark) = be_i64(i)?;
        let (i, log_start_offset) = be_i64(i)?;
        let (i, n) = compact_len(i)?;
        let (i, replicas) = count(be_i32, n).parse_complete(i)?;
        let (i, n) = compact_len(i)?;
        let (i, offsets) = count(be_i64, n).parse_complete(i)?;
        let (i, tagged) = tagged_fields(src, i)?;
        Ok((
            i,
            Part {
                topic,
                partition,
                high_watermark,
                log_start_offset,
                replicas,
                offsets,
                tagged,
            },
        ))
    }

    pub(super) fn parts(src: &Bytes) -> Option<Vec<Part>> {
        let (_, out) = all_consuming(|i| {
            let (i, n) = compact_len(i)?;
            count(|i| part(src, i), n).parse_complete(i)
        })
        .parse_complete(&src[..])
        .ok()?;
        Some(out)
    }
}

/// Every truncation and single-byte corruption: both refuse, or both agree.
fn check_kafka_equivalence<T: PartialEq + std::fmt::Debug>(
    input: &Bytes,
    hand: impl Fn(&Bytes) -> Option<T>,
    nom: impl Fn(&Bytes) -> Option<T>,
) {
    let agree = |b: &Bytes| assert_eq!(hand(b), nom(b), "decoders disagree on {b:?}");
    agree(input);
    for n in 0..input.len() {
        agree(&input.slice(..n));
    }
    for at in 0..input.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut v = input.to_vec();
            v[at] ^= x;
            agree(&Bytes::from(v));
        }
    }
}

fn bench_kafka(c: &mut Criterion) {
    let recs = kafka_records();
    let expect = hand_kafka::records(&recs).expect("hand decodes records");
    assert_eq!(expect.len(), RECORDS);
    assert_eq!(nom_kafka::records(&recs).as_ref(), Some(&expect));
    check_kafka_equivalence(&recs, |b| hand_kafka::records(b).ok(), nom_kafka::records);

    let parts = kafka_parts();
    let expect = hand_kafka::parts(&parts).expect("hand decodes parts");
    assert_eq!(expect.len(), PARTS);
    assert_eq!(nom_kafka::parts(&parts).as_ref(), Some(&expect));
    check_kafka_equivalence(&parts, |b| hand_kafka::parts(b).ok(), nom_kafka::parts);

    let mut g = c.benchmark_group("kafka_record_fields");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("hand", |b| {
        b.iter(|| black_box(hand_kafka::records(black_box(&recs)).ok()))
    });
    g.bench_function("nom", |b| {
        b.iter(|| black_box(nom_kafka::records(black_box(&recs))))
    });
    g.finish();

    let mut g = c.benchmark_group("kafka_flexible_struct");
    g.throughput(Throughput::Elements(PARTS as u64));
    g.bench_function("hand", |b| {
        b.iter(|| black_box(hand_kafka::parts(black_box(&parts)).ok()))
    });
    g.bench_function("nom", |b| {
        b.iter(|| black_box(nom_kafka::parts(black_box(&parts))))
    });
    g.finish();
}

criterion_group!(benches, bench_amqp_table, bench_kafka);
criterion_main!(benches);
