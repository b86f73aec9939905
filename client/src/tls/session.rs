//! A TLS session driven by readiness, for the AMQP driver's non-blocking
//! loop (the Kafka connections use tokio-rustls instead).

use std::fmt;
use std::io::{Read, Write};

use rustls::ClientConnection;
use tokio::net::TcpStream;

/// A TLS session driven by readiness, for the AMQP driver's non-blocking
/// loop: the driver reads ciphertext from the socket into [`Session::cipher`]
/// (one system call for up to a whole chunk, however many records it
/// holds), [`Session::decrypt`] turns it into plaintext, and
/// [`Session::write`] encrypts and writes with the socket's `try_write`.
pub(crate) struct Session {
    conn: ClientConnection,
    /// Ciphertext read from the socket, not yet handed to rustls.
    cipher: bytes::BytesMut,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("cipher", &self.cipher.len())
            .finish_non_exhaustive()
    }
}

/// `Write` over a tokio socket's non-blocking `try_write`.
struct Nonblocking<'a>(&'a TcpStream);

impl Write for Nonblocking<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.try_write(buf)
    }
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Session {
    /// Takes over the session of a finished handshake, with the
    /// ciphertext already read from the socket past it.
    pub(crate) fn new(conn: ClientConnection, early: bytes::BytesMut) -> Self {
        Session {
            conn,
            cipher: early,
        }
    }

    /// Whether ciphertext waits to be written.
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Encrypts from `plain` what the session takes, and writes ciphertext
    /// until the socket would block. Returns the plaintext bytes taken.
    pub(crate) fn write(&mut self, socket: &TcpStream, plain: &[u8]) -> std::io::Result<usize> {
        let mut taken = 0;
        loop {
            if taken < plain.len() {
                taken += self.conn.writer().write(&plain[taken..])?;
            }
            let mut blocked = false;
            while self.conn.wants_write() {
                match self.conn.write_tls(&mut Nonblocking(socket)) {
                    Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        blocked = true;
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            if blocked || taken == plain.len() {
                return Ok(taken);
            }
        }
    }

    /// The buffer the driver reads ciphertext into.
    pub(crate) fn cipher(&mut self) -> &mut bytes::BytesMut {
        &mut self.cipher
    }

    /// Decrypts every complete record read so far, appending the
    /// plaintext to `out`; a partial record waits for more bytes. Returns
    /// the plaintext bytes appended.
    pub(crate) fn decrypt(&mut self, out: &mut bytes::BytesMut) -> Result<usize, ReadError> {
        use bytes::Buf;
        let mut got = 0;
        loop {
            let mut fed = 0;
            if !self.cipher.is_empty() {
                let mut src: &[u8] = &self.cipher;
                fed = self.conn.read_tls(&mut src).map_err(ReadError::Io)?;
                self.cipher.advance(fed);
            }
            let state = self.conn.process_new_packets().map_err(ReadError::Tls)?;
            let waiting = state.plaintext_bytes_to_read();
            if waiting > 0 {
                let start = out.len();
                out.resize(start + waiting, 0);
                let n = match self.conn.reader().read(&mut out[start..]) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
                    Err(e) => {
                        out.truncate(start);
                        return Err(ReadError::Io(e));
                    }
                };
                out.truncate(start + n);
                got += n;
            }
            if self.cipher.is_empty() || (fed == 0 && waiting == 0) {
                return Ok(got);
            }
        }
    }
}

/// Why a [`Session::decrypt`] failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Reading from the buffer failed.
    Io(std::io::Error),
    /// The TLS layer refused what arrived (a bad record, an alert).
    Tls(rustls::Error),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::Tls(e) => write!(f, "TLS: {e}"),
        }
    }
}
