//! The socket and the sans-IO core: connecting, the handshake, and the
//! non-blocking reads and writes of the driver loop.

use std::sync::Arc;

use amqp_proto::{ClientConfig, Connection as Core, Event, SaslMechanism};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::transport::{self, Socket, Stream, TlsSession};

use crate::amqp::config::Config;
use crate::amqp::error::{Error, Result};
use crate::amqp::metrics::Stats;
use crate::amqp::uri::{AmqpUri, AuthMechanism, Secret};

/// Bytes asked of the socket per read call.
pub(crate) const READ_CHUNK: usize = 64 * 1024;
/// Bytes read per wake-up before events are handed out and writes go.
pub(crate) const READ_BUDGET: usize = 256 * 1024;

/// What a read got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// Nothing was ready.
    Nothing,
    /// Bytes, and the socket may have more.
    More,
    /// Bytes, and the socket is empty.
    Drained,
}

/// One live connection: the socket, the core, and the two buffers.
#[derive(Debug)]
pub(crate) struct Io {
    pub(crate) stream: Socket,
    /// The TLS session over `stream`, for `amqps://`: plaintext goes
    /// through it, ciphertext through the socket.
    tls: Option<Box<TlsSession>>,
    pub(crate) core: Core,
    pub(crate) rbuf: BytesMut,
    pub(crate) wbuf: BytesMut,
    pub(crate) addr: String,
    /// The socket's receive low-water mark (see `coalesce`); 1 is the
    /// default.
    pub(crate) lowat: usize,
    /// The connection's metrics (bytes in and out).
    stats: Arc<Stats>,
}

impl Io {
    /// Moves what the core queued into the write buffer and writes what
    /// the socket takes without blocking.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.core.poll_transmit(&mut self.wbuf);
        let before = self.wbuf.len();
        let result = self.write();
        let written = before.saturating_sub(self.wbuf.len());
        Stats::add(&self.stats.bytes_sent, written as u64);
        result
    }

    /// Writes what the socket takes of the write buffer.
    fn write(&mut self) -> Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            let Some(tcp) = transport::tcp_of(&self.stream) else {
                return Err(Error::lost("TLS needs a TCP socket"));
            };
            let n = tls
                .write(tcp, &self.wbuf)
                .map_err(|e| Error::lost(format!("write to {}: {e}", self.addr)))?;
            self.wbuf.advance(n);
            return Ok(());
        }
        while !self.wbuf.is_empty() {
            match self.stream.try_write(&self.wbuf) {
                Ok(0) => return Err(Error::lost("the socket accepts no more bytes")),
                Ok(n) => self.wbuf.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(Error::lost(format!("write to {}: {e}", self.addr))),
            }
        }
        Ok(())
    }

    /// Reads what the socket has (up to one chunk) without blocking.
    ///
    /// A read that fills less than the room it was given emptied the
    /// socket: it is reported as [`Read::Drained`] and the socket's
    /// readiness is cleared on the spot, which saves the read that would
    /// only return `WouldBlock` (one system call per wake-up). tokio
    /// clears only the readiness it saw before the read, so data that
    /// arrives meanwhile still wakes the driver.
    pub(crate) fn read_some(&mut self) -> Result<Read> {
        let before = self.rbuf.len();
        let (stream, addr) = (&self.stream, &self.addr);
        let buf = match &mut self.tls {
            #[cfg(feature = "tls")]
            Some(tls) => tls.cipher(),
            _ => &mut self.rbuf,
        };
        let read = read_socket(stream, buf, addr)?;
        self.decrypt()?;
        self.count_read(before);
        Ok(read)
    }

    /// Counts what `rbuf` gained since it held `before` bytes.
    fn count_read(&self, before: usize) {
        let got = self.rbuf.len().saturating_sub(before);
        Stats::add(&self.stats.bytes_received, got as u64);
    }

    /// Over TLS: turns the ciphertext read into plaintext in `rbuf`.
    fn decrypt(&mut self) -> Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &mut self.tls {
            tls.decrypt(&mut self.rbuf)
                .map_err(|e| Error::lost(format!("read from {}: {e}", self.addr)))?;
        }
        Ok(())
    }

    /// Sets the socket's receive low-water mark: readiness is reported
    /// (and the driver woken) only once this many bytes are waiting, or
    /// at the end of the stream. False if the socket refused it.
    pub(crate) fn set_lowat(&mut self, bytes: usize) -> bool {
        // A simulated stream has no mark: coalescing stays off.
        let Some(tcp) = transport::tcp_of(&self.stream) else {
            return false;
        };
        if sys::set_recv_lowat(tcp, bytes).is_err() {
            return false;
        }
        self.lowat = bytes;
        true
    }

    /// Reads what the socket has (up to one chunk) whatever tokio's
    /// readiness says: the bytes below the low-water mark, which never
    /// make the socket ready.
    pub(crate) fn read_below_mark(&mut self) -> Result<Read> {
        let buf = match &mut self.tls {
            #[cfg(feature = "tls")]
            Some(tls) => tls.cipher(),
            _ => &mut self.rbuf,
        };
        let Some(tcp) = transport::tcp_of(&self.stream) else {
            return Ok(Read::Nothing);
        };
        buf.reserve(READ_CHUNK);
        let read = match sys::recv_nonblocking(tcp, buf) {
            Ok(0) => return Err(Error::lost(format!("{} closed the socket", self.addr))),
            Ok(_) => Read::Drained,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Read::Nothing,
            Err(e) => return Err(Error::lost(format!("read from {}: {e}", self.addr))),
        };
        let before = self.rbuf.len();
        self.decrypt()?;
        self.count_read(before);
        Ok(read)
    }

    /// Bytes waiting to go out, in the core and here (a TLS session's
    /// unwritten records count as one).
    pub(crate) fn pending_bytes(&self) -> usize {
        self.core.pending_transmit_bytes() + self.wbuf.len() + usize::from(self.tls_wants_write())
    }

    /// Whether bytes wait for the socket to take them.
    pub(crate) fn wants_write(&self) -> bool {
        !self.wbuf.is_empty() || self.tls_wants_write()
    }

    fn tls_wants_write(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.wants_write();
        }
        false
    }
}

/// Reads what the socket has (up to one chunk) into `buf` without
/// blocking: TCP, or a simulated stream.
#[inline]
fn read_socket(stream: &Socket, buf: &mut BytesMut, addr: &str) -> Result<Read> {
    #[cfg(feature = "test-broker")]
    let stream = match stream {
        Socket::Tcp(s) => s,
        Socket::Sim(s) => return read_sim(s, buf, addr),
    };
    read_ready(stream, buf, addr)
}

/// [`read_ready`] for a simulated stream.
#[cfg(feature = "test-broker")]
fn read_sim(stream: &crate::simnet::SimStream, buf: &mut BytesMut, addr: &str) -> Result<Read> {
    buf.reserve(READ_CHUNK);
    let room = buf.capacity() - buf.len();
    match stream.try_read_buf(buf, room) {
        Ok(0) => Err(Error::lost(format!("{addr} closed the socket"))),
        Ok(n) if n < room => Ok(Read::Drained),
        Ok(_) => Ok(Read::More),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Read::Nothing),
        Err(e) => Err(Error::lost(format!("read from {addr}: {e}"))),
    }
}

/// Reads what the socket has (up to one chunk) into `buf` without
/// blocking.
///
/// A read that fills less than the room it was given emptied the socket:
/// it is reported as [`Read::Drained`] and the socket's readiness is
/// cleared on the spot, which saves the read that would only return
/// `WouldBlock` (one system call per wake-up). tokio clears only the
/// readiness it saw before the read, so data that arrives meanwhile still
/// wakes the driver.
fn read_ready(stream: &TcpStream, buf: &mut BytesMut, addr: &str) -> Result<Read> {
    buf.reserve(READ_CHUNK);
    let room = buf.capacity() - buf.len();
    let mut got = 0;
    let r = stream.try_io(Interest::READABLE, || {
        got = stream.try_read_buf(buf)?;
        if got > 0 && got < room {
            return Err(std::io::ErrorKind::WouldBlock.into());
        }
        Ok(())
    });
    match (r, got) {
        (Ok(()), 0) => Err(Error::lost(format!("{addr} closed the socket"))),
        (Ok(()), _) => Ok(Read::More),
        (Err(e), 0) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Read::Nothing),
        (Err(e), _) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Read::Drained),
        (Err(e), _) => Err(Error::lost(format!("read from {addr}: {e}"))),
    }
}

/// The two socket calls tokio does not offer. Linux only: elsewhere the
/// mark is refused and coalescing stays off.
#[allow(unsafe_code)]
mod sys {
    use bytes::BytesMut;
    use tokio::net::TcpStream;

    /// setsockopt(SO_RCVLOWAT).
    #[cfg(target_os = "linux")]
    pub(super) fn set_recv_lowat(stream: &TcpStream, bytes: usize) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
            .unwrap_or(libc::socklen_t::MAX);
        // SAFETY: the descriptor is the stream's, open for as long as the
        // borrow; the option value points to a live c_int of the length
        // given, which the kernel only reads.
        let r = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                (&raw const value).cast(),
                len,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn set_recv_lowat(_: &TcpStream, _: usize) -> std::io::Result<()> {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    /// recv(MSG_DONTWAIT) into the spare capacity of `buf`, which grows
    /// by what was read; 0 is the end of the stream.
    #[cfg(target_os = "linux")]
    pub(super) fn recv_nonblocking(
        stream: &TcpStream,
        buf: &mut BytesMut,
    ) -> std::io::Result<usize> {
        use std::os::fd::AsRawFd;
        let spare = buf.spare_capacity_mut();
        // SAFETY: the descriptor is the stream's, open for as long as the
        // borrow; the kernel writes at most `spare.len()` bytes into the
        // spare capacity, which is allocated and exclusively borrowed.
        let got = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                spare.as_mut_ptr().cast(),
                spare.len(),
                libc::MSG_DONTWAIT,
            )
        };
        let Ok(got) = usize::try_from(got) else {
            return Err(std::io::Error::last_os_error());
        };
        let len = buf.len() + got;
        // SAFETY: recv initialised `got` bytes right after the current
        // length, within the capacity.
        unsafe { buf.set_len(len) };
        Ok(got)
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn recv_nonblocking(_: &TcpStream, _: &mut BytesMut) -> std::io::Result<usize> {
        Err(std::io::ErrorKind::WouldBlock.into())
    }
}

/// The SASL mechanism with its credentials: the URI's user name, and the
/// secret given to `update_secret` if any, else the URI's password.
fn sasl(config: &Config, uri: &AmqpUri, secret: Option<&Secret>) -> SaslMechanism {
    let username = uri.username.clone();
    let password = secret.unwrap_or(&uri.password).expose().to_owned();
    match config.auth_mechanism() {
        AuthMechanism::Plain => SaslMechanism::Plain { username, password },
        AuthMechanism::AmqPlain => SaslMechanism::AmqPlain { username, password },
        AuthMechanism::External => SaslMechanism::External,
    }
}

fn client_config(config: &Config, uri: &AmqpUri, secret: Option<&Secret>) -> ClientConfig {
    let defaults = ClientConfig::default();
    ClientConfig {
        virtual_host: uri.vhost.clone(),
        sasl: sasl(config, uri, secret),
        channel_max: config.channel_max.unwrap_or(defaults.channel_max),
        frame_max: config.frame_max.unwrap_or(defaults.frame_max),
        heartbeat: config.heartbeat.unwrap_or(defaults.heartbeat),
        connection_name: Some(config.label()),
        client_properties: config.client_properties.clone(),
        locale: defaults.locale,
        max_body_size: config.max_body_size,
    }
}

/// Connects to one broker and runs the handshake, within the connect
/// timeout.
///
/// `secret`: what `Connection::update_secret` last set, which replaces
/// the URI's password when recovery reconnects.
pub(crate) async fn connect(
    config: &Config,
    index: usize,
    secret: Option<&Secret>,
    stats: &Arc<Stats>,
) -> Result<Io> {
    let Some(uri) = config.uris.get(index) else {
        return Err(Error::Usage("no broker URI"));
    };
    let addr = uri.authority();
    let limit = config.connect_timeout();
    let handshake = handshake(config, index, uri, secret, addr.clone(), stats);
    match tokio::time::timeout(limit, handshake).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            operation: "connect",
            after: limit,
        }),
    }
}

async fn handshake(
    config: &Config,
    index: usize,
    uri: &AmqpUri,
    secret: Option<&Secret>,
    addr: String,
    stats: &Arc<Stats>,
) -> Result<Io> {
    let _ = index;
    #[cfg(feature = "test-broker")]
    if let Some(sim) = crate::simnet::dial(&addr) {
        let sim = sim.map_err(|e| Error::Connect {
            addr: addr.clone(),
            source: Arc::new(e),
        })?;
        return open(config, uri, secret, addr, Stream::Sim(sim), stats).await;
    }
    let tcp = transport::tcp(&addr).await.map_err(|e| Error::Connect {
        addr: addr.clone(),
        source: Arc::new(e),
    })?;
    #[cfg(feature = "tls")]
    let stream = match config.tls_for(index) {
        Some(tls) => Stream::Tls(Box::new(tls.handshake(tcp, &uri.host).await.map_err(
            |source| Error::Tls {
                addr: addr.clone(),
                source,
            },
        )?)),
        None => Stream::Tcp(tcp),
    };
    #[cfg(not(feature = "tls"))]
    let stream = Stream::Tcp(tcp);
    open(config, uri, secret, addr, stream, stats).await
}

/// The AMQP handshake on a connected stream.
async fn open(
    config: &Config,
    uri: &AmqpUri,
    secret: Option<&Secret>,
    addr: String,
    mut stream: Stream,
    stats: &Arc<Stats>,
) -> Result<Io> {
    let mut core = Core::client(client_config(config, uri, secret), crate::clock::now());
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf = BytesMut::with_capacity(16 * 1024);
    loop {
        core.poll_transmit(&mut wbuf);
        if !wbuf.is_empty() {
            stream
                .write_all(&wbuf)
                .await
                .map_err(|e| Error::lost(format!("write to {addr}: {e}")))?;
            stream
                .flush()
                .await
                .map_err(|e| Error::lost(format!("write to {addr}: {e}")))?;
            Stats::add(&stats.bytes_sent, wbuf.len() as u64);
            wbuf.clear();
        }
        while let Some(ev) = core.poll_event() {
            match ev {
                Event::Connected { tune, .. } => {
                    tracing::debug!(%addr, ?tune, tls = stream.is_tls(), "connected");
                    let (stream, tls) = stream.into_parts();
                    let mut io = Io {
                        stream,
                        tls,
                        core,
                        rbuf,
                        wbuf,
                        addr,
                        lowat: 1,
                        stats: stats.clone(),
                    };
                    // Records that came with the handshake's last bytes.
                    io.decrypt()?;
                    return Ok(io);
                }
                Event::ConnectionClosed { reason, .. } => {
                    return Err(Error::Refused {
                        addr,
                        code: reason.code,
                        text: reason.text.to_string(),
                    });
                }
                _ => {}
            }
        }
        rbuf.reserve(16 * 1024);
        let n = stream
            .read_buf(&mut rbuf)
            .await
            .map_err(|e| Error::lost(format!("read from {addr}: {e}")))?;
        if n == 0 {
            return Err(Error::lost(format!(
                "{addr} closed the socket during the handshake (wrong credentials or vhost?)"
            )));
        }
        Stats::add(&stats.bytes_received, n as u64);
        core.handle_input(crate::clock::now(), &mut rbuf)
            .map_err(|e| match e {
                // The core refuses a server that does not offer the
                // mechanism asked for, before it sends any credential.
                amqp_proto::ConnectionError::Protocol(p)
                    if p.code == amqp_proto::ReplyCode::ACCESS_REFUSED =>
                {
                    Error::Refused {
                        addr: addr.clone(),
                        code: p.code,
                        text: p.to_string(),
                    }
                }
                amqp_proto::ConnectionError::Protocol(p) => Error::Protocol(p),
                other => Error::lost(other.to_string()),
            })?;
    }
}
