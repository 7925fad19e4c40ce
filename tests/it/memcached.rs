//! The memcached source against a real memcached.

use crate::common;

use common::Memcached;
use headroom::model::find_value as value;
use headroom::model::{ErrorKind, Poller};
use headroom::sources::memcached::{MemcachedPoller, Settings, Stats};

#[tokio::test]
async fn counters_and_hit_ratio_match_stats() {
    let m = Memcached::start();
    let poller = MemcachedPoller::new(&Settings {
        address: m.address(),
    });
    for i in 0..5 {
        assert_eq!(
            m.command(&format!("set k{i} 0 0 5\r\nhello")).trim(),
            "STORED"
        );
    }
    for i in 0..3 {
        assert!(m.command(&format!("get k{i}")).starts_with("VALUE"));
    }
    for i in 0..2 {
        assert_eq!(m.command(&format!("get missing{i}")).trim(), "END");
    }
    let first = poller.poll().await.unwrap().families;
    let stats = Stats::parse(&m.command("stats")).unwrap();

    assert_eq!(value(&first, "memcached_up", &[]), Some(1.0));
    for (name, labels, key) in [
        (
            "memcached_commands",
            vec![("command", "get"), ("status", "hit")],
            "get_hits",
        ),
        (
            "memcached_commands",
            vec![("command", "get"), ("status", "miss")],
            "get_misses",
        ),
        (
            "memcached_commands",
            vec![("command", "set"), ("status", "hit")],
            "cmd_set",
        ),
        ("memcached_current_items", vec![], "curr_items"),
        ("memcached_current_bytes", vec![], "bytes"),
        ("memcached_limit_bytes", vec![], "limit_maxbytes"),
        ("memcached_items_evicted", vec![], "evictions"),
    ] {
        assert_eq!(
            value(&first, name, &labels),
            stats.num(key),
            "{name} {labels:?} vs stats {key}"
        );
    }
    assert_eq!(
        value(
            &first,
            "memcached_commands",
            &[("command", "get"), ("status", "hit")]
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &first,
            "memcached_commands",
            &[("command", "get"), ("status", "miss")]
        ),
        Some(2.0)
    );
    assert_eq!(
        value(
            &first,
            "headroom_memcached_hit_ratio",
            &[("window", "since_start")]
        ),
        Some(0.6)
    );
    // No previous poll: no per-poll ratio yet.
    assert_eq!(
        value(
            &first,
            "headroom_memcached_hit_ratio",
            &[("window", "last_poll")]
        ),
        None
    );
    assert_eq!(
        value(&first, "memcached_max_connections", &[]),
        Some(1024.0)
    );
    let rtt = value(&first, "headroom_memcached_stats_rtt_seconds", &[]).unwrap();
    assert!(rtt > 0.0 && rtt < 1.0, "rtt {rtt}");

    // One hit and three misses since the last poll: 0.25 over the window, 4/9 since start.
    assert!(m.command("get k4").starts_with("VALUE"));
    for i in 0..3 {
        m.command(&format!("get nope{i}"));
    }
    let second = poller.poll().await.unwrap().families;
    assert_eq!(
        value(
            &second,
            "headroom_memcached_hit_ratio",
            &[("window", "last_poll")]
        ),
        Some(0.25)
    );
    assert_eq!(
        value(
            &second,
            "headroom_memcached_hit_ratio",
            &[("window", "since_start")]
        ),
        Some(4.0 / 9.0)
    );
}

#[tokio::test]
async fn a_stopped_server_is_a_connect_error() {
    let mut m = Memcached::start();
    let poller = MemcachedPoller::new(&Settings {
        address: m.address(),
    });
    assert!(poller.poll().await.is_ok());
    m.stop();
    let err = poller.poll().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect, "{err}");
    assert!(err.message.contains(&m.address()), "{err}");
}

#[tokio::test]
async fn something_that_is_not_memcached_is_a_protocol_error() {
    // A real HTTP-ish peer: answers anything with a line memcached never sends.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n");
        }
    });
    let poller = MemcachedPoller::new(&Settings { address: addr });
    let err = poller.poll().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Protocol, "{err}");
}

/// A peer of the test's own that answers the first request on its socket with `reply` (a
/// real memcached cannot be made to send garbage or malformed numbers).
fn answering(reply: &'static [u8]) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf);
            let _ = s.write_all(reply);
        }
    });
    addr
}

#[tokio::test]
async fn bytes_that_are_not_text_are_a_protocol_error() {
    let addr = answering(b"STAT pid 1\r\nSTAT \xff\xfe\x00garbage\r\nEND\r\n");
    let poller = MemcachedPoller::new(&Settings { address: addr });
    let err = poller.poll().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Protocol, "{err}");
    assert!(
        err.message.contains("not memcached's text protocol"),
        "{err}"
    );
}

#[tokio::test]
async fn a_malformed_counter_fails_the_poll_naming_it() {
    // Negative, overflowing (2^64) and non-numeric values of counters memcached's
    // doc/protocol.txt types as unsigned integers.
    for (reply, field) in [
        (
            &b"STAT uptime 10\r\nSTAT get_hits -5\r\nSTAT get_misses 1\r\nEND\r\n"[..],
            "get_hits",
        ),
        (
            &b"STAT uptime 10\r\nSTAT evictions 18446744073709551616\r\nEND\r\n"[..],
            "evictions",
        ),
        (
            &b"STAT uptime 10\r\nSTAT curr_connections lots\r\nEND\r\n"[..],
            "curr_connections",
        ),
    ] {
        let addr = answering(reply);
        let poller = MemcachedPoller::new(&Settings { address: addr });
        let err = poller.poll().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol, "{err}");
        assert!(err.message.contains(&format!("stat {field} is ")), "{err}");
    }
}
