//! Frames: the protocol header, and method, content-header, body and
//! heartbeat frames.
//!
//! Spec 4.2.3: a frame is type (octet), channel (short), size (long), a
//! payload of `size` octets, and the frame-end octet 0xCE. "If a peer
//! receives a frame with a type that is not one of these defined types, it
//! MUST treat this as a fatal protocol error", and a frame whose end octet
//! is wrong is a frame error (501).
//!
//! [`FrameDecoder`] splits complete frames off a `BytesMut`, checks the
//! announced size against frame_max as soon as the 7-byte header is in (so
//! nothing is buffered for an oversized frame), and returns `Ok(None)` when
//! more input is needed. The `encode_*` functions write whole frames
//! straight into the outgoing buffer, back-patching the size.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::method::Method;
use crate::primitives::{Reader, patch_u32};
use crate::properties::{BasicProperties, ContentHeader, encode_header_payload};

/// The protocol header a client sends first: `AMQP` 0 0 9 1.
pub const PROTOCOL_HEADER: [u8; 8] = *b"AMQP\x00\x00\x09\x01";
/// Frame type octet of a method frame.
pub const FRAME_METHOD: u8 = 1;
/// Frame type octet of a content header frame.
pub const FRAME_HEADER: u8 = 2;
/// Frame type octet of a content body frame.
pub const FRAME_BODY: u8 = 3;
/// Frame type octet of a heartbeat frame.
pub const FRAME_HEARTBEAT: u8 = 8;
/// The octet that ends every frame.
pub const FRAME_END: u8 = 0xCE;
/// The smallest frame_max a peer may set, and the limit before tuning.
pub const FRAME_MIN_SIZE: u32 = 4096;
/// Header (7) plus frame-end (1): what a frame adds around its payload.
pub const FRAME_OVERHEAD: usize = 8;

/// The four frame types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A method frame.
    Method,
    /// A content header frame.
    Header,
    /// A content body frame.
    Body,
    /// A heartbeat frame.
    Heartbeat,
}

impl FrameKind {
    /// The frame type octet.
    pub fn octet(self) -> u8 {
        match self {
            FrameKind::Method => FRAME_METHOD,
            FrameKind::Header => FRAME_HEADER,
            FrameKind::Body => FRAME_BODY,
            FrameKind::Heartbeat => FRAME_HEARTBEAT,
        }
    }

    /// The frame type for an octet.
    pub fn from_octet(b: u8) -> Result<Self, DecodeError> {
        Ok(match b {
            FRAME_METHOD => FrameKind::Method,
            FRAME_HEADER => FrameKind::Header,
            FRAME_BODY => FrameKind::Body,
            FRAME_HEARTBEAT => FrameKind::Heartbeat,
            frame_type => return Err(DecodeError::UnknownFrameType { frame_type }),
        })
    }
}

/// A frame split off the input: type, channel and payload (a slice of the
/// read buffer; the frame-end octet has been checked and dropped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    /// The frame type.
    pub kind: FrameKind,
    /// The channel number.
    pub channel: u16,
    /// The payload.
    pub payload: Bytes,
}

/// A frame with its payload decoded.
// Not boxed: decoding a header must not allocate.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A method.
    Method {
        /// Channel number.
        channel: u16,
        /// The method.
        method: Method,
    },
    /// A content header.
    Header {
        /// Channel number.
        channel: u16,
        /// The header.
        header: ContentHeader,
    },
    /// A body chunk.
    Body {
        /// Channel number.
        channel: u16,
        /// The bytes.
        body: Bytes,
    },
    /// A heartbeat.
    Heartbeat,
}

impl Frame {
    /// Decodes a raw frame's payload.
    pub fn decode(raw: &RawFrame) -> Result<Frame, DecodeError> {
        let channel = raw.channel;
        Ok(match raw.kind {
            FrameKind::Method => Frame::Method {
                channel,
                method: Method::decode(&raw.payload)?,
            },
            FrameKind::Header => Frame::Header {
                channel,
                header: ContentHeader::decode(&raw.payload)?,
            },
            FrameKind::Body => Frame::Body {
                channel,
                body: raw.payload.clone(),
            },
            FrameKind::Heartbeat => {
                if !raw.payload.is_empty() {
                    return Err(DecodeError::InvalidValue {
                        what: "heartbeat frame size",
                        value: raw.payload.len() as u64,
                    });
                }
                Frame::Heartbeat
            }
        })
    }

    /// Writes the whole frame.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Frame::Method { channel, method } => encode_method_frame(out, *channel, method),
            Frame::Header { channel, header } => encode_header_frame(
                out,
                *channel,
                header.class_id,
                header.body_size,
                &header.properties,
            ),
            Frame::Body { channel, body } => {
                out.put_u8(FRAME_BODY);
                out.put_u16(*channel);
                out.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
                out.put_slice(body);
                out.put_u8(FRAME_END);
            }
            Frame::Heartbeat => encode_heartbeat(out),
        }
    }
}

/// The 7-byte header of a frame, checked against the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHead {
    pub(crate) kind: FrameKind,
    pub(crate) channel: u16,
    /// Payload length.
    pub(crate) size: usize,
}

/// Reads and checks a frame header, if 7 bytes are there.
#[inline]
pub(crate) fn peek_head(buf: &[u8], frame_max: u32) -> Result<Option<FrameHead>, DecodeError> {
    let Some(h) = buf.first_chunk::<7>() else {
        return Ok(None);
    };
    let kind = FrameKind::from_octet(h[0])?;
    let channel = u16::from_be_bytes([h[1], h[2]]);
    let size = u32::from_be_bytes([h[3], h[4], h[5], h[6]]);
    // frame_max counts the whole frame, header and end octet included.
    let total = u64::from(size) + FRAME_OVERHEAD as u64;
    if total > u64::from(frame_max) {
        return Err(DecodeError::FrameTooLarge {
            size: total,
            max: frame_max,
        });
    }
    Ok(Some(FrameHead {
        kind,
        channel,
        size: size as usize,
    }))
}

/// Splits frames off a read buffer.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    frame_max: u32,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(FRAME_MIN_SIZE)
    }
}

impl FrameDecoder {
    /// A decoder that refuses frames larger than `frame_max` (whole frame,
    /// header and end octet included).
    pub fn new(frame_max: u32) -> Self {
        FrameDecoder { frame_max }
    }

    /// The limit in force.
    pub fn frame_max(&self) -> u32 {
        self.frame_max
    }

    /// Changes the limit (after tuning).
    pub fn set_frame_max(&mut self, frame_max: u32) {
        self.frame_max = frame_max;
    }

    /// Splits the next complete frame off `buf`.
    ///
    /// `Ok(None)`: the frame is not complete yet; `buf` is untouched. An
    /// oversized or unknown frame is reported from its 7-byte header alone.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<RawFrame>, DecodeError> {
        let Some(head) = peek_head(buf, self.frame_max)? else {
            return Ok(None);
        };
        let total = head.size + FRAME_OVERHEAD;
        let Some(&end) = buf.get(total - 1) else {
            return Ok(None);
        };
        if end != FRAME_END {
            return Err(DecodeError::FrameEnd {
                channel: head.channel,
                found: end,
            });
        }
        // Header and end octet are dropped by advancing, so the payload is
        // the only new handle on the buffer.
        bytes::Buf::advance(buf, 7);
        let payload = buf.split_to(head.size).freeze();
        bytes::Buf::advance(buf, 1);
        Ok(Some(RawFrame {
            kind: head.kind,
            channel: head.channel,
            payload,
        }))
    }
}

/// A frame inside a validated chunk: the payload is `start..end` of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameRef {
    pub(crate) kind: FrameKind,
    pub(crate) channel: u16,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// Iterates the frames of a chunk that [`FrameDecoder::complete_prefix`]
/// validated, without slicing each one off.
#[derive(Debug, Clone)]
pub(crate) struct ChunkFrames<'a> {
    chunk: &'a [u8],
    at: usize,
}

impl<'a> ChunkFrames<'a> {
    pub(crate) fn new(chunk: &'a [u8]) -> Self {
        ChunkFrames { chunk, at: 0 }
    }
}

impl Iterator for ChunkFrames<'_> {
    type Item = FrameRef;
    fn next(&mut self) -> Option<FrameRef> {
        let rest = self.chunk.get(self.at..)?;
        // The chunk was validated, so no limit applies here.
        let head = peek_head(rest, u32::MAX).ok()??;
        let start = self.at + 7;
        let end = start + head.size;
        self.at = end + 1;
        Some(FrameRef {
            kind: head.kind,
            channel: head.channel,
            start,
            end,
        })
    }
}

/// Checks a protocol header at the start of `buf` and consumes it.
/// `Ok(None)` until 8 bytes are in.
pub fn decode_protocol_header(buf: &mut BytesMut) -> Result<Option<[u8; 8]>, DecodeError> {
    let Some(h) = buf.first_chunk::<8>().copied() else {
        // A peer that sends something else is caught as soon as its first
        // bytes differ from "AMQP".
        let n = buf.len().min(4);
        if buf.get(..n) != PROTOCOL_HEADER.get(..n) {
            let mut found = [0u8; 8];
            found[..buf.len()].copy_from_slice(buf);
            return Err(DecodeError::BadProtocolHeader { found });
        }
        return Ok(None);
    };
    if h[..4] != PROTOCOL_HEADER[..4] {
        return Err(DecodeError::BadProtocolHeader { found: h });
    }
    let _ = buf.split_to(8);
    Ok(Some(h))
}

/// Writes a method frame, back-patching its size.
#[inline]
pub fn encode_method_frame(out: &mut BytesMut, channel: u16, method: &Method) {
    let start = begin_frame(out, FRAME_METHOD, channel);
    method.encode(out);
    end_frame(out, start);
}

/// Writes a content header frame.
#[inline]
pub fn encode_header_frame(
    out: &mut BytesMut,
    channel: u16,
    class_id: u16,
    body_size: u64,
    props: &BasicProperties,
) {
    let start = begin_frame(out, FRAME_HEADER, channel);
    encode_header_payload(out, class_id, body_size, props);
    end_frame(out, start);
}

/// Writes `body` as body frames of at most `frame_max` bytes each (whole
/// frame). An empty body writes no frame.
#[inline]
pub fn encode_body_frames(out: &mut BytesMut, channel: u16, body: &[u8], frame_max: u32) {
    let max_payload = (frame_max as usize).saturating_sub(FRAME_OVERHEAD).max(1);
    for chunk in body.chunks(max_payload) {
        out.reserve(chunk.len() + FRAME_OVERHEAD);
        out.put_u8(FRAME_BODY);
        out.put_u16(channel);
        out.put_u32(chunk.len() as u32);
        out.put_slice(chunk);
        out.put_u8(FRAME_END);
    }
}

// basic.publish, its content header and its body frames, written in one
// pass; it lives in `publish.rs` with the other outbound content.
pub use crate::publish::encode_publish;

/// Writes a heartbeat frame.
#[inline]
pub fn encode_heartbeat(out: &mut BytesMut) {
    out.put_slice(&[FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END]);
}

/// Starts a frame with a zero size; returns where the size goes.
#[inline]
pub(crate) fn begin_frame(out: &mut BytesMut, kind: u8, channel: u16) -> usize {
    out.put_u8(kind);
    out.put_u16(channel);
    let at = out.len();
    out.put_u32(0);
    at
}

/// Back-patches the size written by [`begin_frame`] and ends the frame.
#[inline]
pub(crate) fn end_frame(out: &mut BytesMut, size_at: usize) {
    let size = out.len() - size_at - 4;
    patch_u32(out, size_at, size as u32);
    out.put_u8(FRAME_END);
}

/// Decodes a method from a frame inside a chunk, in place.
#[inline]
pub(crate) fn method_in(chunk: &Bytes, f: &FrameRef) -> Result<Method, DecodeError> {
    let mut r = Reader::window(chunk, f.start, f.end);
    let m = Method::read(&mut r)?;
    r.finish(m.name())?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::{Method, basic};
    use crate::strings::ShortStr;

    fn sample() -> BytesMut {
        let mut out = BytesMut::new();
        encode_method_frame(
            &mut out,
            1,
            &Method::BasicDeliver(basic::Deliver {
                consumer_tag: ShortStr::from_static("ctag"),
                delivery_tag: 7,
                redelivered: true,
                exchange: ShortStr::from_static("ex"),
                routing_key: ShortStr::from_static("rk"),
            }),
        );
        encode_header_frame(&mut out, 1, 60, 5, &BasicProperties::default().persistent());
        encode_body_frames(&mut out, 1, b"hello", 4096);
        encode_heartbeat(&mut out);
        out
    }

    #[test]
    fn every_split_point_is_need_more_then_the_same_frames() {
        let full = sample();
        let mut expect = Vec::new();
        let mut d = FrameDecoder::new(4096);
        let mut b = full.clone();
        while let Some(f) = d.decode(&mut b).unwrap() {
            expect.push(f);
        }
        assert!(b.is_empty());
        assert_eq!(expect.len(), 4);
        assert_eq!(expect[2].payload, Bytes::from_static(b"hello"));
        for cut in 0..full.len() {
            let mut got = Vec::new();
            let mut b = BytesMut::from(&full[..cut]);
            while let Some(f) = d.decode(&mut b).unwrap() {
                got.push(f);
            }
            b.extend_from_slice(&full[cut..]);
            while let Some(f) = d.decode(&mut b).unwrap() {
                got.push(f);
            }
            assert_eq!(got, expect, "cut at {cut}");
        }
    }

    #[test]
    fn frame_end_type_and_size_are_checked() {
        let mut b = sample();
        let first_len = 7 + u32::from_be_bytes([b[3], b[4], b[5], b[6]]) as usize;
        b[first_len] = 0xAB;
        let e = FrameDecoder::new(4096).decode(&mut b).unwrap_err();
        assert_eq!(
            e,
            DecodeError::FrameEnd {
                channel: 1,
                found: 0xAB
            }
        );
        assert_eq!(e.reply_code(), crate::ReplyCode::FRAME_ERROR);

        let mut b = BytesMut::from(&[9u8, 0, 0, 0, 0, 0, 0][..]);
        assert_eq!(
            FrameDecoder::new(4096).decode(&mut b).unwrap_err(),
            DecodeError::UnknownFrameType { frame_type: 9 }
        );
        // Oversized: rejected from the header alone, before the payload is in.
        let mut b = BytesMut::from(&[3u8, 0, 1, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            FrameDecoder::new(131072).decode(&mut b).unwrap_err(),
            DecodeError::FrameTooLarge { max: 131072, .. }
        ));
        // Exactly frame_max is fine.
        let mut b = BytesMut::new();
        encode_body_frames(&mut b, 1, &[0u8; 4088], 4096);
        assert_eq!(b.len(), 4096);
        assert!(FrameDecoder::new(4096).decode(&mut b).unwrap().is_some());
    }

    #[test]
    fn bodies_split_by_frame_max() {
        let body = vec![7u8; 10_000];
        let mut out = BytesMut::new();
        encode_body_frames(&mut out, 3, &body, 4096);
        let mut d = FrameDecoder::new(4096);
        let mut sizes = Vec::new();
        let mut joined = Vec::new();
        while let Some(f) = d.decode(&mut out).unwrap() {
            assert_eq!(f.kind, FrameKind::Body);
            assert_eq!(f.channel, 3);
            sizes.push(f.payload.len());
            joined.extend_from_slice(&f.payload);
        }
        assert_eq!(sizes, [4088, 4088, 1824]);
        assert_eq!(joined, body);
    }

    #[test]
    fn chunk_walk_matches_the_decoder() {
        let full = sample();
        let kinds: Vec<FrameKind> = ChunkFrames::new(&full).map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                FrameKind::Method,
                FrameKind::Header,
                FrameKind::Body,
                FrameKind::Heartbeat
            ]
        );
    }

    #[test]
    fn frame_type_octets() {
        for (kind, octet) in [
            (FrameKind::Method, 1),
            (FrameKind::Header, 2),
            (FrameKind::Body, 3),
            (FrameKind::Heartbeat, 8),
        ] {
            assert_eq!(kind.octet(), octet);
            assert_eq!(FrameKind::from_octet(octet), Ok(kind));
        }
    }

    #[test]
    fn a_heartbeat_has_no_payload() {
        let raw = |payload: &'static [u8]| RawFrame {
            kind: FrameKind::Heartbeat,
            channel: 0,
            payload: Bytes::from_static(payload),
        };
        assert_eq!(Frame::decode(&raw(b"")), Ok(Frame::Heartbeat));
        assert_eq!(
            Frame::decode(&raw(b"x")),
            Err(DecodeError::InvalidValue {
                what: "heartbeat frame size",
                value: 1
            })
        );
    }

    #[test]
    fn the_limit_follows_tuning() {
        let mut frame = BytesMut::new();
        encode_body_frames(&mut frame, 1, &[1; 5000], 131_072);
        let mut d = FrameDecoder::new(4096);
        assert!(matches!(
            d.decode(&mut frame.clone()),
            Err(DecodeError::FrameTooLarge {
                size: 5008,
                max: 4096
            })
        ));
        d.set_frame_max(5008);
        assert_eq!(d.frame_max(), 5008);
        let f = d.decode(&mut frame).unwrap().unwrap();
        assert_eq!(f.payload.len(), 5000);
    }

    #[test]
    fn protocol_header() {
        let mut b = BytesMut::from(&b"AMQ"[..]);
        assert_eq!(decode_protocol_header(&mut b).unwrap(), None);
        b.extend_from_slice(b"P\x00\x00\x09\x01rest");
        assert_eq!(
            decode_protocol_header(&mut b).unwrap(),
            Some(PROTOCOL_HEADER)
        );
        assert_eq!(&b[..], b"rest");
        let mut b = BytesMut::from(&b"GET "[..]);
        assert!(decode_protocol_header(&mut b).is_err());
    }
}
