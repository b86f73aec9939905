//! Wire primitives: a bounds-checked reader over a frame payload that hands
//! out zero-copy slices, and a writer that packs bits the way 0-9-1 does,
//! plus the short-string, long-string and back-patched-length writers the
//! frame, method, table and properties codecs build on. (kafka-proto's
//! counterpart has the same name.)
//!
//! Spec 4.2.5.2: "Bits are accumulated into whole octets. When two or more
//! bits are contiguous in a frame these will be packed into one or more
//! octets, starting from the low bit in each octet."

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::strings::{LongStr, ShortStr};
use crate::table::FieldTable;

/// Reads fields from one frame payload. Every read is bounds-checked and
/// reports truncation as [`DecodeError::Truncated`] with the offset.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a Bytes,
    base: usize,
    pos: usize,
    end: usize,
    bits: u8,
    mask: u8,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a Bytes) -> Self {
        Reader {
            buf,
            base: 0,
            pos: 0,
            end: buf.len(),
            bits: 0,
            mask: 0,
        }
    }

    /// Reads only `start..end` of `buf` (clamped to the buffer), so a frame
    /// can be decoded in place without slicing it off first.
    pub(crate) fn window(buf: &'a Bytes, start: usize, end: usize) -> Self {
        let end = end.min(buf.len());
        let start = start.min(end);
        Reader {
            buf,
            base: start,
            pos: start,
            end,
            bits: 0,
            mask: 0,
        }
    }

    /// The offset from the start of the window.
    pub(crate) fn pos(&self) -> usize {
        self.pos - self.base
    }

    pub(crate) fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    #[inline]
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        self.mask = 0;
        let start = self.pos;
        let buf: &'a [u8] = self.buf.as_ref();
        match start
            .checked_add(n)
            .filter(|&end| end <= self.end)
            .and_then(|end| buf.get(start..end))
        {
            Some(s) => {
                self.pos = start + n;
                Ok(s)
            }
            None => Err(DecodeError::Truncated {
                what,
                offset: start - self.base,
            }),
        }
    }

    #[inline]
    fn take_array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    #[inline]
    pub(crate) fn slice(&mut self, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        self.take(n, what)?;
        Ok(self.buf.slice(start..start + n))
    }

    #[inline]
    pub(crate) fn octet(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take_array::<1>(what)?[0])
    }

    #[inline]
    pub(crate) fn short(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.take_array(what)?))
    }

    #[inline]
    pub(crate) fn long(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.take_array(what)?))
    }

    #[inline]
    pub(crate) fn longlong(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.take_array(what)?))
    }

    #[inline]
    pub(crate) fn bit(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        if self.mask == 0 {
            let b = self.take_array::<1>(what)?[0];
            self.bits = b;
            self.mask = 1;
        }
        let v = self.bits & self.mask != 0;
        self.mask <<= 1;
        Ok(v)
    }

    #[inline]
    pub(crate) fn shortstr(&mut self, what: &'static str) -> Result<ShortStr, DecodeError> {
        let len = self.octet(what)?;
        let b = self.slice(usize::from(len), what)?;
        Ok(ShortStr::from_wire(b))
    }

    #[inline]
    pub(crate) fn longstr(&mut self, what: &'static str) -> Result<LongStr, DecodeError> {
        let len = self.long(what)?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated {
            what,
            offset: self.pos(),
        })?;
        let b = self.slice(len, what)?;
        Ok(LongStr::from(b))
    }

    #[inline]
    pub(crate) fn table(&mut self, what: &'static str) -> Result<FieldTable, DecodeError> {
        let len = self.long(what)?;
        let len = usize::try_from(len).map_err(|_| DecodeError::Truncated {
            what,
            offset: self.pos(),
        })?;
        let b = self.slice(len, what)?;
        FieldTable::from_wire(b)
    }

    /// Fails unless every byte was consumed.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { what, extra }),
        }
    }
}

/// Writes fields into an output buffer, packing consecutive bits.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    out: &'a mut BytesMut,
    bits: u8,
    mask: u8,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut BytesMut) -> Self {
        Writer {
            out,
            bits: 0,
            mask: 0,
        }
    }

    #[inline]
    fn flush_bits(&mut self) {
        if self.mask != 0 {
            self.out.put_u8(self.bits);
            self.mask = 0;
            self.bits = 0;
        }
    }

    #[inline]
    pub(crate) fn octet(&mut self, v: u8) {
        self.flush_bits();
        self.out.put_u8(v);
    }

    #[inline]
    pub(crate) fn short(&mut self, v: u16) {
        self.flush_bits();
        self.out.put_u16(v);
    }

    #[inline]
    pub(crate) fn long(&mut self, v: u32) {
        self.flush_bits();
        self.out.put_u32(v);
    }

    #[inline]
    pub(crate) fn longlong(&mut self, v: u64) {
        self.flush_bits();
        self.out.put_u64(v);
    }

    #[inline]
    pub(crate) fn bit(&mut self, v: bool) {
        if self.mask == 0 {
            self.mask = 1;
            self.bits = 0;
        }
        if v {
            self.bits |= self.mask;
        }
        self.mask <<= 1;
        if self.mask == 0 {
            // Eight bits: the octet is full.
            self.out.put_u8(self.bits);
            self.bits = 0;
        }
    }

    #[inline]
    pub(crate) fn shortstr(&mut self, v: &ShortStr) {
        self.flush_bits();
        put_shortstr(self.out, v.as_bytes());
    }

    #[inline]
    pub(crate) fn longstr(&mut self, v: &LongStr) {
        self.flush_bits();
        put_longstr(self.out, v.as_bytes());
    }

    #[inline]
    pub(crate) fn table(&mut self, v: &FieldTable) {
        self.flush_bits();
        v.encode(self.out);
    }

    /// Writes any bits still pending.
    #[inline]
    pub(crate) fn finish(mut self) {
        self.flush_bits();
    }
}

/// Writes a short string whose length the caller has checked (<= 255).
#[inline]
pub(crate) fn put_shortstr(out: &mut BytesMut, s: &[u8]) {
    debug_assert!(s.len() <= 255);
    out.put_u8(s.len() as u8);
    out.put_slice(s);
}

/// Writes a long string. Longer than `u32::MAX` is truncated in its length
/// field; callers only pass lengths that fit.
#[inline]
pub(crate) fn put_longstr(out: &mut BytesMut, s: &[u8]) {
    out.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
    out.put_slice(s);
}

/// Writes a 4-byte big-endian length at `at`, back-patching a placeholder
/// written earlier into the same buffer.
#[inline]
pub(crate) fn patch_u32(out: &mut BytesMut, at: usize, v: u32) {
    if let Some(slot) = out.get_mut(at..at + 4) {
        slot.copy_from_slice(&v.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader over `inner`, set in a window with `pad` bytes before and
    /// after it (as a frame's payload sits inside a read chunk).
    fn padded(inner: &[u8], pad: usize) -> Bytes {
        let mut b = vec![0xEE; pad];
        b.extend_from_slice(inner);
        b.extend(std::iter::repeat_n(0xEE, pad));
        Bytes::from(b)
    }

    #[test]
    fn a_window_reads_only_its_bytes_and_counts_from_its_start() {
        let buf = padded(b"\x00\x07\x03abc\xFF", 5);
        let mut r = Reader::window(&buf, 5, 5 + 7);
        assert_eq!((r.pos(), r.remaining()), (0, 7));
        assert_eq!(r.short("a").unwrap(), 7);
        assert_eq!(r.pos(), 2);
        assert_eq!(r.shortstr("b").unwrap().as_bytes(), b"abc");
        assert_eq!((r.pos(), r.remaining()), (6, 1));
        assert_eq!(
            r.finish("m"),
            Err(DecodeError::TrailingBytes {
                what: "m",
                extra: 1
            })
        );
        assert_eq!(r.octet("c").unwrap(), 0xFF);
        assert_eq!(r.finish("m"), Ok(()));
        // The padding after the window is not readable, and a truncation is
        // reported at its offset within the window.
        assert_eq!(
            r.octet("d"),
            Err(DecodeError::Truncated {
                what: "d",
                offset: 7
            })
        );
        // A window clamped to the buffer.
        let r = Reader::window(&buf, 20, 40);
        assert_eq!((r.pos(), r.remaining()), (0, 0));
    }

    #[test]
    fn reads_are_big_endian_and_slices_are_the_bytes_at_the_position() {
        let buf = Bytes::from_static(
            b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B\x0C\x0D\x0E\x0F\x10\x00\x00\x00\x02hi",
        );
        let mut r = Reader::new(&buf);
        assert_eq!(r.octet("o").unwrap(), 0x01);
        assert_eq!(r.short("s").unwrap(), 0x0203);
        assert_eq!(r.long("l").unwrap(), 0x0405_0607);
        assert_eq!(r.longlong("ll").unwrap(), 0x0809_0A0B_0C0D_0E0F);
        assert_eq!(r.slice(1, "x").unwrap(), Bytes::from_static(b"\x10"));
        assert_eq!(r.slice(0, "x").unwrap(), Bytes::new());
        assert_eq!(r.longstr("ls").unwrap().as_bytes(), b"hi");
        assert_eq!(r.remaining(), 0);
        let mut r = Reader::new(&buf);
        r.slice(3, "x").unwrap();
        assert_eq!(r.slice(2, "x").unwrap(), Bytes::from_static(b"\x04\x05"));
        assert_eq!(
            r.longlong("ll"),
            Ok(0x0607_0809_0A0B_0C0D),
            "the position moved by exactly the slice"
        );
    }

    #[test]
    fn bits_pack_from_the_low_bit_eight_to_an_octet() {
        let pattern = [
            true, false, true, true, false, false, false, true, // 0x8D
            false, true, // 0x02
        ];
        let mut out = BytesMut::new();
        let mut w = Writer::new(&mut out);
        w.octet(0x11);
        for &b in &pattern {
            w.bit(b);
        }
        w.short(0x2233);
        w.bit(true);
        w.finish();
        assert_eq!(&out[..], b"\x11\x8D\x02\x22\x33\x01");

        let buf = out.freeze();
        let mut r = Reader::new(&buf);
        assert_eq!(r.octet("o").unwrap(), 0x11);
        for (i, &b) in pattern.iter().enumerate() {
            assert_eq!(r.bit("bit").unwrap(), b, "bit {i}");
        }
        assert_eq!(r.short("s").unwrap(), 0x2233);
        assert!(r.bit("bit").unwrap());
        assert_eq!(r.finish("m"), Ok(()));
    }

    #[test]
    fn patch_u32_writes_in_place_and_ignores_a_slot_past_the_end() {
        let mut out = BytesMut::from(&[0u8; 9][..]);
        patch_u32(&mut out, 3, 0x0102_0304);
        assert_eq!(&out[..], b"\x00\x00\x00\x01\x02\x03\x04\x00\x00");
        patch_u32(&mut out, 5, 0xFFFF_FFFF);
        assert_eq!(&out[..], b"\x00\x00\x00\x01\x02\xFF\xFF\xFF\xFF");
        patch_u32(&mut out, 6, 0);
        assert_eq!(&out[..], b"\x00\x00\x00\x01\x02\xFF\xFF\xFF\xFF");
    }
}
