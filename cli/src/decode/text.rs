//! How decoded values are written: blocks of indented lines, quoted
//! strings, payloads cut to a readable length, timestamps as dates.

use std::fmt::{self, Display};

/// Payload bytes shown before the rest is summarised.
pub(crate) const MAX_SHOWN: usize = 256;
/// Binary bytes shown in hex before the rest is summarised.
const MAX_HEX: usize = 64;

/// One frame, request or response: a title line and indented lines.
#[derive(Debug, Default)]
pub(crate) struct Block {
    /// Depth (0 is the title's) and text of each line.
    lines: Vec<(usize, String)>,
}

impl Block {
    /// A block for what starts at byte `offset` of the input.
    pub(crate) fn new(offset: usize, title: impl Display) -> Self {
        Block {
            lines: vec![(0, format!("[{offset}] {title}"))],
        }
    }

    /// A line at `depth` (1 is just under the title).
    pub(crate) fn line(&mut self, depth: usize, text: impl Display) {
        self.lines.push((depth, text.to_string()));
    }

    /// `name: value` at `depth`.
    pub(crate) fn field(&mut self, depth: usize, name: &str, value: impl Display) {
        self.line(depth, format_args!("{name}: {value}"));
    }

    /// Appends `other`'s lines, `depth` deeper.
    pub(crate) fn append(&mut self, depth: usize, other: Block) {
        self.lines
            .extend(other.lines.into_iter().map(|(d, text)| (d + depth, text)));
    }

    /// Whether every line is at depth 0 (so the lines could be one).
    pub(crate) fn is_flat(&self) -> bool {
        self.lines.iter().all(|(d, _)| *d == 0)
    }

    /// The lines' texts, without indentation.
    pub(crate) fn texts(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(|(_, t)| t.as_str())
    }

    /// Each line, indented two spaces per level.
    pub(crate) fn rendered(&self) -> impl Iterator<Item = String> + '_ {
        self.lines
            .iter()
            .map(|(depth, text)| format!("{}{text}", "  ".repeat(*depth)))
    }
}

/// Bytes as a quoted string: `"text"` when they are UTF-8, `b"..."` with
/// `\xNN` escapes otherwise.
pub(crate) fn quote(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => format!("\"{}\"", s.escape_debug()),
        Err(_) => format!("b\"{}\"", b.escape_ascii()),
    }
}

/// A payload (body, key, value): UTF-8 text quoted, other bytes in hex, and
/// long ones cut, saying how long they are.
pub(crate) struct Payload<'a>(pub(crate) &'a [u8]);

impl Display for Payload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        match std::str::from_utf8(b) {
            Ok(s) if b.len() <= MAX_SHOWN => write!(f, "\"{}\"", s.escape_debug()),
            Ok(s) => {
                let mut end = MAX_SHOWN;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                let head = s.get(..end).unwrap_or_default();
                write!(f, "\"{}\"... ({} bytes)", head.escape_debug(), b.len())
            }
            Err(_) if b.len() <= MAX_HEX => write!(f, "0x{}", Hex(b)),
            Err(_) => write!(
                f,
                "0x{}... ({} bytes)",
                Hex(b.get(..MAX_HEX).unwrap_or(b)),
                b.len()
            ),
        }
    }
}

/// Bytes as lower-case hex digits.
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A count with its noun: `1 record`, `3 records`.
pub(crate) fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ if noun.ends_with("ch") || noun.ends_with('s') => format!("{n} {noun}es"),
        _ => format!("{n} {noun}s"),
    }
}

/// Milliseconds since the epoch, with the UTC date when it is one
/// (years 1970 to 9999): `1700000000000 (2023-11-14T22:13:20.000Z)`.
pub(crate) fn millis(ms: i64) -> String {
    match utc(ms.div_euclid(1000), ms.rem_euclid(1000)) {
        Some((date, time)) if ms >= 0 => format!("{ms} ({date}T{time}Z)"),
        _ => ms.to_string(),
    }
}

/// Seconds since the epoch, with the UTC date when it is one.
pub(crate) fn seconds(s: u64) -> String {
    match i64::try_from(s).ok().and_then(|s| utc(s, -1)) {
        Some((date, time)) => format!("{s} ({date}T{time}Z)"),
        None => s.to_string(),
    }
}

/// `(YYYY-MM-DD, hh:mm:ss[.mmm])` for `secs` since the epoch, within years
/// 1970 to 9999; `ms` below zero leaves the milliseconds out.
fn utc(secs: i64, ms: i64) -> Option<(String, String)> {
    // 253402300800 is 10000-01-01T00:00:00Z.
    if !(0..253_402_300_800).contains(&secs) {
        return None;
    }
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let time = if ms >= 0 {
        format!(
            "{:02}:{:02}:{:02}.{ms:03}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    } else {
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
    };
    Some((format!("{y:04}-{m:02}-{d:02}"), time))
}

/// The proleptic Gregorian date of a day count since 1970-01-01, for days
/// that are not negative: count 400-year eras of 146097 days from
/// 0000-03-01 (so leap days fall at the end of a year), then years of the
/// era, then months of 153 days per five.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468; // days from 0000-03-01
    let era = z / 146_097;
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // March = 0
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(millis(0), "0 (1970-01-01T00:00:00.000Z)");
        assert_eq!(
            millis(1_700_000_000_123),
            "1700000000123 (2023-11-14T22:13:20.123Z)"
        );
        assert_eq!(
            millis(951_782_400_000),
            "951782400000 (2000-02-29T00:00:00.000Z)"
        );
        assert_eq!(millis(-1), "-1");
        assert_eq!(millis(i64::MAX), i64::MAX.to_string());
        assert_eq!(seconds(1_234_567_890), "1234567890 (2009-02-13T23:31:30Z)");
        assert_eq!(seconds(u64::MAX), u64::MAX.to_string());
        // Every day from 1970 to 2100 follows the one before it.
        let mut prev = civil_from_days(0);
        assert_eq!(prev, (1970, 1, 1));
        for day in 1..47_482 {
            let next = civil_from_days(day);
            let ok = (next.0 == prev.0 && next.1 == prev.1 && next.2 == prev.2 + 1)
                || (next.0 == prev.0 && next.1 == prev.1 + 1 && next.2 == 1)
                || (next.0 == prev.0 + 1 && next.1 == 1 && next.2 == 1 && prev.1 == 12);
            assert!(ok, "{prev:?} -> {next:?}");
            prev = next;
        }
        assert_eq!(prev, (2099, 12, 31));
    }

    #[test]
    fn payloads() {
        assert_eq!(Payload(b"hi \"x\"\n").to_string(), r#""hi \"x\"\n""#);
        assert_eq!(Payload(&[0xff, 0x00]).to_string(), "0xff00");
        let long = "é".repeat(200);
        let shown = Payload(long.as_bytes()).to_string();
        assert!(shown.ends_with("... (400 bytes)"), "{shown}");
        assert_eq!(shown.matches('é').count(), 128);
        let bin = vec![0xffu8; 100];
        assert!(Payload(&bin).to_string().ends_with("... (100 bytes)"));
        assert_eq!(quote(b"a\0b"), r#""a\0b""#);
        assert_eq!(quote(&[b'a', 0xff]), r#"b"a\xff""#);
        assert_eq!(plural(1, "batch"), "1 batch");
        assert_eq!(plural(2, "record"), "2 records");
        assert_eq!(plural(0, "batch"), "0 batches");
    }
}
