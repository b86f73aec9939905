//! The content header frame and the 14 basic properties.
//!
//! Spec 4.2.6.1: the header payload is class-id (short), weight (short,
//! unused, must be zero), body-size (longlong), property flags (shorts, bit
//! 15 of the first word for the first property; bit 0 set means another
//! flags word follows), then the present properties in order.

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::DecodeError;
use crate::primitives::{Reader, put_shortstr};
use crate::strings::ShortStr;
use crate::table::FieldTable;

/// The properties of the `basic` class, the only content class.
///
/// Every field is optional; absent ones are not sent. Strings are slices of
/// the header frame they were read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BasicProperties {
    /// MIME content type.
    pub content_type: Option<ShortStr>,
    /// MIME content encoding.
    pub content_encoding: Option<ShortStr>,
    /// Application headers.
    pub headers: Option<FieldTable>,
    /// 1 = non-persistent, 2 = persistent.
    pub delivery_mode: Option<u8>,
    /// Priority, 0 to 9.
    pub priority: Option<u8>,
    /// Application correlation identifier.
    pub correlation_id: Option<ShortStr>,
    /// Address to reply to.
    pub reply_to: Option<ShortStr>,
    /// Expiration (per-message TTL in milliseconds, as a string).
    pub expiration: Option<ShortStr>,
    /// Application message identifier.
    pub message_id: Option<ShortStr>,
    /// Message timestamp, seconds since the epoch.
    pub timestamp: Option<u64>,
    /// Message type name (the spec's `type`).
    pub kind: Option<ShortStr>,
    /// Creating user id (RabbitMQ validates it against the connection's user).
    pub user_id: Option<ShortStr>,
    /// Creating application id.
    pub app_id: Option<ShortStr>,
    /// Deprecated cluster id.
    pub cluster_id: Option<ShortStr>,
}

// Flag bits, from bit 15 down, in spec order.
const CONTENT_TYPE: u16 = 1 << 15;
const CONTENT_ENCODING: u16 = 1 << 14;
const HEADERS: u16 = 1 << 13;
const DELIVERY_MODE: u16 = 1 << 12;
const PRIORITY: u16 = 1 << 11;
const CORRELATION_ID: u16 = 1 << 10;
const REPLY_TO: u16 = 1 << 9;
const EXPIRATION: u16 = 1 << 8;
const MESSAGE_ID: u16 = 1 << 7;
const TIMESTAMP: u16 = 1 << 6;
const TYPE: u16 = 1 << 5;
const USER_ID: u16 = 1 << 4;
const APP_ID: u16 = 1 << 3;
const CLUSTER_ID: u16 = 1 << 2;
const CONTINUATION: u16 = 1;
const KNOWN: u16 = !0b11;

/// The property names in flag order (bit 15 first), as the spec names them.
pub const PROPERTY_NAMES: [(&str, &str); 14] = [
    ("content-type", "shortstr"),
    ("content-encoding", "shortstr"),
    ("headers", "table"),
    ("delivery-mode", "octet"),
    ("priority", "octet"),
    ("correlation-id", "shortstr"),
    ("reply-to", "shortstr"),
    ("expiration", "shortstr"),
    ("message-id", "shortstr"),
    ("timestamp", "timestamp"),
    ("type", "shortstr"),
    ("user-id", "shortstr"),
    ("app-id", "shortstr"),
    ("cluster-id", "shortstr"),
];

fn short_prop(v: &str) -> ShortStr {
    ShortStr::try_from(v).unwrap_or_else(|_| {
        // Cut at the last char boundary that fits.
        let mut end = ShortStr::MAX_LEN;
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        ShortStr::try_from(&v[..end]).unwrap_or_default()
    })
}

impl BasicProperties {
    /// The property flags word for the present fields.
    pub fn flags(&self) -> u16 {
        let mut f = 0;
        let mut set = |present: bool, bit: u16| {
            if present {
                f |= bit
            }
        };
        set(self.content_type.is_some(), CONTENT_TYPE);
        set(self.content_encoding.is_some(), CONTENT_ENCODING);
        set(self.headers.is_some(), HEADERS);
        set(self.delivery_mode.is_some(), DELIVERY_MODE);
        set(self.priority.is_some(), PRIORITY);
        set(self.correlation_id.is_some(), CORRELATION_ID);
        set(self.reply_to.is_some(), REPLY_TO);
        set(self.expiration.is_some(), EXPIRATION);
        set(self.message_id.is_some(), MESSAGE_ID);
        set(self.timestamp.is_some(), TIMESTAMP);
        set(self.kind.is_some(), TYPE);
        set(self.user_id.is_some(), USER_ID);
        set(self.app_id.is_some(), APP_ID);
        set(self.cluster_id.is_some(), CLUSTER_ID);
        f
    }

    /// Writes the flags word and the present properties.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u16(self.flags());
        let s = |out: &mut BytesMut, v: &Option<ShortStr>| {
            if let Some(v) = v {
                put_shortstr(out, v.as_bytes());
            }
        };
        s(out, &self.content_type);
        s(out, &self.content_encoding);
        if let Some(h) = &self.headers {
            h.encode(out);
        }
        if let Some(v) = self.delivery_mode {
            out.put_u8(v);
        }
        if let Some(v) = self.priority {
            out.put_u8(v);
        }
        s(out, &self.correlation_id);
        s(out, &self.reply_to);
        s(out, &self.expiration);
        s(out, &self.message_id);
        if let Some(v) = self.timestamp {
            out.put_u64(v);
        }
        s(out, &self.kind);
        s(out, &self.user_id);
        s(out, &self.app_id);
        s(out, &self.cluster_id);
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let flags = r.short("property flags")?;
        if flags & CONTINUATION != 0 {
            // More flag words follow. Basic has only 14 properties, so any
            // bit set in them names a property that does not exist.
            loop {
                let more = r.short("property flags")?;
                if more & !CONTINUATION != 0 {
                    return Err(DecodeError::InvalidValue {
                        what: "property flags",
                        value: u64::from(more),
                    });
                }
                if more & CONTINUATION == 0 {
                    break;
                }
            }
        }
        if flags & !KNOWN & !CONTINUATION != 0 {
            return Err(DecodeError::InvalidValue {
                what: "property flags",
                value: u64::from(flags),
            });
        }
        let mut p = BasicProperties::default();
        if flags == 0 {
            return Ok(p);
        }
        macro_rules! opt {
            ($bit:expr, $read:expr) => {
                if flags & $bit != 0 { Some($read) } else { None }
            };
        }
        p.content_type = opt!(CONTENT_TYPE, r.shortstr("content-type")?);
        p.content_encoding = opt!(CONTENT_ENCODING, r.shortstr("content-encoding")?);
        p.headers = opt!(HEADERS, r.table("headers")?);
        p.delivery_mode = opt!(DELIVERY_MODE, r.octet("delivery-mode")?);
        p.priority = opt!(PRIORITY, r.octet("priority")?);
        p.correlation_id = opt!(CORRELATION_ID, r.shortstr("correlation-id")?);
        p.reply_to = opt!(REPLY_TO, r.shortstr("reply-to")?);
        p.expiration = opt!(EXPIRATION, r.shortstr("expiration")?);
        p.message_id = opt!(MESSAGE_ID, r.shortstr("message-id")?);
        p.timestamp = opt!(TIMESTAMP, r.longlong("timestamp")?);
        p.kind = opt!(TYPE, r.shortstr("type")?);
        p.user_id = opt!(USER_ID, r.shortstr("user-id")?);
        p.app_id = opt!(APP_ID, r.shortstr("app-id")?);
        p.cluster_id = opt!(CLUSTER_ID, r.shortstr("cluster-id")?);
        Ok(p)
    }

    /// Checks encoded properties (flags and values) without building them:
    /// no allocation, no reference counts. What passes reads back with
    /// [`BasicProperties::read`].
    pub(crate) fn validate(buf: &[u8]) -> Result<(), DecodeError> {
        let mut pos = 0usize;
        let mut take = |n: usize, what: &'static str| -> Result<&[u8], DecodeError> {
            let s = buf.get(pos..pos + n).ok_or(DecodeError::Truncated {
                what,
                offset: pos + 12,
            })?;
            pos += n;
            Ok(s)
        };
        let word = |s: &[u8]| {
            u16::from_be_bytes([
                s.first().copied().unwrap_or(0),
                s.get(1).copied().unwrap_or(0),
            ])
        };
        let flags = word(take(2, "property flags")?);
        if flags & CONTINUATION != 0 {
            loop {
                let more = word(take(2, "property flags")?);
                if more & !CONTINUATION != 0 {
                    return Err(DecodeError::InvalidValue {
                        what: "property flags",
                        value: u64::from(more),
                    });
                }
                if more & CONTINUATION == 0 {
                    break;
                }
            }
        }
        if flags & !KNOWN & !CONTINUATION != 0 {
            return Err(DecodeError::InvalidValue {
                what: "property flags",
                value: u64::from(flags),
            });
        }
        let mut short = |bit: u16, what: &'static str| -> Result<(), DecodeError> {
            if flags & bit != 0 {
                let len = take(1, what)?.first().copied().unwrap_or(0);
                take(usize::from(len), what)?;
            }
            Ok(())
        };
        short(CONTENT_TYPE, "content-type")?;
        short(CONTENT_ENCODING, "content-encoding")?;
        if flags & HEADERS != 0 {
            let mut l = [0u8; 4];
            l.copy_from_slice(take(4, "headers")?);
            let len = u32::from_be_bytes(l) as usize;
            crate::table::validate_table(take(len, "headers")?, 0)?;
        }
        if flags & DELIVERY_MODE != 0 {
            take(1, "delivery-mode")?;
        }
        if flags & PRIORITY != 0 {
            take(1, "priority")?;
        }
        let mut short = |bit: u16, what: &'static str| -> Result<(), DecodeError> {
            if flags & bit != 0 {
                let len = take(1, what)?.first().copied().unwrap_or(0);
                take(usize::from(len), what)?;
            }
            Ok(())
        };
        short(CORRELATION_ID, "correlation-id")?;
        short(REPLY_TO, "reply-to")?;
        short(EXPIRATION, "expiration")?;
        short(MESSAGE_ID, "message-id")?;
        if flags & TIMESTAMP != 0 {
            take(8, "timestamp")?;
        }
        let mut short = |bit: u16, what: &'static str| -> Result<(), DecodeError> {
            if flags & bit != 0 {
                let len = take(1, what)?.first().copied().unwrap_or(0);
                take(usize::from(len), what)?;
            }
            Ok(())
        };
        short(TYPE, "type")?;
        short(USER_ID, "user-id")?;
        short(APP_ID, "app-id")?;
        short(CLUSTER_ID, "cluster-id")?;
        match buf.len() - pos.min(buf.len()) {
            0 => Ok(()),
            extra => Err(DecodeError::TrailingBytes {
                what: "basic properties",
                extra,
            }),
        }
    }

    /// Decodes the flags and properties from the rest of a header payload.
    pub fn decode(buf: &Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let p = Self::read(&mut r)?;
        r.finish("basic properties")?;
        Ok(p)
    }

    /// Sets delivery mode 2: the broker writes the message to disk in a
    /// durable queue.
    pub fn persistent(mut self) -> Self {
        self.delivery_mode = Some(2);
        self
    }

    /// Sets the content type (cut at 255 bytes).
    pub fn with_content_type(mut self, v: &str) -> Self {
        self.content_type = Some(short_prop(v));
        self
    }

    /// Sets the content encoding (cut at 255 bytes).
    pub fn with_content_encoding(mut self, v: &str) -> Self {
        self.content_encoding = Some(short_prop(v));
        self
    }

    /// Sets the application headers.
    pub fn with_headers(mut self, v: FieldTable) -> Self {
        self.headers = Some(v);
        self
    }

    /// Sets the delivery mode (1 transient, 2 persistent).
    pub fn with_delivery_mode(mut self, v: u8) -> Self {
        self.delivery_mode = Some(v);
        self
    }

    /// Sets the priority.
    pub fn with_priority(mut self, v: u8) -> Self {
        self.priority = Some(v);
        self
    }

    /// Sets the correlation id (cut at 255 bytes).
    pub fn with_correlation_id(mut self, v: &str) -> Self {
        self.correlation_id = Some(short_prop(v));
        self
    }

    /// Sets the reply-to address (cut at 255 bytes).
    pub fn with_reply_to(mut self, v: &str) -> Self {
        self.reply_to = Some(short_prop(v));
        self
    }

    /// Sets the per-message TTL in milliseconds.
    pub fn with_expiration_ms(mut self, ms: u64) -> Self {
        self.expiration = Some(short_prop(&ms.to_string()));
        self
    }

    /// Sets the message id (cut at 255 bytes).
    pub fn with_message_id(mut self, v: &str) -> Self {
        self.message_id = Some(short_prop(v));
        self
    }

    /// Sets the timestamp, seconds since the epoch.
    pub fn with_timestamp(mut self, v: u64) -> Self {
        self.timestamp = Some(v);
        self
    }

    /// Sets the message type (cut at 255 bytes).
    pub fn with_kind(mut self, v: &str) -> Self {
        self.kind = Some(short_prop(v));
        self
    }

    /// Sets the user id (cut at 255 bytes).
    pub fn with_user_id(mut self, v: &str) -> Self {
        self.user_id = Some(short_prop(v));
        self
    }

    /// Sets the app id (cut at 255 bytes).
    pub fn with_app_id(mut self, v: &str) -> Self {
        self.app_id = Some(short_prop(v));
        self
    }
}

/// A content header frame's payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentHeader {
    /// The content class; 60 (`basic`) is the only one.
    pub class_id: u16,
    /// Total size of the body frames that follow.
    pub body_size: u64,
    /// The properties.
    pub properties: BasicProperties,
}

impl ContentHeader {
    /// Writes the header payload (not the frame around it).
    pub fn encode(&self, out: &mut BytesMut) {
        encode_header_payload(out, self.class_id, self.body_size, &self.properties);
    }

    /// Decodes a header payload.
    pub fn decode(buf: &Bytes) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let h = Self::read(&mut r)?;
        r.finish("content header")?;
        Ok(h)
    }

    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let class_id = r.short("header class-id")?;
        if class_id != crate::method::basic::CLASS_ID {
            return Err(DecodeError::InvalidValue {
                what: "content header class-id",
                value: u64::from(class_id),
            });
        }
        let weight = r.short("header weight")?;
        if weight != 0 {
            // "The weight field is unused and must be zero."
            return Err(DecodeError::InvalidValue {
                what: "content header weight",
                value: u64::from(weight),
            });
        }
        let body_size = r.longlong("header body-size")?;
        let properties = BasicProperties::read(r)?;
        Ok(ContentHeader {
            class_id,
            body_size,
            properties,
        })
    }
}

#[inline]
pub(crate) fn encode_header_payload(
    out: &mut BytesMut,
    class_id: u16,
    body_size: u64,
    props: &BasicProperties,
) {
    out.put_u16(class_id);
    out.put_u16(0);
    out.put_u64(body_size);
    props.encode(out);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn arb_short() -> impl Strategy<Value = ShortStr> {
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|v| ShortStr::new(Bytes::from(v)).unwrap())
    }

    pub(crate) fn arb_properties() -> impl Strategy<Value = BasicProperties> {
        let strs = prop::collection::vec(prop::option::of(arb_short()), 11);
        (
            strs,
            prop::option::of(crate::table::tests::arb_table().prop_map(|(_, t)| t)),
            prop::option::of(any::<u8>()),
            prop::option::of(any::<u8>()),
            prop::option::of(any::<u64>()),
        )
            .prop_map(|(s, headers, delivery_mode, priority, timestamp)| {
                let mut s = s.into_iter();
                let mut n = || s.next().flatten();
                BasicProperties {
                    content_type: n(),
                    content_encoding: n(),
                    headers,
                    delivery_mode,
                    priority,
                    correlation_id: n(),
                    reply_to: n(),
                    expiration: n(),
                    message_id: n(),
                    timestamp,
                    kind: n(),
                    user_id: n(),
                    app_id: n(),
                    cluster_id: n(),
                }
            })
    }

    proptest! {
        #[test]
        fn header_round_trip(properties in arb_properties(), body_size in any::<u64>()) {
            let h = ContentHeader { class_id: 60, body_size, properties };
            let mut out = BytesMut::new();
            h.encode(&mut out);
            let back = ContentHeader::decode(&out.freeze()).unwrap();
            prop_assert_eq!(back, h);
        }

        #[test]
        fn truncated_headers_are_errors(properties in arb_properties(), cut in 0usize..64) {
            let h = ContentHeader { class_id: 60, body_size: 5, properties };
            let mut out = BytesMut::new();
            h.encode(&mut out);
            let full = out.freeze();
            if cut < full.len() {
                prop_assert!(ContentHeader::decode(&full.slice(..cut)).is_err());
            }
        }
    }

    #[test]
    fn flags_follow_the_spec_order() {
        let p = BasicProperties::default()
            .with_content_type("a")
            .persistent()
            .with_app_id("x");
        assert_eq!(p.flags(), 0x8000 | 0x1000 | 0x0008);
        let mut out = BytesMut::new();
        p.encode(&mut out);
        assert_eq!(&out[..], b"\x90\x08\x01a\x02\x01x");
    }

    #[test]
    fn bad_flags_and_weight_are_rejected() {
        // Bit 1 names no property.
        let e = BasicProperties::decode(&Bytes::from_static(b"\x00\x02")).unwrap_err();
        assert!(matches!(
            e,
            DecodeError::InvalidValue {
                what: "property flags",
                ..
            }
        ));
        // A continuation word that is empty is fine.
        assert_eq!(
            BasicProperties::decode(&Bytes::from_static(b"\x00\x01\x00\x00")).unwrap(),
            BasicProperties::default()
        );
        let e = ContentHeader::decode(&Bytes::from_static(b"\x00\x3c\x00\x01\0\0\0\0\0\0\0\0\0\0"))
            .unwrap_err();
        assert!(matches!(
            e,
            DecodeError::InvalidValue {
                what: "content header weight",
                ..
            }
        ));
        let e = ContentHeader::decode(&Bytes::from_static(b"\x00\x0a\x00\x00\0\0\0\0\0\0\0\0\0\0"))
            .unwrap_err();
        assert!(matches!(
            e,
            DecodeError::InvalidValue {
                what: "content header class-id",
                ..
            }
        ));
    }
}

#[cfg(test)]
#[path = "properties_tests.rs"]
mod edge_tests;
