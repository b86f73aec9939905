//! Field tables and field arrays, with the value types RabbitMQ sends.
//!
//! A [`FieldTable`] keeps its validated wire bytes (a `Bytes` slice of the
//! frame). Decoding walks them once, allocating nothing, to check every
//! length and tag and the nesting depth; entries are then read on demand
//! with [`FieldTable::iter`] or [`FieldTable::get`]. So tables are lossless
//! and keep their order (duplicates included), a delivery whose headers
//! nobody reads costs one walk, and re-encoding is a copy of the bytes.
//! [`TableBuilder`] writes a table for sending.
//!
//! Value types follow RabbitMQ (`rabbit_binary_parser`), which differ from
//! the 0-9-1 spec text: `b` signed 8-bit, `B` unsigned 8-bit, `s` signed
//! 16-bit, `u` unsigned 16-bit, `I` signed 32-bit, `i` unsigned 32-bit, `l`
//! signed 64-bit, `x` byte array.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::primitives::{Reader, put_longstr, put_shortstr};
use crate::strings::{LongStr, ShortStr};

/// How deep tables and arrays may nest inside one another. Deeper input is
/// [`DecodeError::NestingTooDeep`], so a peer cannot exhaust the stack.
pub const MAX_DEPTH: usize = 32;

/// One field value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue {
    /// `t`: boolean (one octet, non-zero is true).
    Bool(bool),
    /// `b`: signed 8-bit integer.
    I8(i8),
    /// `B`: unsigned 8-bit integer.
    U8(u8),
    /// `s`: signed 16-bit integer.
    I16(i16),
    /// `u`: unsigned 16-bit integer.
    U16(u16),
    /// `I`: signed 32-bit integer.
    I32(i32),
    /// `i`: unsigned 32-bit integer.
    U32(u32),
    /// `l`: signed 64-bit integer.
    I64(i64),
    /// `f`: 32-bit IEEE float.
    F32(f32),
    /// `d`: 64-bit IEEE float.
    F64(f64),
    /// `D`: decimal, `value / 10^scale`.
    Decimal {
        /// Number of decimal digits.
        scale: u8,
        /// The unscaled value.
        value: u32,
    },
    /// `S`: long string.
    LongStr(LongStr),
    /// `A`: array of values.
    Array(FieldArray),
    /// `T`: timestamp, seconds since the epoch.
    Timestamp(u64),
    /// `F`: nested table.
    Table(FieldTable),
    /// `V`: no value.
    Void,
    /// `x`: byte array.
    Bytes(Bytes),
}

impl FieldValue {
    /// The type tag octet.
    pub fn tag(&self) -> u8 {
        match self {
            FieldValue::Bool(_) => b't',
            FieldValue::I8(_) => b'b',
            FieldValue::U8(_) => b'B',
            FieldValue::I16(_) => b's',
            FieldValue::U16(_) => b'u',
            FieldValue::I32(_) => b'I',
            FieldValue::U32(_) => b'i',
            FieldValue::I64(_) => b'l',
            FieldValue::F32(_) => b'f',
            FieldValue::F64(_) => b'd',
            FieldValue::Decimal { .. } => b'D',
            FieldValue::LongStr(_) => b'S',
            FieldValue::Array(_) => b'A',
            FieldValue::Timestamp(_) => b'T',
            FieldValue::Table(_) => b'F',
            FieldValue::Void => b'V',
            FieldValue::Bytes(_) => b'x',
        }
    }

    /// Writes the tag and the value.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.tag());
        match self {
            FieldValue::Bool(v) => out.put_u8(u8::from(*v)),
            FieldValue::I8(v) => out.put_i8(*v),
            FieldValue::U8(v) => out.put_u8(*v),
            FieldValue::I16(v) => out.put_i16(*v),
            FieldValue::U16(v) => out.put_u16(*v),
            FieldValue::I32(v) => out.put_i32(*v),
            FieldValue::U32(v) => out.put_u32(*v),
            FieldValue::I64(v) => out.put_i64(*v),
            FieldValue::F32(v) => out.put_f32(*v),
            FieldValue::F64(v) => out.put_f64(*v),
            FieldValue::Decimal { scale, value } => {
                out.put_u8(*scale);
                out.put_u32(*value);
            }
            FieldValue::LongStr(s) => put_longstr(out, s.as_bytes()),
            FieldValue::Array(a) => put_longstr(out, &a.raw),
            FieldValue::Timestamp(v) => out.put_u64(*v),
            FieldValue::Table(t) => put_longstr(out, &t.raw),
            FieldValue::Void => {}
            FieldValue::Bytes(b) => put_longstr(out, b),
        }
    }

    /// The string, if this is a long string.
    pub fn as_long_str(&self) -> Option<&LongStr> {
        match self {
            FieldValue::LongStr(s) => Some(s),
            _ => None,
        }
    }

    /// The value as an `i64`, if it is an integer of any width.
    pub fn as_i64(&self) -> Option<i64> {
        Some(match *self {
            FieldValue::I8(v) => v.into(),
            FieldValue::U8(v) => v.into(),
            FieldValue::I16(v) => v.into(),
            FieldValue::U16(v) => v.into(),
            FieldValue::I32(v) => v.into(),
            FieldValue::U32(v) => v.into(),
            FieldValue::I64(v) => v,
            _ => return None,
        })
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            FieldValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The nested table, if this is one.
    pub fn as_table(&self) -> Option<&FieldTable> {
        match self {
            FieldValue::Table(t) => Some(t),
            _ => None,
        }
    }

    /// Reads a value whose tag was already read; the bytes were validated.
    fn read(tag: u8, r: &mut Reader<'_>) -> Result<FieldValue, DecodeError> {
        const W: &str = "field value";
        Ok(match tag {
            b't' => FieldValue::Bool(r.octet(W)? != 0),
            b'b' => FieldValue::I8(r.octet(W)? as i8),
            b'B' => FieldValue::U8(r.octet(W)?),
            b's' => FieldValue::I16(r.short(W)? as i16),
            b'u' => FieldValue::U16(r.short(W)?),
            b'I' => FieldValue::I32(r.long(W)? as i32),
            b'i' => FieldValue::U32(r.long(W)?),
            b'l' => FieldValue::I64(r.longlong(W)? as i64),
            b'f' => FieldValue::F32(f32::from_bits(r.long(W)?)),
            b'd' => FieldValue::F64(f64::from_bits(r.longlong(W)?)),
            b'D' => FieldValue::Decimal {
                scale: r.octet(W)?,
                value: r.long(W)?,
            },
            b'S' => FieldValue::LongStr(r.longstr(W)?),
            b'A' => {
                let len = r.long(W)? as usize;
                FieldValue::Array(FieldArray {
                    raw: r.slice(len, W)?,
                })
            }
            b'T' => FieldValue::Timestamp(r.longlong(W)?),
            b'F' => {
                let len = r.long(W)? as usize;
                FieldValue::Table(FieldTable {
                    raw: r.slice(len, W)?,
                })
            }
            b'V' => FieldValue::Void,
            b'x' => FieldValue::Bytes(r.longstr(W)?.into_bytes()),
            tag => {
                return Err(DecodeError::UnknownFieldType {
                    tag,
                    offset: r.pos(),
                });
            }
        })
    }
}

macro_rules! from_value {
    ($($t:ty => $v:ident),* $(,)?) => {
        $(impl From<$t> for FieldValue {
            fn from(v: $t) -> Self { FieldValue::$v(v) }
        })*
    };
}

from_value! {
    bool => Bool, i8 => I8, u8 => U8, i16 => I16, u16 => U16, i32 => I32,
    u32 => U32, i64 => I64, f32 => F32, f64 => F64, LongStr => LongStr,
    FieldArray => Array, FieldTable => Table,
}

impl From<&str> for FieldValue {
    fn from(s: &str) -> Self {
        FieldValue::LongStr(LongStr::from(s))
    }
}

impl From<String> for FieldValue {
    fn from(s: String) -> Self {
        FieldValue::LongStr(LongStr::from(s))
    }
}

/// A slice-based cursor used only to validate, without touching refcounts.
struct Walk<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Walk<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let s = start
            .checked_add(n)
            .and_then(|end| self.buf.get(start..end))
            .ok_or(DecodeError::Truncated {
                what: "field table",
                offset: start,
            })?;
        self.pos = start + n;
        Ok(s)
    }

    fn octet(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }

    fn long(&mut self) -> Result<usize, DecodeError> {
        let s = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        Ok(u32::from_be_bytes(a) as usize)
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
}

pub(crate) fn validate_table(buf: &[u8], depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::NestingTooDeep { max: MAX_DEPTH });
    }
    let mut w = Walk { buf, pos: 0 };
    while !w.done() {
        let key_len = w.octet()?;
        w.take(usize::from(key_len))?;
        validate_value(&mut w, depth)?;
    }
    Ok(())
}

fn validate_array(buf: &[u8], depth: usize) -> Result<(), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::NestingTooDeep { max: MAX_DEPTH });
    }
    let mut w = Walk { buf, pos: 0 };
    while !w.done() {
        validate_value(&mut w, depth)?;
    }
    Ok(())
}

fn validate_value(w: &mut Walk<'_>, depth: usize) -> Result<(), DecodeError> {
    let at = w.pos;
    let tag = w.octet()?;
    let fixed = match tag {
        b't' | b'b' | b'B' => 1,
        b's' | b'u' => 2,
        b'I' | b'i' | b'f' => 4,
        b'l' | b'd' | b'T' => 8,
        b'D' => 5,
        b'V' => 0,
        b'S' | b'x' => {
            let len = w.long()?;
            w.take(len)?;
            return Ok(());
        }
        b'A' => {
            let len = w.long()?;
            return validate_array(w.take(len)?, depth + 1);
        }
        b'F' => {
            let len = w.long()?;
            return validate_table(w.take(len)?, depth + 1);
        }
        tag => return Err(DecodeError::UnknownFieldType { tag, offset: at }),
    };
    w.take(fixed)?;
    Ok(())
}

/// A field table: validated wire bytes, read lazily, in order.
///
/// Equality compares the encoded bytes, so two tables are equal exactly when
/// they would be sent identically.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldTable {
    /// The table's contents, without the 4-byte length prefix.
    raw: Bytes,
}

impl FieldTable {
    /// The empty table.
    pub const fn new() -> Self {
        FieldTable { raw: Bytes::new() }
    }

    /// A builder that encodes entries as they are added.
    pub fn builder() -> TableBuilder {
        TableBuilder::default()
    }

    /// Validates table contents (without the 4-byte length prefix).
    pub fn decode(raw: Bytes) -> Result<Self, DecodeError> {
        validate_table(&raw, 0)?;
        Ok(FieldTable { raw })
    }

    pub(crate) fn from_wire(raw: Bytes) -> Result<Self, DecodeError> {
        Self::decode(raw)
    }

    /// The encoded contents, without the length prefix.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// Writes the 4-byte length and the contents.
    pub fn encode(&self, out: &mut BytesMut) {
        put_longstr(out, &self.raw);
    }

    /// The encoded size, length prefix included.
    pub fn encoded_len(&self) -> usize {
        4 + self.raw.len()
    }

    /// The entries, in wire order, duplicates included.
    pub fn iter(&self) -> TableIter<'_> {
        TableIter {
            reader: Reader::new(&self.raw),
        }
    }

    /// The first value stored under `key`.
    pub fn get(&self, key: &str) -> Option<FieldValue> {
        self.iter()
            .find(|(k, _)| k.as_bytes() == key.as_bytes())
            .map(|(_, v)| v)
    }

    /// Whether the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The number of entries (walks the table).
    pub fn len(&self) -> usize {
        self.iter().count()
    }
}

impl fmt::Debug for FieldTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a FieldTable {
    type Item = (ShortStr, FieldValue);
    type IntoIter = TableIter<'a>;
    fn into_iter(self) -> TableIter<'a> {
        self.iter()
    }
}

impl<K: AsRef<str>, V: Into<FieldValue>> FromIterator<(K, V)> for FieldTable {
    /// Builds a table.
    ///
    /// # Panics
    /// If a key is longer than 255 bytes.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut b = TableBuilder::default();
        for (k, v) in iter {
            b = b.insert(k.as_ref(), v);
        }
        b.build()
    }
}

/// Iterates a table's entries. Zero-copy: keys and string values are slices
/// of the table's bytes.
#[derive(Debug)]
pub struct TableIter<'a> {
    reader: Reader<'a>,
}

impl Iterator for TableIter<'_> {
    type Item = (ShortStr, FieldValue);
    fn next(&mut self) -> Option<Self::Item> {
        if self.reader.remaining() == 0 {
            return None;
        }
        // The bytes were validated when the table was decoded or built, so
        // these reads succeed; a failure ends the iteration.
        let key = self.reader.shortstr("table key").ok()?;
        let tag = self.reader.octet("field tag").ok()?;
        let value = FieldValue::read(tag, &mut self.reader).ok()?;
        Some((key, value))
    }
}

/// Encodes a table entry by entry.
#[derive(Debug, Default, Clone)]
pub struct TableBuilder {
    buf: BytesMut,
}

impl TableBuilder {
    /// A builder with room for `bytes` of entries, so that building a
    /// table of known size does not reallocate.
    pub fn with_capacity(bytes: usize) -> Self {
        TableBuilder {
            buf: BytesMut::with_capacity(bytes),
        }
    }

    /// Appends a long-string entry (`S`) straight from `value`, without
    /// making a [`FieldValue`] first; fails if the key is longer than 255
    /// bytes.
    pub fn try_insert_str(
        &mut self,
        key: &str,
        value: &str,
    ) -> Result<&mut Self, crate::strings::TooLong> {
        if key.len() > ShortStr::MAX_LEN {
            return Err(crate::strings::TooLong { len: key.len() });
        }
        put_shortstr(&mut self.buf, key.as_bytes());
        self.buf.put_u8(b'S');
        put_longstr(&mut self.buf, value.as_bytes());
        Ok(self)
    }

    /// Appends an entry.
    ///
    /// # Panics
    /// If `key` is longer than 255 bytes; use [`TableBuilder::try_insert`]
    /// for keys that are not fixed in the program.
    pub fn insert(mut self, key: &str, value: impl Into<FieldValue>) -> Self {
        if let Err(e) = self.try_insert(key, value) {
            panic!("field table key {key:?}: {e}");
        }
        self
    }

    /// Appends an entry, failing if the key is longer than 255 bytes.
    pub fn try_insert(
        &mut self,
        key: &str,
        value: impl Into<FieldValue>,
    ) -> Result<&mut Self, crate::strings::TooLong> {
        if key.len() > ShortStr::MAX_LEN {
            return Err(crate::strings::TooLong { len: key.len() });
        }
        put_shortstr(&mut self.buf, key.as_bytes());
        value.into().encode(&mut self.buf);
        Ok(self)
    }

    /// Appends an entry whose key is already a short string, such as one
    /// read from another table. The key's bytes are copied as they are, so
    /// a key that is not UTF-8 survives, and this cannot fail.
    pub fn push(&mut self, key: &ShortStr, value: impl Into<FieldValue>) -> &mut Self {
        put_shortstr(&mut self.buf, key.as_bytes());
        value.into().encode(&mut self.buf);
        self
    }

    /// The finished table.
    pub fn build(self) -> FieldTable {
        FieldTable {
            raw: self.buf.freeze(),
        }
    }
}

/// A field array: validated wire bytes, read lazily.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldArray {
    raw: Bytes,
}

impl FieldArray {
    /// The empty array.
    pub const fn new() -> Self {
        FieldArray { raw: Bytes::new() }
    }

    /// Validates array contents (without the 4-byte length prefix).
    pub fn decode(raw: Bytes) -> Result<Self, DecodeError> {
        validate_array(&raw, 0)?;
        Ok(FieldArray { raw })
    }

    /// The encoded contents, without the length prefix.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }

    /// The values, in order.
    pub fn iter(&self) -> ArrayIter<'_> {
        ArrayIter {
            reader: Reader::new(&self.raw),
        }
    }

    /// Whether the array is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The number of values (walks the array).
    pub fn len(&self) -> usize {
        self.iter().count()
    }
}

impl<V: Into<FieldValue>> FromIterator<V> for FieldArray {
    fn from_iter<I: IntoIterator<Item = V>>(iter: I) -> Self {
        let mut buf = BytesMut::new();
        for v in iter {
            v.into().encode(&mut buf);
        }
        FieldArray { raw: buf.freeze() }
    }
}

impl fmt::Debug for FieldArray {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterates an array's values.
#[derive(Debug)]
pub struct ArrayIter<'a> {
    reader: Reader<'a>,
}

impl Iterator for ArrayIter<'_> {
    type Item = FieldValue;
    fn next(&mut self) -> Option<FieldValue> {
        if self.reader.remaining() == 0 {
            return None;
        }
        let tag = self.reader.octet("field tag").ok()?;
        FieldValue::read(tag, &mut self.reader).ok()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_str_entry_is_the_long_string_entry(key in ".{0,40}", value in ".{0,300}") {
            let mut direct = TableBuilder::with_capacity(8);
            let mut general = TableBuilder::default();
            let a = direct.try_insert_str(&key, &value).map(|_| ());
            let b = general.try_insert(&key, value.as_str()).map(|_| ());
            prop_assert_eq!(a.is_ok(), b.is_ok());
            prop_assert_eq!(direct.build(), general.build());
        }
    }

    pub(crate) fn arb_value() -> impl Strategy<Value = FieldValue> {
        let leaf = prop_oneof![
            any::<bool>().prop_map(FieldValue::Bool),
            any::<i8>().prop_map(FieldValue::I8),
            any::<u8>().prop_map(FieldValue::U8),
            any::<i16>().prop_map(FieldValue::I16),
            any::<u16>().prop_map(FieldValue::U16),
            any::<i32>().prop_map(FieldValue::I32),
            any::<u32>().prop_map(FieldValue::U32),
            any::<i64>().prop_map(FieldValue::I64),
            prop::num::f32::NORMAL.prop_map(FieldValue::F32),
            prop::num::f64::NORMAL.prop_map(FieldValue::F64),
            (any::<u8>(), any::<u32>())
                .prop_map(|(scale, value)| FieldValue::Decimal { scale, value }),
            ".{0,20}".prop_map(|s| FieldValue::LongStr(LongStr::from(s))),
            any::<u64>().prop_map(FieldValue::Timestamp),
            Just(FieldValue::Void),
            prop::collection::vec(any::<u8>(), 0..20)
                .prop_map(|v| FieldValue::Bytes(Bytes::from(v))),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|vs| FieldValue::Array(vs.into_iter().collect())),
                prop::collection::vec(("[a-z-]{0,12}", inner), 0..6)
                    .prop_map(|kvs| FieldValue::Table(kvs.into_iter().collect())),
            ]
        })
    }

    pub(crate) fn arb_table() -> impl Strategy<Value = (Vec<(String, FieldValue)>, FieldTable)> {
        prop::collection::vec(("[a-zA-Z0-9._-]{0,16}", arb_value()), 0..10).prop_map(|kvs| {
            let t: FieldTable = kvs.iter().cloned().collect();
            (kvs, t)
        })
    }

    proptest! {
        #[test]
        fn table_round_trip((entries, table) in arb_table()) {
            let mut out = BytesMut::new();
            table.encode(&mut out);
            prop_assert_eq!(out.len(), table.encoded_len());
            let mut body = out.freeze();
            let len = u32::from_be_bytes([body[0], body[1], body[2], body[3]]) as usize;
            prop_assert_eq!(len, body.len() - 4);
            let decoded = FieldTable::decode(body.split_off(4)).unwrap();
            prop_assert_eq!(&decoded, &table);
            let read: Vec<(String, FieldValue)> = decoded
                .iter()
                .map(|(k, v)| (k.as_str().unwrap().to_owned(), v))
                .collect();
            prop_assert_eq!(read, entries);
        }

        #[test]
        fn array_round_trip(values in prop::collection::vec(arb_value(), 0..10)) {
            let a: FieldArray = values.iter().cloned().collect();
            let decoded = FieldArray::decode(Bytes::copy_from_slice(a.as_bytes())).unwrap();
            prop_assert_eq!(decoded.iter().collect::<Vec<_>>(), values);
        }

        #[test]
        fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(t) = FieldTable::decode(Bytes::from(raw.clone())) {
                // Whatever validates iterates to the end: the entries'
                // encodings add up to the table's bytes.
                let mut consumed = 0;
                for (k, v) in t.iter() {
                    let mut one = BytesMut::new();
                    v.encode(&mut one);
                    consumed += 1 + k.len() + one.len();
                }
                prop_assert_eq!(consumed, raw.len());
                // Where every key is UTF-8, re-encoding what was read gives a
                // table that reads the same. (A lossy rebuild of a key that is
                // not UTF-8 could outgrow 255 bytes: each bad byte becomes a
                // three-byte U+FFFD.)
                if t.iter().all(|(k, _)| k.as_str().is_ok()) {
                    let rebuilt: FieldTable = t.iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v)).collect();
                    let a: Vec<String> = t.iter().map(|(k, v)| format!("{k:?}={v:?}")).collect();
                    let b: Vec<String> = rebuilt.iter().map(|(k, v)| format!("{k:?}={v:?}")).collect();
                    prop_assert_eq!(a, b);
                }
            }
        }
    }

    #[test]
    fn a_key_that_is_not_utf8_is_copied_byte_for_byte() {
        // One entry: a 100-byte key of 0xFF bytes (no UTF-8), value void.
        let mut raw = vec![100u8];
        raw.extend([0xFF; 100]);
        raw.push(b'V');
        let t = FieldTable::decode(Bytes::from(raw.clone())).unwrap();
        let (k, v) = t.iter().next().unwrap();
        assert!(k.as_str().is_err());
        // Lossily the key is 300 bytes, too long for a short string ...
        assert!(
            TableBuilder::default()
                .try_insert(&k.to_string_lossy(), v.clone())
                .is_err()
        );
        // ... but pushed as it is, it round-trips.
        let mut b = TableBuilder::default();
        b.push(&k, v);
        assert_eq!(b.build().as_bytes(), &raw[..]);
    }

    #[test]
    fn rabbitmq_types_are_read_as_rabbitmq_writes_them() {
        // key "a": 'I' signed 32 = -2; key "b": 'i' unsigned 32; 's' signed 16; 'u' unsigned 16.
        let raw: &[u8] = b"\x01aI\xff\xff\xff\xfe\x01bi\xff\xff\xff\xfe\x01cs\xff\xfe\x01du\xff\xfe\x01eb\xff\x01fB\xff\x01gx\x00\x00\x00\x02hi\x01hl\xff\xff\xff\xff\xff\xff\xff\xff";
        let t = FieldTable::decode(Bytes::from_static(raw)).unwrap();
        let v: Vec<FieldValue> = t.iter().map(|(_, v)| v).collect();
        assert_eq!(
            v,
            vec![
                FieldValue::I32(-2),
                FieldValue::U32(0xffff_fffe),
                FieldValue::I16(-2),
                FieldValue::U16(0xfffe),
                FieldValue::I8(-1),
                FieldValue::U8(255),
                FieldValue::Bytes(Bytes::from_static(b"hi")),
                FieldValue::I64(-1),
            ]
        );
        assert_eq!(t.get("c"), Some(FieldValue::I16(-2)));
        assert_eq!(t.get("zz"), None);
    }

    #[test]
    fn duplicates_stay_in_order() {
        let t = FieldTable::builder()
            .insert("k", 1i32)
            .insert("j", true)
            .insert("k", 2i32)
            .build();
        let keys: Vec<String> = t.iter().map(|(k, _)| k.to_string()).collect();
        assert_eq!(keys, ["k", "j", "k"]);
        assert_eq!(t.get("k"), Some(FieldValue::I32(1)));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn malformed_tables_are_typed_errors() {
        // Unknown tag 'Z'.
        let e = FieldTable::decode(Bytes::from_static(b"\x01aZ")).unwrap_err();
        assert_eq!(
            e,
            DecodeError::UnknownFieldType {
                tag: b'Z',
                offset: 2
            }
        );
        // A string whose length runs past the end.
        let e = FieldTable::decode(Bytes::from_static(b"\x01aS\x00\x00\x00\x09ab")).unwrap_err();
        assert!(matches!(e, DecodeError::Truncated { .. }), "{e:?}");
        // A key length past the end.
        assert!(FieldTable::decode(Bytes::from_static(b"\x05ab")).is_err());
    }

    #[test]
    fn nesting_is_capped() {
        let mut t = FieldTable::new();
        for _ in 0..MAX_DEPTH {
            t = FieldTable::builder().insert("n", t).build();
        }
        assert!(FieldTable::decode(Bytes::copy_from_slice(t.as_bytes())).is_ok());
        let deeper = FieldTable::builder().insert("n", t).build();
        assert_eq!(
            FieldTable::decode(Bytes::copy_from_slice(deeper.as_bytes())).unwrap_err(),
            DecodeError::NestingTooDeep { max: MAX_DEPTH }
        );
        // Arrays count too.
        let mut a = FieldArray::new();
        for _ in 0..=MAX_DEPTH + 1 {
            a = std::iter::once(FieldValue::Array(a)).collect();
        }
        assert!(FieldArray::decode(Bytes::copy_from_slice(a.as_bytes())).is_err());
    }
}
