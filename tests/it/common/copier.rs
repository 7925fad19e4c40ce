//! A copy job simulated by the tests: a thread advances files and bytes at known rates and
//! writes its counters into a table of the services' MariaDB (as the `loadgen` user, which has
//! ALL on `headroom_test`), and a small HTTP server (std `TcpListener`) serves the same numbers
//! as JSON (`/progress.json`, behind a bearer token when one is set) and as Prometheus text
//! (`/metrics`). What a migration target reads, from all three inputs at once.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mysql_async::prelude::Queryable;

use super::load_conn;

/// How the copier moves: per second, and where it starts.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub files_total: f64,
    pub bytes_total: f64,
    /// Files copied per second, and skipped per second (both are done).
    pub files_copied_per_s: f64,
    pub files_skipped_per_s: f64,
    pub files_failed_per_s: f64,
    /// Bytes of a file.
    pub bytes_per_file: f64,
    /// Files done when the copier starts (a job under way).
    pub files_done_at_start: f64,
}

impl Plan {
    /// Files done (copied + skipped) per second.
    pub fn files_rate(&self) -> f64 {
        self.files_copied_per_s + self.files_skipped_per_s
    }

    pub fn bytes_rate(&self) -> f64 {
        self.files_rate() * self.bytes_per_file
    }
}

/// The counters at one moment: total, copied, failed, skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counts {
    pub files: [f64; 4],
    pub bytes: [f64; 4],
}

#[derive(Debug)]
struct Clock {
    /// When the counters were last at their base, and the base (done files).
    since: Instant,
    base_files: f64,
    /// Frozen at this many seconds after `since` (a stalled copy).
    paused: Option<f64>,
}

/// The simulated copier; stops its threads on drop.
#[derive(Debug)]
pub struct Copier {
    pub plan: Plan,
    pub http_port: u16,
    clock: Arc<Mutex<Clock>>,
    http_up: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

fn counts_at(plan: &Plan, clock: &Clock, now: Instant) -> Counts {
    let s = clock
        .paused
        .unwrap_or_else(|| now.duration_since(clock.since).as_secs_f64());
    let done0 = clock.base_files;
    // The files done at start split as the rates do.
    let share = plan.files_copied_per_s / plan.files_rate();
    let copied = done0 * share + plan.files_copied_per_s * s;
    let skipped = done0 * (1.0 - share) + plan.files_skipped_per_s * s;
    let failed = plan.files_failed_per_s * s;
    let b = plan.bytes_per_file;
    Counts {
        files: [plan.files_total, copied, failed, skipped],
        bytes: [plan.bytes_total, copied * b, failed * b, skipped * b],
    }
}

impl Copier {
    /// Starts the copier: its table `headroom_test.<table>` (when `table` is given) written
    /// every 20 ms, and its HTTP server; `token` guards `/progress.json`.
    pub fn start(plan: Plan, table: Option<&str>, token: Option<&str>) -> Copier {
        let clock = Arc::new(Mutex::new(Clock {
            since: Instant::now(),
            base_files: plan.files_done_at_start,
            paused: None,
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let http_up = Arc::new(AtomicBool::new(true));
        let mut threads = Vec::new();

        // The counting thread: the counters, and the table.
        let (c2, s2, tbl) = (clock.clone(), stop.clone(), table.map(str::to_owned));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        threads.push(std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut conn = match &tbl {
                    Some(t) => {
                        let mut c = load_conn().await;
                        c.query_drop(format!("DROP TABLE IF EXISTS {t}")).await.unwrap();
                        c.query_drop(format!(
                            "CREATE TABLE {t} (job VARCHAR(32) PRIMARY KEY, \
                             files_total BIGINT, files_copied BIGINT, files_failed BIGINT, files_skipped BIGINT, \
                             bytes_total BIGINT, bytes_copied BIGINT, bytes_failed BIGINT, bytes_skipped BIGINT)"
                        ))
                        .await
                        .unwrap();
                        Some(c)
                    }
                    None => None,
                };
                let mut first = true;
                while !s2.load(Ordering::Relaxed) {
                    let now = counts_at(&plan, &c2.lock().unwrap(), Instant::now());
                    if let (Some(c), Some(t)) = (conn.as_mut(), &tbl) {
                        let v = |x: f64| format!("{}", x.round() as i64);
                        let sql = format!(
                            "REPLACE INTO {t} VALUES ('main', {}, {}, {}, {}, {}, {}, {}, {})",
                            v(now.files[0]),
                            v(now.files[1]),
                            v(now.files[2]),
                            v(now.files[3]),
                            v(now.bytes[0]),
                            v(now.bytes[1]),
                            v(now.bytes[2]),
                            v(now.bytes[3]),
                        );
                        c.query_drop(sql).await.unwrap();
                    }
                    if first {
                        let _ = ready_tx.send(());
                        first = false;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if let Some(c) = conn {
                    let _ = c.disconnect().await;
                }
            });
        }));
        ready_rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the copier did not start");

        // The HTTP server.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let http_port = listener.local_addr().unwrap().port();
        let (c3, s3, up3) = (clock.clone(), stop.clone(), http_up.clone());
        let token = token.map(str::to_owned);
        threads.push(std::thread::spawn(move || {
            let mut listener = Some(listener);
            while !s3.load(Ordering::Relaxed) {
                // Down: the port is closed (connections refused) until it is up again.
                if !up3.load(Ordering::Relaxed) {
                    listener = None;
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                let l = match &listener {
                    Some(l) => l,
                    None => {
                        let Ok(l) = TcpListener::bind(("127.0.0.1", http_port)) else {
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        };
                        l.set_nonblocking(true).unwrap();
                        listener.insert(l)
                    }
                };
                match l.accept() {
                    Ok((stream, _)) => {
                        // Computed at the request, so the numbers are those of this moment.
                        let now = counts_at(&plan, &c3.lock().unwrap(), Instant::now());
                        serve(stream, &now, token.as_deref());
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        }));
        Copier {
            plan,
            http_port,
            clock,
            http_up,
            stop,
            threads,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.http_port)
    }

    /// The counters now.
    pub fn counts(&self) -> Counts {
        counts_at(&self.plan, &self.clock.lock().unwrap(), Instant::now())
    }

    /// The copier restarts: its counters go back to 0, then count on at the same rates.
    pub fn restart_from_zero(&self) {
        let mut c = self.clock.lock().unwrap();
        c.since = Instant::now();
        c.base_files = 0.0;
        c.paused = None;
    }

    /// The copy stalls: the counters stop where they are.
    pub fn pause(&self) {
        let mut c = self.clock.lock().unwrap();
        c.paused = Some(c.since.elapsed().as_secs_f64());
    }

    /// The HTTP server stops answering (its port closed) or comes back.
    pub fn set_http_up(&self, up: bool) {
        self.http_up.store(up, Ordering::Relaxed);
    }

    /// Unix time at which files done reach `ratio` of the total at the plan's rate, from
    /// the counters now.
    pub fn projected_files(&self, ratio: f64) -> f64 {
        let c = self.counts();
        unix_now() + (ratio * c.files[0] - (c.files[1] + c.files[3])) / self.plan.files_rate()
    }

    pub fn projected_bytes(&self, ratio: f64) -> f64 {
        let c = self.counts();
        unix_now() + (ratio * c.bytes[0] - (c.bytes[1] + c.bytes[3])) / self.plan.bytes_rate()
    }
}

impl Drop for Copier {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn serve(stream: TcpStream, c: &Counts, token: Option<&str>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut rd = BufReader::new(&stream);
    let mut request = String::new();
    if rd.read_line(&mut request).is_err() {
        return;
    }
    let mut auth = None;
    loop {
        let mut line = String::new();
        if rd.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            auth = Some(v.trim().to_owned());
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let (status, ctype, body) = match path {
        "/progress.json"
            if token.is_some_and(|t| auth.as_deref() != Some(&format!("Bearer {t}"))) =>
        {
            (
                "401 Unauthorized",
                "text/plain",
                "bearer token required\n".to_owned(),
            )
        }
        "/progress.json" => ("200 OK", "application/json", json(c)),
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", text(c)),
        _ => ("404 Not Found", "text/plain", "not found\n".to_owned()),
    };
    let mut w = &stream;
    let _ = write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The JSON a copier's status endpoint might give: counts as numbers, bytes as strings (as
/// APIs that fear 2^53 send them).
fn json(c: &Counts) -> String {
    let n = |x: f64| x.round() as i64;
    format!(
        r#"{{"job": "main", "files": {{"total": {}, "copied": {}, "failed": {}, "skipped": {}}}, "bytes": {{"total": "{}", "copied": "{}", "failed": "{}", "skipped": "{}"}}}}"#,
        n(c.files[0]),
        n(c.files[1]),
        n(c.files[2]),
        n(c.files[3]),
        n(c.bytes[0]),
        n(c.bytes[1]),
        n(c.bytes[2]),
        n(c.bytes[3])
    )
}

/// The copier's Prometheus text: copied split over two workers (a target adds them up).
fn text(c: &Counts) -> String {
    let n = |x: f64| x.round() as i64;
    let mut out = String::new();
    for (what, v) in [("files", &c.files), ("bytes", &c.bytes)] {
        out.push_str(&format!(
            "# HELP copier_{what} The copy job's {what} by state.\n# TYPE copier_{what} gauge\n"
        ));
        out.push_str(&format!("copier_{what}{{state=\"total\"}} {}\n", n(v[0])));
        let half = (v[1] / 2.0).floor();
        out.push_str(&format!(
            "copier_{what}{{state=\"copied\",worker=\"a\"}} {}\n",
            n(half)
        ));
        out.push_str(&format!(
            "copier_{what}{{state=\"copied\",worker=\"b\"}} {}\n",
            n(v[1]) - n(half)
        ));
        out.push_str(&format!("copier_{what}{{state=\"failed\"}} {}\n", n(v[2])));
        out.push_str(&format!("copier_{what}{{state=\"skipped\"}} {}\n", n(v[3])));
    }
    out
}
