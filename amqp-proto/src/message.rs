//! Messages as they arrive: deliveries, basic.get results, returns and
//! (server role) publishes.
//!
//! A message keeps the validated wire bytes it came in (one `Bytes` handle)
//! and the offsets of its fields, and reads them on demand. When RabbitMQ
//! sends a delivery (method, header and a one-frame body back to back, as
//! it always writes them), that handle is a slice of the read buffer: the
//! delivery costs one reference-count increment and no allocation, however
//! many properties and headers it has. Strings, properties and the body
//! come out as zero-copy slices when asked for. Everything was checked when
//! the message was decoded, so the accessors cannot fail.

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::error::{DecodeError, ReplyCode};
use crate::frame::{FRAME_END, FRAME_OVERHEAD, FrameKind, peek_head};
use crate::primitives::Reader;
use crate::properties::BasicProperties;
use crate::strings::ShortStr;

/// Where a short string sits in a message's bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Span {
    at: u32,
    len: u8,
}

#[derive(Clone)]
pub(crate) enum BodyRepr {
    /// In the message's own bytes.
    InRaw { at: u32, len: u32 },
    /// Assembled from several body frames.
    Owned(Bytes),
}

/// A message's bytes: the method's arguments and the properties (and, when
/// it came in one frame, the body), with offsets.
#[derive(Clone)]
pub(crate) struct Raw {
    pub(crate) bytes: Bytes,
    pub(crate) props_at: u32,
    pub(crate) props_end: u32,
    pub(crate) body: BodyRepr,
}

impl Raw {
    fn str(&self, s: Span) -> ShortStr {
        let at = s.at as usize;
        ShortStr::from_wire(self.bytes.slice(at..at + usize::from(s.len)))
    }

    fn properties(&self) -> BasicProperties {
        let mut r = Reader::window(&self.bytes, self.props_at as usize, self.props_end as usize);
        // Validated at decode time.
        BasicProperties::read(&mut r).unwrap_or_default()
    }

    fn body(&self) -> Bytes {
        match &self.body {
            BodyRepr::InRaw { at, len } => {
                let at = *at as usize;
                self.bytes.slice(at..at + *len as usize)
            }
            BodyRepr::Owned(b) => b.clone(),
        }
    }

    fn body_ref(&self) -> &[u8] {
        match &self.body {
            BodyRepr::InRaw { at, len } => {
                let at = *at as usize;
                self.bytes.get(at..at + *len as usize).unwrap_or_default()
            }
            BodyRepr::Owned(b) => b,
        }
    }
}

/// The arguments of a content method, as offsets into its bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Head {
    Deliver {
        consumer_tag: Span,
        delivery_tag: u64,
        redelivered: bool,
        exchange: Span,
        routing_key: Span,
    },
    Return {
        reply_code: u16,
        reply_text: Span,
        exchange: Span,
        routing_key: Span,
    },
    GetOk {
        delivery_tag: u64,
        redelivered: bool,
        exchange: Span,
        routing_key: Span,
        message_count: u32,
    },
    Publish {
        exchange: Span,
        routing_key: Span,
        mandatory: bool,
        immediate: bool,
    },
}

/// Reads method arguments from a slice, recording where strings are.
struct SpanReader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl SpanReader<'_> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], DecodeError> {
        let start = self.pos;
        let s = self
            .buf
            .get(start..start + n)
            .ok_or(DecodeError::Truncated {
                what,
                offset: start + 4,
            })?;
        self.pos += n;
        Ok(s)
    }
    fn octet(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or(0))
    }
    fn short(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let mut a = [0u8; 2];
        a.copy_from_slice(self.take(2, what)?);
        Ok(u16::from_be_bytes(a))
    }
    fn long(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4, what)?);
        Ok(u32::from_be_bytes(a))
    }
    fn longlong(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(a))
    }
    fn shortstr(&mut self, what: &'static str) -> Result<Span, DecodeError> {
        let len = self.octet(what)?;
        let at = self.base + self.pos;
        self.take(usize::from(len), what)?;
        Ok(Span { at: at as u32, len })
    }
    fn finish(&self, what: &'static str) -> Result<(), DecodeError> {
        match self.buf.len() - self.pos.min(self.buf.len()) {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes { what, extra }),
        }
    }
}

/// Whether class and method ids name a content method.
#[inline]
pub(crate) fn is_content_method(class_id: u16, method_id: u16) -> bool {
    class_id == 60 && matches!(method_id, 40 | 50 | 60 | 71)
}

/// Parses a content method's arguments (`args`, after the ids), recording
/// string offsets as `base +` their offset in `args`.
pub(crate) fn parse_head(method_id: u16, args: &[u8], base: usize) -> Result<Head, DecodeError> {
    let mut r = SpanReader {
        buf: args,
        pos: 0,
        base,
    };
    let head = match method_id {
        60 => {
            let consumer_tag = r.shortstr("consumer-tag")?;
            let delivery_tag = r.longlong("delivery-tag")?;
            let redelivered = r.octet("redelivered")? & 1 != 0;
            Head::Deliver {
                consumer_tag,
                delivery_tag,
                redelivered,
                exchange: r.shortstr("exchange")?,
                routing_key: r.shortstr("routing-key")?,
            }
        }
        50 => Head::Return {
            reply_code: r.short("reply-code")?,
            reply_text: r.shortstr("reply-text")?,
            exchange: r.shortstr("exchange")?,
            routing_key: r.shortstr("routing-key")?,
        },
        71 => {
            let delivery_tag = r.longlong("delivery-tag")?;
            let redelivered = r.octet("redelivered")? & 1 != 0;
            Head::GetOk {
                delivery_tag,
                redelivered,
                exchange: r.shortstr("exchange")?,
                routing_key: r.shortstr("routing-key")?,
                message_count: r.long("message-count")?,
            }
        }
        40 => {
            let _ticket = r.short("ticket")?;
            let exchange = r.shortstr("exchange")?;
            let routing_key = r.shortstr("routing-key")?;
            let bits = r.octet("mandatory")?;
            Head::Publish {
                exchange,
                routing_key,
                mandatory: bits & 1 != 0,
                immediate: bits & 2 != 0,
            }
        }
        method_id => {
            return Err(DecodeError::UnknownMethod {
                class_id: 60,
                method_id,
            });
        }
    };
    r.finish("content method")?;
    Ok(head)
}

macro_rules! accessors {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> ShortStr {
                self.raw.str(self.$name)
            }
        )*

        /// The message's properties, read from its header.
        pub fn properties(&self) -> BasicProperties {
            self.raw.properties()
        }

        /// The body: a slice of the read buffer when it came in one frame.
        pub fn body(&self) -> Bytes {
            self.raw.body()
        }

        /// The body, borrowed.
        pub fn body_ref(&self) -> &[u8] {
            self.raw.body_ref()
        }
    };
}

/// A message delivered to a consumer (basic.deliver).
#[derive(Clone)]
pub struct Delivery {
    /// The channel.
    pub channel: u16,
    /// The delivery tag, for acks.
    pub delivery_tag: u64,
    /// Delivered before.
    pub redelivered: bool,
    consumer_tag: Span,
    exchange: Span,
    routing_key: Span,
    raw: Raw,
}

impl Delivery {
    accessors! {
        /// The consumer.
        consumer_tag;
        /// The exchange it was published to.
        exchange;
        /// The routing key it was published with.
        routing_key;
    }
}

/// A message fetched with basic.get (basic.get-ok).
#[derive(Clone)]
pub struct GetMessage {
    /// The channel.
    pub channel: u16,
    /// The delivery tag, for acks.
    pub delivery_tag: u64,
    /// Delivered before.
    pub redelivered: bool,
    /// Messages left in the queue.
    pub message_count: u32,
    exchange: Span,
    routing_key: Span,
    raw: Raw,
}

impl GetMessage {
    accessors! {
        /// The exchange it was published to.
        exchange;
        /// The routing key it was published with.
        routing_key;
    }
}

/// A mandatory message the server could not route (basic.return).
#[derive(Clone)]
pub struct Returned {
    /// The channel.
    pub channel: u16,
    /// Why (312 NO_ROUTE, usually).
    pub reply_code: ReplyCode,
    reply_text: Span,
    exchange: Span,
    routing_key: Span,
    raw: Raw,
}

impl Returned {
    accessors! {
        /// The reply text.
        reply_text;
        /// The exchange it was published to.
        exchange;
        /// The routing key it was published with.
        routing_key;
    }
}

/// A message a client published (server role, basic.publish).
#[derive(Clone)]
pub struct Published {
    /// The channel.
    pub channel: u16,
    /// Return it if unroutable.
    pub mandatory: bool,
    /// The deprecated immediate flag.
    pub immediate: bool,
    exchange: Span,
    routing_key: Span,
    raw: Raw,
}

impl Published {
    accessors! {
        /// The exchange.
        exchange;
        /// The routing key.
        routing_key;
    }
}

/// A decoded message of any of the four kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// basic.deliver and its content.
    Delivery(Delivery),
    /// basic.get-ok and its content.
    Get(GetMessage),
    /// basic.return and its content.
    Returned(Returned),
    /// basic.publish and its content.
    Published(Published),
}

/// Decodes one whole message from the start of `buf`: a content method
/// frame, its header frame and (unless the body is empty) one body frame,
/// back to back on one channel, as RabbitMQ sends a message that fits a
/// frame. The message is split off `buf` as one handle; nothing else is
/// allocated or reference-counted.
///
/// `Ok(None)`: not all of it is in yet (`buf` is untouched). Frames that
/// are not such a group are an error; a connection handles those frame by
/// frame instead.
pub fn decode_message(buf: &mut BytesMut, frame_max: u32) -> Result<Option<Message>, DecodeError> {
    let Some(m) = peek_head(buf, frame_max)? else {
        return Ok(None);
    };
    let m_end = m.size + FRAME_OVERHEAD;
    let Some(h) = peek_head(buf.get(m_end..).unwrap_or_default(), frame_max)? else {
        return Ok(None);
    };
    let h_end = m_end + h.size + FRAME_OVERHEAD;
    let header = buf.get(m_end + 7..h_end - 1);
    let size = match header {
        Some(p) => header_body_size(p)?,
        None => return Ok(None),
    };
    let end = if size == 0 {
        h_end
    } else {
        let Some(b) = peek_head(buf.get(h_end..).unwrap_or_default(), frame_max)? else {
            return Ok(None);
        };
        if b.kind != FrameKind::Body || b.channel != m.channel || b.size as u64 != size {
            return Err(DecodeError::InvalidValue {
                what: "body frame for a one-frame message",
                value: b.size as u64,
            });
        }
        h_end + b.size + FRAME_OVERHEAD
    };
    if buf.len() < end {
        return Ok(None);
    }
    for (at, channel) in [(m_end, m.channel), (h_end, h.channel), (end, m.channel)] {
        match buf.get(at - 1) {
            Some(&FRAME_END) => {}
            Some(&found) => return Err(DecodeError::FrameEnd { channel, found }),
            None => return Ok(None),
        }
    }
    if m.kind != FrameKind::Method || h.kind != FrameKind::Header || h.channel != m.channel {
        return Err(DecodeError::InvalidValue {
            what: "frame sequence for a message",
            value: u64::from(m.kind.octet()),
        });
    }
    let payload = buf.get(7..m_end - 1).unwrap_or_default();
    let (class_id, method_id) = match payload.first_chunk::<4>() {
        Some(p) => (
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        ),
        None => {
            return Err(DecodeError::Truncated {
                what: "class-id",
                offset: 0,
            });
        }
    };
    if !is_content_method(class_id, method_id) {
        return Err(DecodeError::UnknownMethod {
            class_id,
            method_id,
        });
    }
    // Offsets count from the method payload, which the message starts at.
    let head = parse_head(method_id, payload.get(4..).unwrap_or_default(), 4)?;
    BasicProperties::validate(buf.get(m_end + 7 + 12..h_end - 1).unwrap_or_default())?;
    let body = if size == 0 {
        BodyRepr::Owned(Bytes::new())
    } else {
        BodyRepr::InRaw {
            at: (h_end + 7 - 7) as u32,
            len: size as u32,
        }
    };
    bytes::Buf::advance(buf, 7);
    let bytes = buf.split_to(end - 8).freeze();
    bytes::Buf::advance(buf, 1);
    let raw = Raw {
        bytes,
        props_at: (m_end + 12) as u32,
        props_end: (h_end - 8) as u32,
        body,
    };
    Ok(Some(assemble(m.channel, head, raw)))
}

/// The body size of a header payload, with class and weight checked.
pub(crate) fn header_body_size(payload: &[u8]) -> Result<u64, DecodeError> {
    let Some(h) = payload.first_chunk::<12>() else {
        return Err(DecodeError::Truncated {
            what: "content header",
            offset: 0,
        });
    };
    let class_id = u16::from_be_bytes([h[0], h[1]]);
    if class_id != crate::method::basic::CLASS_ID {
        return Err(DecodeError::InvalidValue {
            what: "content header class-id",
            value: u64::from(class_id),
        });
    }
    let weight = u16::from_be_bytes([h[2], h[3]]);
    if weight != 0 {
        // "The weight field is unused and must be zero."
        return Err(DecodeError::InvalidValue {
            what: "content header weight",
            value: u64::from(weight),
        });
    }
    Ok(u64::from_be_bytes([
        h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11],
    ]))
}

/// Builds the message for `head` over `raw`.
pub(crate) fn assemble(channel: u16, head: Head, raw: Raw) -> Message {
    match head {
        Head::Deliver {
            consumer_tag,
            delivery_tag,
            redelivered,
            exchange,
            routing_key,
        } => Message::Delivery(Delivery {
            channel,
            delivery_tag,
            redelivered,
            consumer_tag,
            exchange,
            routing_key,
            raw,
        }),
        Head::Return {
            reply_code,
            reply_text,
            exchange,
            routing_key,
        } => Message::Returned(Returned {
            channel,
            reply_code: ReplyCode(reply_code),
            reply_text,
            exchange,
            routing_key,
            raw,
        }),
        Head::GetOk {
            delivery_tag,
            redelivered,
            exchange,
            routing_key,
            message_count,
        } => Message::Get(GetMessage {
            channel,
            delivery_tag,
            redelivered,
            message_count,
            exchange,
            routing_key,
            raw,
        }),
        Head::Publish {
            exchange,
            routing_key,
            mandatory,
            immediate,
        } => Message::Published(Published {
            channel,
            mandatory,
            immediate,
            exchange,
            routing_key,
            raw,
        }),
    }
}

// Debug and equality go by what the accessors return, not by layout.
macro_rules! value_impls {
    ($t:ident { $($copy:ident),* } [$($s:ident),*]) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t))
                    $(.field(stringify!($copy), &self.$copy))*
                    $(.field(stringify!($s), &self.$s()))*
                    .field("properties", &self.properties())
                    .field("body", &self.body())
                    .finish()
            }
        }

        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                true $(&& self.$copy == other.$copy)*
                    $(&& self.raw.str(self.$s) == other.raw.str(other.$s))*
                    && self.properties() == other.properties()
                    && self.body_ref() == other.body_ref()
            }
        }

        impl Eq for $t {}
    };
}

value_impls!(Delivery { channel, delivery_tag, redelivered } [consumer_tag, exchange, routing_key]);
value_impls!(GetMessage { channel, delivery_tag, redelivered, message_count } [exchange, routing_key]);
value_impls!(Returned { channel, reply_code } [reply_text, exchange, routing_key]);
value_impls!(Published { channel, mandatory, immediate } [exchange, routing_key]);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{encode_body_frames, encode_header_frame, encode_method_frame};
    use crate::method::basic;
    use crate::table::FieldTable;
    use proptest::prelude::*;

    fn deliver(props: &BasicProperties, body: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        let d = basic::Deliver {
            consumer_tag: ShortStr::from_static("amq.ctag-1"),
            delivery_tag: 42,
            redelivered: true,
            exchange: ShortStr::from_static("orders"),
            routing_key: ShortStr::from_static("order.created"),
        };
        encode_method_frame(&mut out, 3, &d.into());
        encode_header_frame(&mut out, 3, 60, body.len() as u64, props);
        encode_body_frames(&mut out, 3, body, 131_072);
        out
    }

    proptest! {
        #[test]
        fn a_delivery_decodes_whole_and_need_more_before(
            props in crate::properties::tests::arb_properties(),
            body in prop::collection::vec(any::<u8>(), 0..300),
        ) {
            let full = deliver(&props, &body);
            for cut in 0..full.len() {
                let mut b = BytesMut::from(&full[..cut]);
                prop_assert_eq!(decode_message(&mut b, 131_072).unwrap(), None);
                prop_assert_eq!(b.len(), cut);
            }
            let mut b = full.clone();
            b.extend_from_slice(b"next");
            let Some(Message::Delivery(d)) = decode_message(&mut b, 131_072).unwrap() else {
                panic!("a delivery");
            };
            prop_assert_eq!(&b[..], b"next");
            prop_assert_eq!(d.channel, 3);
            prop_assert_eq!(d.delivery_tag, 42);
            prop_assert!(d.redelivered);
            prop_assert_eq!(d.consumer_tag(), "amq.ctag-1");
            prop_assert_eq!(d.exchange(), "orders");
            prop_assert_eq!(d.routing_key(), "order.created");
            prop_assert_eq!(d.properties(), props);
            prop_assert_eq!(d.body_ref(), &body[..]);
        }
    }

    #[test]
    fn every_content_method_decodes() {
        let props = BasicProperties::default()
            .with_headers(FieldTable::builder().insert("x-death", 1i64).build());
        let methods: Vec<crate::Method> = vec![
            basic::Return {
                reply_code: 312,
                reply_text: ShortStr::from_static("NO_ROUTE"),
                exchange: ShortStr::from_static("x"),
                routing_key: ShortStr::from_static("k"),
            }
            .into(),
            basic::GetOk {
                delivery_tag: 9,
                redelivered: false,
                exchange: ShortStr::from_static("x"),
                routing_key: ShortStr::from_static("k"),
                message_count: 77,
            }
            .into(),
            basic::Publish {
                exchange: ShortStr::from_static("x"),
                routing_key: ShortStr::from_static("k"),
                mandatory: true,
                ..Default::default()
            }
            .into(),
        ];
        for m in methods {
            let mut out = BytesMut::new();
            encode_method_frame(&mut out, 1, &m);
            encode_header_frame(&mut out, 1, 60, 2, &props);
            encode_body_frames(&mut out, 1, b"hi", 4096);
            let msg = decode_message(&mut out, 4096).unwrap().unwrap();
            match msg {
                Message::Returned(r) => {
                    assert_eq!(r.reply_code, ReplyCode::NO_ROUTE);
                    assert_eq!(r.reply_text(), "NO_ROUTE");
                    assert_eq!(r.routing_key(), "k");
                    assert_eq!(r.properties(), props);
                }
                Message::Get(g) => {
                    assert_eq!((g.delivery_tag, g.message_count), (9, 77));
                    assert_eq!(g.exchange(), "x");
                    assert_eq!(g.body(), Bytes::from_static(b"hi"));
                }
                Message::Published(p) => {
                    assert!(p.mandatory && !p.immediate);
                    assert_eq!(p.exchange(), "x");
                    assert_eq!(p.body_ref(), b"hi");
                }
                Message::Delivery(_) => panic!("not sent"),
            }
        }
    }

    #[test]
    fn malformed_groups_are_errors() {
        // Not a content method.
        let mut out = BytesMut::new();
        encode_method_frame(&mut out, 1, &basic::QosOk {}.into());
        encode_header_frame(&mut out, 1, 60, 0, &BasicProperties::default());
        assert!(decode_message(&mut out, 4096).is_err());
        // A body frame of the wrong size.
        let mut out = deliver(&BasicProperties::default(), b"abc");
        let n = out.len();
        out[n - 5] = 2; // body frame size 3 -> 2 (frame-end now misplaced)
        assert!(decode_message(&mut out, 131_072).is_err());
    }
}
