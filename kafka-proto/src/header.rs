//! Request headers v0-v2 and response headers v0-v1, and the rule for which
//! header version each API version uses.
//!
//! From `RequestHeader.json` / `ResponseHeader.json`:
//!
//! - Request header v0: `api_key int16, api_version int16, correlation_id
//!   int32`; v1 adds `client_id`, a nullable string that stays a classic
//!   (non-compact) string even in v2 (`"flexibleVersions": "none"`); v2 adds
//!   a tagged-field section.
//! - Response header v0: `correlation_id int32`; v1 adds tagged fields.
//!
//! A flexible request version uses request header v2 and response header v1;
//! other versions use v1 and v0. The exception: ApiVersions responses always
//! use response header v0, so that a client can read the error of a broker
//! that does not know the request's version.

use bytes::{BufMut, Bytes, BytesMut};

use crate::api::{ApiKey, api_support};
use crate::error::{DecodeError, EncodeError};
use crate::primitives::{self as p, RawTaggedField};

/// The header version a request of `api_key` at `api_version` uses: 2 for
/// flexible versions, 1 otherwise (also for APIs this crate does not know).
pub fn request_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    match api_support(api_key).and_then(|s| s.flexible_version) {
        Some(flex) if api_version >= flex => 2,
        _ => 1,
    }
}

/// The header version of the response to a request of `api_key` at
/// `api_version`: 1 for flexible versions, 0 otherwise, and always 0 for
/// ApiVersions.
pub fn response_header_version(api_key: ApiKey, api_version: i16) -> i16 {
    if api_key == ApiKey::API_VERSIONS {
        return 0;
    }
    match api_support(api_key).and_then(|s| s.flexible_version) {
        Some(flex) if api_version >= flex => 1,
        _ => 0,
    }
}

/// A request header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestHeader {
    /// The API of the request.
    pub request_api_key: ApiKey,
    /// The version of the request body.
    pub request_api_version: i16,
    /// Echoed in the response, to match the two.
    pub correlation_id: i32,
    /// The client id (header v1+).
    pub client_id: Option<String>,
    /// Unknown tagged fields (header v2).
    pub unknown_tagged_fields: Vec<RawTaggedField>,
}

impl RequestHeader {
    /// Appends the header at `header_version` (0-2).
    pub fn encode(&self, header_version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_i16(self.request_api_key.0);
        buf.put_i16(self.request_api_version);
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            // Never compact, even in header v2.
            p::write_nullable_string(buf, self.client_id.as_deref(), false)?;
        }
        if header_version >= 2 {
            p::write_tagged_fields(buf, &self.unknown_tagged_fields)?;
        }
        Ok(())
    }

    /// Reads a header of `header_version` (0-2).
    pub fn decode(buf: &mut Bytes, header_version: i16) -> Result<Self, DecodeError> {
        let total = buf.len();
        Self::decode_inner(buf, header_version)
            .map_err(|e| e.at_offset(total.saturating_sub(buf.len())))
    }

    fn decode_inner(buf: &mut Bytes, header_version: i16) -> Result<Self, DecodeError> {
        let request_api_key =
            ApiKey(p::read_i16(buf).map_err(|e| e.in_field("RequestHeader.request_api_key"))?);
        let request_api_version =
            p::read_i16(buf).map_err(|e| e.in_field("RequestHeader.request_api_version"))?;
        let correlation_id =
            p::read_i32(buf).map_err(|e| e.in_field("RequestHeader.correlation_id"))?;
        let client_id = if header_version >= 1 {
            p::read_nullable_string(buf, false)
                .map_err(|e| e.in_field("RequestHeader.client_id"))?
        } else {
            None
        };
        let unknown_tagged_fields = if header_version >= 2 {
            p::read_tagged_fields(buf).map_err(|e| e.in_field("RequestHeader.<tagged fields>"))?
        } else {
            Vec::new()
        };
        Ok(RequestHeader {
            request_api_key,
            request_api_version,
            correlation_id,
            client_id,
            unknown_tagged_fields,
        })
    }

    /// Reads a request header whose version follows from the API key and
    /// version at its start (what a broker does).
    pub fn decode_any(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let mut peek = buf.clone();
        let key = ApiKey(p::read_i16(&mut peek)?);
        let version = p::read_i16(&mut peek)?;
        Self::decode(buf, request_header_version(key, version))
    }
}

/// A response header.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseHeader {
    /// The correlation id of the request answered.
    pub correlation_id: i32,
    /// Unknown tagged fields (header v1).
    pub unknown_tagged_fields: Vec<RawTaggedField>,
}

impl ResponseHeader {
    /// Appends the header at `header_version` (0-1).
    pub fn encode(&self, header_version: i16, buf: &mut BytesMut) -> Result<(), EncodeError> {
        buf.put_i32(self.correlation_id);
        if header_version >= 1 {
            p::write_tagged_fields(buf, &self.unknown_tagged_fields)?;
        }
        Ok(())
    }

    /// Reads a header of `header_version` (0-1).
    pub fn decode(buf: &mut Bytes, header_version: i16) -> Result<Self, DecodeError> {
        let total = buf.len();
        let inner = |buf: &mut Bytes| -> Result<Self, DecodeError> {
            let correlation_id =
                p::read_i32(buf).map_err(|e| e.in_field("ResponseHeader.correlation_id"))?;
            let unknown_tagged_fields = if header_version >= 1 {
                p::read_tagged_fields(buf)
                    .map_err(|e| e.in_field("ResponseHeader.<tagged fields>"))?
            } else {
                Vec::new()
            };
            Ok(ResponseHeader {
                correlation_id,
                unknown_tagged_fields,
            })
        };
        inner(buf).map_err(|e| e.at_offset(total.saturating_sub(buf.len())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_versions_follow_flexible_versions() {
        assert_eq!(request_header_version(ApiKey::METADATA, 8), 1);
        assert_eq!(request_header_version(ApiKey::METADATA, 9), 2);
        assert_eq!(response_header_version(ApiKey::METADATA, 8), 0);
        assert_eq!(response_header_version(ApiKey::METADATA, 9), 1);
        assert_eq!(request_header_version(ApiKey::PRODUCE, 9), 2);
        assert_eq!(request_header_version(ApiKey::SASL_HANDSHAKE, 1), 1);
        assert_eq!(response_header_version(ApiKey::SASL_HANDSHAKE, 1), 0);
        // ApiVersions: flexible request header, but response header v0.
        assert_eq!(request_header_version(ApiKey::API_VERSIONS, 3), 2);
        assert_eq!(response_header_version(ApiKey::API_VERSIONS, 3), 0);
        assert_eq!(response_header_version(ApiKey::API_VERSIONS, 4), 0);
    }

    #[test]
    fn client_id_stays_a_classic_string_in_v2() {
        let h = RequestHeader {
            request_api_key: ApiKey::API_VERSIONS,
            request_api_version: 3,
            correlation_id: 7,
            client_id: Some("ab".into()),
            unknown_tagged_fields: Vec::new(),
        };
        let mut buf = BytesMut::new();
        h.encode(2, &mut buf).unwrap();
        assert_eq!(&buf[..], &[0, 18, 0, 3, 0, 0, 0, 7, 0, 2, b'a', b'b', 0]);
        assert_eq!(RequestHeader::decode_any(&mut buf.freeze()).unwrap(), h);
    }

    proptest! {
        #[test]
        fn headers_round_trip(
            key in 0i16..40, version in 0i16..20, corr in any::<i32>(),
            client in proptest::option::of("[a-z0-9-]{0,20}"), hv in 0i16..3,
        ) {
            let h = RequestHeader {
                request_api_key: ApiKey(key),
                request_api_version: version,
                correlation_id: corr,
                client_id: if hv >= 1 { client } else { None },
                unknown_tagged_fields: if hv >= 2 {
                    vec![RawTaggedField { tag: 5, data: Bytes::from_static(b"x") }]
                } else {
                    Vec::new()
                },
            };
            let mut buf = BytesMut::new();
            h.encode(hv, &mut buf).unwrap();
            let mut r = buf.freeze();
            prop_assert_eq!(RequestHeader::decode(&mut r, hv).unwrap(), h);
            prop_assert!(r.is_empty());

            let rh = ResponseHeader { correlation_id: corr, unknown_tagged_fields: Vec::new() };
            let mut buf = BytesMut::new();
            rh.encode(hv.min(1), &mut buf).unwrap();
            prop_assert_eq!(ResponseHeader::decode(&mut buf.freeze(), hv.min(1)).unwrap(), rh);
        }
    }
}
