//! Messages from stdin, one per line, for `mq produce` (either protocol).
//!
//! Each line is one message, without its `\n` and byte for byte otherwise
//! (a `\r` before the `\n` stays, bytes need not be UTF-8). An empty line
//! is an empty message. A last line without a newline is a message too,
//! unless it is empty.
//!
//! Lines are split off one read buffer without copying: each message is a
//! `Bytes` slice of it. A line longer than [`MAX_LINE`] is an input error,
//! so stdin cannot make `mq` buffer without bound.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::error::CliError;

/// The longest line taken as one message: 128 MiB, RabbitMQ's and the
/// client's largest message body.
pub(crate) const MAX_LINE: usize = 128 * 1024 * 1024;

/// How much is read from stdin at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Splits a byte stream into lines.
#[derive(Debug)]
pub(crate) struct Lines<R> {
    reader: R,
    buf: BytesMut,
    /// Bytes at the start of `buf` known to hold no newline.
    scanned: usize,
    /// Lines returned so far.
    line: u64,
    eof: bool,
    max_line: usize,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    /// Lines of `reader`, each at most [`MAX_LINE`] bytes.
    pub(crate) fn new(reader: R) -> Self {
        Lines::with_limit(reader, MAX_LINE)
    }

    /// Lines of `reader`, each at most `max_line` bytes.
    pub(crate) fn with_limit(reader: R, max_line: usize) -> Self {
        Lines {
            reader,
            buf: BytesMut::new(),
            scanned: 0,
            line: 0,
            eof: false,
            max_line,
        }
    }

    /// The number of lines returned so far.
    pub(crate) fn count(&self) -> u64 {
        self.line
    }

    /// The next line without its newline, or `None` at the end of input.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, CliError> {
        loop {
            let unscanned = self.buf.get(self.scanned..).unwrap_or_default();
            if let Some(i) = unscanned.iter().position(|&b| b == b'\n') {
                let end = self.scanned + i;
                self.check_length(end)?;
                let mut line = self.buf.split_to(end + 1);
                line.truncate(end);
                self.scanned = 0;
                self.line += 1;
                return Ok(Some(line.freeze()));
            }
            self.scanned = self.buf.len();
            self.check_length(self.buf.len())?;
            if self.eof {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.scanned = 0;
                self.line += 1;
                return Ok(Some(self.buf.split().freeze()));
            }
            self.buf.reserve(READ_CHUNK);
            let n = self
                .reader
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| CliError::io("read stdin", &e))?;
            if n == 0 {
                self.eof = true;
            }
        }
    }

    fn check_length(&self, len: usize) -> Result<(), CliError> {
        if len > self.max_line {
            return Err(CliError::input(format!(
                "line {} of the input is longer than {} bytes, the largest message mq sends",
                self.line + 1,
                self.max_line
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Failure;

    fn lines(input: &'static [u8]) -> Vec<Bytes> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut l = Lines::new(input);
            let mut out = Vec::new();
            while let Some(line) = l.next().await.unwrap() {
                out.push(line);
            }
            assert_eq!(l.count(), out.len() as u64);
            out
        })
    }

    #[test]
    fn one_message_per_line_byte_for_byte() {
        assert_eq!(lines(b"a\nbb\n"), ["a", "bb"]);
        assert_eq!(lines(b"a\n\nc"), ["a", "", "c"]);
        assert_eq!(lines(b"crlf\r\n\xff\xfe\n"), [&b"crlf\r"[..], b"\xff\xfe"]);
        assert_eq!(lines(b""), Vec::<Bytes>::new());
        assert_eq!(lines(b"\n"), [""]);
    }

    #[test]
    fn long_lines_span_reads() {
        let long: &'static [u8] = Box::leak(
            [vec![b'x'; 3 * READ_CHUNK + 7], b"\nend".to_vec()]
                .concat()
                .into_boxed_slice(),
        );
        let got = lines(long);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].len(), 3 * READ_CHUNK + 7);
        assert_eq!(got[1], "end");
    }

    #[test]
    fn a_line_over_the_limit_is_an_input_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut l = Lines::with_limit(&b"ok\ntoo long\n"[..], 4);
            assert_eq!(l.next().await.unwrap().unwrap(), "ok");
            let e = l.next().await.unwrap_err();
            assert_eq!(e.kind(), Failure::BadInput);
            assert!(
                e.to_string()
                    .contains("line 2 of the input is longer than 4 bytes")
            );
            // Without a newline in sight the limit holds as well.
            let mut l = Lines::with_limit(&b"endless"[..], 4);
            assert!(l.next().await.is_err());
        });
    }
}
