//! The MySQL source's global variables and processlist, and `headroom check mysql` as a
//! Nagios plugin, against the real MariaDB that scripts/services starts.

use crate::common;

use std::time::Duration;

use common::{env, free_port, headroom};
use headroom::config::Secret;
use headroom::model::find_value as value;
use headroom::model::{Family, Poller};
use headroom::sources::mysql::{MysqlPoller, Settings, TpsCounter};
use mysql_async::prelude::Queryable;

fn settings() -> Settings {
    Settings::new(
        env("HEADROOM_TEST_MYSQL"),
        env("HEADROOM_TEST_MYSQL_USER"),
        Some(Secret::new(env("HEADROOM_TEST_MYSQL_PASSWORD"))),
    )
}

async fn conn(user: &str, password: &str) -> mysql_async::Conn {
    conn_at(&env("HEADROOM_TEST_MYSQL"), user, password).await
}

async fn conn_at(addr: &str, user: &str, password: &str) -> mysql_async::Conn {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port.parse().unwrap())
        .user(Some(user))
        .pass(Some(password));
    mysql_async::Conn::new(opts).await.unwrap()
}

async fn admin() -> mysql_async::Conn {
    conn(
        &env("HEADROOM_TEST_MYSQL_ADMIN_USER"),
        &env("HEADROOM_TEST_MYSQL_ADMIN_PASSWORD"),
    )
    .await
}

fn variables(f: &[Family]) -> Vec<&str> {
    f.iter()
        .filter_map(|f| f.name.strip_prefix("mysql_global_variables_"))
        .collect()
}

/// Every numeric variable the server has is a series, named as mysqld_exporter names it;
/// between two reads of the whole set a `SET GLOBAL` of a variable a check reads shows at the
/// next poll, one of another waits for the refresh, and the refresh brings it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::await_holding_lock,
    reason = "the guard is a turn at the shared MariaDB (its global variables change here) for the whole test"
)]
async fn every_numeric_variable_and_the_refresh() {
    let _mariadb = common::lock::mariadb_alone();
    let mut admin = admin().await;
    let rows: Vec<(String, Option<String>)> = admin.query("SHOW GLOBAL VARIABLES").await.unwrap();
    let numeric: Vec<String> = rows
        .iter()
        .filter(|(_, v)| {
            v.as_deref()
                .and_then(headroom::sources::mysql::parse_value)
                .is_some()
        })
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect();
    let refresh = Duration::from_secs(3);
    let poller = MysqlPoller::new(&Settings {
        variables_refresh: refresh,
        ..settings()
    });
    let first = poller.poll().await.unwrap().families;
    let mut got = variables(&first);
    got.sort();
    let mut want: Vec<&str> = numeric.iter().map(String::as_str).collect();
    want.sort();
    println!(
        "{} variables, {} numeric, {} exported",
        rows.len(),
        want.len(),
        got.len()
    );
    assert_eq!(got, want);
    assert!(got.len() > 300, "{}", got.len());
    assert_eq!(
        value(&first, "mysql_global_variables_autocommit", &[]),
        Some(1.0)
    );
    assert!(
        first
            .iter()
            .any(|f| f.name == "mysql_transaction_isolation"),
        "no mysql_transaction_isolation"
    );

    let (max_conn, lqt): (u64, f64) = admin
        .query_first("SELECT @@GLOBAL.max_connections, @@GLOBAL.long_query_time")
        .await
        .unwrap()
        .unwrap();
    admin
        .query_drop(format!(
            "SET GLOBAL max_connections = {}, GLOBAL long_query_time = {}",
            max_conn + 7,
            lqt + 1.0
        ))
        .await
        .unwrap();
    let second = poller.poll().await.unwrap().families;
    // Fresh every poll.
    assert_eq!(
        value(&second, "mysql_global_variables_max_connections", &[]),
        Some((max_conn + 7) as f64)
    );
    // Not yet: the whole set is read again only after `variables_refresh`.
    assert_eq!(
        value(&second, "mysql_global_variables_long_query_time", &[]),
        Some(lqt)
    );
    tokio::time::sleep(refresh).await;
    let third = poller.poll().await.unwrap().families;
    admin
        .query_drop(format!(
            "SET GLOBAL max_connections = {max_conn}, GLOBAL long_query_time = {lqt}"
        ))
        .await
        .unwrap();
    assert_eq!(
        value(&third, "mysql_global_variables_long_query_time", &[]),
        Some(lqt + 1.0)
    );
    assert_eq!(variables(&third).len(), want.len());
    poller.close().await;
}

/// The status series of a poll, as `name{labels}`, sorted.
fn status_series(f: &[Family]) -> Vec<String> {
    let mut v: Vec<String> = f
        .iter()
        .filter(|f| f.name.starts_with("mysql_global_status_"))
        .flat_map(|f| {
            f.samples
                .iter()
                .map(move |s| format!("{}{:?}", f.name, s.labels))
        })
        .collect();
    v.sort();
    v
}

/// The server-wide counters of `SHOW STATUS` statements, `SELECT`s and replica status reads
/// (`SHOW ALL SLAVES STATUS` counts in `Com_show_slave_status`), in one statement.
async fn show_and_select(admin: &mut mysql_async::Conn) -> (f64, f64, f64) {
    let rows: Vec<(String, f64)> = admin
        .query(
            "SHOW GLOBAL STATUS WHERE Variable_name IN \
             ('Com_show_status', 'Com_select', 'Com_show_slave_status')",
        )
        .await
        .unwrap();
    let get = |n: &str| rows.iter().find(|(k, _)| k == n).map(|(_, v)| *v).unwrap();
    (
        get("Com_show_status"),
        get("Com_select"),
        get("Com_show_slave_status"),
    )
}

/// A steady poll sends its statements in one packet: the status read, the variables a check
/// reads, the transaction counter. A user who loses the right to read the counter's table
/// fails that one poll, with the server's words; the polls after (a first one on a new
/// connection, then steady ones) send the counter on its own, and its failure then fails
/// nothing: the status and the variables are there. On a MariaDB of the test's own, where root
/// may grant and revoke.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_that_fails_in_the_polls_packet_fails_one_poll_then_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let table = "performance_schema.events_transactions_summary_global_by_event_name";
    std::fs::write(
        dir.path().join("init.sql"),
        format!(
            "CREATE USER 'monitor'@'%' IDENTIFIED BY 'packed-probe-pw';\n\
             GRANT SELECT ON {table} TO 'monitor'@'%';\n"
        ),
    )
    .unwrap();
    let (port, child) = common::private_mariadb(
        dir.path(),
        &format!(
            "performance_schema=ON\nperformance-schema-instrument='transaction=ON'\n\
             performance-schema-consumer-events-transactions-current=ON\ninit-file={d}/init.sql\n"
        ),
    );
    let _server = common::KillOnDrop(child);
    let poller = MysqlPoller::new(&Settings {
        tps_counter: Some(TpsCounter::PerformanceSchema),
        ..Settings::new(
            format!("127.0.0.1:{port}"),
            "monitor".to_owned(),
            Some(Secret::new("packed-probe-pw".to_owned())),
        )
    });
    let trx = |f: &[Family]| value(f, "headroom_mysql_transactions", &[]);
    // The first poll reads every variable on its own; the second is a steady one.
    for _ in 0..2 {
        let f = poller.poll().await.unwrap().families;
        assert!(trx(&f).is_some(), "no transaction count");
    }
    common::root_sql(
        dir.path(),
        &format!("REVOKE SELECT ON {table} FROM 'monitor'@'%'"),
    );
    let e = poller
        .poll()
        .await
        .expect_err("a steady poll without the counter's table");
    println!("the packed poll: {e}");
    assert!(
        e.to_string()
            .contains("events_transactions_summary_global_by_event_name"),
        "{e}"
    );
    for _ in 0..3 {
        let f = poller.poll().await.unwrap().families;
        assert_eq!(value(&f, "mysql_up", &[]), Some(1.0));
        assert!(
            value(&f, "mysql_global_variables_max_connections", &[]).is_some(),
            "no max_connections"
        );
        assert!(
            value(&f, "mysql_global_status_uptime", &[]).is_some(),
            "no status"
        );
    }
}

/// On a MariaDB with performance_schema ON (the services' one), the first poll of a
/// connection reads the whole `SHOW GLOBAL STATUS` and tries the split read (the
/// performance_schema table and `SHOW GLOBAL STATUS LIKE` for the `Com_` and `Slave_` rows it
/// leaves out); from the second poll on the split is what the server sees (one more `SELECT`
/// a poll, and one `SHOW STATUS`: the primary has no default replica connection, so the
/// `Slave_` rows read by the probe are kept), with the same series as the whole statement;
/// and with `tps_counter: questions` none of the poller's own statements is counted as a
/// transaction. Once the primary has a default replica connection its `Slave_` rows are read
/// at every poll, and kept again once it is gone. Its replica status, with no connection at
/// all, is read only until two polls of one `Com_change_master` count found it empty, and
/// again once the count moves. On the replica, whose performance_schema is OFF, the whole
/// statement stays, and its replica status is read at every poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::await_holding_lock,
    reason = "the guard is a turn at the shared MariaDB (its server-wide counters are read here) for the whole test"
)]
async fn status_is_read_split_with_the_same_series_and_own_statements_left_out() {
    let _mariadb = common::lock::mariadb_alone();
    let mut admin = admin().await;
    let poller = MysqlPoller::new(&Settings {
        tps_counter: Some(TpsCounter::Questions),
        ..settings()
    });
    let whole = poller.poll().await.unwrap().families;
    let (show0, select0, replica0) = show_and_select(&mut admin).await;
    let mut last = Vec::new();
    for _ in 0..5 {
        last = poller.poll().await.unwrap().families;
    }
    let (show1, select1, replica1) = show_and_select(&mut admin).await;
    // The second read counts itself in Com_show_status.
    let shows = show1 - show0 - 1.0;
    // A SELECT a poll reads the variables a check needs (SELECT @@GLOBAL...), one the table.
    let selects = select1 - select0;
    println!("5 polls: {shows} SHOW STATUS, {selects} SELECT");
    assert_eq!(shows, 5.0, "one SHOW STATUS a poll");
    assert_eq!(selects, 10.0, "two SELECTs a poll");
    // The primary has no replica connection at all: its replica status is read at the
    // second poll (which confirms it against the first's Com_change_master), then not.
    assert_eq!(replica1 - replica0, 1.0, "the replica status read once");
    let (whole, split) = (status_series(&whole), status_series(&last));
    println!("{} status series, whole and split", whole.len());
    assert!(whole.len() > 400, "{}", whole.len());
    assert_eq!(split, whole);
    assert!(
        split
            .iter()
            .any(|s| s.starts_with("mysql_global_status_commands[") && s.contains("\"select\"")),
        "no Com_select in the split read"
    );
    assert!(
        split
            .iter()
            .any(|s| s.starts_with("mysql_global_status_slave_running[")),
        "no Slave_running in the split read"
    );
    // The values too: every `Com_` counter, zeros included, as a whole read right after the
    // last poll has it, but for the two that the polls and that read move.
    let com: Vec<(String, f64)> = admin
        .query("SHOW GLOBAL STATUS LIKE 'Com\\_%'")
        .await
        .unwrap();
    let zeros = com.iter().filter(|(_, v)| *v == 0.0).count();
    println!("{} Com_ counters, {zeros} of them 0", com.len());
    assert!(com.len() > 100 && zeros > 0 && zeros < com.len());
    for (name, v) in &com {
        let command = name["Com_".len()..].to_ascii_lowercase();
        if command == "select" || command == "show_status" {
            continue;
        }
        let got = value(
            &last,
            "mysql_global_status_commands",
            &[("command", &command)],
        );
        assert_eq!(got, Some(*v), "{name}");
    }

    // Seven statements of another client between polls: exactly seven transactions, none
    // of the poller's own (a count short of seven would be its statements taken twice).
    let total = |f: &[Family]| value(f, "headroom_mysql_transactions", &[]).unwrap();
    let start = total(&poller.poll().await.unwrap().families);
    for i in 0..7 {
        admin.query_drop(format!("DO {i}")).await.unwrap();
    }
    let mut end = start;
    for _ in 0..3 {
        end = total(&poller.poll().await.unwrap().families);
    }
    assert_eq!(end - start, 7.0, "the workload's statements, and only them");

    // A default replica connection on the primary, never started (nothing listens on port
    // 9), with a heartbeat period of its own: the next poll reads the Slave_ rows, which show
    // it, and so does every poll while it is there; once it is gone they are kept again, and
    // read again after a connection made and removed between two polls (a server that never
    // had one reads 0 as its Slave_heartbeat_period; MariaDB 10.11 reads 30 once one was made
    // and removed). At each poll the heartbeat period is the server's own.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            common::replica::sql(&common::replica::primary(), "RESET SLAVE ALL");
        }
    }
    let period = |f: &[Family]| value(f, "mysql_global_status_slave_heartbeat_period", &[]);
    async fn server_period(admin: &mut mysql_async::Conn) -> Option<f64> {
        let row: Option<(String, f64)> = admin
            .query_first("SHOW GLOBAL STATUS LIKE 'Slave\\_heartbeat\\_period'")
            .await
            .unwrap();
        row.map(|(_, v)| v)
    }
    let change = |p: u32| {
        format!(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=9, MASTER_USER='nobody', \
             MASTER_HEARTBEAT_PERIOD={p}"
        )
    };
    let polled = poller.poll().await.unwrap().families;
    assert_eq!(period(&polled), server_period(&mut admin).await);
    admin.query_drop(change(7)).await.unwrap();
    let reset = Reset;
    let (show0, _, replica0) = show_and_select(&mut admin).await;
    for _ in 0..3 {
        let f = poller.poll().await.unwrap().families;
        assert_eq!(
            period(&f),
            Some(7.0),
            "the new connection's heartbeat period"
        );
        let port = value(
            &f,
            "mysql_slave_status_master_port",
            &[("connection_name", ""), ("master_host", "127.0.0.1")],
        );
        assert_eq!(port, Some(9.0));
    }
    let (show1, _, replica1) = show_and_select(&mut admin).await;
    assert_eq!(show1 - show0 - 1.0, 6.0, "two SHOW STATUS a poll");
    assert_eq!(
        replica1 - replica0,
        3.0,
        "the replica status read at each poll: the first after the CHANGE MASTER's count"
    );
    drop(reset);
    let gone = server_period(&mut admin).await;
    let (show0, _, replica0) = show_and_select(&mut admin).await;
    for _ in 0..3 {
        let f = poller.poll().await.unwrap().families;
        assert_eq!(period(&f), gone, "no default connection");
    }
    let (show1, _, replica1) = show_and_select(&mut admin).await;
    assert_eq!(
        show1 - show0 - 1.0,
        4.0,
        "two SHOW STATUS at the first poll after the reset, then one a poll"
    );
    assert_eq!(
        replica1 - replica0,
        2.0,
        "the replica status read until two polls of one count found it empty"
    );
    // Made and removed between two polls, with a period of its own.
    admin.query_drop(change(11)).await.unwrap();
    drop(Reset);
    let after = server_period(&mut admin).await;
    let (show0, _, replica0) = show_and_select(&mut admin).await;
    for _ in 0..2 {
        let f = poller.poll().await.unwrap().families;
        assert_eq!(
            period(&f),
            after,
            "the server's heartbeat period after {gone:?}"
        );
    }
    let (show1, _, replica1) = show_and_select(&mut admin).await;
    assert_eq!(show1 - show0 - 1.0, 3.0, "the Slave_ rows read once more");
    assert_eq!(
        replica1 - replica0,
        1.0,
        "the replica status read once more, after the status read"
    );
    poller.close().await;

    // The replica runs with performance_schema OFF: its table is empty, and the poller keeps
    // the whole SHOW GLOBAL STATUS, one a poll, after the first poll's try.
    let replica = env("HEADROOM_TEST_MYSQL_REPLICA");
    let mut on_replica = conn_at(
        &replica,
        &env("HEADROOM_TEST_MYSQL_ADMIN_USER"),
        &env("HEADROOM_TEST_MYSQL_ADMIN_PASSWORD"),
    )
    .await;
    let poller = MysqlPoller::new(&Settings::new(
        replica.clone(),
        env("HEADROOM_TEST_MYSQL_USER"),
        Some(Secret::new(env("HEADROOM_TEST_MYSQL_PASSWORD"))),
    ));
    let whole = poller.poll().await.unwrap().families;
    let (show0, _, replica0) = show_and_select(&mut on_replica).await;
    for _ in 0..5 {
        last = poller.poll().await.unwrap().families;
    }
    let (show1, _, replica1) = show_and_select(&mut on_replica).await;
    assert_eq!(
        show1 - show0 - 1.0,
        5.0,
        "one SHOW STATUS a poll on the replica"
    );
    assert_eq!(
        replica1 - replica0,
        5.0,
        "a replica's status read at every poll"
    );
    assert_eq!(status_series(&last), status_series(&whole));
    poller.close().await;
}

/// `processlist: true` counts the server's threads by command and state as mysqld_exporter
/// does: a client in `SELECT SLEEP()` is `query`/`user_sleep` (MariaDB's state for it is
/// "User sleep"), by user and client host, and the poller's own connection is left out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::await_holding_lock,
    reason = "the guard is a turn at the shared MariaDB for the whole test"
)]
async fn processlist_threads_by_command_and_state() {
    let _mariadb = common::lock::mariadb_shared();
    let mut sleeper = common::load_conn().await;
    let sleeping = tokio::spawn(async move {
        let _: Option<i64> = sleeper.query_first("SELECT SLEEP(3)").await.unwrap();
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let poller = MysqlPoller::new(&Settings {
        processlist: true,
        ..settings()
    });
    let f = poller.poll().await.unwrap().families;
    let threads = |c, s| {
        value(
            &f,
            "mysql_info_schema_processlist_threads",
            &[("command", c), ("state", s)],
        )
    };
    assert!(
        threads("query", "user_sleep").unwrap_or(0.0) >= 1.0,
        "{f:?}"
    );
    // The poller's own connection runs the statement: it is not counted (no other client
    // of this test is in `Query` with the processlist's state).
    assert_eq!(
        threads("query", "filling_schema_table")
            .or(threads("query", "executing"))
            .unwrap_or(0.0),
        0.0
    );
    assert!(
        value(
            &f,
            "mysql_info_schema_processlist_seconds",
            &[("command", "query"), ("state", "user_sleep")]
        )
        .is_some()
    );
    // The sleeping client is the load user's, from 127.0.0.1.
    assert!(
        value(
            &f,
            "mysql_info_schema_processlist_processes_by_user",
            &[("mysql_user", &env("HEADROOM_TEST_LOAD_USER"))]
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    assert!(
        value(
            &f,
            "mysql_info_schema_processlist_processes_by_host",
            &[("client_host", "127.0.0.1")]
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    // Off by default, as mysqld_exporter's collector.
    let off = MysqlPoller::new(&settings()).poll().await.unwrap().families;
    assert!(
        off.iter()
            .all(|f| !f.name.starts_with("mysql_info_schema_processlist"))
    );
    sleeping.await.unwrap();
    poller.close().await;
}

/// Nagios perfdata: `'label'=value[UOM];warn;crit;min;max` (Nagios Plugin Development
/// Guidelines, "Performance data").
fn perfdata(out: &str) -> Vec<(String, Vec<String>)> {
    let (_, perf) = out.split_once('|').unwrap_or_else(|| panic!("{out}"));
    perf.split_whitespace()
        .map(|item| {
            let (label, rest) = item.rsplit_once('=').unwrap();
            (
                label.trim_matches('\'').to_owned(),
                rest.split(';').map(str::to_owned).collect(),
            )
        })
        .collect()
}

/// `headroom check mysql` against the live server as Nagios runs it: OK with perfdata, each
/// threshold firing with its exit code, CRITICAL for a wrong password, CRITICAL or UNKNOWN for
/// a closed port, and the password never in the output.
#[test]
fn check_mysql_exit_codes_and_perfdata() {
    let _mariadb = common::lock::mariadb_shared();
    let addr = env("HEADROOM_TEST_MYSQL");
    let user = env("HEADROOM_TEST_MYSQL_USER");
    let password = env("HEADROOM_TEST_MYSQL_PASSWORD");
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{password}\n")).unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let check = |host: &str, pwfile: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "check",
            "mysql",
            "-H",
            host,
            "-u",
            &user,
            "--password-file",
            pwfile.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = headroom(&args);
        assert!(
            !out.contains(&password) && !err.contains(&password),
            "password printed"
        );
        println!("{args:?} -> {code}: {out}");
        (code, out, err)
    };

    // Connections in use, % of max_connections: a handful of 151.
    let (code, out, err) = check(&addr, &pw, &["-w", "80", "-c", "90"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("OK"), "{out}");
    assert_eq!(out.trim_end().lines().count(), 1, "one status line: {out}");
    let perf = perfdata(&out);
    assert!(!perf.is_empty(), "{out}");
    for (label, fields) in &perf {
        assert!(!label.is_empty());
        let v = &fields[0];
        let num: String = v
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
            .collect();
        let pct: f64 = num.parse().unwrap_or_else(|_| panic!("{label}={v}"));
        assert!(
            ["", "%", "s", "c"].contains(&&v[num.len()..]),
            "UOM of {label}={v}"
        );
        assert!(
            (0.0..=100.0).contains(&pct),
            "{label}={v} is not a percentage"
        );
        assert_eq!(fields.get(1).map(String::as_str), Some("80"), "{out}");
        assert_eq!(fields.get(2).map(String::as_str), Some("90"), "{out}");
    }

    // Thresholds that fire: any connection at all is outside 0..0.
    let (code, out, _) = check(&addr, &pw, &["-w", "0", "-c", "90"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("WARNING"), "{out}");
    let (code, out, _) = check(&addr, &pw, &["-w", "0", "-c", "0"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("CRITICAL"), "{out}");
    // Threads running: the server is up, so a threshold of @0:1000 (alert inside) fires.
    let (code, out, _) = check(
        &addr,
        &pw,
        &["--metric", "threads-running", "-w", "@0:1000", "-c", "5000"],
    );
    assert_eq!(code, 1, "{out}");

    // A wrong password: the server refuses the login. CRITICAL (a failed poll is
    // `unreachable: critical`, docs/checks.md), and says why.
    let (code, out, _) = check(&addr, &wrong, &["-w", "80", "-c", "90"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("CRITICAL"), "{out}");
    assert!(
        out.contains("auth") || out.contains("Access denied"),
        "{out}"
    );
    assert_eq!(out.trim_end().lines().count(), 1, "one status line: {out}");

    // A closed port: nothing listens.
    let closed = format!("127.0.0.1:{}", free_port());
    let (code, out, _) = check(&closed, &pw, &["-w", "80", "-c", "90"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("connect"), "{out}");

    // A port that accepts the connection and never says a word: UNKNOWN, a timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap().to_string();
    let (code, out, _) = check(&silent_addr, &pw, &["-w", "80", "-c", "90", "-t", "1"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.starts_with("UNKNOWN"), "{out}");
    drop(silent);

    // A usage error (the password's variable is not set): UNKNOWN.
    let (code, out, err) = headroom(&[
        "check",
        "mysql",
        "-H",
        &addr,
        "-u",
        &user,
        "--password-env",
        "HEADROOM_TEST_NO_SUCH_VARIABLE",
    ]);
    assert_eq!(code, 3, "{out}{err}");
}
