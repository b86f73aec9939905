//! A minimal blocking driver for `kafka_proto`'s sans-IO [`Connection`] over
//! a plain `std::net::TcpStream`, for tests of the protocol core against the
//! real broker (the async client in `mq-client` is the real driver).

use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use kafka_proto::{Config, Connection, Event, Message, Request};

/// Errors of this driver: IO, the connection, or decoding.
pub type BoxError = Box<dyn Error + Send + Sync>;

/// How long [`WireClient`] waits for any one answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A connected, negotiated Kafka connection driven synchronously.
#[derive(Debug)]
pub struct WireClient {
    stream: TcpStream,
    conn: Connection,
    inbuf: BytesMut,
}

impl WireClient {
    /// Connects to `addr` and runs ApiVersions (and SASL, if configured)
    /// until the connection is ready.
    pub fn connect(addr: SocketAddr, config: Config) -> Result<Self, BoxError> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        stream.set_nodelay(true)?;
        let mut client = WireClient {
            stream,
            conn: Connection::new(config, Instant::now()),
            inbuf: BytesMut::with_capacity(64 * 1024),
        };
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            client.flush()?;
            if let Some(event) = client.conn.poll_event() {
                match event {
                    Event::Ready => return Ok(client),
                    Event::Failed(e) => return Err(e.into()),
                    other => return Err(format!("unexpected event during setup: {other:?}").into()),
                }
            }
            client.read_some(deadline)?;
        }
    }

    /// The sans-IO connection (for negotiated versions and the like).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Sends `request` at the version the connection picks for it (the
    /// negotiated one, capped by what its content allows) and waits for
    /// its response.
    pub fn call<R: Request>(&mut self, request: &R) -> Result<(i16, R::Response), BoxError> {
        let version = self.conn.version_to_send(request)?;
        Ok((version, self.call_at(request, version)?))
    }

    /// Sends `request` at `version` and waits for its response.
    pub fn call_at<R: Request>(
        &mut self,
        request: &R,
        version: i16,
    ) -> Result<R::Response, BoxError> {
        let id = self
            .conn
            .send_at_version(Instant::now(), request, version)?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            self.flush()?;
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Response(r) if r.correlation_id == id => {
                        return r
                            .decode::<R::Response>()
                            .map_err(|e| format!("{:?} v{version}: {e}", R::API_KEY).into());
                    }
                    Event::RequestFailed {
                        correlation_id,
                        error,
                        ..
                    } if correlation_id == id => {
                        return Err(error.into());
                    }
                    Event::Failed(e) => return Err(e.into()),
                    _ => {}
                }
            }
            self.read_some(deadline)?;
        }
    }

    /// Sends `request` at `version` without waiting (for requests the
    /// broker does not answer, such as Produce with acks = 0).
    pub fn send_only<R: Request>(&mut self, request: &R, version: i16) -> Result<i32, BoxError> {
        let id = self
            .conn
            .send_at_version(Instant::now(), request, version)?;
        self.flush()?;
        Ok(id)
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut out = BytesMut::new();
        self.conn.poll_transmit(&mut out);
        if !out.is_empty() {
            self.stream.write_all(&out)?;
        }
        Ok(())
    }

    fn read_some(&mut self, deadline: Instant) -> Result<(), BoxError> {
        let now = Instant::now();
        if now >= deadline {
            return Err("timed out waiting for the broker".into());
        }
        if let Some(t) = self.conn.poll_timeout() {
            if t <= now {
                self.conn.handle_timeout(now);
                return Ok(());
            }
        }
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => Err("broker closed the connection".into()),
            Ok(n) => {
                self.inbuf.extend_from_slice(&chunk[..n]);
                self.conn.handle_input(Instant::now(), &mut self.inbuf)?;
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The versions of `M`'s API that both this crate and the broker support.
pub fn common_versions<M: Message>(client: &WireClient) -> std::ops::RangeInclusive<i16> {
    let broker = client
        .connection()
        .broker_versions()
        .and_then(|b| b.api_keys.iter().find(|k| k.api_key == M::API_KEY));
    match broker {
        Some(b) => M::MIN_VERSION.max(b.min_version)..=M::MAX_VERSION.min(b.max_version),
        #[allow(clippy::reversed_empty_ranges)]
        None => 1..=0,
    }
}

/// The node id of the broker `client` talks to (found by its port in
/// Metadata's broker list).
pub fn node_id(client: &mut WireClient) -> Result<i32, BoxError> {
    use kafka_proto::api::MetadataRequest;
    let port = client.stream.peer_addr()?.port();
    let (_, meta) = client.call(&MetadataRequest {
        topics: Some(Vec::new()),
        ..Default::default()
    })?;
    meta.brokers
        .iter()
        .find(|b| u16::try_from(b.port).ok() == Some(port))
        .map(|b| b.node_id)
        .ok_or_else(|| format!("no broker on port {port} in {:?}", meta.brokers).into())
}

/// Replica assignments that put each of `partitions` partitions, one
/// replica each, on broker `node`: the topic's leaders are then the broker
/// a [`WireClient`] talks to, whatever the cluster's size. CreateTopics
/// takes them with `num_partitions` and `replication_factor` at -1.
pub fn all_on(
    node: i32,
    partitions: i32,
) -> Vec<kafka_proto::api::create_topics::CreatableReplicaAssignment> {
    (0..partitions)
        .map(
            |p| kafka_proto::api::create_topics::CreatableReplicaAssignment {
                partition_index: p,
                broker_ids: vec![node],
                ..Default::default()
            },
        )
        .collect()
}

/// The sizes (length prefix included) of the requests with API key `api_key`
/// in a recorded client byte stream (a [`FaultProxy`](crate::proxy::FaultProxy)
/// recording): how many bytes each Fetch, Produce, ... took on the wire.
pub fn request_sizes(mut stream: &[u8], api_key: i16) -> Vec<usize> {
    let mut out = Vec::new();
    while let Some((size, rest)) = stream.split_first_chunk::<4>() {
        let size = u32::from_be_bytes(*size) as usize;
        let (frame, rest) = rest.split_at(size.min(rest.len()));
        if frame.first_chunk::<2>() == Some(&api_key.to_be_bytes()) {
            out.push(4 + frame.len());
        }
        stream = rest;
    }
    out
}
