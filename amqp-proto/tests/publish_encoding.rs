//! The publish encoder, read back frame by frame with the decoder: the
//! method, the content header and the body frames a basic.publish puts on
//! the wire, on its fast path (no properties, one body frame) and its
//! general one (properties, a body split by frame_max, an empty body), and
//! with an exchange or routing key cut at 255 bytes. Found missing by
//! mutation testing: the connection's tests publish, but none read the
//! frames of one with properties or over several body frames back.

use amqp_proto::frame::{self, Frame, FrameDecoder};
use amqp_proto::method::Method;
use amqp_proto::{BasicProperties, FrameKind};
use bytes::{Bytes, BytesMut};

/// What one encoded publish decodes to.
#[derive(Debug)]
struct Decoded {
    channel: u16,
    exchange: Vec<u8>,
    routing_key: Vec<u8>,
    mandatory: bool,
    immediate: bool,
    body_size: u64,
    properties: BasicProperties,
    /// The body frames' sizes, in order.
    frames: Vec<usize>,
    body: Vec<u8>,
}

fn encode(
    exchange: &str,
    routing_key: &str,
    mandatory: bool,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) -> BytesMut {
    let mut out = BytesMut::new();
    frame::encode_publish(
        &mut out,
        7,
        exchange,
        routing_key,
        mandatory,
        properties,
        body,
        frame_max,
    );
    out
}

fn decode(mut wire: BytesMut, frame_max: u32) -> Decoded {
    let mut d = FrameDecoder::new(frame_max);
    let mut frames = Vec::new();
    while let Some(raw) = d.decode(&mut wire).expect("a well-formed frame") {
        frames.push(raw);
    }
    assert!(wire.is_empty(), "nothing left over");
    let mut it = frames.iter();
    let method = it.next().expect("a method frame");
    assert_eq!(method.kind, FrameKind::Method);
    let Ok(Frame::Method {
        channel,
        method: Method::BasicPublish(p),
    }) = Frame::decode(method)
    else {
        panic!("not basic.publish: {method:?}");
    };
    let header = it.next().expect("a header frame");
    let Ok(Frame::Header {
        channel: header_channel,
        header,
    }) = Frame::decode(header)
    else {
        panic!("not a content header: {header:?}");
    };
    assert_eq!(header_channel, channel);
    assert_eq!(header.class_id, 60);
    let mut body = Vec::new();
    let mut sizes = Vec::new();
    for raw in it {
        let Ok(Frame::Body {
            channel: c,
            body: b,
        }) = Frame::decode(raw)
        else {
            panic!("not a body frame: {raw:?}");
        };
        assert_eq!(c, channel);
        sizes.push(b.len());
        body.extend_from_slice(&b);
    }
    Decoded {
        channel,
        exchange: p.exchange.as_bytes().to_vec(),
        routing_key: p.routing_key.as_bytes().to_vec(),
        mandatory: p.mandatory,
        immediate: p.immediate,
        body_size: header.body_size,
        properties: header.properties,
        frames: sizes,
        body,
    }
}

#[test]
fn a_plain_publish_is_one_method_one_header_one_body() {
    for mandatory in [false, true] {
        let body = b"hello, queue";
        let wire = encode(
            "orders",
            "eu.created",
            mandatory,
            &BasicProperties::default(),
            body,
            131_072,
        );
        let p = decode(wire, 131_072);
        assert_eq!(p.channel, 7);
        assert_eq!(p.exchange, b"orders");
        assert_eq!(p.routing_key, b"eu.created");
        assert_eq!(p.mandatory, mandatory);
        assert!(!p.immediate, "RabbitMQ refuses immediate");
        assert_eq!(p.body_size, body.len() as u64);
        assert_eq!(p.properties, BasicProperties::default());
        assert_eq!(p.frames, [body.len()]);
        assert_eq!(p.body, body);
    }
}

#[test]
fn properties_ride_in_the_header() {
    let props = BasicProperties::default()
        .with_content_type("application/json")
        .with_delivery_mode(2)
        .with_priority(3);
    let body = br#"{"id":1}"#;
    let p = decode(encode("", "q", false, &props, body, 131_072), 131_072);
    assert_eq!(p.properties, props);
    assert_eq!(
        (p.exchange.as_slice(), p.routing_key.as_slice()),
        (&b""[..], &b"q"[..])
    );
    assert_eq!(p.body, body);
}

#[test]
fn a_body_over_frame_max_is_split_into_full_frames() {
    // frame_max 4096: 4088 bytes of body per frame (8 of overhead).
    let body: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    for props in [
        BasicProperties::default(),
        BasicProperties::default().with_content_type("bytes"),
    ] {
        let p = decode(encode("x", "k", true, &props, &body, 4096), 4096);
        assert_eq!(p.frames, [4088, 4088, 10_000 - 2 * 4088]);
        assert_eq!(p.body_size, 10_000);
        assert_eq!(p.body, body);
        assert_eq!(p.properties, props);
        assert!(p.mandatory);
    }
    // A body of exactly one frame's room stays one frame.
    let exact = vec![1u8; 4088];
    let p = decode(
        encode("x", "k", false, &BasicProperties::default(), &exact, 4096),
        4096,
    );
    assert_eq!(p.frames, [4088]);
    let over = vec![1u8; 4089];
    let p = decode(
        encode("x", "k", false, &BasicProperties::default(), &over, 4096),
        4096,
    );
    assert_eq!(p.frames, [4088, 1]);
}

#[test]
fn an_empty_body_has_a_header_and_no_body_frame() {
    let p = decode(
        encode("", "q", false, &BasicProperties::default(), b"", 131_072),
        131_072,
    );
    assert_eq!(p.body_size, 0);
    assert!(p.frames.is_empty());
}

#[test]
fn names_over_255_bytes_are_cut_at_255() {
    let long = "e".repeat(300);
    let key = "k".repeat(256);
    let p = decode(
        encode(
            &long,
            &key,
            false,
            &BasicProperties::default(),
            b"x",
            131_072,
        ),
        131_072,
    );
    assert_eq!(p.exchange, long.as_bytes()[..255]);
    assert_eq!(p.routing_key, key.as_bytes()[..255]);
    // 255 bytes exactly are kept whole.
    let fit = "f".repeat(255);
    let p = decode(
        encode(&fit, "", false, &BasicProperties::default(), b"x", 131_072),
        131_072,
    );
    assert_eq!(p.exchange, fit.as_bytes());
}

#[test]
fn the_fast_and_general_paths_write_the_same_bytes() {
    // No properties and one body frame take the fast path; the same publish
    // with a body one byte over the frame takes the general one. Cut at
    // the body, their method and header frames must be identical.
    let body = vec![9u8; 100];
    let fast = encode(
        "ex",
        "rk",
        true,
        &BasicProperties::default(),
        &body,
        131_072,
    );
    let general = encode("ex", "rk", true, &BasicProperties::default(), &body, 100);
    let method_and_header = |b: &BytesMut| {
        let mut buf = b.clone();
        let mut d = FrameDecoder::new(131_072);
        let m = d.decode(&mut buf).unwrap().unwrap();
        let h = d.decode(&mut buf).unwrap().unwrap();
        (m, h)
    };
    assert_eq!(method_and_header(&fast), method_and_header(&general));
    let p = decode(general, 131_072);
    assert_eq!(p.frames, [92, 8]);
    assert_eq!(Bytes::from(p.body), Bytes::from(body));
}
