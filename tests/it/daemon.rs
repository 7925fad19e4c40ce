//! The daemon end to end: the real binary against the real services, scraped by a real
//! Prometheus, checked by promtool; faults, slow targets, reload and shutdown.

use crate::common;

use std::net::TcpListener;
use std::time::Duration;

use common::{Daemon, Memcached, env, free_port, promtool_check_metrics, series_value, wait_for};

fn mysql_target(name: &str, password_env: &str) -> String {
    format!(
        "  - {{name: {name}, address: {}, user: {}, password_env: {password_env}}}\n",
        env("HEADROOM_TEST_MYSQL"),
        env("HEADROOM_TEST_MYSQL_USER")
    )
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs an instant query against the test Prometheus; returns the first result's value.
fn prom_query(q: &str) -> Option<f64> {
    let base = env("HEADROOM_TEST_PROMETHEUS");
    let addr = base.trim_start_matches("http://");
    let (status, body) = common::http_get(addr, &format!("/api/v1/query?query={}", encode(q)))?;
    if status != 200 {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// The Prometheus that scripts/services starts scrapes 127.0.0.1:$HEADROOM_TEST_DAEMON_PORT
/// every second; this test listens there, in turn with capacity's report test.
#[test]
fn prometheus_scrapes_the_daemon_and_promtool_accepts_the_output() {
    let _mariadb = common::lock::mariadb_shared(); // db-1 is polled
    let _scrape = common::lock::scrape_port();
    let port: u16 = env("HEADROOM_TEST_DAEMON_PORT").parse().unwrap();
    let config = format!(
        "defaults: {{interval: 1s, timeout: 2s}}\nmemcached:\n  - {{name: memc-1, address: {}}}\nmysql:\n{}",
        env("HEADROOM_TEST_MEMCACHED"),
        mysql_target("db-1", "HEADROOM_TEST_MYSQL_PASSWORD")
    );
    let d = Daemon::start(port, &config, &[]);
    wait_for("/-/ready", Duration::from_secs(20), || {
        d.get("/-/ready").filter(|(s, _)| *s == 200)
    });
    // Two MySQL polls, so the derived rates exist too.
    wait_for("rates", Duration::from_secs(20), || {
        d.value("headroom_mysql_queries_per_second", &[])
    });

    let text = d.metrics();
    promtool_check_metrics(&text).unwrap_or_else(|e| panic!("promtool check metrics:\n{e}"));
    assert_eq!(
        series_value(&text, "memcached_up", &["target=\"memc-1\""]),
        Some(1.0)
    );
    assert_eq!(
        series_value(&text, "mysql_up", &["target=\"db-1\""]),
        Some(1.0)
    );
    assert_eq!(
        series_value(
            &text,
            "headroom_up",
            &["source=\"mysql\"", "target=\"db-1\""]
        ),
        Some(1.0)
    );
    assert_eq!(series_value(&text, "headroom_build_info", &[]), Some(1.0));
    assert!(!text.contains(&env("HEADROOM_TEST_MYSQL_PASSWORD")));

    // OpenMetrics for scrapers that ask for it.
    let om = {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0\r\nConnection: close\r\n\r\n").unwrap();
        let mut buf = String::new();
        s.read_to_string(&mut buf).unwrap();
        buf
    };
    assert!(
        om.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{om}"
    );
    assert!(om.contains("# EOF"));

    for (q, want) in [
        ("up{job=\"headroom\"}", Some(1.0)),
        (
            "headroom_up{source=\"memcached\",target=\"memc-1\"}",
            Some(1.0),
        ),
        ("headroom_up{source=\"mysql\",target=\"db-1\"}", Some(1.0)),
        ("memcached_up{target=\"memc-1\"}", Some(1.0)),
        ("mysql_up{target=\"db-1\"}", Some(1.0)),
    ] {
        // A scrape that ran before the daemon listened, or timed out, reads `up` 0: wait for
        // the value, not for any.
        let got = wait_for(
            &format!("Prometheus to have {q} = {want:?}"),
            Duration::from_secs(30),
            || prom_query(q).filter(|v| Some(*v) == want),
        );
        assert_eq!(Some(got), want, "{q}");
    }
    let limit = wait_for(
        "memcached_limit_bytes in Prometheus",
        Duration::from_secs(30),
        || prom_query("memcached_limit_bytes{target=\"memc-1\"}"),
    );
    assert_eq!(limit, 64.0 * 1024.0 * 1024.0); // scripts/services starts memcached with -m 64
    let uptime = wait_for(
        "a MySQL series in Prometheus",
        Duration::from_secs(30),
        || prom_query("mysql_global_status_uptime{target=\"db-1\"}"),
    );
    assert!(uptime > 0.0);
}

#[test]
fn a_dead_memcached_goes_down_and_recovers_without_stopping_the_daemon() {
    let mut m = Memcached::start();
    let config = format!(
        "defaults: {{interval: 300ms, timeout: 1s}}\nmemcached:\n  - {{name: flaky, address: {}}}\n  - {{name: steady, address: {}}}\n",
        m.address(),
        env("HEADROOM_TEST_MEMCACHED")
    );
    let d = Daemon::start(free_port(), &config, &[]);
    let up = |t: &str| d.value("headroom_up", &[&format!("target=\"{t}\"")]);
    wait_for("flaky up", Duration::from_secs(10), || {
        (up("flaky") == Some(1.0)).then_some(())
    });

    m.stop();
    wait_for("flaky down", Duration::from_secs(10), || {
        (up("flaky") == Some(0.0)).then_some(())
    });
    let text = d.metrics();
    assert_eq!(
        series_value(&text, "memcached_up", &["target=\"flaky\""]),
        Some(0.0)
    );
    // Only `up` is left of a failed target: no stale values.
    assert_eq!(
        series_value(
            &text,
            "memcached_current_connections",
            &["target=\"flaky\""]
        ),
        None
    );
    let connect_errors = series_value(
        &text,
        "headroom_poll_errors_total",
        &["target=\"flaky\"", "kind=\"connect\""],
    )
    .unwrap();
    assert!(connect_errors >= 1.0, "{connect_errors}");
    assert_eq!(
        series_value(&text, "headroom_up", &["target=\"steady\""]),
        Some(1.0)
    );
    assert_eq!(d.get("/healthz").map(|r| r.0), Some(200));
    assert!(d.log().contains("poll failed"), "{}", d.log());

    m.restart();
    wait_for("flaky recovers", Duration::from_secs(10), || {
        (up("flaky") == Some(1.0)).then_some(())
    });
    assert!(
        d.value("memcached_current_connections", &["target=\"flaky\""])
            .is_some()
    );
    assert!(d.log().contains("target recovered"), "{}", d.log());
}

#[test]
fn a_slow_target_is_skipped_and_times_out_without_delaying_others() {
    let _quiet = common::lock::no_load(); // it counts polls at 200 ms
    // A real socket that accepts and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in silent.incoming().flatten() {
            held.push(s);
        }
    });
    let config = format!(
        "memcached:\n  - {{name: silent, address: {silent_addr}, interval: 300ms, timeout: 1s}}\n  - {{name: steady, address: {}, interval: 200ms, timeout: 1s}}\n",
        env("HEADROOM_TEST_MEMCACHED")
    );
    let d = Daemon::start(free_port(), &config, &[]);
    wait_for(
        "a skipped poll and a timeout",
        Duration::from_secs(15),
        || {
            let text = d.metrics();
            let skipped = series_value(
                &text,
                "headroom_polls_skipped_total",
                &["target=\"silent\""],
            )?;
            let timeouts = series_value(
                &text,
                "headroom_poll_errors_total",
                &["target=\"silent\"", "kind=\"timeout\""],
            )?;
            (skipped >= 1.0 && timeouts >= 1.0).then_some(())
        },
    );
    // Meanwhile the healthy target kept its own schedule: about 5 polls a second, where
    // waiting on the silent one's 1 s timeout would allow 2 in 2 s.
    let before = d
        .value("headroom_polls_total", &["target=\"steady\""])
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let after = d
        .value("headroom_polls_total", &["target=\"steady\""])
        .unwrap();
    assert!(
        after - before >= 5.0,
        "steady target polled only {} times in 2s",
        after - before
    );
    assert_eq!(d.value("headroom_up", &["target=\"steady\""]), Some(1.0));
    assert_eq!(d.value("headroom_up", &["target=\"silent\""]), Some(0.0));
}

#[test]
fn a_wrong_password_is_reported_without_the_secret() {
    let _mariadb = common::lock::mariadb_shared();
    let secret = "N0t-the-R1ght-password";
    let config = format!(
        "defaults: {{interval: 300ms}}\nmysql:\n{}",
        mysql_target("db-bad", "BAD_PW")
    );
    let d = Daemon::start(free_port(), &config, &[("BAD_PW", secret)]);
    wait_for("auth error counted", Duration::from_secs(10), || {
        d.value(
            "headroom_poll_errors_total",
            &["target=\"db-bad\"", "kind=\"auth\""],
        )
        .filter(|v| *v >= 1.0)
    });
    assert_eq!(d.value("mysql_up", &["target=\"db-bad\""]), Some(0.0));
    let log = d.log();
    assert!(log.contains("Access denied"), "{log}");
    assert!(!log.contains(secret), "{log}");
    assert!(!d.metrics().contains(secret));
}

#[test]
fn sighup_reloads_and_a_bad_reload_keeps_the_running_config() {
    let one = format!(
        "defaults: {{interval: 300ms}}\nmemcached:\n  - {{name: first, address: {}}}\n",
        env("HEADROOM_TEST_MEMCACHED")
    );
    let mut d = Daemon::start(free_port(), &one, &[]);
    let port = d.port;
    wait_for("first up", Duration::from_secs(10), || {
        d.value("memcached_up", &["target=\"first\""])
    });

    let two = format!(
        "listen: 127.0.0.1:{port}\n{one}  - {{name: second, address: {}}}\n",
        env("HEADROOM_TEST_MEMCACHED")
    );
    std::fs::write(d.config_path(), two).unwrap();
    d.signal("HUP");
    wait_for("second up", Duration::from_secs(10), || {
        d.value("memcached_up", &["target=\"second\""])
    });

    std::fs::write(
        d.config_path(),
        format!("listen: 127.0.0.1:{port}\nmemcached: oops\n"),
    )
    .unwrap();
    d.signal("HUP");
    wait_for(
        "the reload error in the log",
        Duration::from_secs(10),
        || d.log().contains("config not reloaded").then_some(()),
    );
    assert!(
        d.log()
            .contains("config.yaml:2:12: memcached: invalid type"),
        "{}",
        d.log()
    );
    let polls = d
        .value("headroom_polls_total", &["target=\"second\""])
        .unwrap();
    wait_for("second still polled", Duration::from_secs(10), || {
        (d.value("headroom_polls_total", &["target=\"second\""])? > polls).then_some(())
    });

    let only_second = format!(
        "listen: 127.0.0.1:{port}\ndefaults: {{interval: 300ms}}\nmemcached:\n  - {{name: second, address: {}}}\n",
        env("HEADROOM_TEST_MEMCACHED")
    );
    std::fs::write(d.config_path(), only_second).unwrap();
    d.signal("HUP");
    wait_for("first removed", Duration::from_secs(10), || {
        let text = d.metrics();
        (!text.contains("target=\"first\"")).then_some(())
    });
    assert!(d.value("memcached_up", &["target=\"second\""]).is_some());

    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(15)), Some(0));
    assert!(d.log().contains("SIGTERM: shutting down"));
}
