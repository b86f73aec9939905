//! AMQP codec: decode basic.deliver + content header + 100 B body, and
//! encode basic.publish + content header + 100 B body, per message.
//!
//! Each iteration handles a batch of 1,000 messages; criterion reports the
//! time per batch, so ns/message = time / 1000 (the throughput line gives
//! messages per second). With `--features peers`, amq-protocol 10.6 is
//! measured on the same messages in the same run.
//!
//! `cargo bench -p mq-benches --features peers --bench amqp_codec`

use std::hint::black_box;
use std::time::{Duration, Instant};

use amqp_proto::frame::{self, FrameDecoder, FrameKind};
use amqp_proto::message::decode_message;
use amqp_proto::method::basic;
use amqp_proto::{
    BasicProperties, ClientConfig, Connection, ContentHeader, Event, Method, ServerConfig, ShortStr,
};
use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const BATCH: usize = 1000;
const CONSUMER_TAG: &str = "amq.ctag-Xo9VfCdG7cJlVbd2qYbW3A";
const EXCHANGE: &str = "orders";
const ROUTING_KEY: &str = "order.created";
const FRAME_MAX: u32 = 131_072;

fn properties() -> BasicProperties {
    BasicProperties::default()
        .with_content_type("application/json")
        .persistent()
}

fn body() -> Bytes {
    Bytes::from(vec![b'x'; 100])
}

/// 1,000 deliveries as RabbitMQ sends them, on channel 1.
fn deliveries() -> BytesMut {
    let mut out = BytesMut::new();
    let props = properties();
    let body = body();
    for tag in 1..=BATCH as u64 {
        let d = basic::Deliver {
            consumer_tag: ShortStr::from_static(CONSUMER_TAG),
            delivery_tag: tag,
            redelivered: false,
            exchange: ShortStr::from_static(EXCHANGE),
            routing_key: ShortStr::from_static(ROUTING_KEY),
        };
        frame::encode_method_frame(&mut out, 1, &d.into());
        frame::encode_header_frame(&mut out, 1, 60, body.len() as u64, &props);
        frame::encode_body_frames(&mut out, 1, &body, FRAME_MAX);
    }
    out
}

/// Decodes one message with the public codec: three frames split off the
/// buffer, the method and the header decoded, the body a slice.
fn decode_one(
    d: &mut FrameDecoder,
    buf: &mut BytesMut,
) -> Option<(basic::Deliver, ContentHeader, Bytes)> {
    let m = d.decode(buf).ok()??;
    let Ok(Method::BasicDeliver(deliver)) = Method::decode(&m.payload) else {
        return None;
    };
    let h = d.decode(buf).ok()??;
    let header = ContentHeader::decode(&h.payload).ok()?;
    let b = d.decode(buf).ok()??;
    debug_assert_eq!(b.kind, FrameKind::Body);
    Some((deliver, header, b.payload))
}

/// A client connection with channel 1 open, driven through the handshake
/// by an in-memory server.
fn connected_client() -> Connection {
    let now = Instant::now();
    let mut c = Connection::client(ClientConfig::default(), now);
    let mut s = Connection::server(ServerConfig::default(), now);
    let mut opened = false;
    for _ in 0..32 {
        let mut a = BytesMut::new();
        c.poll_transmit(&mut a);
        s.handle_input(now, &mut a).expect("server input");
        let mut b = BytesMut::new();
        s.poll_transmit(&mut b);
        c.handle_input(now, &mut b).expect("client input");
        while let Some(ev) = c.poll_event() {
            if matches!(ev, Event::ChannelOpened { .. }) {
                opened = true;
            }
        }
        while s.poll_event().is_some() {}
        if c.is_open() && !opened && c.open_channel().is_err() {
            panic!("cannot open a channel");
        }
        if opened {
            return c;
        }
    }
    panic!("handshake did not finish");
}

fn bench_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("amqp_decode_deliver_100B");
    g.throughput(Throughput::Elements(BATCH as u64));
    let input = deliveries();

    // The input is copied into a fresh buffer before each timed batch, as a
    // socket read would leave it: hot in cache. Only the decoding is timed.
    g.bench_function("amqp-proto/codec", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut buf = input.clone();
                let t = Instant::now();
                for _ in 0..BATCH {
                    black_box(decode_message(&mut buf, FRAME_MAX).expect("a delivery"));
                }
                total += t.elapsed();
            }
            total
        })
    });

    // The general-purpose frame API: every frame split off, the method and
    // the header decoded into owned structs (strings are still slices).
    g.bench_function("amqp-proto/frames+Method", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut buf = input.clone();
                let t = Instant::now();
                let mut d = FrameDecoder::new(FRAME_MAX);
                for _ in 0..BATCH {
                    black_box(decode_one(&mut d, &mut buf));
                }
                total += t.elapsed();
            }
            total
        })
    });

    let mut client = connected_client();
    let now = Instant::now();
    g.bench_function("amqp-proto/connection", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut buf = input.clone();
                let t = Instant::now();
                client
                    .handle_input(now, &mut buf)
                    .expect("deliveries decode");
                while let Some(ev) = client.poll_event() {
                    black_box(ev);
                }
                total += t.elapsed();
            }
            total
        })
    });

    #[cfg(feature = "peers")]
    {
        let bytes = input.to_vec();
        g.bench_function("amq-protocol-10.6", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let buf = bytes.clone();
                    let t = Instant::now();
                    let mut rest: &[u8] = &buf;
                    for _ in 0..BATCH * 3 {
                        let (r, frame) =
                            amq_protocol::frame::parsing::parse_frame(rest).expect("frame");
                        black_box(frame);
                        rest = r;
                    }
                    total += t.elapsed();
                }
                total
            })
        });
    }
    g.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("amqp_encode_publish_100B");
    g.throughput(Throughput::Elements(BATCH as u64));
    let props = properties();
    let body = body();
    let mut out = BytesMut::with_capacity(BATCH * 256);

    g.bench_function("amqp-proto/codec", |b| {
        b.iter(|| {
            out.clear();
            for _ in 0..BATCH {
                frame::encode_publish(
                    &mut out,
                    1,
                    EXCHANGE,
                    ROUTING_KEY,
                    false,
                    &props,
                    &body,
                    FRAME_MAX,
                );
            }
            black_box(&out);
        })
    });

    let mut client = connected_client();
    let mut wire = BytesMut::with_capacity(BATCH * 256);
    g.bench_function("amqp-proto/connection", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let seq = client
                    .basic_publish(1, EXCHANGE, ROUTING_KEY, false, &props, body.clone())
                    .expect("publish");
                black_box(seq);
            }
            client.poll_transmit(&mut wire);
            black_box(&wire);
            wire.clear();
        })
    });

    #[cfg(feature = "peers")]
    {
        use amq_protocol::frame::{AMQPContentHeader, AMQPFrame, generation::gen_frame};
        use amq_protocol::protocol::{AMQPClass, basic as pb};
        let mut vec: Vec<u8> = Vec::with_capacity(BATCH * 256);
        let body_vec = body.to_vec();
        g.bench_function("amq-protocol-10.6", |b| {
            b.iter(|| {
                vec.clear();
                for _ in 0..BATCH {
                    let method = AMQPFrame::Method(
                        1,
                        AMQPClass::Basic(pb::AMQPMethod::Publish(pb::Publish {
                            exchange: EXCHANGE.into(),
                            routing_key: ROUTING_KEY.into(),
                            mandatory: false,
                            immediate: false,
                        })),
                    );
                    let header = AMQPFrame::Header(
                        1,
                        AMQPContentHeader {
                            class_id: 60,
                            body_size: body_vec.len() as u64,
                            properties: pb::AMQPProperties::default()
                                .with_content_type("application/json".into())
                                .with_delivery_mode(2),
                        },
                    );
                    let body = AMQPFrame::Body(1, body_vec.clone());
                    for f in [&method, &header, &body] {
                        let (v, _) = cookie_factory::r#gen(gen_frame(f), std::mem::take(&mut vec))
                            .expect("encode");
                        vec = v;
                    }
                }
                black_box(&vec);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
