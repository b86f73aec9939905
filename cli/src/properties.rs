//! Kafka client properties on the command line: `-X key=value` and
//! `--config FILE`, applied with [`ClientConfig::apply_properties`] on top
//! of the URL's bootstrap list.
//!
//! - `--config FILE` is a Java properties file: `key=value` or `key: value`
//!   lines (or `key value`), `#` and `!` comment lines and blank lines
//!   skipped, whitespace around keys and values trimmed. There are no
//!   escapes and no line continuations: a line ending in `\` is an error
//!   rather than a value silently cut short.
//! - `-X` properties come after the file's, so they override it.
//! - Any value may name secrets instead of holding them, so that they are
//!   never in argv (visible to every user in `ps`) or in a file checked in:
//!   `${env:NAME}` is the environment variable NAME and `${file:PATH}` the
//!   contents of the file PATH without its trailing newline.
//! - `sasl.username` without `sasl.password` or `sasl.jaas.config` takes
//!   the password from `MQ_KAFKA_PASSWORD` when it is set.
//!
//! No message made here contains a property's value: only keys, line
//! numbers, variable names and paths.

use std::ffi::OsString;
use std::io;
use std::path::Path;

use mq_client::kafka::{ClientConfig, Error};

use crate::cli::ClientProps;
use crate::error::CliError;

/// The environment variable `sasl.username` takes its password from.
pub(crate) const KAFKA_PASSWORD_VAR: &str = "MQ_KAFKA_PASSWORD";

/// Where the command's environment variables and files come from: the
/// process's, or a test's.
pub(crate) trait Sources {
    /// The variable's value, if it is set.
    fn var(&self, name: &str) -> Option<OsString>;
    /// The file's contents.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
}

/// The process's environment and file system.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Process;

impl Sources for Process {
    fn var(&self, name: &str) -> Option<OsString> {
        std::env::var_os(name)
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
}

/// One `key=value` of a properties file, with its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// 1-based.
    pub(crate) number: usize,
    pub(crate) key: String,
    pub(crate) value: String,
}

/// Parses a Java properties file (see the module's documentation). The
/// error names the line, never its text (it may hold a secret).
pub(crate) fn parse_file(text: &str) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let trailing = line.len() - line.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            return Err(format!(
                "line {number} ends in '\\', which continues a line in Java properties files; \
                 mq does not join lines: put the whole value on one line"
            ));
        }
        let end = line
            .find(|c: char| c == '=' || c == ':' || c.is_whitespace())
            .ok_or_else(|| format!("line {number} is not key=value"))?;
        let key = &line[..end];
        let mut rest = line[end..].trim_start();
        if let Some(r) = rest.strip_prefix(['=', ':']) {
            rest = r.trim_start();
        }
        if key.is_empty() {
            return Err(format!("line {number} has no key before its '=' or ':'"));
        }
        lines.push(Line {
            number,
            key: key.to_owned(),
            value: rest.to_owned(),
        });
    }
    Ok(lines)
}

/// Replaces every `${env:NAME}` and `${file:PATH}` in `value`. `key` is
/// named in errors; the value never is. Other `${...}` are left as they
/// are.
pub(crate) fn resolve(key: &str, value: &str, src: &impl Sources) -> Result<String, String> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let inner = &after[..end];
        if let Some(name) = inner.strip_prefix("env:") {
            let value = src
                .var(name)
                .ok_or_else(|| format!("{key}: the environment variable {name} is not set"))?;
            let value = value.into_string().map_err(|_| {
                format!("{key}: the environment variable {name} is not valid UTF-8")
            })?;
            out.push_str(&value);
        } else if let Some(path) = inner.strip_prefix("file:") {
            let bytes = src
                .read(Path::new(path))
                .map_err(|e| format!("{key}: cannot read {path}: {}", io_reason(&e)))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{key}: the file {path} is not valid UTF-8"))?;
            out.push_str(text.trim_end_matches(['\n', '\r']));
        } else {
            out.push_str(&rest[start..start + 2 + end + 1]);
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// An I/O error's reason, without the OS's "(os error 2)".
fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        io::ErrorKind::IsADirectory => "it is a directory".to_owned(),
        _ => {
            let text = e.to_string();
            match text.split_once(" (os error") {
                Some((reason, _)) => reason.to_owned(),
                None => text,
            }
        }
    }
}

/// The properties of `--config FILE` and then `-X`, secrets resolved, in
/// the order they apply (later ones win). `bootstrap.servers` in the file
/// is dropped: the URL names the brokers.
pub(crate) fn gather(
    props: &ClientProps,
    src: &impl Sources,
) -> Result<Vec<(String, String)>, String> {
    let mut all = Vec::new();
    if let Some(path) = &props.config {
        let shown = path.display();
        let bytes = src.read(path).map_err(|e| config_unreadable(path, &e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| format!("--config {shown}: the file is not valid UTF-8"))?;
        for line in parse_file(&text).map_err(|why| format!("--config {shown}: {why}"))? {
            if is_bootstrap(&line.key) {
                continue;
            }
            let value = resolve(&line.key, &line.value, src)
                .map_err(|why| format!("--config {shown} line {}: {why}", line.number))?;
            all.push((line.key, value));
        }
    }
    for (key, value) in &props.properties {
        let key = key.trim();
        if is_bootstrap(key) {
            return Err(format!(
                "-X {key}: the URL names the brokers (kafka://host:port,host:port/topic)"
            ));
        }
        let value = resolve(key, value, src).map_err(|why| format!("-X {why}"))?;
        all.push((key.to_owned(), value));
    }
    let has = |k: &str| all.iter().any(|(key, _)| key == k);
    if has("sasl.username") && !has("sasl.password") && !has("sasl.jaas.config") {
        if let Some(password) = src.var(KAFKA_PASSWORD_VAR) {
            let password = password.into_string().map_err(|_| {
                format!("the environment variable {KAFKA_PASSWORD_VAR} is not valid UTF-8")
            })?;
            all.push(("sasl.password".to_owned(), password));
        }
    }
    Ok(all)
}

fn config_unreadable(path: &Path, e: &io::Error) -> String {
    let shown = path.display();
    let mut why = format!("cannot read --config {shown}: {}", io_reason(e));
    // `--config retention.ms=1000` on `mq topic create` was a topic config
    // before --config named a properties file.
    if e.kind() == io::ErrorKind::NotFound && shown.to_string().contains('=') {
        why.push_str(
            " (--config takes a properties file; a topic's configs are --topic-config K=V)",
        );
    }
    why
}

fn is_bootstrap(key: &str) -> bool {
    matches!(key, "bootstrap.servers" | "metadata.broker.list")
}

/// The client settings for `bootstrap` (`host:port,...`) with `client.id`
/// `client_id` and the command line's properties on top.
pub(crate) fn client_config(
    bootstrap: &str,
    client_id: &str,
    props: &ClientProps,
    src: &impl Sources,
) -> Result<ClientConfig, CliError> {
    let all = gather(props, src).map_err(CliError::usage)?;
    let mut config = ClientConfig::new(bootstrap);
    config.client_id = client_id.to_owned();
    config
        .apply_properties(all.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| match e {
            Error::Config(why) => CliError::usage(format!("bad Kafka client property: {why}")),
            other => CliError::usage(format!("bad Kafka client property: {other}")),
        })?;
    Ok(config)
}

/// Whether the command line gave any property.
pub(crate) fn given(props: &ClientProps) -> bool {
    !props.properties.is_empty() || props.config.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    /// Variables and files for a test.
    #[derive(Default)]
    struct Fake {
        vars: HashMap<String, String>,
        files: HashMap<PathBuf, String>,
    }

    impl Fake {
        fn var(mut self, k: &str, v: &str) -> Self {
            self.vars.insert(k.into(), v.into());
            self
        }
        fn file(mut self, p: &str, text: &str) -> Self {
            self.files.insert(p.into(), text.into());
            self
        }
    }

    impl Sources for Fake {
        fn var(&self, name: &str) -> Option<OsString> {
            self.vars.get(name).map(Into::into)
        }
        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            self.files
                .get(path)
                .map(|t| t.clone().into_bytes())
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        }
    }

    fn kv(lines: &[Line]) -> Vec<(&str, &str)> {
        lines
            .iter()
            .map(|l| (l.key.as_str(), l.value.as_str()))
            .collect()
    }

    #[test]
    fn properties_files_parse_as_java_reads_them() {
        let text = "\
# a comment
! another
   
security.protocol=SASL_SSL
  sasl.mechanism : SCRAM-SHA-256  
sasl.username alice
ssl.truststore.location=/etc/ca.pem
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"b:c=d\";
client.id=
not.a.comment=x # y
win=C:\\\\
";
        let lines = parse_file(text).unwrap();
        assert_eq!(
            kv(&lines),
            [
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-256"),
                ("sasl.username", "alice"),
                ("ssl.truststore.location", "/etc/ca.pem"),
                (
                    "sasl.jaas.config",
                    "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"a\" password=\"b:c=d\";"
                ),
                ("client.id", ""),
                ("not.a.comment", "x # y"),
                ("win", "C:\\\\"),
            ]
        );
        assert_eq!(lines[0].number, 4);
        assert_eq!(lines[1].number, 5);
        assert_eq!(parse_file("a=b\r\nc=d\r\n").unwrap().len(), 2);
        assert!(parse_file("").unwrap().is_empty());
    }

    #[test]
    fn properties_file_errors_name_the_line_not_its_text() {
        let e = parse_file("a=b\nsasl.password=hunt\\\nquoted\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("one line"), "{e}");
        assert!(!e.contains("hunt"), "{e}");
        let e = parse_file("hunter2\n").unwrap_err();
        assert!(e.contains("line 1 is not key=value"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = parse_file("=secret\n").unwrap_err();
        assert!(e.contains("no key"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }

    #[test]
    fn env_and_file_references_resolve() {
        let src = Fake::default()
            .var("PW", "s3cret")
            .var("EMPTY", "")
            .file("/run/pw", "from-file\n")
            .file("/run/crlf", "x\r\n\r\n")
            .file("/run/inner", "  spaced  ");
        assert_eq!(resolve("k", "${env:PW}", &src).unwrap(), "s3cret");
        assert_eq!(resolve("k", "${env:EMPTY}", &src).unwrap(), "");
        assert_eq!(resolve("k", "${file:/run/pw}", &src).unwrap(), "from-file");
        assert_eq!(resolve("k", "${file:/run/crlf}", &src).unwrap(), "x");
        assert_eq!(
            resolve("k", "${file:/run/inner}", &src).unwrap(),
            "  spaced  "
        );
        assert_eq!(
            resolve(
                "k",
                "password=\"${env:PW}\" user=\"${file:/run/pw}\";",
                &src
            )
            .unwrap(),
            "password=\"s3cret\" user=\"from-file\";"
        );
        assert_eq!(resolve("k", "plain", &src).unwrap(), "plain");
        assert_eq!(
            resolve("k", "${other:x} ${", &src).unwrap(),
            "${other:x} ${"
        );
        assert_eq!(resolve("k", "$${env:PW}}", &src).unwrap(), "$s3cret}");
    }

    #[test]
    fn missing_variables_and_files_are_named() {
        let src = Fake::default().var("PW", "s3cret");
        let e = resolve("sasl.password", "${env:NOPE}", &src).unwrap_err();
        assert_eq!(e, "sasl.password: the environment variable NOPE is not set");
        let e = resolve("sasl.password", "${file:/no/such}", &src).unwrap_err();
        assert_eq!(e, "sasl.password: cannot read /no/such: no such file");
        // A value resolved before the failure is not shown.
        let e = resolve("k", "${env:PW}${env:NOPE}", &src).unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }

    fn props(config: Option<&str>, x: &[(&str, &str)]) -> ClientProps {
        ClientProps {
            properties: x.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
            config: config.map(PathBuf::from),
        }
    }

    #[test]
    fn flags_override_the_file_and_secrets_resolve_in_both() {
        let src = Fake::default()
            .var("MQ_TEST_PW", "pw-from-env")
            .file(
                "/c.properties",
                "bootstrap.servers=elsewhere:9092\nclient.id=from-file\nsasl.password=${env:MQ_TEST_PW}\n",
            )
            .file("/pw", "pw-from-file\n");
        let all = gather(
            &props(
                Some("/c.properties"),
                &[
                    ("client.id", "from-flag"),
                    ("ssl.key.password", "${file:/pw}"),
                ],
            ),
            &src,
        )
        .unwrap();
        assert_eq!(
            all,
            [
                ("client.id".to_owned(), "from-file".to_owned()),
                ("sasl.password".to_owned(), "pw-from-env".to_owned()),
                ("client.id".to_owned(), "from-flag".to_owned()),
                ("ssl.key.password".to_owned(), "pw-from-file".to_owned()),
            ]
        );
        let e = gather(&props(None, &[("bootstrap.servers", "h:1")]), &src).unwrap_err();
        assert!(e.contains("the URL names the brokers"), "{e}");
        let e = gather(&props(None, &[("sasl.password", "${env:UNSET}")]), &src).unwrap_err();
        assert_eq!(
            e,
            "-X sasl.password: the environment variable UNSET is not set"
        );
        let e = gather(&props(Some("/nope"), &[]), &src).unwrap_err();
        assert_eq!(e, "cannot read --config /nope: no such file");
        let e = gather(&props(Some("retention.ms=1"), &[]), &src).unwrap_err();
        assert!(e.contains("--topic-config"), "{e}");
        let src = src.file("/bad", "a=${env:UNSET}\n");
        let e = gather(&props(Some("/bad"), &[]), &src).unwrap_err();
        assert_eq!(
            e,
            "--config /bad line 1: a: the environment variable UNSET is not set"
        );
    }

    #[test]
    fn the_kafka_password_variable_fills_a_missing_password_only() {
        let src = Fake::default().var(KAFKA_PASSWORD_VAR, "from-var");
        let all = gather(&props(None, &[("sasl.username", "alice")]), &src).unwrap();
        assert_eq!(
            all.last().unwrap(),
            &("sasl.password".into(), "from-var".into())
        );
        for given in ["sasl.password", "sasl.jaas.config"] {
            let all = gather(&props(None, &[("sasl.username", "a"), (given, "x")]), &src).unwrap();
            assert_eq!(all.len(), 2, "{given}");
        }
        let all = gather(&props(None, &[("client.id", "x")]), &src).unwrap();
        assert_eq!(all.len(), 1);
        let none = Fake::default();
        let all = gather(&props(None, &[("sasl.username", "alice")]), &none).unwrap();
        assert_eq!(all.len(), 1);
    }

    #[test]
    fn client_configs_take_the_urls_brokers_and_the_properties() {
        let src = Fake::default().var("PW", "hunter2");
        let c = client_config(
            "a:1,b:2",
            "mq",
            &props(
                None,
                &[
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "PLAIN"),
                    ("sasl.username", "alice"),
                    ("sasl.password", "${env:PW}"),
                ],
            ),
            &src,
        )
        .unwrap();
        assert_eq!(c.bootstrap, ["a:1", "b:2"]);
        assert_eq!(c.client_id, "mq");
        assert_eq!(c.security_protocol(), "SASL_PLAINTEXT");
        let c = client_config("a:1", "mq", &props(None, &[("client.id", "x")]), &src).unwrap();
        assert_eq!(c.client_id, "x");
        let e = client_config("a:1", "mq", &props(None, &[("lingr.ms", "5")]), &src).unwrap_err();
        assert_eq!(e.kind(), crate::error::Failure::Usage);
        assert!(e.to_string().contains("lingr.ms"), "{e}");
        let e = client_config(
            "a:1",
            "mq",
            &props(
                None,
                &[
                    ("security.protocol", "SASL_PLAINTEXT"),
                    ("sasl.mechanism", "GSSAPI"),
                    ("sasl.username", "u"),
                    ("sasl.password", "${env:PW}"),
                ],
            ),
            &src,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
