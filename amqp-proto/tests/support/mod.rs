//! The in-memory client/server pair with simulated time, shared by the
//! pair tests.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, Instant};

use amqp_proto::method::{basic, confirm, queue};
use amqp_proto::{
    ClientConfig, Connection, ConnectionError, Event, Method, ServerConfig, ShortStr,
};
use bytes::BytesMut;

pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub now: Instant,
    /// Bytes the client sent, for checks on the wire.
    pub client_wire: Vec<u8>,
    pub client_errors: Vec<ConnectionError>,
    pub server_errors: Vec<ConnectionError>,
}

impl Pair {
    pub fn new(client: ClientConfig, server: ServerConfig) -> Self {
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

    pub fn connected() -> (Self, Vec<Event>) {
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
    pub fn pump(&mut self) {
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

    pub fn client_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    pub fn server_events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.server.poll_event()).collect()
    }

    /// Advances simulated time, firing the timers that are due.
    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        for c in [&mut self.client, &mut self.server] {
            if c.poll_timeout().is_some_and(|t| t <= self.now) {
                c.handle_timeout(self.now);
            }
        }
    }

    /// Opens a channel and answers the server's side.
    pub fn open_channel(&mut self) -> u16 {
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
    pub fn serve(&mut self, mut answer: impl FnMut(&mut Connection, u16, Method)) -> Vec<Event> {
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

pub fn ok_reply(server: &mut Connection, channel: u16, m: Method) {
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

pub trait IntoRequest {
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

pub fn assert_frames_within(wire: &[u8], frame_max: usize) {
    let mut rest = wire.strip_prefix(b"AMQP\x00\x00\x09\x01").unwrap();
    while rest.len() >= 7 {
        let size = u32::from_be_bytes([rest[3], rest[4], rest[5], rest[6]]) as usize;
        assert!(size + 8 <= frame_max, "frame of {} bytes", size + 8);
        assert_eq!(rest[7 + size], 0xCE);
        rest = &rest[size + 8..];
    }
    assert!(rest.is_empty());
}
