//! The migration source and MIGRATION_PROGRESS against a copier simulated by the test
//! (common/copier.rs): it writes its counters into a table of the services' real MariaDB and
//! serves the same numbers as JSON and as Prometheus text over HTTP. One daemon reads it three
//! ways at a 1 s interval. The CloudWatch S3 input runs against the services' moto, with daily
//! AWS/S3 datapoints put by boto3.

use crate::common;

use std::time::{Duration, Instant};

use common::copier::{Copier, Plan, unix_now};
use common::moto::{boto, reset};
use common::{Daemon, env, free_port, series_value};
use headroom::config_file as config;
use headroom::model::{Poller, find_value};
use headroom::sources::SourceConfig;
use headroom::sources::aws::Clients;
use headroom::sources::migration::MigrationPoller;
use time::format_description::well_known::Rfc3339;

/// 200 files done a second (190 copied, 10 skipped), 5 failures a second, 1 MB a file;
/// 100,000 of 400,000 files done at the start; 500 GB in all, so bytes (1.25 times the files'
/// share) finish later than files and decide the check.
const PLAN: Plan = Plan {
    files_total: 400_000.0,
    bytes_total: 5e11,
    files_copied_per_s: 190.0,
    files_skipped_per_s: 10.0,
    files_failed_per_s: 5.0,
    bytes_per_file: 1e6,
    files_done_at_start: 100_000.0,
};

const TABLE: &str = "migration_progress_it";
const TOKEN: &str = "copier-bearer-token-it";
/// The targets that read the copier, and what they read it with.
const READERS: [&str; 3] = ["copy-sql", "copy-http", "copy-prom"];

fn fields(f: impl Fn(&str, &str) -> String) -> String {
    let mut out = String::new();
    for by in ["files", "bytes"] {
        for state in ["total", "copied", "failed", "skipped"] {
            out.push_str(&format!("        {by}_{state}: {}\n", f(by, state)));
        }
    }
    out
}

/// A Unix time as RFC 3339 in +02:00, the zone D-day is written in (and dates are shown in).
fn rfc3339_plus2(unix: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix.round() as i64)
        .unwrap()
        .to_offset(time::UtcOffset::from_hms(2, 0, 0).unwrap())
        .format(&Rfc3339)
        .unwrap()
}

fn daemon_config(c: &Copier, dday: f64) -> String {
    let sql = format!(
        "  - name: copy-sql\n    interval: 1s\n    rate_window: 10s\n    counters: since_start\n    sql:\n\
         \x20     address: {}\n      user: {}\n      password_env: COPYJOB_PASSWORD\n      database: headroom_test\n\
         \x20     query: SELECT * FROM {TABLE} WHERE job = 'main'\n      columns:\n{}",
        env("HEADROOM_TEST_MYSQL"),
        env("HEADROOM_TEST_COPYJOB_USER"),
        fields(|by, state| format!("{by}_{state}"))
    );
    let http = |name: &str, counters: &str| {
        format!(
            "  - name: {name}\n    interval: 1s\n    rate_window: 10s\n    counters: {counters}\n    http:\n\
             \x20     url: {}\n      token_env: COPIER_TOKEN\n      pointers:\n{}",
            c.url("/progress.json"),
            fields(|by, state| format!("/{by}/{state}"))
        )
    };
    let prom = format!(
        "  - name: copy-prom\n    interval: 1s\n    rate_window: 10s\n    counters: since_start\n    prometheus:\n\
         \x20     url: {}\n      metrics:\n{}",
        c.url("/metrics"),
        fields(|by, state| format!("'copier_{by}{{state=\"{state}\"}}'"))
    );
    let down = format!(
        "  - name: copy-down\n    interval: 1s\n    sql:\n      address: 127.0.0.1:{}\n      user: nobody\n\
         \x20     query: SELECT 1\n      columns: {{files_total: a, files_copied: b, bytes_total: c, bytes_copied: d}}\n",
        free_port()
    );
    format!(
        "dday:\n  at: {}\n  margin: 1h\nmigration:\n{sql}{}{}{prom}{down}",
        rfc3339_plus2(dday),
        http("copy-http", "since_start"),
        http("copy-state", "state"),
    )
}

/// One scrape's values of a target: (reading time, files rate, bytes rate, projected files,
/// projected bytes, files progress ratio).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Seen {
    at: f64,
    files_rate: f64,
    bytes_rate: f64,
    projected_files: f64,
    projected_bytes: f64,
    eta_files: f64,
    ratio_files: f64,
}

fn seen(metrics: &str, target: &str) -> Option<Seen> {
    let t = format!("target=\"{target}\"");
    let v = |name: &str, extra: &[&str]| {
        let mut l = vec![t.as_str()];
        l.extend_from_slice(extra);
        series_value(metrics, name, &l)
    };
    Some(Seen {
        at: v("headroom_migration_reading_timestamp_seconds", &[])?,
        files_rate: v("headroom_migration_copy_rate_files_per_second", &[])?,
        bytes_rate: v("headroom_migration_copy_rate_bytes_per_second", &[])?,
        projected_files: v(
            "headroom_migration_projected_timestamp_seconds",
            &["by=\"files\""],
        )?,
        projected_bytes: v(
            "headroom_migration_projected_timestamp_seconds",
            &["by=\"bytes\""],
        )?,
        eta_files: v("headroom_migration_eta_seconds", &["by=\"files\""])?,
        ratio_files: v("headroom_migration_progress_ratio", &["by=\"files\""])?,
    })
}

fn check(d: &Daemon, host: &str) -> Option<serde_json::Value> {
    let (_, body) = d.get("/api/checks")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["checks"]
        .as_array()?
        .iter()
        .find(|c| {
            c["check"] == "MIGRATION_PROGRESS" && c["host"] == host && c["has_been_checked"] == true
        })
        .cloned()
}

/// Waits until MIGRATION_PROGRESS on `host` is `status` with an output containing `text`.
fn wait_check(d: &Daemon, host: &str, status: &str, text: &str) -> String {
    let mut last = String::new();
    let found = (0..300).find_map(|_| {
        if let Some(c) = check(d, host) {
            last = c.to_string();
            if c["status"] == status && c["output"].as_str().is_some_and(|o| o.contains(text)) {
                return Some(c["output"].as_str().unwrap().to_owned());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        None
    });
    found.unwrap_or_else(|| {
        panic!("MIGRATION_PROGRESS on {host} never {status} with {text:?}; last: {last}")
    })
}

fn within(what: &str, got: f64, want: f64, tolerance: f64) {
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: {got} against {want} (tolerance {tolerance})"
    );
}

fn reload(d: &Daemon, c: &Copier, dday: f64) {
    std::fs::write(
        d.config_path(),
        format!("listen: 127.0.0.1:{}\n{}", d.port, daemon_config(c, dday)),
    )
    .unwrap();
    d.signal("HUP");
}

#[test]
fn a_copier_read_three_ways() {
    let _mariadb = common::lock::mariadb_shared();
    let copier = Copier::start(PLAN, Some(TABLE), Some(TOKEN));
    // Where bytes reach 99.9% at the plan's rate: a fixed moment, since the rate is constant.
    let p0 = copier.projected_bytes(0.999);
    let password = env("HEADROOM_TEST_COPYJOB_PASSWORD");
    let envs = [
        ("COPYJOB_PASSWORD", password.as_str()),
        ("COPIER_TOKEN", TOKEN),
    ];
    let d = Daemon::start(free_port(), &daemon_config(&copier, p0 + 7200.0), &envs);

    // The rate window (10 s) fills; then rate and ETA of each reader against the plan.
    std::thread::sleep(Duration::from_secs(12));
    let m = d.metrics();
    for t in READERS {
        let s = seen(&m, t).unwrap_or_else(|| panic!("no migration series of {t}:\n{m}"));
        within(
            &format!("{t} files/s"),
            s.files_rate,
            PLAN.files_rate(),
            0.05 * PLAN.files_rate(),
        );
        within(
            &format!("{t} bytes/s"),
            s.bytes_rate,
            PLAN.bytes_rate(),
            0.05 * PLAN.bytes_rate(),
        );
        // The ETA from the reading's time, against the copier's own figures at that time.
        let want_eta = copier.projected_files(0.999) - s.at;
        within(
            &format!("{t} files ETA"),
            s.eta_files,
            want_eta,
            0.05 * want_eta,
        );
        within(
            &format!("{t} projected bytes"),
            s.projected_bytes,
            p0,
            0.05 * (p0 - s.at),
        );
        assert_eq!(
            series_value(
                &m,
                "headroom_migration_files",
                &[&format!("target=\"{t}\""), "state=\"skipped\""]
            )
            .map(|v| v > 100_000.0 * 10.0 / 200.0),
            Some(true)
        );
        eprintln!(
            "{t}: {:.2} files/s ({:+.2}%), {:.4e} B/s ({:+.2}%), files ETA {:.0} s ({:+.2}%)",
            s.files_rate,
            100.0 * (s.files_rate / PLAN.files_rate() - 1.0),
            s.bytes_rate,
            100.0 * (s.bytes_rate / PLAN.bytes_rate() - 1.0),
            s.eta_files,
            100.0 * (s.eta_files / want_eta - 1.0)
        );
        let fail = series_value(
            &m,
            "headroom_migration_failure_rate_files_per_second",
            &[&format!("target=\"{t}\"")],
        )
        .unwrap();
        within(&format!("{t} failures/s"), fail, 5.0, 0.25);
    }
    // Every reader OK; dates in D-day's zone; the token and the password nowhere.
    for t in READERS {
        let out = wait_check(&d, t, "OK", "to spare (margin 1h)");
        assert!(
            out.contains(&format!("D-day {}", rfc3339_plus2(p0 + 7200.0))),
            "{out}"
        );
        assert!(out.contains("bytes ") && out.contains("+02:00"), "{out}");
    }
    let down = wait_check(&d, "copy-down", "CRITICAL", "could not be polled: connect:");
    assert!(down.contains("copy-down"), "{down}");
    assert!(
        !m.contains(TOKEN)
            && !m.contains(&password)
            && !d.log().contains(TOKEN)
            && !d.log().contains(&password)
    );

    // The copier restarts from 0 and goes on. No rate is ever negative; the readers that take
    // its numbers as counters since start (all but copy-state) keep their projection within
    // one interval (1 s) of the last one before the restart: only what was copied between that
    // reading and the restart is lost; copy-state, which takes them as the job's state,
    // follows the drop.
    let mut last_before: std::collections::BTreeMap<&str, Seen> = Default::default();
    for _ in 0..20 {
        let m = d.metrics();
        for t in READERS.iter().chain(&["copy-state"]) {
            if let Some(s) = seen(&m, t) {
                last_before.insert(t, s);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let restarted_at = unix_now();
    copier.restart_from_zero();
    let before = last_before.clone();
    let mut after: Vec<(&str, Seen)> = Vec::new();
    let end = Instant::now() + Duration::from_secs(8);
    let mut last_before_restart = before.clone();
    while Instant::now() < end {
        let m = d.metrics();
        for t in READERS.iter().chain(&["copy-state"]) {
            if let Some(s) = seen(&m, t) {
                assert!(
                    s.files_rate >= 0.0 && s.bytes_rate >= 0.0,
                    "{t}: negative rate {s:?}"
                );
                if s.at < restarted_at {
                    last_before_restart.insert(t, s);
                } else {
                    after.push((t, s));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for t in READERS {
        let b = last_before_restart[t];
        let mine: Vec<&Seen> = after
            .iter()
            .filter(|(n, _)| *n == t)
            .map(|(_, s)| s)
            .collect();
        assert!(
            mine.len() >= 5,
            "{t}: {} scrapes after the restart",
            mine.len()
        );
        // One interval: 1 s, or the time the daemon actually took between the last reading
        // before the restart and the first after it, if a busy machine delayed that poll.
        let first_after = mine.iter().map(|s| s.at).fold(f64::INFINITY, f64::min);
        let interval = (first_after - b.at).max(1.0);
        for s in &mine {
            for (what, p, p_before) in [
                ("files", s.projected_files, b.projected_files),
                ("bytes", s.projected_bytes, b.projected_bytes),
            ] {
                assert!(
                    (p - p_before).abs() <= interval + 0.1,
                    "{t}: projected {what} moved from {p_before} to {p} at reading {}, more than one interval ({interval} s; restart at {restarted_at})",
                    s.at
                );
            }
        }
        let moved = mine
            .iter()
            .map(|s| {
                (s.projected_bytes - b.projected_bytes)
                    .abs()
                    .max((s.projected_files - b.projected_files).abs())
            })
            .fold(0.0, f64::max);
        eprintln!(
            "{t}: {} scrapes after the restart, projection moved at most {moved:.3} s",
            mine.len()
        );
        let resets = series_value(
            &d.metrics(),
            "headroom_migration_counter_resets_total",
            &[&format!("target=\"{t}\"")],
        );
        assert_eq!(resets, Some(1.0), "{t}");
    }
    let st_before = before["copy-state"];
    let st_after = after
        .iter()
        .rev()
        .find(|(n, _)| *n == "copy-state")
        .unwrap()
        .1;
    assert!(
        st_after.ratio_files < 0.05 && st_before.ratio_files > 0.25,
        "{st_before:?} -> {st_after:?}"
    );
    assert!(
        st_after.projected_files > st_before.projected_files + 400.0,
        "{st_before:?} -> {st_after:?}"
    );
    // Once the new window is full, its own rate: the plan's again.
    std::thread::sleep(Duration::from_secs(4));
    let m = d.metrics();
    for t in READERS {
        let s = seen(&m, t).unwrap();
        within(
            &format!("{t} files/s after the restart"),
            s.files_rate,
            PLAN.files_rate(),
            0.05 * PLAN.files_rate(),
        );
    }

    // D-day against the projection, by reloads (SIGHUP): the pollers start over, so every
    // reader now counts from the restart, like copy-state: bytes reach 99.9% at p1.
    let p1 = copier.projected_bytes(0.999);
    reload(&d, &copier, p1 + 1800.0);
    for t in READERS.iter().chain(&["copy-state"]) {
        let out = wait_check(&d, t, "WARNING", "inside the margin of 1h");
        assert!(
            out.contains(&format!("D-day {}", rfc3339_plus2(p1 + 1800.0))),
            "{out}"
        );
        assert!(
            out.contains("99.9% projected 20") && out.contains("+02:00. D-day"),
            "{out}"
        );
    }
    reload(&d, &copier, p1 - 1800.0);
    for t in READERS.iter().chain(&["copy-state"]) {
        let out = wait_check(&d, t, "CRITICAL", "after it");
        assert!(
            out.contains(&format!("D-day {}", rfc3339_plus2(p1 - 1800.0))),
            "{out}"
        );
    }
    reload(&d, &copier, p1 + 7200.0);
    for t in READERS {
        wait_check(&d, t, "OK", "to spare");
    }

    // The copy stalls: once the window holds no progress, CRITICAL, no ETA.
    copier.pause();
    for t in READERS {
        wait_check(&d, t, "CRITICAL", "no progress");
    }
    let m = d.metrics();
    assert_eq!(
        series_value(
            &m,
            "headroom_migration_eta_seconds",
            &["target=\"copy-http\"", "by=\"files\""]
        ),
        None
    );
    assert_eq!(
        series_value(
            &m,
            "headroom_migration_copy_rate_files_per_second",
            &["target=\"copy-http\""]
        ),
        Some(0.0)
    );

    // The HTTP endpoint goes away: its readers' checks CRITICAL with the reason, the SQL
    // reader and the daemon carry on.
    copier.set_http_up(false);
    for t in ["copy-http", "copy-prom"] {
        let out = wait_check(&d, t, "CRITICAL", "could not be polled: connect:");
        assert!(out.contains(&copier.url("")), "{out}");
    }
    assert_eq!(d.get("/healthz").map(|(s, _)| s), Some(200));
    assert_eq!(
        d.value("headroom_migration_up", &["target=\"copy-sql\""]),
        Some(1.0)
    );
    copier.set_http_up(true);
    wait_check(&d, "copy-http", "CRITICAL", "no progress");
}

#[test]
fn bad_migration_configs_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "migration:\n  - name: m\n    target_ratio: 0.99\n",
            ":2:5: migration[0]: no input: give one of sql, http, prometheus or cloudwatch_s3",
        ),
        (
            "migration:\n  - name: m\n    http: {url: 'http://127.0.0.1:1/', pointers: {files_total: /a, files_copied: /b, bytes_total: /c, bytes_copied: /d}}\n    prometheus: {url: 'http://127.0.0.1:1/', metrics: {}}\n",
            ":4:17: migration[0].prometheus: give exactly one of sql, http, prometheus or cloudwatch_s3: http is given too",
        ),
        (
            "migration:\n  - name: m\n    http:\n      url: http://127.0.0.1:1/\n      pointers:\n        files_total: /files/total\n        files_copied: files/copied\n        bytes_total: /b/t\n        bytes_copied: /b/c\n",
            ":7:23: migration[0].http.pointers.files_copied: \"files/copied\" is not a JSON pointer: it starts with '/' (RFC 6901)",
        ),
        (
            "migration:\n  - name: m\n    sql:\n      address: 127.0.0.1:3306\n      user: u\n      query: SELECT a, b, c FROM t\n      columns:\n        files_total: a\n        files_copied: b\n        bytes_total: c\n",
            ":8:9: migration[0].sql.columns: needs the column of bytes_copied",
        ),
    ];
    for (yaml, want) in cases {
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, yaml).unwrap();
        let (code, out, err) = common::headroom(&["config", "check", path.to_str().unwrap()]);
        assert_ne!(code, 0, "{yaml}");
        let all = format!("{out}{err}");
        let want = format!("{}{want}", path.display());
        assert!(all.contains(&want), "want {want:?} in:\n{all}");
    }
}

/// Puts daily AWS/S3 storage metrics of `bucket` with boto3: for each of the last `days`
/// midnights (UTC), NumberOfObjects (AllStorageTypes) and BucketSizeBytes (StandardStorage).
fn put_daily(bucket: &str, points: &[(i64, f64, f64)]) {
    let data: Vec<String> = points
        .iter()
        .flat_map(|(days_ago, files, bytes)| {
            [
                format!("{{'MetricName': 'NumberOfObjects', 'Dimensions': [{{'Name': 'BucketName', 'Value': '{bucket}'}}, {{'Name': 'StorageType', 'Value': 'AllStorageTypes'}}], 'Timestamp': midnight - datetime.timedelta(days={days_ago}), 'Value': {files}}}"),
                format!("{{'MetricName': 'BucketSizeBytes', 'Dimensions': [{{'Name': 'BucketName', 'Value': '{bucket}'}}, {{'Name': 'StorageType', 'Value': 'StandardStorage'}}], 'Timestamp': midnight - datetime.timedelta(days={days_ago}), 'Value': {bytes}}}"),
            ]
        })
        .collect();
    boto(&format!(
        "import boto3, datetime\n\
         cw = boto3.client('cloudwatch', endpoint_url='{}', region_name='eu-west-1', aws_access_key_id='test', aws_secret_access_key='test')\n\
         midnight = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)\n\
         cw.put_metric_data(Namespace='AWS/S3', MetricData=[{}])\n",
        env("HEADROOM_TEST_MOTO"),
        data.join(", ")
    ));
}

/// The bucket's daily storage metrics: a copy landing 100,000 objects and 100 GB a day, read
/// through the services' moto (and the CloudWatch protocol proxy in front of it).
#[test]
fn s3_storage_metrics_give_a_daily_rate() {
    let _moto = common::lock::moto();
    reset();
    // Five days of a copy at 100,000 objects and 1e11 bytes a day, then one day with a
    // deletion (objects removed: the bucket's state went back).
    put_daily(
        "dest-bucket",
        &[
            (6, 500_000.0, 5e11),
            (5, 600_000.0, 6e11),
            (4, 700_000.0, 7e11),
            (3, 800_000.0, 8e11),
            (2, 900_000.0, 9e11),
            (1, 1_000_000.0, 1e12),
        ],
    );
    let yaml = format!(
        "dday:\n  at: 2100-01-01T00:00:00+01:00\nmigration:\n  - name: s3\n    rate_window: 3d\n    cloudwatch_s3:\n      bucket: dest-bucket\n      region: eu-west-1\n      endpoint_url: {}\n      files_total: 2e6\n      bytes_total: 2TB\n",
        env("HEADROOM_TEST_AWS_ENDPOINT")
    );
    let cfg =
        config::parse(std::path::Path::new("s3.yaml"), &yaml).unwrap_or_else(|e| panic!("{e}"));
    let t = &cfg.targets[0];
    assert_eq!(
        t.interval,
        Duration::from_secs(3600),
        "cloudwatch_s3 default interval"
    );
    let SourceConfig::Migration(s) = &t.source else {
        panic!()
    };
    let p = MigrationPoller::new(s, &Clients::default());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let f = rt
        .block_on(p.poll())
        .unwrap_or_else(|e| panic!("{e}"))
        .families;
    let v = |n: &str, l: &[(&str, &str)]| find_value(&f, n, l);
    let per_day = 100_000.0 / 86_400.0;
    within(
        "objects/s",
        v("headroom_migration_copy_rate_files_per_second", &[]).unwrap(),
        per_day,
        0.05 * per_day,
    );
    within(
        "bytes/s",
        v("headroom_migration_copy_rate_bytes_per_second", &[]).unwrap(),
        1e11 / 86_400.0,
        0.05 * 1e11 / 86_400.0,
    );
    assert_eq!(
        v("headroom_migration_progress_ratio", &[("by", "files")]),
        Some(0.5)
    );
    assert_eq!(
        v("headroom_migration_files", &[("state", "total")]),
        Some(2e6)
    );
    // The newest point is yesterday's midnight; the ETA is from it: 998,000 objects at
    // 100,000 a day is 9.98 days.
    let at = v("headroom_migration_reading_timestamp_seconds", &[]).unwrap();
    let midnight = (unix_now() as i64 / 86_400 * 86_400) as f64;
    assert_eq!(at, midnight - 86_400.0);
    within(
        "ETA",
        v("headroom_migration_eta_seconds", &[("by", "files")]).unwrap(),
        9.98 * 86_400.0,
        0.05 * 9.98 * 86_400.0,
    );
    assert_eq!(
        v("headroom_migration_rate_span_seconds", &[]),
        Some(3.0 * 86_400.0)
    );
    assert_eq!(
        v("headroom_aws_requests", &[("operation", "GetMetricData")]),
        Some(1.0)
    );

    // Objects deleted today: the bucket's state went back. Progress follows, the rate of the
    // days before stands (a new window of one point has no rate) and is never negative.
    put_daily("dest-bucket", &[(0, 400_000.0, 4e11)]);
    let f = rt.block_on(p.poll()).unwrap().families;
    let v = |n: &str, l: &[(&str, &str)]| find_value(&f, n, l);
    assert_eq!(
        v("headroom_migration_progress_ratio", &[("by", "files")]),
        Some(0.2)
    );
    within(
        "objects/s after the deletion",
        v("headroom_migration_copy_rate_files_per_second", &[]).unwrap(),
        per_day,
        0.05 * per_day,
    );
    assert_eq!(v("headroom_migration_counter_resets", &[]), Some(1.0));

    // A bucket with no metrics: no_data, saying the metrics are daily.
    let yaml = yaml.replace("dest-bucket", "empty-bucket");
    let cfg = config::parse(std::path::Path::new("s3.yaml"), &yaml).unwrap();
    let SourceConfig::Migration(s) = &cfg.targets[0].source else {
        panic!()
    };
    let e = rt
        .block_on(MigrationPoller::new(s, &Clients::default()).poll())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("S3 publishes storage metrics once a day"),
        "{e}"
    );
}
