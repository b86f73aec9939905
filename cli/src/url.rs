//! Broker URLs: the scheme picks the protocol.
//!
//! - `kafka://host:port[,host:port...][/topic]`: a bootstrap list (port 9092
//!   when left out, IPv6 hosts in brackets) and an optional topic.
//! - `amqp://user:pass@host:port/vhost` (or `amqps://`): parsed by
//!   [`mq_client::amqp::AmqpUri`], which never prints the password.
//!
//! Error messages never repeat the URL, so no password can leak through them.
//!
//! An AMQP URL with a user name and no password takes the password from
//! `MQ_AMQP_PASSWORD` ([`amqp_connect_url`]), so that it need not be on the
//! command line.

use std::ffi::OsString;
use std::fmt;

use mq_client::amqp::{AmqpUri, AuthMechanism};

use crate::error::{CliError, Failure};

/// The broker a command talks to.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A Kafka cluster.
    Kafka(KafkaUrl),
    /// A RabbitMQ broker.
    Amqp(AmqpUri),
}

/// Which protocol a [`Target`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// Apache Kafka.
    Kafka,
    /// RabbitMQ, AMQP 0-9-1.
    Amqp,
}

impl Target {
    /// Parses a URL; the scheme says which protocol.
    pub(crate) fn parse(url: &str) -> Result<Target, CliError> {
        let bad = |why: String| CliError::new(Failure::BadUrl, format!("bad URL: {why}"));
        match url.split_once("://") {
            Some(("kafka", _)) => KafkaUrl::parse(url).map(Target::Kafka).map_err(bad),
            Some(("amqp" | "amqps", _)) => url
                .parse::<AmqpUri>()
                .map(Target::Amqp)
                .map_err(|e| bad(e.to_string())),
            Some((scheme, _)) if is_scheme(scheme) => Err(bad(format!(
                "unknown scheme '{scheme}://'; use kafka://host:port/topic or amqp://host:port/vhost"
            ))),
            _ => Err(bad(
                "a URL starts with kafka:// or amqp://, as in kafka://localhost:9092/orders or amqp://localhost:5672/%2f"
                    .to_owned(),
            )),
        }
    }

    /// The protocol.
    pub(crate) fn protocol(&self) -> Protocol {
        match self {
            Target::Kafka(_) => Protocol::Kafka,
            Target::Amqp(_) => Protocol::Amqp,
        }
    }
}

impl fmt::Display for Target {
    /// The URL as parsed, the password shown as `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Kafka(k) => k.fmt(f),
            Target::Amqp(a) => a.fmt(f),
        }
    }
}

fn is_scheme(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// One `host:port` of a bootstrap list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HostPort {
    /// Host name or address (IPv6 without brackets).
    pub(crate) host: String,
    /// TCP port.
    pub(crate) port: u16,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A parsed `kafka://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KafkaUrl {
    /// The bootstrap brokers, at least one.
    pub(crate) bootstrap: Vec<HostPort>,
    /// The topic, if the URL names one.
    pub(crate) topic: Option<String>,
}

/// Kafka's default port.
pub(crate) const KAFKA_PORT: u16 = 9092;
/// The longest topic name Kafka accepts.
const MAX_TOPIC_LEN: usize = 249;

impl KafkaUrl {
    /// Parses `kafka://host:port[,host:port...][/topic]`. The error says
    /// what is wrong without repeating the URL.
    pub(crate) fn parse(url: &str) -> Result<KafkaUrl, String> {
        let rest = url
            .strip_prefix("kafka://")
            .ok_or("the scheme must be kafka://")?;
        if rest.contains(['?', '#']) {
            return Err("kafka:// URLs take no query parameters or fragment".into());
        }
        let (hosts, path) = match rest.split_once('/') {
            Some((hosts, path)) => (hosts, Some(path)),
            None => (rest, None),
        };
        if hosts.contains('@') {
            return Err(
                "kafka:// URLs take no user name or password: give SASL credentials as \
                 client properties (-X security.protocol=SASL_SSL -X sasl.mechanism=... \
                 -X sasl.username=... with -X 'sasl.password=${env:VAR}' or MQ_KAFKA_PASSWORD), \
                 or in a --config file"
                    .into(),
            );
        }
        let bootstrap = hosts
            .split(',')
            .map(parse_host_port)
            .collect::<Result<Vec<_>, _>>()?;
        let topic = match path {
            None | Some("") => None,
            Some(p) if p.contains('/') => {
                return Err("the path of a kafka:// URL is one topic name".into());
            }
            Some(p) => Some(validate_topic(p)?),
        };
        Ok(KafkaUrl { bootstrap, topic })
    }
}

impl fmt::Display for KafkaUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("kafka://")?;
        for (i, hp) in self.bootstrap.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{hp}")?;
        }
        if let Some(t) = &self.topic {
            write!(f, "/{t}")?;
        }
        Ok(())
    }
}

/// The variable an AMQP URL without a password takes it from.
pub(crate) const AMQP_PASSWORD_VAR: &str = "MQ_AMQP_PASSWORD";

/// The URL to connect with: `url` as given, or, when it has a user name
/// and no password (`amqps://alice@host/vhost`) and `password` (the value
/// of [`AMQP_PASSWORD_VAR`]) is set, with that password in it. EXTERNAL
/// logins send no password, so their URL stays as it is.
pub(crate) fn amqp_connect_url(
    url: &str,
    uri: &AmqpUri,
    password: Option<OsString>,
) -> Result<String, CliError> {
    let Some(password) = password else {
        return Ok(url.to_owned());
    };
    if uri.auth_mechanism == Some(AuthMechanism::External) {
        return Ok(url.to_owned());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Ok(url.to_owned());
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let Some(at) = authority.rfind('@') else {
        return Ok(url.to_owned());
    };
    let userinfo = &authority[..at];
    if userinfo.contains(':') || userinfo.is_empty() {
        return Ok(url.to_owned());
    }
    let password = password.into_string().map_err(|_| {
        CliError::usage(format!(
            "the environment variable {AMQP_PASSWORD_VAR} is not valid UTF-8"
        ))
    })?;
    Ok(format!(
        "{scheme}://{userinfo}:{}{}",
        percent_encode(&password),
        &rest[at..]
    ))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn parse_host_port(s: &str) -> Result<HostPort, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("the bootstrap list has an empty host".into());
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or("an IPv6 host has no closing ']'")?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(format!("unexpected '{after}' after the IPv6 host")),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return Err("the bootstrap list has an empty host".into());
    }
    let ipv6 = s.starts_with('[');
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') || (ipv6 && c == ':'))
    {
        return Err(format!("'{host}' is not a host name or address"));
    }
    let port = match port {
        None => KAFKA_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => {
                return Err(format!(
                    "port '{p}' of host {host} is not a number in 1..65535"
                ));
            }
        },
    };
    Ok(HostPort {
        host: host.to_owned(),
        port,
    })
}

/// Checks a topic name as Kafka does: 1 to 249 of `[a-zA-Z0-9._-]`, and
/// neither `.` nor `..`.
pub(crate) fn validate_topic(name: &str) -> Result<String, String> {
    let legal = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > MAX_TOPIC_LEN || !legal || name == "." || name == ".." {
        return Err(format!(
            "'{}' is not a valid topic name: use 1 to {MAX_TOPIC_LEN} ASCII letters, digits, '.', '_' or '-'",
            name.escape_debug()
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka(s: &str) -> KafkaUrl {
        KafkaUrl::parse(s).unwrap()
    }

    #[test]
    fn kafka_urls() {
        let u = kafka("kafka://localhost:9092/orders");
        assert_eq!(u.bootstrap.len(), 1);
        assert_eq!(u.bootstrap[0].to_string(), "localhost:9092");
        assert_eq!(u.topic.as_deref(), Some("orders"));
        let u = kafka("kafka://a:1,b,[::1]:3/t.x_y-z");
        let hosts: Vec<String> = u.bootstrap.iter().map(ToString::to_string).collect();
        assert_eq!(hosts, ["a:1", "b:9092", "[::1]:3"]);
        assert_eq!(u.to_string(), "kafka://a:1,b:9092,[::1]:3/t.x_y-z");
        assert_eq!(kafka("kafka://h").topic, None);
        assert_eq!(kafka("kafka://h/").topic, None);
        assert_eq!(kafka("kafka://[::1]").bootstrap[0].port, 9092);
    }

    #[test]
    fn kafka_url_errors() {
        for (url, why) in [
            ("kafka://", "empty host"),
            ("kafka://h:0/t", "not a number"),
            ("kafka://h:99999/t", "not a number"),
            ("kafka://h:x/t", "not a number"),
            ("kafka://a,,b/t", "empty host"),
            ("kafka://h/a/b", "one topic name"),
            ("kafka://h/bad topic", "not a valid topic"),
            ("kafka://h/..", "not a valid topic"),
            ("kafka://h/t?x=1", "no query"),
            ("kafka://u:secret@h/t", "no user name"),
            ("kafka://u:secret@h/t", "-X sasl.username="),
            ("kafka://[::1/t", "closing"),
            ("kafka://h%20/t", "not a host"),
        ] {
            let e = KafkaUrl::parse(url).unwrap_err();
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("secret"), "{e}");
        }
        let long = format!("kafka://h/{}", "a".repeat(250));
        assert!(KafkaUrl::parse(&long).is_err());
        assert!(KafkaUrl::parse(&format!("kafka://h/{}", "a".repeat(249))).is_ok());
    }

    #[test]
    fn scheme_picks_the_protocol() {
        let t = Target::parse("kafka://h:1/t").unwrap();
        assert_eq!(t.protocol(), Protocol::Kafka);
        let t = Target::parse("amqp://u:p@h:5672/%2f").unwrap();
        assert_eq!(t.protocol(), Protocol::Amqp);
        let t = Target::parse("amqps://h").unwrap();
        assert_eq!(t.protocol(), Protocol::Amqp);
        for url in ["http://h", "localhost:9092", "", "u:pw@h"] {
            let e = Target::parse(url).unwrap_err();
            assert_eq!(e.kind(), Failure::BadUrl);
            assert!(!e.to_string().contains("pw"), "{e}");
        }
        let t = Target::parse("amqp://alice:s3cret@h/v").unwrap();
        assert_eq!(t.to_string(), "amqp://alice:***@h:5672/v");
        let e = Target::parse("amqp://alice:s3cret@h:bad/v").unwrap_err();
        assert_eq!(e.kind(), Failure::BadUrl);
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn amqp_passwords_come_from_the_variable_when_the_url_has_none() {
        let with = |url: &str, pw: Option<&str>| {
            let uri: AmqpUri = url.parse().unwrap();
            amqp_connect_url(url, &uri, pw.map(OsString::from)).unwrap()
        };
        let url = "amqps://alice@h:5671/%2f?cacertfile=/ca.pem";
        assert_eq!(with(url, None), url);
        let filled = with(url, Some("p@ss:w/rd"));
        assert_eq!(
            filled,
            "amqps://alice:p%40ss%3Aw%2Frd@h:5671/%2f?cacertfile=/ca.pem"
        );
        let uri: AmqpUri = filled.parse().unwrap();
        assert_eq!(uri.username, "alice");
        assert_eq!(uri.password.expose(), "p@ss:w/rd");
        assert_eq!(uri.tls_params.cacertfile.as_deref(), Some("/ca.pem"));
        assert_eq!(with("amqp://alice@h", Some("x")), "amqp://alice:x@h");
        // A password given, an empty one included, is kept.
        for url in ["amqp://alice:given@h/v", "amqp://alice:@h/v", "amqp://h/v"] {
            assert_eq!(with(url, Some("x")), url);
        }
        // EXTERNAL sends no password.
        let url = "amqps://alice@h/%2f?auth_mechanism=external";
        assert_eq!(with(url, Some("x")), url);
        // The query may hold an '@'.
        let url = "amqps://h/%2f?cacertfile=/a@b.pem";
        assert_eq!(with(url, Some("x")), url);
    }
}
