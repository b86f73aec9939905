//! Payload codecs: how a `T` becomes bytes and back, and the content type
//! that says so on the wire.
//!
//! A codec is a type implementing [`Codec<T>`] for the payload types it
//! handles. [`Json`] (feature `json`, on by default) covers every serde
//! type; [`Protobuf`] (feature `protobuf`) every prost message.

use crate::error::CodecError;

/// Encodes and decodes payloads of type `T`.
///
/// The publisher sets [`content_type`](Self::content_type) on every
/// message (the AMQP `content_type` property, the Kafka `content-type`
/// header). The subscriber checks it before [`decode`](Self::decode): a
/// different content type is poison (dead-lettered at once); a message
/// without one (from a client that sets none) is decoded as it is.
pub trait Codec<T>: Send + Sync + 'static {
    /// The MIME type, such as `application/json`.
    fn content_type(&self) -> &str;

    /// Encodes a value.
    fn encode(&self, value: &T) -> Result<Vec<u8>, CodecError>;

    /// Decodes a payload. A failure makes the message poison.
    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError>;

    /// Whether `content_type` (from a received message) is this codec's.
    /// Parameters (`; charset=utf-8`) and ASCII case are ignored.
    fn accepts(&self, content_type: &str) -> bool {
        let base = content_type.split(';').next().unwrap_or("").trim();
        base.eq_ignore_ascii_case(self.content_type())
    }
}

/// JSON through serde_json. Unknown fields are tolerated (serde's
/// default: do not put `deny_unknown_fields` on payload types), so
/// producers can add fields before consumers know them.
#[cfg(feature = "json")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json;

#[cfg(feature = "json")]
impl Json {
    /// `application/json`.
    pub const CONTENT_TYPE: &'static str = "application/json";
}

#[cfg(feature = "json")]
impl<T> Codec<T> for Json
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    fn content_type(&self) -> &str {
        Self::CONTENT_TYPE
    }

    fn encode(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        serde_json::to_vec(value).map_err(|e| CodecError::Encode(Box::new(e)))
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        serde_json::from_slice(bytes).map_err(|e| CodecError::Decode(Box::new(e)))
    }
}

/// Protobuf through prost. Unknown fields are skipped on decode (the
/// Protobuf rule), so producers can add fields before consumers know
/// them.
#[cfg(feature = "protobuf")]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Protobuf;

#[cfg(feature = "protobuf")]
impl Protobuf {
    /// `application/x-protobuf`.
    pub const CONTENT_TYPE: &'static str = "application/x-protobuf";
}

#[cfg(feature = "protobuf")]
impl<T> Codec<T> for Protobuf
where
    T: prost::Message + Default,
{
    fn content_type(&self) -> &str {
        Self::CONTENT_TYPE
    }

    fn encode(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        Ok(value.encode_to_vec())
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        T::decode(bytes).map_err(|e| CodecError::Decode(Box::new(e)))
    }
}

/// Checks a received message's content type against the codec, then
/// decodes it.
pub(crate) fn check_and_decode<T, C: Codec<T> + ?Sized>(
    codec: &C,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> Result<T, CodecError> {
    if let Some(found) = content_type {
        if !codec.accepts(found) {
            return Err(CodecError::ContentType {
                expected: codec.content_type().to_owned(),
                found: found.to_owned(),
            });
        }
    }
    codec.decode(body.ok_or(CodecError::Empty)?)
}

#[cfg(all(test, feature = "protobuf"))]
mod protobuf_tests {
    use super::*;

    /// Version 1 of a message.
    #[derive(Clone, PartialEq, prost::Message)]
    struct OrderV1 {
        #[prost(uint32, tag = "1")]
        id: u32,
    }

    /// Version 2 adds a field.
    #[derive(Clone, PartialEq, prost::Message)]
    struct OrderV2 {
        #[prost(uint32, tag = "1")]
        id: u32,
        #[prost(string, tag = "2")]
        note: String,
    }

    #[test]
    fn protobuf_round_trips_and_skips_unknown_fields() {
        let v2 = OrderV2 {
            id: 9,
            note: "added later".into(),
        };
        let bytes = Protobuf.encode(&v2).unwrap();
        let back: OrderV2 = Protobuf.decode(&bytes).unwrap();
        assert_eq!(back, v2);
        let old: OrderV1 =
            check_and_decode(&Protobuf, Some("application/x-protobuf"), Some(&bytes)).unwrap();
        assert_eq!(old.id, 9);
        let wrong: Result<OrderV1, _> =
            check_and_decode(&Protobuf, Some("application/json"), Some(&bytes));
        assert!(matches!(wrong, Err(CodecError::ContentType { .. })));
        let poison: Result<OrderV1, _> = check_and_decode(&Protobuf, None, Some(&[0xff, 0xff]));
        assert_eq!(poison.unwrap_err().kind(), "decode");
    }
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Order {
        id: u32,
        #[serde(default)]
        note: String,
    }

    #[test]
    fn json_round_trips_and_tolerates_unknown_fields() {
        let bytes = Codec::<Order>::encode(
            &Json,
            &Order {
                id: 7,
                note: "x".into(),
            },
        )
        .unwrap();
        let back: Order = Json.decode(&bytes).unwrap();
        assert_eq!(back.id, 7);
        let newer: Order = Json.decode(br#"{"id":1,"added_later":true}"#).unwrap();
        assert_eq!(
            newer,
            Order {
                id: 1,
                note: String::new()
            }
        );
    }

    #[test]
    fn content_type_is_checked_before_decoding() {
        let ok: Result<Order, _> = check_and_decode(
            &Json,
            Some("application/json; charset=utf-8"),
            Some(b"{\"id\":2}"),
        );
        assert_eq!(ok.unwrap().id, 2);
        let absent: Result<Order, _> = check_and_decode(&Json, None, Some(b"{\"id\":3}"));
        assert_eq!(absent.unwrap().id, 3);
        let wrong: Result<Order, _> =
            check_and_decode(&Json, Some("text/plain"), Some(b"{\"id\":2}"));
        assert!(matches!(wrong, Err(CodecError::ContentType { .. })));
        let poison: Result<Order, _> = check_and_decode(&Json, None, Some(b"{not json"));
        assert_eq!(poison.unwrap_err().kind(), "decode");
        let empty: Result<Order, _> = check_and_decode(&Json, None, None);
        assert!(matches!(empty, Err(CodecError::Empty)));
    }
}
