//! The sans-IO `amqp_proto::Connection` against the real RabbitMQ, over a
//! plain blocking `TcpStream`.
//!
//! `AMQP_PROTO_RECORD_GOLDEN=1 cargo test -p mq-tests --test amqp_proto_rabbitmq`
//! rewrites the golden recording that `amqp_proto_golden` replays.

mod amqp_proto_support;

use amqp_proto::method::{basic, queue};
use amqp_proto::{
    BasicProperties, ClientConfig, Event, Initiator, Method, ReplyCode, SaslMechanism, ShortStr,
};
use amqp_proto_support::{GOLDEN, Live, Session, TRANSCRIPT, encode_recording, scenario};
use bytes::Bytes;

#[test]
fn handshake_declare_publish_confirm_get_consume_ack_close() {
    let mut s = Session::new(ClientConfig::default(), Live::connect());
    let log = scenario(&mut s);
    assert_eq!(log, TRANSCRIPT);
    assert!(s.conn.is_closed());
    if std::env::var_os("AMQP_PROTO_RECORD_GOLDEN").is_some() {
        std::fs::write(GOLDEN, encode_recording(&s.wire.reads)).expect("write the golden file");
    }
}

#[test]
fn amqplain_logs_in_and_a_wrong_password_is_refused_with_403() {
    let config = ClientConfig {
        sasl: SaslMechanism::AmqPlain {
            username: "guest".into(),
            password: "guest".into(),
        },
        connection_name: Some("amqp-proto test".into()),
        ..ClientConfig::default()
    };
    let mut s = Session::new(config, Live::connect());
    assert!(matches!(s.next(), Event::Connected { .. }));
    s.conn.close(ReplyCode::SUCCESS, "bye").unwrap();
    assert!(matches!(
        s.next(),
        Event::ConnectionClosed {
            initiator: Initiator::Local,
            ..
        }
    ));

    let config = ClientConfig {
        sasl: SaslMechanism::Plain {
            username: "guest".into(),
            password: "not-the-password".into(),
        },
        ..ClientConfig::default()
    };
    let mut s = Session::new(config, Live::connect());
    match s.next() {
        Event::ConnectionClosed { initiator, reason } => {
            assert_eq!(initiator, Initiator::Peer);
            assert_eq!(reason.code, ReplyCode::ACCESS_REFUSED, "{reason:?}");
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn a_message_larger_than_frame_max_round_trips_through_a_named_queue() {
    let config = ClientConfig {
        frame_max: 4096,
        ..ClientConfig::default()
    };
    let mut s = Session::new(config, Live::connect());
    let Event::Connected { tune, .. } = s.next() else {
        panic!("connected")
    };
    assert_eq!(tune.frame_max, 4096);
    let ch = s.conn.open_channel().unwrap();
    assert!(matches!(s.next(), Event::ChannelOpened { .. }));
    let name = mq_tests::names::queue("amqp-proto-large");
    let q = ShortStr::try_from(name.as_str()).unwrap();
    let r = s
        .conn
        .call(
            ch,
            queue::Declare {
                queue: q.clone(),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    assert!(matches!(s.reply(r), Method::QueueDeclareOk(ok) if ok.queue == q));
    let body: Bytes = (0..300_000u32)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<_>>()
        .into();
    let props = BasicProperties::default().persistent();
    s.conn
        .basic_publish(ch, "", &name, false, &props, body.clone())
        .unwrap();
    // basic.get after the publish: the same channel keeps them in order.
    let r = s
        .conn
        .call(
            ch,
            basic::Get {
                queue: q.clone(),
                no_ack: true,
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    match s.next() {
        Event::GetOk { request, message } => {
            assert_eq!(request, r);
            assert_eq!(message.body(), body);
            assert_eq!(message.properties().delivery_mode, Some(2));
        }
        e => panic!("{e:?}"),
    }
    // A passive declare of a missing queue: RabbitMQ closes the channel.
    let missing = ShortStr::try_from(mq_tests::names::queue("missing").as_str()).unwrap();
    s.conn
        .call(
            ch,
            queue::Declare {
                queue: missing,
                passive: true,
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    match s.next() {
        Event::ChannelClosed {
            initiator,
            reason,
            failed,
            ..
        } => {
            assert_eq!(initiator, Initiator::Peer);
            assert_eq!(reason.code, ReplyCode::NOT_FOUND);
            assert_eq!(failed.len(), 1);
        }
        e => panic!("{e:?}"),
    }
    let ch = s.conn.open_channel().unwrap();
    assert!(matches!(s.next(), Event::ChannelOpened { .. }));
    let r = s
        .conn
        .call(
            ch,
            queue::Delete {
                queue: q,
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    assert!(matches!(s.reply(r), Method::QueueDeleteOk(_)));
    s.conn.close(ReplyCode::SUCCESS, "bye").unwrap();
    assert!(matches!(s.next(), Event::ConnectionClosed { .. }));
}
