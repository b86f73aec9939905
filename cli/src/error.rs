//! Failures: one line on stderr, `mq: <what went wrong>`, and a distinct
//! exit status for each kind of failure.
//!
//! Nothing here prints a `Debug` dump or a password: every message goes
//! through [`redact`] before it is shown, so a URL that reached an error
//! message (clap echoes bad arguments) shows `user:***@`.

use std::fmt;
use std::io;

/// The kinds of failure, each with its own exit status.
///
/// The statuses are part of the command line's interface: `mq --help`
/// lists them (from [`Failure::ALL`]), and scripts may test for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The input did not decode: malformed or truncated protocol bytes, bad hex.
    BadInput,
    /// The command line is wrong: unknown option, missing or invalid argument.
    Usage,
    /// The URL does not parse.
    BadUrl,
    /// Reading stdin or writing stdout failed.
    Io,
    /// The broker could not be reached (connection refused or timed out),
    /// or the connection to it was lost.
    Unreachable,
    /// The broker refused the credentials.
    Auth,
    /// The topic, queue or exchange does not exist.
    NotFound,
    /// A message was not confirmed or not delivered.
    NotConfirmed,
    /// The broker refused the request, or broke the protocol.
    Refused,
    /// TLS failed: the server's certificate did not verify (unknown
    /// issuer, wrong name, expired), the server refused the handshake, or
    /// a CA, certificate or key file is unusable.
    Tls,
    /// Stdout was closed early (`mq decode ... | head -1`): nothing is printed.
    BrokenPipe,
}

impl Failure {
    /// Every kind, in exit-status order.
    pub(crate) const ALL: [Failure; 11] = [
        Failure::BadInput,
        Failure::Usage,
        Failure::BadUrl,
        Failure::Io,
        Failure::Unreachable,
        Failure::Auth,
        Failure::NotFound,
        Failure::NotConfirmed,
        Failure::Refused,
        Failure::Tls,
        Failure::BrokenPipe,
    ];

    /// The process exit status. (2 is no longer used: the statuses keep
    /// their numbers, since scripts may test for them.)
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Failure::BadInput => 1,
            Failure::Usage => 3,
            Failure::BadUrl => 4,
            Failure::Io => 5,
            Failure::Unreachable => 6,
            Failure::Auth => 7,
            Failure::NotFound => 8,
            Failure::NotConfirmed => 9,
            Failure::Refused => 10,
            Failure::Tls => 11,
            // What a shell reports for a process killed by SIGPIPE (128 + 13).
            Failure::BrokenPipe => 141,
        }
    }

    /// One line for the exit-status table in `--help`.
    fn describe(self) -> &'static str {
        match self {
            Failure::BadInput => "the input did not decode (malformed or truncated bytes, bad hex)",
            Failure::Usage => "usage error: unknown option, missing or invalid argument",
            Failure::BadUrl => "bad URL",
            Failure::Io => "I/O error on stdin or stdout",
            Failure::Unreachable => {
                "broker unreachable (connection refused or timed out) or connection lost"
            }
            Failure::Auth => "authentication failed",
            Failure::NotFound => "unknown topic, queue or exchange",
            Failure::NotConfirmed => "a message was not confirmed or not delivered",
            Failure::Refused => "the broker refused the request or broke the protocol",
            Failure::Tls => {
                "TLS failed: certificate not trusted or invalid, handshake refused, \
                 or an unusable CA, certificate or key file"
            }
            Failure::BrokenPipe => "stdout was closed early (broken pipe); nothing is printed",
        }
    }
}

/// The exit-status table shown at the end of `mq --help`.
pub(crate) fn exit_status_help() -> String {
    let mut s = String::from("Exit status:\n  0    success\n");
    for f in Failure::ALL {
        s.push_str(&format!("  {:<4} {}\n", f.exit_code(), f.describe()));
    }
    s
}

/// A failure of the command: its kind and a one-line message.
#[derive(Debug)]
pub(crate) struct CliError {
    kind: Failure,
    message: String,
}

impl CliError {
    /// A failure of `kind`, described by `message` (one line, no `mq:`).
    pub(crate) fn new(kind: Failure, message: impl Into<String>) -> Self {
        CliError {
            kind,
            message: message.into(),
        }
    }

    /// A usage error.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        CliError::new(Failure::Usage, message)
    }

    /// Bad input bytes.
    pub(crate) fn input(message: impl Into<String>) -> Self {
        CliError::new(Failure::BadInput, message)
    }

    /// The kind of failure.
    pub(crate) fn kind(&self) -> Failure {
        self.kind
    }

    /// An I/O error on `what` ("stdin", "stdout"); a broken pipe is its own,
    /// silent kind.
    pub(crate) fn io(what: &str, e: &io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            CliError::new(Failure::BrokenPipe, "")
        } else {
            CliError::new(Failure::Io, format!("cannot {what}: {e}"))
        }
    }

    /// The line to print on stderr, or `None` for a silent failure.
    pub(crate) fn line(&self) -> Option<String> {
        if self.kind == Failure::BrokenPipe {
            return None;
        }
        // One line, whatever the message held.
        let one: Vec<&str> = self.message.lines().map(str::trim).collect();
        Some(format!("mq: {}", redact(&one.join(" "))))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(&self.message))
    }
}

/// Replaces the password of every `scheme://user:password@host` in `text`
/// with `***`.
pub(crate) fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority runs to the first character that cannot be in it.
        let end = tail
            .find(|c: char| matches!(c, '/' | '?' | '#' | '\'' | '"' | '`') || c.is_whitespace())
            .unwrap_or(tail.len());
        let (authority, after) = tail.split_at(end);
        match authority.rfind('@') {
            Some(at) => {
                let (userinfo, hostpart) = authority.split_at(at);
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push_str(":***");
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(hostpart);
            }
            None => out.push_str(authority),
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("bad 'amqp://alice:s3cret@h:5672/v' here"),
            "bad 'amqp://alice:***@h:5672/v' here"
        );
        assert_eq!(redact("amqp://a:b:c@h"), "amqp://a:***@h");
        assert_eq!(redact("amqp://h:5672/%2f"), "amqp://h:5672/%2f");
        assert_eq!(
            redact("kafka://h1:9092,h2:9092/t"),
            "kafka://h1:9092,h2:9092/t"
        );
        assert_eq!(
            redact("x amqp://u@h y amqps://u:p@h"),
            "x amqp://u@h y amqps://u:***@h"
        );
        assert_eq!(redact("no url"), "no url");
        assert_eq!(redact("ünïcode://ü:ß@h"), "ünïcode://ü:***@h");
    }

    #[test]
    fn exit_codes_are_distinct_and_documented() {
        let mut codes: Vec<u8> = Failure::ALL.iter().map(|f| f.exit_code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Failure::ALL.len());
        assert!(!codes.contains(&0));
        let help = exit_status_help();
        for f in Failure::ALL {
            assert!(help.contains(&format!("  {:<4} ", f.exit_code())), "{help}");
        }
    }

    #[test]
    fn messages_are_one_line_and_broken_pipe_is_silent() {
        let e = CliError::usage("first\nsecond  ");
        assert_eq!(e.line().as_deref(), Some("mq: first second"));
        let pipe = CliError::io("write", &io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(pipe.kind(), Failure::BrokenPipe);
        assert_eq!(pipe.line(), None);
        let other = CliError::io("read stdin", &io::Error::other("boom"));
        assert_eq!(other.kind(), Failure::Io);
        assert_eq!(other.line().as_deref(), Some("mq: cannot read stdin: boom"));
    }
}
