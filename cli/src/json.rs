//! A small JSON writer for `mq consume --format json` and `mq bench --json`
//! (either protocol): objects keep the order their fields are written in
//! (and repeated keys, as AMQP tables and Kafka headers may have), and
//! nothing is allocated per value beyond the output buffer.
//!
//! Payloads and other bytes go out as a string when they are valid UTF-8,
//! else as base64 ([`ObjectWriter::payload`]): the field name says which.

use std::fmt::Write as _;

/// Writes one JSON object into `out`; [`ObjectWriter::finish`] closes it.
#[derive(Debug)]
pub(crate) struct ObjectWriter<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> ObjectWriter<'a> {
    /// Opens an object at the end of `out`.
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        ObjectWriter { out, empty: true }
    }

    /// Writes `"key":` (after a comma if needed) and returns the buffer for
    /// the value.
    fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        write_str(self.out, key);
        self.out.push(b':');
        self.out
    }

    /// A string field.
    pub(crate) fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let out = self.key(key);
        write_str(out, value);
        self
    }

    /// An unsigned integer field.
    pub(crate) fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        let out = self.key(key);
        write_display(out, value);
        self
    }

    /// A signed integer field.
    pub(crate) fn i64(&mut self, key: &str, value: i64) -> &mut Self {
        let out = self.key(key);
        write_display(out, value);
        self
    }

    /// A number field; NaN and infinities, which JSON lacks, are `null`.
    pub(crate) fn f64(&mut self, key: &str, value: f64) -> &mut Self {
        let out = self.key(key);
        write_f64(out, value);
        self
    }

    /// A boolean field.
    pub(crate) fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        let out = self.key(key);
        out.extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// A `null` field.
    pub(crate) fn null(&mut self, key: &str) -> &mut Self {
        self.key(key).extend_from_slice(b"null");
        self
    }

    /// A field whose value `f` writes, as JSON, into the buffer it gets.
    pub(crate) fn value(&mut self, key: &str, f: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        f(self.key(key));
        self
    }

    /// A field whose value `f` writes as a nested object.
    pub(crate) fn object(&mut self, key: &str, f: impl FnOnce(&mut ObjectWriter<'_>)) -> &mut Self {
        let out = self.key(key);
        let mut inner = ObjectWriter::new(out);
        f(&mut inner);
        inner.finish();
        self
    }

    /// Bytes as `"<key>": "text"` when they are valid UTF-8, else as
    /// `"<key>_base64": "..."` (RFC 4648 base64 with padding). A reader
    /// tells the two apart by the field name: exactly one is present.
    pub(crate) fn payload(&mut self, key: &str, bytes: &[u8]) -> &mut Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.str(key, text),
            Err(_) => {
                if !self.empty {
                    self.out.push(b',');
                }
                self.empty = false;
                self.out.push(b'"');
                push_escaped(self.out, key);
                self.out.extend_from_slice(b"_base64\":\"");
                base64_into(self.out, bytes);
                self.out.push(b'"');
                self
            }
        }
    }

    /// Closes the object.
    pub(crate) fn finish(self) {
        self.out.push(b'}');
    }
}

/// Writes a JSON string: quotes, and escapes for `"`, `\` and control
/// characters (RFC 8259, section 7).
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    push_escaped(out, s);
    out.push(b'"');
}

fn push_escaped(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(bytes.get(start..i).unwrap_or_default());
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

/// Writes a number, or `null` for NaN and infinities.
pub(crate) fn write_f64(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        write_display(out, v);
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Writes a value's `Display` form.
pub(crate) fn write_display(out: &mut Vec<u8>, v: impl std::fmt::Display) {
    let mut s = String::new();
    let _ = write!(s, "{v}");
    out.extend_from_slice(s.as_bytes());
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Appends `bytes` in base64 (RFC 4648, section 4: standard alphabet, `=`
/// padding).
pub(crate) fn base64_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let sextet = |n: u32, shift: u32| BASE64[((n >> shift) & 0x3f) as usize];
    let mut chunks = bytes.chunks_exact(3);
    for chunk in &mut chunks {
        if let [a, b, c] = *chunk {
            let n = u32::from(a) << 16 | u32::from(b) << 8 | u32::from(c);
            out.extend_from_slice(&[sextet(n, 18), sextet(n, 12), sextet(n, 6), sextet(n, 0)]);
        }
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[sextet(n, 18), sextet(n, 12), b'=', b'=']);
        }
        [a, b] => {
            let n = u32::from(a) << 16 | u32::from(b) << 8;
            out.extend_from_slice(&[sextet(n, 18), sextet(n, 12), sextet(n, 6), b'=']);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        let mut out = Vec::new();
        base64_into(&mut out, bytes);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(b64(plain.as_bytes()), encoded);
        }
        assert_eq!(b64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn objects_keep_order_and_escape() {
        let mut out = Vec::new();
        let mut o = ObjectWriter::new(&mut out);
        o.str("q", "a\"b\\c\n\u{1}é")
            .u64("n", 7)
            .i64("i", -7)
            .f64("f", 0.5)
            .f64("nan", f64::NAN)
            .bool("t", true)
            .null("z")
            .object("h", |h| {
                h.str("k", "v1").str("k", "v2");
            })
            .value("a", |out| out.extend_from_slice(b"[1]"))
            .payload("value", b"text")
            .payload("bin", &[0xff, 0x00]);
        o.finish();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            r#"{"q":"a\"b\\c\n\u0001é","n":7,"i":-7,"f":0.5,"nan":null,"t":true,"z":null,"h":{"k":"v1","k":"v2"},"a":[1],"value":"text","bin_base64":"/wA="}"#
        );
        // serde_json reads it back (the last of a repeated key wins there).
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["q"], "a\"b\\c\n\u{1}é");
        assert_eq!(v["bin_base64"], "/wA=");
    }
}
