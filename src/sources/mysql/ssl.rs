//! Encrypted connections to MySQL / MariaDB, with the options of the `mysql` client:
//! `--ssl-mode`, `--ssl-ca`, `--ssl-cert` and `--ssl-key`, as MySQL's reference manual
//! describes them in "Command Options for Encrypted Connections"
//! (https://dev.mysql.com/doc/refman/8.0/en/connection-options.html#encrypted-connection-options).
//!
//! The connection is made by mysql_async over rustls. This module turns the options into its
//! `SslOpts`, and tells a TLS failure apart from the other connect failures so that it is
//! reported with the `tls` error kind, saying what failed.

use std::path::{Path, PathBuf};

use mysql_async::{ClientIdentity, SslOpts};
use serde::Deserialize;

use crate::config::Validator;

/// `ssl_mode:` of a MySQL target: the values of the mysql client's `--ssl-mode`, in any case
/// as the client takes them (`verify_ca` is `VERIFY_CA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP; the server is not asked for TLS.
    Disabled,
    /// TLS when the server offers it (without verifying its certificate), plain TCP when it
    /// does not offer it.
    Preferred,
    /// TLS or no connection; the certificate is not verified.
    Required,
    /// TLS, with the server's certificate chain verified against `ssl_ca`; its names are not
    /// compared with the host connected to.
    VerifyCa,
    /// As `VERIFY_CA`, and the certificate must name the host connected to.
    VerifyIdentity,
}

impl SslMode {
    pub const ALL: [SslMode; 5] = [
        SslMode::Disabled,
        SslMode::Preferred,
        SslMode::Required,
        SslMode::VerifyCa,
        SslMode::VerifyIdentity,
    ];

    /// The names as the mysql client spells them, in the order of [`SslMode::ALL`].
    const NAMES: [&'static str; 5] = [
        "DISABLED",
        "PREFERRED",
        "REQUIRED",
        "VERIFY_CA",
        "VERIFY_IDENTITY",
    ];

    /// The name as the mysql client spells it.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The mode of a name in any case, as the mysql client reads `--ssl-mode`.
    fn named(name: &str) -> Option<SslMode> {
        SslMode::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether the connection fails rather than going on in plain text.
    pub fn requires_tls(self) -> bool {
        !matches!(self, SslMode::Disabled | SslMode::Preferred)
    }
}

impl std::str::FromStr for SslMode {
    type Err = String;

    /// Case-insensitive, as the mysql client reads `--ssl-mode`.
    fn from_str(s: &str) -> Result<Self, String> {
        SslMode::named(s).ok_or_else(|| {
            format!(
                "unknown ssl mode {s:?}: expected one of {}",
                SslMode::NAMES.join(", ")
            )
        })
    }
}

impl<'de> Deserialize<'de> for SslMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SslMode::named(&s).ok_or_else(|| serde::de::Error::unknown_variant(&s, &SslMode::NAMES))
    }
}

/// The TLS options of a target, validated: paths resolved against the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ssl {
    pub mode: SslMode,
    /// PEM file of the CA certificates that may sign the server's certificate (for RDS, the
    /// region's bundle from AWS). Without it the verifying modes trust the Mozilla roots
    /// (webpki-roots), which sign no database server's certificate in practice.
    pub ca: Option<PathBuf>,
    /// The client certificate (PEM, chain allowed) and its key (PEM: PKCS#8, PKCS#1 or SEC1),
    /// for a user created `REQUIRE X509` or `REQUIRE SUBJECT`.
    pub identity: Option<(PathBuf, PathBuf)>,
}

impl Default for Ssl {
    fn default() -> Self {
        Ssl {
            mode: SslMode::Disabled,
            ca: None,
            identity: None,
        }
    }
}

/// The raw options, as a target or the `check mysql` command has them.
#[derive(Debug, Default, Clone, Copy)]
pub struct RawSsl<'a> {
    pub mode: Option<SslMode>,
    pub ca: Option<&'a Path>,
    pub cert: Option<&'a Path>,
    pub key: Option<&'a Path>,
}

impl RawSsl<'_> {
    /// The mode when none is given: `VERIFY_CA` when a CA is given (a CA is given to be
    /// checked against; left in plain text it would be a trap), else `dflt`.
    fn mode_or(&self, dflt: SslMode) -> SslMode {
        match (self.mode, self.ca) {
            (Some(m), _) => m,
            (None, Some(_)) => SslMode::VerifyCa,
            (None, None) => dflt,
        }
    }

    /// Checks the options; errors name the fields under `path`. Files are looked at once
    /// here, so that a missing one is a config error rather than a failure at every poll.
    pub fn validate(&self, v: &mut Validator<'_>, path: &str, dflt: SslMode) -> Option<Ssl> {
        let resolved = RawSsl {
            ca: self.ca.map(|p| v.relative(p)).as_deref(),
            cert: self.cert.map(|p| v.relative(p)).as_deref(),
            key: self.key.map(|p| v.relative(p)).as_deref(),
            mode: self.mode,
        }
        .resolve(dflt);
        match resolved {
            Ok(s) => Some(s),
            Err(errors) => {
                for (field, msg) in errors {
                    v.error(&format!("{path}.{field}"), msg);
                }
                None
            }
        }
    }

    /// The options with their mode, paths as given; or what is wrong, by field name.
    pub fn resolve(&self, dflt: SslMode) -> Result<Ssl, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        let mode = self.mode_or(dflt);
        let mut file = |field: &'static str, p: Option<&Path>| -> Option<PathBuf> {
            let p = p?;
            match std::fs::metadata(p) {
                Ok(m) if m.is_file() => {}
                Ok(_) => errors.push((field, format!("{} is not a file", p.display()))),
                Err(e) => errors.push((field, format!("cannot read {}: {e}", p.display()))),
            }
            Some(p.to_path_buf())
        };
        let ca = file("ssl_ca", self.ca);
        let cert = file("ssl_cert", self.cert);
        let key = file("ssl_key", self.key);
        let identity = match (cert, key) {
            (Some(c), Some(k)) => Some((c, k)),
            (None, None) => None,
            (Some(_), None) => {
                errors.push(("ssl_cert", "ssl_cert needs ssl_key".to_owned()));
                None
            }
            (None, Some(_)) => {
                errors.push(("ssl_key", "ssl_key needs ssl_cert".to_owned()));
                None
            }
        };
        if mode == SslMode::Disabled && (ca.is_some() || identity.is_some()) {
            errors.push((
                "ssl_mode",
                "DISABLED with ssl_ca, ssl_cert or ssl_key: the files would be ignored; \
                 choose REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                    .to_owned(),
            ));
        }
        if errors.is_empty() {
            Ok(Ssl { mode, ca, identity })
        } else {
            Err(errors)
        }
    }
}

impl Ssl {
    /// mysql_async's options for this mode, or `None` for a plain connection. `name` replaces
    /// the host in the certificate's verification (see [`presented_name`]).
    pub fn opts(&self, name: Option<&str>) -> Option<SslOpts> {
        let verify = match self.mode {
            SslMode::Disabled => return None,
            SslMode::Preferred | SslMode::Required => false,
            SslMode::VerifyCa | SslMode::VerifyIdentity => true,
        };
        let mut o = SslOpts::default()
            .with_danger_accept_invalid_certs(!verify)
            .with_client_identity(
                self.identity
                    .as_ref()
                    .map(|(c, k)| ClientIdentity::new(c.clone().into(), k.clone().into())),
            );
        if let Some(ca) = &self.ca {
            // Only the CA given, as the mysql client trusts only its --ssl-ca.
            o = o
                .with_root_certs(vec![ca.clone().into()])
                .with_disable_built_in_roots(true);
        }
        if let Some(n) = name {
            o = o.with_danger_tls_hostname_override(Some(n.to_owned()));
        }
        Some(o)
    }
}

/// Why a connection failed in its TLS part, or `None` when it did not. Covers the handshake
/// (rustls' error: unknown issuer, a name mismatch, an expired certificate, a refused client
/// certificate), the files of the options, and a server that does not offer TLS.
pub fn tls_failure(e: &mysql_async::Error) -> Option<String> {
    use mysql_async::{DriverError, Error, IoError};
    match e {
        Error::Io(IoError::Tls(t)) => Some(format!("TLS: {t}")),
        Error::Io(IoError::Io(io)) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(|r| format!("TLS handshake failed: {r}")),
        Error::Driver(DriverError::NoClientSslFlagFromServer) => {
            Some("the server does not offer TLS (have_ssl is not YES)".to_owned())
        }
        Error::Driver(DriverError::NoKeyFound) => {
            Some("no private key found in ssl_key".to_owned())
        }
        // ER_SECURE_TRANSPORT_REQUIRED (MySQL 3159, MariaDB 4036): require_secure_transport
        // refused a plain connection.
        Error::Server(s) if matches!(s.code, 3159 | 4036) => Some(format!(
            "the server requires TLS (require_secure_transport) and ssl_mode is DISABLED or \
             fell back to plain text: {}",
            s.message
        )),
        _ => None,
    }
}

/// The name a server's certificate presents, read from rustls' error when the certificate is
/// valid but not for the host connected to. `VERIFY_CA` connects again verifying the chain
/// for that name: the chain is verified against `ssl_ca`, and the host is not compared, as
/// the mysql client's `VERIFY_CA` does. (mysql_async's own "skip domain validation" matches
/// an error text that rustls 0.23 no longer writes.)
pub fn presented_name(e: &mysql_async::Error) -> Option<String> {
    use mysql_async::{Error, IoError};
    let Error::Io(IoError::Io(io)) = e else {
        return None;
    };
    let r = io.get_ref()?.downcast_ref::<rustls::Error>()?;
    let rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
        presented,
        ..
    }) = r
    else {
        return None;
    };
    presented.iter().find_map(|p| parse_presented(p))
}

/// One entry of `presented`, which webpki writes as `DnsName("db.example.com")` or
/// `IpAddress(10.0.0.1)`. A wildcard stands for any label, so `*.example.com` gives
/// `x.example.com`.
fn parse_presented(p: &str) -> Option<String> {
    if let Some(rest) = p.strip_prefix("DnsName(\"") {
        let name = rest.strip_suffix("\")")?;
        return Some(match name.strip_prefix("*.") {
            Some(base) => format!("x.{base}"),
            None => name.to_owned(),
        });
    }
    let ip = p.strip_prefix("IpAddress(")?.strip_suffix(')')?;
    ip.parse::<std::net::IpAddr>().ok().map(|a| a.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_the_mysql_client_spells_them() {
        for m in SslMode::ALL {
            assert_eq!(m.as_str().parse::<SslMode>(), Ok(m));
            assert_eq!(m.as_str().to_lowercase().parse::<SslMode>(), Ok(m));
        }
        let e = "VERIFY".parse::<SslMode>().unwrap_err();
        assert!(e.contains("VERIFY_IDENTITY"), "{e}");
        assert!(!SslMode::Preferred.requires_tls() && SslMode::Required.requires_tls());
    }

    #[test]
    fn the_config_takes_a_mode_in_any_case() {
        for text in ["VERIFY_CA", "verify_ca", "Verify_Ca"] {
            assert_eq!(
                serde_yaml_ng::from_str::<SslMode>(text).unwrap(),
                SslMode::VerifyCa
            );
        }
        let e = serde_yaml_ng::from_str::<SslMode>("verify").unwrap_err();
        assert!(
            e.to_string().starts_with(
                "unknown variant `verify`, expected one of `DISABLED`, `PREFERRED`, `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`"
            ),
            "{e}"
        );
    }

    #[test]
    fn a_ca_alone_means_verify_ca() {
        let ca = Path::new("ca.pem");
        let raw = RawSsl {
            ca: Some(ca),
            ..RawSsl::default()
        };
        assert_eq!(raw.mode_or(SslMode::Disabled), SslMode::VerifyCa);
        assert_eq!(
            RawSsl::default().mode_or(SslMode::Disabled),
            SslMode::Disabled
        );
    }

    #[test]
    fn names_read_from_rustls_errors() {
        assert_eq!(
            parse_presented("DnsName(\"db.example.com\")").as_deref(),
            Some("db.example.com")
        );
        assert_eq!(
            parse_presented("DnsName(\"*.example.com\")").as_deref(),
            Some("x.example.com")
        );
        assert_eq!(
            parse_presented("IpAddress(10.0.0.1)").as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(parse_presented("DirectoryName"), None);
    }

    #[test]
    fn options_of_each_mode() {
        let mut s = Ssl::default();
        assert!(s.opts(None).is_none());
        s.mode = SslMode::Required;
        let o = s.opts(None).unwrap();
        assert!(o.accept_invalid_certs());
        s.mode = SslMode::VerifyIdentity;
        s.ca = Some("ca.pem".into());
        let o = s.opts(Some("db")).unwrap();
        assert!(!o.accept_invalid_certs() && o.disable_built_in_roots());
        assert_eq!(o.tls_hostname_override(), Some("db"));
    }
}
