//! Records of a batch, read lazily as zero-copy views.
//!
//! ```text
//! length: varint
//! attributes: int8
//! timestampDelta: varlong
//! offsetDelta: varint
//! keyLength: varint
//! key: byte[]
//! valueLength: varint
//! value: byte[]
//! headersCount: varint
//! Headers => [Header]
//!
//! headerKeyLength: varint
//! headerKey: String
//! headerValueLength: varint
//! Value: byte[]
//! ```
//!
//! As in Java's `DefaultRecord.readFrom`: a negative key or value length
//! means null, a negative header key length or header count is an error, and
//! the fields must fill the record's length exactly. Each record is fully
//! checked (headers included) before it is yielded, so a yielded [`Record`]
//! never fails later.

use std::fmt;

use bytes::Bytes;

use super::control::{ControlRecordKey, EndTxnMarker};
use super::headers::{Headers, parse_header, take_header};
use super::legacy::{LegacyIter, LegacyWrapper};
use crate::error::{DecodeError, DecodeErrorKind, RecordProblem};
use crate::primitives::varint::{
    VarintError, read_varint, read_varlong, take_varint, take_varlong,
};

/// The records of one batch, decompressed, ready to iterate.
///
/// Holds the (decompressed) records section as `Bytes`; the views that
/// [`Records::iter`] yields borrow it.
#[derive(Clone)]
pub struct Records {
    data: Bytes,
    format: Format,
}

#[derive(Clone, Copy, Debug)]
enum Format {
    V2 {
        base_offset: i64,
        base_timestamp: i64,
        log_append_time: Option<i64>,
        count: u32,
    },
    Legacy(LegacyWrapper),
}

impl Records {
    pub(crate) fn v2(
        data: Bytes,
        base_offset: i64,
        base_timestamp: i64,
        log_append_time: Option<i64>,
        count: i32,
    ) -> Records {
        Records {
            data,
            format: Format::V2 {
                base_offset,
                base_timestamp,
                log_append_time,
                count: u32::try_from(count).unwrap_or(0),
            },
        }
    }

    pub(crate) fn legacy(data: Bytes, wrapper: LegacyWrapper) -> Records {
        Records {
            data,
            format: Format::Legacy(wrapper),
        }
    }

    /// A lazy iterator over the records.
    pub fn iter(&self) -> RecordIter<'_> {
        let inner = match self.format {
            Format::V2 {
                base_offset,
                base_timestamp,
                log_append_time,
                count,
            } => Inner::V2(V2Iter {
                source: &self.data,
                data: &self.data,
                rest: &self.data,
                index: 0,
                remaining: count,
                base_offset,
                base_timestamp,
                log_append_time,
            }),
            Format::Legacy(wrapper) => Inner::Legacy(LegacyIter::new(&self.data, wrapper)),
        };
        RecordIter { inner }
    }

    /// The records section, decompressed (for legacy batches, the message
    /// set that holds the records).
    pub fn as_bytes(&self) -> &Bytes {
        &self.data
    }
}

impl fmt::Debug for Records {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("bytes", &self.data.len())
            .field("format", &self.format)
            .finish()
    }
}

impl<'a> IntoIterator for &'a Records {
    type Item = Result<Record<'a>, DecodeError>;
    type IntoIter = RecordIter<'a>;

    fn into_iter(self) -> RecordIter<'a> {
        self.iter()
    }
}

/// Iterator over the records of a batch, yielding [`Record`] views.
///
/// After an error it yields nothing more.
pub struct RecordIter<'a> {
    inner: Inner<'a>,
}

enum Inner<'a> {
    V2(V2Iter<'a>),
    Legacy(LegacyIter<'a>),
    Done,
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>, DecodeError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            // A v2 iterator stops by itself after an error (it empties
            // its input), so the fast path needs no check here.
            Inner::V2(iter) => iter.next(),
            Inner::Legacy(iter) => {
                let item = iter.next();
                if let Some(Err(_)) = item {
                    self.inner = Inner::Done;
                }
                item
            }
            Inner::Done => None,
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Inner::V2(iter) => (0, Some(iter.remaining as usize)),
            Inner::Legacy(_) => (0, None),
            Inner::Done => (0, Some(0)),
        }
    }
}

impl fmt::Debug for RecordIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.inner {
            Inner::V2(iter) => format!(
                "v2 record {} at byte {}",
                iter.index,
                iter.data.len() - iter.rest.len()
            ),
            Inner::Legacy(_) => "legacy".to_owned(),
            Inner::Done => "done".to_owned(),
        };
        f.debug_struct("RecordIter").field("state", &state).finish()
    }
}

struct V2Iter<'a> {
    source: &'a Bytes,
    data: &'a [u8],
    /// The bytes after the records read so far.
    rest: &'a [u8],
    index: u32,
    remaining: u32,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
}

impl<'a> V2Iter<'a> {
    #[inline]
    fn next(&mut self) -> Option<Result<Record<'a>, DecodeError>> {
        if self.remaining == 0 || self.rest.is_empty() {
            return self.finish();
        }
        match parse_record_fast(self.rest) {
            Some((parts, rest)) => {
                self.rest = rest;
                self.index += 1;
                self.remaining -= 1;
                let timestamp = match self.log_append_time {
                    Some(time) => time,
                    None => self.base_timestamp.wrapping_add(parts.timestamp_delta),
                };
                Some(Ok(Record {
                    source: self.source,
                    offset: self.base_offset.wrapping_add(i64::from(parts.offset_delta)),
                    timestamp,
                    attributes: parts.attributes,
                    key: parts.key,
                    value: parts.value,
                    headers: parts.headers,
                    header_count: parts.header_count,
                }))
            }
            None => Some(Err(self.diagnose())),
        }
    }

    /// The end: nothing, or bytes left over, or records missing.
    #[cold]
    fn finish(&mut self) -> Option<Result<Record<'a>, DecodeError>> {
        let extra = self.rest.len();
        let remaining = self.remaining;
        self.rest = &[];
        self.remaining = 0;
        if remaining > 0 {
            let found = self.index;
            let declared =
                i32::try_from(u64::from(found) + u64::from(remaining)).unwrap_or(i32::MAX);
            return Some(Err(DecodeErrorKind::RecordCountMismatch {
                base_offset: self.base_offset,
                declared,
                found,
            }
            .into()));
        }
        if extra == 0 {
            return None;
        }
        Some(Err(DecodeErrorKind::TrailingBytes {
            base_offset: self.base_offset,
            extra,
        }
        .into()))
    }

    /// The fast path refused a record: find out why, and where.
    #[cold]
    #[inline(never)]
    fn diagnose(&mut self) -> DecodeError {
        let start = self.data.len() - self.rest.len();
        self.rest = &[];
        self.remaining = 0;
        let (problem, position) = match parse_record(self.data, start) {
            Err(found) => found,
            // The two parsers accept the same records; should they ever
            // disagree, the record is still refused.
            Ok(_) => (RecordProblem::Truncated("record"), start),
        };
        DecodeError::from(DecodeErrorKind::Record {
            base_offset: self.base_offset,
            index: self.index,
            position,
            problem,
        })
    }
}

/// Splits a varint-length-prefixed nullable byte string off the front of
/// `cur`; a negative length is null.
#[inline(always)]
pub(crate) fn take_nullable<'a>(cur: &mut &'a [u8]) -> Option<Option<&'a [u8]>> {
    let length = take_varint(cur)?;
    let Ok(length) = usize::try_from(length) else {
        return Some(None);
    };
    let (bytes, rest) = cur.split_at_checked(length)?;
    *cur = rest;
    Some(Some(bytes))
}

/// The decode fast path: parses the record at the front of `cur` and
/// returns it and the bytes after it, or `None` if it is malformed (then
/// [`parse_record`] says how). Both accept exactly the same records.
#[inline(always)]
fn parse_record_fast(cur: &[u8]) -> Option<(RecordParts<'_>, &[u8])> {
    let mut cur = cur;
    let length = usize::try_from(take_varint(&mut cur)?).ok()?;
    let (mut body, rest) = cur.split_at_checked(length)?;
    let (&attributes, after) = body.split_first()?;
    body = after;
    let timestamp_delta = take_varlong(&mut body)?;
    let offset_delta = take_varint(&mut body)?;
    let key = take_nullable(&mut body)?;
    let value = take_nullable(&mut body)?;
    let header_count = u32::try_from(take_varint(&mut body)?).ok()?;
    let headers = body;
    for _ in 0..header_count {
        take_header(&mut body)?;
    }
    if !body.is_empty() {
        return None;
    }
    Some((
        RecordParts {
            attributes: attributes as i8,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
            header_count,
        },
        rest,
    ))
}

/// The fields of one record, as parsed.
struct RecordParts<'a> {
    attributes: i8,
    timestamp_delta: i64,
    offset_delta: i32,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [u8],
    header_count: u32,
}

#[cold]
pub(crate) fn varint_problem(err: VarintError, field: &'static str) -> RecordProblem {
    match err {
        VarintError::Truncated => RecordProblem::Truncated(field),
        VarintError::TooLong => RecordProblem::VarintTooLong(field),
    }
}

/// Reads a varint length-prefixed byte string; a negative length is null.
#[inline(always)]
pub(crate) fn nullable_bytes<'a>(
    body: &'a [u8],
    pos: &mut usize,
    field: &'static str,
) -> Result<Option<&'a [u8]>, RecordProblem> {
    let length = read_varint(body, pos).map_err(|e| varint_problem(e, field))?;
    let Ok(length) = usize::try_from(length) else {
        return Ok(None);
    };
    let end = pos
        .checked_add(length)
        .ok_or(RecordProblem::Truncated(field))?;
    let bytes = body.get(*pos..end).ok_or(RecordProblem::Truncated(field))?;
    *pos = end;
    Ok(Some(bytes))
}

/// Parses the record starting at `start`; on success returns its fields and
/// the position after it, on failure the problem and where it was found.
#[inline(always)]
fn parse_record(
    data: &[u8],
    start: usize,
) -> Result<(RecordParts<'_>, usize), (RecordProblem, usize)> {
    let mut pos = start;
    let length =
        read_varint(data, &mut pos).map_err(|e| (varint_problem(e, "record length"), start))?;
    let Ok(length) = usize::try_from(length) else {
        return Err((
            RecordProblem::NegativeLength {
                field: "record length",
                length: i64::from(length),
            },
            start,
        ));
    };
    let body_start = pos;
    let body = pos
        .checked_add(length)
        .and_then(|end| data.get(body_start..end))
        .ok_or((RecordProblem::Truncated("record"), start))?;
    let at = |p: usize| body_start + p;

    let mut p = 0;
    let attributes = *body
        .first()
        .ok_or((RecordProblem::Truncated("record attributes"), body_start))?
        as i8;
    p += 1;
    let timestamp_delta =
        read_varlong(body, &mut p).map_err(|e| (varint_problem(e, "timestamp delta"), at(p)))?;
    let offset_delta =
        read_varint(body, &mut p).map_err(|e| (varint_problem(e, "offset delta"), at(p)))?;
    let key = nullable_bytes(body, &mut p, "key").map_err(|e| (e, at(p)))?;
    let value = nullable_bytes(body, &mut p, "value").map_err(|e| (e, at(p)))?;
    let count =
        read_varint(body, &mut p).map_err(|e| (varint_problem(e, "header count"), at(p)))?;
    let Ok(header_count) = u32::try_from(count) else {
        return Err((
            RecordProblem::NegativeLength {
                field: "header count",
                length: i64::from(count),
            },
            at(p),
        ));
    };
    let headers = body.get(p..).unwrap_or_default();
    let mut h = 0;
    for _ in 0..header_count {
        parse_header(headers, &mut h).map_err(|e| (e, at(p + h)))?;
    }
    if h != headers.len() {
        return Err((
            RecordProblem::LengthMismatch {
                declared: length,
                actual: p + h,
            },
            start,
        ));
    }
    Ok((
        RecordParts {
            attributes,
            timestamp_delta,
            offset_delta,
            key,
            value,
            headers,
            header_count,
        },
        body_start + length,
    ))
}

/// A record: a view into the records section of its batch.
///
/// Accessors return slices of the batch; the `*_bytes` forms return `Bytes`
/// sharing the batch's buffer (a reference-count increment, no copy).
#[derive(Clone, Copy)]
pub struct Record<'a> {
    source: &'a Bytes,
    offset: i64,
    timestamp: i64,
    attributes: i8,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: &'a [u8],
    header_count: u32,
}

impl<'a> Record<'a> {
    /// Builds a legacy message's view (no headers).
    pub(crate) fn legacy(
        source: &'a Bytes,
        offset: i64,
        timestamp: i64,
        attributes: i8,
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
    ) -> Record<'a> {
        Record {
            source,
            offset,
            timestamp,
            attributes,
            key,
            value,
            headers: &[],
            header_count: 0,
        }
    }

    /// The record's offset in the partition.
    #[inline]
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The record's timestamp in milliseconds since the epoch (the batch's
    /// log-append time if it uses one; -1 for magic-0 messages).
    #[inline]
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// The record's own attributes byte (unused in v2; a legacy message's
    /// attributes).
    #[inline]
    pub fn attributes(&self) -> i8 {
        self.attributes
    }

    /// The key, `None` if null.
    #[inline]
    pub fn key(&self) -> Option<&'a [u8]> {
        self.key
    }

    /// The value, `None` if null (a tombstone).
    #[inline]
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The key as a `Bytes` slice of the batch.
    #[inline]
    pub fn key_bytes(&self) -> Option<Bytes> {
        self.key.map(|key| self.source.slice_ref(key))
    }

    /// The value as a `Bytes` slice of the batch.
    #[inline]
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.map(|value| self.source.slice_ref(value))
    }

    /// The headers, in order, duplicates kept.
    #[inline]
    pub fn headers(&self) -> Headers<'a> {
        Headers {
            source: self.source,
            rest: self.headers,
            remaining: self.header_count,
        }
    }

    /// The control key, for a record of a control batch.
    pub fn control_key(&self) -> Result<ControlRecordKey, DecodeError> {
        ControlRecordKey::decode(self.key)
    }

    /// The commit/abort marker, for a control record whose key says it is
    /// one; `Ok(None)` for other control records.
    pub fn end_txn_marker(&self) -> Result<Option<EndTxnMarker>, DecodeError> {
        if self.control_key()?.record_type.is_transaction_marker() {
            EndTxnMarker::decode(self.value).map(Some)
        } else {
            Ok(None)
        }
    }
}

impl fmt::Debug for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("offset", &self.offset)
            .field("timestamp", &self.timestamp)
            .field("key", &self.key.map(Bytes::copy_from_slice))
            .field("value_len", &self.value.map(<[u8]>::len))
            .field("headers", &self.header_count)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{parse_record, parse_record_fast};
    use crate::record::tests::RawRecord;

    proptest! {
        /// The fast parser and the diagnosing one accept the same records
        /// and agree on where each ends.
        #[test]
        fn fast_and_diagnosing_parsers_agree(
            bytes in prop::collection::vec(
                prop_oneof![Just(0u8), Just(1), Just(2), Just(0x7f), Just(0x80), Just(0xff), any::<u8>()],
                0..40,
            ),
        ) {
            let fast = parse_record_fast(&bytes).map(|(_, rest)| bytes.len() - rest.len());
            let detailed = parse_record(&bytes, 0).ok().map(|(_, end)| end);
            prop_assert_eq!(fast, detailed);
        }

        /// The same, on valid records with one byte changed or cut short.
        #[test]
        fn parsers_agree_on_damaged_records(
            key in prop::option::of(prop::collection::vec(any::<u8>(), 0..20)),
            value in prop::option::of(prop::collection::vec(any::<u8>(), 0..200)),
            headers in 0usize..3,
            at in any::<prop::sample::Index>(),
            byte: u8,
            cut: bool,
        ) {
            let header_list: Vec<(&[u8], Option<&[u8]>)> = (0..headers).map(|_| (&b"h"[..], Some(&b"v"[..]))).collect();
            let record = RawRecord {
                timestamp_delta: 5,
                offset_delta: 1,
                key: key.as_deref(),
                value: value.as_deref(),
                headers: &header_list,
            };
            let mut bytes = Vec::new();
            record.encode(&mut bytes);
            prop_assert!(parse_record_fast(&bytes).is_some());
            let at = at.index(bytes.len());
            if cut {
                bytes.truncate(at);
            } else {
                bytes[at] = byte;
            }
            let fast = parse_record_fast(&bytes).map(|(_, rest)| bytes.len() - rest.len());
            let detailed = parse_record(&bytes, 0).ok().map(|(_, end)| end);
            prop_assert_eq!(fast, detailed);
        }
    }
}
