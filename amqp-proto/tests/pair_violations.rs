//! The pair again: peers that break the protocol get the right
//! connection.close, and content arrives the same whether it comes whole,
//! split across reads, or interleaved with other channels.

mod support;

use std::time::Instant;

use amqp_proto::method::{basic, channel as chan, queue};
use amqp_proto::{
    BasicProperties, ClientConfig, Connection, ConnectionError, Delivery, Event, FieldTable,
    Initiator, ReplyCode, ServerConfig, ShortStr,
};
use bytes::BytesMut;
use support::Pair;

/// Feeds the client raw server bytes after a good handshake and returns the
/// error and the close the client sent.
fn violate(raw: &[u8]) -> (ConnectionError, u16) {
    let (mut p, _) = Pair::connected();
    p.server_events();
    let ch = p.open_channel();
    assert_eq!(ch, 1);
    p.server.send_raw(raw);
    p.pump();
    let e = p.client_errors.pop().expect("the client saw a violation");
    let close = p.server_events().into_iter().find_map(|e| match e {
        Event::ConnectionClosed { reason, .. } => Some(reason.code.0),
        _ => None,
    });
    (e, close.expect("the client closed the connection"))
}

#[test]
fn protocol_violations_get_the_right_connection_close() {
    // 501: bad frame-end octet.
    let (e, code) = violate(&[8, 0, 0, 0, 0, 0, 0, 0xAB]);
    assert_eq!(code, 501, "{e}");
    // 501: heartbeat on channel 1.
    assert_eq!(violate(&[8, 0, 1, 0, 0, 0, 0, 0xCE]).1, 501);
    // 501: heartbeat with a payload.
    assert_eq!(violate(&[8, 0, 0, 0, 0, 0, 1, 0, 0xCE]).1, 501);
    // 501: unknown frame type.
    assert_eq!(violate(&[7, 0, 1, 0, 0, 0, 0, 0xCE]).1, 501);
    // 502: a truncated method (basic.consume-ok with no arguments).
    assert_eq!(violate(&[1, 0, 1, 0, 0, 0, 4, 0, 60, 0, 21, 0xCE]).1, 502);
    // 502: a truncated basic.deliver, caught once its header is in.
    let mut f = BytesMut::from(&[1u8, 0, 1, 0, 0, 0, 4, 0, 60, 0, 60, 0xCE][..]);
    amqp_proto::frame::encode_header_frame(&mut f, 1, 60, 0, &BasicProperties::default());
    assert_eq!(violate(&f).1, 502);
    // 502: a delivery whose headers table is malformed.
    let mut f = BytesMut::new();
    let d = basic::Deliver {
        consumer_tag: ShortStr::from_static("c"),
        ..Default::default()
    };
    amqp_proto::frame::encode_method_frame(&mut f, 1, &d.into());
    // flags: headers only; table of 3 bytes with an unknown type tag.
    f.extend_from_slice(&[
        2, 0, 1, 0, 0, 0, 21, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20, 0,
    ]);
    f.extend_from_slice(&[0, 0, 0, 3, 1, b'k', b'Z', 0xCE]);
    assert_eq!(violate(&f).1, 502);
    // 503: a method a server may not send (basic.publish).
    let mut f = BytesMut::new();
    amqp_proto::frame::encode_method_frame(&mut f, 1, &basic::Publish::default().into());
    amqp_proto::frame::encode_header_frame(&mut f, 1, 60, 0, &BasicProperties::default());
    assert_eq!(violate(&f).1, 503);
    // 503: a reply nobody asked for.
    let mut f = BytesMut::new();
    amqp_proto::frame::encode_method_frame(&mut f, 1, &queue::DeclareOk::default().into());
    assert_eq!(violate(&f).1, 503);
    // 504: a method on a channel that is not open.
    let mut f = BytesMut::new();
    amqp_proto::frame::encode_method_frame(&mut f, 9, &chan::Flow { active: true }.into());
    assert_eq!(violate(&f).1, 504);
    // 505: a body frame with no content method before it.
    assert_eq!(violate(&[3, 0, 1, 0, 0, 0, 1, b'x', 0xCE]).1, 505);
    // 505: a method where a content header was due.
    let mut f = BytesMut::new();
    let d = basic::Deliver {
        consumer_tag: ShortStr::from_static("c"),
        ..Default::default()
    };
    amqp_proto::frame::encode_method_frame(&mut f, 1, &d.into());
    amqp_proto::frame::encode_method_frame(&mut f, 1, &chan::Flow { active: true }.into());
    assert_eq!(violate(&f).1, 505);
    // 540: an unknown method.
    assert_eq!(violate(&[1, 0, 1, 0, 0, 0, 4, 0, 60, 0, 99, 0xCE]).1, 540);
    // A frame over frame_max (4096) is refused from its header alone.
    let (e, code) = violate(&[3, 0, 1, 0, 0, 0x20, 0, 0]);
    assert_eq!(code, 501, "{e}");
}

#[test]
fn a_second_cancel_ok_for_one_cancel_is_dropped() {
    // RabbitMQ answers a basic.cancel twice when the quorum queue is
    // deleted while the cancel is under way: the client keeps going.
    let (mut p, _) = Pair::connected();
    p.server_events();
    let ch = p.open_channel();
    let tag = ShortStr::from_static("ctag-1");
    let cancel = basic::Cancel {
        consumer_tag: tag.clone(),
        nowait: false,
    };
    let id = p.client.call(ch, cancel.into()).unwrap();
    p.pump();
    p.serve(|server, channel, m| {
        assert!(matches!(m, amqp_proto::Method::BasicCancel(_)), "{m:?}");
        for _ in 0..2 {
            let ok = basic::CancelOk {
                consumer_tag: ShortStr::from_static("ctag-1"),
            };
            server.send_method(channel, ok.into()).unwrap();
        }
    });
    let replies: Vec<_> = p
        .client_events()
        .into_iter()
        .filter(|e| matches!(e, Event::Reply { .. }))
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(
        matches!(&replies[0], Event::Reply { request, .. } if *request == id),
        "{replies:?}"
    );
    assert!(p.client_errors.is_empty(), "{:?}", p.client_errors);
    // The channel still works: the next request is answered.
    let declare = queue::Declare {
        queue: ShortStr::from_static("after"),
        ..Default::default()
    };
    let next = p.client.call(ch, declare.into()).unwrap();
    p.pump();
    p.serve(support::ok_reply);
    assert!(
        p.client_events()
            .iter()
            .any(|e| matches!(e, Event::Reply { request, .. } if *request == next))
    );
    // Any other reply nobody asked for still closes the connection.
    let (_, code) = violate(&{
        let mut f = BytesMut::new();
        amqp_proto::frame::encode_method_frame(&mut f, 1, &basic::QosOk {}.into());
        f
    });
    assert_eq!(code, 503);
}

#[test]
fn a_server_that_speaks_another_version_is_reported() {
    let now = Instant::now();
    let mut c = Connection::client(
        ClientConfig {
            frame_max: 4096,
            heartbeat: 10,
            ..ClientConfig::default()
        },
        now,
    );
    let mut buf = BytesMut::from(&b"AMQP\x00\x00\x08\x00"[..]);
    assert_eq!(
        c.handle_input(now, &mut buf),
        Err(ConnectionError::UnsupportedProtocol {
            major: 0,
            minor: 8,
            revision: 0
        })
    );
    // A server that gets a bad header answers with the one it wants.
    let mut s = Connection::server(ServerConfig::default(), now);
    let mut buf = BytesMut::from(&b"AMQP\x01\x01\x00\x0a"[..]);
    assert!(s.handle_input(now, &mut buf).is_err());
    let mut out = BytesMut::new();
    s.poll_transmit(&mut out);
    assert_eq!(&out[..], b"AMQP\x00\x00\x09\x01");
}

#[test]
fn oversized_bodies_close_only_their_channel() {
    let mut p = Pair::new(
        ClientConfig {
            max_body_size: 100,
            frame_max: 4096,
            ..ClientConfig::default()
        },
        ServerConfig::default(),
    );
    p.pump();
    p.client_events();
    p.server_events();
    let ch = p.open_channel();
    let d = basic::Deliver {
        consumer_tag: ShortStr::from_static("c"),
        delivery_tag: 1,
        ..Default::default()
    };
    p.server
        .send_content(ch, d.into(), &BasicProperties::default(), &[0u8; 5000])
        .unwrap();
    p.pump();
    let ev = p.client_events();
    assert!(
        matches!(&ev[..], [Event::ChannelClosed { initiator: Initiator::Local, reason, .. }] if reason.code == ReplyCode::CONTENT_TOO_LARGE),
        "{ev:?}"
    );
    assert!(p.client.is_open());
}

/// Server bytes for three deliveries on channels 1 and 2: one body that
/// fits a frame, one that spans three, and an empty one.
fn deliveries(interleave: bool) -> (Vec<u8>, usize) {
    let props = BasicProperties::default()
        .with_content_type("text/plain")
        .with_headers(FieldTable::builder().insert("n", 1i32).build());
    let deliver = |channel: u16, tag: u64| -> (BytesMut, BytesMut, BytesMut) {
        let d = basic::Deliver {
            consumer_tag: ShortStr::from_static("c"),
            delivery_tag: tag,
            redelivered: false,
            exchange: ShortStr::from_static("x"),
            routing_key: ShortStr::from_static("k"),
        };
        let body = vec![tag as u8; [0, 100, 10_000, 0][tag as usize]];
        let (mut m, mut h, mut b) = (BytesMut::new(), BytesMut::new(), BytesMut::new());
        amqp_proto::frame::encode_method_frame(&mut m, channel, &d.into());
        amqp_proto::frame::encode_header_frame(&mut h, channel, 60, body.len() as u64, &props);
        amqp_proto::frame::encode_body_frames(&mut b, channel, &body, 4096);
        (m, h, b)
    };
    let mut out = Vec::new();
    let parts: Vec<_> = (1..=3)
        .map(|tag| deliver(1 + (tag as u16 % 2), tag))
        .collect();
    if interleave {
        // The first two (on channels 2 and 1) frame by frame in turn, the
        // third whole.
        let [(m0, h0, b0), (m1, h1, b1), (m2, h2, b2)] = &parts[..] else {
            unreachable!()
        };
        for f in [m0, m1, h0, h1, b0, b1, m2, h2, b2] {
            out.extend_from_slice(f);
        }
    } else {
        for (m, h, b) in &parts {
            out.extend_from_slice(m);
            out.extend_from_slice(h);
            out.extend_from_slice(b);
        }
    }
    (out, parts.len())
}

fn receive(bytes: &[u8], piece: usize) -> Vec<Delivery> {
    let (mut p, _) = Pair::connected();
    assert_eq!(p.open_channel(), 1);
    assert_eq!(p.open_channel(), 2);
    let mut got = Vec::new();
    let mut buf = BytesMut::new();
    for chunk in bytes.chunks(piece) {
        buf.extend_from_slice(chunk);
        p.client.handle_input(p.now, &mut buf).expect("valid input");
        while let Some(e) = p.client.poll_event() {
            match e {
                Event::Delivery(d) => got.push(d),
                e => panic!("{e:?}"),
            }
        }
    }
    assert!(buf.is_empty());
    got
}

#[test]
fn content_is_the_same_whole_split_or_interleaved() {
    let (whole, n) = deliveries(false);
    let expected = receive(&whole, whole.len());
    assert_eq!(expected.len(), n);
    assert_eq!(expected[1].body_ref().len(), 10_000);
    assert!(expected[2].body_ref().is_empty());
    assert_eq!(expected[0].properties().content_type.unwrap(), "text/plain");
    for piece in [1, 7, 100, 4096] {
        assert_eq!(receive(&whole, piece), expected, "pieces of {piece}");
    }
    let (mixed, _) = deliveries(true);
    let mut interleaved = receive(&mixed, mixed.len());
    interleaved.sort_by_key(|d| d.delivery_tag);
    assert_eq!(interleaved, expected);
}
