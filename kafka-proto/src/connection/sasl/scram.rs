//! `SCRAM-SHA-256` and `SCRAM-SHA-512` (RFC 5802, RFC 7677), as Kafka uses
//! them (KIP-84): no channel binding (`n,,`), no authzid, no SASLprep (the
//! password's UTF-8 bytes are used as they are, like Kafka's own client and
//! broker).
//!
//! ```text
//! client-first  n,,n=<saslname>,r=<client nonce>
//! server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
//! client-final  c=biws,r=<nonce>,p=<base64 ClientProof>
//! server-final  v=<base64 ServerSignature>   or   e=<error>
//! ```

use std::fmt;

use bytes::Bytes;
use hmac::Hmac;
use hmac::digest::{Digest, FixedOutput, KeyInit, Mac, OutputSizeUser};
use sha2::{Sha256, Sha512};

use super::{MAX_SERVER_MESSAGE, SaslErrorKind, SaslFault, Step, base64, truncate};

/// Fewest iterations accepted: RFC 7677 asks for at least 4096, and Kafka
/// refuses SCRAM credentials with fewer.
const MIN_ITERATIONS: u32 = 4096;

/// Most iterations accepted. Kafka refuses to store a SCRAM credential with
/// more than 16384 iterations (`ScramMechanism.maxIterations`), so a
/// server-first asking for more does not come from a real credential; the cap
/// keeps a hostile broker from making the client spend more than a few
/// milliseconds of PBKDF2.
const MAX_ITERATIONS: u32 = 16384;

/// The shortest client nonce accepted: 16 printable characters. A nonce from
/// [`SaslScram::nonce_from_random`] of 18 random bytes has 24.
const MIN_NONCE_LEN: usize = 16;

/// The longest client nonce accepted.
const MAX_NONCE_LEN: usize = 256;

/// The SCRAM hash function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScramMechanism {
    /// `SCRAM-SHA-256`.
    Sha256,
    /// `SCRAM-SHA-512`.
    Sha512,
}

impl ScramMechanism {
    /// The mechanism's name, as sent in SaslHandshake.
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// RFC 5802's `SaltedPassword := Hi(password, salt, iterations)`
    /// (PBKDF2 with this mechanism's HMAC; 32 or 64 bytes), as the login
    /// exchange computes it: what AlterUserScramCredentials stores for a
    /// user. `password` is used as its UTF-8 bytes (Kafka applies no
    /// SASLprep). Credential material: do not log it.
    pub fn salted_password(self, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => hi::<Hmac<Sha256>>(password.as_bytes(), salt, iterations),
            ScramMechanism::Sha512 => hi::<Hmac<Sha512>>(password.as_bytes(), salt, iterations),
        }
    }
}

/// `Hi(password, salt, i)`: PBKDF2 with the HMAC `M`, one output block.
fn hi<M>(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8>
where
    M: Mac + KeyInit + FixedOutput + Clone + Sync,
{
    let mut salted = vec![0u8; <M as OutputSizeUser>::output_size()];
    // PBKDF2 fails only for an HMAC that refuses the key's length, and
    // HMAC takes keys of any length.
    let _ = pbkdf2::pbkdf2::<M>(password, salt, iterations, &mut salted);
    salted
}

/// Credentials for `SCRAM-SHA-256` / `SCRAM-SHA-512`.
///
/// The client nonce is not part of the credentials: each authentication
/// needs a fresh one, given as
/// [`Config::sasl_nonce`](crate::connection::Config::sasl_nonce) (and to
/// [`Connection::start_reauthentication`](crate::connection::Connection::start_reauthentication)).
#[derive(Clone, PartialEq, Eq)]
pub struct SaslScram {
    /// The hash function.
    pub mechanism: ScramMechanism,
    /// User name (escaped on the wire: `=` as `=3D`, `,` as `=2C`).
    pub username: String,
    /// Password, used as its UTF-8 bytes (Kafka does not apply SASLprep).
    pub password: String,
}

impl SaslScram {
    /// Credentials for `mechanism` with `username` / `password`.
    pub fn new(
        mechanism: ScramMechanism,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        SaslScram {
            mechanism,
            username: username.into(),
            password: password.into(),
        }
    }

    /// A client nonce made from `random` bytes (from a CSPRNG; 18 or more
    /// bytes, 24+ characters): their base64, which is printable and has no
    /// comma, as RFC 5802 requires.
    pub fn nonce_from_random(random: &[u8]) -> String {
        base64::encode(random)
    }
}

impl fmt::Debug for SaslScram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslScram")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A SCRAM client exchange.
pub(super) struct ScramClient {
    mechanism: ScramMechanism,
    state: State,
}

enum State {
    /// client-first sent; the password is kept until server-first comes.
    AwaitServerFirst {
        password: String,
        client_first_bare: String,
        client_nonce: String,
    },
    /// client-final sent; the signature the server must show.
    AwaitServerFinal {
        server_signature: Vec<u8>,
    },
    Done,
}

impl ScramClient {
    /// Checks the user name and nonce; returns the client and client-first.
    pub(super) fn start(
        creds: &SaslScram,
        nonce: Option<&str>,
    ) -> Result<(Self, Bytes), SaslFault> {
        let nonce = nonce.ok_or_else(|| {
            SaslFault::config(format!(
                "{} needs a client nonce (Config::sasl_nonce)",
                creds.mechanism.name()
            ))
        })?;
        check_nonce(nonce)?;
        let client_first_bare = format!("n={},r={nonce}", sasl_name(&creds.username)?);
        let client_first = Bytes::from(format!("n,,{client_first_bare}"));
        let client = ScramClient {
            mechanism: creds.mechanism,
            state: State::AwaitServerFirst {
                password: creds.password.clone(),
                client_first_bare,
                client_nonce: nonce.to_owned(),
            },
        };
        Ok((client, client_first))
    }

    /// Where the exchange is, for Debug.
    pub(super) fn stage(&self) -> &'static str {
        match self.state {
            State::AwaitServerFirst { .. } => "scram: awaiting server-first",
            State::AwaitServerFinal { .. } => "scram: awaiting server-final",
            State::Done => "scram: done",
        }
    }

    /// The broker's server-first (answered with client-final) or
    /// server-final (checked).
    pub(super) fn step(&mut self, server: &[u8]) -> Result<Step, SaslFault> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::AwaitServerFirst {
                password,
                client_first_bare,
                client_nonce,
            } => {
                let server_first = server_text(server, "server-first")?;
                let parsed = parse_server_first(server_first, &client_nonce)?;
                let client_final_bare = format!("c=biws,r={}", parsed.nonce);
                let auth_message =
                    format!("{client_first_bare},{server_first},{client_final_bare}");
                let proof = match self.mechanism {
                    ScramMechanism::Sha256 => prove::<Hmac<Sha256>, Sha256>,
                    ScramMechanism::Sha512 => prove::<Hmac<Sha512>, Sha512>,
                }(
                    password.as_bytes(),
                    &parsed.salt,
                    parsed.iterations,
                    auth_message.as_bytes(),
                )?;
                let client_final = format!(
                    "{client_final_bare},p={}",
                    base64::encode(&proof.client_proof)
                );
                self.state = State::AwaitServerFinal {
                    server_signature: proof.server_signature,
                };
                Ok(Step::Send(Bytes::from(client_final)))
            }
            State::AwaitServerFinal { server_signature } => {
                let server_final = server_text(server, "server-final")?;
                check_server_final(server_final, &server_signature)?;
                Ok(Step::Done)
            }
            State::Done => Err(SaslFault::malformed(
                "SCRAM: a message from the broker after server-final",
            )),
        }
    }
}

/// `saslname`: the user name with `=` and `,` escaped (RFC 5802 5.1).
fn sasl_name(username: &str) -> Result<String, SaslFault> {
    if username.is_empty() || username.contains('\0') {
        return Err(SaslFault::config(
            "SCRAM user name is empty or holds a NUL character",
        ));
    }
    Ok(username.replace('=', "=3D").replace(',', "=2C"))
}

/// RFC 5802: `printable = %x21-2B / %x2D-7E` (printable ASCII but `,`).
fn is_printable(c: u8) -> bool {
    matches!(c, 0x21..=0x7e) && c != b','
}

fn check_nonce(nonce: &str) -> Result<(), SaslFault> {
    if !(MIN_NONCE_LEN..=MAX_NONCE_LEN).contains(&nonce.len()) || !nonce.bytes().all(is_printable) {
        return Err(SaslFault::config(format!(
            "SCRAM client nonce must be {MIN_NONCE_LEN} to {MAX_NONCE_LEN} printable ASCII \
             characters other than ','"
        )));
    }
    Ok(())
}

/// The broker's message as text, bounded.
fn server_text<'a>(server: &'a [u8], what: &str) -> Result<&'a str, SaslFault> {
    if server.len() > MAX_SERVER_MESSAGE {
        return Err(SaslFault::malformed(format!(
            "SCRAM {what} message of {} bytes (at most {MAX_SERVER_MESSAGE})",
            server.len()
        )));
    }
    std::str::from_utf8(server)
        .map_err(|_| SaslFault::malformed(format!("SCRAM {what} message is not UTF-8")))
}

#[derive(Debug)]
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

/// `[reserved-mext ","] nonce "," salt "," iteration-count ["," extensions]`
fn parse_server_first<'a>(
    message: &'a str,
    client_nonce: &str,
) -> Result<ServerFirst<'a>, SaslFault> {
    let mut attributes = message.split(',');
    if message.starts_with("m=") {
        // RFC 5802 5.1: a mandatory extension the client does not know
        // must fail the authentication.
        return Err(SaslFault::malformed(
            "SCRAM server-first asks for a mandatory extension (m=)",
        ));
    }
    let nonce = attribute(attributes.next(), "r", "server-first")?;
    let salt = attribute(attributes.next(), "s", "server-first")?;
    let iterations = attribute(attributes.next(), "i", "server-first")?;
    // What follows are extensions, which a client may ignore.

    if !nonce.starts_with(client_nonce) || nonce.len() == client_nonce.len() {
        return Err(SaslFault::malformed(
            "SCRAM server nonce does not extend the client nonce",
        ));
    }
    if !nonce.bytes().all(is_printable) {
        return Err(SaslFault::malformed(
            "SCRAM server nonce has a character that is not printable ASCII",
        ));
    }
    let salt = match base64::decode(salt.as_bytes()) {
        Some(s) if !s.is_empty() => s,
        _ => {
            return Err(SaslFault::malformed("SCRAM salt is empty or not base64"));
        }
    };
    // Digits only: `u32::from_str` would also take a leading `+`.
    let iterations = if !iterations.is_empty() && iterations.bytes().all(|b| b.is_ascii_digit()) {
        iterations.parse::<u32>().unwrap_or(u32::MAX)
    } else {
        return Err(SaslFault::malformed(
            "SCRAM iteration count is not a number",
        ));
    };
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(SaslFault::malformed(format!(
            "SCRAM iteration count {iterations} is outside {MIN_ITERATIONS}..={MAX_ITERATIONS}"
        )));
    }
    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

/// The value of `part` if it is `name=value`.
fn attribute<'a>(part: Option<&'a str>, name: &str, what: &str) -> Result<&'a str, SaslFault> {
    part.and_then(|p| p.strip_prefix(name))
        .and_then(|p| p.strip_prefix('='))
        .ok_or_else(|| {
            SaslFault::malformed(format!(
                "SCRAM {what} message lacks its {name}= attribute where expected"
            ))
        })
}

/// `(server-error / verifier) ["," extensions]`
fn check_server_final(message: &str, expected: &[u8]) -> Result<(), SaslFault> {
    let first = message.split(',').next().unwrap_or_default();
    if let Some(error) = first.strip_prefix("e=") {
        // The broker's reason, as short printable text.
        let error: String = truncate(error, 100)
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .collect();
        return Err(SaslFault::new(
            SaslErrorKind::AuthenticationFailed,
            format!("SCRAM server-final reports an error: {error}"),
        ));
    }
    let Some(verifier) = first.strip_prefix("v=") else {
        return Err(SaslFault::malformed(
            "SCRAM server-final message has neither v= nor e=",
        ));
    };
    let signature = base64::decode(verifier.as_bytes())
        .ok_or_else(|| SaslFault::malformed("SCRAM server signature is not base64"))?;
    if !constant_time_eq(&signature, expected) {
        return Err(SaslFault::new(
            SaslErrorKind::ServerSignatureMismatch,
            "SCRAM server signature does not match: the broker does not know the credential",
        ));
    }
    Ok(())
}

/// Equality whose time does not depend on where `a` and `b` differ (the
/// lengths are public).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the client proves and what it expects the server to prove.
struct Proof {
    client_proof: Vec<u8>,
    server_signature: Vec<u8>,
}

/// RFC 5802 section 3, for the HMAC `M` over the hash `D`:
///
/// ```text
/// SaltedPassword  := Hi(Normalize(password), salt, i)     (PBKDF2-HMAC)
/// ClientKey       := HMAC(SaltedPassword, "Client Key")
/// StoredKey       := H(ClientKey)
/// ClientSignature := HMAC(StoredKey, AuthMessage)
/// ClientProof     := ClientKey XOR ClientSignature
/// ServerKey       := HMAC(SaltedPassword, "Server Key")
/// ServerSignature := HMAC(ServerKey, AuthMessage)
/// ```
///
/// The keys live only in this function.
fn prove<M, D>(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    auth_message: &[u8],
) -> Result<Proof, SaslFault>
where
    M: Mac + KeyInit + FixedOutput + Clone + Sync,
    D: Digest,
{
    let hmac_failed = |_| {
        SaslFault::new(
            SaslErrorKind::AuthenticationFailed,
            "SCRAM: HMAC could not be keyed",
        )
    };
    let salted = hi::<M>(password, salt, iterations);
    let hmac = |key: &[u8], data: &[u8]| -> Result<Vec<u8>, SaslFault> {
        let mut mac = <M as KeyInit>::new_from_slice(key).map_err(hmac_failed)?;
        Mac::update(&mut mac, data);
        Ok(Mac::finalize(mac).into_bytes().to_vec())
    };
    let client_key = hmac(&salted, b"Client Key")?;
    let stored_key = D::digest(&client_key);
    let client_signature = hmac(stored_key.as_slice(), auth_message)?;
    let client_proof = client_key
        .iter()
        .zip(&client_signature)
        .map(|(k, s)| k ^ s)
        .collect();
    let server_key = hmac(&salted, b"Server Key")?;
    let server_signature = hmac(&server_key, auth_message)?;
    Ok(Proof {
        client_proof,
        server_signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::sasl::{Sasl, SaslExchange};

    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    fn client(mechanism: ScramMechanism, user: &str) -> (ScramClient, Bytes) {
        ScramClient::start(&SaslScram::new(mechanism, user, "pencil"), Some(NONCE)).unwrap()
    }

    fn fault(result: Result<Step, SaslFault>) -> SaslFault {
        result.unwrap_err()
    }

    /// RFC 7677 section 3.
    #[test]
    fn rfc7677_sha256_vector() {
        let (mut c, first) = client(ScramMechanism::Sha256, "user");
        assert_eq!(&first[..], b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let Step::Send(client_final) = c.step(SERVER_FIRST.as_bytes()).unwrap() else {
            panic!("no client-final");
        };
        assert_eq!(
            &client_final[..],
            &b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
               p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="[..]
        );
        let done = c.step(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        assert_eq!(done, Ok(Step::Done));
        // Nothing may follow server-final.
        assert_eq!(
            fault(c.step(b"v=x")).kind,
            SaslErrorKind::MalformedServerMessage
        );
    }

    /// The RFC 7677 inputs with SHA-512, computed independently with Python:
    ///
    /// ```python
    /// import base64, hashlib, hmac
    /// h = 'sha512'
    /// user, password = 'user', b'pencil'
    /// cnonce = 'rOprNGfwEbeRWgbNEkqO'
    /// snonce = cnonce + '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0'
    /// salt_b64, i = 'W22ZaJ0SNY7soEsUEjb6gQ==', 4096
    /// client_first_bare = f'n={user},r={cnonce}'
    /// server_first = f'r={snonce},s={salt_b64},i={i}'
    /// client_final_wo_proof = f'c=biws,r={snonce}'
    /// auth = f'{client_first_bare},{server_first},{client_final_wo_proof}'.encode()
    /// salted = hashlib.pbkdf2_hmac(h, password, base64.b64decode(salt_b64), i)
    /// ck = hmac.new(salted, b'Client Key', h).digest()
    /// sk = hashlib.new(h, ck).digest()
    /// cs = hmac.new(sk, auth, h).digest()
    /// proof = bytes(a ^ b for a, b in zip(ck, cs))
    /// ss = hmac.new(hmac.new(salted, b'Server Key', h).digest(), auth, h).digest()
    /// print(f'{client_final_wo_proof},p={base64.b64encode(proof).decode()}')
    /// print(f'v={base64.b64encode(ss).decode()}')
    /// ```
    ///
    /// (With `h = 'sha256'` it prints RFC 7677's vector.)
    #[test]
    fn sha512_vector() {
        let (mut c, _) = client(ScramMechanism::Sha512, "user");
        let Step::Send(client_final) = c.step(SERVER_FIRST.as_bytes()).unwrap() else {
            panic!("no client-final");
        };
        assert_eq!(
            std::str::from_utf8(&client_final).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=gMGXRcevScNtxZ6/8lQYpGtnsNAc3mGcmNomv+xnoOMw+3R2xNJdMNnzMlTN8PPC6wdp6dybEmDYXYTxwnYPJQ=="
        );
        let server_final = "v=ZQnYEgWQMFmmsM8aQMF0nDDCy/AgCzkwk8CmMZYcMg0vSVlKDanekLtifDSeVGT4\
                            +5ZxXnJq199RVG2rR7N7Zw==";
        assert_eq!(c.step(server_final.as_bytes()), Ok(Step::Done));
    }

    /// RFC 5802 section 5 (SHA-1), through the same generic computation.
    #[test]
    fn rfc5802_sha1_vector() {
        let client_first_bare = "n=user,r=fyko+d2lbbFgONRv9qkxdawL";
        let server_first = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
        let client_final_bare = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j";
        let parsed = parse_server_first(server_first, "fyko+d2lbbFgONRv9qkxdawL").unwrap();
        let auth = format!("{client_first_bare},{server_first},{client_final_bare}");
        let proof = prove::<Hmac<sha1::Sha1>, sha1::Sha1>(
            b"pencil",
            &parsed.salt,
            parsed.iterations,
            auth.as_bytes(),
        )
        .unwrap();
        assert_eq!(
            base64::encode(&proof.client_proof),
            "v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        assert_eq!(
            base64::encode(&proof.server_signature),
            "rmF9pqV8S7suAoZWja4dJRkFsKQ="
        );
    }

    /// PBKDF2's published vectors (RFC 7914 section 11 style, as
    /// `hashlib.pbkdf2_hmac` computes them): the salted password that
    /// AlterUserScramCredentials stores is the login's `Hi`.
    #[test]
    fn salted_password_is_pbkdf2() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&ScramMechanism::Sha256.salted_password("password", b"salt", 4096)),
            "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"
        );
        assert_eq!(
            hex(&ScramMechanism::Sha512.salted_password("password", b"salt", 1)),
            "867f70cf1ade02cff3752599a3a53dc4af34c7a669815ae5d513554e1c8cf252\
             c02d470a285a0501bad999bfe943c08f050235d7d68b1da55e63f73b60a57fce"
        );
    }

    #[test]
    fn user_names_are_escaped() {
        let (_, first) = client(ScramMechanism::Sha256, "a=b,c=,");
        assert_eq!(
            std::str::from_utf8(&first).unwrap(),
            "n,,n=a=3Db=2Cc=3D=2C,r=rOprNGfwEbeRWgbNEkqO"
        );
        for bad in ["", "nul\0"] {
            let e = ScramClient::start(
                &SaslScram::new(ScramMechanism::Sha256, bad, "pencil"),
                Some(NONCE),
            )
            .err()
            .unwrap();
            assert_eq!(e.kind, SaslErrorKind::InvalidConfig);
        }
    }

    #[test]
    fn the_nonce_is_required_and_checked() {
        let creds = SaslScram::new(ScramMechanism::Sha512, "user", "pencil");
        let long = "x".repeat(MAX_NONCE_LEN + 1);
        for nonce in [
            None,
            Some("short"),
            Some("has,a,comma,in,it!"),
            Some(&long[..]),
        ] {
            let e = ScramClient::start(&creds, nonce).err().unwrap();
            assert_eq!(e.kind, SaslErrorKind::InvalidConfig);
            assert!(!e.message.contains("pencil"));
        }
        let nonce = SaslScram::nonce_from_random(&[0xfb; 18]);
        assert_eq!(nonce.len(), 24);
        assert!(ScramClient::start(&creds, Some(&nonce)).is_ok());
    }

    #[test]
    fn a_server_nonce_not_extending_the_clients_is_refused() {
        for server_first in [
            // Another client nonce.
            "r=XOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            // The client's alone: nothing of the server's.
            "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            // A prefix of it.
            "r=rOprNG,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            // A control character in the server's part.
            "r=rOprNGfwEbeRWgbNEkqO\x07x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        ] {
            let (mut c, _) = client(ScramMechanism::Sha256, "user");
            let e = fault(c.step(server_first.as_bytes()));
            assert_eq!(
                e.kind,
                SaslErrorKind::MalformedServerMessage,
                "{server_first}"
            );
        }
    }

    #[test]
    fn malformed_server_first_is_refused() {
        let too_long = format!("{SERVER_FIRST},x={}", "y".repeat(MAX_SERVER_MESSAGE));
        for server_first in [
            // Bad base64 salt, an empty salt.
            "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7so*sUEjb6gQ==,i=4096",
            "r=rOprNGfwEbeRWgbNEkqOxyz,s=,i=4096",
            // Missing or misplaced attributes.
            "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==",
            "r=rOprNGfwEbeRWgbNEkqOxyz,i=4096,s=W22ZaJ0SNY7soEsUEjb6gQ==",
            "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOxyz,i=4096",
            "",
            // A mandatory extension.
            "m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            // Not numbers.
            "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=+4096",
            "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=",
            "r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4k",
            &too_long,
        ] {
            let (mut c, _) = client(ScramMechanism::Sha256, "user");
            let e = fault(c.step(server_first.as_bytes()));
            assert_eq!(
                e.kind,
                SaslErrorKind::MalformedServerMessage,
                "{server_first}"
            );
        }
        // Not UTF-8.
        let (mut c, _) = client(ScramMechanism::Sha256, "user");
        let e = fault(c.step(b"r=rOprNGfwEbeRWgbNEkqOxyz\xff,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"));
        assert_eq!(e.kind, SaslErrorKind::MalformedServerMessage);
        // Extensions after the iteration count are ignored.
        let (mut c, _) = client(ScramMechanism::Sha256, "user");
        let with_ext = format!("{SERVER_FIRST},x=whatever");
        assert!(matches!(c.step(with_ext.as_bytes()), Ok(Step::Send(_))));
    }

    #[test]
    fn iteration_counts_out_of_bounds_are_refused() {
        for (i, ok) in [
            ("4095", false),
            ("4096", true),
            ("16384", true),
            ("16385", false),
            ("100000000", false),
            ("99999999999999999999", false),
            ("0", false),
        ] {
            let (mut c, _) = client(ScramMechanism::Sha256, "user");
            let server_first = format!("r={NONCE}xyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i={i}");
            let result = c.step(server_first.as_bytes());
            if ok {
                assert!(matches!(result, Ok(Step::Send(_))), "{i}");
            } else {
                let e = fault(result);
                assert_eq!(e.kind, SaslErrorKind::MalformedServerMessage, "{i}");
                assert!(e.message.contains("iteration"), "{}", e.message);
            }
        }
    }

    fn at_server_final() -> ScramClient {
        let (mut c, _) = client(ScramMechanism::Sha256, "user");
        assert!(matches!(c.step(SERVER_FIRST.as_bytes()), Ok(Step::Send(_))));
        c
    }

    #[test]
    fn server_errors_are_authentication_failures() {
        let e = fault(at_server_final().step(b"e=invalid-proof"));
        assert_eq!(e.kind, SaslErrorKind::AuthenticationFailed);
        assert!(e.message.contains("invalid-proof"), "{}", e.message);
        // The broker's text is kept short and printable.
        let noisy = format!("e=bad\u{1b}[31m{}", "z".repeat(500));
        let e = fault(at_server_final().step(noisy.as_bytes()));
        assert!(!e.message.contains('\u{1b}'));
        assert!(e.message.len() < 200);
    }

    #[test]
    fn a_wrong_server_signature_is_refused() {
        for wrong in [
            // Not RFC 7677's signature.
            &b"v=6rriTRBi23WpRR/wtup+mMhK1W1e8h4cOgG/hMmP5o4="[..],
            // One character off.
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl96G4=",
            // Its first 24 bytes only.
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5n",
            b"v=",
        ] {
            let e = fault(at_server_final().step(wrong));
            assert_eq!(e.kind, SaslErrorKind::ServerSignatureMismatch);
        }
        // Not base64, no verifier at all.
        for bad in [
            &b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4"[..],
            b"",
            b"x=1",
        ] {
            let e = fault(at_server_final().step(bad));
            assert_eq!(e.kind, SaslErrorKind::MalformedServerMessage);
        }
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn debug_shows_no_password_or_keys() {
        let sasl = Sasl::scram_sha256("user", "pencil");
        let shown = format!("{sasl:?}");
        assert!(!shown.contains("pencil"), "{shown}");
        assert!(shown.contains("user"));
        let mut exchange = SaslExchange::start(&sasl, Some(NONCE)).unwrap();
        let _ = exchange.take_first();
        exchange.step(SERVER_FIRST.as_bytes()).unwrap();
        let shown = format!("{exchange:?}");
        assert!(!shown.contains("pencil"), "{shown}");
        // Nor the server signature the broker must show (as base64 or bytes).
        assert!(!shown.contains("6rriTRBi"), "{shown}");
        assert!(!shown.contains("234, 186"), "{shown}");
    }
}
