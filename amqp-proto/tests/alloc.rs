//! A counting allocator shows that decoding a delivery allocates nothing
//! beyond the read buffer: no per-message allocation, in the codec or
//! through a connection (after its queues have warmed up).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Instant;

use amqp_proto::frame::{encode_body_frames, encode_header_frame, encode_method_frame};
use amqp_proto::message::{Message, decode_message};
use amqp_proto::method::basic;
use amqp_proto::{
    BasicProperties, ClientConfig, Connection, Event, FieldTable, ServerConfig, ShortStr,
};
use bytes::BytesMut;

struct Counting;

thread_local! {
    /// Allocations made by this thread while counting is on.
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
}

fn note() {
    // `try_with`: the allocator may run while thread-locals are torn down.
    let _ = COUNT.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns how many allocations this thread made in it.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

const N: u64 = 1000;

/// N deliveries on channel 1 with properties and a headers table.
fn deliveries() -> BytesMut {
    let props = BasicProperties::default()
        .with_content_type("application/json")
        .persistent()
        .with_message_id("m-1")
        .with_headers(
            FieldTable::builder()
                .insert("x-retry", 3i32)
                .insert("trace", "abc")
                .build(),
        );
    let mut out = BytesMut::new();
    for tag in 1..=N {
        let d = basic::Deliver {
            consumer_tag: ShortStr::from_static("amq.ctag-Xo9VfCdG7cJlVbd2qYbW3A"),
            delivery_tag: tag,
            redelivered: false,
            exchange: ShortStr::from_static("orders"),
            routing_key: ShortStr::from_static("order.created"),
        };
        encode_method_frame(&mut out, 1, &d.into());
        encode_header_frame(&mut out, 1, 60, 100, &props);
        encode_body_frames(&mut out, 1, &[7u8; 100], 131_072);
    }
    out
}

/// Reads every field, as an application would, and drops the message.
fn touch(d: &amqp_proto::Delivery) -> usize {
    let p = d.properties();
    let headers = p.headers.as_ref().map_or(0, |h| h.iter().count());
    d.consumer_tag().len()
        + d.exchange().len()
        + d.routing_key().len()
        + d.body().len()
        + p.content_type.map_or(0, |c| c.len())
        + headers
}

#[test]
fn decoding_deliveries_allocates_nothing_per_message() {
    // The counter counts.
    let n = allocations(|| {
        std::hint::black_box(Vec::<u8>::with_capacity(10));
    });
    assert_eq!(n, 1);

    // The codec: one handle per message, split off the read buffer.
    let mut buf = deliveries();
    let mut seen = 0;
    let mut sum = 0;
    let n = allocations(|| {
        while let Ok(Some(m)) = decode_message(&mut buf, 131_072) {
            let Message::Delivery(d) = m else {
                panic!("a delivery")
            };
            sum += touch(&d);
            seen += 1;
        }
    });
    assert_eq!(seen, N);
    assert!(sum > 0);
    // The only allocation: the read buffer becoming shareable on its
    // first split (once per buffer, not per message).
    assert!(n <= 1, "{n} allocations for {N} deliveries");

    // Through a client connection, deliveries acked as they come.
    let now = Instant::now();
    let mut client = connected_client(now);
    let mut out = BytesMut::with_capacity(1 << 20);
    let mut run = |client: &mut Connection| {
        let mut buf = deliveries();
        let mut got = 0;
        let n = allocations(|| {
            client.handle_input(now, &mut buf).expect("valid input");
            while let Some(e) = client.poll_event() {
                let Event::Delivery(d) = e else {
                    panic!("{e:?}")
                };
                assert!(touch(&d) > 0);
                client
                    .basic_ack(d.channel, d.delivery_tag, false)
                    .expect("ack");
                got += 1;
            }
            client.poll_transmit(&mut out);
            out.clear();
        });
        assert_eq!(got, N);
        n
    };
    // The first batch grows the event queue and the transmit buffers.
    run(&mut client);
    let n = run(&mut client);
    assert!(n <= 1, "{n} allocations for {N} deliveries after warm-up");
}

fn connected_client(now: Instant) -> Connection {
    let mut c = Connection::client(ClientConfig::default(), now);
    let mut s = Connection::server(ServerConfig::default(), now);
    let mut asked = false;
    for _ in 0..16 {
        let mut a = BytesMut::new();
        c.poll_transmit(&mut a);
        s.handle_input(now, &mut a).unwrap();
        let mut b = BytesMut::new();
        s.poll_transmit(&mut b);
        c.handle_input(now, &mut b).unwrap();
        while s.poll_event().is_some() {}
        while let Some(e) = c.poll_event() {
            if let Event::ChannelOpened { .. } = e {
                return c;
            }
        }
        if c.is_open() && !asked {
            c.open_channel().unwrap();
            asked = true;
        }
    }
    panic!("no channel");
}
