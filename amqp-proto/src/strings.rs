//! AMQP short and long strings.
//!
//! Both are octet strings on the wire, not necessarily UTF-8. They are kept
//! as [`Bytes`] slices of the frame they were read from, so decoding a
//! `basic.deliver` allocates no `String` for its consumer tag, exchange or
//! routing key. [`ShortStr::as_str`] and [`LongStr::as_str`] give UTF-8
//! access when it is valid.

use std::borrow::Borrow;
use std::fmt;
use std::str::Utf8Error;

use bytes::Bytes;

/// An AMQP short string: at most 255 octets.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShortStr(Bytes);

/// A string was longer than a short string can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{len} bytes do not fit a short string (at most 255)")]
pub struct TooLong {
    /// The length offered.
    pub len: usize,
}

impl ShortStr {
    /// The largest length a short string holds.
    pub const MAX_LEN: usize = 255;

    /// The empty string.
    pub const fn empty() -> Self {
        ShortStr(Bytes::new())
    }

    /// Wraps bytes, checking the length.
    pub fn new(b: Bytes) -> Result<Self, TooLong> {
        if b.len() > Self::MAX_LEN {
            Err(TooLong { len: b.len() })
        } else {
            Ok(ShortStr(b))
        }
    }

    /// A static string; longer than 255 bytes is cut at 255 (a programming
    /// error that this keeps from reaching the wire malformed).
    pub fn from_static(s: &'static str) -> Self {
        let b = s.as_bytes();
        ShortStr(Bytes::from_static(b.get(..Self::MAX_LEN).unwrap_or(b)))
    }

    /// Bytes read from the wire with a one-octet length, so at most 255.
    pub(crate) fn from_wire(b: Bytes) -> Self {
        debug_assert!(b.len() <= Self::MAX_LEN);
        ShortStr(b)
    }

    /// The octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The octets as UTF-8, if they are.
    pub fn as_str(&self) -> Result<&str, Utf8Error> {
        std::str::from_utf8(&self.0)
    }

    /// The octets as UTF-8, with invalid sequences replaced.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The underlying `Bytes` (a cheap clone).
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// Unwraps the underlying `Bytes`.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in octets.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<&str> for ShortStr {
    type Error = TooLong;
    fn try_from(s: &str) -> Result<Self, TooLong> {
        ShortStr::new(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl TryFrom<String> for ShortStr {
    type Error = TooLong;
    fn try_from(s: String) -> Result<Self, TooLong> {
        ShortStr::new(Bytes::from(s))
    }
}

impl TryFrom<Bytes> for ShortStr {
    type Error = TooLong;
    fn try_from(b: Bytes) -> Result<Self, TooLong> {
        ShortStr::new(b)
    }
}

impl AsRef<[u8]> for ShortStr {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Borrow<[u8]> for ShortStr {
    fn borrow(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<str> for ShortStr {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for ShortStr {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string_lossy(), f)
    }
}

impl fmt::Display for ShortStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_string_lossy(), f)
    }
}

/// An AMQP long string: up to 2^32 - 1 octets, opaque binary.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LongStr(Bytes);

impl LongStr {
    /// The empty string.
    pub const fn empty() -> Self {
        LongStr(Bytes::new())
    }

    /// A static string.
    pub const fn from_static(s: &'static str) -> Self {
        LongStr(Bytes::from_static(s.as_bytes()))
    }

    /// The octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The octets as UTF-8, if they are.
    pub fn as_str(&self) -> Result<&str, Utf8Error> {
        std::str::from_utf8(&self.0)
    }

    /// The octets as UTF-8, with invalid sequences replaced.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The underlying `Bytes` (a cheap clone).
    pub fn to_bytes(&self) -> Bytes {
        self.0.clone()
    }

    /// Unwraps the underlying `Bytes`.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// Length in octets.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the string is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Bytes> for LongStr {
    fn from(b: Bytes) -> Self {
        LongStr(b)
    }
}

impl From<&str> for LongStr {
    fn from(s: &str) -> Self {
        LongStr(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for LongStr {
    fn from(s: String) -> Self {
        LongStr(Bytes::from(s))
    }
}

impl From<Vec<u8>> for LongStr {
    fn from(v: Vec<u8>) -> Self {
        LongStr(Bytes::from(v))
    }
}

impl AsRef<[u8]> for LongStr {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PartialEq<str> for LongStr {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for LongStr {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl fmt::Debug for LongStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string_lossy(), f)
    }
}

impl fmt::Display for LongStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_string_lossy(), f)
    }
}
