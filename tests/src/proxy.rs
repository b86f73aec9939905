//! A fault-injecting TCP proxy for loopback tests.
//!
//! [`FaultProxy`] listens on an ephemeral loopback port and forwards every
//! connection to an upstream address (a broker). Faults can be switched on
//! and off while connections are live:
//!
//! - [`cut_all`](FaultProxy::cut_all): close every open connection now;
//! - [`stall`](FaultProxy::stall): keep accepting bytes but forward nothing;
//! - [`set_latency`](FaultProxy::set_latency): delay every chunk, both ways;
//! - [`close_after`](FaultProxy::close_after): close a connection once it has
//!   forwarded N bytes in one direction (a truncation);
//! - [`refuse_for`](FaultProxy::refuse_for): reset new connections for a while.
//!
//! It can also record what clients send ([`record`](FaultProxy::record)), per
//! connection, for tests that check which requests a client wrote.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Which way bytes travel through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the client to the upstream broker.
    ToUpstream,
    /// From the upstream broker to the client.
    ToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToUpstream => 0,
            Direction::ToClient => 1,
        }
    }
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    cut: watch::Sender<u64>,
    stalled: watch::Sender<bool>,
    latency: Mutex<Duration>,
    close_after: Mutex<[Option<u64>; 2]>,
    refuse_until: Mutex<Option<Instant>>,
    accepted: AtomicU64,
    refused: AtomicU64,
    open: AtomicUsize,
    forwarded: [AtomicU64; 2],
    /// What clients sent, per connection, once recording is on.
    recording: AtomicBool,
    recorded: Mutex<Vec<Vec<u8>>>,
}

/// A TCP proxy on loopback that injects faults between a client and a broker.
///
/// Dropping the proxy stops accepting and closes every connection.
#[derive(Debug)]
pub struct FaultProxy {
    local: SocketAddr,
    shared: Arc<Shared>,
    accept_task: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy on `127.0.0.1:0` that forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let local = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            cut: watch::Sender::new(0),
            stalled: watch::Sender::new(false),
            latency: Mutex::new(Duration::ZERO),
            close_after: Mutex::new([None, None]),
            refuse_until: Mutex::new(None),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            open: AtomicUsize::new(0),
            forwarded: [AtomicU64::new(0), AtomicU64::new(0)],
            recording: AtomicBool::new(false),
            recorded: Mutex::new(Vec::new()),
        });
        let accept_task = tokio::spawn(accept_loop(listener, shared.clone()));
        Ok(FaultProxy {
            local,
            shared,
            accept_task,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.local
    }

    /// Records what clients send on connections opened from now on (or
    /// stops, keeping what was recorded).
    pub fn record(&self, on: bool) {
        self.shared.recording.store(on, Ordering::Relaxed);
    }

    /// What clients sent while recording, one byte stream per connection,
    /// in the order the connections were opened.
    pub fn recorded(&self) -> Vec<Vec<u8>> {
        lock(&self.shared.recorded).clone()
    }

    /// Closes every connection that is open now. New connections are served.
    pub fn cut_all(&self) {
        self.shared.cut.send_modify(|epoch| *epoch += 1);
    }

    /// Stalls (`true`) or resumes (`false`) every connection, both ways.
    ///
    /// While stalled, the proxy keeps reading what it is sent (up to a
    /// bounded buffer, then the kernel's socket buffers fill) but forwards
    /// nothing, as a hung peer would. Resuming forwards what was held, in
    /// order.
    pub fn stall(&self, on: bool) {
        self.shared.stalled.send_replace(on);
    }

    /// Delays every chunk by `latency` in each direction (zero to disable).
    pub fn set_latency(&self, latency: Duration) {
        *lock(&self.shared.latency) = latency;
    }

    /// Bytes forwarded in `dir`, over every connection so far. With one
    /// connection open, `close_after(dir, Some(forwarded(dir) + n))` cuts
    /// it `n` bytes from now.
    pub fn forwarded(&self, dir: Direction) -> u64 {
        self.shared.forwarded[dir.index()].load(Ordering::Relaxed)
    }

    /// Closes a connection once it has forwarded `bytes` bytes in `dir`;
    /// `None` lifts the limit. The limit counts from each connection's
    /// start and applies to open connections as well as new ones.
    pub fn close_after(&self, dir: Direction, bytes: Option<u64>) {
        lock(&self.shared.close_after)[dir.index()] = bytes;
    }

    /// Resets every new connection for the next `period`.
    pub fn refuse_for(&self, period: Duration) {
        *lock(&self.shared.refuse_until) = Some(Instant::now() + period);
    }

    /// How many connections have been accepted and forwarded so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// How many connections were refused so far.
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// How many connections are open now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
        self.cut_all();
    }
}

/// Drops a socket with a reset instead of a FIN, as a refused or failed
/// peer would. A zero linger does not block on drop, which is what the
/// deprecation of `set_linger` warns about.
#[allow(deprecated)]
fn reset(s: TcpStream) {
    let _ = s.set_linger(Some(Duration::ZERO));
    drop(s);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        let refusing = lock(&shared.refuse_until).is_some_and(|until| Instant::now() < until);
        if refusing {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            reset(client);
            continue;
        }
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(serve(client, shared.clone()));
    }
}

async fn serve(client: TcpStream, shared: Arc<Shared>) {
    // Subscribe before connecting upstream so a cut issued meanwhile counts.
    let mut cut = shared.cut.subscribe();
    let Ok(upstream) = TcpStream::connect(shared.upstream).await else {
        reset(client);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    shared.open.fetch_add(1, Ordering::Relaxed);
    let (client_r, client_w) = client.into_split();
    let (up_r, up_w) = upstream.into_split();
    let record = shared.recording.load(Ordering::Relaxed).then(|| {
        let mut recorded = lock(&shared.recorded);
        recorded.push(Vec::new());
        recorded.len() - 1
    });
    // When either direction ends (EOF, error, truncation) or a cut comes,
    // both sockets are dropped, which closes the connection.
    tokio::select! {
        _ = pump(client_r, up_w, Direction::ToUpstream, &shared, record) => {}
        _ = pump(up_r, client_w, Direction::ToClient, &shared, None) => {}
        _ = cut.changed() => {}
    }
    shared.open.fetch_sub(1, Ordering::Relaxed);
}

/// Chunks in flight inside one direction of one connection.
const PUMP_DEPTH: usize = 16;
const CHUNK: usize = 16 * 1024;

/// Forwards one direction of a connection; what it forwards is appended to
/// `shared.recorded[record]` if `record` is given.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    dir: Direction,
    shared: &Shared,
    record: Option<usize>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(PUMP_DEPTH);
    let reader = async move {
        loop {
            let mut buf = vec![0u8; CHUNK];
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    buf.truncate(n);
                    let release = Instant::now() + *lock(&shared.latency);
                    if tx.send((release, buf)).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let writer = async move {
        let mut stalled = shared.stalled.subscribe();
        let mut forwarded: u64 = 0;
        while let Some((release, chunk)) = rx.recv().await {
            tokio::time::sleep_until(release).await;
            while *stalled.borrow_and_update() {
                if stalled.changed().await.is_err() {
                    return;
                }
            }
            let limit = lock(&shared.close_after)[dir.index()];
            let mut send = chunk.as_slice();
            let mut truncate = false;
            if let Some(limit) = limit {
                let room = limit.saturating_sub(forwarded);
                if (send.len() as u64) >= room {
                    send = &send[..room as usize];
                    truncate = true;
                }
            }
            if to.write_all(send).await.is_err() {
                return;
            }
            forwarded += send.len() as u64;
            shared.forwarded[dir.index()].fetch_add(send.len() as u64, Ordering::Relaxed);
            if let Some(i) = record {
                if let Some(stream) = lock(&shared.recorded).get_mut(i) {
                    stream.extend_from_slice(send);
                }
            }
            if truncate {
                let _ = to.flush().await;
                return;
            }
        }
        // The reader saw EOF and everything was forwarded: pass the EOF on.
        let _ = to.shutdown().await;
    };
    // The writer finishing ends the direction; the reader alone ending is
    // only EOF, after which the writer drains what is queued.
    tokio::pin!(reader);
    tokio::pin!(writer);
    tokio::select! {
        _ = &mut writer => {}
        _ = &mut reader => { writer.await }
    }
}
