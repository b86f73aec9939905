//! Record headers: "headerKeyLength: varint, headerKey: String,
//! headerValueLength: varint, Value: byte[]". Kept in wire order, repeated
//! keys included; a negative value length is a null value, a negative key
//! length is an error (as in Java's `DefaultRecord.readHeaders`).

use std::fmt;
use std::str::Utf8Error;

use bytes::Bytes;

use super::records::{nullable_bytes, take_nullable, varint_problem};
use crate::error::RecordProblem;
use crate::primitives::varint::{read_varint, take_varint};

/// Parses one header at `pos` of `data`.
#[inline]
pub(crate) fn parse_header<'a>(
    data: &'a [u8],
    pos: &mut usize,
) -> Result<(&'a [u8], Option<&'a [u8]>), RecordProblem> {
    let key_length = read_varint(data, pos).map_err(|e| varint_problem(e, "header key length"))?;
    let Ok(key_length) = usize::try_from(key_length) else {
        return Err(RecordProblem::NegativeLength {
            field: "header key length",
            length: i64::from(key_length),
        });
    };
    let end = pos
        .checked_add(key_length)
        .ok_or(RecordProblem::Truncated("header key"))?;
    let key = data
        .get(*pos..end)
        .ok_or(RecordProblem::Truncated("header key"))?;
    *pos = end;
    let value = nullable_bytes(data, pos, "header value")?;
    Ok((key, value))
}

/// Splits one header off the front of `cur`.
#[inline(always)]
pub(crate) fn take_header<'a>(cur: &mut &'a [u8]) -> Option<(&'a [u8], Option<&'a [u8]>)> {
    let key_length = usize::try_from(take_varint(cur)?).ok()?;
    let (key, rest) = cur.split_at_checked(key_length)?;
    *cur = rest;
    let value = take_nullable(cur)?;
    Some((key, value))
}

/// The headers of a record, in wire order.
#[derive(Clone)]
pub struct Headers<'a> {
    pub(crate) source: &'a Bytes,
    pub(crate) rest: &'a [u8],
    pub(crate) remaining: u32,
}

impl<'a> Headers<'a> {
    /// Values of every header with this key, in order.
    pub fn get_all(&self, key: &'a [u8]) -> impl Iterator<Item = Option<&'a [u8]>> + 'a {
        self.clone()
            .filter(move |h| h.key() == key)
            .map(|h| h.value())
    }

    /// The value of the last header with this key (Java's `lastHeader`).
    pub fn last_header(&self, key: &[u8]) -> Option<Header<'a>> {
        self.clone().filter(|h| h.key() == key).last()
    }
}

impl<'a> Iterator for Headers<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.remaining == 0 {
            return None;
        }
        // Validated when the record was parsed; a failure cannot happen,
        // and would end the iteration rather than panic.
        match take_header(&mut self.rest) {
            Some((key, value)) => {
                self.remaining -= 1;
                Some(Header {
                    source: self.source,
                    key,
                    value,
                })
            }
            None => {
                self.remaining = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining as usize, Some(self.remaining as usize))
    }
}

impl ExactSizeIterator for Headers<'_> {}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

/// One record header: a key (a UTF-8 string in Kafka's clients) and a
/// nullable value.
#[derive(Clone, Copy)]
pub struct Header<'a> {
    source: &'a Bytes,
    key: &'a [u8],
    value: Option<&'a [u8]>,
}

impl<'a> Header<'a> {
    /// The key's bytes.
    pub fn key(&self) -> &'a [u8] {
        self.key
    }

    /// The key as UTF-8 (Java clients always write UTF-8; others may not).
    pub fn key_str(&self) -> Result<&'a str, Utf8Error> {
        std::str::from_utf8(self.key)
    }

    /// The value, `None` if null.
    pub fn value(&self) -> Option<&'a [u8]> {
        self.value
    }

    /// The key as a `Bytes` slice of the batch.
    pub fn key_bytes(&self) -> Bytes {
        self.source.slice_ref(self.key)
    }

    /// The value as a `Bytes` slice of the batch.
    pub fn value_bytes(&self) -> Option<Bytes> {
        self.value.map(|value| self.source.slice_ref(value))
    }
}

impl fmt::Debug for Header<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("key", &String::from_utf8_lossy(self.key))
            .field("value", &self.value.map(Bytes::copy_from_slice))
            .finish()
    }
}
