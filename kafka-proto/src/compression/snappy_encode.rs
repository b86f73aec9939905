//! A snappy raw-block compressor, tuned for Kafka record batches.
//!
//! The raw format (google/snappy's `format_description.txt`): the
//! uncompressed length as a little-endian base-128 varint, then elements,
//! each named by the low two bits of its tag byte:
//!
//! - `00` literal: the length minus one in the upper six bits when below 60,
//!   else 60..63 there and the length minus one in the next 1..4 bytes
//!   (little-endian), then the bytes themselves;
//! - `01` copy with a one-byte offset: length 4..11 (minus 4 in bits 2-4),
//!   offset below 2,048 (bits 8-10 in bits 5-7 of the tag, bits 0-7 in the
//!   next byte);
//! - `10` copy with a two-byte offset: length 1..64 (minus one in the upper
//!   six bits), offset in the next two bytes, little-endian;
//! - `11` copy with a four-byte offset, which this encoder never writes.
//!
//! The match finder is a single-entry hash table of four-byte sequences,
//! as in snappy itself, with additions that suit record batches, where
//! each record repeats most of the one before it (or one some records
//! back): the previous match's offset is tried first at every position
//! ("repeat offset"); when a match stops, the same offset is tried again
//! one to three bytes further on, so the match that resumes after a
//! changed digit or two is found without a table lookup (further than
//! three, the table's candidates make a smaller output: a changed amount
//! is better covered by a record further back than by five literal
//! digits); and a match found is extended backwards over the literal bytes
//! before it. Matches are extended eight bytes at a time (XOR and trailing
//! zeros). Where nothing matches, the search steps further the longer it
//! has failed (snappy's heuristic), so incompressible input costs little.
//!
//! Input is cut into fragments of at most 64 KiB, each compressed on its
//! own (no copy reaches across), so every offset fits the two-byte form.
//! The table holds positions counted from the first byte this encoder ever
//! saw, so it is reused across blocks and fragments without being cleared:
//! an entry older than the current fragment is simply out of range.

use super::{Compression, compress_error};
use crate::error::EncodeError;

/// The most bytes one pass of the match finder covers: offsets stay below
/// 65,536 so every copy has a two-byte offset at most.
const FRAGMENT: usize = 1 << 16;
/// Table sizes (entries): the small one for blocks up to 1 KiB, which a
/// batch of one or a few records is, the large one (16 KiB) for the rest.
const SMALL_TABLE: usize = 1 << 8;
const LARGE_TABLE: usize = 1 << 12;
/// Fragments shorter than this are written as one literal.
const MIN_MATCH_INPUT: usize = 16;
/// How far past the end of a match the same offset is tried again.
const PROBE: usize = 3;
/// Room past the worst-case output that fixed-width stores may touch.
const SLACK: usize = 16;
/// The multiplier of the four-byte hash (a large odd constant).
const HASH_MUL: u32 = 0x1E35_A7BD;

/// The most bytes [`Encoder::compress`] appends for `n` bytes of input
/// (snappy's own bound: `32 + n + n / 6`).
pub(super) fn max_compress_len(n: usize) -> usize {
    n.saturating_add(n / 6).saturating_add(32)
}

/// A snappy raw-block compressor; its hash table is allocated once and
/// reused by every block it compresses.
#[derive(Debug)]
pub(super) struct Encoder {
    /// Positions (counted from `0` = the first byte ever compressed, see
    /// `base`) of the last four-byte sequence seen with each hash. A fixed
    /// size per variant, so indexing by a hash needs no bounds check.
    table: Table,
    /// The position of the next fragment's first byte.
    base: u32,
}

#[derive(Debug)]
enum Table {
    Small(Box<[u32; SMALL_TABLE]>),
    Large(Box<[u32; LARGE_TABLE]>),
}

impl Encoder {
    /// An encoder whose table suits blocks of about `block_len` bytes.
    pub(super) fn new(block_len: usize) -> Encoder {
        let table = if block_len <= 1024 {
            Table::Small(Box::new([0; SMALL_TABLE]))
        } else {
            Table::Large(Box::new([0; LARGE_TABLE]))
        };
        Encoder { table, base: 0 }
    }

    /// Appends `input` as one raw snappy block to `out`, at most
    /// [`max_compress_len`]`(input.len())` bytes (`out` grows by 16 bytes
    /// more while the block is written, then is cut back).
    ///
    /// Fails only for input longer than `u32::MAX` bytes, which the format
    /// cannot describe.
    pub(super) fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), EncodeError> {
        let length = u32::try_from(input.len())
            .map_err(|_| compress_error(Compression::Snappy, "input longer than 4 GiB"))?;
        let at = out.len();
        // Elements are written into zeroed room: first a quarter of the
        // input (the bench batch compresses to a fifth), then, if that runs
        // short, the worst case plus the slack the fixed-width stores of
        // short elements write past an element's end.
        let full = at + max_compress_len(input.len()) + SLACK;
        out.resize(full.min(at + input.len() / 4 + 64), 0);
        let room = Room { at, full };
        let dst = &mut out[at..];
        let mut op = 0;
        let mut v = length;
        while v >= 0x80 {
            dst[op] = (v as u8) | 0x80;
            op += 1;
            v >>= 7;
        }
        dst[op] = v as u8;
        op += 1;
        for fragment in input.chunks(FRAGMENT) {
            op = self.fragment(fragment, out, room, op);
        }
        out.truncate(at + op);
        Ok(())
    }

    /// The position of `src`'s first byte in the table's numbering; clears
    /// the table when the numbering would run past `u32::MAX`.
    fn start_fragment(&mut self, len: usize) -> u32 {
        // len <= FRAGMENT, so this never truncates.
        let len = len as u32;
        if self.base.checked_add(len).is_none() {
            match &mut self.table {
                Table::Small(t) => t.fill(0),
                Table::Large(t) => t.fill(0),
            }
            self.base = 0;
        }
        let base = self.base;
        self.base += len;
        base
    }

    /// Compresses one fragment (at most [`FRAGMENT`] bytes) into elements
    /// at `dst[op..]`; returns the position after them.
    fn fragment(&mut self, src: &[u8], out: &mut Vec<u8>, room: Room, op: usize) -> usize {
        let base = self.start_fragment(src.len());
        match &mut self.table {
            Table::Small(t) => fragment(t, base, src, out, room, op),
            Table::Large(t) => fragment(t, base, src, out, room, op),
        }
    }
}

/// Compresses one fragment (at most [`FRAGMENT`] bytes, its first byte
/// numbered `base` in `table`) into elements at `out[room.at + op..]`,
/// growing `out` if needed; returns the `op` after them.
fn fragment<const N: usize>(
    table: &mut [u32; N],
    base: u32,
    src: &[u8],
    out: &mut Vec<u8>,
    room: Room,
    mut op: usize,
) -> usize {
    let n = src.len();
    let mut dst = &mut out[room.at..];
    let shift = 32 - N.trailing_zeros();
    let mut next_emit = 0;
    if n >= MIN_MATCH_INPUT {
        // The last position a search reads eight bytes from.
        let last = n - 8;
        let mut ip = 1;
        // The previous match's offset, 1 until there is one; always at
        // most `ip`, as a match at `p` with offset `o` has `p >= o`.
        let mut rep = 1;
        'search: loop {
            // Look for a match: the previous offset first, then the
            // table, stepping further the longer nothing is found.
            let mut skip = 32usize;
            let mut cand;
            loop {
                if ip > last {
                    break 'search;
                }
                let seq = load32(src, ip);
                cand = ip - rep;
                if load32(src, cand) == seq {
                    break;
                }
                let h = hash(seq, shift);
                let here = base + ip as u32;
                let entry = table[h];
                table[h] = here;
                // Entries from earlier fragments (or never written) are
                // further back than `ip`.
                let offset = here.wrapping_sub(entry) as usize;
                if offset != 0 && offset <= ip {
                    cand = ip - offset;
                    if load32(src, cand) == seq {
                        break;
                    }
                }
                ip += skip >> 5;
                skip += 1;
            }
            // Extend backwards over bytes not yet emitted.
            while ip > next_emit && cand > 0 && src[ip - 1] == src[cand - 1] {
                ip -= 1;
                cand -= 1;
            }
            // Emit the match, and while the same offset resumes within
            // `PROBE` bytes of where it stopped (a changed digit or
            // two), the few bytes before it and the next match.
            loop {
                let offset = ip - cand;
                let len = 4 + match_len(src, cand + 4, ip + 4);
                // Room for the literal, its header (at most 5 bytes), the
                // copies (3 bytes per 64 and at most 6 more) and the slack.
                if op + (ip - next_emit) + 3 * (len / 64) + 11 + SLACK > dst.len() {
                    dst = room.grow(out);
                }
                op = emit_literal(dst, op, src, next_emit, ip);
                op = emit_copy(dst, op, offset, len);
                rep = offset;
                ip += len;
                next_emit = ip;
                if ip + PROBE > last {
                    continue 'search;
                }
                // The byte at `ip` differs at this offset (or the
                // fragment ends); try the ones after it.
                let mut k = 1;
                loop {
                    if load32(src, ip + k) == load32(src, ip + k - rep) {
                        break;
                    }
                    if k == PROBE {
                        // Search on from `ip + 2`: a table candidate at
                        // the two bytes that differ pays off too rarely.
                        ip += 2;
                        continue 'search;
                    }
                    k += 1;
                }
                ip += k;
                cand = ip - rep;
            }
        }
    }
    if op + (n - next_emit) + 5 + SLACK > dst.len() {
        dst = room.grow(out);
    }
    emit_literal(dst, op, src, next_emit, n)
}

/// Where a block's output starts in the `Vec` it is appended to, and how
/// long the `Vec` needs to be for the worst case.
#[derive(Debug, Clone, Copy)]
struct Room {
    at: usize,
    full: usize,
}

impl Room {
    /// Zero-extends `out` to the worst case (which every element written
    /// fits in, see [`max_compress_len`]) and returns the block's part.
    #[cold]
    fn grow(self, out: &mut Vec<u8>) -> &mut [u8] {
        out.resize(self.full.max(out.len()), 0);
        &mut out[self.at..]
    }
}

/// The four bytes at `i`, little-endian.
#[inline(always)]
fn load32(s: &[u8], i: usize) -> u32 {
    let mut b = [0; 4];
    b.copy_from_slice(&s[i..i + 4]);
    u32::from_le_bytes(b)
}

/// The eight bytes at `i`, little-endian.
#[inline(always)]
fn load64(s: &[u8], i: usize) -> u64 {
    let mut b = [0; 8];
    b.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(b)
}

#[inline(always)]
fn hash(seq: u32, shift: u32) -> usize {
    (seq.wrapping_mul(HASH_MUL) >> shift) as usize
}

/// How many bytes from `b` on equal those from `a` on (`a < b`), up to the
/// end of `s`.
#[inline(always)]
fn match_len(s: &[u8], a: usize, b: usize) -> usize {
    let (Some(x), Some(y)) = (s.get(a..), s.get(b..)) else {
        return 0;
    };
    let mut len = 0;
    for (p, q) in x.chunks_exact(8).zip(y.chunks_exact(8)) {
        let d = load64(p, 0) ^ load64(q, 0);
        if d != 0 {
            return len + (d.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    len + x[len..]
        .iter()
        .zip(&y[len..])
        .take_while(|(p, q)| p == q)
        .count()
}

/// Writes a literal element holding `src[start..end]` (nothing if empty)
/// at `dst[op..]`; returns the position after it.
#[inline(always)]
fn emit_literal(dst: &mut [u8], mut op: usize, src: &[u8], start: usize, end: usize) -> usize {
    if start >= end {
        return op;
    }
    let len = end - start;
    let n = len - 1;
    if n < 60 {
        dst[op] = (n as u8) << 2;
        op += 1;
        // Short literals: copy a fixed 16 bytes (two moves, no call); the
        // excess lands in room the next element overwrites or the slack.
        if len <= 16 && start + 16 <= src.len() {
            dst[op..op + 16].copy_from_slice(&src[start..start + 16]);
            return op + len;
        }
    } else {
        // 1 to 4 length bytes, tagged 60 to 63.
        let count = if n < 1 << 8 {
            1
        } else if n < 1 << 16 {
            2
        } else if n < 1 << 24 {
            3
        } else {
            4
        };
        dst[op] = (59 + count as u8) << 2;
        dst[op + 1..op + 1 + count].copy_from_slice(&(n as u32).to_le_bytes()[..count]);
        op += 1 + count;
    }
    dst[op..op + len].copy_from_slice(&src[start..end]);
    op + len
}

/// Writes copy elements for `len >= 4` bytes at `offset` (1..65,535) back
/// at `dst[op..]`; returns the position after them.
#[inline(always)]
fn emit_copy(dst: &mut [u8], mut op: usize, offset: usize, mut len: usize) -> usize {
    let off = (offset as u32) << 8;
    // 64-byte pieces while at least 68 remain, so none left is below 4.
    while len >= 68 {
        put32(dst, op, off | (2 | (63 << 2)));
        op += 3;
        len -= 64;
    }
    if len > 64 {
        put32(dst, op, off | (2 | (59 << 2)));
        op += 3;
        len -= 60;
    }
    if len < 12 && offset < 2048 {
        // Offset bits 8-10 go to tag bits 5-7.
        let tag = 1 | (((len - 4) as u32) << 2) | ((offset as u32 >> 8) << 5);
        put32(dst, op, (offset as u32 & 0xFF) << 8 | tag);
        op + 2
    } else {
        put32(dst, op, off | (2 | (((len - 1) as u32) << 2)));
        op + 3
    }
}

/// Stores four bytes at `op`, little-endian (elements of 2 or 3 bytes are
/// written this way; the extra bytes are overwritten or slack).
#[inline(always)]
fn put32(dst: &mut [u8], op: usize, v: u32) {
    dst[op..op + 4].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
#[path = "snappy_encode_tests.rs"]
mod tests;
