//! PKCS#12 stores (`.p12`, `.pfx`; Java's `ssl.keystore.type=PKCS12`):
//! a client identity (key and chain) or a trust store (certificates),
//! read with the pure-Rust `p12-keystore` (PBES2 with AES, and the legacy
//! PBES1 ciphers of older files). Errors name the file and the cause,
//! never the password or the file's bytes.

use std::path::Path;

use p12_keystore::error::Error as P12Error;
use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::TlsError;

/// Opens a store; `what` names it in errors.
fn open(
    path: &Path,
    password: &str,
    what: &'static str,
    policy: Pkcs12ImportPolicy,
) -> Result<KeyStore, TlsError> {
    let file_error = |reason: String| TlsError::File {
        what,
        path: path.to_owned(),
        reason,
    };
    let data = std::fs::read(path).map_err(|e| file_error(e.to_string()))?;
    KeyStore::from_pkcs12(&data, password, policy).map_err(|e| file_error(reason(&e)))
}

/// Why a store could not be read, in words that never hold the password.
fn reason(e: &P12Error) -> String {
    match e {
        P12Error::MacError(_) => "wrong password, or the file is damaged".into(),
        P12Error::DerError(_) | P12Error::InvalidVersion | P12Error::InvalidData => {
            "not a PKCS#12 file".into()
        }
        P12Error::UnsupportedEncryptionScheme | P12Error::UnsupportedMacAlgorithm => {
            format!("PKCS#12 store: {e}")
        }
        other => format!("PKCS#12 store: {other}"),
    }
}

/// The client certificate chain (leaf first) and its key from a PKCS#12
/// key store that holds one key.
pub(super) fn identity(
    path: &Path,
    password: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    let what = "client key store";
    let store = open(path, password, what, Pkcs12ImportPolicy::Strict)?;
    let Some((_, chain)) = store.private_key_chain() else {
        return Err(TlsError::File {
            what,
            path: path.to_owned(),
            reason: "no private key with its certificate in it".into(),
        });
    };
    let certs = chain
        .certs()
        .iter()
        .map(|c| CertificateDer::from(c.as_der().to_vec()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
    Ok((certs, key))
}

/// Every certificate in a PKCS#12 trust store.
pub(super) fn certificates(
    path: &Path,
    password: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    // Raw: a trust store's certificates stand alone (Java marks them
    // trusted, openssl's `-nokeys` exports do not).
    let store = open(path, password, "CA store", Pkcs12ImportPolicy::Raw)?;
    Ok(store
        .entries()
        .filter_map(|(_, entry)| match entry {
            KeyStoreEntry::Certificate(c) => Some(CertificateDer::from(c.as_der().to_vec())),
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p12_keystore::{Certificate, PrivateKey, PrivateKeyChain};

    /// A self-signed certificate and its PKCS#8 key (P-256), DER; made once
    /// with openssl for this test, nothing secret.
    const CERT_B64: &str = "MIIBfDCCASOgAwIBAgIUPlIVfzCLKCMogwnn5pqG5L2dYlwwCgYIKoZIzj0EAwIwFDESMBAGA1UEAwwJbXEgdGVzdGVyMB4XDTI2MTIwNzEwMTgxNVoXDTM2MTIwNDEwMTgxNVowFDESMBAGA1UEAwwJbXEgdGVzdGVyMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqVjWHIXrLJCjByqMn+qEjzrWA4F1GnlRx3fJIeCHzyYoU4qSQab3PWGY3BGPyxMfbaI13iklExmmaZqtZhor5KNTMFEwHQYDVR0OBBYEFPpIo9r+cu2rxAujX4VLCL2BlvAFMB8GA1UdIwQYMBaAFPpIo9r+cu2rxAujX4VLCL2BlvAFMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDRwAwRAIgVYN6IZsyPG10VzY948kdW5ufpZf8Oy4UjAKn9RFz4TYCIH9MUsULi9dNV6qosX46rqPCqVU/ryYEtz3pN8KvFojR";
    const KEY_B64: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZiUugJspYQOieg+SK1IqDXVzQwYAg7Q8p0/LeGmc+V+hRANCAASpWNYchesskKMHKoyf6oSPOtYDgXUaeVHHd8kh4IfPJihTipJBpvc9YZjcEY/LEx9tojXeKSUTGaZpmq1mGivk";

    fn b64(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let mut acc = 0u32;
        let mut bits = 0;
        for c in text.bytes().filter(|c| *c != b'=') {
            let v = match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                _ => 63,
            };
            acc = (acc << 6) | u32::from(v);
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        out
    }

    fn write_store(dir: &Path, with_key: bool, password: &str) -> std::path::PathBuf {
        let cert = Certificate::from_der(&b64(CERT_B64)).unwrap();
        let mut store = KeyStore::new();
        if with_key {
            let key = PrivateKey::from_der(&b64(KEY_B64)).unwrap();
            let chain = PrivateKeyChain::new(vec![1u8, 2, 3], key, [cert]);
            store.add_entry("me", KeyStoreEntry::PrivateKeyChain(chain));
        } else {
            store.add_entry("ca", KeyStoreEntry::Certificate(cert));
        }
        let path = dir.join(if with_key { "id.p12" } else { "trust.p12" });
        std::fs::write(&path, store.writer(password).write().unwrap()).unwrap();
        path
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("mq-p12-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_identity_and_a_trust_store_are_read_back() {
        let dir = temp_dir("read");
        let id = write_store(&dir, true, "pw-1");
        let (certs, key) = identity(&id, "pw-1").unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(certs[0].as_ref(), &b64(CERT_B64)[..]);
        assert_eq!(key.secret_der(), &b64(KEY_B64)[..]);

        let trust = write_store(&dir, false, "pw-2");
        let roots = certificates(&trust, "pw-2").unwrap();
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].as_ref(), &b64(CERT_B64)[..]);
        // A trust store holds no identity.
        let e = identity(&trust, "pw-2").unwrap_err();
        assert!(e.to_string().contains("no private key"), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_wrong_password_or_a_wrong_file_is_named_without_the_password() {
        let dir = temp_dir("wrong");
        let id = write_store(&dir, true, "right-password");
        let e = identity(&id, "hunter2-wrong").unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(text.contains("wrong password"), "{text}");
        assert!(
            !text.contains("hunter2") && !text.contains("right-password"),
            "{text}"
        );
        assert!(text.contains("id.p12"), "{text}");

        let pem = dir.join("not.p12");
        std::fs::write(&pem, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let e = certificates(&pem, "x").unwrap_err();
        assert!(e.to_string().contains("not a PKCS#12 file"), "{e}");
        let e = identity(&dir.join("missing.p12"), "x").unwrap_err();
        assert!(matches!(e, TlsError::File { .. }), "{e:?}");
        std::fs::remove_dir_all(dir).ok();
    }
}
