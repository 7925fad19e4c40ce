//! Secrets never leave headroom: the daemon and every command run with every kind of secret
//! set (MySQL and migration passwords, HTTP basic auth and a bearer token, the Icinga 2 API
//! password, the AWS secret key), right and wrong, at debug level; then the logs, /metrics,
//! /status, the JSON APIs, every command's output and error output are searched for each
//! secret. Zero hits.

use std::time::Duration;

use crate::common::{self, Daemon, env, free_port, wait_for};

#[test]
fn no_secret_in_logs_metrics_pages_apis_or_command_output() {
    // Its daemon and commands send statements of their own to the MariaDB: not beside a test
    // that counts the server's statements.
    let _mariadb = common::lock::mariadb_shared();
    let mysql = env("HEADROOM_TEST_MYSQL");
    let user = env("HEADROOM_TEST_MYSQL_USER");
    let mysql_pw = env("HEADROOM_TEST_MYSQL_PASSWORD");
    let dav = env("HEADROOM_TEST_WEBDAV_HTTP");
    let dav_user = env("HEADROOM_TEST_WEBDAV_USER");
    let dav_pw = env("HEADROOM_TEST_WEBDAV_PASSWORD");
    let moto = env("HEADROOM_TEST_AWS_ENDPOINT");
    // Secrets of the test's own, each unlike anything else headroom prints.
    let wrong_pw = "wrong-Pw-7d1e0c9b";
    let token = "tok-3f9a1c5e8b2d";
    let icinga_pw = "icinga-Pw-b41d2e77";
    let aws_secret = "awsSecret-0c6f2a9e1d";
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), format!("{token}\n")).unwrap();
    let envs = [
        ("HR_MYSQL_PW", mysql_pw.as_str()),
        ("HR_WRONG_PW", wrong_pw),
        ("HR_DAV_PW", dav_pw.as_str()),
        ("HR_ICINGA_PW", icinga_pw),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", aws_secret),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("RUST_LOG", "debug"),
    ];
    let refused = free_port();
    let config = format!(
        "defaults: {{interval: 1s, timeout: 2s}}\n\
         mysql:\n\
         \x20 - {{name: db, address: {mysql}, user: {user}, password_env: HR_MYSQL_PW}}\n\
         \x20 - {{name: db-wrong, address: {mysql}, user: {user}, password_env: HR_WRONG_PW}}\n\
         http:\n\
         \x20 - {{name: dav-auth, url: \"{dav}/private/\", method: PROPFIND, user: {dav_user}, password_env: HR_DAV_PW}}\n\
         \x20 - {{name: dav-wrong, url: \"{dav}/private/\", method: PROPFIND, user: {dav_user}, password_env: HR_WRONG_PW}}\n\
         \x20 - {{name: dav-token, url: \"{dav}/status500\", token_file: {tf}}}\n\
         migration:\n\
         \x20 - name: copy\n\
         \x20   sql: {{address: {mysql}, user: {user}, password_env: HR_WRONG_PW, database: nope, query: 'SELECT 1 AS t, 1 AS c', columns: {{files_total: t, files_copied: c, bytes_total: t, bytes_copied: c}}}}\n\
         rds:\n\
         \x20 - {{name: rds-us, region: us-west-2, endpoint_url: '{moto}'}}\n\
         \x20 - {{name: rds-down, region: us-west-2, endpoint_url: 'http://127.0.0.1:{refused}'}}\n\
         push:\n\
         \x20 icinga2: {{url: 'https://127.0.0.1:{refused}', user: headroom, password_env: HR_ICINGA_PW}}\n",
        tf = token_file.path().display(),
    );
    let d = Daemon::start(free_port(), &config, &envs);
    // Every target polled, the failing ones failed, the checks evaluated and pushes tried.
    wait_for(
        "every target to have been polled",
        Duration::from_secs(30),
        || d.get("/-/ready").filter(|(s, _)| *s == 200),
    );
    wait_for(
        "the wrong password to be reported",
        Duration::from_secs(30),
        || {
            d.get("/api/checks")
                .filter(|(_, b)| b.contains("Access denied") && b.contains("401"))
        },
    );
    std::thread::sleep(Duration::from_secs(2));

    let mut seen: Vec<(String, String)> =
        vec![("log".into(), d.log()), ("/metrics".into(), d.metrics())];
    for path in [
        "/",
        "/status",
        "/api/checks",
        "/dday",
        "/api/dday",
        "/status?state=problems",
    ] {
        seen.push((path.into(), d.get(path).map(|(_, b)| b).unwrap_or_default()));
    }
    // The commands, with the same environment, their stdout and stderr.
    let cfg = d.config_path();
    let cfg = cfg.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["config", "check", cfg],
        vec!["config", "plan", cfg],
        vec![
            "check",
            "MYSQL_CONNECTIONS",
            "--config",
            cfg,
            "--host",
            "db-wrong",
        ],
        vec![
            "check",
            "MYSQL_CONNECTIONS",
            "--config",
            cfg,
            "--host",
            "db",
        ],
        vec![
            "check",
            "mysql",
            "-H",
            &mysql,
            "-u",
            &user,
            "--password-env",
            "HR_WRONG_PW",
            "--metric",
            "connections",
            "-w",
            "80",
            "-c",
            "90",
        ],
        vec![
            "check",
            "mysql",
            "-H",
            &mysql,
            "-u",
            &user,
            "--password-env",
            "HR_MYSQL_PW",
            "--metric",
            "connections",
            "-w",
            "80",
            "-c",
            "90",
        ],
        vec![
            "capacity", "report", "--config", cfg, "--db", "db", "--format", "json",
        ],
        vec!["dday", "--config", cfg],
    ];
    for args in &commands {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_headroom"))
            .args(args)
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        seen.push((
            format!("headroom {}", args.join(" ")),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ));
    }
    // The search means something: the debug log and the pages did say what failed.
    let log = &seen[0].1;
    assert!(log.contains("DEBUG"), "debug logging is on");
    assert!(
        log.contains("db-wrong") && log.contains("rds-down"),
        "{log}"
    );
    let checks = &seen.iter().find(|(w, _)| w == "/api/checks").unwrap().1;
    assert!(checks.contains("status 401"), "{checks}");
    for secret in [
        mysql_pw.as_str(),
        wrong_pw,
        dav_pw.as_str(),
        token,
        icinga_pw,
        aws_secret,
    ] {
        for (where_, text) in &seen {
            assert!(
                !text.contains(secret),
                "a secret ({} characters) appears in {where_}",
                secret.len()
            );
        }
    }
    // Basic auth's base64 form of the WebDAV credentials, too.
    let basic = common::base64(format!("{dav_user}:{dav_pw}").as_bytes());
    for (where_, text) in &seen {
        assert!(
            !text.contains(&basic),
            "basic-auth credentials appear in {where_}"
        );
    }
}

/// A command that polls one target, or none, runs without the secrets of the others: Nagios
/// runs `headroom check` with an environment of its own, where another database's password
/// variable is not set. The secret a check does need makes it UNKNOWN with the field, the
/// variable and where the file names it; `config check` still requires every secret.
#[test]
fn commands_need_only_the_secrets_of_what_they_poll() {
    // Statements to the MariaDB, and MEMCACHE_RESPONSE must be OK (warns at 0.1 s).
    let _quiet = common::lock::no_load();
    let mysql = env("HEADROOM_TEST_MYSQL");
    let user = env("HEADROOM_TEST_MYSQL_USER");
    let memcached = env("HEADROOM_TEST_MEMCACHED");
    let unset = "HR_UNSET_PW_5C1E";
    assert!(std::env::var_os(unset).is_none());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("headroom.yaml");
    let db = format!("  - {{name: db, address: {mysql}, user: {user}, password_env: {unset}}}");
    std::fs::write(
        &cfg,
        format!("memcached:\n  - {{name: cache, address: {memcached}}}\nmysql:\n{db}\n"),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    // Where the variable's name is: line 4, its column.
    let col = db.find(unset).unwrap() + 1;
    let why =
        format!("{cfg}:4:{col}: mysql[0].password_env: environment variable {unset} is not set");

    // The memcached check polls the real memcached and judges it.
    let (code, out, err) = common::headroom(&["check", "MEMCACHE_RESPONSE", "--config", cfg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("OK: stats answered in "), "{out}");

    // The MySQL check cannot log in without its password: UNKNOWN, and why.
    let check_db = format!("check MYSQL_CONNECTIONS --config {cfg} --host db");
    let (code, out, err) = common::headroom(&check_db.split(' ').collect::<Vec<_>>());
    assert_eq!(code, 3, "{out}{err}");
    assert!(out.starts_with("UNKNOWN: "), "{out}");
    assert!(out.contains(&why), "{out}");

    // A plan and a capacity report connect to nothing.
    let (code, out, err) = common::headroom(&["config", "plan", cfg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("nothing is read from CloudWatch"), "{out}");
    let (_, out, err) = common::headroom(&["capacity", "report", "--config", cfg, "--db", "db"]);
    assert!(!format!("{out}{err}").contains(unset), "{out}{err}");

    // `config check` validates the whole file, every secret included.
    let (code, out, err) = common::headroom(&["config", "check", cfg]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err.trim(), why);
}
