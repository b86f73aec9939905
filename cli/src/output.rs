//! Standard output, written through a buffer; every write error becomes a
//! [`CliError`], and a closed pipe (`mq decode ... | head -1`) a silent one.

use std::io::{self, BufWriter, Write};

use crate::error::CliError;

/// Buffered stdout (or, in tests, any writer).
pub(crate) struct Output {
    out: BufWriter<Box<dyn Write>>,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Output")
    }
}

impl Output {
    /// Locks stdout.
    pub(crate) fn stdout() -> Self {
        Output::to(Box::new(io::stdout().lock()))
    }

    /// Output to `w`.
    pub(crate) fn to(w: Box<dyn Write>) -> Self {
        Output {
            out: BufWriter::with_capacity(64 * 1024, w),
        }
    }

    /// Writes bytes as they are.
    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        self.out
            .write_all(bytes)
            .map_err(|e| CliError::io("write to stdout", &e))
    }

    /// Writes one line.
    pub(crate) fn line(&mut self, text: &str) -> Result<(), CliError> {
        self.write_all(text.as_bytes())?;
        self.write_all(b"\n")
    }

    /// Flushes what is buffered.
    pub(crate) fn flush(&mut self) -> Result<(), CliError> {
        self.out
            .flush()
            .map_err(|e| CliError::io("write to stdout", &e))
    }
}
