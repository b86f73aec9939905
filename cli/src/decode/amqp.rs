//! `mq decode amqp`: the protocol header, then frames.
//!
//! Frames are split off by `amqp_proto`'s [`FrameDecoder`] and decoded by
//! [`Frame::decode`]; method arguments are then printed in wire order with
//! the spec's names, from the method catalog. Content headers show their
//! properties, bodies their bytes and how much of the announced body size
//! has arrived on that channel.

use std::collections::HashMap;

use amqp_proto::frame::{Frame, decode_protocol_header};
use amqp_proto::method::{CATALOG, MethodInfo, Sender};
use amqp_proto::table::{FieldArray, FieldTable, FieldValue};
use amqp_proto::{BasicProperties, FrameDecoder, PROTOCOL_HEADER, RawFrame};
use bytes::{Bytes, BytesMut};

use super::text::{Block, Hex, Payload, quote, seconds};
use super::{Sink, malformed, truncated};
use crate::cli::Direction;
use crate::error::CliError;

/// Decodes an AMQP byte stream.
pub(crate) fn decode(
    input: Bytes,
    direction: Option<Direction>,
    sink: &mut Sink<'_>,
) -> Result<(), CliError> {
    let total = input.len();
    let mut buf = BytesMut::from(&input[..]);
    let looks_like_header = !input.is_empty()
        && PROTOCOL_HEADER
            .get(..input.len().min(4))
            .is_some_and(|p| input.starts_with(p));
    let direction = direction.unwrap_or(if looks_like_header {
        Direction::Client
    } else {
        Direction::Server
    });
    if direction == Direction::Client && !looks_like_header {
        let shown = input.get(..input.len().min(8)).unwrap_or_default();
        return Err(malformed(
            "AMQP",
            0,
            format!(
                "client bytes start with the protocol header \"AMQP\" 0 0 9 1, not {}",
                quote(shown)
            ),
        ));
    }
    if looks_like_header {
        match decode_protocol_header(&mut buf) {
            Ok(Some(h)) => {
                let version = format!("{}-{}-{}", h[5], h[6], h[7]);
                let mut block = Block::new(0, format_args!("protocol header AMQP {version}"));
                if h[4] != 0 || version != "0-9-1" {
                    block.line(1, "not AMQP 0-9-1");
                }
                if direction == Direction::Server {
                    block.line(
                        1,
                        "a server sends this to refuse the client's protocol version, then closes",
                    );
                }
                sink.block(&block)?;
            }
            Ok(None) => {
                return Err(truncated(0, "the protocol header needs 8 bytes", total));
            }
            Err(e) => return Err(malformed("AMQP", 0, e.to_string())),
        }
    }
    let mut frames = FrameDecoder::new(u32::MAX);
    let mut content = Content::default();
    loop {
        let offset = total - buf.len();
        if buf.is_empty() {
            return Ok(());
        }
        match frames.decode(&mut buf) {
            Ok(Some(raw)) => {
                let block = frame_block(offset, &raw, direction, &mut content)?;
                sink.block(&block)?;
            }
            Ok(None) => {
                let left = buf.len();
                let need = match buf.get(3..7) {
                    Some(size) => {
                        let size = u32::from_be_bytes([size[0], size[1], size[2], size[3]]);
                        format!("the frame needs {} bytes", u64::from(size) + 8)
                    }
                    None => "a frame header needs 7 bytes".to_owned(),
                };
                return Err(truncated(offset, &need, left));
            }
            Err(e) => return Err(malformed("AMQP frame", offset, e.to_string())),
        }
    }
}

/// Content announced by a header and not yet all received, per channel.
#[derive(Debug, Default)]
struct Content {
    /// Channel -> (body size, bytes received).
    pending: HashMap<u16, (u64, u64)>,
}

/// The block for one frame.
fn frame_block(
    offset: usize,
    raw: &RawFrame,
    direction: Direction,
    content: &mut Content,
) -> Result<Block, CliError> {
    // The payload starts after the 7-byte frame header.
    let frame = Frame::decode(raw).map_err(|e| {
        malformed(
            "AMQP frame",
            offset,
            format!("(payload from byte {}) {e}", offset + 7),
        )
    })?;
    Ok(match frame {
        Frame::Method { channel, method } => {
            let info = CATALOG
                .iter()
                .find(|m| m.class_id == method.class_id() && m.method_id == method.method_id());
            let mut block = Block::new(
                offset,
                format_args!(
                    "channel {channel}: method {} ({}.{})",
                    method.name(),
                    method.class_id(),
                    method.method_id()
                ),
            );
            if let Some(info) = info {
                method_fields(&mut block, info, &raw.payload);
            }
            match (method.sender(), direction) {
                (Sender::Server, Direction::Client) => {
                    block.line(1, "(a server's method, in client bytes)")
                }
                (Sender::Client, Direction::Server) => {
                    block.line(1, "(a client's method, in server bytes)")
                }
                _ => {}
            }
            block
        }
        Frame::Header { channel, header } => {
            content.pending.insert(channel, (header.body_size, 0));
            let class = if header.class_id == 60 {
                " (basic)"
            } else {
                ""
            };
            let mut block = Block::new(
                offset,
                format_args!(
                    "channel {channel}: content header, class {}{class}, body size {}",
                    header.class_id, header.body_size
                ),
            );
            properties(&mut block, &header.properties);
            block
        }
        Frame::Body { channel, body } => {
            let progress = match content.pending.get_mut(&channel) {
                Some((size, seen)) => {
                    *seen = seen.saturating_add(body.len() as u64);
                    let p = format!(" ({} of {})", seen, size);
                    if *seen >= *size {
                        content.pending.remove(&channel);
                    }
                    p
                }
                None => " (no content header before it)".to_owned(),
            };
            let mut block = Block::new(
                offset,
                format_args!(
                    "channel {channel}: content body, {} bytes{progress}",
                    body.len()
                ),
            );
            block.line(1, Payload(&body));
            block
        }
        Frame::Heartbeat => Block::new(offset, format_args!("channel {}: heartbeat", raw.channel)),
    })
}

/// Reads a method's arguments again, in wire order, to print them with the
/// spec's names. [`Frame::decode`] has checked the payload already.
fn method_fields(block: &mut Block, info: &MethodInfo, payload: &Bytes) {
    let mut r = Fields {
        buf: payload,
        pos: 4,
        bits: 0,
        mask: 0,
    };
    let mut mechanism = String::new();
    for &(name, ty) in info.fields {
        let secret = matches!(
            (info.name, name),
            ("connection.start-ok" | "connection.secure-ok", "response")
                | ("connection.update-secret", "new-secret")
        );
        let shown = match ty {
            "bit" => r.bit().map(|b| b.to_string()),
            "octet" => r.take::<1>().map(|[b]| b.to_string()),
            "short" => r.take::<2>().map(|b| {
                let v = u16::from_be_bytes(b);
                match name {
                    "reply-code" => format!("{v}{}", reply_code_name(v)),
                    "class-id" => format!("{v}{}", class_name(v)),
                    _ => v.to_string(),
                }
            }),
            "long" => r.take::<4>().map(|b| u32::from_be_bytes(b).to_string()),
            "longlong" => r.take::<8>().map(|b| u64::from_be_bytes(b).to_string()),
            "shortstr" => r.shortstr().map(|s| {
                if name == "mechanism" {
                    mechanism = String::from_utf8_lossy(&s).into_owned();
                }
                quote(&s)
            }),
            "longstr" => r.longstr().map(|s| {
                if secret {
                    redact_sasl(&mechanism, &s)
                } else {
                    Payload(&s).to_string()
                }
            }),
            "table" => match r.longstr().map(FieldTable::decode) {
                Some(Ok(t)) => {
                    if t.is_empty() {
                        Some("{}".to_owned())
                    } else {
                        block.line(1, format_args!("{name}:"));
                        table(block, 2, &t);
                        continue;
                    }
                }
                _ => None,
            },
            other => Some(format!("(a field of type {other})")),
        };
        let shown = shown.unwrap_or_else(|| "(missing)".to_owned());
        block.field(1, name, shown);
    }
}

/// A cursor over a method payload that packs bits as the spec does.
struct Fields<'a> {
    buf: &'a Bytes,
    pos: usize,
    bits: u8,
    mask: u8,
}

impl Fields<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.mask = 0;
        let s = self.buf.get(self.pos..self.pos.checked_add(N)?)?;
        self.pos += N;
        s.try_into().ok()
    }

    fn slice(&mut self, n: usize) -> Option<Bytes> {
        self.mask = 0;
        let end = self.pos.checked_add(n)?;
        if end > self.buf.len() {
            return None;
        }
        let s = self.buf.slice(self.pos..end);
        self.pos = end;
        Some(s)
    }

    fn bit(&mut self) -> Option<bool> {
        if self.mask == 0 {
            let [b] = self.take::<1>()?;
            self.bits = b;
            self.mask = 1;
        }
        let v = self.bits & self.mask != 0;
        self.mask <<= 1;
        Some(v)
    }

    fn shortstr(&mut self) -> Option<Bytes> {
        let [len] = self.take::<1>()?;
        self.slice(usize::from(len))
    }

    fn longstr(&mut self) -> Option<Bytes> {
        let len = u32::from_be_bytes(self.take::<4>()?);
        self.slice(usize::try_from(len).ok()?)
    }
}

/// A SASL response with the password hidden: PLAIN's `authzid\0user\0pass`
/// keeps the user; anything else is hidden whole.
fn redact_sasl(mechanism: &str, response: &[u8]) -> String {
    if mechanism == "PLAIN" {
        let mut parts = response.splitn(3, |&b| b == 0);
        if let (Some(authz), Some(user), Some(_)) = (parts.next(), parts.next(), parts.next()) {
            let shown = format!(
                "{}\\0{}\\0***",
                String::from_utf8_lossy(authz).escape_debug(),
                String::from_utf8_lossy(user).escape_debug()
            );
            return format!("\"{shown}\" (password hidden)");
        }
    }
    format!("*** ({} bytes hidden)", response.len())
}

/// Prints a field table's entries at `depth`, in order.
fn table(block: &mut Block, depth: usize, t: &FieldTable) {
    for (key, value) in t.iter() {
        field_value(
            block,
            depth,
            &String::from_utf8_lossy(key.as_bytes()),
            &value,
        );
    }
}

fn array(block: &mut Block, depth: usize, a: &FieldArray) {
    for (i, value) in a.iter().enumerate() {
        field_value(block, depth, &format!("[{i}]"), &value);
    }
}

/// One field-table value: scalars on one line, tables and arrays nested.
fn field_value(block: &mut Block, depth: usize, name: &str, value: &FieldValue) {
    let scalar = match value {
        FieldValue::Bool(v) => v.to_string(),
        FieldValue::I8(v) => v.to_string(),
        FieldValue::U8(v) => v.to_string(),
        FieldValue::I16(v) => v.to_string(),
        FieldValue::U16(v) => v.to_string(),
        FieldValue::I32(v) => v.to_string(),
        FieldValue::U32(v) => v.to_string(),
        FieldValue::I64(v) => v.to_string(),
        FieldValue::F32(v) => v.to_string(),
        FieldValue::F64(v) => v.to_string(),
        FieldValue::Decimal { scale, value } => decimal(*scale, *value),
        FieldValue::LongStr(s) => Payload(s.as_bytes()).to_string(),
        FieldValue::Timestamp(t) => seconds(*t),
        FieldValue::Void => "void".to_owned(),
        FieldValue::Bytes(b) => format!("bytes 0x{}", Hex(b)),
        FieldValue::Table(t) if t.is_empty() => "{}".to_owned(),
        FieldValue::Array(a) if a.is_empty() => "[]".to_owned(),
        FieldValue::Table(t) => {
            block.line(depth, format_args!("{name}:"));
            table(block, depth + 1, t);
            return;
        }
        FieldValue::Array(a) => {
            block.line(depth, format_args!("{name}:"));
            array(block, depth + 1, a);
            return;
        }
    };
    block.field(depth, name, scalar);
}

/// `value / 10^scale` written out exactly.
fn decimal(scale: u8, value: u32) -> String {
    let digits = value.to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{int}.{frac}")
}

/// The basic properties that are present.
fn properties(block: &mut Block, p: &BasicProperties) {
    let mut s = |name: &str, v: &Option<amqp_proto::ShortStr>| {
        if let Some(v) = v {
            block.field(1, name, quote(v.as_bytes()));
        }
    };
    s("content-type", &p.content_type);
    s("content-encoding", &p.content_encoding);
    if let Some(h) = &p.headers {
        if h.is_empty() {
            block.field(1, "headers", "{}");
        } else {
            block.line(1, "headers:");
            table(block, 2, h);
        }
    }
    if let Some(v) = p.delivery_mode {
        let what = match v {
            1 => " (transient)",
            2 => " (persistent)",
            _ => "",
        };
        block.field(1, "delivery-mode", format_args!("{v}{what}"));
    }
    if let Some(v) = p.priority {
        block.field(1, "priority", v);
    }
    let mut s = |name: &str, v: &Option<amqp_proto::ShortStr>| {
        if let Some(v) = v {
            block.field(1, name, quote(v.as_bytes()));
        }
    };
    s("correlation-id", &p.correlation_id);
    s("reply-to", &p.reply_to);
    s("expiration", &p.expiration);
    s("message-id", &p.message_id);
    if let Some(t) = p.timestamp {
        block.field(1, "timestamp", seconds(t));
    }
    let mut s = |name: &str, v: &Option<amqp_proto::ShortStr>| {
        if let Some(v) = v {
            block.field(1, name, quote(v.as_bytes()));
        }
    };
    s("type", &p.kind);
    s("user-id", &p.user_id);
    s("app-id", &p.app_id);
    s("cluster-id", &p.cluster_id);
}

/// ` (NAME)` for a known reply code.
fn reply_code_name(code: u16) -> String {
    amqp_proto::ReplyCode(code)
        .name()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default()
}

/// ` (name)` for a known class id.
fn class_name(id: u16) -> &'static str {
    match id {
        10 => " (connection)",
        20 => " (channel)",
        30 => " (access)",
        40 => " (exchange)",
        50 => " (queue)",
        60 => " (basic)",
        85 => " (confirm)",
        90 => " (tx)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_secrets() {
        assert_eq!(decimal(0, 5), "5");
        assert_eq!(decimal(2, 12345), "123.45");
        assert_eq!(decimal(3, 5), "0.005");
        assert_eq!(
            redact_sasl("PLAIN", b"\0guest\0s3cret"),
            "\"\\0guest\\0***\" (password hidden)"
        );
        assert_eq!(redact_sasl("PLAIN", b"nonul"), "*** (5 bytes hidden)");
        assert_eq!(redact_sasl("AMQPLAIN", b"xyz"), "*** (3 bytes hidden)");
    }
}
