//! Short and long strings through every accessor and conversion: the
//! bytes, the UTF-8 and lossy views, lengths, the 255-byte limit, lookups
//! by borrowed bytes, comparison with `str`, and the debug and display
//! forms. Found missing by mutation testing: the codecs read and write the
//! bytes, but most of the accessors were not read back by any test.

use std::collections::HashMap;

use amqp_proto::strings::{LongStr, ShortStr, TooLong};
use bytes::Bytes;

/// "a", an invalid byte, "b".
const NOT_UTF8: &[u8] = b"a\xffb";

#[test]
fn a_short_string_gives_back_its_bytes_every_way() {
    let s = ShortStr::try_from("route").unwrap();
    assert_eq!(s.as_bytes(), b"route");
    assert_eq!(AsRef::<[u8]>::as_ref(&s), b"route");
    assert_eq!(std::borrow::Borrow::<[u8]>::borrow(&s), b"route");
    assert_eq!(s.as_str(), Ok("route"));
    assert_eq!(s.to_string_lossy(), "route");
    assert_eq!(s.to_bytes(), Bytes::from_static(b"route"));
    assert_eq!(s.clone().into_bytes(), Bytes::from_static(b"route"));
    assert_eq!(s.len(), 5);
    assert!(!s.is_empty());
    assert_eq!(format!("{s:?}"), "\"route\"");
    assert_eq!(s.to_string(), "route");

    let e = ShortStr::empty();
    assert!(e.is_empty());
    assert_eq!(e.len(), 0);

    let bad = ShortStr::try_from(Bytes::from_static(NOT_UTF8)).unwrap();
    assert!(bad.as_str().is_err());
    assert_eq!(bad.to_string_lossy(), "a\u{fffd}b");
    assert_eq!(bad.to_string(), "a\u{fffd}b");
}

#[test]
fn a_short_string_compares_with_str() {
    let s = ShortStr::from_static("queue");
    assert!(s == "queue");
    assert!(s != "queues");
    assert!(s == *"queue");
    assert!(s != *"other");
    assert_eq!(s.as_bytes(), b"queue");
}

#[test]
fn a_short_string_holds_255_bytes_and_no_more() {
    let fits = "x".repeat(255);
    let over = "x".repeat(256);
    assert_eq!(ShortStr::try_from(fits.as_str()).unwrap().len(), 255);
    assert_eq!(
        ShortStr::try_from(fits.clone()).unwrap().as_bytes(),
        fits.as_bytes()
    );
    assert_eq!(
        ShortStr::try_from(Bytes::from(fits.clone()))
            .unwrap()
            .as_bytes(),
        fits.as_bytes()
    );
    assert_eq!(ShortStr::try_from(over.as_str()), Err(TooLong { len: 256 }));
    assert_eq!(ShortStr::try_from(over.clone()), Err(TooLong { len: 256 }));
    assert_eq!(
        ShortStr::try_from(Bytes::from(over.clone())),
        Err(TooLong { len: 256 })
    );
    // A static string over the limit is cut, not refused.
    let leaked: &'static str = Box::leak(over.into_boxed_str());
    assert_eq!(ShortStr::from_static(leaked).as_bytes(), fits.as_bytes());
}

#[test]
fn short_strings_are_found_in_a_map_by_their_bytes() {
    let mut m = HashMap::new();
    m.insert(ShortStr::from_static("amq.direct"), 1);
    m.insert(ShortStr::from_static("amq.topic"), 2);
    assert_eq!(m.get(&b"amq.topic"[..]), Some(&2));
    assert_eq!(m.get(&b"amq.direct"[..]), Some(&1));
    assert_eq!(m.get(&b"amq.fanout"[..]), None);
}

#[test]
fn a_long_string_gives_back_its_bytes_every_way() {
    let body = "a long string value";
    for s in [
        LongStr::from_static("a long string value"),
        LongStr::from(body),
        LongStr::from(body.to_owned()),
        LongStr::from(body.as_bytes().to_vec()),
        LongStr::from(Bytes::from_static(body.as_bytes())),
    ] {
        assert_eq!(s.as_bytes(), body.as_bytes());
        assert_eq!(AsRef::<[u8]>::as_ref(&s), body.as_bytes());
        assert_eq!(s.as_str(), Ok(body));
        assert_eq!(s.to_string_lossy(), body);
        assert_eq!(s.to_bytes(), Bytes::from_static(body.as_bytes()));
        assert_eq!(s.clone().into_bytes(), Bytes::from_static(body.as_bytes()));
        assert_eq!(s.len(), 19);
        assert!(!s.is_empty());
        assert_eq!(format!("{s:?}"), "\"a long string value\"");
        assert_eq!(s.to_string(), body);
    }
    let e = LongStr::empty();
    assert!(e.is_empty());
    assert_eq!(e.len(), 0);

    let bad = LongStr::from(NOT_UTF8.to_vec());
    assert!(bad.as_str().is_err());
    assert_eq!(bad.to_string_lossy(), "a\u{fffd}b");
    assert_eq!(format!("{bad:?}"), "\"a\u{fffd}b\"");
}

#[test]
fn a_long_string_compares_with_str() {
    let s = LongStr::from("header");
    assert!(s == "header");
    assert!(s != "headers");
    assert!(s == *"header");
    assert!(s != *"other");
}
