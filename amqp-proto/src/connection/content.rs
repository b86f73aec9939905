//! Content: a content method, then a header frame, then body frames
//! adding up to the header's body size (spec 4.2.6).
//!
//! Inbound there are two paths. The fast one: when the method, the header
//! and a one-frame body lie back to back in the read chunk (RabbitMQ writes
//! them so), the message becomes one slice of the chunk, checked in place;
//! [`Connection::keep_groups_whole`] makes sure such a group is never split
//! across two reads. The general one assembles the pieces per channel, as
//! frames of other channels may come between them, copying only when the
//! body spans several frames. Outbound, a publish is written straight into
//! the transmit buffer with bodies split by frame_max.

use bytes::{BufMut, Bytes, BytesMut};

use super::channel::ChannelState;
use super::{ChannelId, Connection, Event, RequestId, Role, State};
use crate::error::{DecodeError, ProtocolError, ReplyCode};
use crate::frame::{
    FRAME_METHOD, FRAME_OVERHEAD, FrameHead, FrameKind, FrameRef, begin_frame, encode_body_frames,
    end_frame, peek_head,
};
use crate::message::{
    BodyRepr, Head, Message, Raw, assemble, header_body_size, is_content_method, parse_head,
};
use crate::method::{Method, basic};
use crate::properties::{BasicProperties, encode_header_payload};

/// A content method waiting for its header and body.
#[derive(Debug)]
pub(crate) struct Pending {
    head: Head,
    /// The method's arguments (after the ids); the head's offsets point here.
    args: Bytes,
    request: Option<RequestId>,
}

#[derive(Debug)]
pub(crate) enum Body {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

#[derive(Debug, Default)]
pub(crate) enum Inbound {
    #[default]
    Idle,
    /// The method came; the header is next.
    Header(Pending),
    /// The header came; body frames are next.
    Body {
        pending: Pending,
        /// The properties part of the header payload.
        props: Bytes,
        size: u64,
        received: u64,
        body: Body,
        /// Over the size limit: count the bytes, keep none.
        discard: bool,
    },
}

fn unexpected(channel: ChannelId, what: &str) -> ProtocolError {
    ProtocolError::connection(
        ReplyCode::UNEXPECTED_FRAME,
        format!("{what} on channel {channel} out of content sequence"),
    )
}

/// The class and method ids at the start of a payload.
fn ids(payload: &[u8]) -> Option<(u16, u16)> {
    let p = payload.first_chunk::<4>()?;
    Some((
        u16::from_be_bytes([p[0], p[1]]),
        u16::from_be_bytes([p[2], p[3]]),
    ))
}

/// The next complete frame at `at`: its header and where it ends.
fn frame_at(
    buf: &[u8],
    at: usize,
    frame_max: u32,
) -> Result<Option<(FrameHead, usize)>, DecodeError> {
    let rest = buf.get(at..).unwrap_or_default();
    let Some(head) = peek_head(rest, frame_max)? else {
        return Ok(None);
    };
    let end = at + head.size + FRAME_OVERHEAD;
    match buf.get(end - 1) {
        None => Ok(None),
        Some(&crate::frame::FRAME_END) => Ok(Some((head, end))),
        Some(&found) => Err(DecodeError::FrameEnd {
            channel: head.channel,
            found,
        }),
    }
}

enum Group {
    /// Not a fast-path group; handle frame by frame.
    No,
    /// The group is not all in yet.
    Incomplete,
    /// The group ends here.
    End(usize),
}

impl Connection {
    /// The length of the complete frames at the start of `buf`, keeping a
    /// content method, its header and its one-frame body together: if only
    /// part of such a group is in, it stays in `buf` for the next read.
    pub(super) fn keep_groups_whole(&self, buf: &[u8]) -> (usize, Option<DecodeError>) {
        let frame_max = self.decoder.frame_max();
        let mut at = 0usize;
        loop {
            let (head, end) = match frame_at(buf, at, frame_max) {
                Ok(Some(f)) => f,
                Ok(None) => return (at, None),
                Err(e) => return (at, Some(e)),
            };
            if head.kind == FrameKind::Method {
                let payload = buf.get(at + 7..end - 1).unwrap_or_default();
                if ids(payload).is_some_and(|(c, m)| is_content_method(c, m)) {
                    match self.group_end(buf, end, head.channel, frame_max) {
                        Group::Incomplete => return (at, None),
                        Group::End(e) => {
                            at = e;
                            continue;
                        }
                        Group::No => {}
                    }
                }
            }
            at = end;
        }
    }

    fn group_end(&self, buf: &[u8], from: usize, channel: u16, frame_max: u32) -> Group {
        let (h, h_end) = match frame_at(buf, from, frame_max) {
            Ok(Some(f)) => f,
            Ok(None) => return Group::Incomplete,
            Err(_) => return Group::No,
        };
        if h.kind != FrameKind::Header || h.channel != channel {
            return Group::No;
        }
        let payload = buf.get(from + 7..h_end - 1).unwrap_or_default();
        let Ok(size) = header_body_size(payload) else {
            return Group::No;
        };
        if size == 0 {
            return Group::End(h_end);
        }
        if size > u64::from(frame_max) - FRAME_OVERHEAD as u64 {
            return Group::No;
        }
        match frame_at(buf, h_end, frame_max) {
            Ok(Some((b, b_end))) if b.kind == FrameKind::Body && b.channel == channel => {
                Group::End(b_end)
            }
            Ok(None) => Group::Incomplete,
            _ => Group::No,
        }
    }

    /// The fast path: a content method whose header and one-frame body
    /// follow it in `chunk`. Returns how many more frames it consumed
    /// (after `f`), or `None` to handle `f` frame by frame.
    pub(super) fn fast_content(
        &mut self,
        chunk: &Bytes,
        f: &FrameRef,
        next: &mut crate::frame::ChunkFrames<'_>,
    ) -> Result<Option<usize>, ProtocolError> {
        if self.state != State::Open {
            return Ok(None);
        }
        let payload = chunk.get(f.start..f.end).unwrap_or_default();
        let Some((class_id, method_id)) = ids(payload) else {
            return Ok(None);
        };
        let client_side = matches!(method_id, 50 | 60 | 71);
        if (self.role() == Role::Client) != client_side {
            return Ok(None);
        }
        let Some(h) = next.next() else {
            return Ok(None);
        };
        if h.kind != FrameKind::Header || h.channel != f.channel {
            return Ok(None);
        }
        let header = chunk.get(h.start..h.end).unwrap_or_default();
        let Ok(size) = header_body_size(header) else {
            return Ok(None);
        };
        let (end, body, frames) = if size == 0 {
            (h.end, None, 1)
        } else {
            match next.next() {
                Some(b)
                    if b.kind == FrameKind::Body
                        && b.channel == f.channel
                        && (b.end - b.start) as u64 == size =>
                {
                    (b.end, Some(b), 2)
                }
                _ => return Ok(None),
            }
        };
        if size > self.max_body_size() {
            return Ok(None);
        }
        let channel = f.channel;
        let Some(ch) = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
        else {
            return Ok(None);
        };
        if ch.state != ChannelState::Open || !matches!(ch.inbound, Inbound::Idle) {
            return Ok(None);
        }
        let request = if method_id == 71 {
            match &ch.awaiting {
                Some((_, Method::BasicGet(_))) => ch.awaiting.take().map(|(id, _)| id),
                _ => return Ok(None),
            }
        } else {
            None
        };
        let fail = |e: DecodeError| ProtocolError::from(e).with_method(class_id, method_id);
        // Offsets within the message: it starts at the method payload.
        let args = payload.get(4..).unwrap_or_default();
        let head = parse_head(method_id, args, 4).map_err(fail)?;
        let props_at = h.start + 12 - f.start;
        BasicProperties::validate(header.get(12..).unwrap_or_default()).map_err(fail)?;
        let raw = Raw {
            bytes: chunk.slice(f.start..end),
            props_at: props_at as u32,
            props_end: (h.end - f.start) as u32,
            body: match body {
                Some(b) => BodyRepr::InRaw {
                    at: (b.start - f.start) as u32,
                    len: (b.end - b.start) as u32,
                },
                None => BodyRepr::Owned(Bytes::new()),
            },
        };
        let message = assemble(channel, head, raw);
        self.push_message(message, request);
        if request.is_some() {
            self.pump(channel);
        }
        Ok(Some(frames))
    }

    /// A content method arrived on the general path.
    pub(super) fn on_content_method(
        &mut self,
        channel: ChannelId,
        chunk: &Bytes,
        f: &FrameRef,
    ) -> Result<(), ProtocolError> {
        let payload = chunk.get(f.start..f.end).unwrap_or_default();
        let (class_id, method_id) = ids(payload).unwrap_or_default();
        let fail = |e: DecodeError| ProtocolError::from(e).with_method(class_id, method_id);
        let head = parse_head(method_id, payload.get(4..).unwrap_or_default(), 0).map_err(fail)?;
        let client_side = matches!(method_id, 50 | 60 | 71);
        if (self.role() == Role::Client) != client_side {
            let who = if client_side { "server" } else { "client" };
            return Err(ProtocolError::connection(
                ReplyCode::COMMAND_INVALID,
                format!("only the {who} sends basic method {method_id}"),
            )
            .with_method(class_id, method_id));
        }
        let Some(ch) = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
        else {
            return Err(ProtocolError::connection(
                ReplyCode::CHANNEL_ERROR,
                format!("content on channel {channel}, which is not open"),
            )
            .with_method(class_id, method_id));
        };
        if !matches!(ch.inbound, Inbound::Idle) {
            return Err(unexpected(channel, "content method").with_method(class_id, method_id));
        }
        let request = if method_id == 71 {
            match ch.awaiting.take() {
                Some((id, Method::BasicGet(_))) => Some(id),
                other => {
                    ch.awaiting = other;
                    // On a closing channel the get may have been dropped;
                    // the content is consumed and discarded.
                    if ch.state != ChannelState::Closing {
                        return Err(ProtocolError::connection(
                            ReplyCode::COMMAND_INVALID,
                            format!("basic.get-ok on channel {channel} without a basic.get"),
                        )
                        .with_method(class_id, method_id));
                    }
                    None
                }
            }
        } else {
            None
        };
        ch.inbound = Inbound::Header(Pending {
            head,
            args: chunk.slice(f.start + 4..f.end),
            request,
        });
        if request.is_some() {
            self.pump(channel);
        }
        Ok(())
    }

    /// A content header frame arrived on the general path.
    pub(super) fn on_header_frame(
        &mut self,
        channel: ChannelId,
        chunk: &Bytes,
        f: &FrameRef,
    ) -> Result<(), ProtocolError> {
        let max_body = self.max_body_size();
        let Some(ch) = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
        else {
            return Err(unexpected(channel, "content header"));
        };
        let pending = match std::mem::take(&mut ch.inbound) {
            Inbound::Header(p) => p,
            _ => return Err(unexpected(channel, "content header")),
        };
        let payload = chunk.get(f.start..f.end).unwrap_or_default();
        let size = header_body_size(payload).map_err(ProtocolError::from)?;
        BasicProperties::validate(payload.get(12..).unwrap_or_default())
            .map_err(ProtocolError::from)?;
        ch.inbound = Inbound::Body {
            pending,
            props: chunk.slice(f.start + 12..f.end),
            size,
            received: 0,
            body: Body::Empty,
            discard: size > max_body,
        };
        if size == 0 {
            self.complete_content(channel);
        }
        Ok(())
    }

    /// A body frame arrived on the general path.
    pub(super) fn on_body_frame(
        &mut self,
        channel: ChannelId,
        chunk: &Bytes,
        f: &FrameRef,
    ) -> Result<(), ProtocolError> {
        let Some(ch) = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
        else {
            return Err(unexpected(channel, "content body"));
        };
        let Inbound::Body {
            size,
            received,
            body,
            discard,
            ..
        } = &mut ch.inbound
        else {
            return Err(unexpected(channel, "content body"));
        };
        let len = (f.end - f.start) as u64;
        let total = *received + len;
        if total > *size {
            return Err(ProtocolError::connection(
                ReplyCode::FRAME_ERROR,
                format!("body frames on channel {channel} exceed the body size {size}"),
            ));
        }
        *received = total;
        if !*discard {
            let piece = chunk.get(f.start..f.end).unwrap_or_default();
            *body = match std::mem::replace(body, Body::Empty) {
                Body::Empty if total == *size => Body::One(chunk.slice(f.start..f.end)),
                Body::Empty => {
                    // Grow as frames arrive rather than trusting the size up
                    // front; the size was already checked against the limit.
                    let mut b = BytesMut::with_capacity(piece.len().saturating_mul(4));
                    b.extend_from_slice(piece);
                    Body::Many(b)
                }
                Body::One(first) => {
                    let mut b = BytesMut::with_capacity(first.len() + piece.len());
                    b.extend_from_slice(&first);
                    b.extend_from_slice(piece);
                    Body::Many(b)
                }
                Body::Many(mut b) => {
                    b.extend_from_slice(piece);
                    Body::Many(b)
                }
            };
        }
        if total == *size {
            self.complete_content(channel);
        }
        Ok(())
    }

    /// The last body byte is in: emit the message.
    fn complete_content(&mut self, channel: ChannelId) {
        let Some(ch) = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
        else {
            return;
        };
        let Inbound::Body {
            pending,
            props,
            body,
            discard,
            ..
        } = std::mem::take(&mut ch.inbound)
        else {
            return;
        };
        let closing = !ch.is_open();
        if discard {
            if !closing {
                self.close_channel_internal(
                    channel,
                    super::CloseReason::new(
                        ReplyCode::CONTENT_TOO_LARGE,
                        "message body larger than max_body_size",
                    ),
                );
            }
            return;
        }
        if closing {
            // After channel.close, content is discarded.
            return;
        }
        // The method arguments and the properties into one buffer, so the
        // message has one handle, as on the fast path.
        let mut joined = BytesMut::with_capacity(pending.args.len() + props.len());
        joined.extend_from_slice(&pending.args);
        joined.extend_from_slice(&props);
        let raw = Raw {
            bytes: joined.freeze(),
            props_at: pending.args.len() as u32,
            props_end: (pending.args.len() + props.len()) as u32,
            body: BodyRepr::Owned(match body {
                Body::Empty => Bytes::new(),
                Body::One(b) => b,
                Body::Many(b) => b.freeze(),
            }),
        };
        let message = assemble(channel, pending.head, raw);
        self.push_message(message, pending.request);
    }

    fn push_message(&mut self, message: Message, request: Option<RequestId>) {
        let event = match message {
            Message::Delivery(d) => Event::Delivery(d),
            Message::Returned(r) => Event::Returned(r),
            Message::Published(p) => Event::Published(p),
            Message::Get(message) => Event::GetOk {
                request: request.unwrap_or(RequestId(0)),
                message,
            },
        };
        self.events.push_back(event);
    }

    pub(super) fn max_body_size(&self) -> u64 {
        match &self.role {
            super::RoleConfig::Client(c) => c.max_body_size,
            super::RoleConfig::Server(c) => c.max_body_size,
        }
    }
}

/// Writes basic.publish, its header and its body frames.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn encode_publish(
    out: &mut BytesMut,
    channel: ChannelId,
    exchange: &[u8],
    routing_key: &[u8],
    mandatory: bool,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) {
    out.reserve(64 + exchange.len() + routing_key.len() + body.len());
    let at = begin_frame(out, FRAME_METHOD, channel);
    out.put_u16(basic::CLASS_ID);
    out.put_u16(basic::Publish::METHOD_ID);
    out.put_u16(0); // ticket
    crate::codec::put_shortstr(out, exchange);
    crate::codec::put_shortstr(out, routing_key);
    out.put_u8(u8::from(mandatory)); // immediate is never set: RabbitMQ refuses it
    end_frame(out, at);
    let at = begin_frame(out, crate::frame::FRAME_HEADER, channel);
    encode_header_payload(out, basic::CLASS_ID, body.len() as u64, properties);
    end_frame(out, at);
    encode_body_frames(out, channel, body, frame_max);
}

/// Writes a content method (deliver, return, get-ok, publish), its header
/// and its body frames.
pub(crate) fn encode_content(
    out: &mut BytesMut,
    channel: ChannelId,
    method: &Method,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) {
    crate::frame::encode_method_frame(out, channel, method);
    crate::frame::encode_header_frame(out, channel, basic::CLASS_ID, body.len() as u64, properties);
    encode_body_frames(out, channel, body, frame_max);
}
