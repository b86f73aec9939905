//! Size-prefixed framing: every request and response is an `int32` size and
//! then that many bytes (header and body).

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::api::{AnyRequest, ApiKey, Message};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError};
use crate::header::{
    RequestHeader, ResponseHeader, request_header_version, response_header_version,
};

/// Splits size-prefixed frames off a read buffer.
///
/// The size is checked against `max_frame_size` before any room is reserved
/// for the frame, so a peer cannot make the reader allocate without bound.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: usize,
}

impl FrameDecoder {
    /// A decoder that refuses frames larger than `max_frame_size` bytes.
    pub fn new(max_frame_size: usize) -> Self {
        FrameDecoder { max_frame_size }
    }

    /// The largest frame accepted.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Splits the next complete frame (without its size prefix) off `buf`.
    ///
    /// `Ok(None)` means "need more": `buf` holds part of a frame (or
    /// nothing), and is left as it is, with room reserved for the rest once
    /// the size is known to be within the limit. A negative or oversized
    /// size is an error; nothing is consumed then.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, DecodeError> {
        let Some(prefix) = buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let size = i32::from_be_bytes(*prefix);
        let size = usize::try_from(size)
            .map_err(|_| DecodeError::new(DecodeErrorKind::NegativeFrameSize(size)))?;
        if size > self.max_frame_size {
            return Err(DecodeErrorKind::FrameTooLarge {
                size,
                max: self.max_frame_size,
            }
            .into());
        }
        let total = size + 4;
        if buf.len() < total {
            buf.reserve(total - buf.len());
            return Ok(None);
        }
        buf.advance(4);
        Ok(Some(buf.split_to(size).freeze()))
    }
}

/// Writes `f`'s output behind a 4-byte size prefix, back-patching the size;
/// on error `buf` is left as it was.
fn write_framed(
    buf: &mut BytesMut,
    f: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    buf.put_i32(0);
    if let Err(e) = f(buf) {
        buf.truncate(start);
        return Err(e);
    }
    let len = buf.len() - start - 4;
    let Ok(size) = i32::try_from(len) else {
        buf.truncate(start);
        return Err(EncodeError::TooLong { what: "frame", len });
    };
    buf[start..start + 4].copy_from_slice(&size.to_be_bytes());
    Ok(())
}

/// Appends a whole request frame: size, header (of the version the API
/// version calls for), body.
pub fn write_request_frame<M: Message>(
    buf: &mut BytesMut,
    correlation_id: i32,
    client_id: Option<&str>,
    version: i16,
    body: &M,
) -> Result<(), EncodeError> {
    write_framed(buf, |buf| {
        let header = RequestHeader {
            request_api_key: M::API_KEY,
            request_api_version: version,
            correlation_id,
            client_id: client_id.map(str::to_owned),
            unknown_tagged_fields: Vec::new(),
        };
        header.encode(request_header_version(M::API_KEY, version), buf)?;
        body.encode(version, buf)
    })
}

/// Appends a whole response frame, as a broker would send it (for tests
/// that play the broker).
pub fn write_response_frame<M: Message>(
    buf: &mut BytesMut,
    correlation_id: i32,
    version: i16,
    body: &M,
) -> Result<(), EncodeError> {
    write_framed(buf, |buf| {
        let header = ResponseHeader {
            correlation_id,
            unknown_tagged_fields: Vec::new(),
        };
        header.encode(response_header_version(M::API_KEY, version), buf)?;
        body.encode(version, buf)
    })
}

/// Reads a request frame's header and body, as a broker would (for tests
/// that play the broker).
pub fn read_request_frame(mut frame: Bytes) -> Result<(RequestHeader, AnyRequest), DecodeError> {
    let header = RequestHeader::decode_any(&mut frame)?;
    let body = AnyRequest::decode(
        header.request_api_key,
        header.request_api_version,
        &mut frame,
    )?;
    Ok((header, body))
}

/// The API key of a request frame, without decoding it.
pub fn peek_request_api_key(frame: &[u8]) -> Option<ApiKey> {
    frame
        .get(..2)
        .map(|b| ApiKey(i16::from_be_bytes([b[0], b[1]])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MetadataRequest;

    #[test]
    fn partial_frames_need_more() {
        let mut d = FrameDecoder::new(100);
        let mut buf = BytesMut::from(&[0u8, 0, 0][..]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&[5, 1, 2]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 6);
        buf.extend_from_slice(&[3, 4, 5, 0, 0]);
        assert_eq!(&d.decode(&mut buf).unwrap().unwrap()[..], &[1, 2, 3, 4, 5]);
        assert_eq!(&buf[..], &[0, 0]);
        assert_eq!(d.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn oversized_and_negative_sizes_are_refused_before_allocating() {
        let mut d = FrameDecoder::new(1024);
        let mut buf = BytesMut::from(&[0x7f, 0xff, 0xff, 0xff][..]);
        let cap = buf.capacity();
        let e = d.decode(&mut buf).unwrap_err();
        assert_eq!(
            e.kind,
            DecodeErrorKind::FrameTooLarge {
                size: 0x7fff_ffff,
                max: 1024
            }
        );
        assert_eq!(buf.capacity(), cap);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xfe][..]);
        assert_eq!(
            d.decode(&mut buf).unwrap_err().kind,
            DecodeErrorKind::NegativeFrameSize(-2)
        );
    }

    #[test]
    fn request_frames_round_trip() {
        let mut buf = BytesMut::new();
        let req = MetadataRequest {
            topics: None,
            ..Default::default()
        };
        write_request_frame(&mut buf, 42, Some("mq"), 12, &req).unwrap();
        let frame = FrameDecoder::new(1 << 20)
            .decode(&mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(peek_request_api_key(&frame), Some(ApiKey::METADATA));
        let (header, body) = read_request_frame(frame).unwrap();
        assert_eq!(header.correlation_id, 42);
        assert_eq!(header.client_id.as_deref(), Some("mq"));
        assert_eq!(body, AnyRequest::Metadata(req));
    }

    #[test]
    fn failed_encode_leaves_the_buffer_unchanged() {
        let mut buf = BytesMut::from(&b"keep"[..]);
        // A null topic list is not allowed in Metadata v0.
        let req = MetadataRequest {
            topics: None,
            ..Default::default()
        };
        assert!(matches!(
            write_request_frame(&mut buf, 1, None, 0, &req),
            Err(EncodeError::NullNotAllowed { .. })
        ));
        assert_eq!(&buf[..], b"keep");
    }
}
