//! The sans-IO Kafka connection: framing, correlation ids, in-flight
//! requests, ApiVersions negotiation, SASL and request deadlines.
//!
//! Bytes and time go in, bytes, events and deadlines come out; nothing here
//! touches a socket or reads a clock. A driver does:
//!
//! ```text
//! let mut conn = Connection::new(config, now);       // queues ApiVersions
//! loop {
//!     conn.poll_transmit(&mut out);  write out to the socket
//!     read from the socket into `inbuf`, or wait until conn.poll_timeout()
//!     conn.handle_input(now, &mut inbuf)?;           // or handle_timeout(now)
//!     while let Some(ev) = conn.poll_event() { ... } // Ready, Response, RequestFailed, Failed
//! }
//! ```
//!
//! Once [`Event::Ready`] has come out, [`Connection::send`] sends a request
//! at the highest version both sides support; the answer comes back as
//! [`Event::Response`], matched by correlation id, and is decoded with
//! [`Response::decode`].
//!
//! SASL ([`Config::sasl`]) runs after ApiVersions: SaslHandshake v1, then as
//! many SaslAuthenticate rounds as the mechanism takes (one for PLAIN and
//! OAUTHBEARER, two for SCRAM); `Ready` comes after the last. A broker that
//! grants a session lifetime (KIP-368) expects the client to authenticate
//! again on the live connection before it ends: see
//! [`Connection::reauthentication_due`] and
//! [`Connection::start_reauthentication`].

mod error;
mod event;
mod frame;
pub(crate) mod sasl;

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

pub use error::{ConnectionError, RequestError};
pub use event::{Event, Response};
pub use frame::{
    FrameDecoder, peek_request_api_key, read_request_frame, write_request_frame,
    write_response_frame,
};
pub use sasl::{Sasl, SaslErrorKind, SaslOAuthBearer, SaslPlain, SaslScram, ScramMechanism};

use sasl::{SaslExchange, SaslFault, Step};

use crate::api::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, Message, Request, SUPPORTED_APIS,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::error::ErrorCode;
use crate::header::{ResponseHeader, response_header_version};

/// Settings of a [`Connection`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The client id sent in every request header.
    pub client_id: Option<String>,
    /// Client software name sent in ApiVersions v3+ (KIP-511).
    pub client_software_name: String,
    /// Client software version sent in ApiVersions v3+.
    pub client_software_version: String,
    /// Largest response frame accepted; checked before allocating.
    pub max_response_size: usize,
    /// How long a request may wait for its response.
    pub request_timeout: Duration,
    /// SASL authentication after negotiation, if any.
    pub sasl: Option<Sasl>,
    /// SCRAM's client nonce for this connection's authentication: a fresh
    /// random string per connection, never reused, of 16 to 256 printable
    /// ASCII characters other than `,`. Make one from 18 or more bytes of a
    /// CSPRNG with [`SaslScram::nonce_from_random`]. This crate draws no
    /// randomness of its own. Without it, a SCRAM connection fails at once
    /// ([`SaslErrorKind::InvalidConfig`]); other mechanisms ignore it.
    pub sasl_nonce: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            client_id: Some("mq".to_owned()),
            client_software_name: "mq-rust".to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
            max_response_size: 100 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            sasl: None,
            sasl_nonce: None,
        }
    }
}

/// Who is waiting for a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    User,
    ApiVersions,
    SaslHandshake,
    SaslAuthenticate,
}

#[derive(Debug, Clone)]
struct InFlight {
    api_key: ApiKey,
    api_version: i16,
    deadline: Instant,
    purpose: Purpose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Negotiating,
    Authenticating,
    Ready,
    /// Ready, with a KIP-368 re-authentication under way: new requests are
    /// held until it ends.
    Reauthenticating,
    Failed,
}

/// How many timed-out correlation ids are remembered, so that their late
/// responses are dropped rather than treated as unknown.
const TIMED_OUT_MEMORY: usize = 1024;

/// A sans-IO Kafka client connection to one broker.
pub struct Connection {
    config: Config,
    state: State,
    next_correlation_id: i32,
    in_flight: HashMap<i32, InFlight>,
    timed_out: VecDeque<i32>,
    transmit: BytesMut,
    /// Requests sent during a re-authentication, sent after it.
    held: BytesMut,
    events: VecDeque<Event>,
    frames: FrameDecoder,
    /// Per API key, the negotiated version.
    versions: HashMap<ApiKey, i16>,
    broker_versions: Option<ApiVersionsResponse>,
    /// The SASL exchange under way, if any.
    sasl: Option<SaslExchange>,
    /// When the last successful SASL exchange began.
    sasl_started: Option<Instant>,
    /// The SCRAM nonce last used, never to be used again.
    last_nonce: Option<String>,
    sasl_session_lifetime_ms: Option<i64>,
}

// By hand: the transmit buffers may hold a PLAIN password or an OAuth token
// on their way out, so only their lengths are shown.
impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("config", &self.config)
            .field("state", &self.state)
            .field("next_correlation_id", &self.next_correlation_id)
            .field("in_flight", &self.in_flight)
            .field("transmit_len", &self.transmit.len())
            .field("held_len", &self.held.len())
            .field("events", &self.events)
            .field("versions", &self.versions)
            .field("sasl", &self.sasl)
            .field("sasl_session_lifetime_ms", &self.sasl_session_lifetime_ms)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection that starts by sending ApiVersions at the newest version.
    ///
    /// SASL credentials that cannot be sent (a SCRAM mechanism without
    /// [`Config::sasl_nonce`], say) fail it at once: nothing is sent and
    /// [`Event::Failed`] comes out.
    pub fn new(config: Config, now: Instant) -> Self {
        let frames = FrameDecoder::new(config.max_response_size);
        let mut conn = Connection {
            config,
            state: State::Negotiating,
            next_correlation_id: 0,
            in_flight: HashMap::new(),
            timed_out: VecDeque::new(),
            transmit: BytesMut::new(),
            held: BytesMut::new(),
            events: VecDeque::new(),
            frames,
            versions: HashMap::new(),
            broker_versions: None,
            sasl: None,
            sasl_started: None,
            last_nonce: None,
            sasl_session_lifetime_ms: None,
        };
        if let Some(sasl) = &conn.config.sasl {
            let nonce = conn.config.sasl_nonce.as_deref();
            match SaslExchange::start(sasl, nonce) {
                Ok(exchange) => {
                    conn.last_nonce = nonce.filter(|_| sasl.needs_nonce()).map(str::to_owned);
                    conn.sasl = Some(exchange);
                }
                Err(fault) => {
                    conn.state = State::Failed;
                    conn.events
                        .push_back(Event::Failed(sasl_fault("setup", fault)));
                    return conn;
                }
            }
        }
        conn.send_api_versions(now, ApiVersionsRequest::MAX_VERSION);
        conn
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether negotiation and SASL have finished (and `send` works: during
    /// a re-authentication too).
    pub fn is_ready(&self) -> bool {
        matches!(self.state, State::Ready | State::Reauthenticating)
    }

    /// Whether a re-authentication is under way.
    pub fn is_reauthenticating(&self) -> bool {
        self.state == State::Reauthenticating
    }

    /// Whether the connection has failed.
    pub fn is_failed(&self) -> bool {
        self.state == State::Failed
    }

    /// The version negotiated for `api_key`: the highest both sides support.
    pub fn version_for(&self, api_key: ApiKey) -> Option<i16> {
        self.versions.get(&api_key).copied()
    }

    /// The broker's ApiVersions answer, once received.
    pub fn broker_versions(&self) -> Option<&ApiVersionsResponse> {
        self.broker_versions.as_ref()
    }

    /// The SASL session lifetime the broker granted (KIP-368) in the last
    /// SaslAuthenticate response, if any.
    pub fn sasl_session_lifetime_ms(&self) -> Option<i64> {
        self.sasl_session_lifetime_ms
    }

    /// How many requests await a response.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Sends `request` at the negotiated version; returns its correlation
    /// id. Fails before [`Event::Ready`] and for APIs the broker does not
    /// support.
    pub fn send<R: Request>(&mut self, now: Instant, request: &R) -> Result<i32, ConnectionError> {
        let version = self.version_to_send(request)?;
        self.send_at_version(now, request, version)
    }

    /// The version `send` writes `request` at: the negotiated one, capped
    /// by what the request's content allows (a topic without a known id
    /// keeps Produce at v12), never below the floor this crate implements.
    pub fn version_to_send<R: Request>(&self, request: &R) -> Result<i16, ConnectionError> {
        match self.state {
            State::Ready | State::Reauthenticating => {}
            State::Failed => return Err(ConnectionError::Failed),
            _ => return Err(ConnectionError::NotReady),
        }
        self.version_for(R::API_KEY)
            .map(|v| v.min(request.max_usable_version()))
            .filter(|v| *v >= request.min_usable_version())
            .ok_or(ConnectionError::UnsupportedApi(R::API_KEY))
    }

    /// Like [`send`](Self::send), with a deadline of `now + timeout` instead
    /// of the configured request timeout (for a Fetch whose `max_wait_ms`
    /// is long, say).
    pub fn send_with_timeout<R: Request>(
        &mut self,
        now: Instant,
        request: &R,
        timeout: Duration,
    ) -> Result<i32, ConnectionError> {
        let version = self.version_to_send(request)?;
        self.enqueue(now, request, version, timeout, Purpose::User)
    }

    /// Sends `request` at an explicit `version`, in any state but failed.
    /// (During a re-authentication it is held until that ends.)
    pub fn send_at_version<R: Request>(
        &mut self,
        now: Instant,
        request: &R,
        version: i16,
    ) -> Result<i32, ConnectionError> {
        if self.state == State::Failed {
            return Err(ConnectionError::Failed);
        }
        let timeout = self.config.request_timeout;
        self.enqueue(now, request, version, timeout, Purpose::User)
    }

    fn enqueue<R: Request>(
        &mut self,
        now: Instant,
        request: &R,
        version: i16,
        timeout: Duration,
        purpose: Purpose,
    ) -> Result<i32, ConnectionError> {
        let correlation_id = self.next_correlation_id;
        // A broker re-authenticating a connection takes nothing but SASL
        // requests until it is done (KIP-368): hold the others till then.
        let out = if self.state == State::Reauthenticating && purpose == Purpose::User {
            &mut self.held
        } else {
            &mut self.transmit
        };
        write_request_frame(
            out,
            correlation_id,
            self.config.client_id.as_deref(),
            version,
            request,
        )?;
        // Correlation ids wrap after 2^31 requests, skipping negatives.
        self.next_correlation_id = correlation_id.checked_add(1).unwrap_or(0);
        if request.expects_response() {
            self.in_flight.insert(
                correlation_id,
                InFlight {
                    api_key: R::API_KEY,
                    api_version: version,
                    deadline: deadline(now, timeout),
                    purpose,
                },
            );
        }
        Ok(correlation_id)
    }

    /// Appends the bytes to send to `out`.
    pub fn poll_transmit(&mut self, out: &mut BytesMut) {
        if out.is_empty() {
            std::mem::swap(out, &mut self.transmit);
        } else {
            out.extend_from_slice(&self.transmit);
            self.transmit.clear();
        }
    }

    /// Whether bytes are waiting to be sent.
    pub fn has_transmit(&self) -> bool {
        !self.transmit.is_empty()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest request deadline.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == State::Failed {
            return None;
        }
        self.in_flight.values().map(|f| f.deadline).min()
    }

    /// Fails every request whose deadline is at or before `now`. A timed-out
    /// setup request (ApiVersions, SASL) fails the connection.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Failed {
            return;
        }
        let mut expired: Vec<(i32, InFlight)> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, f)| (*id, f.clone()))
            .collect();
        expired.sort_by_key(|(id, _)| *id);
        for (id, f) in expired {
            self.in_flight.remove(&id);
            if self.timed_out.len() == TIMED_OUT_MEMORY {
                self.timed_out.pop_front();
            }
            self.timed_out.push_back(id);
            if f.purpose == Purpose::User {
                self.events.push_back(Event::RequestFailed {
                    correlation_id: id,
                    api_key: f.api_key,
                    error: RequestError::TimedOut,
                });
            } else {
                self.state = State::Failed;
                self.events
                    .push_back(Event::Failed(ConnectionError::SetupTimedOut(f.api_key)));
                return;
            }
        }
    }

    /// Consumes every complete frame in `buf`, leaving a partial one there.
    /// An error is fatal: the connection is failed from then on.
    pub fn handle_input(
        &mut self,
        now: Instant,
        buf: &mut BytesMut,
    ) -> Result<(), ConnectionError> {
        if self.state == State::Failed {
            return Err(ConnectionError::Failed);
        }
        let result = self.handle_frames(now, buf);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn handle_frames(&mut self, now: Instant, buf: &mut BytesMut) -> Result<(), ConnectionError> {
        while let Some(mut frame) = self.frames.decode(buf)? {
            let correlation_id = {
                let mut peek = &frame[..];
                crate::primitives::read_i32(&mut peek)
                    .map_err(|e| e.in_field("ResponseHeader.correlation_id"))?
            };
            let Some(request) = self.in_flight.remove(&correlation_id) else {
                if let Some(pos) = self.timed_out.iter().position(|&id| id == correlation_id) {
                    // A late answer to a request already failed: drop it.
                    self.timed_out.remove(pos);
                    continue;
                }
                return Err(ConnectionError::UnknownCorrelationId(correlation_id));
            };
            let header_version = response_header_version(request.api_key, request.api_version);
            let header = ResponseHeader::decode(&mut frame, header_version)?;
            match request.purpose {
                Purpose::User => self.events.push_back(Event::Response(Response {
                    correlation_id,
                    api_key: request.api_key,
                    api_version: request.api_version,
                    header,
                    body: frame,
                })),
                Purpose::ApiVersions => self.on_api_versions(now, request.api_version, frame)?,
                Purpose::SaslHandshake => {
                    self.on_sasl_handshake(now, request.api_version, frame)?
                }
                Purpose::SaslAuthenticate => {
                    self.on_sasl_authenticate(now, request.api_version, frame)?
                }
            }
        }
        Ok(())
    }

    fn send_api_versions(&mut self, now: Instant, version: i16) {
        let request = ApiVersionsRequest {
            client_software_name: self.config.client_software_name.clone(),
            client_software_version: self.config.client_software_version.clone(),
            ..Default::default()
        };
        let timeout = self.config.request_timeout;
        if let Err(e) = self.enqueue(now, &request, version, timeout, Purpose::ApiVersions) {
            self.state = State::Failed;
            self.events.push_back(Event::Failed(e));
        }
    }

    fn on_api_versions(
        &mut self,
        now: Instant,
        sent: i16,
        body: Bytes,
    ) -> Result<(), ConnectionError> {
        // The error code leads every version of the body. A broker that does
        // not know the version answers UNSUPPORTED_VERSION in the v0 format.
        let error = ErrorCode((&body[..]).try_get_i16().unwrap_or(-1));
        if error == ErrorCode::UNSUPPORTED_VERSION && sent > 0 {
            let broker_max = ApiVersionsResponse::decode(&mut body.clone(), 0)
                .ok()
                .and_then(|r| {
                    r.api_keys
                        .iter()
                        .find(|k| k.api_key == ApiKey::API_VERSIONS)
                        .map(|k| k.max_version)
                });
            let retry = match broker_max {
                Some(max) if (0..sent).contains(&max) => max,
                _ => 0,
            };
            self.send_api_versions(now, retry);
            return Ok(());
        }
        if !error.is_ok() {
            return Err(ConnectionError::ApiVersions(error));
        }
        let response = match ApiVersionsResponse::decode(&mut body.clone(), sent) {
            Ok(r) => r,
            // As the Java client does: fall back to reading it as v0.
            Err(e) => ApiVersionsResponse::decode(&mut body.clone(), 0).map_err(|_| e)?,
        };
        self.versions = negotiate(&response);
        self.broker_versions = Some(response);
        if self.sasl.is_some() {
            self.state = State::Authenticating;
            self.send_sasl_handshake(now)?;
        } else {
            self.become_ready();
        }
        Ok(())
    }

    /// When to start a re-authentication (KIP-368): at 85% of the session
    /// lifetime the broker granted, counted from when the last
    /// authentication began (its SaslHandshake was queued), so that it ends
    /// before the broker closes the connection. `None` without a lifetime,
    /// before `Ready`, and while one is under way. The Java client picks
    /// 85-95% at random to spread many connections out; a driver that wants
    /// that adds its own jitter.
    pub fn reauthentication_due(&self) -> Option<Instant> {
        if self.state != State::Ready {
            return None;
        }
        let lifetime = u64::try_from(self.sasl_session_lifetime_ms?).ok()?;
        let ms = u64::try_from(u128::from(lifetime) * 85 / 100).unwrap_or(u64::MAX);
        Some(deadline(self.sasl_started?, Duration::from_millis(ms)))
    }

    /// Starts a KIP-368 re-authentication on the live connection: sends
    /// SaslHandshake and SaslAuthenticate again, with the same mechanism.
    ///
    /// `sasl` replaces the configured credentials (an OAUTHBEARER token just
    /// refreshed, say), or `None` keeps them; SCRAM needs a fresh
    /// `sasl_nonce`, never one used before. The connection stays usable:
    /// responses to requests already sent still come as they arrive (the
    /// broker answers in order, before it reads the handshake), and requests
    /// sent from now on are held back and sent once the re-authentication
    /// succeeds ([`Event::Reauthenticated`]), since the broker takes nothing
    /// but SASL requests until then. Like the Java client, this does not
    /// wait for in-flight responses. A failure of the re-authentication
    /// itself fails the connection (the broker closes it anyway).
    ///
    /// Errors, leaving the connection as it was: [`ConnectionError::Failed`];
    /// [`ConnectionError::NotReady`] before `Ready` or while a
    /// re-authentication is under way; [`ConnectionError::Sasl`] with
    /// [`SaslErrorKind::InvalidConfig`] when no SASL is configured, the
    /// broker granted no session lifetime (it would refuse), the mechanism
    /// differs, or the credentials or nonce cannot be sent.
    pub fn start_reauthentication(
        &mut self,
        now: Instant,
        sasl: Option<Sasl>,
        sasl_nonce: Option<String>,
    ) -> Result<(), ConnectionError> {
        match self.state {
            State::Ready => {}
            State::Failed => return Err(ConnectionError::Failed),
            _ => return Err(ConnectionError::NotReady),
        }
        let invalid = |message: &str| ConnectionError::Sasl {
            stage: "setup",
            kind: SaslErrorKind::InvalidConfig,
            code: ErrorCode::SASL_AUTHENTICATION_FAILED,
            message: Some(message.to_owned()),
        };
        let Some(configured) = &self.config.sasl else {
            return Err(invalid("no SASL mechanism is configured"));
        };
        if self.sasl_session_lifetime_ms.is_none() {
            return Err(invalid(
                "the broker granted no session lifetime, so it does not take re-authentication",
            ));
        }
        let sasl = sasl.unwrap_or_else(|| configured.clone());
        if sasl.mechanism() != configured.mechanism() {
            return Err(invalid("re-authentication must use the same mechanism"));
        }
        if sasl.needs_nonce() && sasl_nonce.is_some() && sasl_nonce == self.last_nonce {
            return Err(invalid("the SCRAM nonce was used before"));
        }
        let exchange = SaslExchange::start(&sasl, sasl_nonce.as_deref())
            .map_err(|f| sasl_fault("setup", f))?;
        self.sasl = Some(exchange);
        self.state = State::Reauthenticating;
        if let Err(e) = self.send_sasl_handshake(now) {
            // Nothing was queued: the connection goes on as it was.
            self.sasl = None;
            self.state = State::Ready;
            return Err(e);
        }
        if sasl.needs_nonce() {
            self.last_nonce.clone_from(&sasl_nonce);
        }
        self.config.sasl = Some(sasl);
        self.config.sasl_nonce = sasl_nonce;
        Ok(())
    }

    fn send_sasl_handshake(&mut self, now: Instant) -> Result<(), ConnectionError> {
        let mechanism = match &self.sasl {
            Some(exchange) => exchange.mechanism(),
            None => return Err(ConnectionError::NotReady),
        };
        let version = self
            .version_for(ApiKey::SASL_HANDSHAKE)
            .filter(|&v| v >= 1)
            .ok_or(ConnectionError::UnsupportedApi(ApiKey::SASL_HANDSHAKE))?;
        let request = SaslHandshakeRequest {
            mechanism: mechanism.to_owned(),
            ..Default::default()
        };
        let timeout = self.config.request_timeout;
        self.enqueue(now, &request, version, timeout, Purpose::SaslHandshake)?;
        self.sasl_started = Some(now);
        Ok(())
    }

    fn on_sasl_handshake(
        &mut self,
        now: Instant,
        version: i16,
        mut body: Bytes,
    ) -> Result<(), ConnectionError> {
        let response = SaslHandshakeResponse::decode(&mut body, version)?;
        if !response.error_code.is_ok() {
            return Err(ConnectionError::Sasl {
                stage: "handshake",
                kind: kind_of(response.error_code),
                code: response.error_code,
                message: Some(format!("broker enables {:?}", response.mechanisms)),
            });
        }
        let token = self.sasl.as_mut().and_then(SaslExchange::take_first);
        let Some(token) = token else {
            return Err(ConnectionError::NotReady);
        };
        self.send_sasl_authenticate(now, token)
    }

    fn send_sasl_authenticate(
        &mut self,
        now: Instant,
        token: Bytes,
    ) -> Result<(), ConnectionError> {
        let version = self
            .version_for(ApiKey::SASL_AUTHENTICATE)
            .ok_or(ConnectionError::UnsupportedApi(ApiKey::SASL_AUTHENTICATE))?;
        let request = SaslAuthenticateRequest {
            auth_bytes: token,
            ..Default::default()
        };
        let timeout = self.config.request_timeout;
        self.enqueue(now, &request, version, timeout, Purpose::SaslAuthenticate)?;
        Ok(())
    }

    fn on_sasl_authenticate(
        &mut self,
        now: Instant,
        version: i16,
        mut body: Bytes,
    ) -> Result<(), ConnectionError> {
        let response = SaslAuthenticateResponse::decode(&mut body, version)?;
        let Some(exchange) = self.sasl.as_mut() else {
            return Err(ConnectionError::NotReady);
        };
        if !response.error_code.is_ok() {
            let broker = response
                .error_message
                .map(|m| exchange.redact(sasl::truncate(&m, MAX_BROKER_MESSAGE)));
            let message = match (broker, exchange.failure_detail()) {
                (Some(m), Some(status)) if !m.contains(&status) => {
                    Some(format!("{m}; error status {status}"))
                }
                (None, Some(status)) => Some(format!("error status {status}")),
                (m, _) => m,
            };
            return Err(ConnectionError::Sasl {
                stage: "authenticate",
                kind: kind_of(response.error_code),
                code: response.error_code,
                message,
            });
        }
        match exchange
            .step(&response.auth_bytes)
            .map_err(|f| sasl_fault("authenticate", f))?
        {
            Step::Send(token) => self.send_sasl_authenticate(now, token),
            Step::Done => {
                self.sasl = None;
                // KIP-368: the lifetime comes with the exchange's last answer.
                self.sasl_session_lifetime_ms =
                    Some(response.session_lifetime_ms).filter(|&ms| ms > 0);
                if self.state == State::Reauthenticating {
                    self.state = State::Ready;
                    let held = std::mem::take(&mut self.held);
                    self.transmit.extend_from_slice(&held);
                    self.events.push_back(Event::Reauthenticated);
                } else {
                    self.become_ready();
                }
                Ok(())
            }
        }
    }

    fn become_ready(&mut self) {
        self.state = State::Ready;
        self.events.push_back(Event::Ready);
    }
}

/// The longest broker SASL error message kept.
const MAX_BROKER_MESSAGE: usize = 1024;

/// The kind of a broker's SASL error code.
fn kind_of(code: ErrorCode) -> SaslErrorKind {
    if code == ErrorCode::SASL_AUTHENTICATION_FAILED {
        SaslErrorKind::AuthenticationFailed
    } else if code == ErrorCode::UNSUPPORTED_SASL_MECHANISM {
        SaslErrorKind::MechanismNotEnabled
    } else {
        SaslErrorKind::BrokerError
    }
}

/// A failure the client found, as the Java client reports it.
fn sasl_fault(stage: &'static str, fault: SaslFault) -> ConnectionError {
    ConnectionError::Sasl {
        stage,
        kind: fault.kind,
        code: ErrorCode::SASL_AUTHENTICATION_FAILED,
        message: Some(fault.message),
    }
}

/// `now + timeout`, saturating at a year for absurd timeouts.
fn deadline(now: Instant, timeout: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    now.checked_add(timeout.min(YEAR)).unwrap_or(now)
}

/// For every API this crate implements that the broker supports, the
/// highest version both support.
pub fn negotiate(broker: &ApiVersionsResponse) -> HashMap<ApiKey, i16> {
    let mut out = HashMap::new();
    for ours in SUPPORTED_APIS {
        if let Some(theirs) = broker.api_keys.iter().find(|k| k.api_key == ours.api_key) {
            let lo = ours.min_version.max(theirs.min_version);
            let hi = ours.max_version.min(theirs.max_version);
            if lo <= hi {
                out.insert(ours.api_key, hi);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
