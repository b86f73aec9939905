//! `decode_message` on what its own tests did not send: every value of the
//! method's flag bits read back, groups whose frames do not belong
//! together (a body or header on another channel, frames of the wrong
//! kind), a header with the wrong class or weight, and truncated or
//! over-long method arguments with the offsets reported. Found missing by
//! mutation testing.

use amqp_proto::frame::{
    FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_METHOD, encode_body_frames, encode_header_frame,
    encode_method_frame,
};
use amqp_proto::message::{Message, decode_message};
use amqp_proto::method::{Method, basic};
use amqp_proto::{BasicProperties, DecodeError, ShortStr};
use bytes::{BufMut, BytesMut};

const MAX: u32 = 131_072;

/// Method, header and (for a non-empty body) body frame of one message.
fn group(method: Method, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    encode_method_frame(&mut out, 5, &method);
    encode_header_frame(
        &mut out,
        5,
        60,
        body.len() as u64,
        &BasicProperties::default(),
    );
    if !body.is_empty() {
        encode_body_frames(&mut out, 5, body, MAX);
    }
    out
}

fn frame(kind: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![kind];
    f.extend_from_slice(&channel.to_be_bytes());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload);
    f.push(FRAME_END);
    f
}

/// A header payload: class, weight, body size, no properties.
fn header(class: u16, weight: u16, size: u64) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&class.to_be_bytes());
    p.extend_from_slice(&weight.to_be_bytes());
    p.extend_from_slice(&size.to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p
}

fn decode(bytes: &[u8]) -> Result<Option<Message>, DecodeError> {
    let mut b = BytesMut::from(bytes);
    decode_message(&mut b, MAX)
}

fn s(v: &'static str) -> ShortStr {
    ShortStr::from_static(v)
}

#[test]
fn the_redelivered_bit_reads_back_both_ways() {
    for redelivered in [false, true] {
        let d = basic::Deliver {
            consumer_tag: s("c"),
            delivery_tag: 1,
            redelivered,
            exchange: s("x"),
            routing_key: s("k"),
        };
        let Ok(Some(Message::Delivery(m))) = decode(&group(d.into(), b"b")) else {
            panic!("a delivery");
        };
        assert_eq!(m.redelivered, redelivered);
        let g = basic::GetOk {
            delivery_tag: 2,
            redelivered,
            exchange: s("x"),
            routing_key: s("k"),
            message_count: 0,
        };
        let Ok(Some(Message::Get(m))) = decode(&group(g.into(), b"b")) else {
            panic!("a get-ok");
        };
        assert_eq!(m.redelivered, redelivered);
    }
}

#[test]
fn mandatory_and_immediate_read_back_in_every_combination() {
    for (mandatory, immediate) in [(false, false), (true, false), (false, true), (true, true)] {
        let p = basic::Publish {
            exchange: s("x"),
            routing_key: s("k"),
            mandatory,
            immediate,
            ..Default::default()
        };
        let Ok(Some(Message::Published(m))) = decode(&group(p.into(), b"")) else {
            panic!("a publish");
        };
        assert_eq!((m.mandatory, m.immediate), (mandatory, immediate));
    }
}

fn deliver_payload() -> Vec<u8> {
    let mut out = BytesMut::new();
    let d = basic::Deliver {
        consumer_tag: s("c"),
        delivery_tag: 1,
        redelivered: false,
        exchange: s("x"),
        routing_key: s("k"),
    };
    encode_method_frame(&mut out, 5, &d.into());
    out[7..out.len() - 1].to_vec()
}

#[test]
fn frames_that_do_not_belong_together_are_refused() {
    let method = frame(FRAME_METHOD, 5, &deliver_payload());
    let body_of = |channel, kind| {
        let mut g = method.clone();
        g.extend(frame(FRAME_HEADER, 5, &header(60, 0, 2)));
        g.extend(frame(kind, channel, b"hi"));
        g
    };
    // The well-formed group decodes.
    assert!(matches!(
        decode(&body_of(5, FRAME_BODY)),
        Ok(Some(Message::Delivery(_)))
    ));
    // The body on another channel, or a frame of another kind in its place.
    for bad in [body_of(6, FRAME_BODY), body_of(5, FRAME_HEADER)] {
        assert!(matches!(
            decode(&bad),
            Err(DecodeError::InvalidValue {
                what: "body frame for a one-frame message",
                value: 2,
            })
        ));
    }
    // The header on another channel.
    let mut g = method.clone();
    g.extend(frame(FRAME_HEADER, 6, &header(60, 0, 0)));
    assert!(matches!(
        decode(&g),
        Err(DecodeError::InvalidValue {
            what: "frame sequence for a message",
            ..
        })
    ));
    // A header frame where the method should be, and a method frame in
    // place of the header.
    let mut g = frame(FRAME_HEADER, 5, &deliver_payload());
    g.extend(frame(FRAME_HEADER, 5, &header(60, 0, 0)));
    assert_eq!(
        decode(&g).unwrap_err(),
        DecodeError::InvalidValue {
            what: "frame sequence for a message",
            value: u64::from(FRAME_HEADER),
        }
    );
    let mut g = method.clone();
    g.extend(frame(FRAME_METHOD, 5, &header(60, 0, 0)));
    assert_eq!(
        decode(&g).unwrap_err(),
        DecodeError::InvalidValue {
            what: "frame sequence for a message",
            value: u64::from(FRAME_METHOD),
        }
    );
}

#[test]
fn a_header_with_another_class_or_a_weight_is_refused() {
    let method = frame(FRAME_METHOD, 5, &deliver_payload());
    let with = |h: Vec<u8>| {
        let mut g = method.clone();
        g.extend(frame(FRAME_HEADER, 5, &h));
        decode(&g)
    };
    assert_eq!(
        with(header(50, 0, 0)).unwrap_err(),
        DecodeError::InvalidValue {
            what: "content header class-id",
            value: 50,
        }
    );
    assert_eq!(
        with(header(60, 3, 0)).unwrap_err(),
        DecodeError::InvalidValue {
            what: "content header weight",
            value: 3,
        }
    );
    assert!(matches!(with(header(60, 0, 0)), Ok(Some(_))));
}

#[test]
fn method_arguments_cut_short_or_too_long_are_errors_with_offsets() {
    // basic.deliver with only a consumer tag: the delivery tag is missing
    // at payload offset 6 (4 bytes of ids, 2 of the tag).
    let mut args = vec![0, 60, 0, 60, 1, b'c'];
    let with = |payload: &[u8]| {
        let mut g = frame(FRAME_METHOD, 5, payload);
        g.extend(frame(FRAME_HEADER, 5, &header(60, 0, 0)));
        decode(&g)
    };
    assert_eq!(
        with(&args).unwrap_err(),
        DecodeError::Truncated {
            what: "delivery-tag",
            offset: 6,
        }
    );
    // A whole deliver and one byte more.
    args = deliver_payload();
    args.put_u8(0);
    assert_eq!(
        with(&args).unwrap_err(),
        DecodeError::TrailingBytes {
            what: "content method",
            extra: 1,
        }
    );
}

#[test]
fn only_the_four_content_methods_of_class_60_start_a_message() {
    // channel.close is class 20, method 40: the method id of
    // basic.publish, in another class.
    let close = amqp_proto::method::channel::Close {
        reply_code: 404,
        reply_text: s("NOT_FOUND"),
        class_id: 50,
        method_id: 10,
    };
    let mut g = BytesMut::new();
    encode_method_frame(&mut g, 5, &close.into());
    g.extend(frame(FRAME_HEADER, 5, &header(60, 0, 0)));
    assert_eq!(
        decode(&g).unwrap_err(),
        DecodeError::UnknownMethod {
            class_id: 20,
            method_id: 40,
        }
    );
}
