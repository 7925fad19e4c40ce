//! Certificates: `headroom check cert` against a real TLS server (`openssl s_server`) with
//! certificates the test generates: OK, WARNING and CRITICAL by days left, expired, not yet
//! valid, another host name, untrusted, self-signed, and nothing listening.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::certs::{Ca, TlsServer, leaf, openssl_days_left, openssl_enddate};
use time::Duration;

const NAME: &str = "storage.example.com";

fn check(port: u16, ca: Option<&Path>, extra: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_headroom"));
    cmd.args([
        "check",
        "cert",
        "-H",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--sni",
        NAME,
    ]);
    if let Some(ca) = ca {
        cmd.arg("--ca-file").arg(ca);
    }
    let out = cmd.args(extra).output().unwrap();
    assert!(out.stderr.is_empty() || !String::from_utf8_lossy(&out.stdout).is_empty());
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap().trim().to_owned(),
    )
}

#[test]
fn certificate_cases() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = Ca::new(d);
    let hour = Duration::hours(1);

    // Valid for 461 days (and an hour, so that whole days stay 461 for the test's length).
    let (c, k) = leaf(
        d,
        "valid",
        NAME,
        -hour,
        Duration::days(461) + hour,
        Some(&ca),
    );
    let s = TlsServer::start(&c, &k);
    let (rc, out) = check(s.port, Some(&ca.pem_path), &["-w", "30", "-c", "15"]);
    let days = openssl_days_left(&c);
    assert_eq!(days, 461);
    assert_eq!(
        out,
        format!(
            "OK: {days} days remaining for '{NAME}'. Certificate Expires: '{}'. Hash algorithm: sha256WithRSAEncryption | 'days_remaining'={days};30:;15:",
            openssl_enddate(&c)
        )
    );
    assert_eq!(rc, 0);
    // The same certificate without our CA in the trust store: untrusted.
    let (rc, out) = check(s.port, None, &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("chain not trusted: unknown issuer"), "{out}");
    drop(s);

    // 10 days left: WARNING with -c 5, CRITICAL with the default -c 15.
    let (c, k) = leaf(d, "ten", NAME, -hour, Duration::days(10) + hour, Some(&ca));
    let s = TlsServer::start(&c, &k);
    assert_eq!(openssl_days_left(&c), 10);
    let (rc, out) = check(s.port, Some(&ca.pem_path), &["-w", "30", "-c", "5"]);
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.starts_with("WARNING: 10 days remaining for 'storage.example.com'"),
        "{out}"
    );
    let (rc, out) = check(s.port, Some(&ca.pem_path), &[]);
    assert_eq!(rc, 2, "{out}");
    drop(s);

    // Expired three days ago.
    let (c, k) = leaf(
        d,
        "expired",
        NAME,
        -Duration::days(90),
        -Duration::days(3) - hour,
        Some(&ca),
    );
    let s = TlsServer::start(&c, &k);
    let (rc, out) = check(s.port, Some(&ca.pem_path), &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(
        out.starts_with(&format!(
            "CRITICAL: Certificate EXPIRED 3 days ago for '{NAME}'. Certificate Expired: '{}'",
            openssl_enddate(&c)
        )),
        "{out}"
    );
    drop(s);

    // Not valid before the day after tomorrow.
    let (c, k) = leaf(
        d,
        "future",
        NAME,
        Duration::days(2),
        Duration::days(400),
        Some(&ca),
    );
    let s = TlsServer::start(&c, &k);
    let (rc, out) = check(s.port, Some(&ca.pem_path), &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("Certificate not valid before '"), "{out}");
    drop(s);

    // Issued for another host name.
    let (c, k) = leaf(
        d,
        "other",
        "other.example.net",
        -hour,
        Duration::days(200),
        Some(&ca),
    );
    let s = TlsServer::start(&c, &k);
    let (rc, out) = check(s.port, Some(&ca.pem_path), &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(
        out.contains(
            "not valid for 'storage.example.com' (CN 'other.example.net', names other.example.net)"
        ),
        "{out}"
    );
    assert!(!out.contains("not trusted"), "{out}");
    drop(s);

    // Self-signed, even with our CA trusted.
    let (c, k) = leaf(d, "self", NAME, -hour, Duration::days(200), None);
    let s = TlsServer::start(&c, &k);
    let (rc, out) = check(s.port, Some(&ca.pem_path), &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("chain not trusted"), "{out}");
    drop(s);

    // Nothing listening: CRITICAL with the reason; a usage error: UNKNOWN.
    let (rc, out) = check(common::free_port(), None, &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("Connection refused"), "{out}");
    let (rc, out) = check(1, None, &["-w", "abc"]);
    assert_eq!(rc, 3, "{out}");
    assert!(out.starts_with("UNKNOWN: invalid range \"abc:\""), "{out}");
}

#[test]
fn a_silent_server_times_out_as_unknown() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let _hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    let start = std::time::Instant::now();
    let (rc, out) = check(port, None, &["-t", "1"]);
    assert_eq!(rc, 3, "{out}");
    assert!(
        out.starts_with("UNKNOWN: 127.0.0.1 could not be polled: timeout"),
        "{out}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
