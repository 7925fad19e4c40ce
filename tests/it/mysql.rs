//! The MySQL source against the real MariaDB that scripts/services starts.

use crate::common;

use std::time::{Duration, Instant};

use common::{env, load_conn};
use headroom::config::Secret;
use headroom::model::find_value as value;
use headroom::model::{ErrorKind, Poller};
use headroom::sources::mysql::{MysqlPoller, Settings, TpsCounter};
use mysql_async::prelude::Queryable;

fn settings(password: &str, counter: Option<TpsCounter>) -> Settings {
    Settings {
        tps_counter: counter,
        ..Settings::new(
            env("HEADROOM_TEST_MYSQL"),
            env("HEADROOM_TEST_MYSQL_USER"),
            Some(Secret::new(password.to_owned())),
        )
    }
}

/// Commits `explicit` BEGIN..COMMIT transactions and `autocommit` single statements, and
/// returns how many transactions that is.
async fn generate_load(
    conn: &mut mysql_async::Conn,
    table: &str,
    explicit: usize,
    autocommit: usize,
) -> usize {
    for i in 0..explicit {
        conn.query_drop("BEGIN").await.unwrap();
        conn.query_drop(format!("INSERT INTO {table} (v) VALUES ({i})"))
            .await
            .unwrap();
        conn.query_drop(format!(
            "UPDATE {table} SET v = v + 1 WHERE id = LAST_INSERT_ID()"
        ))
        .await
        .unwrap();
        conn.query_drop("COMMIT").await.unwrap();
    }
    for i in 0..autocommit {
        match i % 3 {
            0 => conn
                .query_drop(format!("INSERT INTO {table} (v) VALUES ({i})"))
                .await
                .unwrap(),
            1 => conn
                .query_drop(format!(
                    "UPDATE {table} SET v = v + 1 WHERE id = {}",
                    i / 3 + 1
                ))
                .await
                .unwrap(),
            _ => {
                let _: Option<i64> = conn
                    .query_first(format!("SELECT v FROM {table} WHERE id = {}", i / 3 + 1))
                    .await
                    .unwrap();
            }
        }
    }
    explicit + autocommit
}

/// TPS over one window must match what the test committed within 5% (of the span the window
/// can have, between the two polls and around them), for every counter that
/// counts autocommit statements; `com_commit` shows the trap it is documented to have.
/// One test function, and the server to itself, so that no other test's load runs in the
/// same window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::await_holding_lock,
    reason = "the guard is a turn at the shared MariaDB for the whole test; the test's own runtime runs nothing else that takes it"
)]
async fn tps_counts_explicit_and_autocommit_transactions() {
    let _mariadb = common::lock::mariadb_alone();
    let mut conn = load_conn().await;
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS tps (id INT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB",
    )
    .await
    .unwrap();
    let password = env("HEADROOM_TEST_MYSQL_PASSWORD");
    for (counter, expect_label) in [
        (Some(TpsCounter::PerformanceSchema), "performance_schema"),
        (Some(TpsCounter::InnodbMetrics), "innodb_metrics"),
        (None, "performance_schema"), // auto-detected: P_S is enabled on the test server
        (Some(TpsCounter::ComCommit), "com_commit"),
    ] {
        let poller = MysqlPoller::new(&settings(&password, counter));
        let t0 = Instant::now();
        let first = poller.poll().await.unwrap().families;
        let t1 = Instant::now();
        let total_before = value(&first, "headroom_mysql_transactions", &[]).unwrap();
        let (explicit, autocommit) = (150, 600);
        let committed = generate_load(&mut conn, "tps", explicit, autocommit).await;
        // Stretch the window so poll latency is a negligible part of it.
        tokio::time::sleep(Duration::from_millis(1500).saturating_sub(t1.elapsed())).await;
        let t2 = Instant::now();
        let second = poller.poll().await.unwrap().families;
        let t3 = Instant::now();
        // The poller's window runs from its status read in the first poll to the one in the
        // second: no shorter than between the two polls, no longer than from the start of
        // the first to the end of the second. On a loaded machine a poll can take a tenth
        // of the window, so the rates are held to that span, not to one guess inside it.
        let shortest = t2.duration_since(t1).as_secs_f64();
        let longest = t3.duration_since(t0).as_secs_f64();

        assert_eq!(
            value(
                &second,
                "headroom_mysql_tps_source",
                &[("counter", expect_label)]
            ),
            Some(1.0),
            "counter {counter:?}"
        );
        let tps = value(&second, "headroom_mysql_transactions_per_second", &[]).unwrap();
        let counted = value(&second, "headroom_mysql_transactions", &[]).unwrap() - total_before;
        if counter == Some(TpsCounter::ComCommit) {
            // Only the explicit COMMITs: Com_commit counts COMMIT statements, not autocommit
            // ones (docs/capacity.md#transactions-per-second).
            assert_eq!(counted, explicit as f64);
            continue;
        }
        let (low, high) = (committed as f64 / longest, committed as f64 / shortest);
        println!(
            "{expect_label}: committed {committed}, counted {counted}, tps {tps:.1} vs {low:.1} to {high:.1}"
        );
        assert!(
            tps >= low * 0.95 && tps <= high * 1.05,
            "{counter:?}: tps {tps} vs expected {low} to {high}, within 5%"
        );
        assert!(
            (counted - committed as f64).abs() <= committed as f64 * 0.05,
            "counted {counted} vs committed {committed}"
        );
        // The read/write mix of the same window: every third autocommit statement is a SELECT.
        let reads = value(
            &second,
            "headroom_mysql_statements_per_second",
            &[("kind", "read")],
        )
        .unwrap();
        let want = (autocommit / 3) as f64;
        assert!(
            reads * longest >= want * 0.95 && reads * shortest <= want * 1.05,
            "reads {reads}/s over {shortest} to {longest} s against {want}"
        );
    }
}

#[tokio::test]
#[allow(
    clippy::await_holding_lock,
    reason = "the guard is a turn at the shared MariaDB for the whole test; the test's own runtime runs nothing else that takes it"
)]
async fn exports_status_variables_and_derived_series() {
    let _mariadb = common::lock::mariadb_shared();
    let poller = MysqlPoller::new(&settings(&env("HEADROOM_TEST_MYSQL_PASSWORD"), None));
    let f = poller.poll().await.unwrap().families;
    assert_eq!(value(&f, "mysql_up", &[]), Some(1.0));
    assert!(value(&f, "mysql_global_status_uptime", &[]).unwrap() > 0.0);
    assert!(value(&f, "mysql_global_status_commands", &[("command", "select")]).is_some());
    // scripts/services sets max_connections=200.
    assert_eq!(
        value(&f, "mysql_global_variables_max_connections", &[]),
        Some(200.0)
    );
    assert!(value(&f, "mysql_version_info", &[]).is_some());
    let used = value(
        &f,
        "headroom_mysql_connections_used_ratio",
        &[("threads", "connected")],
    )
    .unwrap();
    assert!(used > 0.0 && used < 1.0, "{used}");
    assert!(
        value(
            &f,
            "headroom_mysql_buffer_pool_hit_ratio",
            &[("window", "since_start")]
        )
        .is_some()
    );
    // Not a replica: no lag series.
    assert_eq!(value(&f, "headroom_mysql_replica_lag_seconds", &[]), None);
}

#[tokio::test]
#[allow(
    clippy::await_holding_lock,
    reason = "the guard is a turn at the shared MariaDB for the whole test; the test's own runtime runs nothing else that takes it"
)]
async fn wrong_password_is_an_auth_error_without_the_password() {
    let _mariadb = common::lock::mariadb_shared();
    let secret = "Wr0ng-Pa55word-for-headroom";
    let poller = MysqlPoller::new(&settings(secret, None));
    let err = poller.poll().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Auth, "{err}");
    // The server's words as the mysql client prints them, and what else 1045 can mean on a
    // plain connection (the default ssl_mode, DISABLED).
    let addr = env("HEADROOM_TEST_MYSQL");
    assert!(
        err.message.starts_with(&format!(
            "{addr}: ERROR 1045 (28000): Access denied for user '{}'",
            env("HEADROOM_TEST_MYSQL_USER")
        )) && err
            .message
            .ends_with("or a user created REQUIRE SSL or X509: see ssl_mode)"),
        "{err}"
    );
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(!format!("{poller:?}").contains(secret));
}

#[tokio::test]
async fn nothing_listening_is_a_connect_error() {
    let mut s = settings("x", None);
    s.address = format!("127.0.0.1:{}", common::free_port());
    let err = MysqlPoller::new(&s).poll().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect, "{err}");
    // The operating system's words, once, without the driver's wrappers.
    assert_eq!(
        err.message,
        format!("{}: Connection refused (os error 111)", s.address)
    );
}
