//! Pure parsing of memcached's text-protocol `stats` replies and their mapping to metric
//! families named as prometheus/memcached_exporter names them (`memcached_*`), so existing
//! dashboards keep working. Names and the `commands_total{command,status}` breakdown follow
//! memcached_exporter's `pkg/exporter/exporter.go`; the counter meanings are memcached's
//! `doc/protocol.txt`.

use std::ops::Range;

use crate::model::{Family, Kind, Sample};

/// One `stats` (or `stats settings`, `stats items`, `stats slabs`) reply: `STAT <name> <value>`
/// lines up to `END`.
///
/// It keeps the reply's text as one string and the places of each name and value in it,
/// sorted by name, rather than a map of owned strings: a `stats` reply has about 90 lines and
/// a poll reads a dozen of them, so the map's two allocations per line were most of what a
/// poll of a 1,000-target estate cost (bench/scale, measured with callgrind).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    text: String,
    /// (name, value) places in `text`, sorted by name; of a name sent twice, the later one
    /// sorts last and wins, as it would in a map.
    entries: Vec<(Range<u32>, Range<u32>)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("server replied {0:?}")]
    ServerError(String),
    #[error("unexpected line {0:?}")]
    Unexpected(String),
    #[error("reply ended before END")]
    Truncated,
    /// A statistic headroom reads as a number that is not one of the type memcached's
    /// `doc/protocol.txt` gives it (an unsigned integer, or `seconds.microseconds`).
    #[error("stat {field} is {value:?}, not {expected}")]
    BadValue {
        field: String,
        value: String,
        expected: &'static str,
    },
}

/// The statistics read as numbers: unsigned integers in memcached's `doc/protocol.txt`
/// (`32u`, `64u`, or a boolean 0/1). A negative, fractional, overflowing or non-numeric value
/// of one of them makes the reply malformed, never a silently wrong series.
const UNSIGNED: &[&str] = &[
    "uptime",
    "time",
    "bytes",
    "limit_maxbytes",
    "curr_items",
    "total_items",
    "bytes_read",
    "bytes_written",
    "curr_connections",
    "total_connections",
    "rejected_connections",
    "conn_yields",
    "listen_disabled_num",
    "evictions",
    "reclaimed",
    "store_too_large",
    "store_no_memory",
    "direct_reclaims",
    "total_malloced",
    "accepting_conns",
    "threads",
    "get_hits",
    "get_misses",
    "delete_hits",
    "delete_misses",
    "incr_hits",
    "incr_misses",
    "decr_hits",
    "decr_misses",
    "touch_hits",
    "touch_misses",
    "cas_hits",
    "cas_misses",
    "cas_badval",
    "cmd_flush",
    "cmd_set",
];

/// The statistics that are times: `seconds.microseconds` (`seconds:microseconds` on older
/// servers).
const TIMEVALS: &[&str] = &["rusage_user", "rusage_system"];

impl Stats {
    /// Parses one reply. `text` must hold the whole reply including its `END` line; anything
    /// after `END` is ignored.
    pub fn parse(text: &str) -> Result<Stats, ParseError> {
        // The text up to END is all that is kept; the offsets fit u32 because a reply is
        // capped far below 4 GiB by the reader, and a longer one is refused here.
        if u32::try_from(text.len()).is_err() {
            return Err(ParseError::Unexpected("a reply longer than 4 GiB".into()));
        }
        let mut entries = Vec::with_capacity(text.len() / 24);
        let mut at = 0usize;
        for raw in text.split_inclusive('\n') {
            let start = at;
            at += raw.len();
            let line = raw.strip_suffix('\n').unwrap_or(raw);
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line == "END" {
                let mut stats = Stats {
                    text: text[..at].to_owned(),
                    entries,
                };
                let t = &stats.text;
                stats
                    .entries
                    .sort_by(|a, b| t[span(&a.0)].cmp(&t[span(&b.0)]));
                return Ok(stats);
            }
            if line.is_empty() {
                continue;
            }
            if line == "ERROR"
                || line.starts_with("SERVER_ERROR")
                || line.starts_with("CLIENT_ERROR")
            {
                return Err(ParseError::ServerError(line.to_owned()));
            }
            let Some(rest) = line.strip_prefix("STAT ") else {
                return Err(ParseError::Unexpected(line.chars().take(80).collect()));
            };
            let Some((k, v)) = rest.split_once(' ') else {
                return Err(ParseError::Unexpected(line.chars().take(80).collect()));
            };
            let k0 = start + 5;
            let v0 = k0 + k.len() + 1;
            entries.push((
                k0 as u32..(k0 + k.len()) as u32,
                v0 as u32..(v0 + v.len()) as u32,
            ));
        }
        Err(ParseError::Truncated)
    }

    /// The value of statistic `key`, as sent.
    pub fn get(&self, key: &str) -> Option<&str> {
        let t = &self.text;
        // The last of the entries named `key` (a later line wins).
        let end = self.entries.partition_point(|(k, _)| &t[span(k)] <= key);
        let (k, v) = self.entries[..end].last()?;
        (&t[span(k)] == key).then(|| &t[span(v)])
    }

    /// Every (name, value), sorted by name; a name sent twice appears once, with its later
    /// value.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let t = &self.text;
        let n = self.entries.len();
        self.entries
            .iter()
            .enumerate()
            .filter(move |(i, (k, _))| *i + 1 == n || t[span(k)] != t[span(&self.entries[i + 1].0)])
            .map(move |(_, (k, v))| (&t[span(k)], &t[span(v)]))
    }

    /// Fails on the first statistic of a `stats` reply that headroom reads as a number whose
    /// value is not a number of its type, naming it.
    pub fn validate(&self) -> Result<(), ParseError> {
        self.validate_only(UNSIGNED, TIMEVALS)
    }

    /// The same for a `stats settings` reply, of which headroom reads `maxconns` only (its
    /// other settings are words as well as numbers: `evictions on`).
    pub fn validate_settings(&self) -> Result<(), ParseError> {
        self.validate_only(&["maxconns"], &[])
    }

    fn validate_only(&self, unsigned: &[&str], timevals: &[&str]) -> Result<(), ParseError> {
        let bad = |field: &str, value: &str, expected| ParseError::BadValue {
            field: field.to_owned(),
            value: value.chars().take(40).collect(),
            expected,
        };
        for key in unsigned {
            if let Some(v) = self.get(key)
                && v.parse::<u64>().is_err()
            {
                return Err(bad(key, v, "an unsigned 64-bit integer"));
            }
        }
        for key in timevals {
            if let Some(v) = self.get(key)
                && parse_timeval(v).is_none()
            {
                return Err(bad(key, v, "seconds.microseconds"));
            }
        }
        Ok(())
    }

    /// An unsigned statistic (see [`Stats::validate`]); `None` when absent or not one.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse::<u64>().ok().map(|n| n as f64)
    }

    /// `rusage_user` and `rusage_system` are `seconds.microseconds`; older servers print
    /// `seconds:microseconds`.
    fn timeval(&self, key: &str) -> Option<f64> {
        parse_timeval(self.get(key)?)
    }
}

fn span(r: &Range<u32>) -> Range<usize> {
    r.start as usize..r.end as usize
}

fn parse_timeval(v: &str) -> Option<f64> {
    let (s, us) = v.split_once(['.', ':'])?;
    let digits = |x: &str| !x.is_empty() && x.len() <= 20 && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(s) || !digits(us) {
        return None;
    }
    Some(s.parse::<u64>().ok()? as f64 + us.parse::<u64>().ok()? as f64 / 1e6)
}

/// Counters carried from one poll to the next, for the per-poll hit ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Previous {
    pub uptime: f64,
    pub get_hits: f64,
    pub get_misses: f64,
}

impl Previous {
    pub fn of(stats: &Stats) -> Option<Previous> {
        Some(Previous {
            uptime: stats.num("uptime")?,
            get_hits: stats.num("get_hits")?,
            get_misses: stats.num("get_misses")?,
        })
    }
}

/// Builds all families of one poll. `rtt` is the `stats` round-trip time in seconds.
pub fn families(
    stats: &Stats,
    settings: Option<&Stats>,
    rtt: f64,
    prev: Option<Previous>,
) -> Vec<Family> {
    let mut out = vec![Family::single(
        "memcached_up",
        "Could the memcached server be reached.",
        Gauge,
        1.0,
    )];
    let mut simple = |key: &str, name: &'static str, help: &'static str, kind: Kind| {
        if let Some(v) = stats.num(key) {
            out.push(Family::single(name, help, kind, v));
        }
    };
    use Kind::{Counter, Gauge};
    simple(
        "uptime",
        "memcached_uptime_seconds",
        "Number of seconds since the server started.",
        // memcached_exporter types it a counter without the `_total` suffix; prometheus-client
        // would append one, so it stays a gauge here to keep the name dashboards use.
        Gauge,
    );
    simple(
        "time",
        "memcached_time_seconds",
        "Current UNIX time according to the server.",
        Gauge,
    );
    simple(
        "bytes",
        "memcached_current_bytes",
        "Current number of bytes used to store items.",
        Gauge,
    );
    simple(
        "limit_maxbytes",
        "memcached_limit_bytes",
        "Number of bytes this server is allowed to use for storage.",
        Gauge,
    );
    simple(
        "curr_items",
        "memcached_current_items",
        "Current number of items stored by this instance.",
        Gauge,
    );
    simple(
        "total_items",
        "memcached_items",
        "Total number of items stored during the life of this instance.",
        Counter,
    );
    simple(
        "bytes_read",
        "memcached_read_bytes",
        "Total number of bytes read by this server from network.",
        Counter,
    );
    simple(
        "bytes_written",
        "memcached_written_bytes",
        "Total number of bytes sent by this server to network.",
        Counter,
    );
    simple(
        "curr_connections",
        "memcached_current_connections",
        "Current number of open connections.",
        Gauge,
    );
    simple(
        "total_connections",
        "memcached_connections",
        "Total number of connections opened since the server started running.",
        Counter,
    );
    simple(
        "rejected_connections",
        "memcached_connections_rejected",
        "Total number of connections rejected due to hitting the -c limit in maxconns_fast mode.",
        Counter,
    );
    simple(
        "conn_yields",
        "memcached_connections_yielded",
        "Total number of connections yielded running due to hitting the -R limit.",
        Counter,
    );
    simple(
        "listen_disabled_num",
        "memcached_connections_listener_disabled",
        "Number of times that memcached has hit its connections limit and disabled its listener.",
        Counter,
    );
    simple(
        "evictions",
        "memcached_items_evicted",
        "Total number of valid items removed from cache to free memory for new items.",
        Counter,
    );
    simple(
        "reclaimed",
        "memcached_items_reclaimed",
        "Total number of times an entry was stored using memory from an expired entry.",
        Counter,
    );
    simple(
        "store_too_large",
        "memcached_item_too_large",
        "The number of times an item exceeded the max-item-size when being stored.",
        Counter,
    );
    simple(
        "store_no_memory",
        "memcached_item_no_memory",
        "The number of times an item could not be stored due to no more memory.",
        Counter,
    );
    simple(
        "direct_reclaims",
        "memcached_direct_reclaims",
        "Times worker threads had to directly reclaim or evict items.",
        Counter,
    );
    simple(
        "total_malloced",
        "memcached_malloced_bytes",
        "Number of bytes of memory allocated to slab pages.",
        Gauge,
    );
    simple(
        "accepting_conns",
        "memcached_accepting_connections",
        "The server is accepting new connections.",
        Gauge,
    );
    simple(
        "threads",
        "memcached_threads",
        "Number of worker threads requested.",
        Gauge,
    );

    for (key, name, help) in [
        (
            "rusage_user",
            "memcached_process_user_cpu_seconds",
            "Accumulated user time for this process.",
        ),
        (
            "rusage_system",
            "memcached_process_system_cpu_seconds",
            "Accumulated system time for this process.",
        ),
    ] {
        if let Some(v) = stats.timeval(key) {
            out.push(Family::single(name, help, Counter, v));
        }
    }
    if let Some(v) = stats.get("version") {
        let mut f = Family::new(
            "memcached_version",
            "The version of this memcached server.",
            Gauge,
        );
        f.push("version", v.to_owned(), 1.0);
        out.push(f);
    }

    let mut cmds = Family::new(
        "memcached_commands",
        "Total number of all requests broken down by command (get, set, etc.) and status.",
        Counter,
    );
    let mut cmd = |command: &str, status: &str, v: Option<f64>| {
        if let Some(v) = v {
            cmds.samples.push(Sample {
                labels: vec![
                    ("command".into(), command.to_owned()),
                    ("status".into(), status.to_owned()),
                ],
                value: v,
            });
        }
    };
    for c in ["get", "delete", "incr", "decr", "touch"] {
        cmd(c, "hit", stats.num(&format!("{c}_hits")));
        cmd(c, "miss", stats.num(&format!("{c}_misses")));
    }
    cmd("cas", "hit", stats.num("cas_hits"));
    cmd("cas", "miss", stats.num("cas_misses"));
    cmd("cas", "badval", stats.num("cas_badval"));
    cmd("flush", "hit", stats.num("cmd_flush"));
    // memcached counts cas operations in cmd_set as well; memcached_exporter subtracts them.
    let cas = ["cas_hits", "cas_misses", "cas_badval"]
        .iter()
        .map(|k| stats.num(k))
        .sum::<Option<f64>>();
    cmd(
        "set",
        "hit",
        stats.num("cmd_set").zip(cas).map(|(s, c)| s - c),
    );
    out.push(cmds);

    if let Some(max) = settings.and_then(|s| s.num("maxconns")) {
        out.push(Family::single(
            "memcached_max_connections",
            "Maximum number of clients allowed.",
            Gauge,
            max,
        ));
    }

    // headroom's own derived series (for the MEMCACHE_HITRATE and MEMCACHE_RESPONSE checks).
    out.push(Family::single(
        "headroom_memcached_stats_rtt_seconds",
        "Round-trip time of the `stats` command in the latest poll.",
        Gauge,
        rtt,
    ));
    let mut ratio = Family::new(
        "headroom_memcached_hit_ratio",
        "get hits / (get hits + get misses): since the server started, and over the last poll interval. Absent when there were no gets.",
        Gauge,
    );
    if let (Some(h), Some(m)) = (stats.num("get_hits"), stats.num("get_misses")) {
        if h + m > 0.0 {
            ratio.push("window", "since_start", h / (h + m));
        }
        if let (Some(p), Some(up)) = (prev, stats.num("uptime")) {
            // A restart (uptime went down) or a counter that went back makes the window
            // meaningless; skip it rather than report a ratio of garbage.
            let (dh, dm) = (h - p.get_hits, m - p.get_misses);
            if up >= p.uptime && dh >= 0.0 && dm >= 0.0 && dh + dm > 0.0 {
                ratio.push("window", "last_poll", dh / (dh + dm));
            }
        }
    }
    if !ratio.samples.is_empty() {
        out.push(ratio);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::find_value as value;

    // Captured from memcached 1.6.18 (Debian 12) after 3 sets, 2 hits and 1 miss; trimmed.
    const STATS: &str = "STAT pid 4242\r\nSTAT uptime 120\r\nSTAT time 1764237000\r\n\
STAT version 1.6.18\r\nSTAT rusage_user 0.012345\r\nSTAT rusage_system 0.500001\r\n\
STAT curr_connections 2\r\nSTAT total_connections 7\r\nSTAT rejected_connections 0\r\n\
STAT cmd_get 3\r\nSTAT cmd_set 4\r\nSTAT cmd_flush 0\r\nSTAT get_hits 2\r\nSTAT get_misses 1\r\n\
STAT delete_misses 0\r\nSTAT delete_hits 0\r\nSTAT incr_misses 0\r\nSTAT incr_hits 0\r\n\
STAT decr_misses 0\r\nSTAT decr_hits 0\r\nSTAT cas_misses 0\r\nSTAT cas_hits 1\r\nSTAT cas_badval 0\r\n\
STAT touch_hits 0\r\nSTAT touch_misses 0\r\nSTAT bytes_read 300\r\nSTAT bytes_written 200\r\n\
STAT limit_maxbytes 67108864\r\nSTAT threads 4\r\nSTAT bytes 210\r\nSTAT curr_items 3\r\n\
STAT total_items 4\r\nSTAT evictions 0\r\nSTAT reclaimed 0\r\nEND\r\n";

    #[test]
    fn parses_and_maps_like_memcached_exporter() {
        let s = Stats::parse(STATS).unwrap();
        let f = families(&s, None, 0.0002, None);
        assert_eq!(value(&f, "memcached_up", &[]), Some(1.0));
        assert_eq!(
            value(
                &f,
                "memcached_commands",
                &[("command", "get"), ("status", "hit")]
            ),
            Some(2.0)
        );
        assert_eq!(
            value(
                &f,
                "memcached_commands",
                &[("command", "get"), ("status", "miss")]
            ),
            Some(1.0)
        );
        // cmd_set 4 includes the one cas.
        assert_eq!(
            value(
                &f,
                "memcached_commands",
                &[("command", "set"), ("status", "hit")]
            ),
            Some(3.0)
        );
        assert_eq!(value(&f, "memcached_limit_bytes", &[]), Some(67108864.0));
        assert_eq!(
            value(&f, "memcached_process_system_cpu_seconds", &[]),
            Some(0.500001)
        );
        assert_eq!(
            value(&f, "memcached_version", &[("version", "1.6.18")]),
            Some(1.0)
        );
        assert_eq!(
            value(
                &f,
                "headroom_memcached_hit_ratio",
                &[("window", "since_start")]
            ),
            Some(2.0 / 3.0)
        );
        assert_eq!(
            value(
                &f,
                "headroom_memcached_hit_ratio",
                &[("window", "last_poll")]
            ),
            None
        );
    }

    #[test]
    fn window_ratio_uses_deltas_and_skips_restarts() {
        let s = Stats::parse(STATS).unwrap();
        let prev = Previous {
            uptime: 60.0,
            get_hits: 1.0,
            get_misses: 0.0,
        };
        let f = families(&s, None, 0.0, Some(prev));
        assert_eq!(
            value(
                &f,
                "headroom_memcached_hit_ratio",
                &[("window", "last_poll")]
            ),
            Some(0.5)
        );
        let restarted = Previous {
            uptime: 500.0,
            ..prev
        };
        let f = families(&s, None, 0.0, Some(restarted));
        assert_eq!(
            value(
                &f,
                "headroom_memcached_hit_ratio",
                &[("window", "last_poll")]
            ),
            None
        );
    }

    #[test]
    fn errors_are_reported() {
        assert_eq!(
            Stats::parse("ERROR\r\n"),
            Err(ParseError::ServerError("ERROR".into()))
        );
        assert_eq!(Stats::parse("STAT a 1\r\n"), Err(ParseError::Truncated));
        assert!(matches!(
            Stats::parse("HELLO\r\nEND\r\n"),
            Err(ParseError::Unexpected(_))
        ));
        let settings = Stats::parse("STAT maxconns 1024\r\nEND\r\n").unwrap();
        assert_eq!(settings.num("maxconns"), Some(1024.0));
    }

    #[test]
    fn a_malformed_number_is_an_error_naming_the_stat() {
        let reply = |line: &str| format!("STAT pid 1\r\nSTAT uptime 10\r\n{line}\r\nEND\r\n");
        for (line, field) in [
            ("STAT get_hits -5", "get_hits"),
            ("STAT get_misses 18446744073709551616", "get_misses"), // 2^64
            ("STAT curr_connections many", "curr_connections"),
            ("STAT evictions 1e3", "evictions"),
            ("STAT bytes nan", "bytes"),
            ("STAT bytes 12.5", "bytes"),
            ("STAT rusage_user -1.5", "rusage_user"),
            ("STAT rusage_system 1.x", "rusage_system"),
        ] {
            let stats = Stats::parse(&reply(line)).unwrap();
            match stats.validate() {
                Err(ParseError::BadValue { field: f, .. }) => assert_eq!(f, field, "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
        let err = Stats::parse(&reply("STAT get_hits -5"))
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "stat get_hits is \"-5\", not an unsigned 64-bit integer"
        );
        // What memcached prints passes, unknown and textual stats are not judged.
        let ok = Stats::parse(&reply(
            "STAT rusage_user 0.123456\r\nSTAT rusage_system 1:5\r\nSTAT version 1.6.18\r\nSTAT libevent 2.1.12-stable\r\nSTAT get_hits 18446744073709551615",
        ))
        .unwrap();
        assert_eq!(ok.validate(), Ok(()));
        // `stats settings` has words among its numbers; only maxconns is judged.
        let settings = Stats::parse("STAT maxconns 1024\r\nSTAT evictions on\r\nEND\r\n").unwrap();
        assert_eq!(settings.validate_settings(), Ok(()));
        let settings = Stats::parse("STAT maxconns -1\r\nEND\r\n").unwrap();
        assert!(settings.validate_settings().is_err());
    }
}
