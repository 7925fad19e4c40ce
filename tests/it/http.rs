//! The http source against a real WebDAV server: Debian's nginx with its dav and dav-ext
//! modules, started by scripts/services over HTTP and HTTPS (its test locations: /dav/
//! writable, /status500, /private/ behind basic auth, /loop redirecting to itself, /tampered/
//! answering other bytes than were PUT). PUT, GET, DELETE and PROPFIND latencies by phase, the
//! round trip, the HTTPS target's discovered certificate, and each failure with its reason,
//! within the timeout, and the checks' states on the daemon's /api/checks.
//!
//! One failure nginx cannot produce: a server that sends the status line and headers, then
//! stalls in the body. A tiny TCP listener in the test plays that server (and one that never
//! answers at all).

use crate::common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{Daemon, env, free_port, wait_for};
use headroom::model::{PollError, Poller};
use headroom::sources::{AnyPoller, aws::Clients};

/// The evaluated check `name` on `host`: (status, output).
fn check(d: &Daemon, name: &str, host: &str) -> Option<(String, String)> {
    let (_, body) = d.get("/api/checks")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["checks"]
        .as_array()?
        .iter()
        .find(|c| c["check"] == name && c["host"] == host && c["has_been_checked"] == true)
        .map(|c| {
            let status = c["status"].as_str().unwrap_or_default().to_owned();
            let output = c["output"].as_str().unwrap_or_default();
            // The plugin line without its `STATUS: ` prefix and perfdata.
            let output = output
                .strip_prefix(&format!("{status}: "))
                .unwrap_or(output);
            let output = output.split(" | ").next().unwrap_or_default().to_owned();
            (status, output)
        })
}

/// Waits until check `name` on `host` is `status`; returns its output.
fn wait_check(d: &Daemon, name: &str, host: &str, status: &str) -> String {
    wait_for(
        &format!("{name} on {host} to be {status}"),
        Duration::from_secs(30),
        || {
            check(d, name, host)
                .filter(|(s, _)| s == status)
                .map(|(_, o)| o)
        },
    )
}

fn ca() -> String {
    format!("{}/tls/ca.pem", services_dir())
}

fn services_dir() -> String {
    // The env file sits in the services' directory; the CA is the one of its HTTPS endpoint.
    let tls_ca = env("HEADROOM_TEST_TLS_CA");
    Path::new(&tls_ca)
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .display()
        .to_string()
}

/// PUTs `body` at `url` with curl, as a fixture.
fn curl_put(url: &str, body: &str) {
    let out = std::process::Command::new("curl")
        .args(["-sf", "-o", "/dev/null", "-T", "-", url])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(body.as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(out.success(), "curl PUT {url}");
}

/// One poll of the single target of `config`, in this process, and how long it took.
async fn poll_once(config: &str) -> (Result<Vec<headroom::model::Family>, PollError>, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, config).unwrap();
    let c = headroom::config_file::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let p = AnyPoller::new(&c.targets[0], &Clients::default());
    let start = Instant::now();
    let r = p.poll().await.map(|p| p.families);
    (r, start.elapsed())
}

fn value(fams: &[headroom::model::Family], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    headroom::model::find_value(fams, name, labels)
}

fn label(
    fams: &[headroom::model::Family],
    name: &str,
    labels: &[(&str, &str)],
    key: &str,
) -> String {
    fams.iter()
        .filter(|f| f.name == name)
        .flat_map(|f| &f.samples)
        .find(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v))
        })
        .and_then(|s| s.labels.iter().find(|(k, _)| k == key))
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

#[test]
fn webdav_methods_by_phase_round_trip_and_certificate_over_http_and_https() {
    // The latency checks must be OK (the p95 warns at 1 s): not beside sysbench's load.
    let _quiet = common::lock::no_load();
    let http = env("HEADROOM_TEST_WEBDAV_HTTP");
    let https = env("HEADROOM_TEST_WEBDAV_HTTPS");
    curl_put(
        &format!("{http}/dav/it/get.txt"),
        "hello from the fixture\n",
    );
    let port = free_port();
    let d = Daemon::start(
        port,
        &format!(
            "vantage: it-west\ndefaults: {{interval: 1s, timeout: 3s}}\nhttp:\n\
             - {{name: get, url: \"{http}/dav/it/get.txt\", fail_if_body_not_matches: \"fixture\"}}\n\
             - {{name: put, url: \"{http}/dav/it/put.txt\", method: PUT}}\n\
             - {{name: propfind, url: \"{http}/dav/it/\", method: PROPFIND}}\n\
             - {{name: rt, url: \"{http}/dav/it/rt/\", method: roundtrip}}\n\
             - {{name: rts, url: \"{https}/dav/it/rts/\", method: roundtrip, ca_file: {ca}}}\n",
            ca = ca()
        ),
        &[],
    );
    wait_for("two polls of every target", Duration::from_secs(20), || {
        let m = d.metrics();
        ["get", "put", "propfind", "rt", "rts"]
            .iter()
            .all(|t| {
                common::series_value(
                    &m,
                    "headroom_http_request_duration_seconds_count",
                    &[&format!("target=\"{t}\""), "phase=\"total\""],
                )
                .is_some_and(|n| n >= 2.0)
            })
            .then_some(())
    });
    let m = d.metrics();
    if let Err(e) = common::promtool_check_metrics(&m) {
        panic!("promtool: {e}\n{m}");
    }
    for (target, method) in [
        ("get", "GET"),
        ("put", "PUT"),
        ("propfind", "PROPFIND"),
        ("rt", "PUT"),
        ("rt", "GET"),
        ("rt", "DELETE"),
        ("rts", "PUT"),
        ("rts", "GET"),
        ("rts", "DELETE"),
    ] {
        let t = format!("target=\"{target}\"");
        let me = format!("method=\"{method}\"");
        for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
            let ph = format!("phase=\"{phase}\"");
            let v = common::series_value(&m, "probe_http_duration_seconds", &[&t, &me, &ph])
                .unwrap_or_else(|| panic!("no {phase} of {method} on {target}"));
            // Plain HTTP has no TLS phase; everything else took some time.
            if phase == "tls" && target != "rts" {
                assert_eq!(v, 0.0, "{target} {method} tls");
            } else if phase != "resolve" {
                assert!(v > 0.0, "{target} {method} {phase} = {v}");
            }
        }
        assert!(
            common::series_value(
                &m,
                "headroom_http_request_duration_seconds_bucket",
                &[
                    &t,
                    &me,
                    "phase=\"processing\"",
                    "le=\"+Inf\"",
                    "vantage=\"it-west\""
                ]
            )
            .is_some_and(|n| n >= 2.0),
            "histogram of {method} on {target}"
        );
        assert!(
            common::series_value(
                &m,
                "headroom_http_request_duration_window_seconds",
                &[&t, &me, "percentile=\"95\"", "window=\"5m\""]
            )
            .is_some_and(|v| v > 0.0 && v < 3.0),
            "window p95 of {method} on {target}"
        );
    }
    // Series of methods a target does not send are absent.
    assert!(
        common::series_value(
            &m,
            "probe_http_status_code",
            &["target=\"get\"", "method=\"PUT\""]
        )
        .is_none()
    );
    // A PUT over an existing object is 204 No Content (RFC 9110 section 9.3.4).
    for (t, code) in [("get", 200.0), ("put", 204.0), ("propfind", 207.0)] {
        assert_eq!(
            common::series_value(&m, "probe_http_status_code", &[&format!("target=\"{t}\"")]),
            Some(code),
            "{t}"
        );
        assert_eq!(
            common::series_value(
                &m,
                "probe_success",
                &[&format!("target=\"{t}\""), "vantage=\"it-west\""]
            ),
            Some(1.0)
        );
    }
    assert_eq!(
        common::series_value(&m, "probe_http_content_length", &["target=\"get\""]),
        Some(23.0)
    );
    assert_eq!(
        common::series_value(&m, "headroom_http_roundtrip_success", &["target=\"rts\""]),
        Some(1.0)
    );
    assert_eq!(
        common::series_value(&m, "probe_http_ssl", &["target=\"rts\""]),
        Some(1.0)
    );
    assert_eq!(
        common::series_value(&m, "probe_http_ssl", &["target=\"rt\""]),
        Some(0.0)
    );
    assert!(
        common::series_value(
            &m,
            "headroom_http_requests_total",
            &["target=\"rt\"", "method=\"DELETE\"", "code=\"204\""]
        )
        .is_some_and(|n| n >= 2.0)
    );
    // The HTTPS target's certificate, as a discovered tls target.
    let trusted = wait_for(
        "the discovered certificate target",
        Duration::from_secs(20),
        || {
            d.value(
                "headroom_tls_certificate_trusted",
                &["target=\"rts/certificate\""],
            )
        },
    );
    assert_eq!(trusted, 1.0);
    // The round trips left nothing behind.
    let left: Vec<_> = std::fs::read_dir(format!("{}/webdav/root/dav/it/rt", services_dir()))
        .map(|r| r.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.len() <= 1, "objects left behind: {left:?}"); // one may be in flight
    // Checks.
    let out = wait_check(&d, "WEBDAV_PUT_LATENCY", "rt", "OK");
    assert!(
        out.starts_with("PUT p95 ") && out.contains("s over 5m (") && out.ends_with(" requests)"),
        "{out}"
    );
    let out = wait_check(&d, "WEBDAV_GET_LATENCY", "get", "OK");
    assert!(out.starts_with("GET p95 "), "{out}");
    // Checks are bound only where they can fail: no PUT latency on a GET target, no round
    // trip check on a target that makes none.
    assert_eq!(check(&d, "WEBDAV_PUT_LATENCY", "get"), None);
    assert_eq!(check(&d, "WEBDAV_ROUNDTRIP", "get"), None);
    let out = wait_check(&d, "HTTP_STATUS", "get/GET", "OK");
    assert!(out.contains("status 200 OK, 23 bytes"), "{out}");
    let out = wait_check(&d, "WEBDAV_ROUNDTRIP", "rts", "OK");
    assert_eq!(out, "round trip: PUT, GET (same bytes) and DELETE passed");
    let _ = wait_check(&d, "ELB_CERTIFICATE", "rts/certificate", "OK");
}

#[test]
fn failures_carry_their_reason_in_checks() {
    let http = env("HEADROOM_TEST_WEBDAV_HTTP");
    let refused = free_port();
    let port = free_port();
    let d = Daemon::start(
        port,
        &format!(
            "defaults: {{interval: 1s, timeout: 2s}}\nhttp:\n\
             - {{name: tampered, url: \"{http}/tampered/\", method: roundtrip}}\n\
             - {{name: e500, url: \"{http}/status500\"}}\n\
             - {{name: noauth, url: \"{http}/private/\", method: PROPFIND}}\n\
             - {{name: auth, url: \"{http}/private/\", method: PROPFIND, user: {user}, password_env: HEADROOM_IT_WEBDAV_PASSWORD}}\n\
             - {{name: loop, url: \"{http}/loop\"}}\n\
             - {{name: down, url: \"http://127.0.0.1:{refused}/\"}}\n",
            user = env("HEADROOM_TEST_WEBDAV_USER"),
        ),
        &[(
            "HEADROOM_IT_WEBDAV_PASSWORD",
            &env("HEADROOM_TEST_WEBDAV_PASSWORD"),
        )],
    );
    let out = wait_check(&d, "WEBDAV_ROUNDTRIP", "tampered", "CRITICAL");
    assert_eq!(
        out,
        "round trip: GET returned other bytes than PUT stored: expected 256 bytes, got 20 bytes, first difference at byte 0"
    );
    let out = wait_check(&d, "HTTP_STATUS", "e500/GET", "CRITICAL");
    assert_eq!(
        out,
        format!("GET {http}/status500: status 500 Internal Server Error, expected 2xx")
    );
    let out = wait_check(&d, "HTTP_STATUS", "noauth/PROPFIND", "CRITICAL");
    assert!(
        out.ends_with("status 401 Unauthorized, expected 2xx"),
        "{out}"
    );
    let out = wait_check(&d, "HTTP_STATUS", "auth/PROPFIND", "OK");
    assert!(out.contains("status 207 Multi-Status"), "{out}");
    let out = wait_check(&d, "HTTP_STATUS", "loop/GET", "CRITICAL");
    assert_eq!(
        out,
        format!(
            "redirect loop: {http}/loop redirects (302) to {http}/loop, already visited after 0 redirect(s)"
        )
    );
    // Nothing listens: the poll fails, and every check of the target says why.
    // HTTP_STATUS runs per method found in the series, so a target never reached has none
    // of it; the target's latency check says why.
    let out = wait_check(&d, "WEBDAV_GET_LATENCY", "down", "CRITICAL");
    assert!(
        out.starts_with("down could not be polled: connect: GET http://127.0.0.1:"),
        "{out}"
    );
    assert!(out.contains("Connection refused"), "{out}");
    // A GET target makes no round trip: no check of it.
    assert_eq!(check(&d, "WEBDAV_ROUNDTRIP", "down"), None);
    let m = d.metrics();
    assert_eq!(
        common::series_value(&m, "probe_success", &["target=\"down\""]),
        Some(0.0)
    );
    assert_eq!(
        common::series_value(&m, "probe_success", &["target=\"e500\""]),
        Some(0.0)
    );
    assert!(
        common::series_value(
            &m,
            "headroom_http_request_failures_total",
            &["target=\"loop\"", "reason=\"redirect_loop\""]
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert!(
        common::series_value(
            &m,
            "headroom_http_roundtrip_failures_total",
            &["target=\"tampered\"", "reason=\"body_mismatch\""]
        )
        .is_some_and(|n| n >= 1.0)
    );
    assert!(!m.contains(&env("HEADROOM_TEST_WEBDAV_PASSWORD")));
}

/// A server nginx cannot be: it answers the status line and headers of a 100-byte body,
/// then sends nothing more (or, with `headers` false, never answers at all).
fn stalling_server(headers: bool) -> (String, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let h = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        if headers {
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly the first bytes");
        }
        std::thread::sleep(Duration::from_secs(6));
    });
    (addr, h)
}

#[tokio::test]
#[allow(
    clippy::await_holding_lock,
    reason = "the guard is a turn beside no sysbench load for the whole test; the test's own runtime runs nothing else that takes it"
)]
async fn a_stalled_server_fails_within_the_timeout() {
    let _quiet = common::lock::no_load(); // the poll's time is held to 300 ms past its timeout
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let timeout = Duration::from_secs(1);
    let slack = Duration::from_millis(300);
    // Headers, then nothing: the request fails (timeout), the poll still reports it.
    let (addr, _h) = stalling_server(true);
    let (r, took) = poll_once(&format!(
        "http:\n  - {{name: s, url: \"http://{addr}/\", timeout: 1s}}\n"
    ))
    .await;
    let fams = r.expect("the server answered: the poll reports the failure");
    assert!(took < timeout + slack, "took {took:?}");
    assert!(
        took >= timeout - Duration::from_millis(150),
        "took {took:?}"
    );
    assert_eq!(value(&fams, "probe_success", &[]), Some(0.0));
    assert_eq!(
        value(
            &fams,
            "headroom_http_request_failures",
            &[("reason", "timeout")]
        ),
        Some(1.0)
    );
    let detail = label(
        &fams,
        "headroom_http_request_result",
        &[("method", "GET")],
        "detail",
    );
    assert!(
        // Under a second, as units::duration words it (`808ms`).
        detail.contains("no complete response within ")
            && detail.contains("ms, stalled reading the body"),
        "{detail}"
    );
    assert_eq!(value(&fams, "probe_http_status_code", &[]), Some(0.0));
    // No GET completed: its window percentiles are there, and NaN (WEBDAV_GET_LATENCY is
    // UNKNOWN on it, check::eval's a_nan_value_is_no_value).
    let p95 = value(
        &fams,
        "headroom_http_request_duration_window_seconds",
        &[("method", "GET"), ("percentile", "95")],
    );
    assert!(p95.is_some_and(f64::is_nan), "{p95:?}");
    // No answer at all: the target cannot be reached, the poll fails as a timeout.
    let (addr, _h) = stalling_server(false);
    let (r, took) = poll_once(&format!(
        "http:\n  - {{name: s, url: \"http://{addr}/\", timeout: 1s}}\n"
    ))
    .await;
    assert!(took < timeout + slack, "took {took:?}");
    let e = r.unwrap_err();
    assert_eq!(e.kind, headroom::model::ErrorKind::Timeout);
    assert!(
        e.message
            .contains("stalled waiting for the response's first byte"),
        "{e}"
    );
}

#[tokio::test]
async fn https_phases_and_a_regex_miss_in_process() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let https = env("HEADROOM_TEST_WEBDAV_HTTPS");
    curl_put(
        &format!("{}/dav/it/regex.txt", env("HEADROOM_TEST_WEBDAV_HTTP")),
        "nothing to see\n",
    );
    let (r, _) = poll_once(&format!(
        "vantage: it\nhttp:\n  - {{name: r, url: \"{https}/dav/it/regex.txt\", ca_file: {}, ip_version: 4, fail_if_body_not_matches: \"^healthy\"}}\n",
        ca()
    ))
    .await;
    let fams = r.unwrap();
    assert_eq!(
        value(&fams, "probe_failed_due_to_regex", &[("vantage", "it")]),
        Some(1.0)
    );
    assert_eq!(value(&fams, "probe_http_ssl", &[]), Some(1.0));
    assert!(value(&fams, "probe_http_duration_seconds", &[("phase", "tls")]).unwrap() > 0.0);
    let detail = label(
        &fams,
        "headroom_http_request_result",
        &[("method", "GET")],
        "detail",
    );
    assert_eq!(
        detail,
        format!("GET {https}/dav/it/regex.txt: the body (15 bytes) does not match /^healthy/")
    );
    // Without the CA, the handshake fails: nothing was reached.
    let (r, _) = poll_once(&format!(
        "http:\n  - {{name: r, url: \"{https}/dav/it/regex.txt\"}}\n"
    ))
    .await;
    let e = r.unwrap_err();
    assert!(
        e.message.starts_with("GET https://localhost:") && e.message.contains("TLS handshake"),
        "{e}"
    );
}
