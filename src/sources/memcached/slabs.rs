//! Per-slab-class series from memcached's `stats items` and `stats slabs` replies, named as
//! prometheus/memcached_exporter names them (`memcached_slab_*{slab}`), so dashboards built on
//! that exporter keep working. The statistics and their meanings are memcached's
//! `doc/protocol.txt` ("Item statistics", "Slab statistics"); every one of them is an unsigned
//! integer there.

use std::collections::BTreeMap;

use super::parse::{ParseError, Stats};
use crate::model::{Family, Kind, Sample};

/// `stats items` and `stats slabs` regrouped per slab class: class id -> statistic -> value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Slabs {
    /// From `stats items`: `items:<class>:<stat>`.
    pub items: BTreeMap<u32, BTreeMap<String, u64>>,
    /// From `stats slabs`: `<class>:<stat>` (the totals `active_slabs` and `total_malloced`
    /// are left out: `stats` carries `total_malloced` already).
    pub slabs: BTreeMap<u32, BTreeMap<String, u64>>,
}

impl Slabs {
    /// Regroups both replies, failing on the first statistic whose value is not an unsigned
    /// integer or whose key is not `[items:]<class>:<stat>`, naming it.
    pub fn from_replies(items: &Stats, slabs: &Stats) -> Result<Slabs, ParseError> {
        let mut out = Slabs::default();
        for (key, value) in items.iter() {
            let rest = key.strip_prefix("items:").ok_or_else(|| unexpected(key))?;
            let (class, stat) = split(rest).ok_or_else(|| unexpected(key))?;
            out.items
                .entry(class)
                .or_default()
                .insert(stat.to_owned(), number(key, value)?);
        }
        for (key, value) in slabs.iter() {
            if key == "active_slabs" || key == "total_malloced" {
                number(key, value)?;
                continue;
            }
            let (class, stat) = split(key).ok_or_else(|| unexpected(key))?;
            out.slabs
                .entry(class)
                .or_default()
                .insert(stat.to_owned(), number(key, value)?);
        }
        Ok(out)
    }

    /// How many series [`Slabs::families`] makes (for the cost figures in the docs).
    pub fn series(&self) -> usize {
        self.families().iter().map(|f| f.samples.len()).sum()
    }

    /// The `memcached_slab_*` families. Counters that memcached_exporter exports without a
    /// `_total` suffix are gauges here, as `memcached_uptime_seconds` is, so that the encoder
    /// does not rename them.
    pub fn families(&self) -> Vec<Family> {
        use Kind::{Counter, Gauge};
        let mut out = Vec::new();
        // (stat in `stats items`, family, help, kind)
        const ITEMS: &[(&str, &str, &str, Kind)] = &[
            (
                "number",
                "memcached_slab_current_items",
                "Number of items currently stored in this slab class.",
                Gauge,
            ),
            (
                "age",
                "memcached_slab_items_age_seconds",
                "Age in seconds of the oldest item in this slab class.",
                Gauge,
            ),
            (
                "number_hot",
                "memcached_slab_hot_items",
                "Number of items in the HOT LRU of this slab class.",
                Gauge,
            ),
            (
                "number_warm",
                "memcached_slab_warm_items",
                "Number of items in the WARM LRU of this slab class.",
                Gauge,
            ),
            (
                "number_cold",
                "memcached_slab_cold_items",
                "Number of items in the COLD LRU of this slab class.",
                Gauge,
            ),
            (
                "number_temp",
                "memcached_slab_temporary_items",
                "Number of items in the TEMPORARY LRU of this slab class.",
                Gauge,
            ),
            (
                "age_hot",
                "memcached_slab_hot_age_seconds",
                "Age in seconds of the oldest item in the HOT LRU.",
                Gauge,
            ),
            (
                "age_warm",
                "memcached_slab_warm_age_seconds",
                "Age in seconds of the oldest item in the WARM LRU.",
                Gauge,
            ),
            (
                "evicted",
                "memcached_slab_items_evicted",
                "Items removed from this slab class to make room for new ones.",
                Counter,
            ),
            (
                "evicted_nonzero",
                "memcached_slab_items_evicted_nonzero",
                "Evicted items of this class that had an explicit expiry time.",
                Counter,
            ),
            (
                "evicted_time",
                "memcached_slab_items_evicted_time_seconds",
                "Seconds since the last access of the most recently evicted item of this class.",
                Gauge,
            ),
            (
                "evicted_unfetched",
                "memcached_slab_items_evicted_unfetched",
                "Items of this class evicted without ever being fetched.",
                Counter,
            ),
            (
                "expired_unfetched",
                "memcached_slab_items_expired_unfetched",
                "Items of this class that expired without ever being fetched.",
                Counter,
            ),
            (
                "outofmemory",
                "memcached_slab_items_outofmemory",
                "Times this class could not store an item for lack of memory.",
                Counter,
            ),
            (
                "tailrepairs",
                "memcached_slab_items_tailrepairs",
                "Times an item of this class with a leaked reference was reclaimed.",
                Counter,
            ),
            (
                "reclaimed",
                "memcached_slab_items_reclaimed",
                "Times an expired item's memory was reused for a new item of this class.",
                Counter,
            ),
            (
                "crawler_reclaimed",
                "memcached_slab_items_crawler_reclaimed",
                "Items of this class freed by the LRU crawler.",
                Counter,
            ),
            (
                "moves_to_cold",
                "memcached_slab_items_moves_to_cold",
                "Items of this class moved from HOT or WARM into COLD (a counter).",
                Gauge,
            ),
            (
                "moves_to_warm",
                "memcached_slab_items_moves_to_warm",
                "Items of this class moved from COLD into WARM (a counter).",
                Gauge,
            ),
            (
                "moves_within_lru",
                "memcached_slab_items_moves_within_lru",
                "Times an active item of this class was bumped within HOT or WARM (a counter).",
                Gauge,
            ),
        ];
        for &(stat, name, help, kind) in ITEMS {
            let mut f = Family::new(name, help, kind);
            for (class, stats) in &self.items {
                if let Some(&v) = stats.get(stat) {
                    f.push("slab", class.to_string(), v as f64);
                }
            }
            push_nonempty(&mut out, f);
        }
        let mut hits = Family::new(
            "memcached_slab_lru_hits",
            "get hits of this slab class by the LRU the item was in.",
            Counter,
        );
        for (class, stats) in &self.items {
            for (stat, lru) in [
                ("hits_to_hot", "hot"),
                ("hits_to_warm", "warm"),
                ("hits_to_cold", "cold"),
                ("hits_to_temp", "temporary"),
            ] {
                if let Some(&v) = stats.get(stat) {
                    hits.samples.push(labelled(
                        &[("slab", class.to_string()), ("lru", lru.to_owned())],
                        v,
                    ));
                }
            }
        }
        push_nonempty(&mut out, hits);

        const SLABS: &[(&str, &str, &str)] = &[
            (
                "chunk_size",
                "memcached_slab_chunk_size_bytes",
                "Bytes in each chunk of this slab class.",
            ),
            (
                "chunks_per_page",
                "memcached_slab_chunks_per_page",
                "Chunks in one page of this slab class.",
            ),
            (
                "total_pages",
                "memcached_slab_current_pages",
                "Pages allocated to this slab class.",
            ),
            (
                "total_chunks",
                "memcached_slab_current_chunks",
                "Chunks allocated to this slab class.",
            ),
            (
                "used_chunks",
                "memcached_slab_chunks_used",
                "Chunks of this class holding an item.",
            ),
            (
                "free_chunks",
                "memcached_slab_chunks_free",
                "Chunks of this class not holding an item.",
            ),
            (
                "free_chunks_end",
                "memcached_slab_chunks_free_end",
                "Free chunks at the end of the last page allocated to this class.",
            ),
        ];
        for &(stat, name, help) in SLABS {
            let mut f = Family::new(name, help, Gauge);
            for (class, stats) in &self.slabs {
                if let Some(&v) = stats.get(stat) {
                    f.push("slab", class.to_string(), v as f64);
                }
            }
            push_nonempty(&mut out, f);
        }
        // memcached 1.6 reports `mem_requested` in `stats items`, 1.4 and 1.5 in `stats slabs`.
        let mut requested = Family::new(
            "memcached_slab_mem_requested_bytes",
            "Bytes the items of this class take (their chunks may be larger).",
            Gauge,
        );
        let classes: std::collections::BTreeSet<u32> = self
            .items
            .keys()
            .chain(self.slabs.keys())
            .copied()
            .collect();
        for class in classes {
            let of = |m: &BTreeMap<u32, BTreeMap<String, u64>>| {
                m.get(&class).and_then(|s| s.get("mem_requested")).copied()
            };
            if let Some(v) = of(&self.items).or_else(|| of(&self.slabs)) {
                requested.push("slab", class.to_string(), v as f64);
            }
        }
        push_nonempty(&mut out, requested);
        let mut cmds = Family::new(
            "memcached_slab_commands",
            "Requests per slab class by command and status (memcached counts hits only per class).",
            Counter,
        );
        for (class, stats) in &self.slabs {
            let mut cmd = |command: &str, status: &str, v: Option<u64>| {
                if let Some(v) = v {
                    cmds.samples.push(labelled(
                        &[
                            ("slab", class.to_string()),
                            ("command", command.to_owned()),
                            ("status", status.to_owned()),
                        ],
                        v,
                    ));
                }
            };
            for c in ["get", "delete", "incr", "decr", "cas", "touch"] {
                cmd(c, "hit", stats.get(&format!("{c}_hits")).copied());
            }
            cmd("cas", "badval", stats.get("cas_badval").copied());
            // cmd_set counts cas operations too; memcached_exporter subtracts them.
            let set = stats.get("cmd_set").and_then(|s| {
                let cas = stats.get("cas_hits")? + stats.get("cas_badval")?;
                s.checked_sub(cas)
            });
            cmd("set", "hit", set);
        }
        push_nonempty(&mut out, cmds);
        out
    }
}

fn push_nonempty(out: &mut Vec<Family>, f: Family) {
    if !f.samples.is_empty() {
        out.push(f);
    }
}

fn labelled(labels: &[(&'static str, String)], v: u64) -> Sample {
    Sample {
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).into(), v.clone()))
            .collect(),
        value: v as f64,
    }
}

/// `<class>:<stat>` with a class id memcached uses (1..=63; any u32 is accepted).
fn split(key: &str) -> Option<(u32, &str)> {
    let (class, stat) = key.split_once(':')?;
    if class.is_empty() || !class.bytes().all(|b| b.is_ascii_digit()) || stat.is_empty() {
        return None;
    }
    Some((class.parse().ok()?, stat))
}

fn number(key: &str, value: &str) -> Result<u64, ParseError> {
    value.parse::<u64>().map_err(|_| ParseError::BadValue {
        field: key.to_owned(),
        value: value.chars().take(40).collect(),
        expected: "an unsigned 64-bit integer",
    })
}

fn unexpected(key: &str) -> ParseError {
    ParseError::Unexpected(format!("STAT {}", key.chars().take(60).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::find_value as value;

    // The shape of memcached 1.6.18's replies (Debian 12) after a few sets of small values;
    // trimmed to two classes and the statistics this module reads.
    const ITEMS: &str = "STAT items:1:number 3\r\nSTAT items:1:number_hot 0\r\n\
STAT items:1:number_warm 1\r\nSTAT items:1:number_cold 2\r\nSTAT items:1:age_hot 0\r\n\
STAT items:1:age_warm 4\r\nSTAT items:1:age 60\r\nSTAT items:1:mem_requested 210\r\n\
STAT items:1:evicted 5\r\nSTAT items:1:evicted_nonzero 0\r\nSTAT items:1:evicted_time 0\r\n\
STAT items:1:outofmemory 0\r\nSTAT items:1:tailrepairs 0\r\nSTAT items:1:reclaimed 0\r\n\
STAT items:1:expired_unfetched 0\r\nSTAT items:1:evicted_unfetched 0\r\n\
STAT items:1:evicted_active 0\r\nSTAT items:1:crawler_reclaimed 0\r\n\
STAT items:1:crawler_items_checked 4\r\nSTAT items:1:lrutail_reflocked 0\r\n\
STAT items:1:moves_to_cold 3\r\nSTAT items:1:moves_to_warm 1\r\nSTAT items:1:moves_within_lru 0\r\n\
STAT items:1:direct_reclaims 0\r\nSTAT items:1:hits_to_hot 0\r\nSTAT items:1:hits_to_warm 1\r\n\
STAT items:1:hits_to_cold 2\r\nSTAT items:1:hits_to_temp 0\r\nSTAT items:12:number 1\r\n\
STAT items:12:age 7\r\nEND\r\n";
    const SLABS: &str = "STAT 1:chunk_size 96\r\nSTAT 1:chunks_per_page 10922\r\n\
STAT 1:total_pages 1\r\nSTAT 1:total_chunks 10922\r\nSTAT 1:used_chunks 3\r\n\
STAT 1:free_chunks 10919\r\nSTAT 1:free_chunks_end 0\r\nSTAT 1:get_hits 3\r\n\
STAT 1:cmd_set 6\r\nSTAT 1:delete_hits 0\r\nSTAT 1:incr_hits 0\r\nSTAT 1:decr_hits 0\r\n\
STAT 1:cas_hits 1\r\nSTAT 1:cas_badval 1\r\nSTAT 1:touch_hits 0\r\nSTAT 12:chunk_size 1184\r\n\
STAT 12:total_pages 1\r\nSTAT active_slabs 2\r\nSTAT total_malloced 2097152\r\nEND\r\n";

    fn slabs() -> Slabs {
        Slabs::from_replies(&Stats::parse(ITEMS).unwrap(), &Stats::parse(SLABS).unwrap()).unwrap()
    }

    #[test]
    fn maps_items_and_slabs_per_class_like_memcached_exporter() {
        let f = slabs().families();
        let v = |name: &str, labels: &[(&str, &str)]| value(&f, name, labels);
        assert_eq!(
            v("memcached_slab_current_items", &[("slab", "1")]),
            Some(3.0)
        );
        assert_eq!(
            v("memcached_slab_current_items", &[("slab", "12")]),
            Some(1.0)
        );
        assert_eq!(
            v("memcached_slab_items_age_seconds", &[("slab", "1")]),
            Some(60.0)
        );
        assert_eq!(
            v("memcached_slab_items_evicted", &[("slab", "1")]),
            Some(5.0)
        );
        assert_eq!(
            v("memcached_slab_lru_hits", &[("slab", "1"), ("lru", "cold")]),
            Some(2.0)
        );
        assert_eq!(
            v("memcached_slab_chunk_size_bytes", &[("slab", "12")]),
            Some(1184.0)
        );
        assert_eq!(
            v("memcached_slab_current_pages", &[("slab", "1")]),
            Some(1.0)
        );
        assert_eq!(v("memcached_slab_chunks_used", &[("slab", "1")]), Some(3.0));
        assert_eq!(
            v("memcached_slab_mem_requested_bytes", &[("slab", "1")]),
            Some(210.0)
        );
        // cmd_set 6 holds the cas hit and the cas badval.
        let cmd = |c: &str, s: &str| {
            v(
                "memcached_slab_commands",
                &[("slab", "1"), ("command", c), ("status", s)],
            )
        };
        assert_eq!(cmd("set", "hit"), Some(4.0));
        assert_eq!(cmd("get", "hit"), Some(3.0));
        assert_eq!(cmd("cas", "badval"), Some(1.0));
        // Class 12 has no per-class counters in this reply: no series rather than a zero.
        assert_eq!(
            v(
                "memcached_slab_commands",
                &[("slab", "12"), ("command", "get")]
            ),
            None
        );
        // No family is empty, none is named twice.
        let mut names: Vec<_> = f.iter().map(|f| f.name.to_string()).collect();
        assert!(f.iter().all(|f| !f.samples.is_empty()));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), f.len());
    }

    #[test]
    fn an_empty_server_has_no_slab_series() {
        let s = Slabs::from_replies(
            &Stats::parse("END\r\n").unwrap(),
            &Stats::parse("STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n").unwrap(),
        )
        .unwrap();
        assert!(s.families().is_empty());
        assert_eq!(s.series(), 0);
    }

    #[test]
    fn a_malformed_statistic_is_an_error_naming_it() {
        let empty = Stats::parse("END\r\n").unwrap();
        for (items, slabs, field) in [
            (
                "STAT items:1:number -1\r\nEND\r\n",
                "END\r\n",
                "items:1:number",
            ),
            (
                "END\r\n",
                "STAT 3:used_chunks 18446744073709551616\r\nEND\r\n",
                "3:used_chunks",
            ),
            (
                "END\r\n",
                "STAT active_slabs many\r\nEND\r\n",
                "active_slabs",
            ),
        ] {
            let err =
                Slabs::from_replies(&Stats::parse(items).unwrap(), &Stats::parse(slabs).unwrap())
                    .unwrap_err();
            match err {
                ParseError::BadValue { field: f, .. } => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        for (items, slabs) in [
            ("STAT number 1\r\nEND\r\n", "END\r\n"),
            ("STAT items:x:number 1\r\nEND\r\n", "END\r\n"),
            ("END\r\n", "STAT chunk_size 96\r\nEND\r\n"),
            ("END\r\n", "STAT 1: 96\r\nEND\r\n"),
        ] {
            let items = Stats::parse(items).unwrap();
            let slabs = Stats::parse(slabs).unwrap();
            assert!(
                matches!(
                    Slabs::from_replies(&items, &slabs),
                    Err(ParseError::Unexpected(_))
                ),
                "{items:?} {slabs:?}"
            );
        }
        assert_eq!(Slabs::from_replies(&empty, &empty), Ok(Slabs::default()));
    }
}
