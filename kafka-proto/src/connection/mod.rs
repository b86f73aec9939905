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

mod frame;
mod sasl;

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

pub use frame::{
    FrameDecoder, peek_request_api_key, read_request_frame, write_request_frame,
    write_response_frame,
};
pub use sasl::{Sasl, SaslPlain};

use crate::api::{
    AnyResponse, ApiKey, ApiVersionsRequest, ApiVersionsResponse, Message, Request, SUPPORTED_APIS,
    SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use crate::error::{DecodeError, DecodeErrorKind, EncodeError, ErrorCode};
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
        }
    }
}

/// A fatal connection error: after it the connection is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// A frame or response header was malformed (or a frame too large).
    #[error("bad response from the broker: {0}")]
    Decode(#[from] DecodeError),
    /// A response came for a correlation id with no request in flight.
    #[error("response for unknown correlation id {0}")]
    UnknownCorrelationId(i32),
    /// The broker rejected ApiVersions.
    #[error("ApiVersions failed: {0}")]
    ApiVersions(ErrorCode),
    /// The broker supports no version of an API in common with this crate.
    #[error("the broker supports no common version of {0}")]
    UnsupportedApi(ApiKey),
    /// SASL failed.
    #[error("SASL {stage} failed: {code}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Sasl {
        /// `"handshake"` or `"authenticate"`.
        stage: &'static str,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's message, or the mechanisms it enables.
        message: Option<String>,
    },
    /// ApiVersions or a SASL step timed out.
    #[error("{0} timed out while setting up the connection")]
    SetupTimedOut(ApiKey),
    /// [`Connection::send`] was called before [`Event::Ready`].
    #[error("the connection is not ready (ApiVersions/SASL not finished)")]
    NotReady,
    /// A request could not be encoded.
    #[error("could not encode the request: {0}")]
    Encode(#[from] EncodeError),
    /// The connection already failed.
    #[error("the connection has failed")]
    Failed,
}

/// Why a request ended without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Its deadline passed.
    #[error("request timed out")]
    TimedOut,
}

/// A response, matched to its request; the body is still encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The request's correlation id.
    pub correlation_id: i32,
    /// The request's API.
    pub api_key: ApiKey,
    /// The request's (and so the response's) version.
    pub api_version: i16,
    /// The response header.
    pub header: ResponseHeader,
    /// The body, a zero-copy slice of the read buffer.
    pub body: Bytes,
}

impl Response {
    /// Decodes the body as `M` (the request type's `Response`).
    pub fn decode<M: Message>(&self) -> Result<M, DecodeError> {
        if M::API_KEY != self.api_key {
            return Err(DecodeErrorKind::UnknownApiKey(self.api_key.0).into());
        }
        M::decode(&mut self.body.clone(), self.api_version)
    }

    /// Decodes the body as whichever API it answers.
    pub fn decode_any(&self) -> Result<AnyResponse, DecodeError> {
        AnyResponse::decode(self.api_key, self.api_version, &mut self.body.clone())
    }
}

/// Something that happened on the connection.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// Negotiation (and SASL, if configured) finished: `send` works now.
    Ready,
    /// A response to a request sent with `send` or `send_at_version`.
    Response(Response),
    /// A request ended without a response.
    RequestFailed {
        /// Its correlation id.
        correlation_id: i32,
        /// Its API.
        api_key: ApiKey,
        /// Why.
        error: RequestError,
    },
    /// The connection failed (setup timed out); it should be closed.
    Failed(ConnectionError),
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
    Failed,
}

/// How many timed-out correlation ids are remembered, so that their late
/// responses are dropped rather than treated as unknown.
const TIMED_OUT_MEMORY: usize = 1024;

/// A sans-IO Kafka client connection to one broker.
#[derive(Debug)]
pub struct Connection {
    config: Config,
    state: State,
    next_correlation_id: i32,
    in_flight: HashMap<i32, InFlight>,
    timed_out: VecDeque<i32>,
    transmit: BytesMut,
    events: VecDeque<Event>,
    frames: FrameDecoder,
    /// Per API key, the negotiated version.
    versions: HashMap<ApiKey, i16>,
    broker_versions: Option<ApiVersionsResponse>,
    sasl_session_lifetime_ms: Option<i64>,
}

impl Connection {
    /// A connection that starts by sending ApiVersions at the newest version.
    pub fn new(config: Config, now: Instant) -> Self {
        let frames = FrameDecoder::new(config.max_response_size);
        let mut conn = Connection {
            config,
            state: State::Negotiating,
            next_correlation_id: 0,
            in_flight: HashMap::new(),
            timed_out: VecDeque::new(),
            transmit: BytesMut::new(),
            events: VecDeque::new(),
            frames,
            versions: HashMap::new(),
            broker_versions: None,
            sasl_session_lifetime_ms: None,
        };
        conn.send_api_versions(now, ApiVersionsRequest::MAX_VERSION);
        conn
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether negotiation and SASL have finished.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
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

    /// The SASL session lifetime the broker granted (KIP-368), if any.
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
        match self.state {
            State::Ready => {}
            State::Failed => return Err(ConnectionError::Failed),
            _ => return Err(ConnectionError::NotReady),
        }
        let version = self
            .version_for(R::API_KEY)
            .ok_or(ConnectionError::UnsupportedApi(R::API_KEY))?;
        self.send_at_version(now, request, version)
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
        match self.state {
            State::Ready => {}
            State::Failed => return Err(ConnectionError::Failed),
            _ => return Err(ConnectionError::NotReady),
        }
        let version = self
            .version_for(R::API_KEY)
            .ok_or(ConnectionError::UnsupportedApi(R::API_KEY))?;
        self.enqueue(now, request, version, timeout, Purpose::User)
    }

    /// Sends `request` at an explicit `version`, in any state but failed.
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
        write_request_frame(
            &mut self.transmit,
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
                    self.on_sasl_authenticate(request.api_version, frame)?
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
        match self.config.sasl.clone() {
            Some(sasl) => {
                self.state = State::Authenticating;
                let version = self
                    .version_for(ApiKey::SASL_HANDSHAKE)
                    .filter(|&v| v >= 1)
                    .ok_or(ConnectionError::UnsupportedApi(ApiKey::SASL_HANDSHAKE))?;
                let request = SaslHandshakeRequest {
                    mechanism: sasl.mechanism().to_owned(),
                    ..Default::default()
                };
                let timeout = self.config.request_timeout;
                self.enqueue(now, &request, version, timeout, Purpose::SaslHandshake)?;
            }
            None => self.become_ready(),
        }
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
                code: response.error_code,
                message: Some(format!("broker enables {:?}", response.mechanisms)),
            });
        }
        let version = self
            .version_for(ApiKey::SASL_AUTHENTICATE)
            .ok_or(ConnectionError::UnsupportedApi(ApiKey::SASL_AUTHENTICATE))?;
        let token = match &self.config.sasl {
            Some(sasl) => sasl.initial_token(),
            None => return Err(ConnectionError::NotReady),
        };
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
        version: i16,
        mut body: Bytes,
    ) -> Result<(), ConnectionError> {
        let response = SaslAuthenticateResponse::decode(&mut body, version)?;
        if !response.error_code.is_ok() {
            return Err(ConnectionError::Sasl {
                stage: "authenticate",
                code: response.error_code,
                message: response.error_message,
            });
        }
        // PLAIN is a single round trip: success ends the exchange.
        if response.session_lifetime_ms > 0 {
            self.sasl_session_lifetime_ms = Some(response.session_lifetime_ms);
        }
        self.become_ready();
        Ok(())
    }

    fn become_ready(&mut self) {
        self.state = State::Ready;
        self.events.push_back(Event::Ready);
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
