//! The memcached source against a real memcached.

use crate::common;

use common::Memcached;
use headroom::model::find_value as value;
use headroom::model::{ErrorKind, Poller};
use headroom::sources::memcached::{MemcachedPoller, Settings, Stats};

/// The tests' private memcached is its own: on a port another process holds (a listener that
/// takes connections and never answers, as a port taken between `free_port` and the bind
/// would be), the memcached started there exits, and the helper says so rather than take the
/// listener for it.
#[test]
fn a_private_memcached_is_not_confused_with_another_listener() {
    let m = common::start_after_the_port_was_taken("memcached", Memcached::start_on);
    assert!(m.command("stats").contains("STAT pid "));
}

#[tokio::test]
async fn counters_and_hit_ratio_match_stats() {
    let m = Memcached::start();
    let poller = MemcachedPoller::new(&Settings {
        address: m.address(),
        slabs: true,
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
        slabs: true,
    });
    assert!(poller.poll().await.is_ok());
    m.stop();
    let err = poller.poll().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Connect, "{err}");
    assert!(err.message.contains(&m.address()), "{err}");
}

/// `stats settings` is read once per server process: a restart with another `-c` shows
/// the new limit at the first poll after it, with or without the slab replies.
#[tokio::test]
async fn a_restart_rereads_the_settings() {
    for slabs in [false, true] {
        let mut m = Memcached::start();
        let poller = MemcachedPoller::new(&Settings {
            address: m.address(),
            slabs,
        });
        let max = |f: &[headroom::model::Family]| value(f, "memcached_max_connections", &[]);
        let first = poller.poll().await.unwrap().families;
        assert_eq!(max(&first), Some(1024.0), "memcached's default -c");
        // Reused: still there, and the same.
        let again = poller.poll().await.unwrap().families;
        assert_eq!(max(&again), Some(1024.0));
        m.stop();
        m.restart_with(&["-c", "333"]);
        let after = poller.poll().await.unwrap().families;
        assert_eq!(max(&after), Some(333.0), "slabs: {slabs}");
        assert_eq!(value(&after, "memcached_up", &[]), Some(1.0));
        let next = poller.poll().await.unwrap().families;
        assert_eq!(max(&next), Some(333.0));
    }
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
    let poller = MemcachedPoller::new(&Settings {
        address: addr,
        slabs: true,
    });
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
    let poller = MemcachedPoller::new(&Settings {
        address: addr,
        slabs: true,
    });
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
        let poller = MemcachedPoller::new(&Settings {
            address: addr,
            slabs: true,
        });
        let err = poller.poll().await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol, "{err}");
        assert!(err.message.contains(&format!("stat {field} is ")), "{err}");
    }
}

#[tokio::test]
async fn slab_classes_match_stats_items_and_stats_slabs() {
    let m = Memcached::start();
    // Values of 5 bytes and of 2000 bytes land in two different slab classes.
    for i in 0..4 {
        assert_eq!(
            m.command(&format!("set small{i} 0 0 5\r\nhello")).trim(),
            "STORED"
        );
    }
    let big = "x".repeat(2000);
    for i in 0..2 {
        assert_eq!(
            m.command(&format!("set big{i} 0 0 2000\r\n{big}")).trim(),
            "STORED"
        );
    }
    assert!(m.command("get small0").starts_with("VALUE"));

    let with = MemcachedPoller::new(&Settings {
        address: m.address(),
        slabs: true,
    });
    let f = with.poll().await.unwrap().families;
    let items = Stats::parse(&m.command("stats items")).unwrap();
    let slabs = Stats::parse(&m.command("stats slabs")).unwrap();
    // The classes memcached reports items in, and their counts, as its own replies say.
    let mut classes: Vec<(String, f64)> = items
        .iter()
        .filter_map(|(k, v)| {
            let class = k.strip_prefix("items:")?.strip_suffix(":number")?;
            Some((class.to_owned(), v.parse().unwrap()))
        })
        .collect();
    classes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(classes.len(), 2, "two slab classes in use: {classes:?}");
    assert_eq!(classes.iter().map(|c| c.1).sum::<f64>(), 6.0);
    for (class, n) in &classes {
        assert_eq!(
            value(&f, "memcached_slab_current_items", &[("slab", class)]),
            Some(*n),
            "class {class}"
        );
        let chunk: f64 = slabs
            .get(&format!("{class}:chunk_size"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            value(&f, "memcached_slab_chunk_size_bytes", &[("slab", class)]),
            Some(chunk)
        );
        assert!(
            value(&f, "memcached_slab_chunks_used", &[("slab", class)]).unwrap() >= *n,
            "class {class}"
        );
        // memcached 1.6 reports the bytes requested per class in `stats items`.
        let requested: f64 = items
            .get(&format!("items:{class}:mem_requested"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            value(&f, "memcached_slab_mem_requested_bytes", &[("slab", class)]),
            Some(requested)
        );
    }
    // The 5-byte values sit in the smaller class, the 2000-byte ones in the larger.
    let sizes: Vec<f64> = classes
        .iter()
        .map(|(c, _)| value(&f, "memcached_slab_chunk_size_bytes", &[("slab", c)]).unwrap())
        .collect();
    let small = if sizes[0] < sizes[1] {
        &classes[0]
    } else {
        &classes[1]
    };
    assert_eq!(small.1, 4.0);
    assert_eq!(
        value(
            &f,
            "memcached_slab_commands",
            &[("slab", &small.0), ("command", "get"), ("status", "hit")]
        ),
        Some(1.0)
    );

    // `slabs: false` reads `stats` only.
    let without = MemcachedPoller::new(&Settings {
        address: m.address(),
        slabs: false,
    });
    let f = without.poll().await.unwrap().families;
    assert!(value(&f, "memcached_current_items", &[]).is_some());
    assert!(
        !f.iter().any(|f| f.name.starts_with("memcached_slab_")),
        "{:?}",
        f.iter().map(|f| &f.name).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_malformed_slab_statistic_fails_the_poll_naming_it() {
    // A peer of the test's own answering all four commands (a real memcached cannot be
    // made to print a negative per-class count).
    let addr = answering(
        b"STAT uptime 10\r\nEND\r\nSTAT maxconns 1024\r\nEND\r\n\
STAT items:3:number -2\r\nEND\r\nSTAT 3:chunk_size 96\r\nEND\r\n",
    );
    let poller = MemcachedPoller::new(&Settings {
        address: addr,
        slabs: true,
    });
    let err = poller.poll().await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Protocol, "{err}");
    assert!(
        err.message.contains("stat items:3:number is \"-2\""),
        "{err}"
    );
}
