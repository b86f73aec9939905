//! The byte stream under a broker connection: TCP, or TLS over TCP (with
//! the `tls` feature), or with the `test-broker` feature a simulated
//! stream to the test broker.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// A connected stream.
#[derive(Debug)]
pub(crate) enum Stream {
    /// Plain TCP.
    Tcp(TcpStream),
    /// TLS over TCP, after the handshake. The socket is read through a
    /// buffer: rustls takes at most a few KiB per read, and this makes that
    /// a copy instead of a system call.
    #[cfg(feature = "tls")]
    Tls(Box<tokio_rustls::client::TlsStream<BufferedTcp>>),
    /// An in-memory stream to the test broker.
    #[cfg(feature = "test-broker")]
    Sim(crate::simnet::SimStream),
}

/// The socket a readiness-driven driver reads and writes: TCP, and with
/// the `test-broker` feature an enum that may be a simulated stream.
#[cfg(not(feature = "test-broker"))]
pub(crate) type Socket = TcpStream;
#[cfg(feature = "test-broker")]
pub(crate) use crate::simnet::Socket;

/// The TCP socket under a [`Socket`] (`None`: a simulated stream).
#[inline]
pub(crate) fn tcp_of(socket: &Socket) -> Option<&TcpStream> {
    #[cfg(not(feature = "test-broker"))]
    {
        Some(socket)
    }
    #[cfg(feature = "test-broker")]
    {
        socket.tcp()
    }
}

#[cfg(not(feature = "test-broker"))]
fn socket(tcp: TcpStream) -> Socket {
    tcp
}

#[cfg(feature = "test-broker")]
fn socket(tcp: TcpStream) -> Socket {
    Socket::Tcp(tcp)
}

impl Stream {
    /// Whether this stream is encrypted.
    pub(crate) fn is_tls(&self) -> bool {
        #[cfg(feature = "test-broker")]
        if matches!(self, Stream::Sim(_)) {
            return false;
        }
        !matches!(self, Stream::Tcp(_))
    }

    /// The socket, and the TLS session if any, for a driver that moves
    /// bytes by readiness.
    pub(crate) fn into_parts(self) -> (Socket, Option<Box<TlsSession>>) {
        match self {
            Stream::Tcp(s) => (socket(s), None),
            #[cfg(feature = "test-broker")]
            Stream::Sim(s) => (Socket::Sim(s), None),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => {
                let (buffered, conn) = s.into_inner();
                // Ciphertext already read into the buffer goes first.
                let early = bytes::BytesMut::from(buffered.buffer());
                let tcp = buffered.into_inner();
                (
                    socket(tcp),
                    Some(Box::new(crate::tls::Session::new(conn, early))),
                )
            }
        }
    }
}

/// The socket under a TLS stream: reads go through a 64 KiB buffer.
#[cfg(feature = "tls")]
pub(crate) type BufferedTcp = tokio::io::BufReader<TcpStream>;

/// Wraps a socket for TLS.
#[cfg(feature = "tls")]
pub(crate) fn buffered(tcp: TcpStream) -> BufferedTcp {
    tokio::io::BufReader::with_capacity(64 * 1024, tcp)
}

/// The TLS session a readiness-driven driver keeps beside its socket.
#[cfg(feature = "tls")]
pub(crate) type TlsSession = crate::tls::Session;

/// Without the `tls` feature there is no session: this type has no value.
#[cfg(not(feature = "tls"))]
#[derive(Debug)]
pub(crate) enum TlsSession {}

/// Connects over TCP with Nagle off.
pub(crate) async fn tcp(addr: &str) -> io::Result<TcpStream> {
    let s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// The host part of `host:port` (brackets kept off an IPv6 host).
#[cfg(feature = "tls")]
pub(crate) fn host_of(addr: &str) -> &str {
    let host = match addr.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => addr,
    };
    host.trim_start_matches('[').trim_end_matches(']')
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(feature = "test-broker")]
            Stream::Sim(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(feature = "test-broker")]
            Stream::Sim(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(feature = "test-broker")]
            Stream::Sim(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(feature = "test-broker")]
            Stream::Sim(s) => Pin::new(s).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            #[cfg(feature = "test-broker")]
            Stream::Sim(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.is_write_vectored(),
            #[cfg(feature = "test-broker")]
            Stream::Sim(s) => s.is_write_vectored(),
        }
    }
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::host_of;

    #[test]
    fn hosts() {
        assert_eq!(host_of("localhost:5671"), "localhost");
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9093"), "::1");
        assert_eq!(host_of("broker"), "broker");
    }
}
