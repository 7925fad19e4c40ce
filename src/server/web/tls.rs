//! TLS for the server: the rustls configuration a web config describes (versions, cipher
//! suites, key exchange groups, the five client-auth policies of Go's `tls.ClientAuthType`),
//! and the listener that hands axum plain or TLS connections as the current config says.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{SupportedKxGroup, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite,
};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_util::either::Either;

use super::SharedWeb;

/// A TLS version the config can name. TLS 1.0 and 1.1 parse, to be refused by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Version {
    Tls12,
    Tls13,
}

impl Version {
    /// `TLS12` or `TLS13`; `TLS10` and `TLS11` are refused (rustls implements neither, and
    /// RFC 8996 deprecates both).
    pub fn parse(s: &str) -> Result<Version, String> {
        match s {
            "TLS12" => Ok(Version::Tls12),
            "TLS13" => Ok(Version::Tls13),
            "TLS10" | "TLS11" => Err(format!(
                "{s} is not supported: rustls implements TLS 1.2 and 1.3 only (RFC 8996 deprecates 1.0 and 1.1); use TLS12 or TLS13"
            )),
            _ => Err(format!(
                "unknown TLS version {s:?}: expected TLS12 or TLS13"
            )),
        }
    }
}

/// Go's `tls.ClientAuthType`, by the names exporter-toolkit reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    RequestClientCert,
    RequireAnyClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

impl ClientAuth {
    pub fn parse(s: &str) -> Option<ClientAuth> {
        Some(match s {
            "NoClientCert" => ClientAuth::NoClientCert,
            "RequestClientCert" => ClientAuth::RequestClientCert,
            "RequireAnyClientCert" => ClientAuth::RequireAnyClientCert,
            "VerifyClientCertIfGiven" => ClientAuth::VerifyClientCertIfGiven,
            "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerifyClientCert,
            _ => return None,
        })
    }
    /// Whether a client certificate is checked against the client CAs.
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert
        )
    }
    /// Whether a client must send a certificate.
    pub fn requires(self) -> bool {
        matches!(
            self,
            ClientAuth::RequireAnyClientCert | ClientAuth::RequireAndVerifyClientCert
        )
    }
}

/// The TLS section with its files read (each with the name of where it came from).
#[derive(Debug)]
pub struct TlsSettings {
    pub cert: (String, Vec<u8>),
    pub key: (String, Vec<u8>),
    pub client_ca: Option<(String, Vec<u8>)>,
    pub client_auth: ClientAuth,
    pub allowed_sans: Vec<String>,
    pub min_version: Version,
    pub max_version: Version,
    pub cipher_suites: Vec<SupportedCipherSuite>,
    pub prefer_server_order: bool,
    pub kx_groups: Vec<&'static dyn SupportedKxGroup>,
}

impl TlsSettings {
    pub fn summary(&self) -> String {
        let v = |v: Version| match v {
            Version::Tls12 => "1.2",
            Version::Tls13 => "1.3",
        };
        format!(
            "TLS {}..{}, client certificates: {:?}",
            v(self.min_version),
            v(self.max_version),
            self.client_auth
        )
    }
}

/// A TLS 1.2 suite by its IANA name (Go's names, with its two short CHACHA20 aliases);
/// `Ok(None)` for a TLS 1.3 suite, which Go does not let a config choose either.
pub fn cipher_suite(name: &str) -> Result<Option<SupportedCipherSuite>, String> {
    let name = match name {
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305" => "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        // TLS 1.3's suites by their IANA names (RFC 8446 appendix B.4), which rustls spells
        // TLS13_*.
        "TLS_AES_128_GCM_SHA256" | "TLS_AES_256_GCM_SHA384" | "TLS_CHACHA20_POLY1305_SHA256" => {
            return Ok(None);
        }
        n => n,
    };
    let all = rustls::crypto::aws_lc_rs::ALL_CIPHER_SUITES;
    match all.iter().find(|s| s.suite().as_str() == Some(name)) {
        Some(s) if s.tls13().is_some() => Ok(None),
        Some(s) => Ok(Some(*s)),
        None => {
            let known: Vec<&str> = all
                .iter()
                .filter(|s| s.tls13().is_none())
                .filter_map(|s| s.suite().as_str())
                .collect();
            Err(format!(
                "cipher suite {name:?} is not available (rustls offers no CBC, RSA key exchange, 3DES or RC4 suites); TLS 1.2 suites available: {}",
                known.join(", ")
            ))
        }
    }
}

/// A key exchange group by Go's `tls.CurveID` name.
pub fn kx_group(name: &str) -> Result<&'static dyn SupportedKxGroup, String> {
    use rustls::crypto::aws_lc_rs::kx_group;
    Ok(match name {
        "CurveP256" => kx_group::SECP256R1,
        "CurveP384" => kx_group::SECP384R1,
        "X25519" => kx_group::X25519,
        "X25519MLKEM768" => kx_group::X25519MLKEM768,
        "CurveP521" => {
            return Err(
                "CurveP521 is not available in rustls; use CurveP256, CurveP384, X25519 or X25519MLKEM768"
                    .into(),
            );
        }
        _ => {
            return Err(format!(
                "unknown curve {name:?}: expected CurveP256, CurveP384, X25519 or X25519MLKEM768"
            ));
        }
    })
}

/// The rustls server configuration; an error names the field at fault.
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, (&'static str, String)> {
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    if !s.cipher_suites.is_empty() {
        // Go's cipher_suites governs TLS 1.2 only: every TLS 1.3 suite stays.
        let tls13: Vec<SupportedCipherSuite> = provider
            .cipher_suites
            .iter()
            .filter(|c| c.tls13().is_some())
            .copied()
            .collect();
        provider.cipher_suites = tls13.into_iter().chain(s.cipher_suites.clone()).collect();
    }
    if !s.kx_groups.is_empty() {
        provider.kx_groups = s.kx_groups.clone();
    }
    let provider = Arc::new(provider);
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (Version::Tls12, &rustls::version::TLS12),
        (Version::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (s.min_version..=s.max_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    let certs = certificates(&s.cert).map_err(|e| {
        (
            if s.cert.0 == "cert" {
                "cert"
            } else {
                "cert_file"
            },
            e,
        )
    })?;
    let key = PrivateKeyDer::from_pem_slice(&s.key.1).map_err(|e| {
        (
            "key_file",
            format!("{}: no usable private key: {e}", s.key.0),
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| ("cipher_suites", format!("{e}")))?;
    let verifier: Option<Arc<dyn ClientCertVerifier>> = match s.client_auth {
        ClientAuth::NoClientCert => None,
        ClientAuth::RequestClientCert | ClientAuth::RequireAnyClientCert => {
            Some(Arc::new(AnyClientCert {
                mandatory: s.client_auth.requires(),
                algs: provider.signature_verification_algorithms,
            }))
        }
        ClientAuth::VerifyClientCertIfGiven | ClientAuth::RequireAndVerifyClientCert => {
            let ca = s.client_ca.as_ref().ok_or((
                "client_ca_file",
                "client_ca_file is required to verify client certificates".to_owned(),
            ))?;
            let field = if ca.0 == "client_ca" {
                "client_ca"
            } else {
                "client_ca_file"
            };
            let mut roots = RootCertStore::empty();
            for c in certificates(ca).map_err(|e| (field, e))? {
                roots
                    .add(c)
                    .map_err(|e| (field, format!("{}: not a usable CA: {e}", ca.0)))?;
            }
            let mut b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            if !s.client_auth.requires() {
                b = b.allow_unauthenticated();
            }
            Some(b.build().map_err(|e| (field, format!("{}: {e}", ca.0)))?)
        }
    };
    let verifier = match (verifier, s.allowed_sans.is_empty()) {
        (Some(inner), false) => Some(Arc::new(AllowedSans {
            inner,
            allowed: s.allowed_sans.clone(),
        }) as Arc<dyn ClientCertVerifier>),
        (v, _) => v,
    };
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    // Fails when the key does not belong to the certificate.
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| ("key_file", format!("{} with {}: {e}", s.key.0, s.cert.0)))?;
    cfg.ignore_client_order = s.prefer_server_order;
    // HTTP/1.1 only: axum is built here without HTTP/2 (docs/running.md).
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The certificates of a PEM file or string, at least one.
fn certificates((from, pem): &(String, Vec<u8>)) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{from}: not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "{from}: no certificate (PEM \"CERTIFICATE\") in it"
        ));
    }
    Ok(certs)
}

/// RequestClientCert and RequireAnyClientCert: a certificate is asked for (or required) but
/// not checked against any CA; only its possession is proved, by the handshake's signature.
#[derive(Debug)]
struct AnyClientCert {
    mandatory: bool,
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// `client_allowed_sans`: the inner verifier's verdict, then one of the certificate's subject
/// alternative names must equal an allowed entry.
#[derive(Debug)]
struct AllowedSans {
    inner: Arc<dyn ClientCertVerifier>,
    allowed: Vec<String>,
}

/// The subject alternative names of a DER certificate as text (IP addresses in their usual
/// notation), or `None` if it does not parse.
pub fn sans_of(der: &[u8]) -> Option<Vec<String>> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let ext = cert.subject_alternative_name().ok()??;
    Some(
        ext.value
            .general_names
            .iter()
            .filter_map(|n| match n {
                GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                    Some((*s).to_owned())
                }
                GeneralName::IPAddress(b) => match b.len() {
                    4 => Some(std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).ok()?).to_string()),
                    16 => {
                        Some(std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).ok()?).to_string())
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect(),
    )
}

impl ClientCertVerifier for AllowedSans {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let ok = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let sans = sans_of(end_entity).unwrap_or_default();
        if sans.iter().any(|s| self.allowed.contains(s)) {
            Ok(ok)
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// How long a client may take to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection as axum gets it: plain TCP, or TLS over TCP, opened under web config
/// `generation`. Once a reload has replaced that config, the connection reads as closed: a
/// kept-alive client (Prometheus keeps its connections) reconnects and meets the new TLS
/// settings at once instead of keeping the old ones until it hangs up.
#[derive(Debug)]
pub struct Conn {
    io: Either<TcpStream, TlsStream<TcpStream>>,
    generation: u64,
    current: Arc<AtomicU64>,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.current.load(Ordering::Relaxed) != self.generation {
            return Poll::Ready(Ok(())); // end of stream
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A listener that serves TLS when the current web config has a `tls_server_config` (read
/// at every connection, so a reload applies to the next one) and plain HTTP otherwise.
/// Handshakes run in their own tasks, so a slow or silent client delays no one else.
#[derive(Debug)]
pub struct WebListener {
    rx: tokio::sync::mpsc::Receiver<(Conn, SocketAddr)>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl WebListener {
    pub fn new(listener: TcpListener, web: SharedWeb) -> std::io::Result<WebListener> {
        let local = listener.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let task = tokio::spawn(async move {
            loop {
                let (tcp, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (generation, active) = web.current_with_generation();
                let conn = |io| Conn {
                    io,
                    generation,
                    current: web.generation.clone(),
                };
                let Some(tls) = active.config.tls.clone() else {
                    if tx.send((conn(Either::Left(tcp)), peer)).await.is_err() {
                        return;
                    }
                    continue;
                };
                let tx = tx.clone();
                let web = web.clone();
                tokio::spawn(async move {
                    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => {
                            let c = Conn {
                                io: Either::Right(s),
                                generation,
                                current: web.generation.clone(),
                            };
                            let _ = tx.send((c, peer)).await;
                        }
                        Ok(Err(e)) => {
                            web.metrics.handshake_failures.inc();
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            web.metrics.handshake_failures.inc();
                            tracing::debug!(%peer, "TLS handshake timed out");
                        }
                    }
                });
            }
        });
        Ok(WebListener { rx, local, task })
    }
}

impl Drop for WebListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl axum::serve::Listener for WebListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accept task ended (only when dropped): nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}
