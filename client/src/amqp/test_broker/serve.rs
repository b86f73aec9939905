//! One task per client connection: `amqp-proto`'s server role between
//! the simulated stream and the broker's state.

use std::sync::Arc;

use amqp_proto::{Connection as Core, Event, ServerConfig};
use bytes::{Buf, BytesMut};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::Shared;
use super::state::Out;
use crate::simnet::{SimStream, lock};

/// Bytes read per turn.
const READ_CHUNK: usize = 64 * 1024;

/// Serves one connection until the client closes it, it is cut, or the
/// broker restarts.
pub(super) async fn serve(
    shared: Arc<Shared>,
    id: u64,
    stream: SimStream,
    notify: Arc<Notify>,
    config: ServerConfig,
) {
    let mut core = Core::server(config, crate::clock::now());
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf = BytesMut::new();
    let graceful = loop {
        // What the broker has for this connection: confirms due, deliveries.
        let now = Instant::now();
        let outbox = {
            let mut b = lock(&shared.broker);
            b.commit_due(id, now);
            b.take_outbox(id)
        };
        let gone = outbox.is_none();
        for out in outbox.into_iter().flatten() {
            let r = match out {
                Out::Method(ch, m) => core.send_method(ch, m),
                Out::Content(ch, head, body) => {
                    let (m, props) = *head;
                    core.send_content(ch, m, &props, &body)
                }
                Out::CloseChannel(ch, code, text) => core.close_channel(ch, code, &text),
            };
            if let Err(e) = r {
                tracing::debug!(conn = id, error = %e, "test broker: frame not sent");
            }
        }
        let now_std = now.into_std();
        if core.poll_timeout().is_some_and(|t| t <= now_std) {
            core.handle_timeout(now_std);
            if handle_events(&shared, id, &mut core) {
                break false;
            }
        }
        core.poll_transmit(&mut wbuf);
        let mut failed = false;
        while !wbuf.is_empty() {
            match stream.try_write(&wbuf) {
                Ok(n) => wbuf.advance(n),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            // The client is gone (its socket dropped, or the link cut):
            // what it published is routed, as on a close.
            break true;
        }
        if gone {
            // Cut, restarted, or closed: the close-ok (if any) went out.
            break core.is_closed();
        }
        if core.is_closed() && wbuf.is_empty() {
            break true;
        }
        let commit_at = lock(&shared.broker).next_commit(id);
        let timer = [commit_at, core.poll_timeout().map(Instant::from_std)]
            .into_iter()
            .flatten()
            .min();
        let want_write = !wbuf.is_empty();
        tokio::select! {
            biased;
            _ = notify.notified() => {}
            _ = stream.writable(), if want_write => {}
            _ = stream.readable() => {
                match stream.try_read_buf(&mut rbuf, READ_CHUNK) {
                    // The client went away without a close: what it
                    // published is routed, as RabbitMQ does.
                    Ok(0) => break true,
                    Ok(_) => {
                        if let Err(e) = core.handle_input(crate::clock::now(), &mut rbuf) {
                            tracing::debug!(conn = id, error = %e, "test broker: protocol error");
                        }
                        if handle_events(&shared, id, &mut core) {
                            break false;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => break false,
                }
            }
            _ = tokio::time::sleep_until(timer.unwrap_or_else(Instant::now)), if timer.is_some() => {}
        }
    };
    lock(&shared.broker).conn_gone(id, graceful);
}

/// Hands the core's events to the broker; true if the connection died
/// (heartbeat timeout).
fn handle_events(shared: &Shared, id: u64, core: &mut Core) -> bool {
    let mut b = lock(&shared.broker);
    while let Some(ev) = core.poll_event() {
        match ev {
            Event::ChannelOpened { channel } => b.open_channel(id, channel),
            Event::ChannelClosed { channel, .. } => b.close_channel(id, channel),
            Event::Request { channel: 0, .. } => {}
            Event::Request { channel, method } => b.request(id, channel, method),
            Event::Published(p) => b.publish(id, &p),
            // The client closed: what it published before is routed.
            Event::ConnectionClosed { .. } => b.conn_gone(id, true),
            Event::HeartbeatTimeout => return true,
            _ => {}
        }
    }
    false
}
