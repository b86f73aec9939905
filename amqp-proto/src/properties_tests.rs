//! The builders one by one, the cut of long values at 255 bytes on a char
//! boundary, continuation flag words, and `BasicProperties::validate` (the
//! check the delivery path runs without building the properties) on
//! malformed input. Found missing by mutation testing: the round trips
//! above only send the first flags word, and `validate` was reached only
//! through valid deliveries.

use super::*;
use proptest::prelude::*;

fn s(v: &str) -> Option<ShortStr> {
    Some(ShortStr::try_from(v).unwrap())
}

#[test]
fn each_builder_sets_its_own_property_and_keeps_the_others() {
    let headers = FieldTable::builder().insert("k", 1i32).build();
    let p = BasicProperties::default()
        .with_content_type("text/plain")
        .with_content_encoding("gzip")
        .with_headers(headers.clone())
        .with_delivery_mode(1)
        .with_priority(7)
        .with_correlation_id("corr")
        .with_reply_to("reply")
        .with_expiration_ms(60_000)
        .with_message_id("mid")
        .with_timestamp(1_700_000_000)
        .with_kind("order")
        .with_user_id("guest")
        .with_app_id("app");
    let expected = BasicProperties {
        content_type: s("text/plain"),
        content_encoding: s("gzip"),
        headers: Some(headers),
        delivery_mode: Some(1),
        priority: Some(7),
        correlation_id: s("corr"),
        reply_to: s("reply"),
        expiration: s("60000"),
        message_id: s("mid"),
        timestamp: Some(1_700_000_000),
        kind: s("order"),
        user_id: s("guest"),
        app_id: s("app"),
        cluster_id: None,
    };
    assert_eq!(p, expected);
    assert_eq!(
        BasicProperties::default().with_priority(4).persistent(),
        BasicProperties {
            priority: Some(4),
            delivery_mode: Some(2),
            ..BasicProperties::default()
        }
    );
}

#[test]
fn long_values_are_cut_at_255_bytes_on_a_char_boundary() {
    // ASCII: every position is a boundary, the cut is at 255.
    let ascii = "a".repeat(300);
    let p = BasicProperties::default().with_message_id(&ascii);
    assert_eq!(p.message_id.unwrap().as_bytes(), &ascii.as_bytes()[..255]);
    // Two-byte chars: 255 falls inside one, the cut backs off to 254.
    let two = "é".repeat(200);
    let p = BasicProperties::default().with_correlation_id(&two);
    assert_eq!(p.correlation_id.unwrap().as_str(), Ok(&two[..254]));
    // 'a' then three-byte chars: boundaries at 1 + 3k, so 253.
    let three = format!("a{}", "€".repeat(100));
    let p = BasicProperties::default().with_reply_to(&three);
    assert_eq!(p.reply_to.unwrap().as_str(), Ok(&three[..253]));
    // Exactly 255 bytes stays whole.
    let exact = "b".repeat(255);
    let p = BasicProperties::default().with_kind(&exact);
    assert_eq!(p.kind.unwrap().as_bytes(), exact.as_bytes());
}

/// The flags word 0x0002 (bit 1, no property) as the error both checks give.
const BIT_ONE: DecodeError = DecodeError::InvalidValue {
    what: "property flags",
    value: 2,
};

#[test]
fn continuation_words_are_read_and_must_name_nothing() {
    // Two empty continuation words, then nothing.
    assert_eq!(
        BasicProperties::decode(&Bytes::from_static(b"\x00\x01\x00\x01\x00\x00")),
        Ok(BasicProperties::default())
    );
    // A content type after one continuation word.
    assert_eq!(
        BasicProperties::decode(&Bytes::from_static(b"\x80\x01\x00\x00\x02hi")),
        Ok(BasicProperties {
            content_type: s("hi"),
            ..BasicProperties::default()
        })
    );
    // A continuation word with a bit other than its own continuation.
    assert_eq!(
        BasicProperties::decode(&Bytes::from_static(b"\x00\x01\x00\x02")),
        Err(BIT_ONE)
    );
}

#[test]
fn validate_accepts_and_refuses_what_decode_does() {
    let v = BasicProperties::validate;
    assert_eq!(v(b"\x00\x00"), Ok(()));
    assert_eq!(v(b"\x00\x01\x00\x00"), Ok(()));
    assert_eq!(v(b"\x00\x01\x00\x01\x00\x00"), Ok(()));
    assert_eq!(v(b"\x80\x01\x00\x00\x02hi"), Ok(()));
    assert_eq!(v(b"\x00\x01\x00\x02"), Err(BIT_ONE));
    assert_eq!(v(b"\x00\x02"), Err(BIT_ONE));
    assert_eq!(
        v(b"\x00\x01\x80\x00"),
        Err(DecodeError::InvalidValue {
            what: "property flags",
            value: 0x8000,
        })
    );
    // Offsets count from the header payload's start: the properties begin
    // after class-id, weight and body-size, 12 bytes in.
    assert_eq!(
        v(b""),
        Err(DecodeError::Truncated {
            what: "property flags",
            offset: 12,
        })
    );
    assert_eq!(
        v(b"\x80\x00\x05ab"),
        Err(DecodeError::Truncated {
            what: "content-type",
            offset: 15,
        })
    );
    assert_eq!(
        v(b"\x00\x00x"),
        Err(DecodeError::TrailingBytes {
            what: "basic properties",
            extra: 1,
        })
    );
    // Every property present, in a valid encoding.
    let mut out = BytesMut::new();
    BasicProperties {
        cluster_id: s("c"),
        ..BasicProperties::default()
            .with_content_type("t")
            .with_headers(FieldTable::builder().insert("k", "v").build())
            .with_delivery_mode(2)
            .with_priority(1)
            .with_timestamp(5)
            .with_app_id("a")
    }
    .encode(&mut out);
    assert_eq!(v(&out), Ok(()));
}

proptest! {
    #[test]
    fn validate_agrees_with_decode_on_any_bytes(
        raw in prop::collection::vec(any::<u8>(), 0..40),
        continuation in any::<bool>(),
    ) {
        // Raw bytes mostly fail early; with a continuation word set (and
        // an empty one after it) they reach the properties too.
        let mut buf = raw;
        if continuation && buf.len() >= 2 {
            buf[1] |= 1;
            buf.splice(2..2, [0, 0]);
        }
        let decoded = BasicProperties::decode(&Bytes::from(buf.clone()));
        prop_assert_eq!(
            BasicProperties::validate(&buf).is_ok(),
            decoded.is_ok(),
            "{:?}", decoded
        );
    }

    #[test]
    fn validate_takes_every_encoding_and_no_cut_of_one(
        properties in tests::arb_properties(),
        cut in 0usize..64,
    ) {
        let mut out = BytesMut::new();
        properties.encode(&mut out);
        prop_assert_eq!(BasicProperties::validate(&out), Ok(()));
        if cut < out.len() {
            prop_assert!(BasicProperties::validate(&out[..cut]).is_err());
        }
    }
}
