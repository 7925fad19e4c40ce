//! Helpers shared by the integration tests. The services themselves are real and started by
//! `scripts/services` (through `scripts/test`), which exports `HEADROOM_TEST_*`; a test that
//! needs a private instance (to stop it, say) starts its own real process here.

pub mod certs;
pub mod copier;
pub mod knot;
pub mod lock;
pub mod moto;
pub mod nagios;
pub mod prom;
pub mod replica;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `HEADROOM_TEST_*` variable. Missing means the services are not running: fail loudly
/// rather than pass without testing anything.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the integration tests through scripts/test, which starts the real services and exports HEADROOM_TEST_*")
    })
}

/// A port nobody listens on right now (TCP or UDP), for a server a test starts later.
///
/// Not one the kernel picks for `bind(0)`: those come from the ephemeral range (32768 to 60999
/// by default, `/proc/sys/net/ipv4/ip_local_port_range` in Linux's ip-sysctl documentation),
/// where any outgoing connection of the test run may take it as its source port before the
/// server binds it. These come from 20000 to 31999, which no outgoing connection uses, one
/// after another from a counter, so that no two tests of this process are given the same port,
/// even one a test keeps without ever binding (a "dead" address). A run of the tests beside
/// another starts elsewhere in the range (by process id).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id() % 60 * 200;
    for _ in 0..SPAN {
        let port = (FIRST + (start + NEXT.fetch_add(1, Ordering::Relaxed)) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        {
            return port;
        }
    }
    panic!(
        "no free port on 127.0.0.1 between {FIRST} and {}",
        FIRST + SPAN - 1
    )
}

/// Waits until `child`, a server of the test's own, serves: `up` returns true. Err with its
/// exit status when it exits first (most likely its port, free when [`free_port`] gave it,
/// was taken in the meantime: worth another port), Err(None) when it still runs and does not
/// serve after `limit`. `up` should tell this server from another process on its port: the
/// port being taken does not stop a connection to it from succeeding.
pub fn wait_up(
    child: &mut Child,
    limit: Duration,
    mut up: impl FnMut() -> bool,
) -> Result<(), Option<std::process::ExitStatus>> {
    let end = Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Some(status));
        }
        if up() {
            return Ok(());
        }
        if Instant::now() > end {
            return Err(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether process `pid` itself listens on TCP `port` of 127.0.0.1: one of its descriptors is
/// the listening socket `/proc/net/tcp` has for the port (Linux's proc(5)). Tells a server of
/// the tests' own from another process that took its port.
pub fn listens(pid: u32, port: u16) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    let inodes: Vec<String> = fds
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            let l = l.to_str()?;
            Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table.lines().skip(1).any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        // sl, local_address, rem_address, st (0A: LISTEN), ..., inode (the tenth field)
        f.len() > 9 && f[1] == local && f[3] == "0A" && inodes.iter().any(|i| i == f[9])
    })
}

/// The last ten lines of a server's log, for a panic that says why it did not come up.
pub fn log_tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(10).collect();
    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
}

/// Why a server of the tests' own did not come up: one that exited (most likely its port was
/// taken in the meantime) is worth another port; one that runs and does not serve is not.
#[derive(Debug)]
pub enum Failed {
    Exited(String),
    Hung(String),
}

impl Failed {
    /// From what [`wait_up`] failed with: `what` names the server, `limit` is how long it was
    /// waited for, `log` the end of its log.
    pub fn of(
        what: &str,
        e: Option<std::process::ExitStatus>,
        limit: Duration,
        log: &str,
    ) -> Failed {
        let log = if log.is_empty() {
            String::new()
        } else {
            format!("; its log ends:\n{log}")
        };
        match e {
            Some(status) => Failed::Exited(format!("{what} exited ({status}){log}")),
            None => Failed::Hung(format!("{what} not serving after {limit:?}{log}")),
        }
    }
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failed::Exited(why) | Failed::Hung(why) => f.write_str(why),
        }
    }
}

/// Holds a free port with a listener that takes connections and never answers (as a port
/// taken between [`free_port`] and a server's bind would be), checks that `start_on` reports
/// the server it starts there as exited rather than take the listener for it, then frees the
/// port and returns what `start_on` starts there now.
pub fn start_after_the_port_was_taken<T>(
    what: &str,
    start_on: impl Fn(u16) -> Result<T, Failed>,
) -> T {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    match start_on(port) {
        Err(Failed::Exited(why)) => assert!(why.contains("exited"), "{why}"),
        Err(f) => panic!("{what} on a taken port did not exit: {f}"),
        Ok(_) => panic!("a listener that never answers was taken for {what}"),
    }
    drop(taken);
    start_on(port).unwrap_or_else(|f| panic!("{what} on the port once free: {f}"))
}

/// Starts a private mariadbd on `cnf` (from [`install_mariadb`] in `dir`) and waits until it
/// answers on its own socket (`dir/sock`, which no other server has): as mariadbd binds its
/// TCP port before it listens on the socket, it then has the port too.
pub fn start_mariadb(dir: &Path, cnf: &Path) -> Result<Child, Failed> {
    let mut child = Command::new("/usr/sbin/mariadbd")
        .arg(format!("--defaults-file={}", cnf.display()))
        .arg(format!("--user={}", login_user()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("/usr/sbin/mariadbd (Debian's mariadb-server; run scripts/setup)");
    let sock = dir.join("sock");
    let limit = Duration::from_secs(60);
    match wait_up(&mut child, limit, || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    }) {
        Ok(()) => Ok(child),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            let tail = log_tail(&dir.join("error.log"));
            Err(Failed::of("mariadbd", e, limit, &tail))
        }
    }
}

/// Installs and starts a private MariaDB in `dir` (see [`install_mariadb`], whose `extra`
/// this takes) on a free port, and returns the port and the server. A server that exits at
/// once (its port taken in the meantime) is installed again on another port, up to three
/// times.
pub fn private_mariadb(dir: &Path, extra: &str) -> (u16, Child) {
    for attempt in 1..=3 {
        let port = free_port();
        let cnf = install_mariadb(dir, port, extra);
        match start_mariadb(dir, &cnf) {
            Ok(child) => return (port, child),
            Err(Failed::Exited(why)) if attempt < 3 => {
                eprintln!("{why}\ntrying another port");
                let _ = std::fs::remove_dir_all(dir.join("data"));
            }
            Err(f) => panic!("the private MariaDB did not start (attempt {attempt} of 3): {f}"),
        }
    }
    unreachable!("the last attempt returns or panics")
}

/// Polls `f` every 100 ms until it returns `Some`, or panics with `what` after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > end {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The login name the tests run as (MariaDB's `--user=`).
pub fn login_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs SQL as root over the socket of a private MariaDB in `dir` (unix_socket
/// authentication, as [`install_mariadb`] sets it up); panics with the client's error.
pub fn root_sql(dir: &Path, sql: &str) {
    let out = Command::new("mariadb")
        .arg(format!("--socket={}", dir.join("sock").display()))
        .args(["-uroot", "-e", sql])
        .output()
        .expect("the mariadb client (run scripts/setup)");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server process of the test's own, killed when the test is done with it.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Writes `dir/my.cnf` for a private MariaDB on `port` (its data, socket, pid file, error log
/// and temporary files all under `dir`; `extra` lines appended) and runs `mariadb-install-db`
/// on it. Returns the file's path. The temporary directory is private too: MariaDBs installed
/// at once that share `/tmp` fail one in four installs here ("Unknown table
/// 'mysql.tmp_user_sys'", 9 of 36 in three rounds of twelve parallel installs; 0 of 36 with a
/// `tmpdir` each). A failed install panics with the server's error log.
pub fn install_mariadb(dir: &Path, port: u16, extra: &str) -> PathBuf {
    let d = dir.display();
    let cnf = dir.join("my.cnf");
    std::fs::write(
        &cnf,
        format!(
            "[mariadbd]\ndatadir={d}/data\nsocket={d}/sock\npid-file={d}/pid\ntmpdir={d}\n\
             bind-address=127.0.0.1\nport={port}\nskip-name-resolve\nlog-error={d}/error.log\n\
             innodb_buffer_pool_size=16M\nperformance_schema=OFF\n{extra}"
        ),
    )
    .unwrap();
    let out = Command::new("mariadb-install-db")
        .arg(format!("--defaults-file={}", cnf.display()))
        .arg(format!("--user={}", login_user()))
        .args(["--skip-test-db", "--auth-root-authentication-method=socket"])
        .output()
        .expect("mariadb-install-db (Debian's mariadb-server; run scripts/setup)");
    assert!(
        out.status.success(),
        "mariadb-install-db failed:\n{}{}\n{d}/error.log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
    cnf
}

/// How long a private memcached has to answer.
const MEMCACHED_UP: Duration = Duration::from_secs(10);

/// A private memcached process on its own port, killed on drop.
pub struct Memcached {
    pub port: u16,
    child: Option<Child>,
}

impl Memcached {
    /// On a free port; one that memcached finds taken (another test's in the meantime) is
    /// replaced by another, up to three times.
    pub fn start() -> Memcached {
        for attempt in 1..=3 {
            match Memcached::start_on(free_port()) {
                Ok(m) => return m,
                Err(Failed::Exited(why)) if attempt < 3 => eprintln!("{why}: trying another port"),
                Err(f) => panic!("{f} (attempt {attempt} of 3)"),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    /// On `port`.
    pub fn start_on(port: u16) -> Result<Memcached, Failed> {
        let mut m = Memcached { port, child: None };
        m.spawn(&[])?;
        Ok(m)
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on the same port.
    pub fn restart(&mut self) {
        self.restart_with(&[]);
    }

    /// Starts it (again) on the same port, with more of memcached's options (`-c 100`).
    pub fn restart_with(&mut self, extra: &[&str]) {
        if let Err(f) = self.spawn(extra) {
            panic!("{f} (started again)");
        }
    }

    /// Stops the one running, if any, starts memcached and waits until it answers, itself:
    /// `stats` names its pid.
    fn spawn(&mut self, extra: &[&str]) -> Result<(), Failed> {
        self.stop();
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let mut child = Command::new("memcached")
            .args([
                "-l",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "0",
                "-m",
                "16",
                "-u",
                &user,
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("memcached not installed: run scripts/setup");
        let addr = self.address();
        let pid = child.id();
        let up = wait_up(&mut child, MEMCACHED_UP, || {
            memcached_pid(&addr) == Some(pid)
        });
        match up {
            Ok(()) => {
                self.child = Some(child);
                Ok(())
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let what = format!("memcached on port {}", self.port);
                Err(Failed::of(&what, e, MEMCACHED_UP, ""))
            }
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends one text-protocol command and returns the reply up to its terminator.
    pub fn command(&self, cmd: &str) -> String {
        memcached_command(&self.address(), cmd)
    }
}

impl Drop for Memcached {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The pid in the `stats` of the memcached on `addr`; None when nothing there answers as
/// memcached does within a second.
fn memcached_pid(addr: &str) -> Option<u32> {
    let s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    (&s).write_all(b"stats\r\n").ok()?;
    for line in BufReader::new(s).lines() {
        let line = line.ok()?;
        if let Some(pid) = line.strip_prefix("STAT pid ") {
            return pid.trim().parse().ok();
        }
        if !line.starts_with("STAT ") {
            return None;
        }
    }
    None
}

/// Sends `cmd` (without CRLF) and reads until a line that ends a reply.
pub fn memcached_command(addr: &str, cmd: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
    let mut rd = BufReader::new(s);
    let mut out = String::new();
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap() == 0 {
            return out;
        }
        out.push_str(&line);
        let l = line.trim_end();
        if matches!(
            l,
            "END" | "STORED" | "NOT_STORED" | "DELETED" | "NOT_FOUND" | "ERROR" | "OK"
        ) || l.starts_with("SERVER_ERROR")
            || l.starts_with("CLIENT_ERROR")
        {
            // A `get` hit sends VALUE ... data END; keep reading until END.
            if !(cmd.starts_with("get") && l != "END") {
                return out;
            }
        }
    }
}

/// `headroom run --config PATH`, its stderr appended to stderr.log beside the config.
fn spawn_run(config: &Path, envs: &[(&str, &str)]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(config.with_file_name("stderr.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .envs(envs.iter().copied())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

/// The headroom binary running with a config written to a temp dir, killed on drop.
pub struct Daemon {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Daemon {
    /// Starts `headroom run` with `config` (a YAML body without `listen:`, which is added).
    pub fn start(port: u16, config: &str, envs: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, format!("listen: 127.0.0.1:{port}\n{config}")).unwrap();
        let child = spawn_run(&path, envs);
        let d = Daemon { port, dir, child };
        wait_for(
            "the daemon to serve /healthz",
            Duration::from_secs(20),
            || d.get("/healthz").filter(|(s, _)| *s == 200),
        );
        d
    }

    /// Starts the daemon again on the same config and directory (after `kill9`, say).
    pub fn restart(&mut self, envs: &[(&str, &str)]) {
        self.child = spawn_run(&self.config_path(), envs);
        wait_for(
            "the daemon to serve /healthz again",
            Duration::from_secs(20),
            || self.get("/healthz").filter(|(s, _)| *s == 200),
        );
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Sends a signal by name (HUP, TERM) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// SIGKILL: no shutdown path runs.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        wait_for("the daemon to exit", limit, || {
            self.child.try_wait().unwrap().map(|s| s.code())
        })
    }

    /// A plain HTTP/1.1 GET: (status, body), or None if nothing answered.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(&format!("127.0.0.1:{}", self.port), path)
    }

    pub fn metrics(&self) -> String {
        let (status, body) = self.get("/metrics").expect("no answer from /metrics");
        assert_eq!(status, 200);
        body
    }

    /// The value of the series `name{labels...}` in the current /metrics, where `labels` is
    /// a list of `key="value"` fragments that must all appear.
    pub fn value(&self, name: &str, labels: &[&str]) -> Option<f64> {
        series_value(&self.metrics(), name, labels)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds a series in text exposition output.
pub fn series_value(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b'{') | Some(b' '))
        })
        .find(|l| labels.iter().all(|f| l.contains(f)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Some((status, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Runs `promtool check metrics` on exposition text; returns its combined output on failure.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not installed: run scripts/setup");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // mysqld_exporter names a series after each server variable
    // (`mysql_global_variables_max_error_count`, `..._expire_logs_days`); promtool's lint
    // reads such names as a misused suffix or unit. They stay what dashboards built on
    // mysqld_exporter read, so only those findings are let through.
    let findings: Vec<&str> = msg
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("mysql_global_variables_"))
        .collect();
    // A failure that printed nothing else is still a failure.
    if findings.is_empty() && (out.status.success() || !msg.trim().is_empty()) {
        Ok(())
    } else {
        Err(findings.join("\n"))
    }
}

pub fn fixture(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path)
}

/// Reads one HTTP/1.1 request from `stream` (the stubs of AWS APIs the tests serve) and
/// returns its body, sized by Content-Length.
pub fn read_http_request(stream: &TcpStream) -> Vec<u8> {
    use std::io::{BufRead, Read};
    let mut rd = BufReader::new(stream);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    let _ = rd.read_exact(&mut body);
    body
}

/// Runs headless Chromium (Debian's, from scripts/setup) on `url` with a private profile.
pub fn chromium(args: &[&str], url: &str) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium not installed: run scripts/setup")
}

/// Runs the headroom binary with `args`: exit code, stdout, stderr.
pub fn headroom(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_headroom"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A connection to the services' MariaDB as the load user, in `headroom_test`: for tests
/// that write the statements (or the rows) headroom reads.
pub async fn load_conn() -> mysql_async::Conn {
    let addr = env("HEADROOM_TEST_MYSQL");
    let (host, port) = addr.rsplit_once(':').unwrap();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port.parse().unwrap())
        .user(Some(env("HEADROOM_TEST_LOAD_USER")))
        .pass(Some(env("HEADROOM_TEST_LOAD_PASSWORD")))
        .db_name(Some("headroom_test"));
    mysql_async::Conn::new(opts).await.unwrap()
}

/// Standard base64 with padding (RFC 4648 section 4), as HTTP basic auth encodes credentials.
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_matches_rfc_4648_test_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}
