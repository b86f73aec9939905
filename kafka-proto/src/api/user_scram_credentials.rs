//! DescribeUserScramCredentials (key 50) and AlterUserScramCredentials
//! (key 51): which SCRAM mechanisms users have credentials for, and
//! creating, replacing or deleting those credentials.
//!
//! The client sends the salted password (RFC 5802's `SaltedPassword`),
//! never the password; it is as good as the password for logging in, so
//! it is held in a [`SaltedPassword`] whose `Debug` does not show it.

use std::fmt;

use bytes::{Bytes, BytesMut};

use crate::api::dsl::{Ver, Wire};
use crate::error::{DecodeError, EncodeError, ErrorCode};
use crate::schema::TypeMeta;

kafka_struct! {
    /// Describes users' SCRAM credentials.
    pub struct DescribeUserScramCredentialsRequest {
        /// The users, or `None` (or empty) for all.
        users: Option<Vec<UserName>> = "0+" nullable "0+";
    }
}

kafka_struct! {
    /// A user name.
    pub struct UserName {
        /// The name.
        name: String = "0+";
    }
}

kafka_struct! {
    /// The users' credentials.
    pub struct DescribeUserScramCredentialsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// A request-wide error (CLUSTER_AUTHORIZATION_FAILED, ...).
        error_code: ErrorCode = "0+";
        /// The broker's message.
        error_message: Option<String> = "0+" nullable "0+";
        /// One per user.
        results: Vec<DescribeUserScramCredentialsResult> = "0+";
    }
}

kafka_struct! {
    /// One user's credentials.
    pub struct DescribeUserScramCredentialsResult {
        /// User name.
        user: String = "0+";
        /// NONE, or RESOURCE_NOT_FOUND for a user without credentials, ...
        error_code: ErrorCode = "0+";
        /// The broker's message.
        error_message: Option<String> = "0+" nullable "0+";
        /// One per mechanism.
        credential_infos: Vec<CredentialInfo> = "0+";
    }
}

kafka_struct! {
    /// One mechanism's credential.
    pub struct CredentialInfo {
        /// 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
        mechanism: i8 = "0+";
        /// PBKDF2 iterations.
        iterations: i32 = "0+";
    }
}

kafka_api!(DescribeUserScramCredentialsRequest => DescribeUserScramCredentialsResponse, key DESCRIBE_USER_SCRAM_CREDENTIALS, versions 0..=0, flexible Some(0));

kafka_struct! {
    /// Deletes and upserts SCRAM credentials.
    pub struct AlterUserScramCredentialsRequest {
        /// Credentials to delete.
        deletions: Vec<ScramCredentialDeletion> = "0+";
        /// Credentials to create or replace.
        upsertions: Vec<ScramCredentialUpsertion> = "0+";
    }
}

kafka_struct! {
    /// One credential to delete.
    pub struct ScramCredentialDeletion {
        /// User name.
        name: String = "0+";
        /// 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
        mechanism: i8 = "0+";
    }
}

kafka_struct! {
    /// One credential to create or replace.
    pub struct ScramCredentialUpsertion {
        /// User name.
        name: String = "0+";
        /// 1 SCRAM-SHA-256, 2 SCRAM-SHA-512.
        mechanism: i8 = "0+";
        /// PBKDF2 iterations (Kafka takes 4096 to 16384).
        iterations: i32 = "0+";
        /// The random salt.
        salt: Bytes = "0+";
        /// `Hi(password, salt, iterations)`.
        salted_password: SaltedPassword = "0+";
    }
}

kafka_struct! {
    /// The results.
    pub struct AlterUserScramCredentialsResponse {
        /// Throttle duration, in milliseconds.
        throttle_time_ms: i32 = "0+";
        /// One per user.
        results: Vec<AlterUserScramCredentialsResult> = "0+";
    }
}

kafka_struct! {
    /// One user's result.
    pub struct AlterUserScramCredentialsResult {
        /// User name.
        user: String = "0+";
        /// NONE, or why not (UNACCEPTABLE_CREDENTIAL, RESOURCE_NOT_FOUND
        /// for deleting a credential that does not exist, ...).
        error_code: ErrorCode = "0+";
        /// The broker's message.
        error_message: Option<String> = "0+" nullable "0+";
    }
}

kafka_api!(AlterUserScramCredentialsRequest => AlterUserScramCredentialsResponse, key ALTER_USER_SCRAM_CREDENTIALS, versions 0..=0, flexible Some(0));

/// A SCRAM `SaltedPassword`: credential material, shown by `Debug` only as
/// its length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SaltedPassword(pub Bytes);

impl fmt::Debug for SaltedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SaltedPassword(<{} bytes redacted>)", self.0.len())
    }
}

impl Wire for SaltedPassword {
    fn write(&self, buf: &mut BytesMut, v: Ver) -> Result<(), EncodeError> {
        self.0.write(buf, v)
    }
    fn read(buf: &mut Bytes, v: Ver) -> Result<Self, DecodeError> {
        Bytes::read(buf, v).map(SaltedPassword)
    }
    fn type_meta() -> TypeMeta {
        TypeMeta::Bytes
    }
    #[cfg(test)]
    fn generate(g: &mut crate::api::dsl::testgen::Gen, _v: Ver) -> Self {
        SaltedPassword(g.bytes())
    }
}
plain_field!(SaltedPassword);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_salted_password() {
        let upsert = ScramCredentialUpsertion {
            name: "bob".into(),
            mechanism: 2,
            iterations: 4096,
            salt: Bytes::from_static(b"salt"),
            salted_password: SaltedPassword(Bytes::from_static(b"\x01\x02sekrit-bytes")),
            ..Default::default()
        };
        let shown = format!("{upsert:?}");
        assert!(
            shown.contains("bob") && shown.contains("14 bytes redacted"),
            "{shown}"
        );
        assert!(
            !shown.contains("sekrit") && !shown.contains("115"),
            "{shown}"
        );
    }
}
