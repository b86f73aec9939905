//! SCRAM credentials (DescribeUserScramCredentials,
//! AlterUserScramCredentials): which users can log in with SCRAM-SHA-256
//! or SCRAM-SHA-512, and creating, replacing or deleting their
//! credentials, as `kafka-configs --entity-type users` does.
//!
//! The password never leaves the client: it is salted and hashed here
//! (RFC 5802's `SaltedPassword`, computed by the same code as the SCRAM
//! login) with a fresh random salt, and only that is sent. Neither the
//! password nor the salted password shows in `Debug` output or errors.

use std::collections::BTreeMap;
use std::fmt;

use bytes::Bytes;
use kafka_proto::api::user_scram_credentials::{
    SaltedPassword, ScramCredentialDeletion, ScramCredentialUpsertion, UserName,
};
use kafka_proto::api::{AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest};
use kafka_proto::connection::ScramMechanism;

use crate::kafka::admin::Admin;
use crate::kafka::error::{Error, Result};

/// The length of the random salt of a new credential, in bytes.
const SALT_LEN: usize = 32;

/// One mechanism a user has a credential for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScramCredentialInfo {
    /// The mechanism, or `None` for one this client does not know.
    pub mechanism: Option<ScramMechanism>,
    /// PBKDF2 iterations of the credential.
    pub iterations: i32,
}

/// One change of [`Admin::alter_user_scram_credentials`] (Java's
/// `UserScramCredentialUpsertion` and `UserScramCredentialDeletion`).
#[derive(Clone, PartialEq, Eq)]
pub enum UserScramCredentialAlteration {
    /// Creates or replaces `user`'s credential for `mechanism`.
    Upsert {
        /// The user name.
        user: String,
        /// The mechanism.
        mechanism: ScramMechanism,
        /// PBKDF2 iterations: Kafka takes 4096 to 16384.
        iterations: u32,
        /// The password (never shown by `Debug`).
        password: String,
    },
    /// Deletes `user`'s credential for `mechanism`.
    Delete {
        /// The user name.
        user: String,
        /// The mechanism.
        mechanism: ScramMechanism,
    },
}

impl UserScramCredentialAlteration {
    /// Creates or replaces `user`'s `mechanism` credential with
    /// `password`, salted with `iterations` iterations.
    pub fn upsert(
        user: impl Into<String>,
        mechanism: ScramMechanism,
        iterations: u32,
        password: impl Into<String>,
    ) -> Self {
        UserScramCredentialAlteration::Upsert {
            user: user.into(),
            mechanism,
            iterations,
            password: password.into(),
        }
    }

    /// Deletes `user`'s `mechanism` credential.
    pub fn delete(user: impl Into<String>, mechanism: ScramMechanism) -> Self {
        UserScramCredentialAlteration::Delete {
            user: user.into(),
            mechanism,
        }
    }

    /// The user it changes.
    pub fn user(&self) -> &str {
        match self {
            UserScramCredentialAlteration::Upsert { user, .. }
            | UserScramCredentialAlteration::Delete { user, .. } => user,
        }
    }
}

impl fmt::Debug for UserScramCredentialAlteration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserScramCredentialAlteration::Upsert {
                user,
                mechanism,
                iterations,
                password: _,
            } => f
                .debug_struct("Upsert")
                .field("user", user)
                .field("mechanism", mechanism)
                .field("iterations", iterations)
                .field("password", &"<redacted>")
                .finish(),
            UserScramCredentialAlteration::Delete { user, mechanism } => f
                .debug_struct("Delete")
                .field("user", user)
                .field("mechanism", mechanism)
                .finish(),
        }
    }
}

/// Kafka's code of a SCRAM mechanism (`ScramMechanism.type()`).
fn mechanism_code(mechanism: ScramMechanism) -> i8 {
    match mechanism {
        ScramMechanism::Sha256 => 1,
        ScramMechanism::Sha512 => 2,
        // A mechanism added to kafka-proto later: 0 is Kafka's UNKNOWN,
        // which the broker refuses.
        #[allow(unreachable_patterns)]
        _ => 0,
    }
}

fn mechanism_of(code: i8) -> Option<ScramMechanism> {
    match code {
        1 => Some(ScramMechanism::Sha256),
        2 => Some(ScramMechanism::Sha512),
        _ => None,
    }
}

impl Admin {
    /// The SCRAM credentials of `users`, or of every user that has one
    /// when `users` is empty. A named user without credentials fails with
    /// `RESOURCE_NOT_FOUND`, naming the user.
    ///
    /// Sent to any broker, which forwards it to the KRaft controller.
    pub async fn describe_user_scram_credentials(
        &self,
        users: &[&str],
    ) -> Result<BTreeMap<String, Vec<ScramCredentialInfo>>> {
        let request = DescribeUserScramCredentialsRequest {
            users: (!users.is_empty()).then(|| {
                users
                    .iter()
                    .map(|u| UserName {
                        name: (*u).to_owned(),
                        ..Default::default()
                    })
                    .collect()
            }),
            ..Default::default()
        };
        let response = self
            .controller_call(&request, "DescribeUserScramCredentials", |r| {
                (r.error_code, r.error_message.as_deref())
            })
            .await?;
        let mut out = BTreeMap::new();
        for r in response.results {
            if !r.error_code.is_ok() {
                return Err(Error::broker(r.error_code, format!("user {}", r.user)));
            }
            let infos = r
                .credential_infos
                .iter()
                .map(|c| ScramCredentialInfo {
                    mechanism: mechanism_of(c.mechanism),
                    iterations: c.iterations,
                })
                .collect();
            out.insert(r.user, infos);
        }
        Ok(out)
    }

    /// Creates, replaces and deletes SCRAM credentials. Each user's result
    /// is `Ok`, or the broker's error: `UNACCEPTABLE_CREDENTIAL` (too few
    /// or too many iterations, an empty user name),
    /// `RESOURCE_NOT_FOUND` (deleting a credential that does not exist),
    /// `DUPLICATE_RESOURCE` (two changes of one user and mechanism), ...
    /// Errors name the user, never the password.
    ///
    /// Sent to any broker, which forwards it to the KRaft controller.
    pub async fn alter_user_scram_credentials(
        &self,
        alterations: &[UserScramCredentialAlteration],
    ) -> Result<BTreeMap<String, Result<()>>> {
        let mut request = AlterUserScramCredentialsRequest::default();
        for alteration in alterations {
            match alteration {
                UserScramCredentialAlteration::Upsert {
                    user,
                    mechanism,
                    iterations,
                    password,
                } => {
                    let wire_iterations = i32::try_from(*iterations).map_err(|_| {
                        Error::Config(format!(
                            "SCRAM iterations for user {user}: {iterations} is out of range"
                        ))
                    })?;
                    let mut salt = vec![0u8; SALT_LEN];
                    getrandom::fill(&mut salt).map_err(|e| {
                        Error::Config(format!("no random salt for a SCRAM credential: {e}"))
                    })?;
                    let salted = mechanism.salted_password(password, &salt, *iterations);
                    request.upsertions.push(ScramCredentialUpsertion {
                        name: user.clone(),
                        mechanism: mechanism_code(*mechanism),
                        iterations: wire_iterations,
                        salt: Bytes::from(salt),
                        salted_password: SaltedPassword(Bytes::from(salted)),
                        ..Default::default()
                    });
                }
                UserScramCredentialAlteration::Delete { user, mechanism } => {
                    request.deletions.push(ScramCredentialDeletion {
                        name: user.clone(),
                        mechanism: mechanism_code(*mechanism),
                        ..Default::default()
                    });
                }
            }
        }
        let response = self
            .controller_call(&request, "AlterUserScramCredentials", |_| {
                (kafka_proto::ErrorCode::NONE, None)
            })
            .await?;
        let mut out = BTreeMap::new();
        for r in response.results {
            let result = if r.error_code.is_ok() {
                Ok(())
            } else {
                let context = match r.error_message.as_deref().map(str::trim) {
                    Some(m) if !m.is_empty() => format!("user {}: {m}", r.user),
                    _ => format!("user {}", r.user),
                };
                Err(Error::broker(r.error_code, context))
            };
            out.insert(r.user, result);
        }
        Ok(out)
    }
}
