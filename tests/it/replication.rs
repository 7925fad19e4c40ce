//! Replication against a real replica: the services' MariaDB and the replica scripts/services
//! starts beside it (GTID), pt-heartbeat (Debian's percona-toolkit) updating its table on the
//! primary, and the daemon polling both every second. The replication is stopped, broken
//! with a conflicting row and repaired by the tests; a guard leaves the pair replicating
//! whatever happens. They write to the primary and stop its replica, so they hold the
//! MariaDB to themselves.

use crate::common;

use std::time::{Duration, Instant};

use common::replica::{PtHeartbeat, primary, replica, sql, threads, try_sql};
use common::{Daemon, env, free_port, wait_for};
use serde_json::Value;

const PRIMARY: &str = "db-primary";
const REPLICA: &str = "db-replica";
/// The table the conflict is made in.
const TABLE: &str = "headroom_test.repl_conflict";

/// Repairs what a test may have left: the replica's own row of the conflict goes, both
/// threads start, and the replica catches up with the primary.
fn repair() -> Result<(), String> {
    try_sql(
        &replica(),
        &format!("SET sql_log_bin = 0; DELETE FROM {TABLE} WHERE v = -1; START SLAVE"),
    )
    .or_else(|e| {
        // The table may not exist yet on a first run.
        if e.contains("doesn't exist") {
            try_sql(&replica(), "START SLAVE").map(|_| String::new())
        } else {
            Err(e)
        }
    })?;
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let caught_up = try_sql(&primary(), "SELECT @@gtid_binlog_pos")?
            == try_sql(&replica(), "SELECT @@gtid_slave_pos")?;
        if threads()? == ("Yes".into(), "Yes".into()) && caught_up {
            return Ok(());
        }
        if Instant::now() > end {
            return Err(format!("replica not replicating: {:?}", threads()?));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Leaves the pair replicating when dropped, even after a failed assertion.
struct Replicating;

impl Replicating {
    fn start() -> Replicating {
        repair().unwrap_or_else(|e| panic!("{e}"));
        Replicating
    }
}

impl Drop for Replicating {
    fn drop(&mut self) {
        if let Err(e) = repair() {
            eprintln!("replication not repaired: {e}");
        }
    }
}

/// A shipped check of checks/mysql.yaml as YAML, with `changes` applied (shorter thresholds,
/// so that the tests need not wait minutes).
fn shipped_check(name: &str, changes: &[(&str, &str)]) -> String {
    let src = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/mysql.yaml"),
    )
    .unwrap();
    let list: Vec<serde_yaml_ng::Value> = serde_yaml_ng::from_str(&src).unwrap();
    let mut def = list
        .into_iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("{name} not shipped"));
    for (k, v) in changes {
        def[*k] = serde_yaml_ng::Value::String((*v).to_owned());
    }
    serde_json::to_string(&def).unwrap()
}

fn target(name: &str, addr: &str, extra: &str) -> String {
    format!(
        "  - {{name: {name}, address: '{addr}', user: {}, password_env: HEADROOM_TEST_MYSQL_PASSWORD{extra}}}\n",
        env("HEADROOM_TEST_MYSQL_USER")
    )
}

/// The check `name` on `host`, once evaluated: (status, output without the `STATUS: `).
fn check(d: &Daemon, name: &str, host: &str) -> Option<(String, String)> {
    let (_, body) = d.get("/api/checks")?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["checks"]
        .as_array()?
        .iter()
        .find(|c| c["check"] == name && c["host"] == host && c["has_been_checked"] == true)
        .map(|c| {
            let status = c["status"].as_str().unwrap_or_default().to_owned();
            let output = c["output"].as_str().unwrap_or_default();
            let text = output
                .strip_prefix(&format!("{status}: "))
                .unwrap_or(output)
                .to_owned();
            (status, text)
        })
}

/// Waits for `name` on `host` to be `status`; returns its output.
fn wait_status(d: &Daemon, name: &str, host: &str, status: &str, limit: Duration) -> String {
    let end = Instant::now() + limit;
    loop {
        let last = check(d, name, host);
        if let Some((s, out)) = &last
            && s == status
        {
            return out.clone();
        }
        if Instant::now() > end {
            panic!(
                "{name} on {host} not {status} within {limit:?}; last {last:?}\n{}",
                d.log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn heartbeat_lag(d: &Daemon) -> Option<f64> {
    heartbeat_lag_and_poll(d).map(|(lag, _)| lag)
}

/// The replica's heartbeat lag and the end of the poll that read it (Unix seconds), from one
/// scrape.
fn heartbeat_lag_and_poll(d: &Daemon) -> Option<(f64, f64)> {
    let text = d.metrics();
    let target = format!("target=\"{REPLICA}\"");
    let lag = common::series_value(
        &text,
        "headroom_mysql_heartbeat_lag_seconds",
        &[&target, "channel=\"\""],
    )?;
    let polled = common::series_value(
        &text,
        "headroom_last_success_timestamp_seconds",
        &["source=\"mysql\"", &target],
    )?;
    Some((lag, polled))
}

#[test]
fn replica_stopped_lagging_broken_and_repaired() {
    let _mariadb = common::lock::mariadb_alone();
    let _pair = Replicating::start();
    sql(
        &primary(),
        &format!("DROP TABLE IF EXISTS {TABLE}; CREATE TABLE {TABLE} (id INT PRIMARY KEY, v INT)"),
    );
    let _heartbeat = PtHeartbeat::start();
    let (warn, crit) = (3.0, 6.0);
    let config = format!(
        "defaults: {{interval: 1s, timeout: 1s}}\nmysql:\n{}{}checks:\n  - {}\n  - {}\n",
        target(PRIMARY, &primary(), ""),
        target(
            REPLICA,
            &replica(),
            ", heartbeat: {table: percona.heartbeat, server_id: 1}"
        ),
        shipped_check(
            "MYSQL_REPLICA_LAG",
            &[
                ("warning", &warn.to_string()),
                ("critical", &crit.to_string())
            ]
        ),
        shipped_check("MYSQL_REPLICA_RUNNING", &[]),
    );
    let d = Daemon::start(free_port(), &config, &[]);

    // (a) Healthy: both threads run, the heartbeat lag is small, the checks are OK; the
    // primary is no replica, which is OK too.
    let out = wait_status(
        &d,
        "MYSQL_REPLICA_RUNNING",
        REPLICA,
        "OK",
        Duration::from_secs(20),
    );
    assert_eq!(out, "IO and SQL threads running");
    let out = wait_status(
        &d,
        "MYSQL_REPLICA_LAG",
        REPLICA,
        "OK",
        Duration::from_secs(20),
    );
    assert!(
        out.contains("by the heartbeat in percona.heartbeat (server_id 1)"),
        "{out}"
    );
    let lag = wait_for("the heartbeat lag", Duration::from_secs(10), || {
        heartbeat_lag(&d)
    });
    assert!(lag < 2.0, "healthy heartbeat lag {lag}");
    for name in ["MYSQL_REPLICA_RUNNING", "MYSQL_REPLICA_LAG"] {
        let out = wait_status(&d, name, PRIMARY, "OK", Duration::from_secs(10));
        assert_eq!(out, format!("{PRIMARY} is not a replica"));
    }
    let text = d.metrics();
    let r = format!("target=\"{REPLICA}\"");
    for name in [
        "headroom_mysql_replica_io_running",
        "headroom_mysql_replica_sql_running",
    ] {
        assert_eq!(
            common::series_value(&text, name, &[&r, "channel=\"\""]),
            Some(1.0),
            "{name}"
        );
    }
    // mysqld_exporter's names and labels, MariaDB's default connection named "".
    assert_eq!(
        common::series_value(
            &text,
            "mysql_slave_status_slave_sql_running",
            &[&r, "connection_name=\"\"", "master_host=\"127.0.0.1\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        common::series_value(&text, "mysql_slave_status_master_server_id", &[&r]),
        Some(1.0)
    );
    // MariaDB has no super_read_only: no series, rather than a made-up 0.
    assert_eq!(
        common::series_value(&text, "mysql_global_variables_read_only", &[&r]),
        Some(1.0)
    );
    assert_eq!(
        common::series_value(&text, "mysql_global_variables_super_read_only", &[&r]),
        None
    );
    // No role: no read-only expectation and no check, which is listed as inactive.
    let (_, body) = d.get("/api/checks").unwrap();
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["inactive"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["check"] == "MYSQL_READ_ONLY_AS_PLANNED"),
        "{body}"
    );
    assert!(!text.contains("headroom_mysql_read_only_expected"));
    // mysqld_exporter names the Skip_Counter column mysql_slave_status_skip_counter, which
    // promtool's lint takes for a counter named as one: the name stays what dashboards built
    // on mysqld_exporter read. Any other finding fails.
    if let Err(e) = common::promtool_check_metrics(&text) {
        let others: Vec<&str> = e
            .lines()
            .filter(|l| {
                !l.trim().is_empty()
                    && *l != "mysql_slave_status_skip_counter metric name should not include type 'counter'"
            })
            .collect();
        assert!(others.is_empty(), "promtool: {e}");
    }

    // (b) The SQL thread stops: Seconds_Behind_Master goes NULL, the heartbeat lag grows
    // with the time since the stop, and the lag check goes WARNING, then CRITICAL.
    sql(&replica(), "STOP SLAVE SQL_THREAD");
    let stopped = Instant::now();
    let stopped_unix = unix_now();
    let mut seen: Vec<String> = Vec::new();
    let (mut compared, mut worst) = (0, 0.0f64);
    while stopped.elapsed() < Duration::from_secs(20) {
        if let Some((lag, polled)) = heartbeat_lag_and_poll(&d) {
            // The time from the stop to the poll that read this lag, not to now: a reading is
            // up to a poll old when it is scraped, more when the machine is busy. The lag reads
            // up to pt-heartbeat's interval (0.5 s) more, the last row before the stop being
            // that old, and up to the poll's own time less.
            let truth = polled - stopped_unix;
            if truth > 0.5 {
                assert!(
                    (lag - truth).abs() <= 2.0,
                    "heartbeat lag {lag:.2} s, {truth:.2} s from the SQL thread's stop to the poll"
                );
                compared += 1;
                worst = worst.max((lag - truth).abs());
            }
        }
        if let Some((s, out)) = check(&d, "MYSQL_REPLICA_LAG", REPLICA) {
            if seen.last() != Some(&s) {
                println!("{:.1}s: {s}: {out}", stopped.elapsed().as_secs_f64());
                seen.push(s.clone());
            }
            if s == "CRITICAL" {
                assert!(out.contains("Seconds_Behind_Master NULL"), "{out}");
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!(
        "{compared} heartbeat lag readings, at most {worst:.2} s from the time from the stop to their poll"
    );
    assert!(compared >= 5, "only {compared} lag readings compared");
    let warned = seen.iter().position(|s| s == "WARNING");
    let critical = seen.iter().position(|s| s == "CRITICAL");
    assert!(
        warned.is_some() && critical.is_some() && warned < critical,
        "lag check states after the stop: {seen:?}"
    );
    let out = wait_status(
        &d,
        "MYSQL_REPLICA_RUNNING",
        REPLICA,
        "CRITICAL",
        Duration::from_secs(5),
    );
    assert_eq!(out, "SQL thread not running (no error recorded)");
    sql(&replica(), "START SLAVE SQL_THREAD");
    wait_status(
        &d,
        "MYSQL_REPLICA_LAG",
        REPLICA,
        "OK",
        Duration::from_secs(10),
    );
    wait_status(
        &d,
        "MYSQL_REPLICA_RUNNING",
        REPLICA,
        "OK",
        Duration::from_secs(10),
    );

    // (c) The IO thread stops: CRITICAL, naming it.
    sql(&replica(), "STOP SLAVE IO_THREAD");
    let out = wait_status(
        &d,
        "MYSQL_REPLICA_RUNNING",
        REPLICA,
        "CRITICAL",
        Duration::from_secs(10),
    );
    assert_eq!(out, "IO thread not running (no error recorded)");
    sql(&replica(), "START SLAVE IO_THREAD");
    wait_status(
        &d,
        "MYSQL_REPLICA_RUNNING",
        REPLICA,
        "OK",
        Duration::from_secs(10),
    );

    // (d) A row the replica has of its own (written past read_only by a privileged user,
    // outside the binary log), then the same key on the primary: the SQL thread stops on the
    // duplicate, and the check says so with the server's error text.
    sql(
        &replica(),
        &format!("SET sql_log_bin = 0; INSERT INTO {TABLE} VALUES (1, -1)"),
    );
    sql(&primary(), &format!("INSERT INTO {TABLE} VALUES (1, 1)"));
    let out = wait_status(
        &d,
        "MYSQL_REPLICA_RUNNING",
        REPLICA,
        "CRITICAL",
        Duration::from_secs(10),
    );
    println!("conflict: {out}");
    assert!(
        out.starts_with("SQL thread not running (last error 1062: ")
            && out.contains("Duplicate entry '1' for key 'PRIMARY'"),
        "{out}"
    );
    let text = d.metrics();
    assert_eq!(
        common::series_value(
            &text,
            "headroom_mysql_replica_last_error_info",
            &[&r, "thread=\"sql\"", "errno=\"1062\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        common::series_value(&text, "mysql_slave_status_last_sql_errno", &[&r]),
        Some(1062.0)
    );

    // (e) The replica's row goes and replication starts again: the checks recover by
    // themselves, and the primary's row is on the replica.
    sql(
        &replica(),
        &format!("SET sql_log_bin = 0; DELETE FROM {TABLE} WHERE id = 1; START SLAVE"),
    );
    let out = wait_status(
        &d,
        "MYSQL_REPLICA_RUNNING",
        REPLICA,
        "OK",
        Duration::from_secs(10),
    );
    assert_eq!(out, "IO and SQL threads running");
    wait_status(
        &d,
        "MYSQL_REPLICA_LAG",
        REPLICA,
        "OK",
        Duration::from_secs(10),
    );
    assert_eq!(
        sql(&replica(), &format!("SELECT v FROM {TABLE} WHERE id = 1")),
        "1"
    );
    wait_for("the last error gone", Duration::from_secs(5), || {
        d.value("headroom_mysql_replica_last_error_info", &[&r])
            .is_none()
            .then_some(())
    });
    // The poll that saw the threads running may have come before the replica applied the
    // heartbeats it was behind on: the lag comes down within a few polls.
    wait_for(
        "the heartbeat lag under 2 s after the repair",
        Duration::from_secs(10),
        || heartbeat_lag(&d).filter(|lag| *lag < 2.0),
    );
}

#[test]
fn read_only_as_the_phase_plans() {
    let _mariadb = common::lock::mariadb_alone();
    let _pair = Replicating::start();
    // Whatever happens, the primary is writable again afterwards.
    struct Writable;
    impl Drop for Writable {
        fn drop(&mut self) {
            let _ = try_sql(&primary(), "SET GLOBAL read_only = OFF");
        }
    }
    let _writable = Writable;

    let config = |phase: &str| {
        format!(
            "defaults: {{interval: 1s, timeout: 1s}}\ndday: {{at: '2030-03-01T06:00:00+01:00', phase: {phase}}}\nmysql:\n{}{}",
            target(PRIMARY, &primary(), ", role: source"),
            target(REPLICA, &replica(), ", role: destination"),
        )
    };
    let d = Daemon::start(free_port(), &config("before"), &[]);
    let port = d.port;
    let name = "MYSQL_READ_ONLY_AS_PLANNED";

    // before: the source writable, the destination a read-only replica.
    let out = wait_status(&d, name, PRIMARY, "OK", Duration::from_secs(20));
    assert_eq!(
        out,
        "read_only OFF, as phase before expects the source writable (a source is writable before the freeze and read-only from freeze on)"
    );
    let out = wait_status(&d, name, REPLICA, "OK", Duration::from_secs(20));
    assert!(
        out.starts_with("read_only ON, as phase before expects the destination read-only"),
        "{out}"
    );
    let expected = |d: &Daemon, t: &str, role: &str, phase: &str| {
        d.value(
            "headroom_mysql_read_only_expected",
            &[
                &format!("target=\"{t}\""),
                &format!("role=\"{role}\""),
                &format!("phase=\"{phase}\""),
            ],
        )
    };
    assert_eq!(expected(&d, PRIMARY, "source", "before"), Some(0.0));
    assert_eq!(expected(&d, REPLICA, "destination", "before"), Some(1.0));

    // freeze, by a reload: the source must be read-only now, and is not.
    std::fs::write(
        d.config_path(),
        format!("listen: 127.0.0.1:{port}\n{}", config("freeze")),
    )
    .unwrap();
    d.signal("HUP");
    let out = wait_status(&d, name, PRIMARY, "CRITICAL", Duration::from_secs(20));
    assert_eq!(
        out,
        "read_only OFF, but phase freeze expects the source read-only (a source is writable before the freeze and read-only from freeze on)"
    );
    assert_eq!(expected(&d, PRIMARY, "source", "freeze"), Some(1.0));
    wait_status(&d, name, REPLICA, "OK", Duration::from_secs(10));

    // The freeze done: the source read-only, as planned.
    sql(&primary(), "SET GLOBAL read_only = ON");
    let out = wait_status(&d, name, PRIMARY, "OK", Duration::from_secs(10));
    assert!(
        out.starts_with("read_only ON, as phase freeze expects the source read-only"),
        "{out}"
    );
    sql(&primary(), "SET GLOBAL read_only = OFF");
}
