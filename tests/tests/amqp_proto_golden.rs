//! Replays RabbitMQ's side of a recorded session (`golden/`) into a fresh
//! client connection and checks that the same things happen. No broker is
//! needed; the recording comes from `amqp_proto_rabbitmq`.

mod amqp_proto_support;

use amqp_proto::ClientConfig;
use amqp_proto_support::{GOLDEN, Replay, Session, TRANSCRIPT, decode_recording, scenario};

#[test]
fn the_recorded_rabbitmq_session_replays_to_the_same_events() {
    let data = std::fs::read(GOLDEN).expect("the golden recording is committed");
    let reads = decode_recording(&data);
    assert!(reads.len() > 5, "{} reads", reads.len());
    let mut s = Session::new(ClientConfig::default(), Replay::new(reads));
    let log = scenario(&mut s);
    assert_eq!(log, TRANSCRIPT);
    assert_eq!(s.wire.remaining(), 0, "every recorded read was consumed");
    assert!(s.conn.is_closed());
    // The client's side starts with the protocol header and ends with
    // connection.close-ok's counterpart: a connection.close it sent.
    assert!(s.wire.sent.starts_with(b"AMQP\x00\x00\x09\x01"));
}

#[test]
fn every_prefix_of_the_recording_is_need_more_never_an_error() {
    let data = std::fs::read(GOLDEN).expect("the golden recording is committed");
    let all: Vec<u8> = decode_recording(&data).concat();
    // Feed the whole server stream one byte at a time to a client that
    // does nothing: it must never fail before it is told something wrong.
    let now = std::time::Instant::now();
    let mut c = amqp_proto::Connection::client(ClientConfig::default(), now);
    let mut buf = bytes::BytesMut::new();
    let mut events = 0;
    for b in all.iter().take(2000) {
        buf.extend_from_slice(&[*b]);
        match c.handle_input(now, &mut buf) {
            Ok(()) => {}
            // Without the scenario's commands, a reply to an unsent
            // request is a protocol error; it must come only after the
            // handshake succeeded.
            Err(e) => {
                assert!(events > 0, "{e}");
                return;
            }
        }
        while c.poll_event().is_some() {
            events += 1;
        }
    }
}
