//! `mq produce` and `mq consume` against Kafka, with kcat (librdkafka) on
//! the other end: keys, values and headers byte for byte, with every
//! codec, and a raw Fetch to prove the batches on the broker carry it.

mod support;

use kafka_proto::compression::Compression;
use support::*;

/// Lines for `mq produce --key-delimiter :` and the record each becomes:
/// text, UTF-8, bytes that are not UTF-8 and a NUL, a CR before the
/// newline, a delimiter in the value, no delimiter, an empty key, an empty
/// value, an empty line.
/// A line, and the key and value of its record.
type Line = (&'static [u8], Option<&'static [u8]>, &'static [u8]);

const LINES: &[Line] = &[
    (b"k1:hello world", Some(b"k1"), b"hello world"),
    (
        "k\u{fc}:\u{fc}n\u{ef}c\u{f6}d\u{e9} \u{2713}".as_bytes(),
        Some("k\u{fc}".as_bytes()),
        "\u{fc}n\u{ef}c\u{f6}d\u{e9} \u{2713}".as_bytes(),
    ),
    (
        b"\xff\xfe:not utf-8 \x80 nul \x00 end",
        Some(b"\xff\xfe"),
        b"not utf-8 \x80 nul \x00 end",
    ),
    (b"k4:carriage return\r", Some(b"k4"), b"carriage return\r"),
    (b"k5:a:b:c\ttab", Some(b"k5"), b"a:b:c\ttab"),
    (b"no key on this line", None, b"no key on this line"),
    (b":empty key", Some(b""), b"empty key"),
    (b"k8:", Some(b"k8"), b""),
    (b"", None, b""),
];

/// A record as kcat prints it with `-f '%K\t%S\t%h\t%k%s\n'`.
#[derive(Debug, PartialEq, Eq)]
struct Printed {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    headers: String,
}

/// Splits kcat's output, using the key and value lengths it prints, so
/// that any byte may be in a key or value.
fn parse_kcat(mut out: &[u8]) -> Vec<Printed> {
    fn field<'a>(out: &mut &'a [u8]) -> &'a [u8] {
        let tab = out
            .iter()
            .position(|&b| b == b'\t')
            .expect("a tab-separated field");
        let (field, rest) = out.split_at(tab);
        *out = &rest[1..];
        field
    }
    fn number(out: &mut &[u8]) -> i64 {
        std::str::from_utf8(field(out))
            .expect("a length")
            .parse()
            .expect("a length")
    }
    let mut records = Vec::new();
    while !out.is_empty() {
        let key_len = number(&mut out);
        let value_len = number(&mut out);
        let headers = String::from_utf8(field(&mut out).to_vec()).expect("text headers");
        let key = usize::try_from(key_len).ok().map(|n| {
            let (k, rest) = out.split_at(n);
            out = rest;
            k.to_vec()
        });
        let n = usize::try_from(value_len).unwrap_or(0);
        let (value, rest) = out.split_at(n);
        assert_eq!(rest.first(), Some(&b'\n'), "a newline after each record");
        out = &rest[1..];
        records.push(Printed {
            key,
            value: value.to_vec(),
            headers,
        });
    }
    records
}

fn codec(name: &str) -> Compression {
    match name {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        _ => unreachable!("no codec {name}"),
    }
}

/// `mq produce` with `codec`; kcat reads every record back as it was sent.
fn kcat_reads_what_mq_produces(name: &str) {
    let topic = Topic::new(&format!("mq-to-kcat-{name}"), 1);
    let lines: Vec<&[u8]> = LINES.iter().map(|(line, _, _)| *line).collect();
    mq(
        &[
            "produce",
            &topic.url,
            "--key-delimiter",
            ":",
            "--header",
            "source=mq",
            "--header",
            "dup=1",
            "--header",
            "dup=2",
            "--header",
            "empty=",
            "--compression",
            name,
        ],
        &stdin_of(&lines),
    )
    .ok();
    let out = kcat(
        &[
            "-C",
            "-t",
            &topic.name,
            "-e",
            "-q",
            "-f",
            "%K\\t%S\\t%h\\t%k%s\\n",
        ],
        b"",
    );
    let expected: Vec<Printed> = LINES
        .iter()
        .map(|(_, key, value)| Printed {
            key: key.map(<[u8]>::to_vec),
            value: value.to_vec(),
            headers: "source=mq,dup=1,dup=2,empty=".to_owned(),
        })
        .collect();
    assert_eq!(parse_kcat(&out.stdout), expected);
    let codecs = batch_codecs(&topic.name, 0);
    assert!(!codecs.is_empty());
    assert!(
        codecs.iter().all(|&c| c == codec(name)),
        "{name}: batches were {codecs:?}"
    );
}

/// kcat produces with `codec`; `mq consume` prints every record as kcat
/// sent it, as JSON and raw.
fn mq_consumes_what_kcat_produces(name: &str) {
    let topic = Topic::new(&format!("kcat-to-mq-{name}"), 1);
    // kcat -K splits at the first ':'; -Z makes an empty value a null one.
    let input: &[u8] = b"k1:hello world\n\
        k2:\xc3\xbcn\xc3\xafc\xc3\xb6d\xc3\xa9 \xe2\x9c\x93\n\
        k3:not utf-8 \xff\xfe nul \x00 end\n\
        k4:carriage return\r\n\
        k5:a:b:c\ttab \"quoted\" \\ back\n\
        \xff\xfe:binary key\n\
        k7:\n";
    kcat(
        &[
            "-P",
            "-t",
            &topic.name,
            "-z",
            name,
            // One batch: librdkafka sends a batch that compression does
            // not shrink (a lone small record) uncompressed.
            "-X",
            "linger.ms=1000",
            "-K",
            ":",
            "-Z",
            "-H",
            "source=kcat",
            "-H",
            "dup=1",
            "-H",
            "dup=2",
        ],
        input,
    );
    let run = mq(
        &[
            "consume",
            &topic.url,
            "--from",
            "earliest",
            "--exit-at-end",
            "--format",
            "json",
        ],
        b"",
    )
    .ok();
    // Every field but the timestamp, byte for byte.
    let headers = r#""headers":{"source":"kcat","dup":"1","dup":"2"}"#;
    let t = &topic.name;
    let expected = [
        format!(
            r#"{{"topic":"{t}","partition":0,"offset":0,"key":"k1",{headers},"timestamp":T,"value":"hello world"}}"#
        ),
        format!(
            r#"{{"topic":"{t}","partition":0,"offset":1,"key":"k2",{headers},"timestamp":T,"value":"ünïcödé ✓"}}"#
        ),
        format!(
            r#"{{"topic":"{t}","partition":0,"offset":2,"key":"k3",{headers},"timestamp":T,"value_base64":"bm90IHV0Zi04IP/+IG51bCAAIGVuZA=="}}"#
        ),
        format!(
            r#"{{"topic":"{t}","partition":0,"offset":3,"key":"k4",{headers},"timestamp":T,"value":"carriage return\r"}}"#
        ),
        format!(
            r#"{{"topic":"{t}","partition":0,"offset":4,"key":"k5",{headers},"timestamp":T,"value":"a:b:c\ttab \"quoted\" \\ back"}}"#
        ),
        format!(
            r#"{{"topic":"{t}","partition":0,"offset":5,"key_base64":"//4=",{headers},"timestamp":T,"value":"binary key"}}"#
        ),
        format!(
            r#"{{"topic":"{t}","partition":0,"offset":6,"key":"k7",{headers},"timestamp":T,"value":null}}"#
        ),
    ];
    let got: Vec<String> = run.text().lines().map(without_timestamp).collect();
    assert_eq!(got, expected);
    // The base64 decodes to the bytes kcat sent.
    let lines = json_lines(&run.stdout);
    assert_eq!(
        base64_decode(lines[2]["value_base64"].as_str().unwrap()),
        b"not utf-8 \xff\xfe nul \x00 end"
    );
    assert!(lines[0]["timestamp"].as_i64().unwrap() > 1_600_000_000_000);

    let raw = mq(
        &["consume", &topic.url, "--from", "earliest", "--exit-at-end"],
        b"",
    )
    .ok();
    let values: &[&[u8]] = &[
        b"hello world",
        "ünïcödé ✓".as_bytes(),
        b"not utf-8 \xff\xfe nul \x00 end",
        b"carriage return\r",
        b"a:b:c\ttab \"quoted\" \\ back",
        b"binary key",
        b"",
    ];
    assert_eq!(raw.stdout, stdin_of(values));
    let codecs = batch_codecs(&topic.name, 0);
    assert!(!codecs.is_empty());
    // librdkafka may still send a batch uncompressed when compressing it
    // would not make it smaller; at least one must be compressed.
    assert!(
        codecs.contains(&codec(name))
            && codecs
                .iter()
                .all(|&c| c == codec(name) || c == codec("none")),
        "{name}: kcat's batches were {codecs:?}"
    );
}

/// The line with its timestamp's value replaced by `T`.
fn without_timestamp(line: &str) -> String {
    let (head, tail) = line.split_once(r#""timestamp":"#).expect("a timestamp");
    let end = tail.find(',').expect("a field after the timestamp");
    format!(r#"{head}"timestamp":T{}"#, &tail[end..])
}

#[test]
fn kcat_reads_what_mq_produces_uncompressed() {
    kcat_reads_what_mq_produces("none");
}

#[test]
fn kcat_reads_what_mq_produces_with_gzip() {
    kcat_reads_what_mq_produces("gzip");
}

#[test]
fn kcat_reads_what_mq_produces_with_snappy() {
    kcat_reads_what_mq_produces("snappy");
}

#[test]
fn kcat_reads_what_mq_produces_with_lz4() {
    kcat_reads_what_mq_produces("lz4");
}

#[test]
fn kcat_reads_what_mq_produces_with_zstd() {
    kcat_reads_what_mq_produces("zstd");
}

#[test]
fn mq_consumes_what_kcat_produces_uncompressed() {
    mq_consumes_what_kcat_produces("none");
}

#[test]
fn mq_consumes_what_kcat_produces_with_gzip() {
    mq_consumes_what_kcat_produces("gzip");
}

#[test]
fn mq_consumes_what_kcat_produces_with_snappy() {
    mq_consumes_what_kcat_produces("snappy");
}

#[test]
fn mq_consumes_what_kcat_produces_with_lz4() {
    mq_consumes_what_kcat_produces("lz4");
}

#[test]
fn mq_consumes_what_kcat_produces_with_zstd() {
    mq_consumes_what_kcat_produces("zstd");
}
