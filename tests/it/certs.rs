//! Certificates: `headroom check cert` against a real TLS server (`openssl s_server`) with
//! certificates the test generates: OK, WARNING and CRITICAL by days left, expired, not yet
//! valid, another host name, untrusted, self-signed, and nothing listening; a served chain
//! whose intermediate expires first (the plugin and the daemon's check name it), a stapled
//! OCSP response (good, revoked) and a SHA-1 signed leaf.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::certs::{
    Ca, OcspAnswer, TlsServer, leaf, ocsp_response, openssl_days_left, openssl_enddate, sha1_leaf,
};
use common::{Daemon, free_port, wait_for};
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
    // A --ca-file that does not anchor the chain: it is tried alone first, then with the
    // system store (src/sources/tls.rs), and neither anchors it.
    let other_dir = d.join("other");
    std::fs::create_dir(&other_dir).unwrap();
    let other = Ca::new(&other_dir);
    let (rc, out) = check(s.port, Some(&other.pem_path), &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("chain not trusted"), "{out}");
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
    let (rc, out) = check(free_port(), None, &[]);
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

/// A certificate's notAfter as Unix time, as `openssl x509 -enddate` and date(1) read it.
fn not_after(cert: &Path) -> i64 {
    let out = Command::new("date")
        .args(["-u", "-d", &openssl_enddate(cert), "+%s"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn api_check(d: &Daemon, check: &str, host: &str) -> Option<serde_json::Value> {
    let (status, body) = d.get("/api/checks")?;
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["checks"]
        .as_array()?
        .iter()
        .find(|c| c["check"] == check && c["host"] == host && c["has_been_checked"] == true)
        .cloned()
}

#[test]
fn an_intermediate_expiring_first_is_named_by_the_plugin_and_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = Ca::new(d);
    let hour = Duration::hours(1);
    let inter = root.intermediate(
        d,
        "inter",
        "Headroom Test Intermediate",
        -Duration::days(30),
        Duration::days(5) + hour,
    );
    let (c, k) = leaf(
        d,
        "leaf",
        NAME,
        -hour,
        Duration::days(365) + hour,
        Some(&inter),
    );
    let inter_pem = inter.pem_path.to_str().unwrap();
    let s = TlsServer::start_with(free_port(), &c, &k, &["-cert_chain", inter_pem]);
    assert_eq!(openssl_days_left(&inter.pem_path), 5);
    assert_eq!(openssl_days_left(&c), 365);

    let warning = format!(
        "WARNING: 5 days remaining for intermediate 'Headroom Test Intermediate' (chain position 1) of '{NAME}'. Certificate Expires: '{}'. Hash algorithm: sha256WithRSAEncryption | 'days_remaining'=5;30:;3:",
        openssl_enddate(&inter.pem_path)
    );
    let (rc, out) = check(s.port, Some(&root.pem_path), &["-w", "30", "-c", "3"]);
    assert_eq!((rc, out.as_str()), (1, warning.as_str()));
    // The default -c 15: CRITICAL.
    let (rc, out) = check(s.port, Some(&root.pem_path), &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(
        out.starts_with("CRITICAL: 5 days remaining for intermediate 'Headroom Test Intermediate' (chain position 1)"),
        "{out}"
    );
    // Without the private root: untrusted, unless trust is not verified (-A / --insecure).
    let (rc, out) = check(s.port, None, &["-w", "30", "-c", "3"]);
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("chain not trusted: unknown issuer"), "{out}");
    for flag in ["-A", "--noauth", "--insecure"] {
        let (rc, out) = check(s.port, None, &[flag, "-w", "30", "-c", "3"]);
        assert_eq!((rc, out.as_str()), (1, warning.as_str()), "{flag}");
    }
    // --ca-file with -A is a usage error.
    let (rc, out) = check(s.port, Some(&root.pem_path), &["-A"]);
    assert_eq!(rc, 3, "{out}");

    // The daemon: ELB_CERTIFICATE (critical under 15 days) on a verified target and on one
    // with verify: false, and the chain's series.
    let config = format!(
        "defaults: {{interval: 500ms, timeout: 2s}}\n\
         tls:\n  - {{name: chain, address: '127.0.0.1:{port}', server_name: {NAME}, ca_file: '{ca}'}}\n  \
         - {{name: chain-noverify, address: '127.0.0.1:{port}', server_name: {NAME}, verify: false}}\n",
        port = s.port,
        ca = root.pem_path.display()
    );
    let daemon = Daemon::start(free_port(), &config, &[]);
    for target in ["chain", "chain-noverify"] {
        let v = wait_for(
            "ELB_CERTIFICATE evaluated",
            std::time::Duration::from_secs(20),
            || api_check(&daemon, "ELB_CERTIFICATE", target),
        );
        assert_eq!(v["status"], "CRITICAL", "{v}");
        assert_eq!(
            v["output"].as_str().unwrap(),
            format!(
                "CRITICAL: 5 days remaining for intermediate 'Headroom Test Intermediate' (chain position 1) of '{NAME}'. Certificate Expires: '{}'. Hash algorithm: sha256WithRSAEncryption",
                openssl_enddate(&inter.pem_path)
            ),
            "{v}"
        );
    }
    let m = daemon.metrics();
    let value = |name: &str, labels: &[&str]| {
        common::series_value(&m, name, labels).unwrap_or_else(|| panic!("{name} {labels:?}"))
    };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let chain_left = value("headroom_tls_chain_expiry_seconds", &["target=\"chain\""]);
    assert!(
        (chain_left - (not_after(&inter.pem_path) - now) as f64).abs() < 30.0,
        "{chain_left}"
    );
    let leaf_left = value(
        "headroom_tls_certificate_expiry_seconds",
        &["target=\"chain\""],
    );
    assert!(
        (leaf_left - (not_after(&c) - now) as f64).abs() < 30.0,
        "{leaf_left}"
    );
    assert_eq!(
        value(
            "headroom_tls_chain_certificate_not_after_timestamp_seconds",
            &[
                "target=\"chain\"",
                "position=\"1\"",
                "subject_cn=\"Headroom Test Intermediate\"",
                "issuer_cn=\"headroom test CA\"",
            ]
        ),
        not_after(&inter.pem_path) as f64
    );
    assert_eq!(
        value(
            "headroom_tls_chain_certificate_not_after_timestamp_seconds",
            &[
                "target=\"chain\"",
                "position=\"0\"",
                "subject_cn=\"storage.example.com\""
            ]
        ),
        not_after(&c) as f64
    );
    assert_eq!(
        value(
            "headroom_tls_chain_certificate_info",
            &[
                "target=\"chain\"",
                "position=\"1\"",
                "role=\"intermediate\"",
                "signature_hash=\"sha256\""
            ]
        ),
        1.0
    );
    assert_eq!(
        value("headroom_tls_certificate_trusted", &["target=\"chain\""]),
        1.0
    );
    // verify: false exports no trust verdict; no staple was sent.
    assert!(
        common::series_value(
            &m,
            "headroom_tls_certificate_trusted",
            &["target=\"chain-noverify\""]
        )
        .is_none()
    );
    assert_eq!(
        value("headroom_tls_ocsp_stapled", &["target=\"chain\""]),
        0.0
    );
    common::promtool_check_metrics(&m).unwrap();
}

#[test]
fn a_stapled_ocsp_response_is_read_good_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = Ca::new(d);
    let hour = Duration::hours(1);
    let inter = root.intermediate(
        d,
        "inter",
        "Headroom Test Intermediate",
        -Duration::days(30),
        Duration::days(1000),
    );
    let (c, k) = leaf(
        d,
        "leaf",
        NAME,
        -hour,
        Duration::days(461) + hour,
        Some(&inter),
    );
    let inter_pem = inter.pem_path.to_str().unwrap().to_owned();
    let good = ocsp_response(d, "good", &c, &inter, OcspAnswer::Good, 7);
    let port = free_port();
    let s = TlsServer::start_with(
        port,
        &c,
        &k,
        &[
            "-cert_chain",
            &inter_pem,
            "-status_file",
            good.to_str().unwrap(),
        ],
    );
    // A good staple keeps the seed's OK line.
    let (rc, out) = check(port, Some(&root.pem_path), &[]);
    assert_eq!(
        (rc, out),
        (
            0,
            format!(
                "OK: 461 days remaining for '{NAME}'. Certificate Expires: '{}'. Hash algorithm: sha256WithRSAEncryption | 'days_remaining'=461;30:;15:",
                openssl_enddate(&c)
            )
        )
    );
    let config = format!(
        "defaults: {{interval: 500ms, timeout: 2s}}\n\
         tls:\n  - {{name: stapled, address: '127.0.0.1:{port}', server_name: {NAME}, ca_file: '{}'}}\n",
        root.pem_path.display()
    );
    let daemon = Daemon::start(free_port(), &config, &[]);
    let t = ["target=\"stapled\""];
    wait_for(
        "the staple read",
        std::time::Duration::from_secs(20),
        || {
            daemon
                .value("headroom_tls_ocsp_stapled", &t)
                .filter(|v| *v == 1.0)
        },
    );
    let m = daemon.metrics();
    let v = |name: &str, labels: &[&str]| common::series_value(&m, name, labels);
    assert_eq!(
        v(
            "headroom_tls_ocsp_status",
            &["target=\"stapled\"", "status=\"good\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        v(
            "headroom_tls_ocsp_status",
            &["target=\"stapled\"", "status=\"revoked\""]
        ),
        Some(0.0)
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    let next = v("headroom_tls_ocsp_next_update_timestamp_seconds", &t).unwrap();
    assert!((next - (now + 7.0 * 86_400.0)).abs() < 120.0, "{next}");
    let this = v("headroom_tls_ocsp_this_update_timestamp_seconds", &t).unwrap();
    assert!((this - now).abs() < 120.0, "{this}");
    common::promtool_check_metrics(&m).unwrap();
    drop(s);

    // Revoked: CRITICAL with the time and the reason, in the plugin and the daemon.
    let revoked = ocsp_response(
        d,
        "revoked",
        &c,
        &inter,
        OcspAnswer::Revoked("240101000000Z", "keyCompromise"),
        7,
    );
    let _s = TlsServer::start_with(
        port,
        &c,
        &k,
        &[
            "-cert_chain",
            &inter_pem,
            "-status_file",
            revoked.to_str().unwrap(),
        ],
    );
    let (rc, out) = check(port, Some(&root.pem_path), &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(
        out.starts_with(&format!(
            "CRITICAL: 461 days remaining for '{NAME}'. Certificate Expires: '{}'. Hash algorithm: sha256WithRSAEncryption. OCSP: certificate revoked since 'Jan  1 00:00:00 2024 GMT' (keyCompromise) | ",
            openssl_enddate(&c)
        )),
        "{out}"
    );
    // A poll between the two servers is refused, which is CRITICAL too ("could not be
    // polled"): wait past it for the revoked staple's.
    let v = wait_for(
        "ELB_CERTIFICATE on the revoked staple",
        std::time::Duration::from_secs(20),
        || {
            api_check(&daemon, "ELB_CERTIFICATE", "stapled").filter(|v| {
                v["status"] == "CRITICAL"
                    && v["output"]
                        .as_str()
                        .is_some_and(|o| o.contains("OCSP: certificate revoked"))
            })
        },
    );
    assert!(
        v["output"].as_str().unwrap().ends_with(
            "OCSP: certificate revoked since 'Jan  1 00:00:00 2024 GMT' (keyCompromise)"
        ),
        "{v}"
    );
    assert_eq!(
        daemon.value(
            "headroom_tls_ocsp_revocation_timestamp_seconds",
            &["target=\"stapled\"", "reason=\"keyCompromise\""]
        ),
        Some(1_704_067_200.0)
    );
}

#[test]
fn a_sha1_signed_leaf_is_critical() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = Ca::new(d);
    let (c, k) = sha1_leaf(d, "sha1", NAME, 400, &root);
    // OpenSSL 3 refuses to serve a SHA-1 signed certificate above security level 0
    // (SSL_CTX_set_security_level(3)).
    let s = TlsServer::start_with(free_port(), &c, &k, &["-cipher", "DEFAULT@SECLEVEL=0"]);
    for extra in [&[][..], &["-A"][..]] {
        let ca = if extra.is_empty() {
            Some(root.pem_path.as_path())
        } else {
            None
        };
        // `openssl x509 -days 400` ends the certificate 400 days after the second it was
        // made: it has 400 whole days left within that second and 399 after, and the second
        // may turn while the check runs. The check reads the clock between these two.
        let before = openssl_days_left(&c);
        let (rc, out) = check(s.port, ca, extra);
        let after = openssl_days_left(&c);
        assert!(
            (399..=400).contains(&after) && after <= before,
            "{before} {after}"
        );
        assert_eq!(rc, 2, "{out}");
        let prefix = |days: i64| {
            format!(
                "CRITICAL: {days} days remaining for '{NAME}'. Certificate Expires: '{}'. Hash algorithm: sha1WithRSAEncryption",
                openssl_enddate(&c)
            )
        };
        assert!(
            (after..=before).any(|days| out.starts_with(&prefix(days))),
            "{out}"
        );
        assert!(
            out.contains("Weak signature: leaf 'storage.example.com' signed with SHA-1 (sha1WithRSAEncryption)"),
            "{out}"
        );
    }
}
