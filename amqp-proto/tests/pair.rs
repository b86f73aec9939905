//! A client connection against a server connection, in memory, with
//! simulated time: the handshake, channels, confirms, large messages,
//! consume and ack, returns, server-side closes, heartbeats and close.

mod support;

use std::time::Duration;

use amqp_proto::connection::CloseReason;
use amqp_proto::method::{basic, channel as chan, confirm, connection as conn, queue};
use amqp_proto::{
    BasicProperties, ClientConfig, Event, FieldValue, Initiator, Method, Published, ReplyCode,
    SaslMechanism, ServerConfig, ShortStr,
};
use bytes::{Bytes, BytesMut};
use support::{IntoRequest, Pair, assert_frames_within, ok_reply};

#[test]
fn handshake_negotiates_and_reports_both_sides() {
    let (mut p, ev) = Pair::connected();
    let [
        Event::Connected {
            peer_properties,
            tune,
        },
    ] = &ev[..]
    else {
        panic!("{ev:?}");
    };
    assert_eq!(tune.frame_max, 4096, "the lower frame_max wins");
    assert_eq!(tune.heartbeat, 10, "the lower heartbeat wins");
    assert_eq!(tune.channel_max, 2047);
    assert!(peer_properties.get("capabilities").is_some());
    let sev = p.server_events();
    let [
        Event::Connected {
            peer_properties,
            tune: stune,
        },
    ] = &sev[..]
    else {
        panic!("{sev:?}");
    };
    assert_eq!(stune, tune);
    let caps = peer_properties.get("capabilities").unwrap();
    let caps = caps.as_table().unwrap();
    for cap in [
        "publisher_confirms",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
    ] {
        assert_eq!(caps.get(cap), Some(FieldValue::Bool(true)), "{cap}");
    }
    assert!(p.client.is_open() && p.server.is_open());
    // The wire starts with the protocol header.
    assert!(p.client_wire.starts_with(b"AMQP\x00\x00\x09\x01"));
}

#[test]
fn every_sasl_mechanism_logs_in_and_a_bad_password_is_refused() {
    let user = |sasl| ClientConfig {
        sasl,
        ..ClientConfig::default()
    };
    let server = ServerConfig {
        users: vec![("u".into(), "p".into())],
        allow_external: true,
        ..ServerConfig::default()
    };
    for sasl in [
        SaslMechanism::Plain {
            username: "u".into(),
            password: "p".into(),
        },
        SaslMechanism::AmqPlain {
            username: "u".into(),
            password: "p".into(),
        },
        SaslMechanism::External,
    ] {
        let name = sasl.name();
        let mut p = Pair::new(user(sasl), server.clone());
        p.pump();
        assert!(p.client.is_open(), "{name}");
        let wire = String::from_utf8_lossy(&p.client_wire).into_owned();
        assert!(wire.contains(name), "start-ok names {name}");
    }
    let mut p = Pair::new(
        user(SaslMechanism::Plain {
            username: "u".into(),
            password: "wrong".into(),
        }),
        server,
    );
    p.pump();
    let ev = p.client_events();
    assert!(
        matches!(&ev[..], [Event::ConnectionClosed { initiator: Initiator::Peer, reason }] if reason.code == ReplyCode::ACCESS_REFUSED),
        "{ev:?}"
    );
    assert!(p.client.is_closed());
}

#[test]
fn channels_open_and_requests_queue_one_at_a_time_in_order() {
    let (mut p, _) = Pair::connected();
    p.server_events();
    let ch = p.client.open_channel().unwrap();
    // Issued before open-ok: they wait, in order, behind channel.open.
    let r1 = p
        .client
        .call(
            ch,
            queue::Declare {
                queue: ShortStr::from_static("a"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let r2 = p
        .client
        .call(
            ch,
            queue::Declare {
                queue: ShortStr::from_static("b"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    p.client
        .basic_publish(
            ch,
            "",
            "b",
            false,
            &BasicProperties::default(),
            Bytes::from_static(b"after b"),
        )
        .unwrap();
    p.pump();
    assert_eq!(
        p.client_events(),
        vec![Event::ChannelOpened { channel: ch }]
    );
    // Only the first declare reached the server; the rest wait for its reply.
    let sev = p.server_events();
    assert_eq!(sev.len(), 2, "{sev:?}");
    assert!(
        matches!(&sev[1], Event::Request { method: Method::QueueDeclare(d), .. } if d.queue == "a")
    );
    assert!(p.client.pending_transmit_bytes() > 0, "the publish is held");
    ok_reply(&mut p.server, ch, sev[1].clone().into_request());
    p.pump();
    let cev = p.client_events();
    assert!(
        matches!(&cev[..], [Event::Reply { request, method: Method::QueueDeclareOk(d), .. }] if *request == r1 && d.queue == "a"),
        "{cev:?}"
    );
    let sev = p.server_events();
    assert!(
        matches!(&sev[..], [Event::Request { method: Method::QueueDeclare(d), .. }] if d.queue == "b"),
        "{sev:?}"
    );
    ok_reply(&mut p.server, ch, sev[0].clone().into_request());
    p.pump();
    assert!(matches!(&p.client_events()[..], [Event::Reply { request, .. }] if *request == r2));
    // Now the publish, after declare b.
    assert!(matches!(&p.server_events()[..], [Event::Published(m)] if m.body_ref() == b"after b"));
    assert_eq!(p.client.pending_transmit_bytes(), 0);
}

#[test]
fn confirms_large_messages_consume_and_ack() {
    let (mut p, _) = Pair::connected();
    p.server_events();
    let ch = p.open_channel();
    let sel = p
        .client
        .call(ch, confirm::Select { nowait: false }.into())
        .unwrap();
    p.pump();
    p.serve(ok_reply);
    assert!(
        matches!(&p.client_events()[..], [Event::Reply { request, method: Method::ConfirmSelectOk(_), .. }] if *request == sel)
    );

    // Bigger than frame_max (4096): split into body frames.
    let big: Bytes = (0..10_000u32).map(|i| i as u8).collect::<Vec<u8>>().into();
    let props = BasicProperties::default()
        .persistent()
        .with_content_type("application/octet-stream");
    let mut seqs = Vec::new();
    for i in 0..5 {
        let body = if i == 2 {
            big.clone()
        } else {
            Bytes::from(format!("m{i}"))
        };
        seqs.push(
            p.client
                .basic_publish(ch, "", "q", false, &props, body)
                .unwrap()
                .unwrap(),
        );
    }
    assert_eq!(seqs, [1, 2, 3, 4, 5]);
    assert_eq!(p.client.unconfirmed(ch), 5);
    p.pump();
    // Every body frame respects frame_max.
    assert_frames_within(&p.client_wire, 4096);
    let published: Vec<Published> = p
        .server_events()
        .into_iter()
        .map(|e| match e {
            Event::Published(m) => m,
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(published.len(), 5);
    assert_eq!(published[2].body(), big);
    assert_eq!(published[2].properties(), props);
    // The server confirms: a single ack, a multiple ack, and a nack.
    p.server
        .send_method(
            ch,
            basic::Ack {
                delivery_tag: 2,
                multiple: false,
            }
            .into(),
        )
        .unwrap();
    p.server
        .send_method(
            ch,
            basic::Ack {
                delivery_tag: 3,
                multiple: true,
            }
            .into(),
        )
        .unwrap();
    p.server
        .send_method(
            ch,
            basic::Nack {
                delivery_tag: 5,
                multiple: true,
                requeue: false,
            }
            .into(),
        )
        .unwrap();
    p.pump();
    assert_eq!(
        p.client_events(),
        vec![
            Event::Confirmed {
                channel: ch,
                first: 2,
                last: 2,
                ack: true
            },
            Event::Confirmed {
                channel: ch,
                first: 1,
                last: 3,
                ack: true
            },
            Event::Confirmed {
                channel: ch,
                first: 4,
                last: 5,
                ack: false
            },
        ]
    );
    assert_eq!(p.client.unconfirmed(ch), 0);

    // Consume: the server delivers, big and small, and the client acks.
    p.client
        .call(
            ch,
            basic::Consume {
                queue: ShortStr::from_static("q"),
                consumer_tag: ShortStr::from_static("ctag"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    p.pump();
    p.serve(ok_reply);
    assert!(
        matches!(&p.client_events()[..], [Event::Reply { method: Method::BasicConsumeOk(c), .. }] if c.consumer_tag == "ctag")
    );
    for (tag, m) in published.iter().enumerate() {
        let deliver = basic::Deliver {
            consumer_tag: ShortStr::from_static("ctag"),
            delivery_tag: tag as u64 + 1,
            redelivered: false,
            exchange: ShortStr::empty(),
            routing_key: ShortStr::from_static("q"),
        };
        p.server
            .send_content(ch, deliver.into(), &m.properties(), m.body_ref())
            .unwrap();
    }
    p.pump();
    let deliveries: Vec<_> = p
        .client_events()
        .into_iter()
        .map(|e| match e {
            Event::Delivery(d) => d,
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(deliveries.len(), 5);
    assert_eq!(deliveries[2].body(), big);
    assert_eq!(deliveries[2].properties(), props);
    assert_eq!(deliveries[4].body_ref(), b"m4");
    for d in &deliveries {
        p.client.basic_ack(ch, d.delivery_tag, false).unwrap();
    }
    p.client.basic_nack(ch, 5, true, true).unwrap();
    p.pump();
    let acks: Vec<Method> = p
        .server_events()
        .into_iter()
        .map(IntoRequest::into_request)
        .collect();
    assert_eq!(acks.len(), 6);
    assert_eq!(
        acks[0],
        basic::Ack {
            delivery_tag: 1,
            multiple: false
        }
        .into()
    );
    assert_eq!(
        acks[5],
        basic::Nack {
            delivery_tag: 5,
            multiple: true,
            requeue: true
        }
        .into()
    );
}

#[test]
fn a_returned_mandatory_message_comes_before_its_confirm() {
    let (mut p, _) = Pair::connected();
    p.server_events();
    let ch = p.open_channel();
    p.client
        .call(ch, confirm::Select { nowait: false }.into())
        .unwrap();
    p.pump();
    p.serve(ok_reply);
    p.client_events();
    let seq = p
        .client
        .basic_publish(
            ch,
            "amq.direct",
            "nowhere",
            true,
            &BasicProperties::default(),
            Bytes::from_static(b"lost"),
        )
        .unwrap();
    assert_eq!(seq, Some(1));
    p.pump();
    let published = match p.server_events().pop() {
        Some(Event::Published(m)) => m,
        e => panic!("{e:?}"),
    };
    assert!(published.mandatory);
    let ret = basic::Return {
        reply_code: ReplyCode::NO_ROUTE.0,
        reply_text: ShortStr::from_static("NO_ROUTE"),
        exchange: published.exchange(),
        routing_key: published.routing_key(),
    };
    p.server
        .send_content(
            ch,
            ret.into(),
            &published.properties(),
            published.body_ref(),
        )
        .unwrap();
    p.server
        .send_method(
            ch,
            basic::Ack {
                delivery_tag: 1,
                multiple: false,
            }
            .into(),
        )
        .unwrap();
    p.pump();
    let ev = p.client_events();
    assert!(
        matches!(&ev[0], Event::Returned(r) if r.reply_code == ReplyCode::NO_ROUTE && r.body_ref() == b"lost" && r.routing_key() == "nowhere"),
        "{ev:?}"
    );
    assert_eq!(
        ev[1],
        Event::Confirmed {
            channel: ch,
            first: 1,
            last: 1,
            ack: true
        }
    );
}

#[test]
fn get_ok_get_empty_cancel_flow_and_blocked() {
    let (mut p, _) = Pair::connected();
    p.server_events();
    let ch = p.open_channel();
    let g1 = p
        .client
        .call(
            ch,
            basic::Get {
                queue: ShortStr::from_static("q"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let g2 = p
        .client
        .call(
            ch,
            basic::Get {
                queue: ShortStr::from_static("q"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    p.pump();
    let m = p.server_events().pop().unwrap().into_request();
    assert!(matches!(m, Method::BasicGet(_)));
    let get_ok = basic::GetOk {
        delivery_tag: 1,
        message_count: 0,
        routing_key: ShortStr::from_static("q"),
        ..Default::default()
    };
    p.server
        .send_content(ch, get_ok.into(), &BasicProperties::default(), b"")
        .unwrap();
    p.pump();
    let ev = p.client_events();
    assert!(
        matches!(&ev[..], [Event::GetOk { request, message }] if *request == g1 && message.body_ref().is_empty()),
        "{ev:?}"
    );
    assert!(matches!(
        p.server_events().pop().unwrap().into_request(),
        Method::BasicGet(_)
    ));
    p.server
        .send_method(ch, basic::GetEmpty::default().into())
        .unwrap();
    p.pump();
    assert_eq!(
        p.client_events(),
        vec![Event::GetEmpty {
            channel: ch,
            request: g2
        }]
    );

    // The server cancels a consumer; the client answers cancel-ok.
    p.server
        .send_method(
            ch,
            basic::Cancel {
                consumer_tag: ShortStr::from_static("ctag"),
                nowait: false,
            }
            .into(),
        )
        .unwrap();
    p.server
        .send_method(ch, chan::Flow { active: false }.into())
        .unwrap();
    p.server
        .send_method(
            0,
            conn::Blocked {
                reason: ShortStr::from_static("low on memory"),
            }
            .into(),
        )
        .unwrap();
    p.pump();
    assert_eq!(
        p.client_events(),
        vec![
            Event::ConsumerCancelled {
                channel: ch,
                consumer_tag: ShortStr::from_static("ctag")
            },
            Event::Flow {
                channel: ch,
                active: false
            },
            Event::Blocked {
                reason: ShortStr::from_static("low on memory")
            },
        ]
    );
    assert!(p.client.is_blocked());
    let answers: Vec<Method> = p
        .server_events()
        .into_iter()
        .map(IntoRequest::into_request)
        .collect();
    assert_eq!(
        answers,
        vec![
            basic::CancelOk {
                consumer_tag: ShortStr::from_static("ctag")
            }
            .into(),
            chan::FlowOk { active: false }.into(),
        ]
    );
    p.server.send_method(0, conn::Unblocked {}.into()).unwrap();
    p.pump();
    assert_eq!(p.client_events(), vec![Event::Unblocked]);
    assert!(!p.client.is_blocked());
}

#[test]
fn the_server_closes_a_channel_and_waiting_requests_fail() {
    let (mut p, _) = Pair::connected();
    p.server_events();
    let ch = p.open_channel();
    let r1 = p
        .client
        .call(
            ch,
            queue::Declare {
                queue: ShortStr::from_static("x"),
                passive: true,
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let r2 = p
        .client
        .call(
            ch,
            basic::Qos {
                prefetch_count: 10,
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    p.pump();
    p.server_events();
    p.server
        .close_channel(ch, ReplyCode::NOT_FOUND, "NOT_FOUND - no queue 'x'")
        .unwrap();
    p.pump();
    let ev = p.client_events();
    let [
        Event::ChannelClosed {
            channel,
            initiator,
            reason,
            failed,
        },
    ] = &ev[..]
    else {
        panic!("{ev:?}");
    };
    assert_eq!((*channel, *initiator), (ch, Initiator::Peer));
    assert_eq!(reason.code, ReplyCode::NOT_FOUND);
    assert_eq!(reason.text, "NOT_FOUND - no queue 'x'");
    assert_eq!(failed, &vec![r1, r2]);
    let sev = p.server_events();
    assert!(
        matches!(
            &sev[..],
            [Event::ChannelClosed {
                initiator: Initiator::Local,
                ..
            }]
        ),
        "{sev:?}"
    );
    assert!(!p.client.is_channel_open(ch));
    // The number is free again.
    assert_eq!(p.client.open_channel().unwrap(), ch);
    // And the client can close one too.
    p.pump();
    assert!(p.client.is_channel_open(ch) && !p.client.is_channel_closing(ch));
    p.client
        .close_channel(ch, ReplyCode::SUCCESS, "bye")
        .unwrap();
    // Until the close-ok, the channel is closing, not open.
    assert!(!p.client.is_channel_open(ch) && p.client.is_channel_closing(ch));
    p.pump();
    assert!(!p.client.is_channel_closing(ch));
    assert!(p.client_events().iter().any(|e| matches!(
        e,
        Event::ChannelClosed {
            initiator: Initiator::Local,
            ..
        }
    )));
}

#[test]
fn heartbeats_flow_when_idle_and_silence_kills_the_connection() {
    let (mut p, _) = Pair::connected();
    // Ten minutes of idle time in 1 s steps: heartbeats keep both alive.
    for _ in 0..600 {
        p.advance(Duration::from_secs(1));
        p.pump();
    }
    assert!(p.client.is_open() && p.server.is_open());
    assert!(
        p.client_wire.ends_with(&[8, 0, 0, 0, 0, 0, 0, 0xCE]),
        "the client sent heartbeats"
    );
    // The server goes silent: after two intervals (20 s) the client gives up.
    let mut at = None;
    for s in 1..=30 {
        p.now += Duration::from_secs(1);
        if p.client.poll_timeout().is_some_and(|t| t <= p.now) {
            p.client.handle_timeout(p.now);
        }
        let mut sink = BytesMut::new();
        p.client.poll_transmit(&mut sink);
        if p.client_events().contains(&Event::HeartbeatTimeout) {
            at = Some(s);
            break;
        }
    }
    let at = at.expect("the dead server was detected");
    assert!((19..=21).contains(&at), "detected after {at} s");
    assert!(p.client.is_closed());
    assert_eq!(p.client.poll_timeout(), None);
}

#[test]
fn orderly_close_from_either_side() {
    let (mut p, _) = Pair::connected();
    p.client.close(ReplyCode::SUCCESS, "done").unwrap();
    p.pump();
    let ev = p.client_events();
    assert!(
        matches!(&ev[..], [Event::ConnectionClosed { initiator: Initiator::Local, reason }] if reason.code == ReplyCode::SUCCESS),
        "{ev:?}"
    );
    let sev = p.server_events();
    assert!(
        matches!(&sev[1..], [Event::ConnectionClosed { initiator: Initiator::Peer, reason }] if reason.text == "done"),
        "{sev:?}"
    );
    assert!(p.client.is_closed() && p.server.is_closed());

    let (mut p, _) = Pair::connected();
    p.server
        .close(ReplyCode::CONNECTION_FORCED, "shutdown")
        .unwrap();
    p.pump();
    let ev = p.client_events();
    assert_eq!(
        ev,
        vec![Event::ConnectionClosed {
            initiator: Initiator::Peer,
            reason: CloseReason {
                code: ReplyCode::CONNECTION_FORCED,
                text: ShortStr::from_static("shutdown"),
                class_id: 0,
                method_id: 0
            },
        }]
    );
    assert!(p.client.is_closed() && p.server.is_closed());
    assert!(matches!(
        p.client.open_channel(),
        Err(amqp_proto::CommandError::Closed)
    ));
}
