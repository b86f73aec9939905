//! The RabbitMQ side of the broker commands, on `mq_client::amqp`:
//! `mq produce`, `consume`, `declare`, `bench` and `dead-letters` (see
//! [`mod@produce`], [`mod@consume`], [`mod@declare`], [`mod@bench`] and
//! [`mod@dead_letters`]).
//!
//! Every command makes its own connection with recovery off: a command line
//! reports a lost connection instead of hiding it, and RabbitMQ puts back
//! whatever was delivered and not acknowledged. Client errors become one
//! line and an exit status in [`failure`].

mod bench;
mod consume;
mod dead_letters;
mod declare;
mod produce;

use mq_client::amqp::{Connection, Error, RecoveryConfig, ReplyCode};

use crate::error::{CliError, Failure};

pub(crate) use bench::run as bench;
pub(crate) use consume::run as consume;
pub(crate) use dead_letters::{list as list_dead_letters, replay as replay_dead_letters};
pub(crate) use declare::run as declare;
pub(crate) use produce::run as produce;

/// Connects to `url` as `name` (shown in the management UI), recovery off.
async fn connect(url: &str, name: &str) -> Result<Connection, CliError> {
    Connection::builder()
        .uri(url)
        .name(name)
        .recovery(RecoveryConfig::disabled())
        .connect()
        .await
        .map_err(|e| failure(&e, "connect"))
}

/// The server's reply text without the code name it starts with
/// (`NOT_FOUND - no queue 'q' in vhost '/'` becomes `no queue ...`).
fn server_text(text: &str) -> &str {
    match text.split_once(" - ") {
        Some((name, rest))
            if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
        {
            rest
        }
        _ => text,
    }
}

/// The one line and exit status for a client error; `doing` says what
/// failed, as in "cannot {doing}: ..." ("consume from queue 'q'").
pub(crate) fn failure(e: &Error, doing: &str) -> CliError {
    let cannot = |kind: Failure, why: String| CliError::new(kind, format!("cannot {doing}: {why}"));
    match e {
        Error::InvalidUri(u) => CliError::new(Failure::BadUrl, format!("bad URL: {u}")),
        Error::Connect { addr, source } => CliError::new(
            Failure::Unreachable,
            format!("cannot connect to {addr}: {source}"),
        ),
        Error::Tls { addr, source } => {
            CliError::new(Failure::Tls, format!("TLS to {addr}: {source}"))
        }
        Error::Timeout {
            operation: "connect",
            after,
        } => CliError::new(
            Failure::Unreachable,
            format!("cannot connect: no AMQP handshake within {after:?}"),
        ),
        Error::Timeout { operation, after } => cannot(
            Failure::Unreachable,
            format!("the broker did not answer {operation} within {after:?}"),
        ),
        Error::Refused { addr, code, text } if *code == ReplyCode::ACCESS_REFUSED => CliError::new(
            Failure::Auth,
            format!(
                "authentication failed at {addr}: {} ({code})",
                server_text(text)
            ),
        ),
        Error::Refused { addr, code, text } => CliError::new(
            Failure::Refused,
            format!(
                "{addr} refused the connection: {} ({code})",
                server_text(text)
            ),
        ),
        Error::ConnectionLost { reason } => CliError::new(
            Failure::Unreachable,
            format!("cannot {doing}: the connection to the broker was lost ({reason})"),
        ),
        Error::ConnectionClosed { code, text } | Error::ChannelClosed { code, text } => {
            let kind = match *code {
                ReplyCode::NOT_FOUND => Failure::NotFound,
                ReplyCode::CONNECTION_FORCED => Failure::Unreachable,
                _ => Failure::Refused,
            };
            cannot(kind, format!("{} ({code})", server_text(text)))
        }
        Error::Nacked | Error::Returned { .. } | Error::ConfirmLost => {
            cannot(Failure::NotConfirmed, e.to_string())
        }
        Error::StaleDelivery => cannot(
            Failure::Unreachable,
            "the connection to the broker was lost".to_owned(),
        ),
        Error::ConsumerCancelled { .. } => cannot(
            Failure::Refused,
            "the broker cancelled the consumer (was the queue deleted?)".to_owned(),
        ),
        Error::Usage(_) | Error::Command(_) => CliError::usage(format!("cannot {doing}: {e}")),
        _ => cannot(Failure::Refused, e.to_string()),
    }
}

/// A name for messages: `'orders'`, or `the default exchange` for "".
fn exchange_name(name: &str) -> String {
    if name.is_empty() {
        "the default exchange".to_owned()
    } else {
        format!("exchange '{name}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_client::tls::TlsError;
    use std::sync::Arc;

    #[test]
    fn server_text_drops_the_code_name() {
        assert_eq!(
            server_text("NOT_FOUND - no queue 'q' in vhost '/'"),
            "no queue 'q' in vhost '/'"
        );
        assert_eq!(server_text("plain - text"), "plain - text");
        assert_eq!(server_text("no dash"), "no dash");
    }

    #[test]
    fn errors_map_to_exit_statuses() {
        let refused = Error::Connect {
            addr: "127.0.0.1:1".into(),
            source: Arc::new(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        };
        let cases: Vec<(Error, Failure, &str)> = vec![
            (
                refused,
                Failure::Unreachable,
                "cannot connect to 127.0.0.1:1",
            ),
            (
                Error::Refused {
                    addr: "h:5672".into(),
                    code: ReplyCode::ACCESS_REFUSED,
                    text: "ACCESS_REFUSED - Login was refused".into(),
                },
                Failure::Auth,
                "authentication failed at h:5672: Login was refused (403 ACCESS-REFUSED)",
            ),
            (
                Error::ChannelClosed {
                    code: ReplyCode::NOT_FOUND,
                    text: "NOT_FOUND - no queue 'q' in vhost '/'".into(),
                },
                Failure::NotFound,
                "cannot work: no queue 'q' in vhost '/' (404 NOT-FOUND)",
            ),
            (
                Error::ChannelClosed {
                    code: ReplyCode::PRECONDITION_FAILED,
                    text: "PRECONDITION_FAILED - inequivalent arg".into(),
                },
                Failure::Refused,
                "inequivalent arg (406 PRECONDITION-FAILED)",
            ),
            (Error::Nacked, Failure::NotConfirmed, "nacked"),
            (Error::ConfirmLost, Failure::NotConfirmed, "lost"),
            (
                Error::ConnectionLost {
                    reason: "eof".into(),
                },
                Failure::Unreachable,
                "the connection to the broker was lost (eof)",
            ),
            (Error::Usage("no"), Failure::Usage, "cannot work: no"),
            (
                Error::Tls {
                    addr: "127.0.0.1:5671".into(),
                    source: TlsError::UnknownIssuer,
                },
                Failure::Tls,
                "TLS to 127.0.0.1:5671: the server's certificate is signed by an unknown issuer",
            ),
            (
                Error::Tls {
                    addr: "h:5671".into(),
                    source: TlsError::HostnameMismatch { name: "h".into() },
                },
                Failure::Tls,
                "TLS to h:5671: the server's certificate is not valid for the name \"h\"",
            ),
            (
                Error::Tls {
                    addr: "h:5671".into(),
                    source: TlsError::File {
                        what: "CA file",
                        path: "/nope.pem".into(),
                        reason: "no such file".into(),
                    },
                },
                Failure::Tls,
                "TLS to h:5671: cannot use the CA file /nope.pem",
            ),
        ];
        for (e, kind, text) in cases {
            let c = failure(&e, "work");
            assert_eq!(c.kind(), kind, "{e}");
            assert!(c.to_string().contains(text), "{c} lacks {text}");
        }
    }
}
