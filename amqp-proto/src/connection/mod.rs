//! The sans-IO connection: bytes and time in; bytes, events and deadlines
//! out.
//!
//! One [`Connection`] type plays either [`Role`]: the client (what
//! `mq-client` drives against RabbitMQ) or the server (for in-memory pair
//! tests and fakes). Both share the machinery for channels, content
//! assembly and heartbeats.
//!
//! The driver loop:
//!
//! 1. read socket bytes into a `BytesMut` and call
//!    [`handle_input`](Connection::handle_input) (it consumes every
//!    complete frame and leaves a partial one);
//! 2. drain [`poll_event`](Connection::poll_event);
//! 3. write what [`poll_transmit`](Connection::poll_transmit) appends;
//! 4. sleep until [`poll_timeout`](Connection::poll_timeout), then call
//!    [`handle_timeout`](Connection::handle_timeout).
//!
//! Commands ([`open_channel`](Connection::open_channel),
//! [`call`](Connection::call), [`basic_publish`](Connection::basic_publish),
//! ...) only queue output and return an id. Synchronous requests go out one
//! at a time per channel; later commands on that channel wait behind them in
//! order, so a publish never overtakes the declare issued before it.

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use bytes::BytesMut;

use crate::error::{CommandError, ConnectionError, ReplyCode};
use crate::frame::{FRAME_MIN_SIZE, FrameDecoder};
use crate::method::Method;
use crate::strings::ShortStr;
use crate::table::FieldTable;

mod channel;
mod commands;
mod content;
mod dispatch;
mod handshake;
mod heartbeat;

pub use crate::message::{Delivery, GetMessage, Published, Returned};
pub use handshake::SaslMechanism;

use channel::Channel;
use heartbeat::Heartbeat;

/// A channel number (1 to channel_max; 0 is the connection itself).
pub type ChannelId = u16;

/// Names a command whose answer comes later as an [`Event`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Which side of the connection this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client: sends the protocol header, authenticates, opens channels.
    Client,
    /// The server: answers the handshake and serves channels.
    Server,
}

/// Who started a close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// This side (a command, or a protocol error this side detected).
    Local,
    /// The peer.
    Peer,
}

/// Why a channel or the connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason {
    /// The reply code.
    pub code: ReplyCode,
    /// The reply text.
    pub text: ShortStr,
    /// Class of the method that caused it, or 0.
    pub class_id: u16,
    /// Method that caused it, or 0.
    pub method_id: u16,
}

impl CloseReason {
    pub(crate) fn new(code: ReplyCode, text: &str) -> Self {
        CloseReason {
            code,
            text: short_lossy(text),
            class_id: 0,
            method_id: 0,
        }
    }
}

/// Negotiated limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tune {
    /// Highest channel number.
    pub channel_max: u16,
    /// Largest frame, header and end octet included.
    pub frame_max: u32,
    /// Heartbeat interval in seconds; 0 means none.
    pub heartbeat: u16,
}

/// Settings for a client connection.
#[derive(Clone)]
pub struct ClientConfig {
    /// The virtual host to open.
    pub virtual_host: String,
    /// How to authenticate.
    pub sasl: SaslMechanism,
    /// The highest channel number wanted (0: as many as the server allows).
    pub channel_max: u16,
    /// The largest frame wanted; also the limit for inbound frames. At least 4096.
    pub frame_max: u32,
    /// Heartbeat interval wanted, in seconds (0: none, if the server agrees).
    pub heartbeat: u16,
    /// `connection_name` client property, shown in the management UI.
    pub connection_name: Option<String>,
    /// Extra client properties, added after the defaults.
    pub client_properties: FieldTable,
    /// The locale.
    pub locale: String,
    /// The largest message body accepted; a larger one closes its channel
    /// with 311 CONTENT_TOO_LARGE without being buffered.
    pub max_body_size: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            virtual_host: "/".to_owned(),
            sasl: SaslMechanism::Plain {
                username: "guest".to_owned(),
                password: "guest".to_owned(),
            },
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60,
            connection_name: None,
            client_properties: FieldTable::new(),
            locale: "en_US".to_owned(),
            max_body_size: 128 << 20,
        }
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("virtual_host", &self.virtual_host)
            .field("sasl", &self.sasl)
            .field("channel_max", &self.channel_max)
            .field("frame_max", &self.frame_max)
            .field("heartbeat", &self.heartbeat)
            .field("connection_name", &self.connection_name)
            .field("max_body_size", &self.max_body_size)
            .finish_non_exhaustive()
    }
}

/// Settings for a server connection (tests and fakes).
#[derive(Clone)]
pub struct ServerConfig {
    /// Server properties sent in connection.start.
    pub server_properties: FieldTable,
    /// Accepted `(username, password)` pairs for PLAIN and AMQPLAIN.
    pub users: Vec<(String, String)>,
    /// Whether EXTERNAL is offered (and accepted).
    pub allow_external: bool,
    /// Proposed channel_max.
    pub channel_max: u16,
    /// Proposed frame_max.
    pub frame_max: u32,
    /// Proposed heartbeat, in seconds.
    pub heartbeat: u16,
    /// The largest message body accepted.
    pub max_body_size: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_properties: FieldTable::builder()
                .insert("product", "amqp-proto test server")
                .insert(
                    "capabilities",
                    FieldTable::builder()
                        .insert("publisher_confirms", true)
                        .insert("basic.nack", true)
                        .insert("consumer_cancel_notify", true)
                        .insert("connection.blocked", true)
                        .insert("exchange_exchange_bindings", true)
                        .build(),
                )
                .build(),
            users: vec![("guest".to_owned(), "guest".to_owned())],
            allow_external: false,
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60,
            max_body_size: 128 << 20,
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field(
                "users",
                &self.users.iter().map(|(u, _)| u).collect::<Vec<_>>(),
            )
            .field("allow_external", &self.allow_external)
            .field("channel_max", &self.channel_max)
            .field("frame_max", &self.frame_max)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

/// What happened, in order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The handshake finished: the peer's properties (server properties for
    /// a client, client properties for a server) and the negotiated limits.
    Connected {
        /// The peer's properties.
        peer_properties: FieldTable,
        /// The negotiated limits.
        tune: Tune,
    },
    /// A channel is open (client: channel.open-ok came; server: the client
    /// opened it).
    ChannelOpened {
        /// The channel.
        channel: ChannelId,
    },
    /// A channel is closed. Requests still waiting on it failed.
    ChannelClosed {
        /// The channel.
        channel: ChannelId,
        /// Who closed it.
        initiator: Initiator,
        /// Why.
        reason: CloseReason,
        /// Requests that were queued or awaiting a reply on it.
        failed: Vec<RequestId>,
    },
    /// A synchronous request got its reply.
    Reply {
        /// The channel (0 for connection.update-secret).
        channel: ChannelId,
        /// The request.
        request: RequestId,
        /// The reply method.
        method: Method,
    },
    /// A message for a consumer.
    Delivery(Delivery),
    /// basic.get found a message.
    GetOk {
        /// The basic.get request.
        request: RequestId,
        /// The message.
        message: GetMessage,
    },
    /// basic.get found the queue empty.
    GetEmpty {
        /// The channel.
        channel: ChannelId,
        /// The basic.get request.
        request: RequestId,
    },
    /// An unroutable mandatory message came back (before its confirm).
    Returned(Returned),
    /// Publisher confirms: every publish sequence number in `first..=last`
    /// still unconfirmed is now acked (`ack`) or nacked. A single ack has
    /// `first == last`; a `multiple` one covers everything outstanding up
    /// to its tag.
    Confirmed {
        /// The channel.
        channel: ChannelId,
        /// Lowest sequence number covered.
        first: u64,
        /// Highest sequence number covered.
        last: u64,
        /// Ack (true) or nack (false).
        ack: bool,
    },
    /// The server cancelled a consumer (its queue was deleted, for example).
    ConsumerCancelled {
        /// The channel.
        channel: ChannelId,
        /// The consumer.
        consumer_tag: ShortStr,
    },
    /// The peer asked to pause (`false`) or resume (`true`) content on a
    /// channel; the channel.flow-ok is already queued.
    Flow {
        /// The channel.
        channel: ChannelId,
        /// Resume or pause.
        active: bool,
    },
    /// The server blocked publishing (connection.blocked).
    Blocked {
        /// Why.
        reason: ShortStr,
    },
    /// Publishing may resume.
    Unblocked,
    /// The connection is closed; nothing more will happen on it.
    ConnectionClosed {
        /// Who closed it.
        initiator: Initiator,
        /// Why.
        reason: CloseReason,
    },
    /// Nothing came from the peer for two heartbeat intervals. The
    /// connection is dead; close the socket.
    HeartbeatTimeout,
    /// Server role: a method from the client for the application to act on
    /// (declares, consume, qos, acks, ...). Answer with
    /// [`send_method`](Connection::send_method).
    Request {
        /// The channel.
        channel: ChannelId,
        /// The method.
        method: Method,
    },
    /// Server role: a message the client published.
    Published(Published),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Server: waiting for the protocol header.
    AwaitHeader,
    /// Client: waiting for connection.start.
    AwaitStart,
    /// Server: waiting for start-ok; client: waiting for tune (or secure).
    AwaitStartOk,
    AwaitTune,
    /// Server: waiting for tune-ok.
    AwaitTuneOk,
    /// Server: waiting for connection.open.
    AwaitOpen,
    /// Client: waiting for open-ok.
    AwaitOpenOk,
    Open,
    /// This side sent connection.close and waits for close-ok.
    Closing,
    Closed,
}

#[derive(Debug)]
enum RoleConfig {
    Client(Box<ClientConfig>),
    Server(Box<ServerConfig>),
}

/// A sans-IO AMQP 0-9-1 connection, client or server.
#[derive(Debug)]
pub struct Connection {
    role: RoleConfig,
    state: State,
    decoder: FrameDecoder,
    tune: Tune,
    out: BytesMut,
    events: VecDeque<Event>,
    /// Indexed by channel number; grown to the highest number used.
    channels: Vec<Option<Channel>>,
    next_request: u64,
    heartbeat: Heartbeat,
    blocked: bool,
    /// The close this side sent, reported when the close-ok comes.
    local_close: Option<CloseReason>,
    /// Client: a pending connection.update-secret.
    secret_request: Option<RequestId>,
    /// The peer's properties, held until the handshake finishes.
    peer_properties: FieldTable,
    /// Whether frames were handed out by poll_transmit since the last
    /// heartbeat check.
    sent_since_tick: bool,
}

impl Connection {
    /// A client connection. The protocol header is queued for transmit.
    pub fn client(config: ClientConfig, now: Instant) -> Self {
        let frame_max = config.frame_max.max(FRAME_MIN_SIZE);
        let mut c = Connection::new(RoleConfig::Client(Box::new(config)), State::AwaitStart, now);
        // Before tuning, accept frames up to our own frame_max: RabbitMQ's
        // connection.start is small, but a proxy's may not be.
        c.decoder.set_frame_max(frame_max);
        c.out.extend_from_slice(&crate::frame::PROTOCOL_HEADER);
        c
    }

    /// A server connection, waiting for the client's protocol header.
    pub fn server(config: ServerConfig, now: Instant) -> Self {
        let frame_max = config.frame_max.max(FRAME_MIN_SIZE);
        let mut c = Connection::new(
            RoleConfig::Server(Box::new(config)),
            State::AwaitHeader,
            now,
        );
        c.decoder.set_frame_max(frame_max);
        c
    }

    fn new(role: RoleConfig, state: State, now: Instant) -> Self {
        Connection {
            role,
            state,
            decoder: FrameDecoder::new(FRAME_MIN_SIZE),
            tune: Tune {
                channel_max: 0,
                frame_max: FRAME_MIN_SIZE,
                heartbeat: 0,
            },
            out: BytesMut::with_capacity(8 * 1024),
            events: VecDeque::with_capacity(64),
            channels: Vec::new(),
            next_request: 1,
            heartbeat: Heartbeat::new(now),
            blocked: false,
            local_close: None,
            secret_request: None,
            peer_properties: FieldTable::new(),
            sent_since_tick: false,
        }
    }

    /// This connection's role.
    pub fn role(&self) -> Role {
        match self.role {
            RoleConfig::Client(_) => Role::Client,
            RoleConfig::Server(_) => Role::Server,
        }
    }

    /// Whether the handshake is done and no close has started.
    pub fn is_open(&self) -> bool {
        self.state == State::Open
    }

    /// Whether the connection is closed (after a close handshake, a
    /// heartbeat timeout or a fatal error).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The negotiated limits (meaningful once connected).
    pub fn tune(&self) -> Tune {
        self.tune
    }

    /// Whether the server has blocked publishing (connection.blocked).
    pub fn is_blocked(&self) -> bool {
        self.blocked
    }

    /// Bytes waiting for [`poll_transmit`](Self::poll_transmit), plus bytes
    /// held on channels behind pending synchronous requests. A driver stops
    /// accepting publishes while this is above its high-water mark.
    pub fn pending_transmit_bytes(&self) -> usize {
        let held: usize = self.channels.iter().flatten().map(|c| c.held_bytes()).sum();
        self.out.len() + held
    }

    /// Whether the channel is open (not opening, not closing).
    pub fn is_channel_open(&self, channel: ChannelId) -> bool {
        self.channel(channel).is_some_and(|c| c.is_open())
    }

    /// Whether the channel is closing: channel.close went out (or came
    /// in) and the close-ok has not.
    pub fn is_channel_closing(&self, channel: ChannelId) -> bool {
        self.channel(channel).is_some_and(|c| c.is_closing())
    }

    /// Publishes on the channel still waiting for a confirm (0 when the
    /// channel is not in confirm mode or not open).
    pub fn unconfirmed(&self, channel: ChannelId) -> usize {
        self.channel(channel)
            .and_then(|c| c.confirms.as_ref())
            .map_or(0, |c| c.outstanding())
    }

    /// Appends everything queued for the peer to `out`. When `out` is empty
    /// the internal buffer is swapped in, so nothing is copied.
    pub fn poll_transmit(&mut self, out: &mut BytesMut) {
        if self.out.is_empty() {
            return;
        }
        self.sent_since_tick = true;
        if out.is_empty() {
            std::mem::swap(out, &mut self.out);
        } else {
            out.extend_from_slice(&self.out);
            self.out.clear();
        }
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            _ => self.heartbeat.deadline(),
        }
    }

    /// Sends heartbeats when the connection has been idle and detects a
    /// peer that has been silent for two heartbeat intervals.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Closed {
            return;
        }
        match self
            .heartbeat
            .on_timeout(now, std::mem::take(&mut self.sent_since_tick))
        {
            heartbeat::Action::None => {}
            heartbeat::Action::Send => crate::frame::encode_heartbeat(&mut self.out),
            heartbeat::Action::Dead => {
                self.state = State::Closed;
                self.fail_all_channels();
                self.events.push_back(Event::HeartbeatTimeout);
            }
        }
    }

    /// Consumes every complete frame in `buf`, leaving a partial one.
    ///
    /// A protocol violation by the peer returns the error after queueing
    /// the `connection.close` with its reply code; frames before the bad one
    /// have been handled.
    pub fn handle_input(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
    ) -> Result<(), ConnectionError> {
        if buf.is_empty() {
            return Ok(());
        }
        if self.state == State::Closed {
            buf.clear();
            return Ok(());
        }
        self.heartbeat.on_receive(now);
        let state = self.state;
        match state {
            State::AwaitHeader if !self.server_read_header(buf)? => return Ok(()),
            // A server that does not speak 0-9-1 answers with its own
            // protocol header and closes.
            State::AwaitStart if buf.first() == Some(&b'A') => {
                return self.client_read_header_reply(buf);
            }
            _ => {}
        }
        if let Err(e) = self.read_frames(now, buf) {
            buf.clear();
            return Err(self.fail(e));
        }
        if self.state == State::Closed {
            buf.clear();
        }
        Ok(())
    }

    /// Consumes complete frames: runs of ordinary frames are split off
    /// together and handled in place; a content group (method, header,
    /// one-frame body) is split off as one message, and waits in `buf` until
    /// all of it is in.
    fn read_frames(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
    ) -> Result<(), crate::ProtocolError> {
        loop {
            if self.state == State::Closed {
                return Ok(());
            }
            let (run, stop) = self.scan_run(buf);
            if run > 0 {
                let chunk = buf.split_to(run).freeze();
                for f in crate::frame::ChunkFrames::new(&chunk) {
                    if self.state == State::Closed {
                        return Ok(());
                    }
                    self.handle_frame(now, &chunk, f)?;
                }
            }
            match stop {
                content::Stop::Incomplete => return Ok(()),
                content::Stop::Error(e) => return Err(e.into()),
                content::Stop::Content(len) => match self.take_group(buf, len)? {
                    content::Group::Done => {}
                    content::Group::Incomplete => return Ok(()),
                    content::Group::No => {
                        // Frame by frame: the general path.
                        let chunk = buf.split_to(len).freeze();
                        if let Some(f) = crate::frame::ChunkFrames::new(&chunk).next() {
                            self.handle_frame(now, &chunk, f)?;
                        }
                    }
                },
            }
        }
    }

    /// Starts closing after the peer broke the protocol.
    fn fail(&mut self, e: crate::ProtocolError) -> ConnectionError {
        match self.state {
            State::Closed | State::Closing => {}
            State::AwaitHeader | State::AwaitStart => {
                // No connection.close is possible before the handshake.
                self.state = State::Closed;
            }
            _ => {
                let reason = CloseReason {
                    code: e.code,
                    text: short_lossy(&e.text),
                    class_id: e.class_id,
                    method_id: e.method_id,
                };
                self.start_close(reason);
            }
        }
        ConnectionError::Protocol(e)
    }

    pub(crate) fn channel(&self, id: ChannelId) -> Option<&Channel> {
        self.channels.get(usize::from(id)).and_then(Option::as_ref)
    }

    pub(crate) fn channel_mut(&mut self, id: ChannelId) -> Option<&mut Channel> {
        self.channels
            .get_mut(usize::from(id))
            .and_then(Option::as_mut)
    }

    fn next_request_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    /// Sends connection.close and waits for close-ok.
    fn start_close(&mut self, reason: CloseReason) {
        let m = Method::ConnectionClose(crate::method::connection::Close {
            reply_code: reason.code.0,
            reply_text: reason.text.clone(),
            class_id: reason.class_id,
            method_id: reason.method_id,
        });
        crate::frame::encode_method_frame(&mut self.out, 0, &m);
        self.local_close = Some(reason);
        self.state = State::Closing;
    }

    /// Every channel is gone; their waiting requests failed.
    fn fail_all_channels(&mut self) {
        self.channels.clear();
    }

    fn finish_close(&mut self, initiator: Initiator, reason: CloseReason) {
        self.state = State::Closed;
        self.fail_all_channels();
        self.events
            .push_back(Event::ConnectionClosed { initiator, reason });
    }

    fn frame_max(&self) -> u32 {
        self.tune.frame_max
    }

    fn check_open(&self) -> Result<(), CommandError> {
        match self.state {
            State::Open => Ok(()),
            State::Closing | State::Closed => Err(CommandError::Closed),
            _ => Err(CommandError::NotConnected),
        }
    }
}

/// A short string from text, cut at 255 bytes on a char boundary.
pub(crate) fn short_lossy(s: &str) -> ShortStr {
    let mut end = s.len().min(ShortStr::MAX_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    ShortStr::try_from(s.get(..end).unwrap_or_default()).unwrap_or_default()
}

/// A short string from a caller's argument, checked.
pub(crate) fn short_arg(what: &'static str, s: &str) -> Result<ShortStr, CommandError> {
    ShortStr::try_from(s).map_err(|e| CommandError::StringTooLong { what, len: e.len })
}
