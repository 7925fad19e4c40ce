//! The TLS certificate source: a TLS handshake with SNI to `host:port`, then the leaf
//! certificate's dates, names, issuer and signature algorithm, whether its chain is trusted
//! and whether it is valid for the name. The handshake accepts any certificate so that an
//! expired, self-signed or misnamed one can still be read and reported; trust and name are
//! then verified separately against the system trust store (plus `ca_file`).

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
    pub hostname_match: bool,
    /// Why the chain is not trusted, when it is not.
    pub trust_error: Option<String>,
    pub handshake_seconds: f64,
}

/// Accepts every certificate during the handshake (signatures over the handshake are still
/// checked), so that a bad certificate can be read and reported instead of failing the
/// connection.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
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
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
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
    connector: tokio_rustls::TlsConnector,
    roots: tokio::sync::OnceCell<Arc<RootCertStore>>,
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

impl TlsPoller {
    pub fn new(s: &Settings) -> Self {
        let provider = provider();
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the default provider supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
            .with_no_client_auth();
        TlsPoller {
            settings: s.clone(),
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            roots: tokio::sync::OnceCell::new(),
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

    /// Connects, reads and verifies the leaf certificate.
    pub async fn facts(&self) -> Result<CertFacts, PollError> {
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
        let tls = self
            .connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| {
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
    let subject_cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or_default()
        .to_owned();
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
        hostname_match: false,
        trust_error: None,
        handshake_seconds: 0.0,
    })
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
    facts.hostname_match = webpki::EndEntityCert::try_from(leaf)
        .map(|ee| ee.verify_is_valid_for_subject_name(name).is_ok())
        .unwrap_or(false);
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

/// The families of one certificate poll.
pub fn families(f: &CertFacts, now: i64) -> Vec<Family> {
    let g =
        |name: &'static str, help: &'static str, v: f64| Family::single(name, help, Kind::Gauge, v);
    let b = |x: bool| if x { 1.0 } else { 0.0 };
    vec![
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
            "headroom_tls_certificate_trusted",
            "1 if the chain verifies against the system store (and ca_file), dates aside.",
            b(f.trusted),
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
            samples: vec![Sample {
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
    ]
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

    #[test]
    fn host_part() {
        assert_eq!(host_of("storage.example.com:443"), "storage.example.com");
        assert_eq!(host_of("[::1]:443"), "::1");
    }
}
