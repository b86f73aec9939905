//! The fault proxy's own tests: each fault is shown happening, against a
//! local echo server standing in for a broker.

use std::net::SocketAddr;
use std::time::Duration;

use mq_tests::proxy::{Direction, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};

/// An echo server that also reports every byte it receives.
async fn echo_server() -> (SocketAddr, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, seen_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            let seen = seen_tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            let _ = seen.send(buf[..n].to_vec());
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    (addr, seen_rx)
}

async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).await.unwrap();
    let mut got = vec![0u8; msg.len()];
    timeout(Duration::from_secs(5), s.read_exact(&mut got))
        .await
        .expect("echo timed out")
        .unwrap();
    got
}

/// Reads until EOF or error; returns what arrived and whether the stream ended.
async fn read_until_closed(s: &mut TcpStream, within: Duration) -> (Vec<u8>, bool) {
    let mut all = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Err(_) => return (all, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (all, true),
            Ok(Ok(n)) => all.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn forwards_both_ways() {
    let (up, _) = echo_server().await;
    let proxy = FaultProxy::start(up).await.unwrap();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(roundtrip(&mut s, b"hello").await, b"hello");
    let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    let writer = {
        let (mut r, mut w) = s.into_split();
        let sent = big.clone();
        let t = tokio::spawn(async move { w.write_all(&sent).await.map(|_| w) });
        let mut got = vec![0u8; big.len()];
        r.read_exact(&mut got).await.unwrap();
        assert_eq!(got, big);
        t
    };
    writer.await.unwrap().unwrap();
    assert_eq!(proxy.accepted(), 1);
}

#[tokio::test]
async fn cut_closes_open_connections_and_serves_new_ones() {
    let (up, _) = echo_server().await;
    let proxy = FaultProxy::start(up).await.unwrap();
    let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
    roundtrip(&mut a, b"a").await;
    roundtrip(&mut b, b"b").await;
    assert_eq!(proxy.open_connections(), 2);

    proxy.cut_all();
    for s in [&mut a, &mut b] {
        let (data, closed) = read_until_closed(s, Duration::from_secs(5)).await;
        assert!(closed, "a cut connection must be closed");
        assert!(data.is_empty());
    }
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(roundtrip(&mut c, b"after").await, b"after");
}

#[tokio::test]
async fn stall_holds_bytes_until_resumed() {
    let (up, mut seen) = echo_server().await;
    let proxy = FaultProxy::start(up).await.unwrap();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    roundtrip(&mut s, b"warm").await;
    assert_eq!(seen.recv().await.unwrap(), b"warm");

    proxy.stall(true);
    // The write is accepted, yet nothing reaches the server or comes back.
    timeout(Duration::from_secs(1), s.write_all(b"stuck"))
        .await
        .expect("a stalled proxy still accepts bytes")
        .unwrap();
    let mut buf = [0u8; 5];
    assert!(
        timeout(Duration::from_millis(500), s.read_exact(&mut buf))
            .await
            .is_err(),
        "nothing may come back while stalled"
    );
    assert!(
        seen.try_recv().is_err(),
        "nothing may reach upstream while stalled"
    );

    proxy.stall(false);
    timeout(Duration::from_secs(5), s.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"stuck");
}

#[tokio::test]
async fn latency_delays_each_direction() {
    let (up, _) = echo_server().await;
    let proxy = FaultProxy::start(up).await.unwrap();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    roundtrip(&mut s, b"x").await;

    proxy.set_latency(Duration::from_millis(150));
    let started = Instant::now();
    assert_eq!(roundtrip(&mut s, b"slow").await, b"slow");
    let rtt = started.elapsed();
    // 150 ms out and 150 ms back.
    assert!(rtt >= Duration::from_millis(300), "round trip took {rtt:?}");

    proxy.set_latency(Duration::ZERO);
    roundtrip(&mut s, b"fast").await;
}

#[tokio::test]
async fn close_after_truncates_towards_upstream() {
    let (up, mut seen) = echo_server().await;
    let proxy = FaultProxy::start(up).await.unwrap();
    proxy.close_after(Direction::ToUpstream, Some(10));
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    s.write_all(b"0123456789abcdefghij").await.unwrap();
    let (echoed, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed);
    assert!(b"0123456789".starts_with(&echoed), "{echoed:?}");
    let mut upstream_got = Vec::new();
    while let Ok(Some(chunk)) = timeout(Duration::from_millis(200), seen.recv()).await {
        upstream_got.extend(chunk);
    }
    assert_eq!(
        upstream_got, b"0123456789",
        "exactly 10 bytes went upstream"
    );
}

#[tokio::test]
async fn close_after_truncates_towards_client() {
    let (up, _) = echo_server().await;
    let proxy = FaultProxy::start(up).await.unwrap();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    roundtrip(&mut s, b"abc").await; // 3 bytes back so far
    proxy.close_after(Direction::ToClient, Some(7));
    s.write_all(b"defghijk").await.unwrap();
    let (echoed, closed) = read_until_closed(&mut s, Duration::from_secs(5)).await;
    assert!(closed, "the connection must close at the limit");
    assert_eq!(echoed, b"defg", "only 7 bytes in all may reach the client");
}

#[tokio::test]
async fn refuse_resets_new_connections_for_a_while() {
    let (up, _) = echo_server().await;
    let proxy = FaultProxy::start(up).await.unwrap();
    let mut existing = TcpStream::connect(proxy.addr()).await.unwrap();
    roundtrip(&mut existing, b"keep").await;

    proxy.refuse_for(Duration::from_millis(600));
    let mut refused = TcpStream::connect(proxy.addr()).await.unwrap();
    let _ = refused.write_all(b"hi").await;
    let (data, closed) = read_until_closed(&mut refused, Duration::from_secs(5)).await;
    assert!(
        closed && data.is_empty(),
        "a refused connection gets nothing"
    );
    assert_eq!(proxy.refused(), 1);
    // Connections that were already open are not affected.
    assert_eq!(roundtrip(&mut existing, b"still").await, b"still");

    tokio::time::sleep(Duration::from_millis(700)).await;
    let mut later = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(roundtrip(&mut later, b"back").await, b"back");
}

#[tokio::test]
async fn records_what_clients_send_per_connection_once_asked() {
    let (up, _) = echo_server().await;
    let proxy = FaultProxy::start(up).await.unwrap();
    let mut before = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(
        roundtrip(&mut before, b"not recorded").await,
        b"not recorded"
    );
    proxy.record(true);
    let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(roundtrip(&mut a, b"one").await, b"one");
    assert_eq!(roundtrip(&mut b, b"two").await, b"two");
    assert_eq!(roundtrip(&mut a, b"three").await, b"three");
    let mut got = proxy.recorded();
    // The two connections may have been accepted in either order.
    got.sort();
    assert_eq!(got, [b"onethree".to_vec(), b"two".to_vec()]);
    proxy.record(false);
    assert_eq!(roundtrip(&mut before, b"still not").await, b"still not");
    assert_eq!(proxy.recorded().concat().len(), "onethreetwo".len());
}
