//! Content: a content method, then a header frame, then body frames
//! adding up to the header's body size (spec 4.2.6).
//!
//! Inbound there are two paths. The fast one: when the method, the header
//! and a one-frame body lie back to back in the read buffer (RabbitMQ
//! writes them so), the message is split off as one handle, checked in
//! place ([`Connection::take_group`]); until all of it is in, it waits in
//! the buffer. The general one assembles the pieces per channel, as
//! frames of other channels may come between them, copying only when the
//! body spans several frames. Outbound content is written by
//! [`crate::publish`], below the connection.

use bytes::{Bytes, BytesMut};

use super::channel::ChannelState;
use super::{ChannelId, Connection, Event, RequestId, Role, State};
use crate::error::{DecodeError, ProtocolError, ReplyCode};
use crate::frame::{FRAME_OVERHEAD, FrameHead, FrameKind, FrameRef, peek_head};
use crate::message::{
    BodyRepr, Head, Message, Raw, assemble, header_body_size, is_content_method, parse_head,
};
use crate::method::Method;
use crate::properties::BasicProperties;

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

/// Why [`Connection::scan_run`] stopped.
pub(super) enum Stop {
    /// The next frame is not all in.
    Incomplete,
    /// The next frame is malformed.
    Error(DecodeError),
    /// The next frame is a content method of this length.
    Content(usize),
}

/// What [`Connection::take_group`] did.
pub(super) enum Group {
    /// The group was taken as one message.
    Done,
    /// Part of the group is still to come.
    Incomplete,
    /// Not a one-frame group this side can take whole.
    No,
}

impl Connection {
    /// The length of the complete ordinary frames at the start of `buf`, up
    /// to the first content method, incomplete frame or bad frame.
    pub(super) fn scan_run(&self, buf: &[u8]) -> (usize, Stop) {
        let frame_max = self.decoder.frame_max();
        let mut at = 0usize;
        loop {
            let (head, end) = match frame_at(buf, at, frame_max) {
                Ok(Some(f)) => f,
                Ok(None) => return (at, Stop::Incomplete),
                Err(e) => return (at, Stop::Error(e)),
            };
            if head.kind == FrameKind::Method && head.channel != 0 {
                let payload = buf.get(at + 7..end - 1).unwrap_or_default();
                if ids(payload).is_some_and(|(c, m)| is_content_method(c, m)) {
                    return (at, Stop::Content(end - at));
                }
            }
            at = end;
        }
    }

    /// `buf` starts with a complete content method frame of `len` bytes:
    /// takes it with its header and one-frame body as one message when this
    /// side can (see [`Group`]). RabbitMQ writes a message's frames back to
    /// back, so this is the path every delivery that fits a frame takes.
    pub(super) fn take_group(
        &mut self,
        buf: &mut BytesMut,
        len: usize,
    ) -> Result<Group, ProtocolError> {
        let frame_max = self.decoder.frame_max();
        let channel = match buf.get(1..3) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => return Ok(Group::No),
        };
        let (h, h_end) = match frame_at(buf, len, frame_max) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(Group::Incomplete),
            Err(_) => return Ok(Group::No),
        };
        if h.kind != FrameKind::Header || h.channel != channel {
            return Ok(Group::No);
        }
        let header = buf.get(len + 7..h_end - 1).unwrap_or_default();
        let Ok(size) = header_body_size(header) else {
            return Ok(Group::No);
        };
        let end = if size == 0 {
            h_end
        } else {
            if size > u64::from(frame_max).saturating_sub(FRAME_OVERHEAD as u64) {
                return Ok(Group::No);
            }
            match frame_at(buf, h_end, frame_max) {
                Ok(Some((b, b_end)))
                    if b.kind == FrameKind::Body
                        && b.channel == channel
                        && b.size as u64 == size =>
                {
                    b_end
                }
                Ok(None) => return Ok(Group::Incomplete),
                _ => return Ok(Group::No),
            }
        };
        if self.state != State::Open || size > self.max_body_size() {
            return Ok(Group::No);
        }
        let payload = buf.get(7..len - 1).unwrap_or_default();
        let Some((class_id, method_id)) = ids(payload) else {
            return Ok(Group::No);
        };
        let client_side = matches!(method_id, 50 | 60 | 71);
        if (self.role() == Role::Client) != client_side {
            return Ok(Group::No);
        }
        let Some(ch) = self
            .channels
            .get_mut(usize::from(channel))
            .and_then(Option::as_mut)
        else {
            return Ok(Group::No);
        };
        if ch.state != ChannelState::Open || !matches!(ch.inbound, Inbound::Idle) {
            return Ok(Group::No);
        }
        if method_id == 71 && !matches!(ch.awaiting, Some((_, Method::BasicGet(_)))) {
            return Ok(Group::No);
        }
        let fail = |e: DecodeError| ProtocolError::from(e).with_method(class_id, method_id);
        // Offsets within the message, which starts at the method payload.
        let head = parse_head(method_id, payload.get(4..).unwrap_or_default(), 4).map_err(fail)?;
        BasicProperties::validate(header.get(12..).unwrap_or_default()).map_err(fail)?;
        let request = if method_id == 71 {
            ch.awaiting.take().map(|(id, _)| id)
        } else {
            None
        };
        let body = if size == 0 {
            BodyRepr::Owned(Bytes::new())
        } else {
            BodyRepr::InRaw {
                at: h_end as u32,
                len: size as u32,
            }
        };
        // The message's bytes run from the method payload to the end of
        // the last payload; offsets above are relative to that start.
        bytes::Buf::advance(buf, 7);
        let bytes = buf.split_to(end - 8).freeze();
        bytes::Buf::advance(buf, 1);
        let raw = Raw {
            bytes,
            props_at: (len + 12) as u32,
            props_end: (h_end - 8) as u32,
            body,
        };
        let message = assemble(channel, head, raw);
        self.push_message(message, request);
        if request.is_some() {
            self.pump(channel);
        }
        Ok(Group::Done)
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
        let total = received.saturating_add(len);
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
