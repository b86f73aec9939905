//! Field values, tables and arrays through their public accessors: the
//! typed getters on a value, a table's and an array's emptiness, length and
//! debug form, the 255-byte limit on keys at its edge, and the nesting
//! limit for arrays at exactly `MAX_DEPTH`. Found missing by mutation
//! testing: the codec's own tests round-trip values but read none of these
//! back (the connection uses only `as_table` and `get`).

use amqp_proto::DecodeError;
use amqp_proto::strings::{LongStr, TooLong};
use amqp_proto::table::{FieldArray, FieldTable, FieldValue, MAX_DEPTH, TableBuilder};
use bytes::Bytes;

#[test]
fn every_integer_width_reads_as_i64_and_nothing_else_does() {
    // Values that are none of 0, 1, -1, and that need each type's full
    // range (sign or top bit), so a narrowing or a constant shows.
    let cases = [
        (FieldValue::I8(-7), -7i64),
        (FieldValue::U8(200), 200),
        (FieldValue::I16(-300), -300),
        (FieldValue::U16(60_000), 60_000),
        (FieldValue::I32(-70_000), -70_000),
        (FieldValue::U32(4_000_000_000), 4_000_000_000),
        (FieldValue::I64(-5_000_000_000), -5_000_000_000),
    ];
    for (value, expected) in cases {
        assert_eq!(value.as_i64(), Some(expected), "{value:?}");
    }
    for value in [
        FieldValue::Bool(true),
        FieldValue::F32(2.0),
        FieldValue::F64(3.0),
        FieldValue::Decimal { scale: 1, value: 5 },
        FieldValue::Timestamp(9),
        FieldValue::LongStr(LongStr::from("12")),
        FieldValue::Void,
    ] {
        assert_eq!(value.as_i64(), None, "{value:?}");
    }
}

#[test]
fn each_typed_getter_answers_only_for_its_own_type() {
    let s = FieldValue::from("text");
    assert_eq!(s.as_long_str(), Some(&LongStr::from("text")));
    assert_eq!(FieldValue::I32(5).as_long_str(), None);
    assert_eq!(
        FieldValue::Bytes(Bytes::from_static(b"x")).as_long_str(),
        None
    );

    assert_eq!(FieldValue::Bool(true).as_bool(), Some(true));
    assert_eq!(FieldValue::Bool(false).as_bool(), Some(false));
    assert_eq!(FieldValue::U8(1).as_bool(), None);

    let inner = FieldTable::builder().insert("k", 3u8).build();
    let t = FieldValue::Table(inner.clone());
    assert_eq!(t.as_table(), Some(&inner));
    assert_eq!(FieldValue::Array(FieldArray::new()).as_table(), None);
}

#[test]
fn emptiness_and_length_of_tables_and_arrays() {
    let empty = FieldTable::new();
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    let decoded = FieldTable::decode(Bytes::from_static(b"\x01aV\x01bt\x01")).unwrap();
    assert!(!decoded.is_empty());
    assert_eq!(decoded.len(), 2);

    let none = FieldArray::new();
    assert!(none.is_empty());
    assert_eq!(none.len(), 0);
    let three: FieldArray = [1u8, 2, 3].into_iter().collect();
    assert!(!three.is_empty());
    assert_eq!(three.len(), 3);
    let from_wire = FieldArray::decode(Bytes::from_static(b"VV")).unwrap();
    assert!(!from_wire.is_empty());
    assert_eq!(from_wire.len(), 2);
}

#[test]
fn debug_shows_the_entries_in_order() {
    let array: FieldArray = [FieldValue::U8(2), FieldValue::Bool(true)]
        .into_iter()
        .collect();
    assert_eq!(format!("{array:?}"), "[U8(2), Bool(true)]");
    let table = FieldTable::builder()
        .insert("b", 1i32)
        .insert("a", "x")
        .insert("list", array)
        .build();
    assert_eq!(
        format!("{table:?}"),
        r#"{"b": I32(1), "a": LongStr("x"), "list": Array([U8(2), Bool(true)])}"#
    );
    assert_eq!(format!("{:?}", FieldTable::new()), "{}");
}

#[test]
fn a_key_of_255_bytes_fits_and_256_does_not() {
    let fits = "k".repeat(255);
    let over = "k".repeat(256);

    let mut b = TableBuilder::default();
    assert!(b.try_insert(&fits, 7u8).is_ok());
    assert_eq!(b.try_insert(&over, 7u8).err(), Some(TooLong { len: 256 }));
    let t = b.build();
    assert_eq!(t.len(), 1);
    assert_eq!(t.get(&fits), Some(FieldValue::U8(7)));

    let mut b = TableBuilder::default();
    assert!(b.try_insert_str(&fits, "v").is_ok());
    assert_eq!(
        b.try_insert_str(&over, "v").err(),
        Some(TooLong { len: 256 })
    );
    let t = b.build();
    assert_eq!(t.len(), 1);
    assert_eq!(t.get(&fits), Some(FieldValue::from("v")));
}

#[test]
fn arrays_nest_to_exactly_max_depth() {
    // The innermost (empty) array sits at depth MAX_DEPTH: allowed.
    let mut a = FieldArray::new();
    for _ in 0..MAX_DEPTH {
        a = std::iter::once(FieldValue::Array(a)).collect();
    }
    assert!(FieldArray::decode(Bytes::copy_from_slice(a.as_bytes())).is_ok());
    // The same inside a table: the table is depth 0, so one level less.
    let mut inner = FieldArray::new();
    for _ in 0..MAX_DEPTH - 1 {
        inner = std::iter::once(FieldValue::Array(inner)).collect();
    }
    let t = FieldTable::builder().insert("a", inner.clone()).build();
    assert!(FieldTable::decode(Bytes::copy_from_slice(t.as_bytes())).is_ok());
    // One level more is refused, as an array or inside a table.
    let deeper: FieldArray = std::iter::once(FieldValue::Array(a)).collect();
    assert_eq!(
        FieldArray::decode(Bytes::copy_from_slice(deeper.as_bytes())).unwrap_err(),
        DecodeError::NestingTooDeep { max: MAX_DEPTH }
    );
    let deeper: FieldArray = std::iter::once(FieldValue::Array(inner)).collect();
    let t = FieldTable::builder().insert("a", deeper).build();
    assert_eq!(
        FieldTable::decode(Bytes::copy_from_slice(t.as_bytes())).unwrap_err(),
        DecodeError::NestingTooDeep { max: MAX_DEPTH }
    );
}
