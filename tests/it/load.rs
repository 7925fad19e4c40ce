//! Load: 10,000 memcached targets configured, 500 concurrent scrapers on `/metrics` (Debian's
//! `wrk -c 500`): zero socket errors and zero non-2xx answers, every connection answered,
//! every target polled, and the open files of the daemon bounded by `max_concurrent_polls`
//! plus the scrapers' connections. Timings are not asserted (a 2-core machine shared with
//! builds makes them meaningless here); `bench/scale` measures them on a release build.
//!
//! The targets point at four real memcached processes, each listening on 25 loopback
//! addresses (memcached 1.6's `-l` takes a list of `addr:port`), so 100 listeners in all.
//! Checks are off: this measures the poll and scrape paths.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::{self, Daemon, free_port, wait_for};

const TARGETS: usize = 10_000;
const SCRAPERS: usize = 500;
const POLL_LIMIT: usize = 64;

/// A memcached process listening on every address of `addrs` (killed on drop).
struct Listeners(Child);

impl Listeners {
    fn start(addrs: &[String]) -> Listeners {
        let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
        let child = Command::new("memcached")
            .args(["-l", &addrs.join(","), "-U", "0", "-m", "16", "-t", "1"])
            .args(["-c", "4096", "-u", &user])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("memcached not installed: run scripts/setup");
        for a in addrs {
            wait_for(
                &format!("memcached to listen on {a}"),
                Duration::from_secs(10),
                || TcpStream::connect(a).ok(),
            );
        }
        Listeners(child)
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What wrk printed: requests completed, and the error lines it prints only when there were
/// errors (`Socket errors: connect 0, read 0, write 0, timeout 0`, `Non-2xx or 3xx
/// responses: N`).
#[derive(Debug)]
struct WrkRun {
    requests: u64,
    socket_errors: u64,
    non_2xx: u64,
}

fn parse_wrk(out: &str) -> WrkRun {
    let requests = out
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{out}"));
    let socket_errors = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map(|rest| {
            rest.split(',')
                .filter_map(|p| p.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    let non_2xx = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .map(|n| n.trim().parse().unwrap())
        .unwrap_or(0);
    WrkRun {
        requests,
        socket_errors,
        non_2xx,
    }
}

#[test]
fn wrk_output_is_read() {
    // wrk 4.1.0's report (src/wrk.c, print_stats_header and the error lines after it).
    let ok = "Running 8s test @ http://127.0.0.1:1/metrics\n  2 threads and 500 connections\n  1234 requests in 8.01s, 1.39GB read\nRequests/sec:    154.06\n";
    let r = parse_wrk(ok);
    assert_eq!((r.requests, r.socket_errors, r.non_2xx), (1234, 0, 0));
    let bad = "  12 requests in 8.01s, 1.39GB read\n  Socket errors: connect 3, read 1, write 0, timeout 480\n  Non-2xx or 3xx responses: 7\n";
    let r = parse_wrk(bad);
    assert_eq!((r.requests, r.socket_errors, r.non_2xx), (12, 484, 7));
}

#[test]
fn ten_thousand_targets_and_500_scrapers_without_an_error() {
    // The write side of the MariaDB turn keeps out the tests that judge response times
    // (`no_load`): this one loads both cores for a while.
    let _alone = common::lock::mariadb_alone();
    // 4 processes x 25 loopback addresses, one port per process.
    let mut listeners = Vec::new();
    let mut addrs = Vec::new();
    for _ in 0..4 {
        let port = free_port();
        let mine: Vec<String> = (2..27).map(|h| format!("127.0.0.{h}:{port}")).collect();
        listeners.push(Listeners::start(&mine));
        addrs.extend(mine);
    }
    let mut config = format!(
        "shipped_checks: false\nmax_concurrent_polls: {POLL_LIMIT}\ndefaults: {{interval: 10s, timeout: 5s}}\nmemcached:\n"
    );
    for i in 0..TARGETS {
        config.push_str(&format!(
            "  - {{name: m{i:05}, address: '{}'}}\n",
            addrs[i % addrs.len()]
        ));
    }
    let d = Daemon::start(free_port(), &config, &[]);
    // Every target polled once, within about one interval, through 64 turns.
    wait_for("every target polled", Duration::from_secs(90), || {
        d.get("/-/ready").filter(|(s, _)| *s == 200)
    });
    let log = d.log();
    assert!(log.contains("open-file limit"), "{log}");

    // While wrk runs: the daemon's open files, and the polls in flight it reports.
    let stop = Arc::new(AtomicBool::new(false));
    let max_fds = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, max_fds) = (stop.clone(), max_fds.clone());
        let fd_dir = format!("/proc/{}/fd", d.pid());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let n = std::fs::read_dir(&fd_dir).map(|d| d.count()).unwrap_or(0);
                max_fds.fetch_max(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    // Prometheus asks for gzip (Accept-Encoding: gzip), and so do these scrapers: 500 plain
    // copies of a 47 MB page would take minutes to read, not the few seconds of this test.
    // A timeout long enough for a debug build's render: a timeout would be an error too.
    // 15 s: a round of 500 gzipped pages takes a debug build 5 to 8 s on 2 busy cores.
    let url = format!("http://127.0.0.1:{}/metrics", d.port);
    let out = Command::new("wrk")
        .args(["-t", "2", "-c", &SCRAPERS.to_string(), "-d", "15s"])
        .args(["--timeout", "60s", "--latency"])
        .args(["-H", "Accept-Encoding: gzip", &url])
        .output()
        .expect("wrk not installed: run scripts/setup");
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(out.status.success(), "wrk failed: {text}");
    let run = parse_wrk(&text);
    assert_eq!(run.socket_errors, 0, "{text}");
    assert_eq!(run.non_2xx, 0, "{text}");
    assert!(
        run.requests >= SCRAPERS as u64,
        "not every connection got an answer: {text}"
    );

    // Listener, epoll, log, 500 connections, at most 64 poll sockets, and a margin for the
    // runtime's own (eventfd, the blocking pool's pipes): never one socket per target.
    let fds = max_fds.load(Ordering::Relaxed);
    assert!(
        fds > SCRAPERS && fds <= SCRAPERS + POLL_LIMIT + 64,
        "open files of the daemon during the run: {fds}"
    );

    // After the storm: every target up (by its next poll: one that timed out while the
    // storm held both cores reads 0 until then), the bound reported, and the bound held.
    let up = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("memcached_up{"))
            .filter(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) == Some(1.0))
            .count()
    };
    let text = wait_for("every target up", Duration::from_secs(60), || {
        let text = d.metrics();
        (up(&text) == TARGETS).then_some(text)
    });
    assert_eq!(
        common::series_value(&text, "headroom_max_concurrent_polls", &[]),
        Some(POLL_LIMIT as f64)
    );
    let in_flight = common::series_value(&text, "headroom_polls_in_flight", &[]).unwrap();
    assert!(in_flight <= POLL_LIMIT as f64, "{in_flight}");
    drop(listeners);
}
