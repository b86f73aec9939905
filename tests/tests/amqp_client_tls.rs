//! TLS against RabbitMQ's real TLS listener (5671, started by
//! `scripts/brokers up` with a throwaway CA): a confirmed round trip, the
//! EXTERNAL login with a client certificate, errors that name the cause
//! (unknown issuer, hostname mismatch), recovery over TLS through the fault
//! proxy with nothing confirmed lost, and a truncated TLS record that ends
//! in a clean error rather than a hang.

mod amqp_client_support;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use amqp_client_support::{next, wait_event};
use mq_client::amqp::{
    AuthMechanism, BasicProperties, Connection, ConnectionEvent, ConsumeOptions, Error,
    QueueDeleteOptions, QueueOptions, RecoveryConfig, ReplyCode,
};
use mq_client::backoff::BackoffConfig;
use mq_client::tls::{TlsConfig, TlsError};
use mq_tests::proxy::{Direction, FaultProxy};
use mq_tests::{endpoints, names};

fn tls_file(name: &str) -> PathBuf {
    endpoints::tls_dir().join(name)
}

fn ca() -> String {
    tls_file("ca.pem").display().to_string()
}

/// The TLS listener's address.
fn amqps_addr() -> SocketAddr {
    let url = endpoints::amqps_url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let host_port = host_port.replace("localhost", "127.0.0.1");
    host_port.parse().expect("amqps URL has host:port")
}

/// The `amqps://` URL with the test CA as its `cacertfile`.
fn url_with_ca() -> String {
    format!("{}?cacertfile={}", endpoints::amqps_url(), ca())
}

#[tokio::test]
async fn confirmed_round_trip_over_tls() {
    let conn = Connection::builder()
        .uri(url_with_ca())
        .name("tls-round-trip")
        .connect()
        .await
        .expect("connect over TLS");
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let queue = names::queue("tls-round-trip");
    ch.queue_declare(&queue, QueueOptions::default())
        .await
        .unwrap();
    let mut confirms = Vec::new();
    for i in 0..500u32 {
        // Bodies of many sizes, some spanning several TLS records.
        let body = vec![(i % 251) as u8; (i as usize * 97) % 40_000 + 1];
        confirms.push(
            ch.publish("", &queue, body, BasicProperties::default())
                .await
                .unwrap(),
        );
    }
    for c in confirms {
        c.await.expect("acked over TLS");
    }
    let mut consumer = ch
        .consume(&queue, ConsumeOptions::default().prefetch(100))
        .await
        .unwrap();
    for i in 0..500u32 {
        let d = next(&mut consumer).await;
        assert_eq!(d.body().len(), (i as usize * 97) % 40_000 + 1);
        assert!(d.body().iter().all(|b| *b == (i % 251) as u8));
        d.ack().await.unwrap();
    }
    drop(consumer);
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn external_login_with_a_client_certificate() {
    // The URI carries no password: the broker takes the user from the
    // certificate's common name (guest).
    let url = format!(
        "amqps://localhost:{}/%2f?cacertfile={}&certfile={}&keyfile={}&auth_mechanism=external",
        amqps_addr().port(),
        ca(),
        tls_file("client.pem").display(),
        tls_file("client.key").display(),
    );
    let conn = Connection::builder()
        .uri(url)
        .name("tls-external")
        .connect()
        .await
        .expect("EXTERNAL login with the client certificate");
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let queue = names::queue("tls-external");
    ch.queue_declare(&queue, QueueOptions::default().exclusive())
        .await
        .unwrap();
    ch.publish(
        "",
        &queue,
        b"by certificate".to_vec(),
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let mut consumer = ch.consume(&queue, ConsumeOptions::default()).await.unwrap();
    let d = next(&mut consumer).await;
    assert_eq!(&d.body()[..], b"by certificate");
    d.ack().await.unwrap();
    drop(consumer);
    conn.close().await.unwrap();

    // The same through the builder, and without a certificate EXTERNAL is
    // refused.
    let tls = TlsConfig::new()
        .ca_file(tls_file("ca.pem"))
        .client_cert_files(tls_file("client.pem"), tls_file("client.key"));
    let conn = Connection::builder()
        .uri(format!("amqps://localhost:{}/%2f", amqps_addr().port()))
        .tls(tls)
        .auth_mechanism(AuthMechanism::External)
        .connect()
        .await
        .expect("EXTERNAL through the builder");
    conn.close().await.unwrap();
    let refused = Connection::builder()
        .uri(format!("{}&auth_mechanism=external", url_with_ca()))
        .recovery(RecoveryConfig::disabled())
        .connect()
        .await
        .expect_err("EXTERNAL without a certificate");
    assert!(
        matches!(
            refused,
            Error::Refused { .. } | Error::ConnectionLost { .. }
        ),
        "{refused:?}"
    );
}

/// Connects with `url` and returns the error, checking it came within the
/// connect timeout.
async fn connect_error(url: String) -> Error {
    let started = Instant::now();
    let e = Connection::builder()
        .uri(url)
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect_err("the connect fails");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "failed after {:?}",
        started.elapsed()
    );
    e
}

#[tokio::test]
async fn certificate_errors_name_their_cause() {
    // A trust store with another CA: unknown issuer.
    let e = connect_error(format!(
        "{}?cacertfile={}",
        endpoints::amqps_url(),
        tls_file("other-ca.pem").display()
    ))
    .await;
    assert!(
        matches!(
            &e,
            Error::Tls {
                source: TlsError::UnknownIssuer,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_retriable());
    assert!(e.to_string().contains("unknown issuer"), "{e}");

    // The right CA, but a name the certificate does not carry.
    let e = connect_error(format!(
        "{}&server_name_indication=wrong.example",
        url_with_ca()
    ))
    .await;
    assert!(
        matches!(&e, Error::Tls { source: TlsError::HostnameMismatch { name }, .. } if name == "wrong.example"),
        "{e:?}"
    );

    // The system store does not know the throwaway CA either.
    let e = connect_error(endpoints::amqps_url()).await;
    assert!(
        matches!(
            &e,
            Error::Tls {
                source: TlsError::UnknownIssuer,
                ..
            }
        ),
        "{e:?}"
    );

    // A wrong password over TLS: refused, and the password is nowhere.
    let port = amqps_addr().port();
    let e = connect_error(format!(
        "amqps://guest:not-the-password-42@localhost:{port}/%2f?cacertfile={}",
        ca()
    ))
    .await;
    assert!(
        matches!(&e, Error::Refused { .. } | Error::ConnectionLost { .. }),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("not-the-password-42"));

    // Plain AMQP to the TLS port: the server's TLS alert is no AMQP
    // frame, a frame error at once rather than a hang.
    let e = connect_error(format!("amqp://guest:guest@127.0.0.1:{port}/%2f")).await;
    assert_eq!(e.reply_code(), Some(ReplyCode::FRAME_ERROR), "{e:?}");
}

fn fast_recovery() -> RecoveryConfig {
    RecoveryConfig {
        backoff: BackoffConfig {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(500),
            multiplier: 2.0,
            jitter: 0.2,
            max_attempts: Some(40),
        },
        ..RecoveryConfig::default()
    }
}

/// An `amqps://` URL through `proxy`, verified as localhost.
fn proxied(proxy: &FaultProxy) -> String {
    format!(
        "amqps://guest:guest@127.0.0.1:{}/%2f?cacertfile={}&server_name_indication=localhost",
        proxy.addr().port(),
        ca()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_over_tls_recovers_and_loses_nothing_confirmed() {
    const N: u32 = 20_000;
    const WINDOW: usize = 500;
    let proxy = FaultProxy::start(amqps_addr()).await.unwrap();
    let conn = Connection::builder()
        .uri(proxied(&proxy))
        .name("tls-recovery")
        .operation_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .recovery(fast_recovery())
        .connect()
        .await
        .unwrap();
    let mut events = conn.events();
    let ch = conn.open_channel().await.unwrap();
    ch.confirm_select().await.unwrap();
    let queue = names::queue("tls-recovery");
    ch.queue_declare(&queue, QueueOptions::default())
        .await
        .unwrap();
    let mut acked = vec![false; N as usize];
    let mut failed = Vec::new();
    let mut window: VecDeque<(u32, _)> = VecDeque::with_capacity(WINDOW);
    let settle =
        |(i, r): (u32, Result<(), Error>), acked: &mut Vec<bool>, failed: &mut Vec<u32>| match r {
            Ok(()) => acked[i as usize] = true,
            Err(e) => {
                assert!(matches!(e, Error::ConfirmLost), "{e:?}");
                failed.push(i);
            }
        };
    for i in 0..N {
        if i == N / 3 {
            proxy.cut_all();
        }
        let confirm = ch
            .publish(
                "",
                &queue,
                i.to_be_bytes().to_vec(),
                BasicProperties::default(),
            )
            .await
            .expect("publishes wait through the outage");
        window.push_back((i, confirm));
        if window.len() == WINDOW {
            let (i, c) = window.pop_front().unwrap();
            settle((i, c.await), &mut acked, &mut failed);
        }
    }
    for (i, c) in window {
        settle((i, c.await), &mut acked, &mut failed);
    }
    wait_event(&mut events, Duration::from_secs(10), |e| {
        matches!(e, ConnectionEvent::Recovered { .. })
    })
    .await;
    assert!(proxy.accepted() >= 2, "it reconnected through the proxy");
    for &i in &failed {
        ch.publish(
            "",
            &queue,
            i.to_be_bytes().to_vec(),
            BasicProperties::default(),
        )
        .await
        .unwrap()
        .await
        .expect("acked after recovery");
    }
    let mut consumer = ch
        .consume(&queue, ConsumeOptions::default().prefetch(1000))
        .await
        .unwrap();
    let mut present = vec![false; N as usize];
    let mut missing = N as usize;
    while missing > 0 {
        let d = next(&mut consumer).await;
        let i = u32::from_be_bytes(d.body()[..4].try_into().unwrap()) as usize;
        if !present[i] {
            present[i] = true;
            missing -= 1;
        }
        d.ack().await.unwrap();
    }
    assert!(acked.iter().zip(&present).all(|(a, p)| !a || *p));
    drop(consumer);
    ch.queue_delete(&queue, QueueDeleteOptions::default())
        .await
        .unwrap();
    conn.close().await.unwrap();
}

#[tokio::test]
async fn a_truncated_tls_record_is_a_clean_error() {
    // The proxy closes the connection after a few bytes of the server's
    // first flight, in the middle of a TLS record.
    let proxy = FaultProxy::start(amqps_addr()).await.unwrap();
    proxy.close_after(Direction::ToClient, Some(100));
    let started = Instant::now();
    let e = Connection::builder()
        .uri(proxied(&proxy))
        .connect_timeout(Duration::from_secs(5))
        .recovery(RecoveryConfig::disabled())
        .connect()
        .await
        .expect_err("the handshake cannot finish");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            &e,
            Error::Tls {
                source: TlsError::Handshake(_),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_retriable());

    // Mid-stream: an established connection whose next record is cut.
    let proxy = FaultProxy::start(amqps_addr()).await.unwrap();
    let conn = Connection::builder()
        .uri(proxied(&proxy))
        .operation_timeout(Duration::from_secs(5))
        .recovery(RecoveryConfig::disabled())
        .connect()
        .await
        .unwrap();
    let ch = conn.open_channel().await.unwrap();
    // The next bytes from the broker stop 10 bytes into a record.
    let so_far = proxy.forwarded(Direction::ToClient);
    proxy.close_after(Direction::ToClient, Some(so_far + 10));
    let started = Instant::now();
    let r = ch
        .queue_declare(
            &names::queue("tls-truncated"),
            QueueOptions::default().exclusive(),
        )
        .await;
    assert!(r.is_err(), "the declare cannot be answered");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}
