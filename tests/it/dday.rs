//! The D-day board (`/dday`, `/api/dday`, `headroom dday`) on a daemon judging real servers:
//! it goes from NO-GO to GO as each criterion is fixed in turn, the exit code follows, and a
//! stopped server turns its row NO-GO with the reason.

use std::time::Duration;

use serde_json::Value;

use crate::common::certs::{Ca, TlsServer, leaf};
use crate::common::{self, Daemon, Memcached, free_port, wait_for};

/// The board as the daemon's API gives it.
fn board(d: &Daemon, query: &str) -> Value {
    let (status, body) = d.get(&format!("/api/dday{query}")).expect("no answer");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn criterion<'a>(b: &'a Value, name: &str) -> &'a Value {
    b["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no criterion {name}: {b}"))
}

/// `headroom dday ARGS`: (exit code, stdout).
fn dday(args: &[&str]) -> (i32, String) {
    let (code, out, _err) = common::headroom(&[&["dday"], args].concat());
    (code, out)
}

#[test]
fn board_goes_from_no_go_to_go_as_each_criterion_is_fixed() {
    // GO needs MEMCACHE_RESPONSE OK, and it warns at 0.1 s: not beside sysbench's load.
    let _quiet = common::lock::no_load();
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path());
    let hour = time::Duration::hours(1);
    // A certificate with 10 days left: ELB_CERTIFICATE is CRITICAL below 15.
    let (short, short_key) = leaf(
        dir.path(),
        "short",
        "storage.example.com",
        -hour,
        time::Duration::days(10),
        Some(&ca),
    );
    let tls_port = free_port();
    let mut tls = TlsServer::start_on(tls_port, &short, &short_key);
    // The cache is not running yet.
    let mut memcached = Memcached::start();
    memcached.stop();
    let port = free_port();
    let config = format!(
        "dday:\n  at: 2031-03-01T06:00:00+01:00\n  criteria:\n\
         \x20   - {{name: cache, title: Session cache answering fast, checks: [MEMCACHE_RESPONSE]}}\n\
         \x20   - {{name: certificates, title: Certificates valid long enough, checks: [ELB_CERTIFICATE]}}\n\
         \x20   - {{name: backups, checks: [RDS_BACKUP_RECENT]}}\n\
         memcached:\n  - {{name: cache-1, address: '{}', interval: 1s, timeout: 1s}}\n\
         tls:\n  - {{name: storage-cert, address: '127.0.0.1:{tls_port}', server_name: storage.example.com, ca_file: '{}', interval: 1s}}\n",
        memcached.address(),
        ca.pem_path.display()
    );
    let d = Daemon::start(port, &config, &[]);
    let cfg = d.config_path();
    let cfg = cfg.to_str().unwrap();

    // Everything blocks: the cache is down, the certificate short, no rds target at all.
    let b = wait_for("both checked", Duration::from_secs(20), || {
        let b = board(&d, "");
        (criterion(&b, "certificates")["evidence"][0]["measured_at"].as_i64() > Some(0)
            && criterion(&b, "cache")["evidence"][0]["measured_at"].as_i64() > Some(0))
        .then_some(b)
    });
    assert_eq!(b["decision"], "NO-GO", "{b}");
    assert_eq!(
        b["blocking"],
        serde_json::json!(["cache", "certificates", "backups"])
    );
    assert_eq!(b["dday"], "2031-03-01T06:00:00+01:00");
    assert_eq!(b["phase"], "before");
    let cache = criterion(&b, "cache");
    assert!(
        cache["reason"]
            .as_str()
            .unwrap()
            .starts_with("MEMCACHE_RESPONSE on cache-1: CRITICAL"),
        "{cache}"
    );
    let cert = &criterion(&b, "certificates")["evidence"][0];
    assert_eq!(cert["status"], "CRITICAL", "{cert}");
    assert_eq!(cert["bound"], "warning 30:, critical 15:", "{cert}");
    assert!(cert["value"].as_f64().unwrap() <= 10.0, "{cert}");
    assert_eq!(
        criterion(&b, "backups")["reason"],
        "RDS_BACKUP_RECENT: no rds target is configured"
    );
    // The same on /metrics, for the alert on a NO-GO close to D-day.
    assert_eq!(d.value("headroom_dday_go", &[]), Some(0.0));
    assert_eq!(
        d.value("headroom_dday_criterion_go", &["criterion=\"backups\""]),
        Some(0.0)
    );
    // 2031-03-01T05:00:00Z: `date -d 2031-03-01T05:00:00Z +%s`
    assert_eq!(
        d.value("headroom_dday_timestamp_seconds", &["phase=\"before\""]),
        Some(1_930_107_600.0)
    );
    let (code, out) = dday(&["--config", cfg]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.starts_with(
            "NO-GO for D-day 2031-03-01T06:00:00+01:00 (phase before): 3 of 3 criteria block"
        ),
        "{out}"
    );
    assert!(
        out.contains("\nNO-GO  cache: MEMCACHE_RESPONSE on cache-1: CRITICAL"),
        "{out}"
    );

    // Fix the cache: its row turns GO, the board stays NO-GO.
    memcached.restart();
    let b = wait_for("the cache GO", Duration::from_secs(20), || {
        let b = board(&d, "");
        (criterion(&b, "cache")["decision"] == "GO").then_some(b)
    });
    assert_eq!(
        b["blocking"],
        serde_json::json!(["certificates", "backups"])
    );
    assert_eq!(criterion(&b, "cache")["reason"], "1 check OK");

    // Renew the certificate at the same address.
    drop(tls);
    let (long, long_key) = leaf(
        dir.path(),
        "long",
        "storage.example.com",
        -hour,
        time::Duration::days(400),
        Some(&ca),
    );
    tls = TlsServer::start_on(tls_port, &long, &long_key);
    wait_for("the certificates GO", Duration::from_secs(20), || {
        (criterion(&board(&d, ""), "certificates")["decision"] == "GO").then_some(())
    });

    // The last criterion judges backups, which this estate does not have: drop it from the
    // board (a SIGHUP reload), and the board is GO.
    let fixed = config.replace("    - {name: backups, checks: [RDS_BACKUP_RECENT]}\n", "");
    assert_ne!(fixed, config);
    std::fs::write(
        d.config_path(),
        format!("listen: 127.0.0.1:{port}\n{fixed}"),
    )
    .unwrap();
    d.signal("HUP");
    let b = wait_for("GO", Duration::from_secs(20), || {
        Some(board(&d, "")).filter(|b| b["decision"] == "GO")
    });
    assert_eq!(b["blocking"], serde_json::json!([]));
    assert_eq!(d.value("headroom_dday_go", &[]), Some(1.0));
    assert_eq!(
        d.value("headroom_dday_criterion_go", &["criterion=\"backups\""]),
        None,
        "a criterion gone from the config leaves no series"
    );
    let (code, out) = dday(&["--config", cfg]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("GO for D-day"), "{out}");
    // The JSON a runbook reads, in another phase.
    let (code, out) = dday(&[
        "--url",
        &format!("http://127.0.0.1:{port}"),
        "--phase",
        "cutover",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{out}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["phase"], "cutover");
    assert_eq!(j["decision"], "GO");
    let (status, page) = d.get("/dday").unwrap();
    assert_eq!(status, 200);
    assert!(
        page.contains("<span id=\"decision\" class=\"GO\">GO</span>"),
        "{page}"
    );
    assert!(page.contains("data-criterion=\"certificates\""), "{page}");

    // A stopped server turns its row NO-GO with the reason, at once (SOFT states count).
    memcached.stop();
    let b = wait_for("NO-GO again", Duration::from_secs(20), || {
        Some(board(&d, "")).filter(|b| b["decision"] == "NO-GO")
    });
    assert_eq!(b["blocking"], serde_json::json!(["cache"]));
    assert!(
        criterion(&b, "cache")["reason"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{b}"
    );
    let (code, _) = dday(&["--config", cfg]);
    assert_eq!(code, 2);
    drop(tls);
}

#[test]
fn cannot_tell_without_an_answer() {
    let (code, out) = dday(&["--url", &format!("http://127.0.0.1:{}", free_port())]);
    assert_eq!(code, 3, "{out}");
    assert!(
        out.starts_with("UNKNOWN: cannot tell: no headroom daemon answers"),
        "{out}"
    );
    let (code, out) = dday(&["--url", "http://127.0.0.1:1", "--format", "yaml"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("unknown --format"), "{out}");
}
