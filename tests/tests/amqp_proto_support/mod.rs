//! Drives the sans-IO `amqp_proto::Connection` over a byte pipe: a real
//! TCP socket to RabbitMQ, or a recording of one replayed.
//!
//! The scenario reacts only to events, so replaying the server's bytes in
//! the chunks they were read in reproduces the session exactly.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use amqp_proto::method::{basic, confirm, queue};
use amqp_proto::{BasicProperties, ClientConfig, Connection, Event, Method, ReplyCode, ShortStr};
use bytes::{Bytes, BytesMut};

/// Where the client's bytes go and the server's come from.
pub trait Wire {
    fn send(&mut self, bytes: &[u8]);
    /// Blocks for the next bytes from the server.
    fn recv(&mut self) -> Vec<u8>;
}

/// A TCP connection, recording what the server sends, read by read.
pub struct Live {
    sock: TcpStream,
    pub reads: Vec<Vec<u8>>,
}

impl Live {
    pub fn connect() -> Self {
        let sock = TcpStream::connect(mq_tests::endpoints::amqp_addr())
            .expect("RabbitMQ must listen; run scripts/brokers up");
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        sock.set_nodelay(true).unwrap();
        Live {
            sock,
            reads: Vec::new(),
        }
    }
}

impl Wire for Live {
    fn send(&mut self, bytes: &[u8]) {
        self.sock.write_all(bytes).expect("write to RabbitMQ");
    }

    fn recv(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = self.sock.read(&mut buf).expect("read from RabbitMQ");
        assert!(n > 0, "RabbitMQ closed the socket");
        buf.truncate(n);
        self.reads.push(buf.clone());
        buf
    }
}

/// A recording played back: each read returns the next recorded chunk.
pub struct Replay {
    chunks: VecDeque<Vec<u8>>,
    pub sent: Vec<u8>,
}

impl Replay {
    pub fn new(chunks: Vec<Vec<u8>>) -> Self {
        Replay {
            chunks: chunks.into(),
            sent: Vec::new(),
        }
    }

    pub fn remaining(&self) -> usize {
        self.chunks.len()
    }
}

impl Wire for Replay {
    fn send(&mut self, bytes: &[u8]) {
        self.sent.extend_from_slice(bytes);
    }

    fn recv(&mut self) -> Vec<u8> {
        self.chunks.pop_front().expect("the recording ran out")
    }
}

/// Recorded reads as `[u32 length][bytes]...`.
pub fn encode_recording(reads: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in reads {
        out.extend_from_slice(&(r.len() as u32).to_be_bytes());
        out.extend_from_slice(r);
    }
    out
}

pub fn decode_recording(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut reads = Vec::new();
    while let Some((len, rest)) = data.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        reads.push(rest[..len].to_vec());
        data = &rest[len..];
    }
    reads
}

/// A connection and its wire.
pub struct Session<W: Wire> {
    pub conn: Connection,
    pub wire: W,
    rbuf: BytesMut,
    now: Instant,
}

impl<W: Wire> Session<W> {
    pub fn new(config: ClientConfig, wire: W) -> Self {
        let now = Instant::now();
        Session {
            conn: Connection::client(config, now),
            wire,
            rbuf: BytesMut::with_capacity(64 * 1024),
            now,
        }
    }

    pub fn flush(&mut self) {
        let mut out = BytesMut::new();
        self.conn.poll_transmit(&mut out);
        if !out.is_empty() {
            self.wire.send(&out);
        }
    }

    /// The next event, reading from the wire as needed.
    pub fn next(&mut self) -> Event {
        loop {
            if let Some(e) = self.conn.poll_event() {
                return e;
            }
            self.flush();
            let bytes = self.wire.recv();
            self.rbuf.extend_from_slice(&bytes);
            self.conn
                .handle_input(self.now, &mut self.rbuf)
                .expect("RabbitMQ speaks the protocol");
        }
    }

    /// The reply to `request`, which must be the next event.
    pub fn reply(&mut self, request: amqp_proto::RequestId) -> Method {
        match self.next() {
            Event::Reply {
                request: r, method, ..
            } if r == request => method,
            e => panic!("expected the reply to {request:?}, got {e:?}"),
        }
    }
}

/// Masks a server-generated queue name.
fn mask(name: &ShortStr) -> String {
    let s = name.to_string();
    if s.starts_with("amq.gen-") {
        "amq.gen-*".to_owned()
    } else {
        s
    }
}

/// The session the golden file records: handshake, a server-named queue,
/// publishes with confirms (one returned), basic.get, consume and ack, then
/// an orderly close. Returns a transcript of what happened.
pub fn scenario<W: Wire>(s: &mut Session<W>) -> Vec<String> {
    let mut log = Vec::new();
    match s.next() {
        Event::Connected {
            peer_properties,
            tune,
        } => {
            let product = peer_properties
                .get("product")
                .and_then(|v| v.as_long_str().map(|s| s.to_string()))
                .unwrap_or_default();
            let caps = peer_properties.get("capabilities");
            let confirms = caps
                .as_ref()
                .and_then(|c| c.as_table())
                .and_then(|c| c.get("publisher_confirms"))
                .and_then(|v| v.as_bool());
            log.push(format!(
                "connected to {product} frame_max={} channel_max={} heartbeat={} confirms={confirms:?}",
                tune.frame_max, tune.channel_max, tune.heartbeat
            ));
        }
        e => panic!("expected Connected, got {e:?}"),
    }
    let ch = s.conn.open_channel().unwrap();
    match s.next() {
        Event::ChannelOpened { channel } if channel == ch => log.push(format!("channel {ch} open")),
        e => panic!("{e:?}"),
    }
    let r = s
        .conn
        .call(
            ch,
            queue::Declare {
                exclusive: true,
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let Method::QueueDeclareOk(ok) = s.reply(r) else {
        panic!("declare-ok")
    };
    let q = ok.queue.clone();
    log.push(format!(
        "declared {} messages={}",
        mask(&q),
        ok.message_count
    ));
    let r = s
        .conn
        .call(ch, confirm::Select { nowait: false }.into())
        .unwrap();
    assert!(matches!(s.reply(r), Method::ConfirmSelectOk(_)));
    log.push("confirm mode".to_owned());

    let qname = q.as_str().unwrap().to_owned();
    let props = BasicProperties::default()
        .with_content_type("text/plain")
        .with_message_id("golden");
    let mut seqs = BTreeSet::new();
    for body in ["m1", "m2", "m3"] {
        let seq = s
            .conn
            .basic_publish(ch, "", &qname, true, &props, Bytes::from(body))
            .unwrap();
        seqs.insert(seq.unwrap());
    }
    let lost = s
        .conn
        .basic_publish(
            ch,
            "",
            "amqp-proto.no-such-queue",
            true,
            &props,
            Bytes::from_static(b"lost"),
        )
        .unwrap()
        .unwrap();
    seqs.insert(lost);
    log.push(format!("published {:?}", seqs));
    let mut acked = BTreeSet::new();
    while acked.len() < 4 {
        match s.next() {
            Event::Confirmed {
                first,
                last,
                ack: true,
                ..
            } => acked.extend(first..=last),
            Event::Returned(r) => log.push(format!(
                "returned {} {} {:?} to {}",
                r.reply_code.0,
                r.reply_text(),
                String::from_utf8_lossy(r.body_ref()),
                r.routing_key()
            )),
            e => panic!("{e:?}"),
        }
    }
    log.push(format!("confirmed {:?}", acked));

    let r = s
        .conn
        .call(
            ch,
            basic::Get {
                queue: q.clone(),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    match s.next() {
        Event::GetOk { request, message } if request == r => {
            log.push(format!(
                "got {:?} left={} type={:?}",
                String::from_utf8_lossy(message.body_ref()),
                message.message_count,
                message.properties().content_type
            ));
            s.conn.basic_ack(ch, message.delivery_tag, false).unwrap();
        }
        e => panic!("{e:?}"),
    }
    let r = s
        .conn
        .call(
            ch,
            basic::Qos {
                prefetch_count: 10,
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    assert!(matches!(s.reply(r), Method::BasicQosOk(_)));
    let r = s
        .conn
        .call(
            ch,
            basic::Consume {
                queue: q.clone(),
                consumer_tag: ShortStr::from_static("golden"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let Method::BasicConsumeOk(ok) = s.reply(r) else {
        panic!("consume-ok")
    };
    log.push(format!("consuming as {}", ok.consumer_tag));
    for i in 0..2 {
        match s.next() {
            Event::Delivery(d) => {
                log.push(format!(
                    "delivered {:?} tag={} redelivered={} id={:?}",
                    String::from_utf8_lossy(d.body_ref()),
                    d.delivery_tag,
                    d.redelivered,
                    d.properties().message_id
                ));
                if i == 1 {
                    s.conn.basic_ack(ch, d.delivery_tag, true).unwrap();
                }
            }
            e => panic!("{e:?}"),
        }
    }
    let r = s
        .conn
        .call(
            ch,
            basic::Cancel {
                consumer_tag: ShortStr::from_static("golden"),
                nowait: false,
            }
            .into(),
        )
        .unwrap();
    assert!(matches!(s.reply(r), Method::BasicCancelOk(_)));
    let r = s
        .conn
        .call(
            ch,
            basic::Get {
                queue: q.clone(),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    match s.next() {
        Event::GetEmpty { request, .. } if request == r => log.push("queue empty".to_owned()),
        e => panic!("{e:?}"),
    }
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
    let Method::QueueDeleteOk(ok) = s.reply(r) else {
        panic!("delete-ok")
    };
    log.push(format!("deleted, {} messages", ok.message_count));
    s.conn
        .close_channel(ch, ReplyCode::SUCCESS, "done")
        .unwrap();
    match s.next() {
        Event::ChannelClosed {
            initiator,
            reason,
            failed,
            ..
        } => {
            assert!(failed.is_empty());
            log.push(format!(
                "channel closed by {initiator:?}: {}",
                reason.code.0
            ));
        }
        e => panic!("{e:?}"),
    }
    s.conn.close(ReplyCode::SUCCESS, "bye").unwrap();
    match s.next() {
        Event::ConnectionClosed { initiator, reason } => {
            log.push(format!(
                "connection closed by {initiator:?}: {}",
                reason.code.0
            ));
        }
        e => panic!("{e:?}"),
    }
    s.flush();
    log
}

/// What the scenario logs against RabbitMQ.
pub const TRANSCRIPT: &[&str] = &[
    "connected to RabbitMQ frame_max=131072 channel_max=2047 heartbeat=60 confirms=Some(true)",
    "channel 1 open",
    "declared amq.gen-* messages=0",
    "confirm mode",
    "published {1, 2, 3, 4}",
    "returned 312 NO_ROUTE \"lost\" to amqp-proto.no-such-queue",
    "confirmed {1, 2, 3, 4}",
    "got \"m1\" left=2 type=Some(\"text/plain\")",
    "consuming as golden",
    "delivered \"m2\" tag=2 redelivered=false id=Some(\"golden\")",
    "delivered \"m3\" tag=3 redelivered=false id=Some(\"golden\")",
    "queue empty",
    "deleted, 0 messages",
    "channel closed by Local: 200",
    "connection closed by Local: 200",
];

/// The committed recording of the scenario's server bytes.
pub const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/golden/amqp_proto_session.bin");
