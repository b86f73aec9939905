//! Kafka primitives: `kafka_proto::primitives` against nom parsers of the
//! same formats (see the bench's top-level documentation).

use std::hint::black_box;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use kafka_proto::primitives::{
    read_array_len, read_i8, read_i32, read_i64, read_string, read_tagged_fields, read_varint,
    read_varlong, write_unsigned_varint, write_varint, write_varlong,
};
use kafka_proto::{DecodeError, DecodeErrorKind, RawTaggedField};

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

pub(crate) fn bench_kafka(c: &mut Criterion) {
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
