//! The TLS certificate source: a TLS handshake with SNI to `host:port`, then the leaf
//! certificate's dates, names, issuer and signature algorithm, whether its chain is trusted
//! and whether it is valid for the name; every certificate the server sends (the leaf, then
//! the intermediates, and a root if it sends one), with its dates and signature; and the OCSP
//! response the server staples, if any ([`ocsp`]). The handshake accepts any certificate so
//! that an expired, self-signed or misnamed one can still be read and reported; trust and
//! name are then verified separately against the system trust store (plus `ca_file`), unless
//! `verify: false`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Deserialize;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::config::{CommonTarget, Duration, Validator};
use crate::model::{ErrorKind, PollError, Poller};
use crate::model::{Family, Kind, Sample};
use crate::model::{Polled, SourceKind};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};
use crate::time::{openssl_date, unix_now};
use std::convert::Infallible;

pub mod ocsp;

/// One entry of `tls:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// `host:port` to connect to, e.g. `storage.example.com:443` or an ELB's DNS name.
    pub address: String,
    /// Name sent as SNI and checked against the certificate. Default: the host part of
    /// `address`.
    pub server_name: Option<String>,
    /// PEM file with extra trust anchors (a private CA), on top of the system store.
    pub ca_file: Option<PathBuf>,
    /// Verify the served chain against the trust anchors (the system store plus `ca_file`).
    /// `false` for an endpoint whose private CA headroom is not given: dates, name,
    /// signatures and OCSP are still read and judged, trust is not (check_ssl_cert's
    /// `--noauth`). Default: true.
    pub verify: Option<bool>,
    /// Overrides `defaults.interval`.
    pub interval: Option<Duration>,
    /// Overrides `defaults.timeout`.
    pub timeout: Option<Duration>,
    /// Where the target is, e.g. `us-west-2` or `dc1`: the `region` label of
    /// `headroom_target_info`, which dashboards select targets by. Default: none.
    pub region: Option<String>,
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval,
            timeout: self.timeout,
            region: self.region.as_deref(),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, _cx: &Context) -> Option<Settings> {
        self.settings(v, path)
    }
}

impl RawTarget {
    fn settings(&self, v: &mut Validator<'_>, path: &str) -> Option<Settings> {
        if !v.address(&format!("{path}.address"), &self.address) {
            return None;
        }
        let host = host_of(&self.address);
        let server_name = self.server_name.clone().unwrap_or_else(|| host.to_owned());
        if ServerName::try_from(server_name.clone()).is_err() {
            v.error(
                &format!("{path}.server_name"),
                format!("{server_name:?} is not a DNS name or IP address"),
            );
            return None;
        }
        let verify = self.verify.unwrap_or(true);
        if !verify && self.ca_file.is_some() {
            v.error(
                &format!("{path}.ca_file"),
                "has no use with verify: false (trust is not verified): remove one of them",
            );
            return None;
        }
        let ca_file = self.ca_file.as_ref().map(|f| v.relative(f));
        if let Some(f) = &ca_file
            && let Err(e) = load_pem(f)
        {
            v.error(&format!("{path}.ca_file"), e);
            return None;
        }
        Some(Settings {
            address: self.address.clone(),
            server_name,
            ca_file,
            verify,
        })
    }
}

fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map(|(h, _)| h).unwrap_or(address);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// A validated certificate target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub address: String,
    pub server_name: String,
    pub ca_file: Option<PathBuf>,
    /// Verify the chain against the trust anchors; `false` leaves trust unjudged (and
    /// `headroom_tls_certificate_trusted` unexported).
    pub verify: bool,
}

pub fn load_pem(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .collect();
    let certs = certs.map_err(|e| format!("{}: not PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", path.display()));
    }
    Ok(certs)
}

/// What was learnt about the leaf certificate; also used by `headroom check cert`.
#[derive(Debug, Clone, PartialEq)]
pub struct CertFacts {
    pub server_name: String,
    pub subject_cn: String,
    pub subject: String,
    pub issuer: String,
    pub sans: Vec<String>,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    /// openssl's short name, e.g. `sha256WithRSAEncryption`.
    pub signature_algorithm: String,
    /// The chain verified against the trust anchors (dates aside).
    pub trusted: bool,
    /// Whether trust was verified at all (`verify: false` skips it).
    pub trust_checked: bool,
    pub hostname_match: bool,
    /// Why the chain is not trusted, when it is not.
    pub trust_error: Option<String>,
    pub handshake_seconds: f64,
    /// Every certificate the server sent, in its order: the leaf at position 0.
    pub chain: Vec<ChainCert>,
    /// The stapled OCSP response: none stapled, or what it says (or why it is unreadable).
    pub ocsp: Option<Result<ocsp::Response, String>>,
}

/// A certificate's place in the served chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Position 0, the server's own certificate.
    Leaf,
    /// A CA certificate between the leaf and a root.
    Intermediate,
    /// A self-issued certificate (subject = issuer, RFC 5280 section 3.2) after the leaf: a
    /// trust anchor the server sends along, which clients take from their own store.
    Root,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Leaf => "leaf",
            Role::Intermediate => "intermediate",
            Role::Root => "root",
        }
    }
}

/// One certificate of the served chain.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainCert {
    pub position: usize,
    pub role: Role,
    pub subject_cn: String,
    pub subject: String,
    pub issuer_cn: String,
    pub issuer: String,
    pub serial: String,
    pub not_before: i64,
    pub not_after: i64,
    /// openssl's short name, e.g. `sha256WithRSAEncryption`.
    pub signature_algorithm: String,
    /// The digest the signature is computed over: `sha256`, `sha1`, `md5`...; empty for
    /// algorithms without a separate one (Ed25519) or unknown ones.
    pub signature_hash: &'static str,
}

/// Digests too weak for a certificate signature: collisions are practical for MD2, MD4,
/// MD5 and SHA-1 (SHAttered, 2017), and SHA-0 was withdrawn. Browsers have refused SHA-1
/// signed certificates since 2017 (CA/Browser Forum Baseline Requirements section 7.1.3).
pub fn weak_hash(hash: &str) -> bool {
    matches!(hash, "md2" | "md4" | "md5" | "sha0" | "sha1")
}

/// The digest named by a signature algorithm (PKCS #1 / RFC 8017, RFC 3279, RFC 5758, the
/// OIW algorithms), from its OID; RSASSA-PSS names it in its parameters (SHA-1 when they
/// leave it out, RFC 4055 section 3.1).
fn signature_hash(cert: &X509Certificate<'_>) -> &'static str {
    let alg = &cert.signature_algorithm;
    let hash_of = |oid: &str| -> &'static str {
        match oid {
            "1.2.840.113549.1.1.2" => "md2",
            "1.2.840.113549.1.1.3" => "md4",
            "1.2.840.113549.1.1.4" | "1.3.14.3.2.3" | "1.2.840.113549.2.5" => "md5",
            "1.3.14.3.2.15" => "sha0",
            "1.2.840.113549.1.1.5"
            | "1.3.14.3.2.29"
            | "1.3.14.3.2.27"
            | "1.2.840.10040.4.3"
            | "1.2.840.10045.4.1"
            | "1.3.14.3.2.26" => "sha1",
            "1.2.840.113549.1.1.14"
            | "2.16.840.1.101.3.4.3.1"
            | "1.2.840.10045.4.3.1"
            | "2.16.840.1.101.3.4.2.4" => "sha224",
            "1.2.840.113549.1.1.11"
            | "2.16.840.1.101.3.4.3.2"
            | "1.2.840.10045.4.3.2"
            | "2.16.840.1.101.3.4.2.1" => "sha256",
            "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" | "2.16.840.1.101.3.4.2.2" => "sha384",
            "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" | "2.16.840.1.101.3.4.2.3" => "sha512",
            _ => "",
        }
    };
    match x509_parser::signature_algorithm::SignatureAlgorithm::try_from(alg) {
        Ok(x509_parser::signature_algorithm::SignatureAlgorithm::RSASSA_PSS(p)) => {
            hash_of(&p.hash_algorithm_oid().to_id_string())
        }
        _ => hash_of(&alg.algorithm.to_id_string()),
    }
}

/// Accepts every certificate during the handshake (signatures over the handshake are still
/// checked), so that a bad certificate can be read and reported instead of failing the
/// connection; keeps the stapled OCSP response, which rustls hands only to the verifier.
/// rustls asks for a staple in every ClientHello (the `status_request` extension, RFC 6066
/// section 8), so a server that staples does so.
#[derive(Debug)]
struct AcceptAny {
    provider: Arc<CryptoProvider>,
    /// The staple of this handshake (one verifier per handshake); empty when none came.
    ocsp: std::sync::Mutex<Vec<u8>>,
}

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        ocsp_response: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut slot) = self.ocsp.lock() {
            *slot = ocsp_response.to_vec();
        }
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
            &self.provider.signature_verification_algorithms,
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
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// What a handshake gives: the leaf's facts, the leaf, the intermediates, the name used.
type Handshake = (
    CertFacts,
    CertificateDer<'static>,
    Vec<CertificateDer<'static>>,
    ServerName<'static>,
);

pub struct TlsPoller {
    settings: Settings,
    roots: tokio::sync::OnceCell<Arc<RootCertStore>>,
    /// `ca_file`'s certificates alone, tried before the system store is read.
    ca_roots: std::sync::OnceLock<Arc<RootCertStore>>,
}

/// The system trust store plus `ca_file`. Unreadable system entries are skipped.
fn load_roots(ca_file: Option<&std::path::Path>) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "system trust store entry skipped");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(f) = ca_file {
        // Validated at config load; a file that vanished since leaves only the system store.
        match load_pem(f) {
            Ok(certs) => {
                roots.add_parsable_certificates(certs);
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }
    Arc::new(roots)
}

impl std::fmt::Debug for TlsPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPoller")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A client configuration for one handshake, with its own verifier (which keeps that
/// handshake's staple) and no session resumption: a resumed TLS 1.3 session sends no
/// certificates and no staple, and each poll must see what the server serves now.
fn client_config(verifier: Arc<AcceptAny>) -> rustls::ClientConfig {
    let mut config = rustls::ClientConfig::builder_with_provider(verifier.provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the default provider supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config
}

impl TlsPoller {
    pub fn new(s: &Settings) -> Self {
        TlsPoller {
            settings: s.clone(),
            roots: tokio::sync::OnceCell::new(),
            ca_roots: std::sync::OnceLock::new(),
        }
    }

    /// The trust anchors, read once per poller on a blocking thread (the first time while
    /// the handshake runs, so a one-shot check does not wait for both in turn).
    async fn roots(&self) -> Arc<RootCertStore> {
        self.roots
            .get_or_init(|| async {
                let ca_file = self.settings.ca_file.clone();
                tokio::task::spawn_blocking(move || load_roots(ca_file.as_deref()))
                    .await
                    .unwrap_or_else(|_| Arc::new(RootCertStore::empty()))
            })
            .await
            .clone()
    }

    /// Connects, reads the served chain and the staple, and verifies the leaf certificate.
    pub async fn facts(&self) -> Result<CertFacts, PollError> {
        if !self.settings.verify {
            let (mut facts, leaf, _, name) = self.handshake().await?;
            facts.hostname_match = hostname_match(&leaf, &name);
            return Ok(facts);
        }
        if let Some(ca_file) = &self.settings.ca_file {
            // A chain that `ca_file` alone anchors is trusted by the system store plus
            // `ca_file` too, so try it first: reading and parsing the system store (some 150
            // files and as many certificates on Debian) is most of what a one-shot
            // `headroom check cert --ca-file` would otherwise pay. Only a chain it does not
            // anchor is verified again against both.
            let (mut facts, leaf, chain, name) = self.handshake().await?;
            let own = self
                .ca_roots
                .get_or_init(|| {
                    let mut roots = RootCertStore::empty();
                    if let Ok(certs) = load_pem(ca_file) {
                        roots.add_parsable_certificates(certs);
                    }
                    Arc::new(roots)
                })
                .clone();
            verify(&mut facts, &leaf, &chain, &name, own);
            if !facts.trusted {
                facts.trust_error = None;
                verify(&mut facts, &leaf, &chain, &name, self.roots().await);
            }
            return Ok(facts);
        }
        let (facts, roots) = tokio::join!(self.handshake(), self.roots());
        let (mut facts, leaf, chain, name) = facts?;
        verify(&mut facts, &leaf, &chain, &name, roots);
        Ok(facts)
    }

    async fn handshake(&self) -> Result<Handshake, PollError> {
        let s = &self.settings;
        let start = Instant::now();
        let tcp = tokio::net::TcpStream::connect(&s.address)
            .await
            .map_err(|e| PollError::new(ErrorKind::Connect, format!("{}: {e}", s.address)))?;
        let name = ServerName::try_from(s.server_name.clone())
            .map_err(|e| PollError::new(ErrorKind::Protocol, format!("{}: {e}", s.server_name)))?;
        let verifier = Arc::new(AcceptAny {
            provider: provider(),
            ocsp: std::sync::Mutex::new(Vec::new()),
        });
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(verifier.clone())));
        let tls = connector.connect(name.clone(), tcp).await.map_err(|e| {
            PollError::new(
                ErrorKind::Protocol,
                format!("{}: TLS handshake failed: {e}", s.address),
            )
        })?;
        let handshake_seconds = start.elapsed().as_secs_f64();
        let chain: Vec<CertificateDer<'static>> = tls
            .get_ref()
            .1
            .peer_certificates()
            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
            .unwrap_or_default();
        let Some(leaf) = chain.first() else {
            return Err(PollError::new(
                ErrorKind::Protocol,
                format!("{}: the server sent no certificate", s.address),
            ));
        };
        let mut facts = parse_leaf(leaf, &s.server_name)
            .map_err(|e| PollError::new(ErrorKind::Protocol, format!("{}: {e}", s.address)))?;
        facts.handshake_seconds = handshake_seconds;
        facts.chain = chain
            .iter()
            .enumerate()
            .map(|(i, c)| parse_chain_cert(i, c))
            .collect::<Result<_, _>>()
            .map_err(|e| PollError::new(ErrorKind::Protocol, format!("{}: {e}", s.address)))?;
        let staple = verifier.ocsp.lock().map(|v| v.clone()).unwrap_or_default();
        if !staple.is_empty() {
            let serial = X509Certificate::from_der(leaf.as_ref())
                .map(|(_, c)| c.raw_serial().to_vec())
                .unwrap_or_default();
            facts.ocsp = Some(ocsp::parse(&staple, &serial));
        }
        let leaf = leaf.clone();
        let intermediates = chain[1..].to_vec();
        Ok((facts, leaf, intermediates, name))
    }
}

/// Reads the fields headroom reports from a DER certificate.
pub fn parse_leaf(der: &CertificateDer<'_>, server_name: &str) -> Result<CertFacts, String> {
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|e| format!("unreadable certificate: {e}"))?;
    let registry = x509_parser::objects::oid_registry();
    let sig_oid = &cert.signature_algorithm.algorithm;
    let signature_algorithm = x509_parser::objects::oid2sn(sig_oid, registry)
        .map(str::to_owned)
        .unwrap_or_else(|_| sig_oid.to_id_string());
    let subject_cn = common_name(cert.subject());
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(|g| match g {
                GeneralName::DNSName(d) => Some((*d).to_owned()),
                GeneralName::IPAddress(ip) => match ip.len() {
                    4 => Some(std::net::Ipv4Addr::new(ip[0], ip[1], ip[2], ip[3]).to_string()),
                    16 => <[u8; 16]>::try_from(*ip)
                        .ok()
                        .map(|b| std::net::Ipv6Addr::from(b).to_string()),
                    _ => None,
                },
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    Ok(CertFacts {
        server_name: server_name.to_owned(),
        subject_cn,
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans,
        serial: cert.raw_serial_as_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        signature_algorithm,
        trusted: false,
        trust_checked: false,
        hostname_match: false,
        trust_error: None,
        handshake_seconds: 0.0,
        chain: Vec::new(),
        ocsp: None,
    })
}

fn common_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Reads one certificate of the served chain, at `position`.
pub fn parse_chain_cert(position: usize, der: &CertificateDer<'_>) -> Result<ChainCert, String> {
    let (_, cert) = X509Certificate::from_der(der.as_ref())
        .map_err(|e| format!("unreadable certificate at chain position {position}: {e}"))?;
    let registry = x509_parser::objects::oid_registry();
    let sig_oid = &cert.signature_algorithm.algorithm;
    let role = if position == 0 {
        Role::Leaf
    } else if cert.subject().as_raw() == cert.issuer().as_raw() {
        Role::Root
    } else {
        Role::Intermediate
    };
    Ok(ChainCert {
        position,
        role,
        subject_cn: common_name(cert.subject()),
        subject: cert.subject().to_string(),
        issuer_cn: common_name(cert.issuer()),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string(),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        signature_algorithm: x509_parser::objects::oid2sn(sig_oid, registry)
            .map(str::to_owned)
            .unwrap_or_else(|_| sig_oid.to_id_string()),
        signature_hash: signature_hash(&cert),
    })
}

fn hostname_match(leaf: &CertificateDer<'_>, name: &ServerName<'_>) -> bool {
    webpki::EndEntityCert::try_from(leaf)
        .map(|ee| ee.verify_is_valid_for_subject_name(name).is_ok())
        .unwrap_or(false)
}

/// Checks the chain against `roots` at a time inside the leaf's validity (so that trust is
/// judged apart from expiry, which is reported on its own), and the name.
fn verify(
    facts: &mut CertFacts,
    leaf: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    name: &ServerName<'_>,
    roots: Arc<RootCertStore>,
) {
    facts.hostname_match = hostname_match(leaf, name);
    facts.trust_checked = true;
    let now = unix_now();
    let at = if now >= facts.not_before && now <= facts.not_after {
        now
    } else {
        facts.not_before + (facts.not_after - facts.not_before) / 2
    };
    let at = UnixTime::since_unix_epoch(std::time::Duration::from_secs(at.max(0) as u64));
    if roots.is_empty() {
        facts.trusted = false;
        facts.trust_error = Some("no trust anchors (empty system store and no ca_file)".into());
        return;
    }
    let verifier = match WebPkiServerVerifier::builder_with_provider(roots, provider()).build() {
        Ok(v) => v,
        Err(e) => {
            facts.trust_error = Some(e.to_string());
            return;
        }
    };
    match verifier.verify_server_cert(leaf, intermediates, name, &[], at) {
        Ok(_) => facts.trusted = true,
        // The chain was fine; only the name failed, which `hostname_match` reports.
        Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName))
        | Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            ..
        })) => facts.trusted = true,
        Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            facts.trust_error =
                Some("unknown issuer (self-signed or private CA not in the trust store)".into());
        }
        Err(e) if format!("{e:?}").contains("CaUsedAsEndEntity") => {
            facts.trust_error =
                Some("self-signed (a CA certificate presented as the server's)".into());
        }
        Err(e) => facts.trust_error = Some(e.to_string()),
    }
}

/// The earliest-expiring certificate of the served chain (the first of equals, so the leaf
/// when it ties).
pub fn earliest(chain: &[ChainCert]) -> Option<&ChainCert> {
    chain.iter().min_by_key(|c| (c.not_after, c.position))
}

/// The families of one certificate poll.
pub fn families(f: &CertFacts, now: i64) -> Vec<Family> {
    let g =
        |name: &'static str, help: &'static str, v: f64| Family::single(name, help, Kind::Gauge, v);
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    let mut out = vec![
        g(
            "headroom_tls_up",
            "1 if the TLS handshake succeeded and a certificate was read.",
            1.0,
        ),
        g(
            "headroom_tls_certificate_not_after_timestamp_seconds",
            "Leaf certificate notAfter, Unix time.",
            f.not_after as f64,
        ),
        g(
            "headroom_tls_certificate_not_before_timestamp_seconds",
            "Leaf certificate notBefore, Unix time.",
            f.not_before as f64,
        ),
        g(
            "headroom_tls_certificate_expiry_seconds",
            "Seconds until notAfter, negative once expired (certificate checks show whole days).",
            (f.not_after - now) as f64,
        ),
        g(
            "headroom_tls_certificate_hostname_match",
            "1 if the certificate is valid for the server name.",
            b(f.hostname_match),
        ),
        g(
            "headroom_tls_handshake_seconds",
            "Time to connect and complete the TLS handshake.",
            f.handshake_seconds,
        ),
        Family {
            name: "headroom_tls_certificate".into(),
            help: "The leaf certificate, in labels.".into(),
            kind: Kind::Info,
            samples: smallvec::smallvec![Sample {
                labels: vec![
                    ("server_name".into(), f.server_name.clone()),
                    ("subject_cn".into(), f.subject_cn.clone()),
                    ("issuer".into(), f.issuer.clone()),
                    ("sans".into(), f.sans.join(",")),
                    ("serial".into(), f.serial.clone()),
                    ("signature_algorithm".into(), f.signature_algorithm.clone()),
                    ("not_after".into(), openssl_date(f.not_after)),
                    ("not_before".into(), openssl_date(f.not_before)),
                    (
                        "trust_error".into(),
                        f.trust_error.clone().unwrap_or_default(),
                    ),
                ],
                value: 1.0,
            }],
        },
    ];
    if f.trust_checked {
        out.push(g(
            "headroom_tls_certificate_trusted",
            "1 if the chain verifies against the system store (and ca_file), dates aside.",
            b(f.trusted),
        ));
    }
    out.extend(chain_families(&f.chain, now));
    out.extend(ocsp_families(f.ocsp.as_ref()));
    out
}

/// A family of one gauge per chain element.
fn per_certificate(
    name: &'static str,
    help: &'static str,
    chain: &[ChainCert],
    value: impl Fn(&ChainCert) -> f64,
) -> Family {
    Family {
        name: name.into(),
        help: help.into(),
        kind: Kind::Gauge,
        samples: chain
            .iter()
            .map(|c| Sample {
                labels: vec![
                    ("position".into(), c.position.to_string()),
                    ("subject_cn".into(), c.subject_cn.clone()),
                    ("issuer_cn".into(), c.issuer_cn.clone()),
                ],
                value: value(c),
            })
            .collect(),
    }
}

/// The served chain: per certificate its dates and description, and the earliest expiry.
fn chain_families(chain: &[ChainCert], now: i64) -> Vec<Family> {
    let Some(first) = earliest(chain) else {
        return Vec::new();
    };
    vec![
        Family::single(
            "headroom_tls_chain_expiry_seconds",
            "Seconds until the earliest notAfter among the certificates the server sent (leaf, intermediates, a root if sent); negative once one expired.",
            Kind::Gauge,
            (first.not_after - now) as f64,
        ),
        per_certificate(
            "headroom_tls_chain_certificate_not_after_timestamp_seconds",
            "notAfter of each certificate the server sent, Unix time; position 0 is the leaf.",
            chain,
            |c| c.not_after as f64,
        ),
        per_certificate(
            "headroom_tls_chain_certificate_not_before_timestamp_seconds",
            "notBefore of each certificate the server sent, Unix time; position 0 is the leaf.",
            chain,
            |c| c.not_before as f64,
        ),
        Family {
            name: "headroom_tls_chain_certificate".into(),
            help: "Each certificate the server sent, in labels.".into(),
            kind: Kind::Info,
            samples: chain
                .iter()
                .map(|c| Sample {
                    labels: vec![
                        ("position".into(), c.position.to_string()),
                        ("role".into(), c.role.name().into()),
                        ("subject_cn".into(), c.subject_cn.clone()),
                        ("subject".into(), c.subject.clone()),
                        ("issuer".into(), c.issuer.clone()),
                        ("serial".into(), c.serial.clone()),
                        ("signature_algorithm".into(), c.signature_algorithm.clone()),
                        ("signature_hash".into(), c.signature_hash.into()),
                    ],
                    value: 1.0,
                })
                .collect(),
        },
    ]
}

/// The stapled OCSP response: whether there is one and, when readable, the leaf's status
/// (one series per status, 1 for the current one) and its times.
fn ocsp_families(staple: Option<&Result<ocsp::Response, String>>) -> Vec<Family> {
    let g =
        |name: &'static str, help: &'static str, v: f64| Family::single(name, help, Kind::Gauge, v);
    let mut out = vec![g(
        "headroom_tls_ocsp_stapled",
        "1 if the server stapled an OCSP response to the handshake.",
        if staple.is_some() { 1.0 } else { 0.0 },
    )];
    let Some(Ok(r)) = staple else {
        return out;
    };
    out.push(Family {
        name: "headroom_tls_ocsp_status".into(),
        help: "The leaf's status in the stapled OCSP response: 1 for the current one of good, revoked, unknown.".into(),
        kind: Kind::Gauge,
        samples: ["good", "revoked", "unknown"]
            .iter()
            .map(|s| Sample {
                labels: vec![("status".into(), (*s).into())],
                value: if r.status.name() == *s { 1.0 } else { 0.0 },
            })
            .collect(),
    });
    out.push(g(
        "headroom_tls_ocsp_this_update_timestamp_seconds",
        "thisUpdate of the stapled OCSP response, Unix time.",
        r.this_update as f64,
    ));
    if let Some(next) = r.next_update {
        out.push(g(
            "headroom_tls_ocsp_next_update_timestamp_seconds",
            "nextUpdate of the stapled OCSP response, Unix time: the staple is stale after it.",
            next as f64,
        ));
    }
    if let ocsp::CertStatus::Revoked { at, reason } = &r.status {
        out.push(Family {
            name: "headroom_tls_ocsp_revocation_timestamp_seconds".into(),
            help: "revocationTime of a revoked leaf in the stapled OCSP response, Unix time."
                .into(),
            kind: Kind::Gauge,
            samples: smallvec::smallvec![Sample {
                labels: vec![("reason".into(), reason.unwrap_or("").into())],
                value: *at as f64,
            }],
        });
    }
    out
}

impl Poller for TlsPoller {
    type Discovered = Infallible;

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let f = self.facts().await?;
        Ok(families(&f, unix_now()).into())
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("tls", "headroom_tls_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = TlsPoller;

    fn poller(&self, _at: Spawn<'_>) -> TlsPoller {
        TlsPoller::new(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A certificate made by rcgen with `alg`, self-signed or signed by `issuer`.
    fn made(
        cn: &str,
        alg: &'static rcgen::SignatureAlgorithm,
        issuer: Option<(&rcgen::CertificateParams, &rcgen::KeyPair)>,
    ) -> (
        CertificateDer<'static>,
        rcgen::CertificateParams,
        rcgen::KeyPair,
    ) {
        let mut params = rcgen::CertificateParams::new(vec![cn.to_owned()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let cert = match issuer {
            Some((p, k)) => params.signed_by(&key, &rcgen::Issuer::from_params(p, k)),
            None => params.self_signed(&key),
        }
        .unwrap();
        (cert.der().clone(), params, key)
    }

    #[test]
    fn chain_roles_and_signature_hashes() {
        let (root, rp, rk) = made("Root", &rcgen::PKCS_ECDSA_P384_SHA384, None);
        let (inter, ip, ik) = made("Inter", &rcgen::PKCS_ECDSA_P256_SHA256, Some((&rp, &rk)));
        let (leaf, _, _) = made("leaf.example", &rcgen::PKCS_ED25519, Some((&ip, &ik)));
        let chain: Vec<ChainCert> = [leaf, inter, root]
            .iter()
            .enumerate()
            .map(|(i, c)| parse_chain_cert(i, c).unwrap())
            .collect();
        let got: Vec<_> = chain
            .iter()
            .map(|c| {
                (
                    c.role,
                    c.subject_cn.as_str(),
                    c.issuer_cn.as_str(),
                    c.signature_algorithm.as_str(),
                    c.signature_hash,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                // The leaf is signed by the intermediate's P-256 key, and so on up.
                (
                    Role::Leaf,
                    "leaf.example",
                    "Inter",
                    "ecdsa-with-SHA256",
                    "sha256"
                ),
                (
                    Role::Intermediate,
                    "Inter",
                    "Root",
                    "ecdsa-with-SHA384",
                    "sha384"
                ),
                (Role::Root, "Root", "Root", "ecdsa-with-SHA384", "sha384"),
            ]
        );
        // A self-signed Ed25519 certificate: no separate digest; a self-issued one at
        // position 0 is the leaf.
        let (ed, _, _) = made("ed.example", &rcgen::PKCS_ED25519, None);
        let c = parse_chain_cert(0, &ed).unwrap();
        assert_eq!((c.role, c.signature_hash), (Role::Leaf, ""));
        assert!(weak_hash("sha1") && weak_hash("md5") && !weak_hash("sha256") && !weak_hash(""));
        assert_eq!(earliest(&chain).map(|c| c.position), Some(0));
    }

    fn validate(yaml: &str) -> Result<Settings, Vec<String>> {
        use crate::config::Positions;
        let mut raw: std::collections::HashMap<String, Vec<RawTarget>> =
            serde_yaml_ng::from_str(yaml).map_err(|e| vec![e.to_string()])?;
        let raw = raw.remove("tls").unwrap();
        let pos = Positions::index(yaml);
        let second = std::time::Duration::from_secs(1);
        let mut v = Validator::new(std::path::Path::new("t.yaml"), &pos, (second, second));
        let s = raw[0].validate(&mut v, "tls[0]", &Context::default());
        match v.finish() {
            Ok(()) => Ok(s.unwrap()),
            Err(e) => Err(e.0.iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn verify_defaults_to_true_and_excludes_ca_file() {
        let s = validate("tls:\n- {name: a, address: 'storage.example.com:443'}\n").unwrap();
        assert!(s.verify);
        let s = validate("tls:\n- {name: a, address: 'storage.example.com:443', verify: false}\n")
            .unwrap();
        assert!(!s.verify);
        let e = validate("tls:\n- name: a\n  address: 'storage.example.com:443'\n  verify: false\n  ca_file: /nonexistent.pem\n")
            .unwrap_err();
        assert_eq!(
            e,
            [
                "t.yaml:5:12: tls[0].ca_file: has no use with verify: false (trust is not verified): remove one of them"
            ]
        );
    }

    #[test]
    fn host_part() {
        assert_eq!(host_of("storage.example.com:443"), "storage.example.com");
        assert_eq!(host_of("[::1]:443"), "::1");
    }
}
