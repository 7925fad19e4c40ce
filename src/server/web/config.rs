//! The web configuration file of `--web.config.file`, in the format Prometheus' exporters
//! share (exporter-toolkit, docs/web-configuration.md): `tls_server_config`,
//! `http_server_config` and `basic_auth_users`. Raw serde types first, then validation into
//! a [`WebConfig`] whose errors name FILE:LINE:COLUMN.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::http::{HeaderName, HeaderValue};
use serde::Deserialize;

use super::tls::{self, ClientAuth, TlsSettings, Version};
use crate::config::{ConfigError, ConfigErrors, Pos, Positions, Validator};

/// The whole file. Every section is optional; an empty file serves plain HTTP without
/// authentication, as no file does.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebConfig {
    /// TLS for every endpoint: certificate and key, versions, client certificates.
    #[serde(default)]
    pub tls_server_config: Option<RawTls>,
    /// HTTP settings: headers added to every response, HTTP/2.
    #[serde(default)]
    pub http_server_config: Option<RawHttp>,
    /// User name to bcrypt hash of the password; when not empty, every request needs basic
    /// authentication (RFC 7617) as one of these users.
    #[serde(default)]
    pub basic_auth_users: Option<BTreeMap<String, String>>,
    /// Request rate limiting (exporter-toolkit's token bucket): recognised, not implemented,
    /// and refused with an error rather than ignored.
    #[serde(default)]
    pub rate_limit: Option<serde_yaml_ng::Value>,
}

/// `tls_server_config:` (exporter-toolkit's names and values).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// The server's certificate (PEM), followed by its intermediates, from a file.
    pub cert_file: Option<PathBuf>,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1) from a file.
    pub key_file: Option<PathBuf>,
    /// The server's certificate as inline PEM, instead of `cert_file`.
    pub cert: Option<String>,
    /// An inline private key: refused, a key is a secret and comes from `key_file`.
    pub key: Option<String>,
    /// The CAs that sign client certificates, as inline PEM, instead of `client_ca_file`.
    pub client_ca: Option<String>,
    /// The CAs that sign client certificates (PEM), from a file.
    pub client_ca_file: Option<PathBuf>,
    /// NoClientCert (default), RequestClientCert, RequireAnyClientCert,
    /// VerifyClientCertIfGiven or RequireAndVerifyClientCert (Go's `tls.ClientAuthType`).
    pub client_auth_type: Option<String>,
    /// A client certificate must carry one of these subject alternative names (DNS, IP,
    /// e-mail or URI, compared exactly).
    pub client_allowed_sans: Option<Vec<String>>,
    /// The lowest TLS version accepted: TLS12 (default) or TLS13.
    pub min_version: Option<String>,
    /// The highest TLS version accepted: TLS13 (default) or TLS12.
    pub max_version: Option<String>,
    /// TLS 1.2 cipher suites by their IANA names, in order of preference.
    pub cipher_suites: Option<Vec<String>>,
    /// Whether the server's order of `cipher_suites` wins over the client's (default true).
    pub prefer_server_cipher_suites: Option<bool>,
    /// Key exchange groups in order of preference, by Go's names (CurveP256, X25519...).
    pub curve_preferences: Option<Vec<String>>,
}

/// `http_server_config:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// HTTP/2: accepted for compatibility; headroom serves HTTP/1.1 over TLS either way.
    pub http2: Option<bool>,
    /// Headers added to every response.
    #[serde(default)]
    pub headers: Option<RawHeaders>,
}

/// `http_server_config.headers:`: the five headers exporter-toolkit allows.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHeaders {
    /// Content-Security-Policy, as given.
    #[serde(rename = "Content-Security-Policy")]
    pub content_security_policy: Option<String>,
    /// X-Frame-Options: deny or sameorigin.
    #[serde(rename = "X-Frame-Options")]
    pub x_frame_options: Option<String>,
    /// X-Content-Type-Options: nosniff.
    #[serde(rename = "X-Content-Type-Options")]
    pub x_content_type_options: Option<String>,
    /// X-XSS-Protection, as given.
    #[serde(rename = "X-XSS-Protection")]
    pub x_xss_protection: Option<String>,
    /// Strict-Transport-Security, as given.
    #[serde(rename = "Strict-Transport-Security")]
    pub strict_transport_security: Option<String>,
}

/// A validated web configuration.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// The TLS server settings; `None` serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// What the TLS settings say, for the log line.
    pub tls_summary: Option<String>,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// User name to bcrypt hash; empty: no authentication.
    pub users: BTreeMap<String, String>,
}

impl WebConfig {
    /// One line for the log: what is protected and how.
    pub fn summary(&self) -> String {
        let mut parts = vec![match &self.tls_summary {
            Some(t) => format!("TLS ({t})"),
            None => "plain HTTP".to_owned(),
        }];
        parts.push(match self.users.len() {
            0 => "no basic auth".to_owned(),
            1 => "basic auth: 1 user".to_owned(),
            n => format!("basic auth: {n} users"),
        });
        if !self.users.is_empty() && self.tls.is_none() {
            parts.push(
                "WARNING: without tls_server_config passwords cross the network readable"
                    .to_owned(),
            );
        }
        if !self.headers.is_empty() {
            parts.push(format!("{} response headers", self.headers.len()));
        }
        parts.join(", ")
    }
}

/// Reads and validates a web configuration file.
pub fn load(path: &Path) -> Result<WebConfig, ConfigErrors> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            pos: None,
            message: format!("cannot read: {e}"),
        }])
    })?;
    parse(path, &src)
}

/// Validates web configuration text; `file` names it in errors and relative paths are
/// resolved against its directory.
pub fn parse(file: &Path, src: &str) -> Result<WebConfig, ConfigErrors> {
    // An empty file (or one of comments) is a valid, empty configuration.
    let raw: RawWebConfig = if src.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    }) {
        RawWebConfig::default()
    } else {
        serde_yaml_ng::from_str(src).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: file.to_path_buf(),
                pos: e.location().map(|l| Pos {
                    line: l.line(),
                    col: l.column(),
                }),
                message: crate::config::serde_message(&e.to_string()),
            }])
        })?
    };
    let positions = Positions::index(src);
    let mut v = Validator::new(file, &positions, (StdDuration::ZERO, StdDuration::ZERO));
    let mut out = WebConfig::default();
    if raw.rate_limit.is_some() {
        v.error(
            "rate_limit",
            "not supported by headroom: put a reverse proxy in front to limit request rates",
        );
    }
    if let Some(t) = &raw.tls_server_config
        && let Some(settings) = tls_settings(&mut v, t)
    {
        match tls::server_config(&settings) {
            Ok(cfg) => {
                out.tls_summary = Some(settings.summary());
                out.tls = Some(cfg);
            }
            Err((field, msg)) => v.error(&format!("tls_server_config.{field}"), msg),
        }
    }
    if let Some(h) = raw
        .http_server_config
        .as_ref()
        .and_then(|h| h.headers.as_ref())
    {
        out.headers = headers(&mut v, h);
    }
    for (user, hash) in raw.basic_auth_users.iter().flatten() {
        let path = format!("basic_auth_users.{user}");
        if user.is_empty() || user.contains(':') {
            // RFC 7617 section 2: a user-id containing a colon cannot be sent.
            v.error(&path, "a user name must be non-empty and contain no colon");
        } else if hash.parse::<bcrypt::HashParts>().is_err() {
            // The hash is not printed: a mistake here may be a password pasted in its place.
            v.error(
                &path,
                "not a bcrypt hash ($2a$, $2b$ or $2y$, e.g. from `htpasswd -nBC 10 \"\" | tr -d ':\\n'`)",
            );
        } else {
            out.users.insert(user.clone(), hash.clone());
        }
    }
    v.finish()?;
    Ok(out)
}

/// Reads a PEM file named by `field`, resolved against the web config's directory.
fn read_pem(v: &mut Validator<'_>, field: &str, p: &Path) -> Option<Vec<u8>> {
    let full = v.relative(p);
    match std::fs::read(&full) {
        Ok(b) => Some(b),
        Err(e) => {
            v.error(
                &format!("tls_server_config.{field}"),
                format!("cannot read {}: {e}", full.display()),
            );
            None
        }
    }
}

/// The TLS section's files read and its names parsed; building the rustls configuration
/// from them is `tls::server_config`.
fn tls_settings(v: &mut Validator<'_>, t: &RawTls) -> Option<TlsSettings> {
    let before = v.error_count();
    let f = |name: &str| format!("tls_server_config.{name}");
    if t.key.is_some() {
        v.error(
            &f("key"),
            "an inline private key is not accepted: it is a secret; put it in a file named by key_file",
        );
    }
    let cert = match (&t.cert, &t.cert_file) {
        (Some(_), Some(_)) => {
            v.error(&f("cert"), "give either cert or cert_file, not both");
            None
        }
        (Some(pem), None) => Some(("cert".to_owned(), pem.as_bytes().to_vec())),
        (None, Some(p)) => read_pem(v, "cert_file", p)
            .map(|b| (format!("cert_file ({})", v.relative(p).display()), b)),
        (None, None) => {
            v.error(
                "tls_server_config",
                "cert_file and key_file are required for TLS",
            );
            None
        }
    };
    let key = match &t.key_file {
        Some(p) => read_pem(v, "key_file", p)
            .map(|b| (format!("key_file ({})", v.relative(p).display()), b)),
        None => {
            if t.key.is_none() && (t.cert.is_some() || t.cert_file.is_some()) {
                v.error("tls_server_config", "key_file is required for TLS");
            }
            None
        }
    };
    let client_ca = match (&t.client_ca, &t.client_ca_file) {
        (Some(_), Some(_)) => {
            v.error(
                &f("client_ca"),
                "give either client_ca or client_ca_file, not both",
            );
            None
        }
        (Some(pem), None) => Some(("client_ca".to_owned(), pem.as_bytes().to_vec())),
        (None, Some(p)) => read_pem(v, "client_ca_file", p)
            .map(|b| (format!("client_ca_file ({})", v.relative(p).display()), b)),
        (None, None) => None,
    };
    let client_auth = match t.client_auth_type.as_deref() {
        None => ClientAuth::NoClientCert,
        Some(s) => match ClientAuth::parse(s) {
            Some(c) => c,
            None => {
                v.error(
                    &f("client_auth_type"),
                    format!(
                        "unknown value {s:?}: expected NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                    ),
                );
                ClientAuth::NoClientCert
            }
        },
    };
    if client_auth.verifies() && client_ca.is_none() && t.client_auth_type.is_some() {
        v.error(
            &f("client_auth_type"),
            format!("{client_auth:?} needs client_ca_file to verify client certificates with"),
        );
    }
    if !client_auth.verifies() && client_ca.is_some() {
        v.error(
            &f("client_ca_file"),
            format!(
                "a client CA is set but client_auth_type is {client_auth:?}, which never verifies against it: use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            ),
        );
    }
    let allowed_sans = t.client_allowed_sans.clone().unwrap_or_default();
    if !allowed_sans.is_empty() && !client_auth.requires() {
        v.error(
            &f("client_allowed_sans"),
            "needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert: the other types let a client in without a certificate to match",
        );
    }
    let mut version = |field: &str, s: Option<&str>, dflt: Version| match s {
        None => dflt,
        Some(s) => match Version::parse(s) {
            Ok(ver) => ver,
            Err(msg) => {
                v.error(&f(field), msg);
                dflt
            }
        },
    };
    let min_version = version("min_version", t.min_version.as_deref(), Version::Tls12);
    let max_version = version("max_version", t.max_version.as_deref(), Version::Tls13);
    if min_version > max_version {
        v.error(
            &f("min_version"),
            format!("{min_version:?} is above max_version {max_version:?}"),
        );
    }
    let mut suites = Vec::new();
    for (i, name) in t.cipher_suites.iter().flatten().enumerate() {
        match tls::cipher_suite(name) {
            Ok(Some(s)) => suites.push(s),
            Ok(None) => {} // a TLS 1.3 suite: always all enabled, as in Go
            Err(msg) => v.error(&f(&format!("cipher_suites[{i}]")), msg),
        }
    }
    let mut groups = Vec::new();
    for (i, name) in t.curve_preferences.iter().flatten().enumerate() {
        match tls::kx_group(name) {
            Ok(g) => groups.push(g),
            Err(msg) => v.error(&f(&format!("curve_preferences[{i}]")), msg),
        }
    }
    if v.error_count() > before {
        return None;
    }
    Some(TlsSettings {
        cert: cert?,
        key: key?,
        client_ca,
        client_auth,
        allowed_sans,
        min_version,
        max_version,
        cipher_suites: suites,
        prefer_server_order: t.prefer_server_cipher_suites.unwrap_or(true),
        kx_groups: groups,
    })
}

/// The response headers, checked as exporter-toolkit checks them.
fn headers(v: &mut Validator<'_>, h: &RawHeaders) -> Vec<(HeaderName, HeaderValue)> {
    let given = [
        ("Content-Security-Policy", &h.content_security_policy, None),
        (
            "X-Frame-Options",
            &h.x_frame_options,
            Some(&["deny", "sameorigin"][..]),
        ),
        (
            "X-Content-Type-Options",
            &h.x_content_type_options,
            Some(&["nosniff"][..]),
        ),
        ("X-XSS-Protection", &h.x_xss_protection, None),
        (
            "Strict-Transport-Security",
            &h.strict_transport_security,
            None,
        ),
    ];
    let mut out = Vec::new();
    for (name, value, allowed) in given {
        // Blank means unset, as in exporter-toolkit.
        let Some(value) = value.as_deref().filter(|s| !s.trim().is_empty()) else {
            continue;
        };
        let path = format!("http_server_config.headers.{name}");
        if let Some(allowed) = allowed
            && !allowed.iter().any(|a| a.eq_ignore_ascii_case(value))
        {
            v.error(
                &path,
                format!(
                    "{value:?} is not accepted: expected {}",
                    allowed.join(" or ")
                ),
            );
            continue;
        }
        match HeaderValue::from_str(value) {
            Ok(hv) => out.push((HeaderName::from_static(lower(name)), hv)),
            Err(_) => v.error(&path, "not a valid header value"),
        }
    }
    out
}

/// The lower-case form `HeaderName::from_static` wants, of the five names above.
fn lower(name: &str) -> &'static str {
    match name {
        "Content-Security-Policy" => "content-security-policy",
        "X-Frame-Options" => "x-frame-options",
        "X-Content-Type-Options" => "x-content-type-options",
        "X-XSS-Protection" => "x-xss-protection",
        _ => "strict-transport-security",
    }
}
