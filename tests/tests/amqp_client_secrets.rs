//! The password never shows in Debug output, errors or logs (a file of its
//! own: the log capture needs a process whose other tests do not race it
//! for tracing's callsite cache).

mod amqp_client_support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use amqp_client_support::rabbitmqctl;
use mq_client::amqp::{Connection, Error, QueueOptions, ReplyCode};
use mq_tests::{endpoints, names};

/// A writer the log subscriber appends to.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_password_never_shows_in_debug_errors_or_logs() {
    use tracing_subscriber::util::SubscriberInitExt;

    let captured = Captured::default();
    let writer = captured.clone();
    let _guard = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish()
        .set_default();

    let user = names::unique("mquser");
    let password = format!("pw-{}", names::unique("secret"));
    rabbitmqctl(&["add_user", &user, &password]);
    rabbitmqctl(&["set_permissions", "-p", "/", &user, ".*", ".*", ".*"]);
    let addr = endpoints::amqp_addr();
    let uri = format!("amqp://{user}:{password}@{addr}/%2f?heartbeat=5");
    let result = async {
        let conn = Connection::builder()
            .uri(&uri)
            .name("secret-test")
            .connect()
            .await?;
        let ch = conn.open_channel().await?;
        ch.queue_declare("", QueueOptions::default().exclusive())
            .await?;
        let debug = format!("{conn:?} {ch:?}");
        // A wrong password: refused with 403, not retriable.
        let wrong = format!("amqp://{user}:wrong-{password}@{addr}/%2f");
        let refused = Connection::connect(&wrong).await;
        conn.close().await?;
        Ok::<_, Error>((debug, refused))
    }
    .await;
    rabbitmqctl(&["delete_user", &user]);
    let (debug, refused) = result.unwrap();
    match &refused {
        Err(e @ Error::Refused { code, .. }) => {
            assert_eq!(*code, ReplyCode::ACCESS_REFUSED);
            assert!(!e.is_retriable());
            assert!(!e.to_string().contains(&password), "{e}");
        }
        other => panic!("expected a refused login, got {other:?}"),
    }
    assert!(debug.contains("***"), "{debug}");
    assert!(!debug.contains(&password), "{debug}");
    let refused_debug = format!("{refused:?}");
    assert!(!refused_debug.contains(&password), "{refused_debug}");
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("secret-test"),
        "logs name the connection: {logs}"
    );
    assert!(
        !logs.contains(&password),
        "the password is in the logs: {logs}"
    );
}
