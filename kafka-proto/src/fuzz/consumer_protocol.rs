//! The consumer protocol's embedded formats, read from group members'
//! bytes: subscriptions (JoinGroup), assignments (SyncGroup) and the
//! sticky assignors' user data.

use bytes::{Bytes, BytesMut};

use crate::api::VersionedData;
use crate::api::consumer_protocol::{
    ConsumerProtocolAssignment, ConsumerProtocolSubscription, StickyAssignorUserData,
};

/// Decodes `data` as a subscription, an assignment and sticky user data.
/// Decoding never panics, and what decodes re-encodes to the bytes it was
/// read from and decodes the same again.
///
/// # Panics
/// If a decoded value does not survive re-encoding: a codec bug.
pub fn consumer_protocol_decoders(data: &[u8]) {
    let data = Bytes::copy_from_slice(data);
    round_trip::<ConsumerProtocolSubscription>(&data);
    round_trip::<ConsumerProtocolAssignment>(&data);
    if let Ok(user_data) = StickyAssignorUserData::decode(&mut data.clone()) {
        // Java's four-byte form is written back in librdkafka's, so only
        // the value is compared.
        let mut out = BytesMut::new();
        let encoded = user_data.encode(&mut out);
        assert!(encoded.is_ok(), "sticky user data does not re-encode");
        let again = StickyAssignorUserData::decode(&mut out.freeze());
        assert_eq!(again, Ok(user_data), "sticky user data round trip");
    }
}

fn round_trip<T: VersionedData>(data: &Bytes) {
    let mut input = data.clone();
    let Ok((version, value)) = T::decode(&mut input) else {
        return;
    };
    let read = data.slice(..data.len() - input.len());
    let mut out = BytesMut::new();
    let encoded = value.encode(version, &mut out);
    assert!(encoded.is_ok(), "{} v{version} does not re-encode", T::NAME);
    assert_eq!(
        out,
        read,
        "{} v{version} re-encodes to other bytes",
        T::NAME
    );
    let again = T::decode(&mut out.freeze());
    assert_eq!(
        again,
        Ok((version, value)),
        "{} v{version} round trip",
        T::NAME
    );
}
