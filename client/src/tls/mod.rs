//! TLS for both clients, on rustls with the graviola crypto provider (pure
//! Rust and assembly, no C compiler; x86-64 and aarch64).
//!
//! A [`TlsConfig`] says whom to trust and who the client is:
//! - roots: the system's trust store by default; a CA file (PEM) instead
//!   ([`TlsConfig::ca_file`]), as RabbitMQ's `cacertfile` and Kafka's
//!   `ssl.truststore.location` do; or the bundled webpki roots
//!   (`TlsConfig::webpki_roots`, feature `webpki-roots`);
//! - a client certificate and key, PEM ([`TlsConfig::client_cert_files`]),
//!   or a PKCS#12 key store (`TlsConfig::client_pkcs12_file`, feature
//!   `pkcs12`; `TlsConfig::ca_pkcs12_file` for a PKCS#12 trust store),
//!   for RabbitMQ's EXTERNAL login or Kafka's `ssl.client.auth`;
//! - the name the server's certificate must carry, which is also the SNI
//!   name: the host dialled, unless [`TlsConfig::server_name`] says another.
//!
//! Hostname verification and SNI are on. [`TlsConfig::danger_accept_invalid_certs`]
//! turns verification off, for development only: every connect then logs a
//! warning.
//!
//! Handshake failures are [`TlsError`]s that name the cause: unknown
//! issuer, hostname mismatch, expired certificate, refused by the server.
//! No private key or password ever reaches `Debug`, a log or an error.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore};
use tokio::net::TcpStream;

#[cfg(feature = "pkcs12")]
mod pkcs12;
mod session;
pub(crate) use session::Session;

/// Why TLS could not be set up or the handshake failed. Messages never
/// contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A certificate or key file could not be read or holds no usable PEM.
    #[error("cannot use the {what} {path}: {reason}")]
    File {
        /// `CA file`, `client certificate` or `client key`.
        what: &'static str,
        /// The path given.
        path: PathBuf,
        /// What went wrong (never the file's contents).
        reason: String,
    },
    /// No trust root could be loaded (an empty CA file, or no system store).
    #[error("no trusted root certificate: {0}")]
    NoRoots(String),
    /// The name to verify is neither a DNS name nor an IP address.
    #[error("{0:?} is not a valid server name for TLS")]
    ServerName(String),
    /// The client certificate and key do not go together, or the key is of
    /// a kind the provider cannot sign with.
    #[error("the client certificate or key is unusable: {0}")]
    ClientIdentity(String),
    /// The server's certificate chains to no trusted root.
    #[error(
        "the server's certificate is signed by an unknown issuer (is its CA in the trust store?)"
    )]
    UnknownIssuer,
    /// The server's certificate is not valid for the name dialled.
    #[error("the server's certificate is not valid for the name {name:?}")]
    HostnameMismatch {
        /// The name the certificate was checked against.
        name: String,
    },
    /// The server's certificate has expired (or is not valid yet).
    #[error("the server's certificate has expired or is not yet valid")]
    Expired,
    /// The server's certificate was refused for another reason.
    #[error("the server's certificate is invalid: {0}")]
    BadCertificate(String),
    /// The server ended the handshake with an alert: it refused us (often
    /// a missing or untrusted client certificate).
    #[error("the server refused the TLS handshake: {0}")]
    HandshakeRefused(String),
    /// The handshake failed otherwise (the peer does not speak TLS, a
    /// protocol error, the connection dropped).
    #[error("the TLS handshake failed: {0}")]
    Handshake(String),
}

impl TlsError {
    /// Whether trying again may help: only a handshake cut short; a
    /// certificate that does not verify stays so.
    pub fn is_retriable(&self) -> bool {
        matches!(self, TlsError::Handshake(_))
    }
}

/// Where trust comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// The operating system's store.
    System,
    /// The webpki roots compiled in.
    #[cfg(feature = "webpki-roots")]
    WebPki,
    /// Only the CA files and PEM given.
    Custom,
}

/// A client certificate chain and its key, PEM.
#[derive(Clone, PartialEq, Eq)]
enum Identity {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    Pem {
        cert: Vec<u8>,
        key: Vec<u8>,
    },
    /// A PKCS#12 key store and its password.
    #[cfg(feature = "pkcs12")]
    Pkcs12 {
        path: PathBuf,
        password: String,
    },
}

/// TLS settings for broker connections. Cheap to clone; the rustls
/// configuration is built once, on the first connect.
///
/// ```no_run
/// # fn f() {
/// use mq_client::tls::TlsConfig;
/// let tls = TlsConfig::new()
///     .ca_file("/etc/mq/ca.pem")
///     .client_cert_files("/etc/mq/client.pem", "/etc/mq/client.key");
/// # }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    roots: Roots,
    ca_files: Vec<PathBuf>,
    ca_pems: Vec<Vec<u8>>,
    /// PKCS#12 trust stores and their passwords.
    #[cfg(feature = "pkcs12")]
    ca_pkcs12: Vec<(PathBuf, String)>,
    identity: Option<Identity>,
    server_name: Option<String>,
    sni: bool,
    accept_invalid_certs: bool,
    built: Arc<OnceLock<Result<Arc<rustls::ClientConfig>, TlsError>>>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig::new()
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.roots == other.roots
            && self.ca_files == other.ca_files
            && self.ca_pems == other.ca_pems
            && self.pkcs12_trust_eq(other)
            && self.identity == other.identity
            && self.server_name == other.server_name
            && self.sni == other.sni
            && self.accept_invalid_certs == other.accept_invalid_certs
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Paths are shown; key bytes never are.
        let identity = match &self.identity {
            None => "none".to_owned(),
            Some(Identity::Files { cert, .. }) => format!("{} (key: <redacted>)", cert.display()),
            Some(Identity::Pem { .. }) => "PEM (key: <redacted>)".to_owned(),
            #[cfg(feature = "pkcs12")]
            Some(Identity::Pkcs12 { path, .. }) => {
                format!("{} (PKCS#12, password: <redacted>)", path.display())
            }
        };
        #[cfg(feature = "pkcs12")]
        let ca_pkcs12: Vec<&Path> = self.ca_pkcs12.iter().map(|(p, _)| p.as_path()).collect();
        #[cfg(not(feature = "pkcs12"))]
        let ca_pkcs12: Vec<&Path> = Vec::new();
        f.debug_struct("TlsConfig")
            .field("roots", &self.roots)
            .field("ca_files", &self.ca_files)
            .field("ca_pems", &self.ca_pems.len())
            .field("ca_pkcs12", &ca_pkcs12)
            .field("client_identity", &identity)
            .field("server_name", &self.server_name)
            .field("sni", &self.sni)
            .field("accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

impl TlsConfig {
    /// Trust the system's store, no client certificate, verify the host
    /// name dialled.
    pub fn new() -> Self {
        TlsConfig {
            roots: Roots::System,
            ca_files: Vec::new(),
            ca_pems: Vec::new(),
            #[cfg(feature = "pkcs12")]
            ca_pkcs12: Vec::new(),
            identity: None,
            server_name: None,
            sni: true,
            accept_invalid_certs: false,
            built: Arc::default(),
        }
    }

    fn changed(mut self) -> Self {
        self.built = Arc::default();
        self
    }

    #[cfg(feature = "pkcs12")]
    fn pkcs12_trust_eq(&self, other: &Self) -> bool {
        self.ca_pkcs12 == other.ca_pkcs12
    }

    #[cfg(not(feature = "pkcs12"))]
    fn pkcs12_trust_eq(&self, _other: &Self) -> bool {
        true
    }

    /// Trusts the certificates in this PKCS#12 trust store (Java's
    /// `ssl.truststore.type=PKCS12`) instead of the system's store, as
    /// [`ca_file`](Self::ca_file) does for PEM.
    #[cfg(feature = "pkcs12")]
    pub fn ca_pkcs12_file(mut self, path: impl Into<PathBuf>, password: impl Into<String>) -> Self {
        if self.roots == Roots::System {
            self.roots = Roots::Custom;
        }
        self.ca_pkcs12.push((path.into(), password.into()));
        self.changed()
    }

    /// Presents the key and certificate chain of this PKCS#12 key store
    /// (`.p12`, `.pfx`; Java's `ssl.keystore.type=PKCS12`). The password
    /// opens the store and its key; it never shows in `Debug` or errors.
    #[cfg(feature = "pkcs12")]
    pub fn client_pkcs12_file(
        mut self,
        path: impl Into<PathBuf>,
        password: impl Into<String>,
    ) -> Self {
        self.identity = Some(Identity::Pkcs12 {
            path: path.into(),
            password: password.into(),
        });
        self.changed()
    }

    /// Trusts the CAs in this PEM file instead of the system's store (call
    /// it again to add more; [`with_system_roots`](Self::with_system_roots)
    /// keeps the system's too).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        if self.roots == Roots::System {
            self.roots = Roots::Custom;
        }
        self.ca_files.push(path.into());
        self.changed()
    }

    /// Trusts the CAs in this PEM text instead of the system's store.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        if self.roots == Roots::System {
            self.roots = Roots::Custom;
        }
        self.ca_pems.push(pem.into());
        self.changed()
    }

    /// Trusts the system's store as well as the CA files given.
    pub fn with_system_roots(mut self) -> Self {
        self.roots = Roots::System;
        self.changed()
    }

    /// Trusts the Mozilla root set compiled into the binary (the
    /// `webpki-roots` crate) as well as the CA files given, instead of the
    /// system's store.
    #[cfg(feature = "webpki-roots")]
    pub fn webpki_roots(mut self) -> Self {
        self.roots = Roots::WebPki;
        self.changed()
    }

    /// Presents this client certificate (PEM chain, leaf first) with its
    /// private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub fn client_cert_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.identity = Some(Identity::Files {
            cert: cert.into(),
            key: key.into(),
        });
        self.changed()
    }

    /// Presents this client certificate and key, given as PEM text.
    pub fn client_cert_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.identity = Some(Identity::Pem {
            cert: cert.into(),
            key: key.into(),
        });
        self.changed()
    }

    /// Verifies the server's certificate against this name (and sends it
    /// as SNI) instead of the host dialled.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self.changed()
    }

    /// Whether to send the server name (SNI) in the handshake. On by
    /// default; IP addresses are never sent.
    pub fn sni(mut self, on: bool) -> Self {
        self.sni = on;
        self.changed()
    }

    /// **Development only.** Accepts any server certificate: no chain, name
    /// or date check. Anyone on the path can read and change the traffic.
    /// Every connect logs a warning while this is on.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self.changed()
    }

    /// Whether a client certificate is set.
    pub fn has_client_cert(&self) -> bool {
        self.identity.is_some()
    }

    /// The rustls configuration, built on first use.
    fn client_config(&self) -> Result<Arc<rustls::ClientConfig>, TlsError> {
        self.built
            .get_or_init(|| self.build().map(Arc::new))
            .clone()
    }

    fn build(&self) -> Result<rustls::ClientConfig, TlsError> {
        let provider = provider();
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Handshake(e.to_string()))?;
        let builder = if self.accept_invalid_certs {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
        } else {
            builder.with_root_certificates(self.root_store()?)
        };
        let mut config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let (chain, key) = load_identity(identity)?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsError::ClientIdentity(e.to_string()))?
            }
        };
        config.enable_sni = self.sni;
        Ok(config)
    }

    fn root_store(&self) -> Result<RootCertStore, TlsError> {
        let mut store = match self.roots {
            Roots::System => (*system_roots()?).clone(),
            #[cfg(feature = "webpki-roots")]
            Roots::WebPki => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            Roots::Custom => RootCertStore::empty(),
        };
        for path in &self.ca_files {
            let certs = read_certs(path, "CA file")?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsError::File {
                    what: "CA file",
                    path: path.clone(),
                    reason: "no usable CA certificate in it".into(),
                });
            }
        }
        #[cfg(feature = "pkcs12")]
        for (path, password) in &self.ca_pkcs12 {
            let (added, _) = store.add_parsable_certificates(pkcs12::certificates(path, password)?);
            if added == 0 {
                return Err(TlsError::File {
                    what: "CA store",
                    path: path.clone(),
                    reason: "no usable CA certificate in it".into(),
                });
            }
        }
        for pem in &self.ca_pems {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<_, _>>()
                .map_err(|e| TlsError::NoRoots(format!("CA PEM: {e}")))?;
            store.add_parsable_certificates(certs);
        }
        if store.is_empty() {
            return Err(TlsError::NoRoots(
                "the trust store is empty; give a CA file".into(),
            ));
        }
        Ok(store)
    }

    /// The name to verify and send as SNI for a connection to `host`.
    fn name_for(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        let name = self.server_name.as_deref().unwrap_or(host);
        let name = name.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(name.to_owned()).map_err(|_| TlsError::ServerName(name.to_owned()))
    }

    /// Runs the TLS handshake on a connected socket, for a server dialled
    /// as `host`.
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        host: &str,
    ) -> Result<tokio_rustls::client::TlsStream<crate::transport::BufferedTcp>, TlsError> {
        let config = self.client_config()?;
        let name = self.name_for(host)?;
        if self.accept_invalid_certs {
            tracing::warn!(
                server = host,
                "TLS certificate verification is OFF (danger_accept_invalid_certs): \
                 this connection can be read and changed by anyone on the path"
            );
        }
        let shown = name.to_str().into_owned();
        tokio_rustls::TlsConnector::from(config)
            .connect(name, crate::transport::buffered(tcp))
            .await
            .map_err(|e| classify(&e, &shown))
    }
}

/// The crypto provider: graviola.
fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls_graviola::default_provider()))
        .clone()
}

/// The system's trust store, loaded once per process.
fn system_roots() -> Result<Arc<RootCertStore>, TlsError> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, TlsError>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut store = RootCertStore::empty();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or("none found".to_owned(), ToString::to_string);
                return Err(TlsError::NoRoots(format!(
                    "the system trust store: {why}; give a CA file"
                )));
            }
            Ok(Arc::new(store))
        })
        .clone()
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |reason: String| TlsError::File {
        what,
        path: path.to_owned(),
        reason,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(pem_reason(&e)))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(pem_reason(&e)))?;
    if certs.is_empty() {
        return Err(file_error("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// A PEM error, without echoing the file's contents.
fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as P;
    match e {
        P::Io(io) => io.to_string(),
        P::NoItemsFound => "no PEM item found".into(),
        P::MissingSectionEnd { .. } => "a PEM section has no END line".into(),
        P::IllegalSectionStart { .. } => "a malformed PEM BEGIN line".into(),
        P::Base64Decode(_) => "bad base64 in a PEM section".into(),
        _ => "unreadable PEM".into(),
    }
}

fn load_identity(
    identity: &Identity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
    match identity {
        Identity::Files { cert, key } => {
            let chain = read_certs(cert, "client certificate")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
                what: "client key",
                path: key.clone(),
                reason: pem_reason(&e),
            })?;
            Ok((chain, key))
        }
        Identity::Pem { cert, key } => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    TlsError::ClientIdentity(format!("certificate: {}", pem_reason(&e)))
                })?;
            if chain.is_empty() {
                return Err(TlsError::ClientIdentity(
                    "no PEM certificate in the client certificate".into(),
                ));
            }
            let key = PrivateKeyDer::from_pem_slice(key)
                .map_err(|e| TlsError::ClientIdentity(format!("key: {}", pem_reason(&e))))?;
            Ok((chain, key))
        }
        #[cfg(feature = "pkcs12")]
        Identity::Pkcs12 { path, password } => pkcs12::identity(path, password),
    }
}

/// Names the cause of a failed handshake.
fn classify(e: &std::io::Error, name: &str) -> TlsError {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return TlsError::Handshake(e.to_string());
    };
    tls_error(tls, name)
}

/// Names the cause of a rustls error; `name` is the server name checked.
pub(crate) fn tls_error(e: &rustls::Error, name: &str) -> TlsError {
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => TlsError::UnknownIssuer,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                TlsError::HostnameMismatch {
                    name: name.to_owned(),
                }
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => TlsError::Expired,
            other => TlsError::BadCertificate(format!("{other:?}")),
        },
        rustls::Error::AlertReceived(alert) => TlsError::HandshakeRefused(format!("{alert:?}")),
        other => TlsError::Handshake(other.to_string()),
    }
}

/// The verifier behind `danger_accept_invalid_certs`: any certificate is
/// taken, but the handshake's signatures are still checked (so the peer
/// holds the key of the certificate it showed).
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_key() {
        let c = TlsConfig::new().client_cert_pem(
            "-----BEGIN CERTIFICATE-----\n",
            "-----BEGIN PRIVATE KEY-----\nSECRETKEYBYTES\n",
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("SECRETKEYBYTES"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let c = TlsConfig::new().ca_file("/nonexistent/ca.pem");
        match c.client_config() {
            Err(TlsError::File { what, path, .. }) => {
                assert_eq!(what, "CA file");
                assert_eq!(path, PathBuf::from("/nonexistent/ca.pem"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_empty_custom_store_is_refused() {
        let c = TlsConfig::new().ca_pem("not pem at all");
        assert!(matches!(c.client_config(), Err(TlsError::NoRoots(_))));
    }

    #[test]
    fn server_names() {
        let c = TlsConfig::new();
        assert!(c.name_for("localhost").is_ok());
        assert!(c.name_for("127.0.0.1").is_ok());
        assert!(c.name_for("[::1]").is_ok());
        assert!(matches!(
            c.name_for("bad name!"),
            Err(TlsError::ServerName(_))
        ));
        let c = c.server_name("broker.example");
        assert_eq!(
            c.name_for("10.0.0.1").map(|n| n.to_str().into_owned()),
            Ok("broker.example".to_owned())
        );
    }

    #[test]
    fn certificate_errors_are_named() {
        let e = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(tls_error(&e, "h"), TlsError::UnknownIssuer);
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert_eq!(
            tls_error(&e, "h"),
            TlsError::HostnameMismatch { name: "h".into() }
        );
        let e = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(tls_error(&e, "h"), TlsError::Expired);
        let e = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        assert!(matches!(tls_error(&e, "h"), TlsError::HandshakeRefused(_)));
    }
}
