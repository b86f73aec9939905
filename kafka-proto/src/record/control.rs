//! Control records: the single record of a control batch.
//!
//! Spec (implementation.html, 5.3.1.1): "The key of a control record
//! conforms to the following schema: version: int16 (current version is 0),
//! type: int16 (0 indicates an abort marker, 1 indicates a commit). The
//! schema for the value of a control record is dependent on the type."
//! Commit and abort markers carry an `EndTxnMarker` value: version int16
//! and coordinator epoch int32. Like Java, newer key and value versions are
//! read as version 0 (their leading fields are the same), negative versions
//! and short buffers are errors.

use crate::error::{DecodeError, DecodeErrorKind};

/// The type of a control record (the key's second field). Unknown types
/// still fit: they are KRaft's internal records or newer ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecordType(pub i16);

impl ControlRecordType {
    /// Transaction abort marker.
    pub const ABORT: ControlRecordType = ControlRecordType(0);
    /// Transaction commit marker.
    pub const COMMIT: ControlRecordType = ControlRecordType(1);
    /// KRaft leader change.
    pub const LEADER_CHANGE: ControlRecordType = ControlRecordType(2);
    /// KRaft snapshot header.
    pub const SNAPSHOT_HEADER: ControlRecordType = ControlRecordType(3);
    /// KRaft snapshot footer.
    pub const SNAPSHOT_FOOTER: ControlRecordType = ControlRecordType(4);
    /// KRaft version record.
    pub const KRAFT_VERSION: ControlRecordType = ControlRecordType(5);
    /// KRaft voters record.
    pub const KRAFT_VOTERS: ControlRecordType = ControlRecordType(6);

    /// The Java name of the type, if it is a known one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "ABORT",
            1 => "COMMIT",
            2 => "LEADER_CHANGE",
            3 => "SNAPSHOT_HEADER",
            4 => "SNAPSHOT_FOOTER",
            5 => "KRAFT_VERSION",
            6 => "KRAFT_VOTERS",
            _ => return None,
        })
    }

    /// Whether this is a transaction marker (commit or abort).
    pub fn is_transaction_marker(self) -> bool {
        self == Self::ABORT || self == Self::COMMIT
    }
}

/// The key of a control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecordKey {
    /// Key schema version (0 today).
    pub version: i16,
    /// The record's type.
    pub record_type: ControlRecordType,
}

impl ControlRecordKey {
    /// The key version written.
    pub const CURRENT_VERSION: i16 = 0;
    /// Encoded size of a version-0 key.
    pub const SIZE: usize = 4;

    /// A current-version key of the given type.
    pub fn new(record_type: ControlRecordType) -> Self {
        ControlRecordKey {
            version: Self::CURRENT_VERSION,
            record_type,
        }
    }

    /// Reads a key; `None` (a null key) is an error, as in Java.
    pub fn decode(key: Option<&[u8]>) -> Result<Self, DecodeError> {
        let key = key.ok_or(DecodeError::from(DecodeErrorKind::InvalidControlRecord(
            "null key",
        )))?;
        let (version, rest) = key.split_first_chunk::<2>().ok_or(DecodeError::from(
            DecodeErrorKind::InvalidControlRecord("key shorter than 4 bytes"),
        ))?;
        let (record_type, _) = rest.split_first_chunk::<2>().ok_or(DecodeError::from(
            DecodeErrorKind::InvalidControlRecord("key shorter than 4 bytes"),
        ))?;
        let version = i16::from_be_bytes(*version);
        if version < 0 {
            return Err(DecodeErrorKind::InvalidControlRecord("negative key version").into());
        }
        Ok(ControlRecordKey {
            version,
            record_type: ControlRecordType(i16::from_be_bytes(*record_type)),
        })
    }

    /// The 4 bytes of the key (version-0 layout).
    pub fn encode(&self) -> [u8; 4] {
        let [v0, v1] = self.version.to_be_bytes();
        let [t0, t1] = self.record_type.0.to_be_bytes();
        [v0, v1, t0, t1]
    }
}

/// The value of a commit or abort marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    /// Value schema version (0 today).
    pub version: i16,
    /// Epoch of the transaction coordinator that wrote the marker.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// The value version written.
    pub const CURRENT_VERSION: i16 = 0;
    /// Encoded size of a version-0 value.
    pub const SIZE: usize = 6;

    /// A current-version marker value.
    pub fn new(coordinator_epoch: i32) -> Self {
        EndTxnMarker {
            version: Self::CURRENT_VERSION,
            coordinator_epoch,
        }
    }

    /// Reads a marker value; bytes after the version-0 fields are ignored.
    pub fn decode(value: Option<&[u8]>) -> Result<Self, DecodeError> {
        let value = value.ok_or(DecodeError::from(DecodeErrorKind::InvalidControlRecord(
            "null marker value",
        )))?;
        let (version, rest) = value.split_first_chunk::<2>().ok_or(DecodeError::from(
            DecodeErrorKind::InvalidControlRecord("marker value shorter than 6 bytes"),
        ))?;
        let (epoch, _) = rest.split_first_chunk::<4>().ok_or(DecodeError::from(
            DecodeErrorKind::InvalidControlRecord("marker value shorter than 6 bytes"),
        ))?;
        let version = i16::from_be_bytes(*version);
        if version < 0 {
            return Err(DecodeErrorKind::InvalidControlRecord("negative marker version").into());
        }
        Ok(EndTxnMarker {
            version,
            coordinator_epoch: i32::from_be_bytes(*epoch),
        })
    }

    /// The 6 bytes of the value (version-0 layout).
    pub fn encode(&self) -> [u8; 6] {
        let mut out = [0u8; 6];
        let (version, epoch) = out.split_at_mut(2);
        version.copy_from_slice(&self.version.to_be_bytes());
        epoch.copy_from_slice(&self.coordinator_epoch.to_be_bytes());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_marker_round_trip() {
        for t in [
            ControlRecordType::ABORT,
            ControlRecordType::COMMIT,
            ControlRecordType(77),
        ] {
            let key = ControlRecordKey::new(t);
            assert_eq!(ControlRecordKey::decode(Some(&key.encode())), Ok(key));
        }
        let marker = EndTxnMarker::new(-7);
        assert_eq!(EndTxnMarker::decode(Some(&marker.encode())), Ok(marker));
        assert_eq!(marker.encode(), [0, 0, 0xff, 0xff, 0xff, 0xf9]);
    }

    #[test]
    fn newer_versions_read_as_version_0_and_bad_ones_fail() {
        let key = ControlRecordKey::decode(Some(&[0, 3, 0, 1, 9, 9])).unwrap();
        assert_eq!(key.version, 3);
        assert_eq!(key.record_type, ControlRecordType::COMMIT);
        assert!(ControlRecordKey::decode(Some(&[0, 0, 0])).is_err());
        assert!(ControlRecordKey::decode(Some(&[0xff, 0xff, 0, 0])).is_err());
        assert!(ControlRecordKey::decode(None).is_err());
        assert!(EndTxnMarker::decode(Some(&[0, 0, 0, 0, 0])).is_err());
        assert!(EndTxnMarker::decode(Some(&[0x80, 0, 0, 0, 0, 0])).is_err());
        assert_eq!(ControlRecordType::COMMIT.name(), Some("COMMIT"));
        assert!(ControlRecordType::ABORT.is_transaction_marker());
        assert!(!ControlRecordType::LEADER_CHANGE.is_transaction_marker());
    }
}
