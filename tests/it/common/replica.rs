//! The services' MariaDB pair: the primary and the replica scripts/services starts beside it
//! (GTID), statements run on either as the services' admin user, and pt-heartbeat keeping
//! its table up to date on the primary.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{env, wait_for};

/// Runs statements on `addr` as the services' admin user with the `mariadb` client; the rows,
/// tab-separated, or the client's error.
pub fn try_sql(addr: &str, statements: &str) -> Result<String, String> {
    client(addr, &["-N", "-B", "-e", statements])
}

/// Runs the `mariadb` client with `args` on `addr` as the admin user.
pub fn client(addr: &str, args: &[&str]) -> Result<String, String> {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let out = Command::new("mariadb")
        .args(["-h", host, "-P", port, "-u"])
        .arg(env("HEADROOM_TEST_MYSQL_ADMIN_USER"))
        .args(args)
        .env("MYSQL_PWD", env("HEADROOM_TEST_MYSQL_ADMIN_PASSWORD"))
        .output()
        .map_err(|e| format!("mariadb client: {e} (run scripts/setup)"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// [`try_sql`], panicking on an error.
pub fn sql(addr: &str, statements: &str) -> String {
    try_sql(addr, statements).unwrap_or_else(|e| panic!("{statements}: {e}"))
}

/// The primary, `host:port`.
pub fn primary() -> String {
    env("HEADROOM_TEST_MYSQL")
}

/// The replica, `host:port`.
pub fn replica() -> String {
    env("HEADROOM_TEST_MYSQL_REPLICA")
}

/// `Slave_IO_Running` and `Slave_SQL_Running` of the replica's default connection.
pub fn threads() -> Result<(String, String), String> {
    let status = client(&replica(), &["-E", "-e", "SHOW SLAVE STATUS"])?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
            .unwrap_or_default()
            .to_owned()
    };
    Ok((field("Slave_IO_Running"), field("Slave_SQL_Running")))
}

/// `pt-heartbeat --update` against the primary, as a child killed on drop: a row in
/// percona.heartbeat (pt-heartbeat's own table, created by `--create-table`) whose `ts` it
/// sets to the time in UTC twice a second.
pub struct PtHeartbeat(Child);

impl PtHeartbeat {
    pub fn start() -> PtHeartbeat {
        sql(&primary(), "CREATE DATABASE IF NOT EXISTS percona");
        let (host, port) = env("HEADROOM_TEST_MYSQL")
            .rsplit_once(':')
            .map(|(h, p)| (h.to_owned(), p.to_owned()))
            .unwrap();
        let child = Command::new("pt-heartbeat")
            .args([
                "--update",
                "--utc",
                "--create-table",
                "--database",
                "percona",
                "--table",
                "heartbeat",
                "--interval",
                "0.5",
            ])
            .arg(format!(
                "h={host},P={port},u={}",
                env("HEADROOM_TEST_MYSQL_ADMIN_USER")
            ))
            // DBD::mysql's client library reads the password from MYSQL_PWD.
            .env("MYSQL_PWD", env("HEADROOM_TEST_MYSQL_ADMIN_PASSWORD"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("pt-heartbeat not installed: run scripts/setup (percona-toolkit)");
        let mut hb = PtHeartbeat(child);
        wait_for(
            "pt-heartbeat's row on the replica",
            Duration::from_secs(20),
            || {
                if let Ok(Some(status)) = hb.0.try_wait() {
                    let mut err = String::new();
                    if let Some(mut e) = hb.0.stderr.take() {
                        let _ = std::io::Read::read_to_string(&mut e, &mut err);
                    }
                    panic!("pt-heartbeat exited ({status}): {err}");
                }
                try_sql(
                    &replica(),
                    "SELECT ts FROM percona.heartbeat WHERE server_id = 1",
                )
                .ok()
                .filter(|ts| !ts.is_empty())
            },
        );
        hb
    }
}

impl Drop for PtHeartbeat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
