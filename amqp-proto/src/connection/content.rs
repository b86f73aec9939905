//! Content: a content method, then a header frame, then body frames
//! adding up to the header's body size (spec 4.2.6). Inbound, the pieces
//! are assembled per channel (frames of other channels may come between);
//! a body that arrives in one frame stays a zero-copy slice of the read
//! buffer. Outbound, a publish is written straight into the transmit buffer
//! with bodies split by frame_max.

use bytes::{BufMut, Bytes, BytesMut};

use super::{ChannelId, Connection, Delivery, Event, GetMessage, Published, RequestId, Returned};
use crate::error::{ProtocolError, ReplyCode};
use crate::frame::{FRAME_METHOD, FrameRef, begin_frame, encode_body_frames, end_frame};
use crate::method::basic;
use crate::properties::{BasicProperties, ContentHeader, encode_header_payload};

/// The method that opened a content sequence.
#[derive(Debug)]
pub(crate) enum ContentMethod {
    Deliver(basic::Deliver),
    Return(basic::Return),
    GetOk(basic::GetOk, RequestId),
    Publish(basic::Publish),
}

#[derive(Debug)]
pub(crate) enum Body {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

// Boxing the large variant would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Default)]
pub(crate) enum Inbound {
    #[default]
    Idle,
    /// The method came; the header is next.
    Header(ContentMethod),
    /// The header came; body frames are next.
    Body {
        method: ContentMethod,
        properties: BasicProperties,
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

impl Connection {
    /// A content header frame arrived.
    pub(super) fn on_header_frame(
        &mut self,
        channel: ChannelId,
        chunk: &Bytes,
        f: &FrameRef,
    ) -> Result<(), ProtocolError> {
        let max_body = self.max_body_size();
        let Some(ch) = self.channel_mut(channel) else {
            return Err(unexpected(channel, "content header"));
        };
        let method = match std::mem::take(&mut ch.inbound) {
            Inbound::Header(m) => m,
            _ => return Err(unexpected(channel, "content header")),
        };
        let header: ContentHeader =
            crate::frame::header_in(chunk, f).map_err(ProtocolError::from)?;
        let discard = header.body_size > max_body;
        ch.inbound = Inbound::Body {
            method,
            properties: header.properties,
            size: header.body_size,
            received: 0,
            body: Body::Empty,
            discard,
        };
        if header.body_size == 0 {
            self.complete_content(channel);
        }
        Ok(())
    }

    /// A body frame arrived.
    pub(super) fn on_body_frame(
        &mut self,
        channel: ChannelId,
        chunk: &Bytes,
        f: &FrameRef,
    ) -> Result<(), ProtocolError> {
        let Some(ch) = self.channel_mut(channel) else {
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
            let piece = chunk.as_ref().get(f.start..f.end).unwrap_or_default();
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
        let Some(ch) = self.channel_mut(channel) else {
            return;
        };
        let Inbound::Body {
            method,
            properties,
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
        let body = match body {
            Body::Empty => Bytes::new(),
            Body::One(b) => b,
            Body::Many(b) => b.freeze(),
        };
        let event = match method {
            ContentMethod::Deliver(d) => Event::Delivery(Delivery {
                channel,
                consumer_tag: d.consumer_tag,
                delivery_tag: d.delivery_tag,
                redelivered: d.redelivered,
                exchange: d.exchange,
                routing_key: d.routing_key,
                properties,
                body,
            }),
            ContentMethod::Return(r) => Event::Returned(Returned {
                channel,
                reply_code: ReplyCode(r.reply_code),
                reply_text: r.reply_text,
                exchange: r.exchange,
                routing_key: r.routing_key,
                properties,
                body,
            }),
            ContentMethod::GetOk(g, request) => Event::GetOk {
                request,
                message: GetMessage {
                    channel,
                    delivery_tag: g.delivery_tag,
                    redelivered: g.redelivered,
                    exchange: g.exchange,
                    routing_key: g.routing_key,
                    message_count: g.message_count,
                    properties,
                    body,
                },
            },
            ContentMethod::Publish(method) => Event::Published(Published {
                channel,
                method,
                properties,
                body,
            }),
        };
        self.events.push_back(event);
    }

    fn max_body_size(&self) -> u64 {
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
    method: &crate::method::Method,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) {
    crate::frame::encode_method_frame(out, channel, method);
    crate::frame::encode_header_frame(out, channel, basic::CLASS_ID, body.len() as u64, properties);
    encode_body_frames(out, channel, body, frame_max);
}
