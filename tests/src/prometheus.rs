//! A strict parser of the Prometheus text exposition format (0.0.4), as
//! much of it as the clients' metrics snapshots use: `# HELP` and
//! `# TYPE` lines, and samples `name{label="value",...} value` with no
//! timestamp. Anything else is an error, so a test that parses a
//! snapshot's text proves that a Prometheus server would take it.

use std::collections::{BTreeMap, HashMap};

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name as written (with `_sum`/`_count` for a summary).
    pub name: String,
    /// The labels.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// What the text holds: samples in order, and each family's type.
#[derive(Debug, Clone, Default)]
pub struct Exposition {
    /// Every sample line, in order.
    pub samples: Vec<Sample>,
    /// Each family's `# TYPE`.
    pub types: HashMap<String, String>,
}

impl Exposition {
    /// The value of the one sample named `name` whose labels include
    /// `labels`; panics if there is none or more than one.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self
            .samples
            .iter()
            .filter(|s| {
                s.name == name
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .collect();
        assert_eq!(found.len(), 1, "one sample {name} {labels:?}: {found:?}");
        found[0].value
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ if s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) => {
            s.parse().map_err(|e| format!("bad value {s:?}: {e}"))
        }
        _ => Err(format!("bad value {s:?}")),
    }
}

/// Parses `{k="v",...}` at the start of `s`; returns the labels and the
/// rest after the closing brace.
fn parse_labels(s: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = s.strip_prefix('{').ok_or("no {")?;
    if let Some(r) = rest.strip_prefix('}') {
        return Ok((labels, r));
    }
    loop {
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => return Err(format!("bad escape {other:?}")),
                },
                Some((i, '"')) => break i,
                Some((_, '\n')) => return Err("raw line feed in a label value".into()),
                Some((_, c)) => value.push(c),
                None => return Err("unterminated label value".into()),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} twice"));
        }
        rest = &rest[end + 1..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
        } else if let Some(r) = rest.strip_prefix('}') {
            return Ok((labels, r));
        } else {
            return Err("expected , or } after a label".into());
        }
    }
}

/// The family a sample belongs to: its name, or for a summary's or
/// histogram's `_sum`, `_count` (and `_bucket`) lines the name without it.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    for suffix in ["_sum", "_count", "_bucket"] {
        if let Some(base) = name.strip_suffix(suffix) {
            match types.get(base).map(String::as_str) {
                Some("summary") if suffix != "_bucket" => return Some(base),
                Some("histogram") => return Some(base),
                _ => {}
            }
        }
    }
    None
}

/// Parses `text` strictly: every line a `# HELP`, a `# TYPE` (one per
/// family, before its samples) or a sample of a typed family; the text
/// ends with a line feed.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    let mut sampled: HashMap<String, ()> = HashMap::new();
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the text does not end with a line feed".into());
    }
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if let Some(comment) = line.strip_prefix('#') {
            let mut parts = comment.trim_start().splitn(3, ' ');
            match parts.next() {
                Some("HELP") => {
                    let name = parts
                        .next()
                        .ok_or_else(|| at("HELP without a name".into()))?;
                    if !is_metric_name(name) {
                        return Err(at(format!("bad name {name:?}")));
                    }
                }
                Some("TYPE") => {
                    let name = parts
                        .next()
                        .ok_or_else(|| at("TYPE without a name".into()))?;
                    let kind = parts
                        .next()
                        .ok_or_else(|| at("TYPE without a type".into()))?;
                    if !is_metric_name(name) {
                        return Err(at(format!("bad name {name:?}")));
                    }
                    if !["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind) {
                        return Err(at(format!("bad type {kind:?}")));
                    }
                    if sampled.contains_key(name) {
                        return Err(at("TYPE after the family's samples".into()));
                    }
                    if out.types.insert(name.to_owned(), kind.to_owned()).is_some() {
                        return Err(at("a second TYPE for the family".into()));
                    }
                }
                _ => {}
            }
            continue;
        }
        if line.trim().is_empty() {
            return Err(at("empty line".into()));
        }
        let name_end = line.find(['{', ' ']).ok_or_else(|| at("no value".into()))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(at(format!("bad metric name {name:?}")));
        }
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..]).map_err(at)?
        } else {
            (BTreeMap::new(), &line[name_end..])
        };
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| at("no space before the value".into()))?;
        if value.contains(' ') {
            return Err(at("more than a value after the labels".into()));
        }
        let value = parse_value(value).map_err(at)?;
        let family =
            family_of(name, &out.types).ok_or_else(|| at(format!("no TYPE before {name}")))?;
        sampled.insert(family.to_owned(), ());
        out.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_good_text() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\\\"\",y=\"\"} 3\n\
                    # TYPE l summary\nl_sum 0.5\nl_count 2\n";
        let e = parse(text).unwrap();
        assert_eq!(e.value("a_total", &[("x", "1\"")]), 3.0);
        assert_eq!(e.value("l_count", &[]), 2.0);
    }

    #[test]
    fn refuses_bad_text() {
        for bad in [
            "a 1\n",                                   // no TYPE
            "# TYPE a counter\na{x=1} 1\n",            // unquoted
            "# TYPE a counter\na 1 2\n",               // timestamp
            "# TYPE a counter\na one\n",               // not a float
            "# TYPE a counter\n1a 1\n",                // bad name
            "# TYPE a counter\na 1\n# TYPE a gauge\n", // TYPE twice
            "# TYPE a counter\na_sum 1\n",             // not a summary
            "# TYPE a counter\na 1",                   // no final line feed
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
