//! Hostile peers: servers of the test's own that accept and never answer, answer garbage,
//! send 100 MB, drip a byte a second, or stall in the middle of a TLS handshake, each polled
//! by every TCP source (memcached, mysql, tls, http) through the daemon. Every poll ends within
//! its timeout, the error kind is the right one, memory stays bounded, nothing panics, and the
//! daemon keeps serving. (No real server can be told to misbehave like this.)

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::common::{Daemon, free_port, series_value, wait_for};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Peer {
    /// Accepts and never answers.
    Silent,
    /// Answers binary garbage (not UTF-8, not any protocol) and closes.
    Garbage,
    /// Sends 100 MB of one byte, no line end, and closes.
    Flood,
    /// Sends one byte a second.
    Drip,
    /// Reads the ClientHello, sends the header of a TLS handshake record and stalls.
    TlsStall,
}

const PEERS: [Peer; 5] = [
    Peer::Silent,
    Peer::Garbage,
    Peer::Flood,
    Peer::Drip,
    Peer::TlsStall,
];

fn serve(peer: Peer) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(s) = stream else { continue };
            std::thread::spawn(move || misbehave(peer, s));
        }
    });
    addr
}

fn misbehave(peer: Peer, mut s: TcpStream) {
    let until = Instant::now() + Duration::from_secs(30);
    let mut buf = [0u8; 4096];
    s.set_read_timeout(Some(Duration::from_millis(200))).ok();
    let _ = s.read(&mut buf);
    match peer {
        Peer::Silent => while Instant::now() < until && !matches!(s.read(&mut buf), Ok(0)) {},
        Peer::Garbage => {
            let junk: Vec<u8> = (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8 | 0x80)
                .collect();
            let _ = s.write_all(&junk);
        }
        Peer::Flood => {
            let chunk = vec![b'A'; 1 << 20];
            for _ in 0..100 {
                if s.write_all(&chunk).is_err() {
                    break;
                }
            }
        }
        Peer::Drip => {
            while Instant::now() < until && s.write_all(b"S").is_ok() {
                std::thread::sleep(Duration::from_secs(1));
            }
        }
        Peer::TlsStall => {
            // A handshake record of 64 bytes announced (RFC 8446 section 5.1), none sent.
            let _ = s.write_all(&[0x16, 0x03, 0x03, 0x00, 0x40]);
            while Instant::now() < until && !matches!(s.read(&mut buf), Ok(0)) {}
        }
    }
}

fn name(source: &str, peer: Peer) -> String {
    format!("{source}-{peer:?}").to_lowercase()
}

#[test]
fn every_source_survives_every_hostile_peer_within_its_timeout() {
    let addrs: Vec<(Peer, String)> = PEERS.iter().map(|p| (*p, serve(*p))).collect();
    let mut config = String::from("defaults: {interval: 1s, timeout: 2s}\n");
    let section = |config: &mut String, source: &str, entry: &dyn Fn(&str, &str) -> String| {
        config.push_str(&format!("{source}:\n"));
        for (peer, addr) in &addrs {
            config.push_str(&format!("  - {}\n", entry(&name(source, *peer), addr)));
        }
    };
    section(&mut config, "memcached", &|n, a| {
        format!("{{name: {n}, address: '{a}'}}")
    });
    section(&mut config, "mysql", &|n, a| {
        format!("{{name: {n}, address: '{a}', user: u, password_env: HR_PW}}")
    });
    section(&mut config, "tls", &|n, a| {
        format!("{{name: {n}, address: '{a}', server_name: localhost}}")
    });
    section(&mut config, "http", &|n, a| {
        format!("{{name: {n}, url: 'http://{a}/'}}")
    });
    let d = Daemon::start(free_port(), &config, &[("HR_PW", "pw")]);
    // The kind each source gives each peer: a peer that answered wrongly is `protocol` (the
    // connection worked), one that never finished answering is `timeout`. The tls and http
    // sources read a dripped byte as the start of a (wrong) answer; memcached and mysql wait
    // for a whole line or packet.
    let expected = |source: &str, peer: Peer| match (source, peer) {
        (_, Peer::Silent) => "timeout",
        (_, Peer::Garbage | Peer::Flood) => "protocol",
        ("tls" | "http", Peer::Drip) => "protocol",
        ("http", Peer::TlsStall) => "protocol",
        _ => "timeout",
    };
    let sources = ["memcached", "mysql", "tls", "http"];
    let kind_of = |m: &str, t: &str| -> Vec<&'static str> {
        ["timeout", "connect", "auth", "protocol"]
            .into_iter()
            .filter(|k| {
                series_value(
                    m,
                    "headroom_poll_errors_total",
                    &[&format!("target=\"{t}\""), &format!("kind=\"{k}\"")],
                )
                .is_some_and(|v| v > 0.0)
            })
            .collect()
    };
    // Every target has failed at least twice.
    let m = wait_for(
        "two failed polls of every target",
        Duration::from_secs(30),
        || {
            let m = d.metrics();
            sources
                .iter()
                .flat_map(|s| PEERS.iter().map(move |p| name(s, *p)))
                .all(|t| {
                    let failed: f64 = ["timeout", "connect", "auth", "protocol"]
                        .iter()
                        .filter_map(|k| {
                            series_value(
                                &m,
                                "headroom_poll_errors_total",
                                &[&format!("target=\"{t}\""), &format!("kind=\"{k}\"")],
                            )
                        })
                        .sum();
                    failed >= 2.0
                })
                .then_some(m)
        },
    );
    for source in sources {
        for peer in PEERS {
            let t = name(source, peer);
            assert_eq!(kind_of(&m, &t), vec![expected(source, peer)], "{t}");
            // Every poll was cut at its 2 s timeout: the 5 s bucket holds them all (the peers
            // would hold a poll for 30 s; the slack is for a loaded machine's scheduling).
            let count = series_value(
                &m,
                "headroom_poll_duration_seconds_count",
                &[&format!("target=\"{t}\"")],
            )
            .unwrap();
            let within = series_value(
                &m,
                "headroom_poll_duration_seconds_bucket",
                &[&format!("target=\"{t}\""), "le=\"5\""],
            )
            .unwrap();
            assert_eq!(within, count, "{t}: a poll outlived its timeout");
        }
    }
    // 100 MB sent to each of four sources, several times: memory stays near a quiet
    // daemon's (about 30 MB), because no source reads past its own limit.
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let hwm_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap();
    assert!(hwm_kib < 96 * 1024, "peak RSS {hwm_kib} KiB");
    // Still serving, and nothing panicked.
    assert!(d.get("/status").is_some_and(|(s, _)| s == 200));
    assert!(!d.log().contains("panicked"), "{}", d.log());
    // The reasons name what went wrong.
    let log = d.log();
    for needle in [
        "the reply is not memcached's text protocol",
        "reply longer than 262144 bytes",
        "Packet is larger than max_allowed_packet",
        "TLS handshake failed",
        "invalid HTTP version parsed",
    ] {
        assert!(log.contains(needle), "{needle} not in the log:\n{log}");
    }
}
