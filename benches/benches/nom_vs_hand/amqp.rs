//! AMQP field tables: `amqp_proto::table` against a nom parser of the same
//! format (see the bench's top-level documentation).

use std::hint::black_box;

use amqp_proto::table::{FieldArray, MAX_DEPTH};
use amqp_proto::{FieldTable, FieldValue};
use bytes::Bytes;
use criterion::{Criterion, Throughput};

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

pub(crate) fn bench_amqp_table(c: &mut Criterion) {
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
