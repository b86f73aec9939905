//! RabbitMQ's URI format:
//! `amqp://user:pass@host:port/vhost?heartbeat=..&frame_max=..&channel_max=..&connection_timeout=..&auth_mechanism=..`
//!
//! `amqps://` URIs take the TLS parameters of RabbitMQ's URI spec:
//! `cacertfile`, `certfile`, `keyfile` (PEM paths), `verify`
//! (`verify_peer`, the default, or `verify_none`) and
//! `server_name_indication` (a host name, or `disable`).
//!
//! User, password and vhost are percent-decoded (`%2f` is `/`). A missing
//! vhost is `/`; missing credentials are `guest`/`guest`; the port defaults to
//! 5672 (`amqp`) or 5671 (`amqps`). `Debug`, `Display` and every error
//! message show the password as `***`.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Why a URI was refused. The messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The scheme is neither `amqp` nor `amqps`.
    #[error("the URI scheme must be amqp:// or amqps://")]
    Scheme,
    /// No host was given.
    #[error("the URI has no host")]
    MissingHost,
    /// The port is not a number in 1..=65535.
    #[error("the URI port is not a valid port number")]
    Port,
    /// A `%XX` escape is malformed or decodes to invalid UTF-8.
    #[error("the URI has a malformed percent-escape in its {0}")]
    Escape(&'static str),
    /// The vhost part has more than one path segment.
    #[error("the vhost must be one path segment; write '/' as %2f")]
    Vhost,
    /// A query parameter has a value that does not parse.
    #[error("the URI parameter {0} has an invalid value")]
    Param(String),
    /// `auth_mechanism` names a SASL mechanism this client does not have.
    #[error("the SASL mechanism {0:?} is not supported (use plain, amqplain or external)")]
    AuthMechanism(String),
    /// A TLS parameter on an `amqp://` (not `amqps://`) URI.
    #[error("the URI parameter {0} needs an amqps:// URI")]
    TlsParamWithoutTls(String),
    /// A query parameter this client does not know.
    #[error("the URI parameter {0} is not supported")]
    UnknownParam(String),
}

/// The SASL mechanism a client logs in with (`auth_mechanism` in the
/// URI, as RabbitMQ's URI spec names it: `plain`, `amqplain` or
/// `external`, in any case). The user name and password come from the URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AuthMechanism {
    /// PLAIN (RFC 4616), the default.
    #[default]
    Plain,
    /// AMQPLAIN: RabbitMQ's own, user name and password in a field table.
    AmqPlain,
    /// EXTERNAL: the identity comes from outside the AMQP handshake (a TLS
    /// client certificate); no password is sent.
    External,
}

impl AuthMechanism {
    /// The mechanism's name on the wire (`PLAIN`, `AMQPLAIN`, `EXTERNAL`).
    pub fn name(self) -> &'static str {
        match self {
            AuthMechanism::Plain => "PLAIN",
            AuthMechanism::AmqPlain => "AMQPLAIN",
            AuthMechanism::External => "EXTERNAL",
        }
    }
}

impl FromStr for AuthMechanism {
    type Err = UriError;

    /// `plain`, `amqplain` or `external`, in any case.
    fn from_str(s: &str) -> Result<Self, UriError> {
        match s.to_ascii_lowercase().as_str() {
            "plain" => Ok(AuthMechanism::Plain),
            "amqplain" => Ok(AuthMechanism::AmqPlain),
            "external" => Ok(AuthMechanism::External),
            _ => Err(UriError::AuthMechanism(s.to_owned())),
        }
    }
}

/// A password that prints as `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the authentication exchange only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A parsed AMQP URI.
#[derive(Clone, PartialEq, Eq)]
pub struct AmqpUri {
    /// `true` for `amqps://` (TLS).
    pub tls: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name for SASL PLAIN.
    pub username: String,
    /// Password for SASL PLAIN.
    pub password: Secret,
    /// Virtual host.
    pub vhost: String,
    /// Requested heartbeat interval (`heartbeat`, seconds; 0 disables).
    pub heartbeat: Option<u16>,
    /// Requested maximum frame size (`frame_max`, bytes).
    pub frame_max: Option<u32>,
    /// Requested maximum channel number (`channel_max`).
    pub channel_max: Option<u16>,
    /// Limit for TCP connect plus handshake (`connection_timeout`, milliseconds).
    pub connection_timeout: Option<Duration>,
    /// The SASL mechanism (`auth_mechanism`).
    pub auth_mechanism: Option<AuthMechanism>,
    /// The TLS parameters (`amqps://` only).
    pub tls_params: TlsParams,
}

/// The TLS parameters of an `amqps://` URI, as RabbitMQ's URI spec names
/// them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TlsParams {
    /// `cacertfile`: trust the CAs in this PEM file instead of the
    /// system's store.
    pub cacertfile: Option<String>,
    /// `certfile`: the client certificate (PEM).
    pub certfile: Option<String>,
    /// `keyfile`: the client certificate's key (PEM).
    pub keyfile: Option<String>,
    /// `verify=verify_none`: skip certificate verification (development
    /// only). `verify_peer`, the default, verifies.
    pub verify_none: bool,
    /// `server_name_indication`: the name to verify and send as SNI;
    /// `disable` sends none.
    pub server_name_indication: Option<String>,
}

impl AmqpUri {
    /// `host:port`, with brackets around an IPv6 host.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for AmqpUri {
    /// The URI with the password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "amqps" } else { "amqp" };
        write!(
            f,
            "{scheme}://{}:***@{}/{}",
            encode(&self.username),
            self.authority(),
            encode(&self.vhost)
        )
    }
}

impl fmt::Debug for AmqpUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AmqpUri({self})")
    }
}

impl FromStr for AmqpUri {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        let (tls, rest) = if let Some(rest) = s.strip_prefix("amqp://") {
            (false, rest)
        } else if let Some(rest) = s.strip_prefix("amqps://") {
            (true, rest)
        } else {
            return Err(UriError::Scheme);
        };
        let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], Some(&before_query[i + 1..])),
            None => (before_query, None),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => ("guest".to_owned(), "guest".to_owned()),
            Some(ui) => {
                let (u, p) = ui.split_once(':').unwrap_or((ui, ""));
                (decode(u, "user name")?, decode(p, "password")?)
            }
        };
        let (host, port) = split_host_port(hostport)?;
        let port = match port {
            Some(p) => p,
            None if tls => 5671,
            None => 5672,
        };
        let vhost = match path {
            None | Some("") => "/".to_owned(),
            Some(p) if p.contains('/') => return Err(UriError::Vhost),
            Some(p) => decode(p, "vhost")?,
        };
        let mut uri = AmqpUri {
            tls,
            host,
            port,
            username,
            password: Secret(password),
            vhost,
            heartbeat: None,
            frame_max: None,
            channel_max: None,
            connection_timeout: None,
            auth_mechanism: None,
            tls_params: TlsParams::default(),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = || UriError::Param(k.to_owned());
            match k {
                "heartbeat" => uri.heartbeat = Some(v.parse().map_err(|_| bad())?),
                "frame_max" => uri.frame_max = Some(v.parse().map_err(|_| bad())?),
                "channel_max" => uri.channel_max = Some(v.parse().map_err(|_| bad())?),
                "connection_timeout" => {
                    let ms: u64 = v.parse().map_err(|_| bad())?;
                    uri.connection_timeout = Some(Duration::from_millis(ms));
                }
                "auth_mechanism" => {
                    uri.auth_mechanism = Some(decode(v, "auth_mechanism")?.parse()?)
                }
                "cacertfile" if tls => uri.tls_params.cacertfile = Some(decode(v, k_name(k))?),
                "certfile" if tls => uri.tls_params.certfile = Some(decode(v, k_name(k))?),
                "keyfile" if tls => uri.tls_params.keyfile = Some(decode(v, k_name(k))?),
                "verify" if tls => {
                    uri.tls_params.verify_none = match v {
                        "verify_peer" => false,
                        "verify_none" => true,
                        _ => return Err(bad()),
                    }
                }
                "server_name_indication" if tls => {
                    uri.tls_params.server_name_indication = Some(decode(v, k_name(k))?)
                }
                "cacertfile" | "certfile" | "keyfile" | "verify" | "server_name_indication" => {
                    return Err(UriError::TlsParamWithoutTls(k.to_owned()));
                }
                _ => return Err(UriError::UnknownParam(k.to_owned())),
            }
        }
        Ok(uri)
    }
}

/// A TLS parameter's name, for escape errors.
fn k_name(k: &str) -> &'static str {
    match k {
        "cacertfile" => "cacertfile",
        "certfile" => "certfile",
        "keyfile" => "keyfile",
        _ => "server_name_indication",
    }
}

fn split_host_port(hp: &str) -> Result<(String, Option<u16>), UriError> {
    let (host, port) = if let Some(rest) = hp.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or(UriError::MissingHost)?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(UriError::Port),
        };
        (h, port)
    } else {
        match hp.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hp, None),
        }
    };
    if host.is_empty() {
        return Err(UriError::MissingHost);
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(UriError::Port),
            Ok(n) => Some(n),
        },
    };
    Ok((host.to_owned(), port))
}

fn decode(s: &str, what: &'static str) -> Result<String, UriError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(UriError::Escape(what))?;
            let hex = std::str::from_utf8(hex).map_err(|_| UriError::Escape(what))?;
            let b = u8::from_str_radix(hex, 16).map_err(|_| UriError::Escape(what))?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UriError::Escape(what))
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> AmqpUri {
        s.parse().unwrap()
    }

    #[test]
    fn full_uri() {
        let u = parse(
            "amqp://user%40x:p%3Ass@broker.local:5673/my%2fvhost?heartbeat=15&frame_max=131072&channel_max=64&connection_timeout=2500",
        );
        assert!(!u.tls);
        assert_eq!(u.host, "broker.local");
        assert_eq!(u.port, 5673);
        assert_eq!(u.username, "user@x");
        assert_eq!(u.password.expose(), "p:ss");
        assert_eq!(u.vhost, "my/vhost");
        assert_eq!(u.heartbeat, Some(15));
        assert_eq!(u.frame_max, Some(131_072));
        assert_eq!(u.channel_max, Some(64));
        assert_eq!(u.connection_timeout, Some(Duration::from_millis(2500)));
        assert_eq!(u.auth_mechanism, None);
        for (text, m) in [
            ("plain", AuthMechanism::Plain),
            ("AMQPLAIN", AuthMechanism::AmqPlain),
            ("External", AuthMechanism::External),
        ] {
            let u = parse(&format!("amqp://h/?auth_mechanism={text}"));
            assert_eq!(u.auth_mechanism, Some(m));
        }
    }

    #[test]
    fn defaults() {
        let u = parse("amqp://localhost");
        assert_eq!(
            (u.username.as_str(), u.password.expose()),
            ("guest", "guest")
        );
        assert_eq!(u.port, 5672);
        assert_eq!(u.vhost, "/");
        assert_eq!(parse("amqp://h/%2f").vhost, "/");
        assert_eq!(parse("amqp://h/").vhost, "/");
        assert_eq!(parse("amqps://h").port, 5671);
        let v6 = parse("amqp://[::1]:5000/v");
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 5000));
        assert_eq!(v6.authority(), "[::1]:5000");
    }

    #[test]
    fn errors() {
        assert_eq!("http://h".parse::<AmqpUri>(), Err(UriError::Scheme));
        assert_eq!("amqp://".parse::<AmqpUri>(), Err(UriError::MissingHost));
        assert_eq!("amqp://h:99999".parse::<AmqpUri>(), Err(UriError::Port));
        assert_eq!("amqp://h:0".parse::<AmqpUri>(), Err(UriError::Port));
        assert_eq!("amqp://h/a/b".parse::<AmqpUri>(), Err(UriError::Vhost));
        assert_eq!(
            "amqp://u:%zz@h".parse::<AmqpUri>(),
            Err(UriError::Escape("password"))
        );
        assert_eq!(
            "amqp://h?heartbeat=x".parse::<AmqpUri>(),
            Err(UriError::Param("heartbeat".into()))
        );
        assert_eq!(
            "amqp://h?bogus=1".parse::<AmqpUri>(),
            Err(UriError::UnknownParam("bogus".into()))
        );
        assert_eq!(
            "amqp://h?auth_mechanism=cram-md5".parse::<AmqpUri>(),
            Err(UriError::AuthMechanism("cram-md5".into()))
        );
    }

    #[test]
    fn tls_params() {
        let u = parse(
            "amqps://h/v?cacertfile=%2Fetc%2Fca.pem&certfile=/c.pem&keyfile=/k.pem\
             &verify=verify_none&server_name_indication=broker.example",
        );
        assert!(u.tls);
        assert_eq!(u.tls_params.cacertfile.as_deref(), Some("/etc/ca.pem"));
        assert_eq!(u.tls_params.certfile.as_deref(), Some("/c.pem"));
        assert_eq!(u.tls_params.keyfile.as_deref(), Some("/k.pem"));
        assert!(u.tls_params.verify_none);
        assert_eq!(
            u.tls_params.server_name_indication.as_deref(),
            Some("broker.example")
        );
        assert!(!parse("amqps://h?verify=verify_peer").tls_params.verify_none);
        assert_eq!(
            "amqps://h?verify=maybe".parse::<AmqpUri>(),
            Err(UriError::Param("verify".into()))
        );
        assert_eq!(
            "amqp://h?cacertfile=/ca.pem".parse::<AmqpUri>(),
            Err(UriError::TlsParamWithoutTls("cacertfile".into()))
        );
    }

    #[test]
    fn password_never_printed() {
        let u = parse("amqp://alice:s3cr3t-pw@h:5672/prod");
        for text in [
            format!("{u}"),
            format!("{u:?}"),
            format!("{:?}", u.password),
            format!("{:#?}", u.clone()),
        ] {
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
        assert_eq!(u.to_string(), "amqp://alice:***@h:5672/prod");
        let err = "amqp://alice:s3cr3t@h:bad".parse::<AmqpUri>().unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"));
    }
}
