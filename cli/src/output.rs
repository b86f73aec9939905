//! Standard output, written through a buffer; every write error becomes a
//! [`CliError`], and a closed pipe (`mq decode ... | head -1`) a silent one.

use std::io::{self, BufWriter, StdoutLock, Write};

use crate::error::CliError;

/// Buffered stdout.
#[derive(Debug)]
pub(crate) struct Output {
    out: BufWriter<StdoutLock<'static>>,
}

impl Output {
    /// Locks stdout.
    pub(crate) fn stdout() -> Self {
        Output {
            out: BufWriter::with_capacity(64 * 1024, io::stdout().lock()),
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
