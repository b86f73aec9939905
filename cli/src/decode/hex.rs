//! `--hex` input: hex text to bytes.
//!
//! Accepted: hex digits in pairs, separated or not by whitespace or commas,
//! each group optionally prefixed by `0x`; `#` starts a comment. A line that
//! starts with an offset and a colon is taken as `xxd` output: the offset is
//! skipped, and so is the text column after the first two spaces.

use crate::error::CliError;

/// Longest part of a bad token quoted in the error.
const MAX_QUOTED: usize = 24;

/// Decodes hex text. The error names the line and column of the first bad
/// group.
pub(crate) fn parse(text: &[u8]) -> Result<Vec<u8>, CliError> {
    let text = std::str::from_utf8(text).map_err(|e| {
        CliError::input(format!(
            "bad hex: the input is not text (byte {} is not UTF-8)",
            e.valid_up_to()
        ))
    })?;
    let mut out = Vec::with_capacity(text.len() / 2);
    for (index, raw_line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw_line.split('#').next().unwrap_or_default();
        let (start, data) = strip_xxd(line);
        let mut column = start;
        for piece in data.split_inclusive(|c: char| c.is_whitespace() || c == ',') {
            let token = piece.trim_end_matches(|c: char| c.is_whitespace() || c == ',');
            if !token.is_empty() {
                decode_token(token, &mut out).map_err(|why| {
                    let shown: String = token.chars().take(MAX_QUOTED).collect();
                    CliError::input(format!(
                        "bad hex on line {line_no}, column {}: '{}' {why}",
                        column + 1,
                        shown.escape_debug()
                    ))
                })?;
            }
            column += piece.chars().count();
        }
    }
    Ok(out)
}

/// For an `xxd` line (`00000010: 0001 0203  ....`), the column where the
/// hex starts and the hex part; other lines whole.
fn strip_xxd(line: &str) -> (usize, &str) {
    let trimmed = line.trim_start();
    if let Some((offset, rest)) = trimmed.split_once(':') {
        if !offset.is_empty() && offset.chars().all(|c| c.is_ascii_hexdigit()) {
            let start = line.len() - rest.len();
            // The text column follows the hex after two spaces; the hex part
            // itself starts with one space.
            let hex = match rest.get(1..).and_then(|r| r.find("  ")) {
                Some(i) => rest.get(..i + 1).unwrap_or(rest),
                None => rest,
            };
            return (line.get(..start).map_or(0, |s| s.chars().count()), hex);
        }
    }
    (0, line)
}

/// Appends the bytes of one group of hex digits.
fn decode_token(token: &str, out: &mut Vec<u8>) -> Result<(), &'static str> {
    let digits = token
        .strip_prefix("0x")
        .or_else(|| token.strip_prefix("0X"))
        .unwrap_or(token);
    if digits.is_empty() {
        return Err("has no digits");
    }
    if !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("is not hex");
    }
    if digits.len() % 2 != 0 {
        return Err("has an odd number of digits");
    }
    for pair in digits.as_bytes().chunks(2) {
        let s = std::str::from_utf8(pair).map_err(|_| "is not hex")?;
        out.push(u8::from_str_radix(s, 16).map_err(|_| "is not hex")?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        parse(s.as_bytes()).unwrap()
    }

    fn err(s: &str) -> String {
        parse(s.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn plain_prefixed_and_commented() {
        assert_eq!(hex("41 4d\n5150"), b"AMQP");
        assert_eq!(hex("0x41,0x4D, 0X51 0x50 # AMQP"), b"AMQP");
        assert_eq!(hex("  \n\t\r\n"), b"");
        assert_eq!(hex("414d5150\r\n00000901"), b"AMQP\x00\x00\x09\x01");
    }

    #[test]
    fn xxd_output() {
        let dump = "00000000: 414d 5150 0000 0901 0100 0000 0001 f400  AMQP............\n\
                    00000010: 0a00 0a  ...\n";
        let b = hex(dump);
        assert_eq!(&b[..8], b"AMQP\x00\x00\x09\x01");
        assert_eq!(b.len(), 19);
        // xxd -g1, and a text column that looks like hex.
        assert_eq!(hex("00000000: 41 42  abcd"), b"AB");
    }

    #[test]
    fn errors_name_line_and_column() {
        assert_eq!(
            err("41 42\n43 zz 44"),
            "bad hex on line 2, column 4: 'zz' is not hex"
        );
        assert_eq!(
            err("414"),
            "bad hex on line 1, column 1: '414' has an odd number of digits"
        );
        assert_eq!(
            err("41 0x"),
            "bad hex on line 1, column 4: '0x' has no digits"
        );
        assert_eq!(
            err("00000000: 41 4g  AB"),
            "bad hex on line 1, column 14: '4g' is not hex"
        );
        assert!(
            parse(&[0xff, 0x41])
                .unwrap_err()
                .to_string()
                .contains("not text")
        );
    }
}
