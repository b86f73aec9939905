//! Fuzz entry points (hidden). Each takes arbitrary bytes and must never
//! panic; the `fuzz/` crate wraps each in a one-line target.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::connection::{ClientConfig, Connection, Event, ServerConfig};
use crate::frame::{Frame, FrameDecoder};
use crate::method::{Method, basic, confirm};
use crate::properties::BasicProperties;
use crate::table::FieldTable;

/// Splits frames off the input with a small frame_max, decodes each, and
/// checks that what decodes re-encodes to bytes that decode the same.
pub fn frame_decoder(data: &[u8]) {
    let mut buf = BytesMut::from(data);
    let mut d = FrameDecoder::new(16 * 1024);
    while let Ok(Some(raw)) = d.decode(&mut buf) {
        if let Ok(frame) = Frame::decode(&raw) {
            let mut out = BytesMut::new();
            frame.encode(&mut out);
            let again = FrameDecoder::new(u32::MAX)
                .decode(&mut out)
                .ok()
                .flatten()
                .and_then(|r| Frame::decode(&r).ok());
            assert_eq!(again.as_ref(), Some(&frame), "frame round trip");
        }
    }
}

/// Decodes the input as a method frame payload, and, if it decodes,
/// checks the round trip. Also tries it as a field table and a header.
pub fn method_decoder(data: &[u8]) {
    let payload = Bytes::copy_from_slice(data);
    if let Ok(m) = Method::decode(&payload) {
        let mut out = BytesMut::new();
        m.encode(&mut out);
        let again = Method::decode(&out.freeze());
        assert_eq!(again.as_ref(), Ok(&m), "method round trip");
    }
    if let Ok(t) = FieldTable::decode(payload.clone()) {
        for (k, v) in t.iter() {
            let _ = (k.len(), v.tag());
        }
    }
    let _ = crate::properties::ContentHeader::decode(&payload);
}

/// A client connection after a valid handshake (with a channel open, in
/// confirm mode, consuming) fed the input as server bytes in pieces, with
/// events drained, output flushed and time advanced between pieces.
pub fn client_connection(data: &[u8]) {
    let t0 = Instant::now();
    let Some((mut client, mut now)) = handshaken_client(t0) else {
        return;
    };
    let mut out = BytesMut::new();
    let mut buf = BytesMut::new();
    // The first byte picks the piece size, so splits land everywhere.
    let (size, rest) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s % 64) + 1, rest),
        None => (1, data),
    };
    for piece in rest.chunks(size) {
        buf.extend_from_slice(piece);
        let failed = client.handle_input(now, &mut buf).is_err();
        while let Some(ev) = client.poll_event() {
            if let Event::Delivery(d) = ev {
                let _ = client.basic_ack(d.channel, d.delivery_tag, false);
            }
        }
        let _ = client.basic_publish(
            1,
            "",
            "q",
            true,
            &BasicProperties::default(),
            Bytes::from_static(b"x"),
        );
        client.poll_transmit(&mut out);
        out.clear();
        now += Duration::from_millis(700);
        if let Some(t) = client.poll_timeout() {
            if t <= now {
                client.handle_timeout(now);
            }
        }
        if failed || client.is_closed() {
            break;
        }
    }
}

/// Runs a client and a server through the handshake and opens channel 1 in
/// confirm mode with a consumer. Returns the client and the current time.
fn handshaken_client(t0: Instant) -> Option<(Connection, Instant)> {
    let config = ClientConfig {
        heartbeat: 10,
        frame_max: 4096,
        ..ClientConfig::default()
    };
    let mut client = Connection::client(config, t0);
    let mut server = Connection::server(ServerConfig::default(), t0);
    let now = t0;
    pump(&mut client, &mut server, now)?;
    let ch = client.open_channel().ok()?;
    client
        .call(ch, confirm::Select { nowait: false }.into())
        .ok()?;
    client
        .call(
            ch,
            basic::Consume {
                queue: crate::ShortStr::from_static("q"),
                consumer_tag: crate::ShortStr::from_static("c"),
                ..Default::default()
            }
            .into(),
        )
        .ok()?;
    pump(&mut client, &mut server, now)?;
    while let Some(ev) = client.poll_event() {
        let _ = ev;
    }
    Some((client, now))
}

/// Moves bytes both ways until quiet; the server answers requests with
/// their -ok replies.
fn pump(client: &mut Connection, server: &mut Connection, now: Instant) -> Option<()> {
    let mut buf = BytesMut::new();
    for _ in 0..16 {
        client.poll_transmit(&mut buf);
        server.handle_input(now, &mut buf).ok()?;
        while let Some(ev) = server.poll_event() {
            if let Event::Request { channel, method } = ev {
                let reply: Option<Method> = match method {
                    Method::ConfirmSelect(_) => Some(confirm::SelectOk {}.into()),
                    Method::BasicConsume(c) => Some(
                        basic::ConsumeOk {
                            consumer_tag: c.consumer_tag,
                        }
                        .into(),
                    ),
                    _ => None,
                };
                if let Some(r) = reply {
                    server.send_method(channel, r).ok()?;
                }
            }
        }
        server.poll_transmit(&mut buf);
        if buf.is_empty() {
            return Some(());
        }
        client.handle_input(now, &mut buf).ok()?;
    }
    Some(())
}

/// A valid stream of server frames for a client in the state
/// [`client_connection`] sets up (channel 1, confirm mode, consumer `c`).
/// The fuzz corpus and the mutation tests start from it.
pub fn sample_server_stream() -> Vec<u8> {
    use crate::frame::{encode_heartbeat, encode_method_frame};
    use crate::method::{channel as chan, connection as conn};
    let mut out = BytesMut::new();
    let props = BasicProperties::default()
        .with_content_type("text/plain")
        .with_headers(FieldTable::builder().insert("k", 1i32).build());
    for tag in 1..=3u64 {
        let d = basic::Deliver {
            consumer_tag: crate::ShortStr::from_static("c"),
            delivery_tag: tag,
            redelivered: tag == 2,
            exchange: crate::ShortStr::empty(),
            routing_key: crate::ShortStr::from_static("q"),
        };
        let body = vec![b'x'; 3000 * tag as usize];
        crate::publish::encode_content(&mut out, 1, &d.into(), &props, &body, 4096);
    }
    encode_method_frame(
        &mut out,
        1,
        &basic::Ack {
            delivery_tag: 1,
            multiple: true,
        }
        .into(),
    );
    encode_method_frame(
        &mut out,
        1,
        &basic::Nack {
            delivery_tag: 2,
            multiple: false,
            requeue: false,
        }
        .into(),
    );
    encode_method_frame(&mut out, 1, &chan::Flow { active: false }.into());
    encode_heartbeat(&mut out);
    encode_method_frame(
        &mut out,
        0,
        &conn::Blocked {
            reason: crate::ShortStr::from_static("mem"),
        }
        .into(),
    );
    encode_method_frame(&mut out, 0, &conn::Unblocked {}.into());
    encode_method_frame(
        &mut out,
        1,
        &basic::Cancel {
            consumer_tag: crate::ShortStr::from_static("c"),
            nowait: false,
        }
        .into(),
    );
    encode_method_frame(
        &mut out,
        1,
        &chan::Close {
            reply_code: 404,
            reply_text: crate::ShortStr::from_static("NOT_FOUND"),
            class_id: 50,
            method_id: 10,
        }
        .into(),
    );
    encode_method_frame(
        &mut out,
        0,
        &conn::Close {
            reply_code: 320,
            reply_text: crate::ShortStr::from_static("bye"),
            class_id: 0,
            method_id: 0,
        }
        .into(),
    );
    out.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mutate(base: &[u8], edits: &[(usize, u8, u8)]) -> Vec<u8> {
        let mut v = base.to_vec();
        for &(at, kind, byte) in edits {
            if v.is_empty() {
                break;
            }
            let at = at % v.len();
            match kind % 4 {
                0 => v[at] = byte,
                1 => v[at] ^= 1 << (byte % 8),
                2 => v.insert(at, byte),
                _ => {
                    v.remove(at);
                }
            }
        }
        v
    }

    #[test]
    fn the_sample_stream_is_valid_and_fully_handled() {
        let mut seen = 0;
        let t0 = Instant::now();
        let (mut client, now) = handshaken_client(t0).unwrap();
        let mut buf = BytesMut::from(&sample_server_stream()[..]);
        client.handle_input(now, &mut buf).unwrap();
        while let Some(ev) = client.poll_event() {
            seen += 1;
            let _ = ev;
        }
        assert!(client.is_closed(), "the stream ends with connection.close");
        // 3 deliveries, flow, blocked, unblocked, cancel, channel and
        // connection closed (no publishes, so the acks confirm nothing).
        assert_eq!(seen, 9);
        // Every fuzz entry point accepts it.
        let s = sample_server_stream();
        frame_decoder(&s);
        client_connection(&s);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
            frame_decoder(&data);
            method_decoder(&data);
            client_connection(&data);
        }

        #[test]
        fn mutated_valid_input_never_panics(
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8),
            cut in any::<prop::sample::Index>(),
            piece in any::<u8>(),
        ) {
            let base = sample_server_stream();
            let mutated = mutate(&base, &edits);
            frame_decoder(&mutated);
            let mut with_piece = vec![piece];
            with_piece.extend_from_slice(&mutated[..cut.index(mutated.len() + 1).min(mutated.len())]);
            client_connection(&with_piece);
            // Method payloads: skip a frame header, mutate the rest.
            let start = 7.min(mutated.len());
            method_decoder(&mutated[start..cut.index(mutated.len() + 1).max(start).min(mutated.len())]);
        }
    }
}
