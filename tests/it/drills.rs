//! Fault drills: the database gone and a whole region gone while the daemon runs. Two
//! "regions": us-west-2 (the services' memcached and a private moto) stays up; eu-central-1 (a
//! private MariaDB of the test's own and a second private moto) is stopped and started again.
//! The endpoints keep answering, the region's checks go CRITICAL or UNKNOWN with the reason
//! within an interval, the other region's checks and poll times do not move, everything
//! recovers by itself, and the MySQL history has one row for every minute it was polled in.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::common;
use crate::common::moto::{AWS_ENV, PrivateMoto};
use crate::common::{Daemon, env, free_port, series_value, wait_for};

/// A MariaDB of the test's own (Debian's mariadbd) in a temporary directory, without grant
/// tables (any user may poll it: what is drilled is its absence, not its accounts).
struct PrivateMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl PrivateMariaDb {
    fn start() -> PrivateMariaDb {
        let dir = tempfile::tempdir().unwrap();
        let (port, child) = common::private_mariadb(dir.path(), "skip-grant-tables\n");
        PrivateMariaDb {
            dir,
            port,
            child: Some(child),
        }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts it again, on the same port.
    fn restart(&mut self) {
        let cnf = self.dir.path().join("my.cnf");
        match common::start_mariadb(self.dir.path(), &cnf) {
            Ok(child) => self.child = Some(child),
            Err(f) => panic!("the private MariaDB did not start again: {f}"),
        }
    }

    /// SIGKILL: the database is gone, as in a crash.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The tests' private MariaDB is its own: with its port held by another listener (one that
/// never answers, as a port taken between `free_port` and the bind would be), the mariadbd
/// started on it exits and the helper says so with its error log; it is not taken for the
/// listener.
#[test]
fn a_private_mariadb_is_not_confused_with_another_listener() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let cnf = common::install_mariadb(dir.path(), port, "skip-grant-tables\n");
    match common::start_mariadb(dir.path(), &cnf) {
        Err(common::Failed::Exited(why)) => {
            assert!(why.contains("mariadbd exited"), "{why}");
            assert!(
                why.contains(&port.to_string()),
                "the error log names the port: {why}"
            );
        }
        Err(f) => panic!("mariadbd on a taken port did not exit: {f}"),
        Ok(_) => panic!("a listener that never answers was taken for the MariaDB"),
    }
}

/// The same for the tests' private moto: it is up when the process started holds the
/// listening socket, not when something answers on its port.
#[test]
fn a_private_moto_is_not_confused_with_another_listener() {
    let m = common::start_after_the_port_was_taken("moto", PrivateMoto::start_on);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", m.port)).unwrap();
    std::io::Write::write_all(&mut s, b"GET /moto-api/data.json HTTP/1.0\r\n\r\n").unwrap();
    let mut reply = String::new();
    std::io::Read::read_to_string(&mut s, &mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

/// (status, output) of `check` on `host` from /api/checks.
fn check(d: &Daemon, name: &str, host: &str) -> Option<(String, String)> {
    let (_, body) = d.get("/api/checks")?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    v["checks"].as_array()?.iter().find_map(|c| {
        // A check not yet evaluated (pending) does not count.
        (c["check"] == name && c["host"] == host && c["has_been_checked"] == true).then(|| {
            (
                c["status"].as_str().unwrap_or_default().to_owned(),
                c["output"].as_str().unwrap_or_default().to_owned(),
            )
        })
    })
}

/// Polls of `target` so far, the seconds they took in all, and how many failed.
fn polls(m: &str, target: &str) -> (f64, f64, f64) {
    let t = format!("target=\"{target}\"");
    let failed = ["timeout", "connect", "auth", "protocol"]
        .iter()
        .filter_map(|k| {
            series_value(
                m,
                "headroom_poll_errors_total",
                &[&t, &format!("kind=\"{k}\"")],
            )
        })
        .sum();
    (
        series_value(m, "headroom_poll_duration_seconds_count", &[&t]).unwrap_or(0.0),
        series_value(m, "headroom_poll_duration_seconds_sum", &[&t]).unwrap_or(0.0),
        failed,
    )
}

#[test]
fn the_database_and_then_a_whole_region_go_and_come_back() {
    // MEMCACHE_RESPONSE must stay OK (it warns at 0.1 s) and the polls' times are compared:
    // not beside sysbench's load.
    let _quiet = common::lock::no_load();
    let mut db = PrivateMariaDb::start();
    let us_moto = PrivateMoto::start();
    let mut eu_moto = PrivateMoto::start();
    let memcached = env("HEADROOM_TEST_MEMCACHED");
    let config = format!(
        "defaults: {{interval: 1s, timeout: 2s}}\n\
         memcached:\n  - {{name: us-cache, address: '{memcached}', region: us-west-2}}\n\
         rds:\n  - {{name: us-rds, region: us-west-2, endpoint_url: '{}'}}\n\
         \x20 - {{name: eu-rds, region: eu-central-1, endpoint_url: '{}'}}\n\
         mysql:\n  - {{name: eu-db, address: '{}', user: monitor, password_env: HR_PW, region: eu-central-1}}\n",
        us_moto.url(),
        eu_moto.url(),
        db.address()
    );
    let mut envs: Vec<(&str, &str)> = AWS_ENV.to_vec();
    envs.push(("HR_PW", "any"));
    let mut d = Daemon::start(free_port(), &config, &envs);
    let history = d.dir.path().join("headroom-history.sqlite");
    let mut polled_minutes = RateMinutes::default();
    let note = |d: &Daemon, minutes: &mut RateMinutes| minutes.note(&d.metrics());
    let all_ok = |d: &Daemon| {
        ["us-cache", "eu-db"].iter().all(|h| {
            check(d, "MEMCACHE_RESPONSE", h)
                .or_else(|| check(d, "MYSQL_CONNECTIONS", h))
                .is_some_and(|(s, _)| s == "OK")
        })
    };
    wait_for("every check OK", Duration::from_secs(30), || {
        all_ok(&d).then_some(())
    });
    note(&d, &mut polled_minutes);
    // A few polls of every target first: the live region's poll times before the outage.
    wait_for(
        "three polls of every target",
        Duration::from_secs(30),
        || {
            let m = d.metrics();
            ["us-cache", "us-rds", "eu-rds", "eu-db"]
                .iter()
                .all(|t| polls(&m, t).0 >= 3.0)
                .then_some(())
        },
    );
    note(&d, &mut polled_minutes);

    // 1. The database gone (killed, as in a crash).
    db.kill();
    let gone = Instant::now();
    let (state, out) = wait_for(
        "eu-db's checks to say it is gone",
        Duration::from_secs(10),
        || {
            note(&d, &mut polled_minutes);
            check(&d, "MYSQL_CONNECTIONS", "eu-db").filter(|(s, _)| s != "OK")
        },
    );
    // Within one interval (1 s) plus a connect timeout's worth of slack.
    assert!(
        gone.elapsed() < Duration::from_secs(4),
        "{:?}",
        gone.elapsed()
    );
    assert!(state == "CRITICAL" || state == "UNKNOWN", "{state}: {out}");
    assert!(
        out.contains("eu-db could not be polled") && out.contains("connect"),
        "{out}"
    );

    // 2. The whole region: its AWS endpoint goes too. us-west-2 must not notice.
    eu_moto.stop();
    let m0 = d.metrics();
    let us = ["us-cache", "us-rds"];
    let before: Vec<(f64, f64, f64)> = us.iter().map(|t| polls(&m0, t)).collect();
    let region_down = Instant::now();
    while region_down.elapsed() < Duration::from_secs(6) {
        note(&d, &mut polled_minutes);
        // /metrics and /status keep answering through it.
        assert!(d.get("/status").is_some_and(|(s, _)| s == 200));
        assert!(d.get("/metrics").is_some_and(|(s, _)| s == 200));
        assert_eq!(
            check(&d, "MEMCACHE_RESPONSE", "us-cache")
                .map(|(s, _)| s)
                .as_deref(),
            Some("OK")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let m1 = d.metrics();
    for (t, (n0, s0, f0)) in us.iter().zip(&before) {
        let (n1, s1, f1) = polls(&m1, t);
        assert!(n1 - n0 >= 4.0, "{t} kept polling: {n0} -> {n1}");
        assert_eq!(
            f1, *f0,
            "{t} failed a poll during the other region's outage"
        );
        // Its polls took as long as before the outage (the dead region's 2 s timeouts did
        // not hold them up): the mean within twice the earlier mean and a quarter second.
        let (mean_before, mean_during) = (s0 / n0, (s1 - s0) / (n1 - n0));
        assert!(
            mean_during < 2.0 * mean_before + 0.25,
            "{t}: {mean_before:.3} s a poll before, {mean_during:.3} s during"
        );
    }
    let eu_errors = |m: &str| {
        ["connect", "timeout"]
            .iter()
            .filter_map(|k| {
                series_value(
                    m,
                    "headroom_poll_errors_total",
                    &["target=\"eu-rds\"", &format!("kind=\"{k}\"")],
                )
            })
            .sum::<f64>()
    };
    assert!(
        eu_errors(&m1) > 0.0,
        "eu-rds failed its polls while its endpoint was down"
    );
    assert_eq!(d.value("mysql_up", &["target=\"eu-db\""]), Some(0.0));

    // 3. Both come back: everything recovers by itself.
    db.restart();
    eu_moto.restart();
    let back = Instant::now();
    wait_for("eu-db's checks to recover", Duration::from_secs(15), || {
        note(&d, &mut polled_minutes);
        check(&d, "MYSQL_CONNECTIONS", "eu-db").filter(|(s, _)| s == "OK")
    });
    assert!(
        back.elapsed() < Duration::from_secs(6),
        "recovered after {:?}",
        back.elapsed()
    );
    wait_for("eu-rds to poll again", Duration::from_secs(10), || {
        (d.value("headroom_rds_up", &["target=\"eu-rds\""]) == Some(1.0)).then_some(())
    });
    for _ in 0..4 {
        note(&d, &mut polled_minutes);
        std::thread::sleep(Duration::from_millis(500));
    }

    // 4. Stopped cleanly, the history holds one row for every minute eu-db was polled in
    // with a rate.
    d.signal("TERM");
    assert_eq!(d.wait_exit(Duration::from_secs(20)), Some(0));
    let rows = rows_per_minute(&history, "eu-db");
    assert!(
        !polled_minutes.minutes.is_empty(),
        "no poll with a rate seen"
    );
    for m in &polled_minutes.minutes {
        assert_eq!(
            rows.iter().filter(|(ts, _)| ts == m).count(),
            1,
            "minute {m}: {rows:?}"
        );
    }
}

/// The minutes in which eu-db was polled successfully with a rate, as the daemon reports
/// them: a success seen after another success with no failed poll seen between them. The first
/// poll of a connection (at the start, after a failure) has no rate yet, and the history's
/// minutes are made of the polls that have one: a minute with only such a poll has no row.
/// A success seen together with a new failure is left out too (which came first is not known).
#[derive(Default)]
struct RateMinutes {
    minutes: BTreeSet<i64>,
    /// The last success seen, and whether no failure was seen since.
    last: Option<(f64, bool)>,
    failed: f64,
}

impl RateMinutes {
    /// One scrape's `headroom_last_success_timestamp_seconds` and failed polls of eu-db.
    fn note(&mut self, metrics: &str) {
        let failed = polls(metrics, "eu-db").2;
        let new_failure = failed != self.failed;
        self.failed = failed;
        let Some(t) = series_value(
            metrics,
            "headroom_last_success_timestamp_seconds",
            &["target=\"eu-db\""],
        ) else {
            return;
        };
        match self.last {
            Some((seen, clean)) if seen == t => self.last = Some((t, clean && !new_failure)),
            Some((_, clean)) => {
                if clean && !new_failure {
                    self.minutes.insert((t as i64).div_euclid(60) * 60);
                }
                self.last = Some((t, !new_failure));
            }
            None => self.last = Some((t, !new_failure)),
        }
    }
}

/// (minute, samples) of `db` in the embedded history's minute table.
fn rows_per_minute(path: &Path, db: &str) -> Vec<(i64, i64)> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
             [print(ts, n) for ts, n in c.execute(\"SELECT ts, samples FROM minute WHERE db = '{db}' ORDER BY ts\")]"
        ))
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let (a, b) = l.split_once(' ').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect()
}
