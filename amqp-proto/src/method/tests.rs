//! Round trips for every method, and the decoder's error paths.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

use super::*;

/// Arbitrary values of each wire type.
pub(crate) trait ArbWire: Sized {
    fn arb() -> BoxedStrategy<Self>;
}

macro_rules! arb_int {
    ($($t:ty),*) => {$(
        impl ArbWire for $t {
            fn arb() -> BoxedStrategy<Self> {
                any::<$t>().boxed()
            }
        }
    )*};
}
arb_int!(bool, u8, u16, u32, u64);

impl ArbWire for ShortStr {
    fn arb() -> BoxedStrategy<Self> {
        crate::properties::tests::arb_short().boxed()
    }
}

impl ArbWire for LongStr {
    fn arb() -> BoxedStrategy<Self> {
        prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(LongStr::from)
            .boxed()
    }
}

impl ArbWire for FieldTable {
    fn arb() -> BoxedStrategy<Self> {
        crate::table::tests::arb_table()
            .prop_map(|(_, t)| t)
            .boxed()
    }
}

fn encoded(m: &Method) -> Bytes {
    let mut out = BytesMut::new();
    m.encode(&mut out);
    out.freeze()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn every_method_round_trips(m in Method::arbitrary()) {
        let bytes = encoded(&m);
        let back = Method::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(encoded(&back), bytes);
    }

    #[test]
    fn truncation_is_an_error_never_a_panic(m in Method::arbitrary(), cut in any::<prop::sample::Index>()) {
        let bytes = encoded(&m);
        let cut = cut.index(bytes.len());
        prop_assert!(Method::decode(&bytes.slice(..cut)).is_err());
    }

    #[test]
    fn trailing_bytes_are_an_error(m in Method::arbitrary()) {
        let mut out = BytesMut::new();
        m.encode(&mut out);
        out.extend_from_slice(b"x");
        let e = Method::decode(&out.freeze()).unwrap_err();
        prop_assert!(matches!(e, DecodeError::TrailingBytes { extra: 1, .. }), "{:?}", e);
    }
}

#[test]
fn the_strategy_covers_every_method_and_ids_are_unique() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = Method::arbitrary();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..20_000 {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        seen.insert((m.class_id(), m.method_id()));
    }
    let mut ids: Vec<(u16, u16)> = CATALOG.iter().map(|i| (i.class_id, i.method_id)).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), CATALOG.len(), "no two methods share ids");
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ids);
}

#[test]
fn bits_pack_low_bit_first() {
    let m = Method::QueueDeclare(queue::Declare {
        queue: ShortStr::from_static("q"),
        passive: false,
        durable: true,
        exclusive: false,
        auto_delete: true,
        nowait: true,
        ..Default::default()
    });
    let b = encoded(&m);
    // class 50, method 10, ticket 0, "q", bits durable|auto-delete|nowait = 0b11010, empty table
    assert_eq!(&b[..], b"\x00\x32\x00\x0a\x00\x00\x01q\x1a\x00\x00\x00\x00");
}

#[test]
fn unknown_methods_and_ids() {
    let e = Method::decode(&Bytes::from_static(b"\x00\x3c\x00\x63")).unwrap_err();
    assert_eq!(
        e,
        DecodeError::UnknownMethod {
            class_id: 60,
            method_id: 99
        }
    );
    assert_eq!(e.reply_code(), crate::ReplyCode::NOT_IMPLEMENTED);
    let e = Method::decode(&Bytes::from_static(b"\x00")).unwrap_err();
    assert_eq!(
        e,
        DecodeError::Truncated {
            what: "class-id",
            offset: 0
        }
    );
}

#[test]
fn requests_have_replies() {
    for info in CATALOG {
        assert!(!info.name.is_empty());
    }
    let get = Method::BasicGet(basic::Get::default());
    assert!(get.is_request());
    assert!(Method::BasicGetEmpty(basic::GetEmpty::default()).is_reply_to(&get));
    assert!(Method::BasicGetOk(basic::GetOk::default()).is_reply_to(&get));
    assert!(!Method::BasicQosOk(basic::QosOk {}).is_reply_to(&get));
    let decl = Method::QueueDeclare(queue::Declare {
        nowait: true,
        ..Default::default()
    });
    assert!(decl.is_request() && !decl.expects_reply());
}
