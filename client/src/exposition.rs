//! Client metrics as metric families: rendered in the Prometheus text
//! exposition format (version 0.0.4), or, with the `metrics` feature,
//! published to the `metrics` facade's installed recorder.
//!
//! Both clients' snapshots (`kafka::ClientMetrics`,
//! `amqp::ConnectionMetrics`) describe themselves as a list of [`Family`];
//! this module owns the two ways out, so both clients name, label and
//! escape alike.

use std::fmt::Write as _;

/// What kind of figure a family holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only goes up (since the client was built): `_total` names.
    Counter,
    /// Goes up and down: a level now.
    Gauge,
    /// A sum and a count of observations (`_sum`, `_count`), no quantiles.
    Summary,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Summary => "summary",
        }
    }
}

/// A value: whole (counts, bytes) or fractional (seconds).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value {
    Int(u64),
    Float(f64),
}

impl Value {
    #[cfg(feature = "metrics")]
    fn as_f64(self) -> f64 {
        match self {
            Value::Int(v) => v as f64,
            Value::Float(v) => v,
        }
    }
}

/// One line of a family: a suffix (`""`, or `_sum`/`_count` of a
/// summary), labels beyond the client's own, and a value.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) suffix: &'static str,
    pub(crate) labels: Vec<(&'static str, String)>,
    pub(crate) value: Value,
}

/// A metric family: one name, one help text, one kind, its samples.
#[derive(Debug, Clone)]
pub(crate) struct Family {
    pub(crate) name: String,
    pub(crate) help: &'static str,
    pub(crate) kind: Kind,
    pub(crate) samples: Vec<Sample>,
}

/// Collects families under one name prefix and one set of labels that
/// every sample carries (the client's id).
#[derive(Debug)]
pub(crate) struct Families {
    prefix: String,
    common: Vec<(&'static str, String)>,
    pub(crate) list: Vec<Family>,
}

impl Families {
    pub(crate) fn new(prefix: String, common: Vec<(&'static str, String)>) -> Self {
        Families {
            prefix,
            common,
            list: Vec::new(),
        }
    }

    /// A family of one unlabelled sample.
    pub(crate) fn one(&mut self, name: &str, help: &'static str, kind: Kind, value: Value) {
        self.family(name, help, kind);
        self.push("", Vec::new(), value);
    }

    /// A counter of one sample.
    pub(crate) fn counter(&mut self, name: &str, help: &'static str, value: u64) {
        self.one(name, help, Kind::Counter, Value::Int(value));
    }

    /// A gauge of one sample.
    pub(crate) fn gauge(&mut self, name: &str, help: &'static str, value: u64) {
        self.one(name, help, Kind::Gauge, Value::Int(value));
    }

    /// An empty family, to add labelled samples to with [`Families::sample`].
    pub(crate) fn family(&mut self, name: &str, help: &'static str, kind: Kind) -> &mut Family {
        self.list.push(Family {
            name: format!("{}_{name}", self.prefix),
            help,
            kind,
            samples: Vec::new(),
        });
        let last = self.list.len() - 1;
        &mut self.list[last]
    }

    /// A sample with the common labels, then `labels`.
    pub(crate) fn sample(
        &self,
        suffix: &'static str,
        labels: Vec<(&'static str, String)>,
        value: Value,
    ) -> Sample {
        let mut all = self.common.clone();
        all.extend(labels);
        Sample {
            suffix,
            labels: all,
            value,
        }
    }

    /// Pushes a labelled sample onto the last family.
    pub(crate) fn push(
        &mut self,
        suffix: &'static str,
        labels: Vec<(&'static str, String)>,
        value: Value,
    ) {
        let sample = self.sample(suffix, labels, value);
        if let Some(f) = self.list.last_mut() {
            f.samples.push(sample);
        }
    }
}

/// Renders families in the Prometheus text format: `# HELP`, `# TYPE`,
/// then one `name{label="value"} value` line per sample. Families without
/// samples are left out.
pub(crate) fn render(families: &[Family]) -> String {
    let mut out = String::with_capacity(families.len() * 160);
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
        let _ = writeln!(out, "# TYPE {} {}", f.name, f.kind.as_str());
        for s in &f.samples {
            out.push_str(&f.name);
            out.push_str(s.suffix);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = match s.value {
                Value::Int(v) => writeln!(out, " {v}"),
                Value::Float(v) => writeln!(out, " {}", float(v)),
            };
        }
    }
    out
}

/// A float as the format spells it (`+Inf`, `-Inf`, `NaN` included).
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v:?}")
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A help text: backslash and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Publishes families to the `metrics` recorder installed now (global or
/// thread-local): counters with `absolute`, gauges with `set`; a summary
/// as a counter `<name>_count` and a gauge `<name>_sum`. Each name is
/// described once per call with its help text.
#[cfg(feature = "metrics")]
pub(crate) fn publish(families: &[Family]) {
    static METADATA: metrics::Metadata<'static> =
        metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));
    metrics::with_recorder(|recorder| {
        for f in families.iter().filter(|f| !f.samples.is_empty()) {
            match f.kind {
                Kind::Counter => {
                    recorder.describe_counter(f.name.clone().into(), None, f.help.into())
                }
                Kind::Gauge => recorder.describe_gauge(f.name.clone().into(), None, f.help.into()),
                Kind::Summary => {
                    recorder.describe_counter(
                        format!("{}_count", f.name).into(),
                        None,
                        f.help.into(),
                    );
                    recorder.describe_gauge(format!("{}_sum", f.name).into(), None, f.help.into());
                }
            }
            for s in &f.samples {
                let labels: Vec<metrics::Label> = s
                    .labels
                    .iter()
                    .map(|(k, v)| metrics::Label::new(*k, v.clone()))
                    .collect();
                let key = metrics::Key::from_parts(format!("{}{}", f.name, s.suffix), labels);
                let counter = match f.kind {
                    Kind::Counter => true,
                    Kind::Gauge => false,
                    Kind::Summary => s.suffix == "_count",
                };
                match (counter, s.value) {
                    (true, Value::Int(v)) => recorder.register_counter(&key, &METADATA).absolute(v),
                    (_, v) => recorder.register_gauge(&key, &METADATA).set(v.as_f64()),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_help_type_and_escaped_labels() {
        let mut f = Families::new("mq_x".into(), vec![("client_id", "a\"b\\c\nd".into())]);
        f.counter("things_total", "Things.", 3);
        f.family("latency_seconds", "Latency.", Kind::Summary);
        f.push("_sum", vec![("api", "Fetch".into())], Value::Float(0.5));
        f.push("_count", vec![("api", "Fetch".into())], Value::Int(2));
        f.family("empty", "Left out.", Kind::Gauge);
        let text = render(&f.list);
        assert_eq!(
            text,
            "# HELP mq_x_things_total Things.\n\
             # TYPE mq_x_things_total counter\n\
             mq_x_things_total{client_id=\"a\\\"b\\\\c\\nd\"} 3\n\
             # HELP mq_x_latency_seconds Latency.\n\
             # TYPE mq_x_latency_seconds summary\n\
             mq_x_latency_seconds_sum{client_id=\"a\\\"b\\\\c\\nd\",api=\"Fetch\"} 0.5\n\
             mq_x_latency_seconds_count{client_id=\"a\\\"b\\\\c\\nd\",api=\"Fetch\"} 2\n"
        );
    }

    #[test]
    fn floats_are_spelled_as_the_format_wants() {
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(f64::NEG_INFINITY), "-Inf");
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(1.0), "1.0");
    }
}
