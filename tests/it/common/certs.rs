//! Test certificates (generated with rcgen, RSA-2048 / SHA-256, the
//! `sha256WithRSAEncryption` of checks/tls.yaml's example OK line) and a real TLS server to present them: `openssl s_server`.

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
        Ca {
            params,
            key,
            pem_path,
        }
    }
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
        let child = Command::new("openssl")
            .args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key)
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
