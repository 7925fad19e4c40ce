//! Test certificates (generated with rcgen, RSA-2048 / SHA-256, the
//! `sha256WithRSAEncryption` of checks/tls.yaml's example OK line; an intermediate CA under
//! the root; a SHA-1 signed leaf made with the openssl CLI, which rcgen cannot sign), OCSP
//! responses made by `openssl ocsp` against a CA index, and a real TLS server to present them:
//! `openssl s_server`, with a chain (`-cert_chain`) and a staple (`-status_file`) if asked.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_RSA_SHA256, RsaKeySize,
};
use time::OffsetDateTime;

pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pub pem_path: PathBuf,
    /// The CA's private key, PEM, for the openssl CLI (`openssl ocsp -rkey`, `x509 -CAkey`).
    pub key_path: PathBuf,
}

fn rsa() -> KeyPair {
    KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap()
}

impl Ca {
    pub fn new(dir: &Path) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "headroom test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = OffsetDateTime::now_utc() - time::Duration::days(3650);
        params.not_after = OffsetDateTime::now_utc() + time::Duration::days(3650);
        let key = rsa();
        let cert = params.self_signed(&key).unwrap();
        let pem_path = dir.join("ca.pem");
        std::fs::write(&pem_path, cert.pem()).unwrap();
        let key_path = dir.join("ca.key");
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Ca {
            params,
            key,
            pem_path,
            key_path,
        }
    }

    /// An intermediate CA named `cn` under this one, valid from `from` to `to` (offsets from
    /// now), written to `<name>.pem` and `<name>.key`.
    pub fn intermediate(
        &self,
        dir: &Path,
        name: &str,
        cn: &str,
        from: time::Duration,
        to: time::Duration,
    ) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now + from;
        params.not_after = now + to;
        let key = rsa();
        let cert = params
            .signed_by(&key, &Issuer::from_params(&self.params, &self.key))
            .unwrap();
        let pem_path = dir.join(format!("{name}.pem"));
        std::fs::write(&pem_path, cert.pem()).unwrap();
        let key_path = dir.join(format!("{name}.key"));
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        Ca {
            params,
            key,
            pem_path,
            key_path,
        }
    }
}

/// Runs the openssl CLI with `args`, failing the test with its stderr when it fails.
pub fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A leaf for `dns` signed by `ca` with SHA-1 (`openssl x509 -req -sha1`), valid for `days`,
/// written to `<name>.pem` and `<name>.key`.
pub fn sha1_leaf(dir: &Path, name: &str, dns: &str, days: u32, ca: &Ca) -> (PathBuf, PathBuf) {
    let (c, k, csr, ext) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.csr")),
        dir.join(format!("{name}.ext")),
    );
    std::fs::write(&ext, format!("subjectAltName=DNS:{dns}\n")).unwrap();
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        p(&k),
        "-out",
        p(&csr),
        "-subj",
        &format!("/CN={dns}"),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-sha1",
        "-in",
        p(&csr),
        "-CA",
        p(&ca.pem_path),
        "-CAkey",
        p(&ca.key_path),
        "-set_serial",
        "4097",
        "-days",
        &days.to_string(),
        "-extfile",
        p(&ext),
        "-out",
        p(&c),
    ]);
    (c, k)
}

/// The certificate's status an OCSP responder gives (`openssl ocsp -index`: the CA database
/// format of openssl-ca(1)).
pub enum OcspAnswer {
    Good,
    /// Revoked at `YYMMDDHHMMSSZ` for a CRL reason (`keyCompromise`...).
    Revoked(&'static str, &'static str),
}

/// A DER OCSP response for `cert` issued by `issuer`, signed by the issuer (openssl-ocsp(1):
/// a request `-issuer -cert -reqout`, answered from an index with `-index -rsigner -rkey -CA
/// -reqin -respout`), valid for `ndays`; written to `<name>.der`.
pub fn ocsp_response(
    dir: &Path,
    name: &str,
    cert: &Path,
    issuer: &Ca,
    answer: OcspAnswer,
    ndays: u32,
) -> PathBuf {
    let serial = {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in", p(cert)])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .trim_start_matches("serial=")
            .to_owned()
    };
    let (status, revoked) = match answer {
        OcspAnswer::Good => ("V", String::new()),
        OcspAnswer::Revoked(at, reason) => ("R", format!("{at},{reason}")),
    };
    let index = dir.join(format!("{name}.index"));
    std::fs::write(
        &index,
        format!("{status}\t491231000000Z\t{revoked}\t{serial}\tunknown\t/CN=test\n"),
    )
    .unwrap();
    let (req, resp) = (
        dir.join(format!("{name}.req")),
        dir.join(format!("{name}.der")),
    );
    openssl(&[
        "ocsp",
        "-issuer",
        p(&issuer.pem_path),
        "-cert",
        p(cert),
        "-no_nonce",
        "-reqout",
        p(&req),
    ]);
    openssl(&[
        "ocsp",
        "-index",
        p(&index),
        "-rsigner",
        p(&issuer.pem_path),
        "-rkey",
        p(&issuer.key_path),
        "-CA",
        p(&issuer.pem_path),
        "-reqin",
        p(&req),
        "-respout",
        p(&resp),
        "-ndays",
        &ndays.to_string(),
    ]);
    resp
}

/// Writes `<name>.pem` and `<name>.key` for a leaf valid from `from` to `to` (offsets from
/// now), for `dns`, signed by `ca` (or self-signed).
pub fn leaf(
    dir: &Path,
    name: &str,
    dns: &str,
    from: time::Duration,
    to: time::Duration,
    ca: Option<&Ca>,
) -> (PathBuf, PathBuf) {
    leaf_with_names(dir, name, dns, &[dns], from, to, ca)
}

/// Like [`leaf`], with CN `cn` and subject alternative names `sans` (IP addresses become IP
/// SANs).
pub fn leaf_with_names(
    dir: &Path,
    name: &str,
    cn: &str,
    sans: &[&str],
    from: time::Duration,
    to: time::Duration,
    ca: Option<&Ca>,
) -> (PathBuf, PathBuf) {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let now = OffsetDateTime::now_utc();
    params.not_before = now + from;
    params.not_after = now + to;
    let key = rsa();
    let cert = match ca {
        Some(ca) => params
            .signed_by(&key, &Issuer::from_params(&ca.params, &ca.key))
            .unwrap(),
        None => params.self_signed(&key).unwrap(),
    };
    let (c, k) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

/// `openssl s_server` presenting one certificate on a free loopback port, killed on drop.
pub struct TlsServer {
    pub port: u16,
    child: Child,
}

impl TlsServer {
    pub fn start(cert: &Path, key: &Path) -> TlsServer {
        TlsServer::start_on(super::free_port(), cert, key)
    }

    /// On `port`: a server replaced by one presenting another certificate, at the address
    /// a target already polls.
    pub fn start_on(port: u16, cert: &Path, key: &Path) -> TlsServer {
        TlsServer::start_with(port, cert, key, &[])
    }

    /// With more `openssl s_server` options: `-cert_chain FILE` (intermediates sent after
    /// the leaf), `-status_file FILE` (a DER OCSP response stapled to every handshake),
    /// `-cipher DEFAULT@SECLEVEL=0` (to serve a SHA-1 signed certificate).
    pub fn start_with(port: u16, cert: &Path, key: &Path, extra: &[&str]) -> TlsServer {
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl not installed: run scripts/setup");
        super::wait_for(
            "openssl s_server to listen",
            Duration::from_secs(10),
            || std::net::TcpStream::connect(("127.0.0.1", port)).ok(),
        );
        TlsServer { port, child }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whole days until `openssl x509 -enddate` of `cert`, rounded down, as a reader of that
/// command would compute them.
pub fn openssl_days_left(cert: &Path) -> i64 {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    // notAfter=Mar  2 08:56:38 2028 GMT
    let date = text.trim().strip_prefix("notAfter=").unwrap();
    let epoch = Command::new("date")
        .args(["-u", "-d", date, "+%s"])
        .output()
        .unwrap();
    let end: i64 = String::from_utf8(epoch.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (end - now).div_euclid(86_400)
}

pub fn openssl_enddate(cert: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-enddate", "-in"])
        .arg(cert)
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .trim_start_matches("notAfter=")
        .to_owned()
}

/// checks/tls.yaml's example: `storage.example.com`, 461 whole days left (plus an hour, so the
/// count holds for the test's length), signed by a fresh CA, presented by `openssl s_server`.
pub fn storage_server(dir: &Path) -> (Ca, PathBuf, TlsServer) {
    let ca = Ca::new(dir);
    let hour = time::Duration::hours(1);
    let (c, k) = leaf(
        dir,
        "storage",
        "storage.example.com",
        -hour,
        time::Duration::days(461) + hour,
        Some(&ca),
    );
    let server = TlsServer::start(&c, &k);
    (ca, c, server)
}
