//! One broker connection: a driver task that owns the socket and the sans-IO
//! [`kafka_proto::Connection`], and a cheap handle that queues requests to it.
//!
//! The handle sends each request over a bounded queue with a oneshot for
//! the reply; the driver writes it (pipelined, up to `max_in_flight`
//! requests awaiting answers), reads responses, matches them by correlation
//! id and answers each oneshot. It connects lazily, negotiates ApiVersions,
//! and after a failure reconnects with the shared backoff; while it waits
//! between attempts it fails new requests at once (as retriable
//! [`Error::Disconnected`]), so callers retry after refreshing metadata
//! instead of queueing behind a dead broker.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_proto::api::ApiKey;
use kafka_proto::{Connection, ConnectionError, Event, Message, Request, Response};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::transport::{self, Stream};
use tokio::sync::{mpsc, oneshot};
use tracing::{Instrument, debug, debug_span, warn};

use super::config::ClientConfig;
use super::error::{Error, Result};
use super::metrics::Stats;

/// Queues a request into the sans-IO connection; returns its correlation id.
type Enqueue = Box<dyn FnOnce(&mut Connection, Instant) -> Result<i32, ConnectionError> + Send>;

/// What a request's sender gets back: the response, or `None` for a request
/// the broker does not answer (Produce with acks = 0).
type Reply = oneshot::Sender<Result<Option<Response>>>;

struct Command {
    api: ApiKey,
    expects_response: bool,
    enqueue: Enqueue,
    reply: Reply,
}

/// A handle to one broker's connection driver. Cloning is cheap; the
/// driver stops when every handle is gone and its requests are answered.
#[derive(Clone)]
pub(crate) struct BrokerConn {
    node_id: i32,
    addr: Arc<str>,
    tx: mpsc::Sender<Command>,
}

impl fmt::Debug for BrokerConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerConn")
            .field("node_id", &self.node_id)
            .field("addr", &self.addr)
            .finish()
    }
}

impl BrokerConn {
    /// Spawns the driver for broker `node_id` at `addr` (negative ids are
    /// bootstrap entries). Connecting happens on the first request.
    pub(crate) fn spawn(
        node_id: i32,
        addr: String,
        config: &ClientConfig,
        stats: &Arc<Stats>,
    ) -> BrokerConn {
        let addr: Arc<str> = addr.into();
        let (tx, rx) = mpsc::channel(config.max_in_flight.max(1) * 2);
        let driver = Driver {
            addr: addr.clone(),
            config: config.clone(),
            rx,
            rx_closed: false,
            stats: stats.clone(),
        };
        let span = debug_span!(parent: None, "kafka_broker", node_id, addr = %addr);
        tokio::spawn(driver.run().instrument(span));
        BrokerConn { node_id, addr, tx }
    }

    /// The broker's id (negative for a bootstrap entry).
    pub(crate) fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The address dialled.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `request` at the negotiated version and decodes the answer.
    pub(crate) async fn call<R: Request>(&self, request: R) -> Result<R::Response> {
        let response = self.send(request, None).await?;
        let response = response.ok_or(Error::Disconnected {
            broker: self.addr.to_string(),
        })?;
        decode::<R::Response>(&response)
    }

    /// Sends `request`, with `timeout` instead of the request timeout if
    /// given, and returns the raw response (`None` if none is expected).
    pub(crate) async fn send<R: Request>(
        &self,
        request: R,
        timeout: Option<Duration>,
    ) -> Result<Option<Response>> {
        self.enqueue(request, timeout).await?.await
    }

    /// Sends `request` at the negotiated version, but at most `max_version`
    /// (a transactional producer on transaction version 1 keeps Produce,
    /// EndTxn and TxnOffsetCommit below the versions that mean version 2),
    /// and decodes the answer.
    pub(crate) async fn call_capped<R: Request>(
        &self,
        request: R,
        max_version: i16,
    ) -> Result<R::Response> {
        let response = self.enqueue_capped(request, max_version).await?.await?;
        let response = response.ok_or(Error::Disconnected {
            broker: self.addr.to_string(),
        })?;
        decode::<R::Response>(&response)
    }

    /// Queues `request` to the driver (waiting for room in its queue) and
    /// returns the answer's future. Requests queued one after another on
    /// one handle go out in that order.
    pub(crate) async fn enqueue<R: Request>(
        &self,
        request: R,
        timeout: Option<Duration>,
    ) -> Result<PendingReply> {
        let expects_response = request.expects_response();
        let enqueue: Enqueue = Box::new(move |conn, now| match timeout {
            Some(t) => conn.send_with_timeout(now, &request, t),
            None => conn.send(now, &request),
        });
        self.queue_command(R::API_KEY, expects_response, enqueue)
            .await
    }

    /// Like [`enqueue`](Self::enqueue) with the request timeout, at most at
    /// `max_version`.
    pub(crate) async fn enqueue_capped<R: Request>(
        &self,
        request: R,
        max_version: i16,
    ) -> Result<PendingReply> {
        let expects_response = request.expects_response();
        let enqueue: Enqueue = Box::new(move |conn, now| {
            let version = conn.version_to_send(&request)?.min(max_version);
            if version < request.min_usable_version() {
                return Err(ConnectionError::UnsupportedApi(R::API_KEY));
            }
            conn.send_at_version(now, &request, version)
        });
        self.queue_command(R::API_KEY, expects_response, enqueue)
            .await
    }

    async fn queue_command(
        &self,
        api: ApiKey,
        expects_response: bool,
        enqueue: Enqueue,
    ) -> Result<PendingReply> {
        let (reply, rx) = oneshot::channel();
        let command = Command {
            api,
            expects_response,
            enqueue,
            reply,
        };
        self.tx
            .send(command)
            .await
            .map_err(|_| Error::Disconnected {
                broker: self.addr.to_string(),
            })?;
        Ok(PendingReply {
            rx,
            addr: self.addr.clone(),
        })
    }
}

/// The answer to a queued request.
#[derive(Debug)]
pub(crate) struct PendingReply {
    rx: oneshot::Receiver<Result<Option<Response>>>,
    addr: Arc<str>,
}

impl std::future::Future for PendingReply {
    type Output = Result<Option<Response>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.rx).poll(cx).map(|r| {
            r.unwrap_or_else(|_| {
                Err(Error::Disconnected {
                    broker: self.addr.to_string(),
                })
            })
        })
    }
}

/// Writes what the socket takes of `out`, then flushes a buffering stream
/// (TLS), so that no record waits in it while the loop sleeps. Returns the
/// bytes written.
async fn write_out<W: AsyncWrite + Unpin>(
    wr: &mut W,
    out: &mut BytesMut,
    buffered: bool,
) -> std::io::Result<usize> {
    let mut n = 0;
    if !out.is_empty() {
        n = wr.write_buf(out).await?;
    }
    if buffered {
        wr.flush().await?;
    }
    Ok(n)
}

/// Decodes a response body as `M`.
pub(crate) fn decode<M: Message>(response: &Response) -> Result<M> {
    response.decode::<M>().map_err(|source| Error::Decode {
        api: M::API_KEY,
        source,
    })
}

struct Driver {
    addr: Arc<str>,
    config: ClientConfig,
    rx: mpsc::Receiver<Command>,
    rx_closed: bool,
    stats: Arc<Stats>,
}

/// How a session ended.
enum End {
    /// Every handle is gone and nothing is in flight: stop.
    Closed,
    /// The connection failed; pending requests were failed.
    Failed,
}

struct Pending {
    api: ApiKey,
    reply: Reply,
    /// When the request was queued on the connection, for its latency.
    sent_at: Instant,
}

impl Driver {
    async fn run(mut self) {
        let mut backoff = self.config.reconnect_backoff.start();
        let mut retry_at: Option<tokio::time::Instant> = None;
        // A connection failed or could not be opened: the next one opened
        // is a reconnect.
        let mut failed_before = false;
        loop {
            let Some(first) = self.rx.recv().await else {
                return;
            };
            if retry_at.is_some_and(|t| tokio::time::Instant::now() < t) {
                let _ = first.reply.send(Err(self.disconnected()));
                continue;
            }
            match self.connect().await {
                Ok((stream, conn)) => {
                    backoff.reset();
                    debug!("connected");
                    self.stats.connects.fetch_add(1, Relaxed);
                    if std::mem::take(&mut failed_before) {
                        self.stats.reconnects.fetch_add(1, Relaxed);
                    }
                    match self.session(stream, conn, first).await {
                        End::Closed => return,
                        End::Failed => {
                            failed_before = true;
                            // The first reconnect is quick; repeated
                            // failures back off.
                            let delay = backoff
                                .next_delay()
                                .unwrap_or(self.config.reconnect_backoff.max);
                            retry_at = Some(tokio::time::Instant::now() + delay);
                        }
                    }
                }
                Err(e) => {
                    failed_before = true;
                    self.stats.connect_failures.fetch_add(1, Relaxed);
                    let delay = backoff
                        .next_delay()
                        .unwrap_or(self.config.reconnect_backoff.max);
                    warn!(error = %e, retry_in = ?delay, "connect failed");
                    retry_at = Some(tokio::time::Instant::now() + delay);
                    let _ = first.reply.send(Err(e));
                }
            }
        }
    }

    fn disconnected(&self) -> Error {
        Error::Disconnected {
            broker: self.addr.to_string(),
        }
    }

    fn io_error(&self, e: &std::io::Error) -> Error {
        Error::Io {
            broker: self.addr.to_string(),
            message: format!("{:?}: {e}", e.kind()),
        }
    }

    /// TCP connect, then ApiVersions (and SASL) until the connection is ready.
    async fn connect(&self) -> Result<(Stream, Connection)> {
        let limit = self.config.connect_timeout + self.config.request_timeout;
        match tokio::time::timeout(limit, self.connect_inner()).await {
            Ok(r) => r,
            Err(_) => Err(Error::RequestTimedOut {
                broker: self.addr.to_string(),
                api: ApiKey::API_VERSIONS,
            }),
        }
    }

    async fn connect_inner(&self) -> Result<(Stream, Connection)> {
        let tcp = tokio::time::timeout(self.config.connect_timeout, transport::tcp(&self.addr))
            .await
            .map_err(|_| self.io_error(&std::io::ErrorKind::TimedOut.into()))?
            .map_err(|e| self.io_error(&e))?;
        #[cfg(feature = "tls")]
        let mut stream = match &self.config.tls {
            Some(tls) => {
                let host = transport::host_of(&self.addr);
                let tls =
                    tokio::time::timeout(self.config.connect_timeout, tls.handshake(tcp, host))
                        .await
                        .map_err(|_| self.io_error(&std::io::ErrorKind::TimedOut.into()))?
                        .map_err(|source| Error::Tls {
                            broker: self.addr.to_string(),
                            source,
                        })?;
                Stream::Tls(Box::new(tls))
            }
            None => Stream::Tcp(tcp),
        };
        #[cfg(not(feature = "tls"))]
        let mut stream = Stream::Tcp(tcp);
        let sasl = self.config.current_sasl().await?;
        let mut conn = Connection::new(self.config.connection_config(sasl)?, Instant::now());
        let mut out = BytesMut::new();
        let mut inbuf = BytesMut::with_capacity(16 * 1024);
        loop {
            conn.poll_transmit(&mut out);
            if !out.is_empty() {
                stream
                    .write_all(&out)
                    .await
                    .map_err(|e| self.io_error(&e))?;
                self.stats.bytes_sent.fetch_add(out.len() as u64, Relaxed);
                stream.flush().await.map_err(|e| self.io_error(&e))?;
                out.clear();
            }
            while let Some(event) = conn.poll_event() {
                match event {
                    Event::Ready => {
                        if !inbuf.is_empty() {
                            // Nothing may arrive unasked before Ready.
                            return Err(self.disconnected());
                        }
                        return Ok((stream, conn));
                    }
                    Event::Failed(source) => {
                        return Err(Error::Connection {
                            broker: self.addr.to_string(),
                            source,
                        });
                    }
                    _ => {}
                }
            }
            let n = stream
                .read_buf(&mut inbuf)
                .await
                .map_err(|e| self.io_error(&e))?;
            if n == 0 {
                return Err(self.disconnected());
            }
            self.stats.bytes_received.fetch_add(n as u64, Relaxed);
            conn.handle_input(Instant::now(), &mut inbuf)
                .map_err(|source| Error::Connection {
                    broker: self.addr.to_string(),
                    source,
                })?;
        }
    }

    /// Serves requests on a ready connection until it fails or every handle
    /// is gone.
    async fn session(&mut self, stream: Stream, conn: Connection, first: Command) -> End {
        match stream {
            Stream::Tcp(tcp) => {
                let (rd, wr) = tcp.into_split();
                self.serve(rd, wr, false, conn, first).await
            }
            #[cfg(feature = "tls")]
            tls @ Stream::Tls(_) => {
                let (rd, wr) = tokio::io::split(tls);
                self.serve(rd, wr, true, conn, first).await
            }
            // Kafka has no test broker yet; the variant exists for AMQP's.
            #[cfg(feature = "test-broker")]
            sim @ Stream::Sim(_) => {
                let (rd, wr) = tokio::io::split(sim);
                self.serve(rd, wr, false, conn, first).await
            }
        }
    }

    /// The session's loop over a read half and a write half. `buffered`:
    /// writes may sit in the stream (TLS records) until flushed.
    async fn serve<R, W>(
        &mut self,
        mut rd: R,
        mut wr: W,
        buffered: bool,
        mut conn: Connection,
        first: Command,
    ) -> End
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        // Bytes handed to a buffering stream and not yet flushed.
        let mut unflushed = false;
        let mut pending: HashMap<i32, Pending> = HashMap::new();
        let mut out = BytesMut::with_capacity(64 * 1024);
        let mut inbuf = BytesMut::with_capacity(64 * 1024);
        let max_in_flight = self.config.max_in_flight.max(1);
        if let Err(e) = self.submit(&mut conn, &mut pending, first) {
            return self.fail_all(pending, e);
        }
        loop {
            if self.rx_closed && pending.is_empty() && !conn.has_transmit() && out.is_empty() {
                return End::Closed;
            }
            conn.poll_transmit(&mut out);
            unflushed |= buffered && !out.is_empty();
            if inbuf.capacity() - inbuf.len() < 16 * 1024 {
                inbuf.reserve(64 * 1024);
            }
            // KIP-368: re-authenticate before the broker's session ends.
            let reauth_at = conn.reauthentication_due();
            let deadline = match (conn.poll_timeout(), reauth_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                read = rd.read_buf(&mut inbuf) => {
                    match read {
                        Ok(0) => return self.fail_all(pending, self.disconnected()),
                        Ok(n) => {
                            self.stats.bytes_received.fetch_add(n as u64, Relaxed);
                            if let Err(source) = conn.handle_input(Instant::now(), &mut inbuf) {
                                let e = Error::Connection { broker: self.addr.to_string(), source };
                                return self.fail_all(pending, e);
                            }
                            if let Some(e) = self.drain_events(&mut conn, &mut pending) {
                                return self.fail_all(pending, e);
                            }
                        }
                        Err(e) => return self.fail_all(pending, self.io_error(&e)),
                    }
                }
                written = write_out(&mut wr, &mut out, buffered), if !out.is_empty() || unflushed => {
                    match written {
                        Ok(n) => {
                            self.stats.bytes_sent.fetch_add(n as u64, Relaxed);
                            unflushed = buffered && !out.is_empty();
                        }
                        Err(e) => return self.fail_all(pending, self.io_error(&e)),
                    }
                }
                command = self.rx.recv(), if !self.rx_closed && pending.len() < max_in_flight => {
                    match command {
                        Some(command) => {
                            if let Err(e) = self.submit(&mut conn, &mut pending, command) {
                                return self.fail_all(pending, e);
                            }
                        }
                        None => self.rx_closed = true,
                    }
                }
                () = sleep => {
                    let now = Instant::now();
                    if reauth_at.is_some_and(|t| t <= now) {
                        if let Err(e) = self.reauthenticate(&mut conn, now).await {
                            return self.fail_all(pending, e);
                        }
                    }
                    conn.handle_timeout(now);
                    if let Some(e) = self.drain_events(&mut conn, &mut pending) {
                        return self.fail_all(pending, e);
                    }
                }
            }
        }
    }

    /// Starts a re-authentication with the current credentials (a fresh
    /// OAuth token, or a fresh SCRAM nonce).
    async fn reauthenticate(&self, conn: &mut Connection, now: Instant) -> Result<(), Error> {
        let sasl = self.config.current_sasl().await?;
        let nonce = match &sasl {
            Some(sasl) if sasl.needs_nonce() => Some(super::config::scram_nonce()?),
            _ => None,
        };
        debug!("re-authenticating (KIP-368)");
        let fresh = if self.config.oauth.is_some() {
            sasl
        } else {
            None
        };
        conn.start_reauthentication(now, fresh, nonce)
            .map_err(|source| Error::Connection {
                broker: self.addr.to_string(),
                source,
            })
    }

    fn submit(
        &self,
        conn: &mut Connection,
        pending: &mut HashMap<i32, Pending>,
        command: Command,
    ) -> Result<(), Error> {
        let now = Instant::now();
        match (command.enqueue)(conn, now) {
            Ok(id) => {
                self.stats
                    .request_sent(command.api, command.expects_response);
                if command.expects_response {
                    pending.insert(
                        id,
                        Pending {
                            api: command.api,
                            reply: command.reply,
                            sent_at: now,
                        },
                    );
                } else {
                    let _ = command.reply.send(Ok(None));
                }
                Ok(())
            }
            Err(ConnectionError::Encode(e)) => {
                // This request is bad; the connection is fine.
                let _ = command.reply.send(Err(Error::Connection {
                    broker: self.addr.to_string(),
                    source: ConnectionError::Encode(e),
                }));
                Ok(())
            }
            Err(ConnectionError::UnsupportedApi(api)) => {
                let _ = command.reply.send(Err(Error::Connection {
                    broker: self.addr.to_string(),
                    source: ConnectionError::UnsupportedApi(api),
                }));
                Ok(())
            }
            Err(source) => {
                let e = Error::Connection {
                    broker: self.addr.to_string(),
                    source,
                };
                let _ = command.reply.send(Err(e.clone()));
                Err(e)
            }
        }
    }

    /// Answers every response; a timed-out request closes the connection
    /// (as in Java's client), so the caller's retry goes on a fresh one.
    fn drain_events(
        &self,
        conn: &mut Connection,
        pending: &mut HashMap<i32, Pending>,
    ) -> Option<Error> {
        let mut failure = None;
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Response(response) => {
                    if let Some(p) = pending.remove(&response.correlation_id) {
                        self.stats.request_answered(p.api, p.sent_at.elapsed());
                        let _ = p.reply.send(Ok(Some(response)));
                    }
                }
                Event::RequestFailed {
                    correlation_id,
                    api_key,
                    ..
                } => {
                    warn!(api = %api_key, "request timed out; closing the connection");
                    if let Some(p) = pending.remove(&correlation_id) {
                        self.stats.request_failed(p.api);
                        let _ = p.reply.send(Err(Error::RequestTimedOut {
                            broker: self.addr.to_string(),
                            api: p.api,
                        }));
                    }
                    failure.get_or_insert_with(|| self.disconnected());
                }
                Event::Failed(source) => {
                    failure.get_or_insert(Error::Connection {
                        broker: self.addr.to_string(),
                        source,
                    });
                }
                _ => {}
            }
        }
        failure
    }

    fn fail_all(&self, pending: HashMap<i32, Pending>, error: Error) -> End {
        if !pending.is_empty() {
            debug!(in_flight = pending.len(), error = %error, "connection failed with requests in flight");
        }
        for (_, p) in pending {
            self.stats.request_failed(p.api);
            let _ = p.reply.send(Err(error.clone()));
        }
        if self.rx_closed {
            End::Closed
        } else {
            End::Failed
        }
    }
}
