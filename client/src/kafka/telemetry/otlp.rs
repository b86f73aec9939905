//! The client's metrics as OpenTelemetry `MetricsData` (OTLP metrics v1),
//! protobuf-encoded by hand: the one message KIP-714 pushes. Only what a
//! snapshot needs is written: sums (counters) and gauges of numbers, with
//! string attributes.
//!
//! Field numbers from `opentelemetry/proto/metrics/v1/metrics.proto` and
//! `common/v1/common.proto`.

use bytes::{BufMut, Bytes, BytesMut};

/// One number of a metric, with its attributes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    pub(crate) attributes: Vec<(&'static str, String)>,
    pub(crate) value: Value,
}

/// A data point's value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    Int(i64),
    Double(f64),
}

/// What kind of metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A monotonic counter: cumulative, or deltas since the last push.
    Counter { delta: bool },
    /// A level as it is now.
    Gauge,
}

/// One metric and its points.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Metric {
    pub(crate) name: String,
    pub(crate) unit: &'static str,
    pub(crate) kind: Kind,
    pub(crate) points: Vec<Point>,
}

/// Protobuf wire types.
const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;

fn key(buf: &mut BytesMut, field: u32, wire: u32) {
    varint(buf, u64::from((field << 3) | wire));
}

fn varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn bytes_field(buf: &mut BytesMut, field: u32, data: &[u8]) {
    key(buf, field, LEN);
    varint(buf, data.len() as u64);
    buf.put_slice(data);
}

/// A nested message: written into its own buffer, then length-prefixed.
fn message(buf: &mut BytesMut, field: u32, write: impl FnOnce(&mut BytesMut)) {
    let mut inner = BytesMut::new();
    write(&mut inner);
    bytes_field(buf, field, &inner);
}

fn fixed64(buf: &mut BytesMut, field: u32, v: u64) {
    key(buf, field, FIXED64);
    buf.put_u64_le(v);
}

/// `KeyValue { key = 1; AnyValue value = 2 { string_value = 1 } }`.
fn attribute(buf: &mut BytesMut, field: u32, k: &str, v: &str) {
    message(buf, field, |kv| {
        bytes_field(kv, 1, k.as_bytes());
        message(kv, 2, |any| bytes_field(any, 1, v.as_bytes()));
    });
}

/// `NumberDataPoint`: attributes = 7, start_time_unix_nano = 2,
/// time_unix_nano = 3, as_double = 4, as_int = 6 (sfixed64).
fn point(buf: &mut BytesMut, p: &Point, start_ns: u64, now_ns: u64) {
    for (k, v) in &p.attributes {
        attribute(buf, 7, k, v);
    }
    fixed64(buf, 2, start_ns);
    fixed64(buf, 3, now_ns);
    match p.value {
        Value::Double(d) => fixed64(buf, 4, d.to_bits()),
        Value::Int(i) => fixed64(buf, 6, i as u64),
    }
}

/// Encodes `MetricsData { resource_metrics = 1 { resource = 1,
/// scope_metrics = 2 { scope = 1 { name = 1, version = 2 }, metrics = 2 } } }`.
/// Each `Metric`: name = 1, unit = 3, gauge = 5 { data_points = 1 },
/// sum = 7 { data_points = 1, aggregation_temporality = 2 (1 delta,
/// 2 cumulative), is_monotonic = 3 }.
pub(crate) fn encode(
    resource: &[(&'static str, String)],
    metrics: &[Metric],
    start_ns: u64,
    now_ns: u64,
) -> Bytes {
    let mut out = BytesMut::new();
    message(&mut out, 1, |rm| {
        message(rm, 1, |res| {
            for (k, v) in resource {
                attribute(res, 1, k, v);
            }
        });
        message(rm, 2, |sm| {
            message(sm, 1, |scope| {
                bytes_field(scope, 1, b"mq-client");
                bytes_field(scope, 2, env!("CARGO_PKG_VERSION").as_bytes());
            });
            for m in metrics {
                message(sm, 2, |mb| {
                    bytes_field(mb, 1, m.name.as_bytes());
                    if !m.unit.is_empty() {
                        bytes_field(mb, 3, m.unit.as_bytes());
                    }
                    let points = |body: &mut BytesMut| {
                        for p in &m.points {
                            message(body, 1, |pb| point(pb, p, start_ns, now_ns));
                        }
                    };
                    match m.kind {
                        Kind::Gauge => message(mb, 5, points),
                        Kind::Counter { delta } => message(mb, 7, |sum| {
                            points(sum);
                            key(sum, 2, VARINT);
                            varint(sum, if delta { 1 } else { 2 });
                            key(sum, 3, VARINT);
                            varint(sum, 1);
                        }),
                    }
                });
            }
        });
    });
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal protobuf reader, to check the encoding field by field.
    fn fields(mut b: &[u8]) -> Vec<(u32, Vec<u8>)> {
        fn read_varint(b: &mut &[u8]) -> u64 {
            let (mut v, mut shift) = (0u64, 0);
            loop {
                let byte = b[0];
                *b = &b[1..];
                v |= u64::from(byte & 0x7f) << shift;
                if byte < 0x80 {
                    return v;
                }
                shift += 7;
            }
        }
        let mut out = Vec::new();
        while !b.is_empty() {
            let k = read_varint(&mut b);
            let (field, wire) = ((k >> 3) as u32, (k & 7) as u32);
            let data = match wire {
                VARINT => read_varint(&mut b).to_le_bytes().to_vec(),
                FIXED64 => {
                    let d = b[..8].to_vec();
                    b = &b[8..];
                    d
                }
                LEN => {
                    let n = read_varint(&mut b) as usize;
                    let d = b[..n].to_vec();
                    b = &b[n..];
                    d
                }
                w => panic!("wire type {w}"),
            };
            out.push((field, data));
        }
        out
    }

    fn one(fs: &[(u32, Vec<u8>)], field: u32) -> Vec<u8> {
        fs.iter()
            .find(|(f, _)| *f == field)
            .map(|(_, d)| d.clone())
            .unwrap_or_else(|| panic!("no field {field} in {fs:?}"))
    }

    #[test]
    fn a_counter_and_a_gauge_encode_as_otlp_metrics_data() {
        let metrics = vec![
            Metric {
                name: "org.apache.kafka.producer.record.send.total".into(),
                unit: "",
                kind: Kind::Counter { delta: false },
                points: vec![Point {
                    attributes: vec![],
                    value: Value::Int(300),
                }],
            },
            Metric {
                name: "org.apache.kafka.consumer.fetch.manager.records.lag".into(),
                unit: "",
                kind: Kind::Gauge,
                points: vec![Point {
                    attributes: vec![("topic", "orders".into()), ("partition", "2".into())],
                    value: Value::Double(1.5),
                }],
            },
        ];
        let data = encode(&[("client_id", "c".into())], &metrics, 10, 20);
        let rm = fields(&one(&fields(&data), 1));
        let resource = fields(&one(&rm, 1));
        let kv = fields(&one(&resource, 1));
        assert_eq!(one(&kv, 1), b"client_id");
        let sm = fields(&one(&rm, 2));
        assert_eq!(one(&fields(&one(&sm, 1)), 1), b"mq-client");
        let ms: Vec<Vec<(u32, Vec<u8>)>> = sm
            .iter()
            .filter(|(f, _)| *f == 2)
            .map(|(_, d)| fields(d))
            .collect();
        assert_eq!(ms.len(), 2);
        // The counter: a cumulative monotonic sum of one int point.
        assert_eq!(
            one(&ms[0], 1),
            b"org.apache.kafka.producer.record.send.total"
        );
        let sum = fields(&one(&ms[0], 7));
        assert_eq!(one(&sum, 2)[0], 2, "cumulative");
        assert_eq!(one(&sum, 3)[0], 1, "monotonic");
        let p = fields(&one(&sum, 1));
        assert_eq!(one(&p, 6), 300u64.to_le_bytes());
        assert_eq!(one(&p, 2), 10u64.to_le_bytes());
        assert_eq!(one(&p, 3), 20u64.to_le_bytes());
        // The gauge: a double with two attributes.
        let gauge = fields(&one(&ms[1], 5));
        let p = fields(&one(&gauge, 1));
        assert_eq!(one(&p, 4), 1.5f64.to_bits().to_le_bytes());
        let attrs: Vec<Vec<(u32, Vec<u8>)>> = p
            .iter()
            .filter(|(f, _)| *f == 7)
            .map(|(_, d)| fields(d))
            .collect();
        assert_eq!(one(&attrs[1], 1), b"partition");
        assert_eq!(one(&fields(&one(&attrs[1], 2)), 1), b"2");
    }
}
