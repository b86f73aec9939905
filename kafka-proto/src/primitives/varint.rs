//! Protobuf-style varints, the crate's one reader of them: unsigned and
//! zigzag-encoded `varint` (at most 5 bytes) and `varlong` (at most 10
//! bytes), for record batches and for the protocol's compact lengths and
//! tagged fields (the public readers in [`super`] wrap these).
//!
//! The readers take a slice and a cursor and have a one-byte fast path,
//! since almost every length and delta in a batch of small records fits in
//! one byte; the `take_*` forms, which the record decoder's fast path uses,
//! read two-byte varints inline too. Like Java's `ByteUtils`, bits beyond
//! the value's width in the last byte are dropped, but a continuation bit
//! there is an error.

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The bytes ended inside the varint.
    Truncated,
    /// The varint has more bytes than its type allows.
    TooLong,
}

/// Reads an unsigned varint of at most 5 bytes.
#[inline(always)]
pub(crate) fn read_uvarint(buf: &[u8], pos: &mut usize) -> Result<u32, VarintError> {
    match buf.get(*pos) {
        Some(&byte) if byte < 0x80 => {
            *pos += 1;
            Ok(u32::from(byte))
        }
        Some(_) => read_uvarint_slow(buf, pos),
        None => Err(VarintError::Truncated),
    }
}

#[inline(never)]
fn read_uvarint_slow(buf: &[u8], pos: &mut usize) -> Result<u32, VarintError> {
    let mut value = 0u32;
    let mut at = *pos;
    for shift in [0u32, 7, 14, 21, 28] {
        let byte = *buf.get(at).ok_or(VarintError::Truncated)?;
        at += 1;
        value |= u32::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            *pos = at;
            return Ok(value);
        }
    }
    Err(VarintError::TooLong)
}

/// Reads a zigzag varint (`int32`).
#[inline(always)]
pub(crate) fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, VarintError> {
    let raw = read_uvarint(buf, pos)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads an unsigned varlong of at most 10 bytes.
#[inline(always)]
pub(crate) fn read_uvarlong(buf: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    match buf.get(*pos) {
        Some(&byte) if byte < 0x80 => {
            *pos += 1;
            Ok(u64::from(byte))
        }
        Some(_) => read_uvarlong_slow(buf, pos),
        None => Err(VarintError::Truncated),
    }
}

/// Reads a zigzag varlong (`int64`) of at most 10 bytes.
#[inline(always)]
pub(crate) fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    let raw = read_uvarlong(buf, pos)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

#[inline(never)]
fn read_uvarlong_slow(buf: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let mut value = 0u64;
    let mut at = *pos;
    let mut shift = 0u32;
    while shift < 70 {
        let byte = *buf.get(at).ok_or(VarintError::Truncated)?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            *pos = at;
            return Ok(value);
        }
        shift += 7;
    }
    Err(VarintError::TooLong)
}

/// Reads an unsigned varint of at most 5 bytes from the front of `cur`,
/// advancing it; `None` if truncated or too long. The decode fast path:
/// one- and two-byte varints (nearly every length and delta of small
/// records) are read inline.
#[inline(always)]
pub(crate) fn take_uvarint(cur: &mut &[u8]) -> Option<u32> {
    let bytes: &[u8] = cur;
    match bytes {
        [b0, rest @ ..] if *b0 < 0x80 => {
            *cur = rest;
            Some(u32::from(*b0))
        }
        [b0, b1, rest @ ..] if *b1 < 0x80 => {
            *cur = rest;
            Some(u32::from(*b0 & 0x7f) | u32::from(*b1) << 7)
        }
        _ => {
            let mut pos = 0;
            let value = read_uvarint_slow(cur, &mut pos).ok()?;
            *cur = cur.get(pos..)?;
            Some(value)
        }
    }
}

/// [`take_uvarint`], zigzag-decoded (`int32`).
#[inline(always)]
pub(crate) fn take_varint(cur: &mut &[u8]) -> Option<i32> {
    let raw = take_uvarint(cur)?;
    Some(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// A zigzag varlong (`int64`) of at most 10 bytes from the front of `cur`.
#[inline(always)]
pub(crate) fn take_varlong(cur: &mut &[u8]) -> Option<i64> {
    let bytes: &[u8] = cur;
    let raw = match bytes {
        [b0, rest @ ..] if *b0 < 0x80 => {
            *cur = rest;
            u64::from(*b0)
        }
        [b0, b1, rest @ ..] if *b1 < 0x80 => {
            *cur = rest;
            u64::from(*b0 & 0x7f) | u64::from(*b1) << 7
        }
        _ => {
            let mut pos = 0;
            let value = read_uvarlong_slow(cur, &mut pos).ok()?;
            *cur = cur.get(pos..)?;
            value
        }
    };
    Some(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Zigzag-encodes an `i32`.
#[inline(always)]
pub(crate) fn zigzag32(value: i32) -> u32 {
    ((value << 1) ^ (value >> 31)) as u32
}

/// Zigzag-encodes an `i64`.
#[inline(always)]
pub(crate) fn zigzag64(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// Bytes a zigzag varint of `value` takes.
#[inline(always)]
pub(crate) fn varint_len(value: i32) -> usize {
    uvarint64_len(u64::from(zigzag32(value)))
}

/// Bytes an unsigned varint (or varlong) of `raw` takes.
#[inline(always)]
pub(crate) fn uvarint64_len(raw: u64) -> usize {
    // 1 byte per started group of 7 significant bits, at least one.
    let bits = 64 - (raw | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends an unsigned varint.
#[inline(always)]
pub(crate) fn put_uvarint64(out: &mut Vec<u8>, mut raw: u64) {
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

/// Appends a zigzag varint.
#[inline(always)]
pub(crate) fn put_varint(out: &mut Vec<u8>, value: i32) {
    let raw = zigzag32(value);
    if raw < 0x80 {
        out.push(raw as u8);
    } else {
        put_uvarint64(out, u64::from(raw));
    }
}

/// Appends a zigzag varlong (tests write records by hand with it).
#[cfg(test)]
pub(crate) fn put_varlong(out: &mut Vec<u8>, value: i64) {
    let raw = zigzag64(value);
    if raw < 0x80 {
        out.push(raw as u8);
    } else {
        put_uvarint64(out, raw);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        // Values from Kafka's ByteUtilsTest.
        let cases: [(i32, &[u8]); 7] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(varint_len(value), bytes.len());
            let mut pos = 0;
            assert_eq!(read_varint(bytes, &mut pos), Ok(value));
            assert_eq!(pos, bytes.len());
        }
        let mut out = Vec::new();
        put_varlong(&mut out, i64::MIN);
        assert_eq!(
            out,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn overlong_and_truncated() {
        let mut pos = 0;
        assert_eq!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01], &mut pos),
            Err(VarintError::TooLong)
        );
        assert_eq!(pos, 0);
        assert_eq!(
            read_varint(&[0x80, 0x80], &mut pos),
            Err(VarintError::Truncated)
        );
        assert_eq!(read_varint(&[], &mut pos), Err(VarintError::Truncated));
        assert_eq!(
            read_varlong(&[0xff; 11], &mut pos),
            Err(VarintError::TooLong)
        );
        assert_eq!(
            read_varlong(&[0xff; 3], &mut pos),
            Err(VarintError::Truncated)
        );
    }

    #[test]
    fn take_matches_read() {
        let cases: [&[u8]; 8] = [
            &[0x00],
            &[0x7f, 0x01],
            &[0x80, 0x01],
            &[0xff, 0x7f, 0x09],
            &[0x80, 0x80, 0x01],
            &[0xff, 0xff, 0xff, 0xff, 0x0f],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
            &[0x80],
        ];
        for bytes in cases {
            let mut pos = 0;
            let read = read_varint(bytes, &mut pos).ok();
            let mut cur = bytes;
            assert_eq!(take_varint(&mut cur), read, "{bytes:?}");
            if read.is_some() {
                assert_eq!(cur.len(), bytes.len() - pos);
            }
            let mut pos = 0;
            let read = read_varlong(bytes, &mut pos).ok();
            let mut cur = bytes;
            assert_eq!(take_varlong(&mut cur), read, "{bytes:?}");
        }
    }

    proptest! {
        #[test]
        fn take_and_read_agree(bytes in proptest::collection::vec(any::<u8>(), 0..12)) {
            let mut pos = 0;
            let read = read_varint(&bytes, &mut pos).ok();
            let mut cur = bytes.as_slice();
            prop_assert_eq!(take_varint(&mut cur), read);
            if read.is_some() {
                prop_assert_eq!(cur.len(), bytes.len() - pos);
            }
            let mut pos = 0;
            let read = read_varlong(&bytes, &mut pos).ok();
            let mut cur = bytes.as_slice();
            prop_assert_eq!(take_varlong(&mut cur), read);
            if read.is_some() {
                prop_assert_eq!(cur.len(), bytes.len() - pos);
            }
        }

        #[test]
        fn varint_round_trip(value: i32) {
            let mut out = vec![0xaa];
            put_varint(&mut out, value);
            prop_assert_eq!(out.len() - 1, varint_len(value));
            let mut pos = 1;
            prop_assert_eq!(read_varint(&out, &mut pos), Ok(value));
            prop_assert_eq!(pos, out.len());
        }

        #[test]
        fn varlong_round_trip(value: i64) {
            let mut out = Vec::new();
            put_varlong(&mut out, value);
            prop_assert_eq!(out.len(), uvarint64_len(zigzag64(value)));
            let mut pos = 0;
            prop_assert_eq!(read_varlong(&out, &mut pos), Ok(value));
            prop_assert_eq!(pos, out.len());
        }
    }
}
