//! The socket and the sans-IO core: connecting, the handshake, and the
//! non-blocking reads and writes of the driver loop.

use std::sync::Arc;
use std::time::Instant;

use amqp_proto::{ClientConfig, Connection as Core, Event, SaslMechanism};
use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;

use crate::amqp::config::Config;
use crate::amqp::error::{Error, Result};
use crate::amqp::uri::AmqpUri;

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
    pub(crate) stream: TcpStream,
    pub(crate) core: Core,
    pub(crate) rbuf: BytesMut,
    pub(crate) wbuf: BytesMut,
    pub(crate) addr: String,
}

impl Io {
    /// Moves what the core queued into the write buffer and writes what
    /// the socket takes without blocking.
    pub(crate) fn flush(&mut self) -> Result<()> {
        self.core.poll_transmit(&mut self.wbuf);
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
        self.rbuf.reserve(READ_CHUNK);
        let room = self.rbuf.capacity() - self.rbuf.len();
        let (stream, rbuf) = (&self.stream, &mut self.rbuf);
        let mut got = 0;
        let r = stream.try_io(Interest::READABLE, || {
            got = stream.try_read_buf(rbuf)?;
            if got > 0 && got < room {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match (r, got) {
            (Ok(()), 0) => Err(Error::lost(format!("{} closed the socket", self.addr))),
            (Ok(()), _) => Ok(Read::More),
            (Err(e), 0) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Read::Nothing),
            (Err(e), _) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Read::Drained),
            (Err(e), _) => Err(Error::lost(format!("read from {}: {e}", self.addr))),
        }
    }

    /// Bytes waiting to go out, in the core and here.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.core.pending_transmit_bytes() + self.wbuf.len()
    }
}

fn client_config(config: &Config, uri: &AmqpUri) -> ClientConfig {
    let defaults = ClientConfig::default();
    ClientConfig {
        virtual_host: uri.vhost.clone(),
        sasl: SaslMechanism::Plain {
            username: uri.username.clone(),
            password: uri.password.expose().to_owned(),
        },
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
pub(crate) async fn connect(config: &Config, uri: &AmqpUri) -> Result<Io> {
    let addr = uri.authority();
    let limit = config.connect_timeout;
    match tokio::time::timeout(limit, handshake(config, uri, addr.clone())).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            operation: "connect",
            after: limit,
        }),
    }
}

async fn handshake(config: &Config, uri: &AmqpUri, addr: String) -> Result<Io> {
    let stream = TcpStream::connect(&addr)
        .await
        .map_err(|e| Error::Connect {
            addr: addr.clone(),
            source: Arc::new(e),
        })?;
    let _ = stream.set_nodelay(true);
    let core = Core::client(client_config(config, uri), Instant::now());
    let mut io = Io {
        stream,
        core,
        rbuf: BytesMut::with_capacity(READ_CHUNK),
        wbuf: BytesMut::with_capacity(16 * 1024),
        addr,
    };
    loop {
        io.core.poll_transmit(&mut io.wbuf);
        if !io.wbuf.is_empty() {
            io.stream
                .write_all(&io.wbuf)
                .await
                .map_err(|e| Error::lost(format!("write to {}: {e}", io.addr)))?;
            io.wbuf.clear();
        }
        while let Some(ev) = io.core.poll_event() {
            match ev {
                Event::Connected { tune, .. } => {
                    tracing::debug!(addr = %io.addr, ?tune, "connected");
                    return Ok(io);
                }
                Event::ConnectionClosed { reason, .. } => {
                    return Err(Error::Refused {
                        addr: io.addr.clone(),
                        code: reason.code,
                        text: reason.text.to_string(),
                    });
                }
                _ => {}
            }
        }
        io.rbuf.reserve(16 * 1024);
        let n = io
            .stream
            .read_buf(&mut io.rbuf)
            .await
            .map_err(|e| Error::lost(format!("read from {}: {e}", io.addr)))?;
        if n == 0 {
            return Err(Error::lost(format!(
                "{} closed the socket during the handshake (wrong credentials or vhost?)",
                io.addr
            )));
        }
        io.core
            .handle_input(Instant::now(), &mut io.rbuf)
            .map_err(|e| match e {
                amqp_proto::ConnectionError::Protocol(p) => Error::Protocol(p),
                other => Error::lost(other.to_string()),
            })?;
    }
}
