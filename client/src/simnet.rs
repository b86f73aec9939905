//! A simulated network for the `test-broker` feature: in-memory byte
//! streams between the client and the test broker, with latency, stalls
//! and cuts drawn from a seeded generator, on tokio's clock (virtual when
//! the runtime's clock is paused).
//!
//! A [`SimStream`] offers what the AMQP driver asks of a socket: readiness
//! (`readable`, `writable`) and non-blocking `try_read`/`try_write`, plus
//! `AsyncRead`/`AsyncWrite` for the handshake. Each direction of a link is
//! a queue of chunks with arrival times: a write lands at `now + latency`
//! (never before the chunk ahead of it: bytes stay in order), and a read
//! takes what has arrived. A cut resets both ends; dropping an end closes
//! its direction (the peer reads the rest, then the end of the stream).

use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Bytes a direction holds (in flight and unread) before writes block.
const WINDOW: usize = 256 * 1024;

/// splitmix64: small, fast, and the same sequence for the same seed on
/// every platform.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True `per_mille` times in a thousand.
    pub(crate) fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }

    /// A duration in `min..=max`, at microsecond grain.
    pub(crate) fn between(&mut self, min: Duration, max: Duration) -> Duration {
        let span = max.saturating_sub(min).as_micros();
        let span = u64::try_from(span).unwrap_or(u64::MAX);
        min + Duration::from_micros(self.below(span.saturating_add(1)))
    }
}

/// How the network delays bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Latency {
    /// Each write's delay is drawn from `min..=max`...
    pub(crate) min: Duration,
    pub(crate) max: Duration,
    /// ...except, this many times in a thousand, from `max..=spike`.
    pub(crate) spike_per_mille: u32,
    pub(crate) spike: Duration,
}

impl Latency {
    pub(crate) const ZERO: Latency = Latency {
        min: Duration::ZERO,
        max: Duration::ZERO,
        spike_per_mille: 0,
        spike: Duration::ZERO,
    };

    fn draw(&self, rng: &Mutex<Rng>) -> Duration {
        if *self == Latency::ZERO {
            return Duration::ZERO;
        }
        let mut rng = lock(rng);
        if self.spike_per_mille > 0 && rng.chance(self.spike_per_mille) {
            rng.between(self.max, self.spike)
        } else {
            rng.between(self.min, self.max)
        }
    }
}

/// What the links of one network share: the generator and the latency.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) rng: Mutex<Rng>,
    pub(crate) latency: Mutex<Latency>,
}

/// Locks, ignoring poisoning: the state stays consistent between calls.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One direction of a link.
#[derive(Debug, Default)]
struct Half {
    /// Chunks with their arrival times, in order.
    chunks: VecDeque<(Instant, Bytes)>,
    queued: usize,
    last_arrival: Option<Instant>,
    /// The writer closed this direction.
    fin: bool,
    /// The reader is gone: writes fail.
    reader_gone: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl Half {
    fn wake_all(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

#[derive(Debug, Default)]
struct LinkState {
    /// `[0]`: client to broker; `[1]`: broker to client.
    halves: [Half; 2],
    /// Cut: both ends fail every call.
    reset: bool,
    stall_until: Option<Instant>,
}

/// A connection between two [`SimStream`]s.
#[derive(Debug)]
pub(crate) struct Link {
    state: Mutex<LinkState>,
    net: Arc<Net>,
}

impl Link {
    /// A new link and its two ends: the client's, the broker's.
    pub(crate) fn pair(net: Arc<Net>) -> (Arc<Link>, SimStream, SimStream) {
        let link = Arc::new(Link {
            state: Mutex::new(LinkState::default()),
            net,
        });
        let end = |side| SimStream {
            link: link.clone(),
            side,
            timer: Mutex::new(None),
        };
        let (a, b) = (end(0), end(1));
        (link, a, b)
    }

    /// Cuts the link: both ends see a reset, bytes in flight are lost.
    pub(crate) fn cut(&self) {
        let mut st = lock(&self.state);
        st.reset = true;
        for h in &mut st.halves {
            h.chunks.clear();
            h.queued = 0;
            h.wake_all();
        }
    }

    /// Nothing arrives, either way, until `until`.
    pub(crate) fn stall(&self, until: Instant) {
        let mut st = lock(&self.state);
        st.stall_until = Some(st.stall_until.map_or(until, |t| t.max(until)));
        for h in &mut st.halves {
            for c in &mut h.chunks {
                c.0 = c.0.max(until);
            }
            h.last_arrival = h.last_arrival.map(|t| t.max(until));
        }
    }

    /// Whether both ends are still there and the link is not cut.
    #[cfg(test)]
    pub(crate) fn is_up(&self) -> bool {
        let st = lock(&self.state);
        !st.reset && st.halves.iter().all(|h| !h.fin && !h.reader_gone)
    }
}

/// One end of a simulated connection.
#[derive(Debug)]
pub(crate) struct SimStream {
    link: Arc<Link>,
    /// 0: the client's end; 1: the broker's.
    side: usize,
    /// Wakes a reader when the next chunk arrives.
    timer: Mutex<Option<Pin<Box<Sleep>>>>,
}

impl SimStream {
    fn inbound(&self) -> usize {
        1 - self.side
    }

    /// Ready when bytes have arrived, at the end of the stream, or after a
    /// cut (the read then says which).
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        for _ in 0..4 {
            let now = Instant::now();
            let next = {
                let mut st = lock(&self.link.state);
                if st.reset {
                    return Poll::Ready(Ok(()));
                }
                let h = &mut st.halves[self.inbound()];
                match h.chunks.front() {
                    Some((at, _)) if *at <= now => return Poll::Ready(Ok(())),
                    None if h.fin => return Poll::Ready(Ok(())),
                    front => {
                        let at = front.map(|c| c.0);
                        h.read_waker = Some(cx.waker().clone());
                        at
                    }
                }
            };
            let Some(at) = next else {
                return Poll::Pending;
            };
            let mut timer = lock(&self.timer);
            let sleep = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            if sleep.deadline() != at {
                sleep.as_mut().reset(at);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        // The timer fired and still nothing arrived (it cannot, but never
        // spin): try again on the next turn.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Ready when the direction has room, or it failed (the write says how).
    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut st = lock(&self.link.state);
        let reset = st.reset;
        let h = &mut st.halves[self.side];
        if reset || h.fin || h.reader_gone || h.queued < WINDOW {
            return Poll::Ready(Ok(()));
        }
        h.write_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits until a read would not block.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_read_ready(cx)).await
    }

    /// Waits until a write would not block.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.poll_write_ready(cx)).await
    }

    /// Reads what has arrived, at most `max` bytes, into `buf`. `Ok(0)`
    /// is the end of the stream; nothing arrived yet is `WouldBlock`.
    pub(crate) fn try_read_buf(&self, buf: &mut BytesMut, max: usize) -> io::Result<usize> {
        let mut st = lock(&self.link.state);
        if st.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        let now = Instant::now();
        let h = &mut st.halves[self.inbound()];
        let mut n = 0;
        while n < max {
            let Some((at, chunk)) = h.chunks.front_mut() else {
                break;
            };
            if *at > now {
                break;
            }
            let take = chunk.len().min(max - n);
            buf.extend_from_slice(&chunk[..take]);
            chunk.advance(take);
            n += take;
            if chunk.is_empty() {
                h.chunks.pop_front();
            }
        }
        if n == 0 {
            return if h.fin && h.chunks.is_empty() {
                Ok(0)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            };
        }
        h.queued -= n;
        if let Some(w) = h.write_waker.take() {
            w.wake();
        }
        Ok(n)
    }

    /// Writes what the direction has room for; `WouldBlock` if none.
    pub(crate) fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        let latency = *lock(&self.link.net.latency);
        let delay = latency.draw(&self.link.net.rng);
        let mut st = lock(&self.link.state);
        if st.reset {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        let stall = st.stall_until;
        let h = &mut st.halves[self.side];
        if h.fin || h.reader_gone {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        let n = data.len().min(WINDOW.saturating_sub(h.queued));
        if n == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let mut at = Instant::now() + delay;
        if let Some(t) = h.last_arrival {
            at = at.max(t);
        }
        if let Some(t) = stall {
            at = at.max(t);
        }
        h.last_arrival = Some(at);
        h.chunks.push_back((at, Bytes::copy_from_slice(&data[..n])));
        h.queued += n;
        if let Some(w) = h.read_waker.take() {
            w.wake();
        }
        Ok(n)
    }

    /// Closes this end's direction: the peer reads the rest, then the end.
    fn shutdown(&self) {
        let mut st = lock(&self.link.state);
        let h = &mut st.halves[self.side];
        h.fin = true;
        h.wake_all();
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        let mut st = lock(&self.link.state);
        let inbound = self.inbound();
        {
            let h = &mut st.halves[self.side];
            h.fin = true;
            h.wake_all();
        }
        let h = &mut st.halves[inbound];
        h.reader_gone = true;
        h.chunks.clear();
        h.queued = 0;
        h.wake_all();
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut tmp = BytesMut::new();
            match self.try_read_buf(&mut tmp, buf.remaining()) {
                Ok(_) => {
                    buf.put_slice(&tmp);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(self.poll_read_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            match self.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::task::ready!(self.poll_write_ready(cx))?;
                }
                r => return Poll::Ready(r),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shutdown();
        Poll::Ready(Ok(()))
    }
}

/// The socket under a driver that moves bytes by readiness: TCP, or a
/// simulated stream. Only the few calls the driver makes dispatch.
#[derive(Debug)]
pub(crate) enum Socket {
    /// A real socket.
    Tcp(TcpStream),
    /// The test broker's network.
    Sim(SimStream),
}

impl Socket {
    /// Waits until a read would not block.
    pub(crate) async fn readable(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.readable().await,
            Socket::Sim(s) => s.readable().await,
        }
    }

    /// Waits until a write would not block.
    pub(crate) async fn writable(&self) -> io::Result<()> {
        match self {
            Socket::Tcp(s) => s.writable().await,
            Socket::Sim(s) => s.writable().await,
        }
    }

    /// Writes without blocking.
    pub(crate) fn try_write(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(s) => s.try_write(data),
            Socket::Sim(s) => s.try_write(data),
        }
    }

    /// The TCP socket, if this is one.
    pub(crate) fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Socket::Tcp(s) => Some(s),
            Socket::Sim(_) => None,
        }
    }
}

/// Something that accepts simulated connections: the test broker.
pub(crate) trait Listener: Send + Sync {
    /// A new connection's client end (the listener serves the other), or
    /// an error such as "refused" while it is down.
    fn accept(&self) -> io::Result<SimStream>;
}

/// The listeners by `host:port`. Weak: a dropped broker leaves by itself.
static LISTENERS: Mutex<BTreeMap<String, Weak<dyn Listener>>> = Mutex::new(BTreeMap::new());

/// The host names the test brokers take (`test-broker-N`).
pub(crate) const HOST_PREFIX: &str = "test-broker-";

/// Makes `addr` (`host:port`) reach `listener`.
pub(crate) fn listen(addr: String, listener: Weak<dyn Listener>) {
    let mut map = lock(&LISTENERS);
    map.retain(|_, l| l.strong_count() > 0);
    map.insert(addr, listener);
}

/// Connects to a test broker, if `addr` names one (`None`: a real address).
pub(crate) fn dial(addr: &str) -> Option<io::Result<SimStream>> {
    let listener = lock(&LISTENERS).get(addr).and_then(Weak::upgrade);
    match listener {
        Some(l) => Some(l.accept()),
        None if addr.starts_with(HOST_PREFIX) => Some(Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "no test broker at this address (was it dropped?)",
        ))),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn net(min_ms: u64, max_ms: u64) -> Arc<Net> {
        Arc::new(Net {
            rng: Mutex::new(Rng::new(7)),
            latency: Mutex::new(Latency {
                min: Duration::from_millis(min_ms),
                max: Duration::from_millis(max_ms),
                spike_per_mille: 0,
                spike: Duration::ZERO,
            }),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_arrive_after_their_latency_and_in_order() {
        let (_link, a, mut b) = Link::pair(net(5, 20));
        let t0 = Instant::now();
        for i in 0..50u8 {
            assert_eq!(a.try_write(&[i]).unwrap(), 1);
        }
        let mut got = BytesMut::new();
        assert_eq!(
            b.try_read_buf(&mut got, 100).unwrap_err().kind(),
            io::ErrorKind::WouldBlock,
            "nothing arrives at once"
        );
        let mut all = Vec::new();
        while all.len() < 50 {
            let mut buf = [0u8; 64];
            let n = b.read(&mut buf).await.unwrap();
            all.extend_from_slice(&buf[..n]);
        }
        assert_eq!(all, (0..50).collect::<Vec<u8>>());
        let took = Instant::now() - t0;
        assert!(
            took >= Duration::from_millis(5) && took <= Duration::from_millis(21),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_resets_both_ends_and_a_drop_ends_the_stream() {
        let (link, mut a, mut b) = Link::pair(net(0, 0));
        a.write_all(b"hello").await.unwrap();
        link.cut();
        let mut buf = [0u8; 8];
        assert_eq!(
            b.read(&mut buf).await.unwrap_err().kind(),
            io::ErrorKind::ConnectionReset
        );
        assert!(a.try_write(b"x").is_err());
        assert!(!link.is_up());

        let (link, mut a, mut b) = Link::pair(net(1, 1));
        a.write_all(b"bye").await.unwrap();
        drop(a);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"bye");
        assert_eq!(
            b.try_write(b"x").unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
        assert!(!link.is_up());
    }

    #[tokio::test(start_paused = true)]
    async fn a_stall_holds_bytes_back_and_a_full_window_blocks_writes() {
        let (link, a, b) = Link::pair(net(1, 1));
        let t0 = Instant::now();
        link.stall(t0 + Duration::from_secs(3));
        a.try_write(b"x").unwrap();
        b.readable().await.unwrap();
        assert!(Instant::now() - t0 >= Duration::from_secs(3));

        let big = vec![0u8; WINDOW];
        assert_eq!(a.try_write(&big).unwrap(), WINDOW - 1);
        assert_eq!(
            a.try_write(b"y").unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        let mut buf = BytesMut::new();
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(b.try_read_buf(&mut buf, 1000).unwrap(), 1000);
        a.writable().await.unwrap();
        assert_eq!(a.try_write(b"y").unwrap(), 1);
    }

    #[test]
    fn the_generator_repeats_for_a_seed() {
        let draw = |seed| {
            let mut r = Rng::new(seed);
            (0..8).map(|_| r.below(1000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }
}
