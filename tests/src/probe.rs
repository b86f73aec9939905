//! Raw-byte probes that prove a broker speaks its real protocol.
//!
//! They are hand-rolled on purpose: they check the brokers, not our codecs.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The first frame a RabbitMQ broker sends after the protocol header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmqpStartFrame {
    /// Frame type octet (1 = method).
    pub frame_type: u8,
    /// Channel number.
    pub channel: u16,
    /// Method class id (10 = connection).
    pub class_id: u16,
    /// Method id (10 = start).
    pub method_id: u16,
    /// `version-major` and `version-minor` from connection.start.
    pub version: (u8, u8),
    /// The frame-end octet (must be 0xCE).
    pub frame_end: u8,
    /// The whole frame payload.
    pub payload: Vec<u8>,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

async fn io<T>(fut: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    timeout(IO_TIMEOUT, fut)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "broker did not answer"))?
}

/// Sends the AMQP 0-9-1 protocol header and reads the first frame back.
pub async fn amqp_connection_start(addr: SocketAddr) -> io::Result<AmqpStartFrame> {
    let mut s = io(TcpStream::connect(addr)).await?;
    io(s.write_all(b"AMQP\x00\x00\x09\x01")).await?;
    let mut header = [0u8; 7];
    io(s.read_exact(&mut header)).await?;
    let frame_type = header[0];
    let channel = u16::from_be_bytes([header[1], header[2]]);
    let size = u32::from_be_bytes([header[3], header[4], header[5], header[6]]) as usize;
    if size > 1 << 20 {
        return Err(bad(format!("frame size {size} is implausible")));
    }
    let mut payload = vec![0u8; size + 1];
    io(s.read_exact(&mut payload)).await?;
    let frame_end = payload.pop().unwrap_or(0);
    if payload.len() < 6 {
        return Err(bad("method frame too short"));
    }
    Ok(AmqpStartFrame {
        frame_type,
        channel,
        class_id: u16::from_be_bytes([payload[0], payload[1]]),
        method_id: u16::from_be_bytes([payload[2], payload[3]]),
        version: (payload[4], payload[5]),
        frame_end,
        payload,
    })
}

/// One entry of an ApiVersions response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRange {
    /// The API key.
    pub api_key: i16,
    /// Lowest supported version.
    pub min: i16,
    /// Highest supported version.
    pub max: i16,
}

/// A decoded ApiVersions v3 response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiVersionsReply {
    /// Correlation id echoed by the broker.
    pub correlation_id: i32,
    /// Top-level error code.
    pub error_code: i16,
    /// The supported APIs.
    pub apis: Vec<ApiRange>,
}

/// Sends an ApiVersions v3 request, as raw bytes, and decodes the reply.
pub async fn kafka_api_versions(
    addr: SocketAddr,
    correlation_id: i32,
) -> io::Result<ApiVersionsReply> {
    let mut body = Vec::new();
    // Request header v2: api_key, api_version, correlation_id, client_id
    // (an int16-length string even in flexible versions), tagged fields.
    body.extend_from_slice(&18i16.to_be_bytes());
    body.extend_from_slice(&3i16.to_be_bytes());
    body.extend_from_slice(&correlation_id.to_be_bytes());
    let client_id = b"mq-probe";
    body.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    body.extend_from_slice(client_id);
    body.push(0); // header tagged fields
    // ApiVersionsRequest v3: ClientSoftwareName, ClientSoftwareVersion
    // (compact strings: uvarint length + 1), tagged fields.
    for s in [&b"mq-probe"[..], &b"0.1.0"[..]] {
        body.push(s.len() as u8 + 1);
        body.extend_from_slice(s);
    }
    body.push(0);
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);

    let mut s = io(TcpStream::connect(addr)).await?;
    io(s.write_all(&frame)).await?;
    let mut len = [0u8; 4];
    io(s.read_exact(&mut len)).await?;
    let len = i32::from_be_bytes(len);
    if !(0..=1 << 20).contains(&len) {
        return Err(bad(format!("response size {len} is implausible")));
    }
    let mut resp = vec![0u8; len as usize];
    io(s.read_exact(&mut resp)).await?;
    decode_api_versions_v3(&resp)
}

/// Decodes an ApiVersions v3 response (response header v0, then the body).
fn decode_api_versions_v3(buf: &[u8]) -> io::Result<ApiVersionsReply> {
    let mut r = Reader { buf, pos: 0 };
    let correlation_id = r.i32()?;
    let error_code = r.i16()?;
    let n = r
        .uvarint()?
        .checked_sub(1)
        .ok_or_else(|| bad("null api array"))?;
    let mut apis = Vec::new();
    for _ in 0..n {
        let api = ApiRange {
            api_key: r.i16()?,
            min: r.i16()?,
            max: r.i16()?,
        };
        r.skip_tagged()?;
        apis.push(api);
    }
    Ok(ApiVersionsReply {
        correlation_id,
        error_code,
        apis,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> io::Result<&[u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| bad("response truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn i16(&mut self) -> io::Result<i16> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> io::Result<i32> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn uvarint(&mut self) -> io::Result<u32> {
        let mut v = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.take(1)?[0];
            v |= u32::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint too long"))
    }
    fn skip_tagged(&mut self) -> io::Result<()> {
        let n = self.uvarint()?;
        for _ in 0..n {
            let _tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.take(size)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_api_versions_v3() {
        // correlation 7, error 0, two APIs, throttle, no tags
        let bytes = [
            0, 0, 0, 7, 0, 0, 3, 0, 0, 0, 3, 0, 11, 0, 0, 1, 0, 4, 0, 17, 0, 0, 0, 0, 0, 0,
        ];
        let r = decode_api_versions_v3(&bytes).unwrap();
        assert_eq!(r.correlation_id, 7);
        assert_eq!(r.error_code, 0);
        assert_eq!(
            r.apis,
            vec![
                ApiRange {
                    api_key: 0,
                    min: 3,
                    max: 11
                },
                ApiRange {
                    api_key: 1,
                    min: 4,
                    max: 17
                }
            ]
        );
        assert!(decode_api_versions_v3(&bytes[..9]).is_err());
    }
}
