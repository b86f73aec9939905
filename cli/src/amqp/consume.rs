//! `mq consume amqp://... --queue Q`: deliveries to stdout, acknowledged
//! after they are written.
//!
//! Deliveries that are already there are written as one batch; stdout is
//! flushed, and then one `basic.ack` with `multiple` settles the batch. So a
//! message is acked only once it has left `mq`: if stdout is closed early,
//! the batch that could not be written is not acked and RabbitMQ delivers it
//! again to the next consumer.
//!
//! `--format json` writes one object per line:
//!
//! ```text
//! {"queue":"orders","delivery_tag":1,"redelivered":false,"exchange":"",
//!  "routing_key":"orders","headers":{"source":"seq"},"timestamp":null,
//!  "properties":{"content_type":"text/plain"},"value":"hello"}
//! ```
//!
//! - `value` is the body when it is valid UTF-8; otherwise the object has
//!   `value_base64` instead (RFC 4648 base64 with padding). Exactly one of
//!   the two is present.
//! - `headers` keeps the table's order (and repeated keys). Strings are JSON
//!   strings when valid UTF-8, else `{"base64": "..."}`; byte arrays (`x`)
//!   are `{"base64": "..."}` too; integers and floats are numbers, decimals
//!   `{"decimal": "12.34"}`, timestamps `{"timestamp": SECONDS}`, nested
//!   tables objects, arrays arrays, void `null`.
//! - `timestamp` is the message's timestamp property (seconds since the
//!   epoch) or `null`.
//! - `properties` holds the other basic properties that are set.

use futures_util::{FutureExt, StreamExt};
use mq_client::amqp::{
    BasicProperties, Channel, Connection, ConsumeOptions, Delivery, Error, FieldTable, FieldValue,
};

use super::{connect, failure};
use crate::cli::{ConsumeArgs, OutputFormat};
use crate::error::{CliError, Failure};
use crate::json::{ObjectWriter, base64_into, write_display, write_f64, write_str};
use crate::output::Output;
use crate::runtime::block_on;

/// Unacknowledged deliveries in flight unless `--prefetch` says otherwise.
const DEFAULT_PREFETCH: u16 = 100;

/// Runs `mq consume` against the broker at `url`.
pub(crate) fn run(a: &ConsumeArgs, url: &str, out: &mut Output) -> Result<(), CliError> {
    let queue = a.queue.as_deref().unwrap_or_default();
    if a.count == Some(0) {
        return Ok(());
    }
    block_on(async {
        let conn = connect(url, "mq consume").await?;
        let result = consume(&conn, a, queue, out).await;
        // After a lost connection there is nothing to close.
        if matches!(&result, Err(e) if e.kind() == Failure::Unreachable) {
            return result;
        }
        let closed = conn.close().await;
        match (result, closed) {
            (Err(e), _) => Err(e),
            (Ok(()), Err(e)) => Err(failure(&e, "close the connection")),
            (Ok(()), Ok(())) => Ok(()),
        }
    })
}

/// The prefetch: `--prefetch` (0 is unlimited), but no more than `--count`,
/// so no more is taken from the queue than will be written.
fn prefetch(prefetch: Option<u16>, count: Option<u64>) -> u16 {
    let p = prefetch.unwrap_or(DEFAULT_PREFETCH);
    match count {
        Some(n) => {
            let n = u16::try_from(n).unwrap_or(u16::MAX);
            if p == 0 { n } else { p.min(n) }
        }
        None => p,
    }
}

async fn consume(
    conn: &Connection,
    a: &ConsumeArgs,
    queue: &str,
    out: &mut Output,
) -> Result<(), CliError> {
    let doing = format!("consume from queue '{queue}'");
    let ch = conn
        .open_channel()
        .await
        .map_err(|e| failure(&e, "open a channel"))?;
    let options = ConsumeOptions::default().prefetch(prefetch(a.prefetch, a.count));
    let mut consumer = ch
        .consume(queue, options)
        .await
        .map_err(|e| failure(&e, &doing))?;
    let limit = a.count.unwrap_or(u64::MAX);
    let mut written = 0u64;
    let mut line = Vec::with_capacity(4096);
    while written < limit {
        let first = match consumer.next().await {
            Some(Ok(d)) => d,
            Some(Err(e)) => return Err(failure(&e, &doing)),
            None => return Err(ended(&ch, &doing)),
        };
        write(&first, queue, a.format, &mut line, out)?;
        written += 1;
        let mut last = first;
        // Take what is already there, then flush and ack it as one batch.
        let mut stop = None;
        while written < limit {
            match consumer.next().now_or_never() {
                Some(Some(Ok(d))) => {
                    write(&d, queue, a.format, &mut line, out)?;
                    written += 1;
                    last = d;
                }
                Some(Some(Err(e))) => {
                    stop = Some(failure(&e, &doing));
                    break;
                }
                Some(None) => {
                    stop = Some(ended(&ch, &doing));
                    break;
                }
                None => break,
            }
        }
        out.flush()?;
        last.ack_multiple()
            .await
            .map_err(|e| failure(&e, &format!("acknowledge deliveries from queue '{queue}'")))?;
        if let Some(e) = stop {
            return Err(e);
        }
    }
    consumer
        .cancel()
        .await
        .map_err(|e| failure(&e, &format!("cancel the consumer of queue '{queue}'")))
}

/// The consumer's stream ended without an error item: say why the channel
/// or connection went.
fn ended(ch: &Channel, doing: &str) -> CliError {
    match ch.close_reason() {
        Some(e) => failure(&e, doing),
        None => failure(
            &Error::ConnectionLost {
                reason: "the consumer stopped".to_owned(),
            },
            doing,
        ),
    }
}

/// Writes one delivery in `format`.
fn write(
    d: &Delivery,
    queue: &str,
    format: OutputFormat,
    line: &mut Vec<u8>,
    out: &mut Output,
) -> Result<(), CliError> {
    match format {
        OutputFormat::Raw => {
            out.write_all(d.body_ref())?;
            out.write_all(b"\n")
        }
        OutputFormat::Json => {
            line.clear();
            json_line(d, queue, line);
            line.push(b'\n');
            out.write_all(line)
        }
    }
}

/// One delivery as a JSON object.
fn json_line(d: &Delivery, queue: &str, line: &mut Vec<u8>) {
    let props = d.properties();
    let exchange = d.exchange();
    let routing_key = d.routing_key();
    let mut o = ObjectWriter::new(line);
    o.str("queue", queue)
        .u64("delivery_tag", d.delivery_tag())
        .bool("redelivered", d.redelivered())
        .str("exchange", &exchange.to_string_lossy())
        .str("routing_key", &routing_key.to_string_lossy());
    match &props.headers {
        Some(h) => {
            o.object("headers", |o| table(o, h));
        }
        None => {
            o.object("headers", |_| {});
        }
    }
    match props.timestamp {
        Some(t) => o.u64("timestamp", t),
        None => o.null("timestamp"),
    };
    o.object("properties", |o| properties(o, &props));
    o.payload("value", d.body_ref());
    o.finish();
}

/// The basic properties other than headers and timestamp, those set.
fn properties(o: &mut ObjectWriter<'_>, p: &BasicProperties) {
    let strings = [
        ("content_type", &p.content_type),
        ("content_encoding", &p.content_encoding),
        ("correlation_id", &p.correlation_id),
        ("reply_to", &p.reply_to),
        ("expiration", &p.expiration),
        ("message_id", &p.message_id),
        ("type", &p.kind),
        ("user_id", &p.user_id),
        ("app_id", &p.app_id),
        ("cluster_id", &p.cluster_id),
    ];
    if let Some(m) = p.delivery_mode {
        o.u64("delivery_mode", u64::from(m));
    }
    if let Some(prio) = p.priority {
        o.u64("priority", u64::from(prio));
    }
    for (name, value) in strings {
        if let Some(v) = value {
            o.str(name, &v.to_string_lossy());
        }
    }
}

/// A field table's entries, in order.
fn table(o: &mut ObjectWriter<'_>, t: &FieldTable) {
    for (k, v) in t.iter() {
        o.value(&k.to_string_lossy(), |out| value(out, &v));
    }
}

/// Any field value.
fn value(out: &mut Vec<u8>, v: &FieldValue) {
    match v {
        FieldValue::Table(inner) => {
            let mut o = ObjectWriter::new(out);
            table(&mut o, inner);
            o.finish();
        }
        FieldValue::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, &item);
            }
            out.push(b']');
        }
        _ => scalar(out, v),
    }
}

/// A value that is neither a table nor an array.
fn scalar(out: &mut Vec<u8>, v: &FieldValue) {
    match v {
        FieldValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        FieldValue::F32(f) => write_f64(out, f64::from(*f)),
        FieldValue::F64(f) => write_f64(out, *f),
        FieldValue::Decimal { scale, value } => {
            out.extend_from_slice(b"{\"decimal\":");
            write_str(out, &decimal(*scale, *value));
            out.push(b'}');
        }
        FieldValue::LongStr(s) => match s.as_str() {
            Ok(text) => write_str(out, text),
            Err(_) => base64_object(out, s.as_bytes()),
        },
        FieldValue::Bytes(b) => base64_object(out, b),
        FieldValue::Timestamp(t) => {
            out.extend_from_slice(b"{\"timestamp\":");
            write_display(out, t);
            out.push(b'}');
        }
        FieldValue::Void | FieldValue::Table(_) | FieldValue::Array(_) => {
            out.extend_from_slice(b"null");
        }
        other => match other.as_i64() {
            Some(n) => write_display(out, n),
            None => out.extend_from_slice(b"null"),
        },
    }
}

fn base64_object(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(b"{\"base64\":\"");
    base64_into(out, bytes);
    out.extend_from_slice(b"\"}");
}

/// `value / 10^scale` in decimal notation, exactly.
fn decimal(scale: u8, value: u32) -> String {
    let digits = value.to_string();
    let scale = usize::from(scale);
    if scale == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mq_client::amqp::FieldTable;

    #[test]
    fn prefetch_never_exceeds_the_count() {
        assert_eq!(prefetch(None, None), DEFAULT_PREFETCH);
        assert_eq!(prefetch(Some(500), Some(3)), 3);
        assert_eq!(prefetch(Some(0), Some(7)), 7);
        assert_eq!(prefetch(Some(0), None), 0);
        assert_eq!(prefetch(None, Some(1_000_000)), DEFAULT_PREFETCH);
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(decimal(0, 42), "42");
        assert_eq!(decimal(2, 1234), "12.34");
        assert_eq!(decimal(3, 5), "0.005");
    }

    #[test]
    fn tables_become_json_in_order() {
        let nested: FieldTable = [("n", FieldValue::I32(-1))].into_iter().collect();
        let t = FieldTable::builder()
            .insert("s", "text")
            .insert("i", FieldValue::U8(7))
            .insert("b", true)
            .insert(
                "x",
                FieldValue::Bytes(bytes::Bytes::from_static(b"\xff\x00")),
            )
            .insert(
                "d",
                FieldValue::Decimal {
                    scale: 1,
                    value: 15,
                },
            )
            .insert("t", FieldValue::Timestamp(1_700_000_000))
            .insert("v", FieldValue::Void)
            .insert("f", FieldValue::F64(0.25))
            .insert("nested", FieldValue::Table(nested))
            .insert("a", FieldValue::Array(["one", "two"].into_iter().collect()))
            .insert("s", "again")
            .build();
        let mut out = Vec::new();
        let mut o = ObjectWriter::new(&mut out);
        table(&mut o, &t);
        o.finish();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"s":"text","i":7,"b":true,"x":{"base64":"/wA="},"d":{"decimal":"1.5"},"t":{"timestamp":1700000000},"v":null,"f":0.25,"nested":{"n":-1},"a":["one","two"],"s":"again"}"#
        );
    }
}
