//! The handshake, both roles: protocol header, start/start-ok with SASL
//! (PLAIN, AMQPLAIN, EXTERNAL), tune/tune-ok, open/open-ok.

use std::fmt;

use bytes::{BufMut, BytesMut};

use super::{CloseReason, Connection, Event, RoleConfig, State, Tune, short_lossy};
use crate::error::{ConnectionError, DecodeError, ProtocolError, ReplyCode};
use crate::frame::{FRAME_MIN_SIZE, PROTOCOL_HEADER, encode_method_frame};
use crate::method::{Method, connection as conn};
use crate::strings::{LongStr, ShortStr};
use crate::table::{FieldTable, FieldValue};

/// How a client authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum SaslMechanism {
    /// PLAIN (RFC 4616): `\0user\0password`.
    Plain {
        /// User name.
        username: String,
        /// Password (never printed by `Debug`).
        password: String,
    },
    /// AMQPLAIN: a field table with LOGIN and PASSWORD, without its length.
    AmqPlain {
        /// User name.
        username: String,
        /// Password (never printed by `Debug`).
        password: String,
    },
    /// EXTERNAL: the identity comes from elsewhere (a TLS client certificate).
    External,
}

impl fmt::Debug for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SaslMechanism::Plain { username, .. } => f
                .debug_struct("Plain")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            SaslMechanism::AmqPlain { username, .. } => f
                .debug_struct("AmqPlain")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            SaslMechanism::External => f.write_str("External"),
        }
    }
}

impl SaslMechanism {
    /// The mechanism's name, as sent in start-ok.
    pub fn name(&self) -> &'static str {
        match self {
            SaslMechanism::Plain { .. } => "PLAIN",
            SaslMechanism::AmqPlain { .. } => "AMQPLAIN",
            SaslMechanism::External => "EXTERNAL",
        }
    }

    /// The initial response.
    pub fn response(&self) -> LongStr {
        match self {
            SaslMechanism::Plain { username, password } => {
                let mut b = Vec::with_capacity(2 + username.len() + password.len());
                b.push(0);
                b.extend_from_slice(username.as_bytes());
                b.push(0);
                b.extend_from_slice(password.as_bytes());
                LongStr::from(b)
            }
            SaslMechanism::AmqPlain { username, password } => {
                let t = FieldTable::builder()
                    .insert("LOGIN", username.as_str())
                    .insert("PASSWORD", password.as_str())
                    .build();
                LongStr::from(t.as_bytes().to_vec())
            }
            SaslMechanism::External => LongStr::empty(),
        }
    }

    /// Reads a response back into `(mechanism name, user, password)`;
    /// EXTERNAL gives empty strings. `None` if malformed or unknown.
    pub fn parse_response(mechanism: &[u8], response: &[u8]) -> Option<(String, String)> {
        match mechanism {
            b"PLAIN" => {
                let mut parts = response.split(|b| *b == 0);
                let _authzid = parts.next()?;
                let user = std::str::from_utf8(parts.next()?).ok()?;
                let pass = std::str::from_utf8(parts.next()?).ok()?;
                Some((user.to_owned(), pass.to_owned()))
            }
            b"AMQPLAIN" => {
                let t = FieldTable::decode(bytes::Bytes::copy_from_slice(response)).ok()?;
                let get = |k: &str| match t.get(k) {
                    Some(FieldValue::LongStr(s)) => s.as_str().ok().map(str::to_owned),
                    _ => None,
                };
                Some((get("LOGIN")?, get("PASSWORD")?))
            }
            b"EXTERNAL" => Some((String::new(), String::new())),
            _ => None,
        }
    }
}

/// The client properties a client announces, with the capabilities the
/// connection handles.
fn client_properties(config: &super::ClientConfig) -> FieldTable {
    let capabilities = FieldTable::builder()
        .insert("publisher_confirms", true)
        .insert("exchange_exchange_bindings", true)
        .insert("basic.nack", true)
        .insert("consumer_cancel_notify", true)
        .insert("connection.blocked", true)
        .insert("authentication_failure_close", true)
        .insert("per_consumer_qos", true)
        .build();
    let mut b = FieldTable::builder()
        .insert("product", "mq (amqp-proto)")
        .insert("version", env!("CARGO_PKG_VERSION"))
        .insert("platform", "Rust")
        .insert("information", "a pure-Rust AMQP 0-9-1 client")
        .insert("capabilities", capabilities);
    if let Some(name) = &config.connection_name {
        b = b.insert("connection_name", name.as_str());
    }
    for (k, v) in config.client_properties.iter() {
        b.push(&k, v);
    }
    b.build()
}

/// Spec: "if either side's value is zero, the other's applies; otherwise
/// the lower". Used for channel_max and frame_max.
fn negotiate_limit<T: Copy + Ord + Default>(ours: T, theirs: T) -> T {
    let zero = T::default();
    match (ours == zero, theirs == zero) {
        (true, _) => theirs,
        (_, true) => ours,
        _ => ours.min(theirs),
    }
}

impl Connection {
    /// Client: the server sent a protocol header instead of connection.start.
    pub(super) fn client_read_header_reply(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<(), ConnectionError> {
        let Some(h) = buf.first_chunk::<8>().copied() else {
            if buf.get(..buf.len().min(4)) == PROTOCOL_HEADER.get(..buf.len().min(4)) {
                return Ok(());
            }
            self.state = State::Closed;
            return Err(
                ProtocolError::from(DecodeError::BadProtocolHeader { found: [0; 8] }).into(),
            );
        };
        self.state = State::Closed;
        buf.clear();
        if h[..4] != PROTOCOL_HEADER[..4] {
            return Err(ProtocolError::from(DecodeError::BadProtocolHeader { found: h }).into());
        }
        Err(ConnectionError::UnsupportedProtocol {
            major: h[5],
            minor: h[6],
            revision: h[7],
        })
    }

    /// Server: reads the client's protocol header and sends connection.start.
    /// Returns whether the header was complete.
    pub(super) fn server_read_header(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<bool, ConnectionError> {
        match crate::frame::decode_protocol_header(buf) {
            Ok(None) => Ok(false),
            Ok(Some(h)) if h == PROTOCOL_HEADER => {
                let RoleConfig::Server(cfg) = &self.role else {
                    return Ok(true);
                };
                let mut mechanisms = String::from("PLAIN AMQPLAIN");
                if cfg.allow_external {
                    mechanisms.push_str(" EXTERNAL");
                }
                let start = conn::Start {
                    version_major: 0,
                    version_minor: 9,
                    server_properties: cfg.server_properties.clone(),
                    mechanisms: LongStr::from(mechanisms),
                    locales: LongStr::from_static("en_US"),
                };
                encode_method_frame(&mut self.out, 0, &start.into());
                self.state = State::AwaitStartOk;
                Ok(true)
            }
            Ok(Some(h)) | Err(DecodeError::BadProtocolHeader { found: h }) => {
                // Spec 4.2.2: answer a bad header with the one we accept, then close.
                self.out.put_slice(&PROTOCOL_HEADER);
                self.state = State::Closed;
                buf.clear();
                Err(ProtocolError::from(DecodeError::BadProtocolHeader { found: h }).into())
            }
            Err(e) => {
                self.state = State::Closed;
                Err(ProtocolError::from(e).into())
            }
        }
    }

    /// Handles a channel-0 method while the handshake is under way.
    /// Returns `Ok(false)` if the method does not belong to the handshake.
    pub(super) fn handshake_method(
        &mut self,
        now: std::time::Instant,
        method: Method,
    ) -> Result<bool, ProtocolError> {
        let unexpected = |m: &Method| {
            ProtocolError::connection(
                ReplyCode::COMMAND_INVALID,
                format!("{} during the handshake", m.name()),
            )
            .with_method(m.class_id(), m.method_id())
        };
        match (self.state, method) {
            (State::AwaitStart, Method::ConnectionStart(start)) => {
                let RoleConfig::Client(cfg) = &self.role else {
                    return Ok(false);
                };
                if (start.version_major, start.version_minor) != (0, 9) {
                    return Err(ProtocolError::connection(
                        ReplyCode::NOT_IMPLEMENTED,
                        format!(
                            "server speaks {}-{}, not 0-9",
                            start.version_major, start.version_minor
                        ),
                    ));
                }
                let wanted = cfg.sasl.name();
                let offered = start.mechanisms.as_bytes();
                if !offered
                    .split(|b| *b == b' ')
                    .any(|m| m == wanted.as_bytes())
                {
                    self.state = State::Closed;
                    return Err(ProtocolError::connection(
                        ReplyCode::ACCESS_REFUSED,
                        format!(
                            "server offers SASL {}, not {wanted}",
                            start.mechanisms.to_string_lossy()
                        ),
                    ));
                }
                let start_ok = conn::StartOk {
                    client_properties: client_properties(cfg),
                    mechanism: ShortStr::from_static(wanted),
                    response: cfg.sasl.response(),
                    locale: short_lossy(&cfg.locale),
                };
                self.peer_properties = start.server_properties;
                encode_method_frame(&mut self.out, 0, &start_ok.into());
                self.state = State::AwaitTune;
                Ok(true)
            }
            (State::AwaitTune, Method::ConnectionSecure(_)) => {
                // PLAIN, AMQPLAIN and EXTERNAL have no second step; answer
                // with the same response so the server can decide.
                let RoleConfig::Client(cfg) = &self.role else {
                    return Ok(false);
                };
                let ok = conn::SecureOk {
                    response: cfg.sasl.response(),
                };
                encode_method_frame(&mut self.out, 0, &ok.into());
                Ok(true)
            }
            (State::AwaitTune, Method::ConnectionTune(t)) => {
                let RoleConfig::Client(cfg) = &self.role else {
                    return Ok(false);
                };
                let frame_max = negotiate_limit(cfg.frame_max.max(FRAME_MIN_SIZE), t.frame_max);
                if frame_max < FRAME_MIN_SIZE {
                    return Err(ProtocolError::connection(
                        ReplyCode::NOT_ALLOWED,
                        format!("frame_max {} is below 4096", t.frame_max),
                    ));
                }
                let heartbeat = if cfg.heartbeat == 0 || t.heartbeat == 0 {
                    cfg.heartbeat.max(t.heartbeat)
                } else {
                    cfg.heartbeat.min(t.heartbeat)
                };
                let tune = Tune {
                    channel_max: negotiate_limit(cfg.channel_max, t.channel_max),
                    frame_max,
                    heartbeat,
                };
                let vhost = short_lossy(&cfg.virtual_host);
                self.apply_tune(now, tune);
                let ok = conn::TuneOk {
                    channel_max: tune.channel_max,
                    frame_max: tune.frame_max,
                    heartbeat: tune.heartbeat,
                };
                encode_method_frame(&mut self.out, 0, &ok.into());
                let open = conn::Open {
                    virtual_host: vhost,
                    capabilities: ShortStr::empty(),
                    insist: false,
                };
                encode_method_frame(&mut self.out, 0, &open.into());
                self.state = State::AwaitOpenOk;
                Ok(true)
            }
            (State::AwaitOpenOk, Method::ConnectionOpenOk(_)) => {
                self.state = State::Open;
                let peer_properties = std::mem::take(&mut self.peer_properties);
                self.events.push_back(Event::Connected {
                    peer_properties,
                    tune: self.tune,
                });
                Ok(true)
            }
            (State::AwaitStartOk, Method::ConnectionStartOk(ok)) => {
                let RoleConfig::Server(cfg) = &self.role else {
                    return Ok(false);
                };
                let accepted = match SaslMechanism::parse_response(
                    ok.mechanism.as_bytes(),
                    ok.response.as_bytes(),
                ) {
                    Some(_) if ok.mechanism == "EXTERNAL" => cfg.allow_external,
                    Some((user, pass)) => cfg.users.iter().any(|(u, p)| *u == user && *p == pass),
                    None => false,
                };
                if !accepted {
                    let reason = CloseReason::new(
                        ReplyCode::ACCESS_REFUSED,
                        &format!(
                            "ACCESS_REFUSED - login refused using mechanism {}",
                            ok.mechanism
                        ),
                    );
                    self.start_close(reason);
                    return Ok(true);
                }
                self.peer_properties = ok.client_properties;
                let tune = conn::Tune {
                    channel_max: cfg.channel_max,
                    frame_max: cfg.frame_max,
                    heartbeat: cfg.heartbeat,
                };
                encode_method_frame(&mut self.out, 0, &tune.into());
                self.state = State::AwaitTuneOk;
                Ok(true)
            }
            (State::AwaitTuneOk, Method::ConnectionTuneOk(t)) => {
                let RoleConfig::Server(cfg) = &self.role else {
                    return Ok(false);
                };
                if t.frame_max != 0 && t.frame_max < FRAME_MIN_SIZE {
                    return Err(ProtocolError::connection(
                        ReplyCode::NOT_ALLOWED,
                        format!("frame_max {} is below 4096", t.frame_max),
                    ));
                }
                let tune = Tune {
                    channel_max: negotiate_limit(cfg.channel_max, t.channel_max),
                    frame_max: negotiate_limit(cfg.frame_max, t.frame_max).max(FRAME_MIN_SIZE),
                    heartbeat: t.heartbeat,
                };
                self.apply_tune(now, tune);
                self.state = State::AwaitOpen;
                Ok(true)
            }
            (State::AwaitOpen, Method::ConnectionOpen(_)) => {
                let ok = conn::OpenOk {
                    known_hosts: ShortStr::empty(),
                };
                encode_method_frame(&mut self.out, 0, &ok.into());
                self.state = State::Open;
                let peer_properties = std::mem::take(&mut self.peer_properties);
                self.events.push_back(Event::Connected {
                    peer_properties,
                    tune: self.tune,
                });
                Ok(true)
            }
            (_, m @ (Method::ConnectionClose(_) | Method::ConnectionCloseOk(_))) => {
                self.connection_close_method(m)?;
                Ok(true)
            }
            (_, m) => Err(unexpected(&m)),
        }
    }

    fn apply_tune(&mut self, now: std::time::Instant, tune: Tune) {
        self.tune = tune;
        self.decoder.set_frame_max(tune.frame_max);
        self.heartbeat.start(now, tune.heartbeat);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_responses() {
        let plain = SaslMechanism::Plain {
            username: "u".into(),
            password: "p".into(),
        };
        assert_eq!(plain.response().as_bytes(), b"\0u\0p");
        assert_eq!(
            SaslMechanism::parse_response(b"PLAIN", b"\0u\0p"),
            Some(("u".into(), "p".into()))
        );
        let amq = SaslMechanism::AmqPlain {
            username: "u".into(),
            password: "p".into(),
        };
        assert_eq!(
            amq.response().as_bytes(),
            b"\x05LOGINS\x00\x00\x00\x01u\x08PASSWORDS\x00\x00\x00\x01p"
        );
        assert_eq!(
            SaslMechanism::parse_response(b"AMQPLAIN", amq.response().as_bytes()),
            Some(("u".into(), "p".into()))
        );
        assert_eq!(SaslMechanism::External.response().as_bytes(), b"");
        assert!(
            !format!("{plain:?}").contains("\"p\""),
            "Debug hides the password"
        );
    }

    #[test]
    fn limits_negotiate_as_the_spec_says() {
        assert_eq!(negotiate_limit(0u16, 2047), 2047);
        assert_eq!(negotiate_limit(100u16, 0), 100);
        assert_eq!(negotiate_limit(131_072u32, 4096), 4096);
    }
}
