//! A client connection against a server connection, in memory, with
//! simulated time: everything issue 3 asks the pair to show.

use std::time::{Duration, Instant};

use amqp_proto::connection::{CloseReason, Published};
use amqp_proto::method::{basic, channel as chan, confirm, connection as conn, queue};
use amqp_proto::{
    BasicProperties, ClientConfig, Connection, ConnectionError, Event, FieldValue, Initiator,
    Method, ReplyCode, SaslMechanism, ServerConfig, ShortStr,
};
use bytes::{Bytes, BytesMut};

struct Pair {
    client: Connection,
    server: Connection,
    now: Instant,
    /// Bytes the client sent, for checks on the wire.
    client_wire: Vec<u8>,
    client_errors: Vec<ConnectionError>,
    server_errors: Vec<ConnectionError>,
}

impl Pair {
    fn new(client: ClientConfig, server: ServerConfig) -> Self {
        let now = Instant::now();
        Pair {
            client: Connection::client(client, now),
            server: Connection::server(server, now),
            now,
            client_wire: Vec::new(),
            client_errors: Vec::new(),
            server_errors: Vec::new(),
        }
    }

    fn connected() -> (Self, Vec<Event>) {
        let mut p = Pair::new(
            ClientConfig {
                frame_max: 4096,
                heartbeat: 10,
                ..ClientConfig::default()
            },
            ServerConfig::default(),
        );
        p.pump();
        let ev = p.client_events();
        (p, ev)
    }

    /// Moves bytes both ways until neither side has anything to send.
    fn pump(&mut self) {
        for _ in 0..64 {
            let mut a = BytesMut::new();
            self.client.poll_transmit(&mut a);
            self.client_wire.extend_from_slice(&a);
            let quiet = a.is_empty();
            if !a.is_empty() {
                if let Err(e) = self.server.handle_input(self.now, &mut a) {
                    self.server_errors.push(e);
                }
            }
            let mut b = BytesMut::new();
            self.server.poll_transmit(&mut b);
            let quiet = quiet && b.is_empty();
            if !b.is_empty() {
                if let Err(e) = self.client.handle_input(self.now, &mut b) {
                    self.client_errors.push(e);
                }
            }
            if quiet {
                return;
            }
        }
        panic!("the pair never went quiet");
    }

    fn client_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    fn server_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    /// Advances simulated time, firing the timers that are due.
    fn advance(&mut self, d: Duration) {
        self.now += d;
        for c in [&mut self.client, &mut self.server] {
            if c.poll_timeout().is_some_and(|t| t <= self.now) {
                c.handle_timeout(self.now);
            }
        }
    }

    /// Opens a channel and answers the server's side.
    fn open_channel(&mut self) -> u16 {
        let ch = self.client.open_channel().unwrap();
        self.pump();
        assert!(
            self.client_events()
                .contains(&Event::ChannelOpened { channel: ch })
        );
        assert!(
            self.server_events()
                .contains(&Event::ChannelOpened { channel: ch })
        );
        ch
    }

    /// Makes the server answer every request it has with `answer`.
    fn serve(&mut self, mut answer: impl FnMut(&mut Connection, u16, Method)) -> Vec<Event> {
        let mut other = Vec::new();
        for ev in self.server_events() {
            match ev {
                Event::Request { channel, method } => answer(&mut self.server, channel, method),
                e => other.push(e),
            }
        }
        self.pump();
        other
    }
}

fn ok_reply(server: &mut Connection, channel: u16, m: Method) {
    let reply: Method = match m {
        Method::ConfirmSelect(_) => confirm::SelectOk {}.into(),
        Method::QueueDeclare(d) => queue::DeclareOk {
            queue: if d.queue.is_empty() {
                ShortStr::from_static("amq.gen-1")
            } else {
                d.queue
            },
            ..Default::default()
        }
        .into(),
        Method::BasicConsume(c) => basic::ConsumeOk {
            consumer_tag: c.consumer_tag,
        }
        .into(),
        Method::BasicQos(_) => basic::QosOk {}.into(),
        _ => return,
    };
    server.send_method(channel, reply).unwrap();
}

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
    assert!(
        matches!(&p.server_events()[..], [Event::Published(Published { body, .. })] if body == "after b")
    );
    assert_eq!(p.client.pending_transmit_bytes(), 0);
}

trait IntoRequest {
    fn into_request(self) -> Method;
}
impl IntoRequest for Event {
    fn into_request(self) -> Method {
        match self {
            Event::Request { method, .. } => method,
            e => panic!("not a request: {e:?}"),
        }
    }
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
    assert_eq!(published[2].body, big);
    assert_eq!(published[2].properties, props);
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
            .send_content(ch, deliver.into(), &m.properties, &m.body)
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
    assert_eq!(deliveries[2].body, big);
    assert_eq!(deliveries[2].properties, props);
    assert_eq!(deliveries[4].body, "m4");
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

fn assert_frames_within(wire: &[u8], frame_max: usize) {
    let mut rest = wire.strip_prefix(b"AMQP\x00\x00\x09\x01").unwrap();
    while rest.len() >= 7 {
        let size = u32::from_be_bytes([rest[3], rest[4], rest[5], rest[6]]) as usize;
        assert!(size + 8 <= frame_max, "frame of {} bytes", size + 8);
        assert_eq!(rest[7 + size], 0xCE);
        rest = &rest[size + 8..];
    }
    assert!(rest.is_empty());
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
    assert!(published.method.mandatory);
    let ret = basic::Return {
        reply_code: ReplyCode::NO_ROUTE.0,
        reply_text: ShortStr::from_static("NO_ROUTE"),
        exchange: published.method.exchange.clone(),
        routing_key: published.method.routing_key.clone(),
    };
    p.server
        .send_content(ch, ret.into(), &published.properties, &published.body)
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
        matches!(&ev[0], Event::Returned(r) if r.reply_code == ReplyCode::NO_ROUTE && r.body == "lost" && r.routing_key == "nowhere"),
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
        matches!(&ev[..], [Event::GetOk { request, message }] if *request == g1 && message.body.is_empty()),
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
    p.client
        .close_channel(ch, ReplyCode::SUCCESS, "bye")
        .unwrap();
    p.pump();
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
    // 501: unknown frame type.
    assert_eq!(violate(&[7, 0, 1, 0, 0, 0, 0, 0xCE]).1, 501);
    // 502: a truncated method (basic.deliver with no arguments).
    assert_eq!(violate(&[1, 0, 1, 0, 0, 0, 4, 0, 60, 0, 60, 0xCE]).1, 502);
    // 503: a method a server may not send (basic.publish).
    let mut f = BytesMut::new();
    amqp_proto::frame::encode_method_frame(&mut f, 1, &basic::Publish::default().into());
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
