//! The protocol's primitive types: fixed-width integers, varints, (compact)
//! strings, bytes and arrays, uuids, float64 and tagged fields.
//!
//! Readers take the input as a cursor that they advance; on error nothing is
//! consumed, so the caller can report the offset of the bad value. Bytes
//! fields come back as [`Bytes`] slices of the input (zero copy). Every length
//! read from the wire is checked against the input that is left before
//! anything is allocated for it.
//!
//! "Flexible" versions (KIP-482) use the compact forms: lengths are unsigned
//! varints holding `length + 1`, with 0 meaning null.
//!
//! Varints have one reader, in the crate-private `varint` module, shared
//! with the record-batch decoder (whose hot path it was tuned for: one- and
//! two-byte varints are read inline); the functions here wrap it.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, DecodeErrorKind, EncodeError};

pub(crate) mod varint;

fn need<B: Buf>(buf: &B, n: usize) -> Result<(), DecodeError> {
    if buf.remaining() < n {
        Err(DecodeErrorKind::Truncated {
            needed: n,
            remaining: buf.remaining(),
        }
        .into())
    } else {
        Ok(())
    }
}

macro_rules! fixed_readers {
    ($($(#[$m:meta])* $name:ident -> $ty:ty = $get:ident;)*) => {$(
        $(#[$m])*
        pub fn $name<B: Buf>(buf: &mut B) -> Result<$ty, DecodeError> {
            need(buf, std::mem::size_of::<$ty>())?;
            Ok(buf.$get())
        }
    )*};
}

fixed_readers! {
    /// Reads an `int8`.
    read_i8 -> i8 = get_i8;
    /// Reads a big-endian `int16`.
    read_i16 -> i16 = get_i16;
    /// Reads a big-endian `int32`.
    read_i32 -> i32 = get_i32;
    /// Reads a big-endian `int64`.
    read_i64 -> i64 = get_i64;
    /// Reads a big-endian `uint16`.
    read_u16 -> u16 = get_u16;
    /// Reads a big-endian `uint32`.
    read_u32 -> u32 = get_u32;
    /// Reads a big-endian IEEE 754 `float64`.
    read_f64 -> f64 = get_f64;
}

/// Reads a `bool` (one byte; any non-zero value is true, as Kafka reads it).
pub fn read_bool<B: Buf>(buf: &mut B) -> Result<bool, DecodeError> {
    Ok(read_i8(buf)? != 0)
}

/// Decodes an unsigned varint of at most 5 bytes from the start of `bytes`,
/// returning the value and the number of bytes it took.
///
/// Input that ends inside the varint is [`DecodeErrorKind::Truncated`].
pub fn decode_unsigned_varint(bytes: &[u8]) -> Result<(u32, usize), DecodeError> {
    let mut pos = 0;
    match varint::read_uvarint(bytes, &mut pos) {
        Ok(value) => Ok((value, pos)),
        Err(e) => Err(varint_error(e, bytes.len(), 5)),
    }
}

/// Decodes an unsigned varlong of at most 10 bytes from the start of `bytes`,
/// returning the value and the number of bytes it took.
pub fn decode_unsigned_varlong(bytes: &[u8]) -> Result<(u64, usize), DecodeError> {
    let mut pos = 0;
    match varint::read_uvarlong(bytes, &mut pos) {
        Ok(value) => Ok((value, pos)),
        Err(e) => Err(varint_error(e, bytes.len(), 10)),
    }
}

/// Decodes a zigzag-encoded signed varint (`int32`) from the start of `bytes`.
pub fn decode_varint(bytes: &[u8]) -> Result<(i32, usize), DecodeError> {
    let mut pos = 0;
    match varint::read_varint(bytes, &mut pos) {
        Ok(value) => Ok((value, pos)),
        Err(e) => Err(varint_error(e, bytes.len(), 5)),
    }
}

/// Decodes a zigzag-encoded signed varlong (`int64`) from the start of `bytes`.
pub fn decode_varlong(bytes: &[u8]) -> Result<(i64, usize), DecodeError> {
    let mut pos = 0;
    match varint::read_varlong(bytes, &mut pos) {
        Ok(value) => Ok((value, pos)),
        Err(e) => Err(varint_error(e, bytes.len(), 10)),
    }
}

/// The error of a varint that could not be read from `len` bytes: they
/// ended inside it, or it ran past `max` bytes.
#[cold]
fn varint_error(e: varint::VarintError, len: usize, max: usize) -> DecodeError {
    match e {
        varint::VarintError::Truncated => DecodeErrorKind::Truncated {
            needed: len + 1,
            remaining: len,
        }
        .into(),
        varint::VarintError::TooLong => DecodeErrorKind::VarintTooLong { max }.into(),
    }
}

/// Reads an unsigned varint (`uint32`, at most 5 bytes).
pub fn read_unsigned_varint<B: Buf>(buf: &mut B) -> Result<u32, DecodeError> {
    let (v, n) = decode_unsigned_varint(buf.chunk())?;
    buf.advance(n);
    Ok(v)
}

/// Reads a zigzag signed varint (`int32`).
pub fn read_varint<B: Buf>(buf: &mut B) -> Result<i32, DecodeError> {
    let (v, n) = decode_varint(buf.chunk())?;
    buf.advance(n);
    Ok(v)
}

/// Reads a zigzag signed varlong (`int64`).
pub fn read_varlong<B: Buf>(buf: &mut B) -> Result<i64, DecodeError> {
    let (v, n) = decode_varlong(buf.chunk())?;
    buf.advance(n);
    Ok(v)
}

/// Writes an unsigned varint.
pub fn write_unsigned_varint<B: BufMut>(buf: &mut B, v: u32) {
    write_unsigned_varlong(buf, u64::from(v));
}

/// Writes an unsigned varlong.
pub fn write_unsigned_varlong<B: BufMut>(buf: &mut B, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Writes a zigzag signed varint.
pub fn write_varint<B: BufMut>(buf: &mut B, v: i32) {
    write_unsigned_varint(buf, varint::zigzag32(v));
}

/// Writes a zigzag signed varlong.
pub fn write_varlong<B: BufMut>(buf: &mut B, v: i64) {
    write_unsigned_varlong(buf, varint::zigzag64(v));
}

/// The encoded size of an unsigned varint.
pub fn unsigned_varint_len(v: u32) -> usize {
    varint::uvarint64_len(u64::from(v))
}

/// The encoded size of a zigzag signed varint.
pub fn varint_len(v: i32) -> usize {
    varint::varint_len(v)
}

/// The encoded size of a zigzag signed varlong.
pub fn varlong_len(v: i64) -> usize {
    varint::uvarint64_len(varint::zigzag64(v))
}

/// A 128-bit UUID (Kafka topic ids), kept as its 16 big-endian bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// The all-zero UUID, which Kafka uses for "no topic id".
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// Whether this is [`Uuid::ZERO`].
    pub fn is_zero(&self) -> bool {
        *self == Uuid::ZERO
    }
}

impl std::fmt::Debug for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Reads a `uuid` (16 bytes).
pub fn read_uuid<B: Buf>(buf: &mut B) -> Result<Uuid, DecodeError> {
    need(buf, 16)?;
    let mut out = [0u8; 16];
    buf.copy_to_slice(&mut out);
    Ok(Uuid(out))
}

/// Writes a `uuid`.
pub fn write_uuid<B: BufMut>(buf: &mut B, v: &Uuid) {
    buf.put_slice(&v.0);
}

/// Reads a length prefix: `int16` (`wide == false`) or `int32` (`wide ==
/// true`) in classic versions, or an unsigned varint holding `len + 1` in
/// flexible ones. `None` is null. The length is checked against what is left
/// of `buf` after the prefix; on error nothing is consumed.
fn read_len(buf: &mut Bytes, flexible: bool, wide: bool) -> Result<Option<usize>, DecodeError> {
    let (len, prefix): (i64, usize) = if flexible {
        let (raw, n) = decode_unsigned_varint(buf.chunk())?;
        (i64::from(raw) - 1, n)
    } else if wide {
        need(buf, 4)?;
        (i64::from(buf.chunk().get_i32()), 4)
    } else {
        need(buf, 2)?;
        (i64::from(buf.chunk().get_i16()), 2)
    };
    if len == -1 {
        buf.advance(prefix);
        return Ok(None);
    }
    let len = u64::try_from(len).map_err(|_| DecodeErrorKind::InvalidLength(len))?;
    let remaining = buf.len().saturating_sub(prefix);
    if len > remaining as u64 {
        return Err(DecodeErrorKind::LengthExceedsInput { len, remaining }.into());
    }
    buf.advance(prefix);
    // `len <= remaining`, which is a usize.
    Ok(Some(len as usize))
}

fn non_null<T>(v: Option<T>) -> Result<T, DecodeError> {
    v.ok_or_else(|| DecodeErrorKind::UnexpectedNull.into())
}

/// Reads a nullable string (`NULLABLE_STRING` or `COMPACT_NULLABLE_STRING`).
pub fn read_nullable_string(
    buf: &mut Bytes,
    flexible: bool,
) -> Result<Option<String>, DecodeError> {
    let start = buf.clone();
    match read_len(buf, flexible, false)? {
        None => Ok(None),
        Some(len) => match std::str::from_utf8(buf.get(..len).unwrap_or_default()) {
            Ok(s) if s.len() == len => {
                let s = s.to_owned();
                buf.advance(len);
                Ok(Some(s))
            }
            _ => {
                *buf = start;
                Err(DecodeErrorKind::InvalidUtf8.into())
            }
        },
    }
}

/// Reads a string (`STRING` or `COMPACT_STRING`); null is an error.
pub fn read_string(buf: &mut Bytes, flexible: bool) -> Result<String, DecodeError> {
    let start = buf.clone();
    read_nullable_string(buf, flexible)
        .and_then(non_null)
        .inspect_err(|_| *buf = start)
}

/// Reads nullable bytes (`NULLABLE_BYTES`, `COMPACT_NULLABLE_BYTES`, and the
/// `records` type), as a zero-copy slice of `buf`.
pub fn read_nullable_bytes(buf: &mut Bytes, flexible: bool) -> Result<Option<Bytes>, DecodeError> {
    Ok(read_len(buf, flexible, true)?.map(|len| buf.split_to(len)))
}

/// Reads bytes (`BYTES` or `COMPACT_BYTES`) as a zero-copy slice; null is an
/// error.
pub fn read_bytes(buf: &mut Bytes, flexible: bool) -> Result<Bytes, DecodeError> {
    let start = buf.clone();
    read_nullable_bytes(buf, flexible)
        .and_then(non_null)
        .inspect_err(|_| *buf = start)
}

/// Reads an array's element count (`ARRAY` or `COMPACT_ARRAY`); `None` is a
/// null array. The count is checked against the bytes left (every element
/// takes at least one byte), so a caller may allocate for it.
pub fn read_array_len(buf: &mut Bytes, flexible: bool) -> Result<Option<usize>, DecodeError> {
    read_len(buf, flexible, true)
}

fn too_long(what: &'static str, len: usize) -> EncodeError {
    EncodeError::TooLong { what, len }
}

fn write_len(
    buf: &mut BytesMut,
    len: Option<usize>,
    flexible: bool,
    wide: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    match (len, flexible) {
        (None, true) => write_unsigned_varint(buf, 0),
        (None, false) if wide => buf.put_i32(-1),
        (None, false) => buf.put_i16(-1),
        (Some(n), true) => {
            let v = u32::try_from(n)
                .ok()
                .and_then(|v| v.checked_add(1))
                .ok_or_else(|| too_long(what, n))?;
            write_unsigned_varint(buf, v);
        }
        (Some(n), false) if wide => buf.put_i32(i32::try_from(n).map_err(|_| too_long(what, n))?),
        (Some(n), false) => buf.put_i16(i16::try_from(n).map_err(|_| too_long(what, n))?),
    }
    Ok(())
}

/// Writes a string (`STRING` or `COMPACT_STRING`).
pub fn write_string(buf: &mut BytesMut, s: &str, flexible: bool) -> Result<(), EncodeError> {
    write_len(buf, Some(s.len()), flexible, false, "string")?;
    buf.put_slice(s.as_bytes());
    Ok(())
}

/// Writes a nullable string.
pub fn write_nullable_string(
    buf: &mut BytesMut,
    s: Option<&str>,
    flexible: bool,
) -> Result<(), EncodeError> {
    match s {
        Some(s) => write_string(buf, s, flexible),
        None => write_len(buf, None, flexible, false, "string"),
    }
}

/// Writes bytes (`BYTES` or `COMPACT_BYTES`).
pub fn write_bytes(buf: &mut BytesMut, b: &[u8], flexible: bool) -> Result<(), EncodeError> {
    write_len(buf, Some(b.len()), flexible, true, "bytes")?;
    buf.put_slice(b);
    Ok(())
}

/// Writes nullable bytes (also the `records` type).
pub fn write_nullable_bytes(
    buf: &mut BytesMut,
    b: Option<&[u8]>,
    flexible: bool,
) -> Result<(), EncodeError> {
    match b {
        Some(b) => write_bytes(buf, b, flexible),
        None => write_len(buf, None, flexible, true, "bytes"),
    }
}

/// Writes an array's element count; `None` is a null array.
pub fn write_array_len(
    buf: &mut BytesMut,
    len: Option<usize>,
    flexible: bool,
) -> Result<(), EncodeError> {
    write_len(buf, len, flexible, true, "array")
}

/// A tagged field as it was on the wire: its tag and its raw value bytes (a
/// zero-copy slice of the input). Structs keep the tagged fields they do not
/// know in `unknown_tagged_fields` and write them back out unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawTaggedField {
    /// The field's tag.
    pub tag: u32,
    /// The field's encoded value.
    pub data: Bytes,
}

/// Reads the header of one tagged field, returning its tag and a zero-copy
/// slice holding its value (checked against the input left).
pub fn read_tagged_field(buf: &mut Bytes) -> Result<RawTaggedField, DecodeError> {
    let start = buf.clone();
    let result = (|| {
        let tag = read_unsigned_varint(buf)?;
        let size = read_unsigned_varint(buf)? as usize;
        if size > buf.len() {
            return Err(DecodeErrorKind::LengthExceedsInput {
                len: size as u64,
                remaining: buf.len(),
            }
            .into());
        }
        Ok(RawTaggedField {
            tag,
            data: buf.split_to(size),
        })
    })();
    if result.is_err() {
        *buf = start;
    }
    result
}

/// Reads a whole tagged-field section (count, then each field), keeping
/// every field raw.
pub fn read_tagged_fields(buf: &mut Bytes) -> Result<Vec<RawTaggedField>, DecodeError> {
    let count = read_tagged_count(buf)?;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        out.push(read_tagged_field(buf)?);
    }
    Ok(out)
}

/// Reads the count that starts a tagged-field section, checked against the
/// input left (each field takes at least two bytes).
pub fn read_tagged_count(buf: &mut Bytes) -> Result<usize, DecodeError> {
    let (count, n) = decode_unsigned_varint(buf.chunk())?;
    let remaining = buf.len().saturating_sub(n);
    if count as usize > remaining {
        return Err(DecodeErrorKind::LengthExceedsInput {
            len: u64::from(count),
            remaining,
        }
        .into());
    }
    buf.advance(n);
    Ok(count as usize)
}

/// Writes one tagged field: tag, size, value.
pub fn write_tagged_field(buf: &mut BytesMut, tag: u32, data: &[u8]) -> Result<(), EncodeError> {
    let size = u32::try_from(data.len()).map_err(|_| too_long("tagged field", data.len()))?;
    write_unsigned_varint(buf, tag);
    write_unsigned_varint(buf, size);
    buf.put_slice(data);
    Ok(())
}

/// Writes a tagged-field section holding `fields`, sorted by tag as the
/// protocol requires.
pub fn write_tagged_fields(
    buf: &mut BytesMut,
    fields: &[RawTaggedField],
) -> Result<(), EncodeError> {
    let count = u32::try_from(fields.len()).map_err(|_| too_long("tagged fields", fields.len()))?;
    write_unsigned_varint(buf, count);
    let mut sorted: Vec<&RawTaggedField> = fields.iter().collect();
    sorted.sort_by_key(|f| f.tag);
    for f in sorted {
        write_tagged_field(buf, f.tag, &f.data)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varint_vectors() {
        // Vectors from the protocol guide and Kafka's ByteUtils tests.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (300, &[0xd8, 0x04]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for &(v, enc) in cases {
            let mut b = BytesMut::new();
            write_varint(&mut b, v);
            assert_eq!(&b[..], enc, "{v}");
            assert_eq!(varint_len(v), enc.len());
            assert_eq!(decode_varint(enc).unwrap(), (v, enc.len()));
        }
    }

    #[test]
    fn varint_errors() {
        assert!(matches!(
            decode_unsigned_varint(&[0x80, 0x80]).unwrap_err().kind,
            DecodeErrorKind::Truncated { .. }
        ));
        assert_eq!(
            decode_unsigned_varint(&[0xff; 6]).unwrap_err().kind,
            DecodeErrorKind::VarintTooLong { max: 5 }
        );
        assert_eq!(
            decode_unsigned_varlong(&[0xff; 11]).unwrap_err().kind,
            DecodeErrorKind::VarintTooLong { max: 10 }
        );
    }

    #[test]
    fn lengths_are_checked_before_use() {
        // A string claiming 100 bytes with 3 left: error, nothing consumed.
        let mut b = Bytes::from_static(&[0x00, 0x64, b'a', b'b', b'c']);
        let e = read_string(&mut b, false).unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::LengthExceedsInput {
                len: 100,
                remaining: 3
            }
        );
        assert_eq!(b.len(), 5);
        // An array claiming 2^31-1 elements.
        let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff, 0]);
        assert!(read_array_len(&mut b, false).is_err());
        // Negative lengths other than -1.
        let mut b = Bytes::from_static(&[0xff, 0xfe]);
        assert_eq!(
            read_string(&mut b, false).unwrap_err().kind,
            DecodeErrorKind::InvalidLength(-2)
        );
        // Null where not nullable.
        let mut b = Bytes::from_static(&[0x00]);
        assert_eq!(
            read_string(&mut b, true).unwrap_err().kind,
            DecodeErrorKind::UnexpectedNull
        );
        let mut b = Bytes::from_static(&[0x00]);
        assert_eq!(read_nullable_string(&mut b, true).unwrap(), None);
        // Bad UTF-8.
        let mut b = Bytes::from_static(&[0x02, 0xff]);
        assert_eq!(
            read_string(&mut b, true).unwrap_err().kind,
            DecodeErrorKind::InvalidUtf8
        );
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn bytes_are_zero_copy() {
        let input = Bytes::from(vec![0, 0, 0, 3, 1, 2, 3, 9]);
        let mut cur = input.clone();
        let got = read_bytes(&mut cur, false).unwrap();
        assert_eq!(&got[..], &[1, 2, 3]);
        assert_eq!(got.as_ptr(), input[4..].as_ptr());
        assert_eq!(&cur[..], &[9]);
    }

    #[test]
    fn tagged_fields_round_trip_sorted() {
        let fields = vec![
            RawTaggedField {
                tag: 7,
                data: Bytes::from_static(b"xyz"),
            },
            RawTaggedField {
                tag: 1,
                data: Bytes::new(),
            },
        ];
        let mut b = BytesMut::new();
        write_tagged_fields(&mut b, &fields).unwrap();
        assert_eq!(&b[..], &[2, 1, 0, 7, 3, b'x', b'y', b'z']);
        let back = read_tagged_fields(&mut b.freeze()).unwrap();
        assert_eq!(back, vec![fields[1].clone(), fields[0].clone()]);
    }

    #[test]
    fn uuid_display() {
        let u = Uuid([
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab,
            0xcd, 0xef,
        ]);
        assert_eq!(u.to_string(), "12345678-9abc-def0-0123-456789abcdef");
    }

    proptest! {
        #[test]
        fn varints_round_trip(v in any::<i32>(), l in any::<i64>(), u in any::<u32>()) {
            let mut b = BytesMut::new();
            write_varint(&mut b, v);
            write_varlong(&mut b, l);
            write_unsigned_varint(&mut b, u);
            prop_assert_eq!(b.len(), varint_len(v) + varlong_len(l) + unsigned_varint_len(u));
            let mut r = b.freeze();
            prop_assert_eq!(read_varint(&mut r).unwrap(), v);
            prop_assert_eq!(read_varlong(&mut r).unwrap(), l);
            prop_assert_eq!(read_unsigned_varint(&mut r).unwrap(), u);
            prop_assert!(r.is_empty());
        }

        #[test]
        fn strings_and_bytes_round_trip(
            s in ".{0,40}", o in proptest::option::of(".{0,10}"),
            b in proptest::collection::vec(any::<u8>(), 0..50), flexible in any::<bool>(),
        ) {
            let mut w = BytesMut::new();
            write_string(&mut w, &s, flexible).unwrap();
            write_nullable_string(&mut w, o.as_deref(), flexible).unwrap();
            write_bytes(&mut w, &b, flexible).unwrap();
            write_nullable_bytes(&mut w, None, flexible).unwrap();
            write_array_len(&mut w, Some(0), flexible).unwrap();
            let mut r = w.freeze();
            prop_assert_eq!(read_string(&mut r, flexible).unwrap(), s);
            prop_assert_eq!(read_nullable_string(&mut r, flexible).unwrap(), o);
            prop_assert_eq!(&read_bytes(&mut r, flexible).unwrap()[..], &b[..]);
            prop_assert_eq!(read_nullable_bytes(&mut r, flexible).unwrap(), None);
            prop_assert_eq!(read_array_len(&mut r, flexible).unwrap(), Some(0));
            prop_assert!(r.is_empty());
        }

        #[test]
        fn truncation_is_an_error_not_a_panic(s in ".{1,20}", cut in 0usize..20, flexible in any::<bool>()) {
            let mut w = BytesMut::new();
            write_string(&mut w, &s, flexible).unwrap();
            let cut = cut.min(w.len() - 1);
            let mut r = w.freeze().slice(..cut);
            let before = r.len();
            prop_assert!(read_string(&mut r, flexible).is_err());
            prop_assert_eq!(r.len(), before);
        }
    }
}
