//! Outbound content: basic.publish, or another content method, written
//! with its content header frame and its body frames straight into the
//! outgoing buffer (spec 4.2.6: a content method, then a header frame, then
//! body frames of at most frame_max bytes each).
//!
//! This sits beside [`frame`](crate::frame), below the connection: the
//! public [`frame::encode_publish`](crate::frame::encode_publish) (re-exported
//! from here) and the connection's `basic_publish` both call down into it,
//! so the bytes on the wire are the same whichever way a publish is written.

use bytes::{BufMut, BytesMut};

use crate::frame::{
    FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_METHOD, FRAME_OVERHEAD, begin_frame,
    encode_body_frames, encode_header_frame, encode_method_frame, end_frame,
};
use crate::method::{Method, basic};
use crate::primitives::put_shortstr;
use crate::properties::{BasicProperties, encode_header_payload};

/// Writes basic.publish, its content header and its body frames (split by
/// `frame_max`) in one pass: the hot path of publishing.
///
/// # Panics
/// Never; an exchange or routing key over 255 bytes is cut at 255 (the
/// connection's [`basic_publish`](crate::Connection::basic_publish) checks
/// them first).
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn encode_publish(
    out: &mut BytesMut,
    channel: u16,
    exchange: &str,
    routing_key: &str,
    mandatory: bool,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) {
    encode_publish_raw(
        out,
        channel,
        cut255(exchange),
        cut255(routing_key),
        mandatory,
        properties,
        body,
        frame_max,
    );
}

fn cut255(s: &str) -> &[u8] {
    let b = s.as_bytes();
    b.get(..255).unwrap_or(b)
}

/// Writes basic.publish, its header and its body frames, from an exchange
/// and routing key the caller has checked to be at most 255 bytes.
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn encode_publish_raw(
    out: &mut BytesMut,
    channel: u16,
    exchange: &[u8],
    routing_key: &[u8],
    mandatory: bool,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) {
    let fits = (frame_max as usize).saturating_sub(FRAME_OVERHEAD);
    if properties.flags() == 0 && !body.is_empty() && body.len() <= fits {
        if let (Ok(e), Ok(k), Ok(n)) = (
            u8::try_from(exchange.len()),
            u8::try_from(routing_key.len()),
            u32::try_from(body.len()),
        ) {
            encode_plain_publish(
                out,
                channel,
                (e, exchange),
                (k, routing_key),
                mandatory,
                (n, body),
            );
            return;
        }
    }
    encode_publish_general(
        out,
        channel,
        exchange,
        routing_key,
        mandatory,
        properties,
        body,
        frame_max,
    );
}

/// The common publish: no properties, the body in one frame. The three
/// frames are written from a few fixed-size pieces (five copies) instead
/// of a write per field.
#[inline]
fn encode_plain_publish(
    out: &mut BytesMut,
    channel: u16,
    (e, exchange): (u8, &[u8]),
    (k, routing_key): (u8, &[u8]),
    mandatory: bool,
    (n, body): (u32, &[u8]),
) {
    let c = channel.to_be_bytes();
    let [c0, c1] = basic::CLASS_ID.to_be_bytes();
    let [m0, m1] = basic::Publish::METHOD_ID.to_be_bytes();
    // class, method, ticket, exchange, routing key, bits
    let method = 4 + 2 + 1 + u32::from(e) + 1 + u32::from(k) + 1;
    let s = method.to_be_bytes();
    let b = u64::from(n).to_be_bytes();
    let l = n.to_be_bytes();
    out.reserve(8 + method as usize + 22 + 8 + body.len());
    out.extend_from_slice(&[
        FRAME_METHOD,
        c[0],
        c[1],
        s[0],
        s[1],
        s[2],
        s[3],
        c0,
        c1,
        m0,
        m1,
        0,
        0,
        e,
    ]);
    out.extend_from_slice(exchange);
    out.extend_from_slice(&[k]);
    out.extend_from_slice(routing_key);
    out.extend_from_slice(&[
        // immediate is never set: RabbitMQ refuses it
        u8::from(mandatory),
        FRAME_END,
        // header: class, weight, body size, no property flags
        FRAME_HEADER,
        c[0],
        c[1],
        0,
        0,
        0,
        14,
        c0,
        c1,
        0,
        0,
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6],
        b[7],
        0,
        0,
        FRAME_END,
        FRAME_BODY,
        c[0],
        c[1],
        l[0],
        l[1],
        l[2],
        l[3],
    ]);
    out.extend_from_slice(body);
    out.extend_from_slice(&[FRAME_END]);
}

/// Writes basic.publish, its header and its body frames, field by field.
#[allow(clippy::too_many_arguments)]
fn encode_publish_general(
    out: &mut BytesMut,
    channel: u16,
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
    put_shortstr(out, exchange);
    put_shortstr(out, routing_key);
    out.put_u8(u8::from(mandatory)); // immediate is never set: RabbitMQ refuses it
    end_frame(out, at);
    let at = begin_frame(out, FRAME_HEADER, channel);
    encode_header_payload(out, basic::CLASS_ID, body.len() as u64, properties);
    end_frame(out, at);
    encode_body_frames(out, channel, body, frame_max);
}

/// Writes a content method (deliver, return, get-ok, publish), its header
/// and its body frames.
pub(crate) fn encode_content(
    out: &mut BytesMut,
    channel: u16,
    method: &Method,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) {
    encode_method_frame(out, channel, method);
    encode_header_frame(out, channel, basic::CLASS_ID, body.len() as u64, properties);
    encode_body_frames(out, channel, body, frame_max);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The plain publish writes what the field-by-field encoder writes.
        #[test]
        fn plain_publish_matches_the_general_encoder(
            channel in any::<u16>(),
            exchange in prop::collection::vec(any::<u8>(), 0..256),
            routing_key in prop::collection::vec(any::<u8>(), 0..256),
            mandatory in any::<bool>(),
            body in prop::collection::vec(any::<u8>(), 0..300),
            frame_max in prop_oneof![Just(0u32), Just(4096), 8u32..300, Just(131_072)],
        ) {
            let props = BasicProperties::default();
            let mut fast = BytesMut::from(&b"before"[..]);
            let mut general = fast.clone();
            encode_publish_raw(&mut fast, channel, &exchange, &routing_key, mandatory, &props, &body, frame_max);
            encode_publish_general(
                &mut general, channel, &exchange, &routing_key, mandatory, &props, &body, frame_max,
            );
            prop_assert_eq!(fast, general);
        }
    }
}
