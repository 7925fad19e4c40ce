//! The check engine inside the daemon: the status page rendered by a real headless Chromium
//! (screenshot kept as a test artifact, rows checked in the DOM), `/api/checks`, the
//! `headroom_check_*` metrics, and check state that survives `kill -9`.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::certs::storage_server;
use common::{Daemon, env, free_port, series_value, wait_for};

fn checks(d: &Daemon) -> Vec<serde_json::Value> {
    let (status, body) = d.get("/api/checks").expect("no answer from /api/checks");
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["checks"].as_array().cloned().unwrap_or_default()
}

fn find(d: &Daemon, check: &str, host: &str) -> Option<serde_json::Value> {
    checks(d)
        .into_iter()
        .find(|c| c["check"] == check && c["host"] == host)
}

fn artifacts() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn status_page_in_chromium_api_and_metrics() {
    let _quiet = common::lock::no_load(); // memc-ok must answer `stats` within 0.1 s
    let certs = tempfile::tempdir().unwrap();
    let (ca, _, tls) = storage_server(certs.path());
    let config = format!(
        "defaults: {{interval: 500ms, timeout: 2s}}\n\
         memcached:\n  - {{name: memc-ok, address: {}}}\n  - {{name: memc-dead, address: 127.0.0.1:{}, interval: 5s}}\n\
         tls:\n  - {{name: storage-elb, address: 127.0.0.1:{}, server_name: storage.example.com, ca_file: {}}}\n",
        env("HEADROOM_TEST_MEMCACHED"),
        free_port(),
        tls.port,
        ca.pem_path.display()
    );
    // memc-dead's checks retry at its interval: 5 s keeps it SOFT for the whole test (at
    // 500 ms it went HARD 2 s after its first check, which a busy machine could outlast).
    let d = Daemon::start(free_port(), &config, &[]);
    let cert = wait_for("ELB_CERTIFICATE evaluated", Duration::from_secs(20), || {
        find(&d, "ELB_CERTIFICATE", "storage-elb").filter(|c| c["has_been_checked"] == true)
    });
    assert_eq!(cert["status"], "OK", "{cert}");
    assert!(
        cert["output"].as_str().unwrap().starts_with(
            "OK: 461 days remaining for 'storage.example.com'. Certificate Expires: '"
        ),
        "{cert}"
    );
    assert_eq!(cert["attempt"], 1);
    assert_eq!(cert["max_attempts"], 5);
    let dead = wait_for(
        "MEMCACHE_RESPONSE on memc-dead",
        Duration::from_secs(20),
        || find(&d, "MEMCACHE_RESPONSE", "memc-dead").filter(|c| c["has_been_checked"] == true),
    );
    assert_eq!(dead["status"], "CRITICAL", "{dead}");
    assert_eq!(dead["state_type"], "SOFT", "{dead}");
    assert!(
        dead["output"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{dead}"
    );
    wait_for(
        "MEMCACHE_RESPONSE on memc-ok",
        Duration::from_secs(20),
        || find(&d, "MEMCACHE_RESPONSE", "memc-ok").filter(|c| c["status"] == "OK"),
    );
    // The AWS checks are listed as inactive, not dropped.
    let (_, body) = d.get("/api/checks").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["inactive"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["check"] == "LATENCY"),
        "{v}"
    );

    // Metrics.
    let text = d.metrics();
    assert_eq!(
        series_value(
            &text,
            "headroom_check_state",
            &["check=\"MEMCACHE_RESPONSE\"", "host=\"memc-dead\""]
        ),
        Some(2.0)
    );
    assert_eq!(
        series_value(
            &text,
            "headroom_check_state_type",
            &["check=\"MEMCACHE_RESPONSE\"", "host=\"memc-dead\""]
        ),
        Some(0.0)
    );
    assert_eq!(
        series_value(
            &text,
            "headroom_check_value",
            &["check=\"ELB_CERTIFICATE\"", "host=\"storage-elb\""]
        ),
        Some(461.0)
    );
    common::promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool: {e}"));

    // The page in a real browser: the DOM rows, and a screenshot kept for people to look at.
    let url = format!("http://127.0.0.1:{}/status?refresh=0", d.port);
    let dom = common::chromium(&["--dump-dom"], &url);
    let html = String::from_utf8_lossy(&dom.stdout).into_owned();
    assert!(html.contains("<table id=\"checks\">"), "{html}");
    for (host, check, class) in [
        ("memc-ok", "MEMCACHE_RESPONSE", "OK"),
        ("memc-dead", "MEMCACHE_RESPONSE", "CRITICAL"),
        ("storage-elb", "ELB_CERTIFICATE", "OK"),
    ] {
        assert!(
            html.contains(&format!(
                "<tr class=\"{class}\" data-host=\"{host}\" data-check=\"{check}\""
            )),
            "no {class} row for {host}/{check} in:\n{html}"
        );
    }
    assert!(
        html.contains("<td class=\"info\">461 days remaining for 'storage.example.com'"),
        "{html}"
    );
    let shot = artifacts().join("status.png");
    let _ = std::fs::remove_file(&shot);
    let out = common::chromium(
        &[
            "--window-size=1400,500",
            &format!("--screenshot={}", shot.display()),
        ],
        &url,
    );
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);

    // Filters.
    let (_, crit) = d.get("/status?state=critical&refresh=0").unwrap();
    assert!(
        crit.contains("data-host=\"memc-dead\"") && !crit.contains("data-host=\"memc-ok\""),
        "{crit}"
    );
    let (_, one) = d.get("/status?host=storage-elb").unwrap();
    assert!(
        one.contains("data-check=\"ELB_CERTIFICATE\"") && !one.contains("data-host=\"memc-ok\"")
    );
    assert!(one.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
}

#[test]
fn check_state_survives_kill_9_in_the_middle_of_a_soft_state() {
    let state = tempfile::tempdir().unwrap();
    let dead = free_port();
    let config = format!(
        "defaults: {{interval: 300ms, timeout: 1s}}\nstate_file: {}\nshipped_checks: false\n\
         memcached:\n  - {{name: memc-dead, address: 127.0.0.1:{dead}}}\n\
         checks:\n  - {{name: MEMCACHE_RESPONSE, source: memcached, metric: headroom_memcached_stats_rtt_seconds, \
         critical: \"0.5\", check_interval: 1s, retry_interval: 1500ms}}\n",
        state.path().join("checks.json").display()
    );
    let mut d = Daemon::start(free_port(), &config, &[]);
    let before = wait_for("attempt 2/5", Duration::from_secs(20), || {
        find(&d, "MEMCACHE_RESPONSE", "memc-dead").filter(|c| c["attempt"] == 2)
    });
    assert_eq!(before["state_type"], "SOFT");
    // The state file is rewritten at most once a second after a change.
    std::thread::sleep(Duration::from_millis(1300));
    d.kill9();

    let d = Daemon::start(free_port(), &config, &[]);
    assert!(d.log().contains("check state restored"), "{}", d.log());
    let after = find(&d, "MEMCACHE_RESPONSE", "memc-dead").unwrap();
    assert_eq!(after["status"], "CRITICAL", "{after}");
    assert_eq!(after["state_type"], "SOFT", "{after}");
    // 2 as saved, or 3 if the save came after the next retry; one more if the restarted
    // daemon's first poll was judged before this read. A fresh state would read 1.
    let attempt = after["attempt"].as_u64().unwrap();
    assert!((2..=4).contains(&attempt), "{after}");
    assert_eq!(
        after["last_state_change"], before["last_state_change"],
        "duration must continue"
    );
    // And it goes on counting from there to HARD 5/5.
    let hard = wait_for("HARD 5/5", Duration::from_secs(20), || {
        find(&d, "MEMCACHE_RESPONSE", "memc-dead").filter(|c| c["state_type"] == "HARD")
    });
    assert_eq!(hard["attempt"], 5);
    assert_eq!(hard["status"], "CRITICAL");
}

#[test]
fn a_corrupt_state_file_is_reported_and_ignored() {
    let state = tempfile::tempdir().unwrap();
    let file = state.path().join("checks.json");
    std::fs::write(&file, b"{\"version\":1,\"checks\":[{\"check\":\"MEMC").unwrap();
    let config = format!(
        "defaults: {{interval: 300ms}}\nstate_file: {}\nmemcached:\n  - {{name: m, address: {}}}\n",
        file.display(),
        env("HEADROOM_TEST_MEMCACHED")
    );
    let d = Daemon::start(free_port(), &config, &[]);
    wait_for("the corrupt file reported", Duration::from_secs(10), || {
        d.log().contains("corrupt").then_some(())
    });
    wait_for("a fresh state written", Duration::from_secs(10), || {
        let text = std::fs::read_to_string(&file).ok()?;
        serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .filter(|v| v["checks"].as_array().is_some_and(|a| !a.is_empty()))
    });
}
