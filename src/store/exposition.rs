//! The `/metrics` text: the registry's own metrics, then the snapshot store's families, each
//! exposition block (all targets' families of one name) encoded once and copied from the last
//! text while none of its families changes.
//!
//! A poll replaces a target's whole snapshot, but most of what it returns reads as before: a
//! MariaDB polled every 100 ms and scraped after each poll gives some 900 blocks, of which
//! about 18 differ from one scrape to the next (the counters of what ran meanwhile); the
//! variables, the idle counters and the info series do not. Encoding is most of a scrape's
//! cost (number formatting and label escaping), so the last text of each format is kept with
//! where each block is in it and the versions of the families it was made from (see
//! [`SnapshotStore::versioned`]); a block is made again only when one of them differs. The
//! blocks are in name order, so a scrape walks the kept blocks and the current ones side by
//! side, copies runs of unchanged blocks from the last text in one go, and drops what no
//! current block uses in the same pass.
//!
//! The output is byte for byte what encoding the store as a registry collector gives (tests
//! below): a changed block is encoded by `prometheus_client` through a registry of that block
//! alone, and the texts are joined in the order the collector writes them.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, prometheus_text, text};
use prometheus_client::registry::Registry;

use super::snapshot::{SnapshotStore, TargetSnapshot, encode_group};

/// The exposition of one registry and one store, with the kept text of each format.
#[derive(Debug)]
pub struct Exposition {
    registry: Registry,
    store: Arc<SnapshotStore>,
    /// By format: `[Prometheus text 0.0.4, OpenMetrics]`. Held for a whole encode, so two
    /// scrapes of one format take turns (the server runs one render per format at a time
    /// anyway).
    kept: [Mutex<Kept>; 2],
}

/// The last text of one format, and where each of its blocks is in it.
#[derive(Debug, Default)]
struct Kept {
    text: Arc<String>,
    /// The text before, to write the next one into once nothing else holds it (the server
    /// has sent it): its memory is in place already, where a new one of this size comes
    /// fresh from the system and faults in page by page.
    spare: Arc<String>,
    /// In name order.
    blocks: Vec<Block>,
}

/// One exposition block of the kept text: its name, the versions of the families it was
/// encoded from (in the order they appear in it) and where it is in the text.
#[derive(Debug)]
struct Block {
    name: Box<str>,
    versions: Vec<u64>,
    at: std::ops::Range<usize>,
}

/// The families of one block, for a registry of that block alone: `prometheus_client`
/// encodes only what is registered, and a registered collector must own what it encodes.
#[derive(Debug)]
struct OneBlock {
    /// Each snapshot with the index of the family.
    members: Vec<(Arc<TargetSnapshot>, usize)>,
}

impl Collector for OneBlock {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let members: Vec<_> = self
            .members
            .iter()
            .map(|(snap, i)| {
                let fam = &snap.families[*i];
                (fam.name.as_ref(), fam, snap.target.as_ref())
            })
            .collect();
        encode_group(&mut encoder, &members, &mut Vec::new())
    }
}

/// A family of the store, for sorting: its name, its snapshot's index and its own.
type Member<'a> = (&'a str, usize, usize);

impl Exposition {
    /// `registry` holds everything but the store's families (the daemon's own metrics).
    pub fn new(registry: Registry, store: Arc<SnapshotStore>) -> Self {
        Exposition {
            registry,
            store,
            kept: Default::default(),
        }
    }

    /// [`Exposition::encode_shared`] appended to `out`, for the tests (the server sends the
    /// shared text as it is).
    #[cfg(test)]
    pub fn encode(&self, out: &mut String, openmetrics: bool) -> Result<usize, std::fmt::Error> {
        let (text, fresh) = self.encode_shared(openmetrics)?;
        out.push_str(&text);
        Ok(fresh)
    }

    /// The whole exposition, in OpenMetrics (ending with `# EOF`) or in the Prometheus text
    /// format 0.0.4, and how many of the store's blocks were encoded afresh, the rest being
    /// copied from the last text. The text is the one the next encode of this format copies
    /// its unchanged blocks from, shared rather than copied: the server sends it as it is.
    ///
    /// Blocks are copied from the last text, not each from a string of its own: runs of
    /// unchanged blocks sit side by side in it and go over in one copy, read in order,
    /// where a thousand strings of 200 bytes each, apart in memory and not in the cache
    /// after a scrape interval, made copying the dearest part of a render
    /// (docs/performance.md).
    pub fn encode_shared(
        &self,
        openmetrics: bool,
    ) -> Result<(Arc<String>, usize), std::fmt::Error> {
        let encode = if openmetrics {
            text::encode_registry::<String>
        } else {
            prometheus_text::encode::<String>
        };
        let mut kept = self.kept[usize::from(openmetrics)].lock();
        // Room for the last length and a margin: a text a few bytes longer than the last
        // (a counter gaining a digit) would otherwise be copied whole to grow at its end.
        let last = kept.text.len();
        let mut out = match Arc::try_unwrap(std::mem::take(&mut kept.spare)) {
            Ok(mut spare) => {
                spare.clear();
                spare
            }
            Err(_) => String::new(),
        };
        out.reserve(last + last / 16);
        let done = encode(&mut out, &self.registry)
            .and_then(|()| self.encode_store(&mut out, &mut kept, encode))
            .and_then(|fresh| {
                if openmetrics {
                    text::encode_eof(&mut out)?;
                }
                Ok(fresh)
            });
        match done {
            Ok(fresh) => {
                kept.spare = std::mem::replace(&mut kept.text, Arc::new(out));
                Ok((kept.text.clone(), fresh))
            }
            Err(e) => {
                // The blocks may say where they are in the text that failed: none is kept.
                *kept = Kept::default();
                Err(e)
            }
        }
    }

    fn encode_store(
        &self,
        out: &mut String,
        kept: &mut Kept,
        encode: fn(&mut String, &Registry) -> Result<(), std::fmt::Error>,
    ) -> Result<usize, std::fmt::Error> {
        let snaps = self.store.versioned();
        // The same grouping as the store's collector: by name, a stable sort, so each name's
        // families stay in the store's order of source and target. Each snapshot's families
        // come in name order already, and the sort merges those runs.
        let mut all: Vec<Member<'_>> =
            Vec::with_capacity(snaps.iter().map(|v| v.order.len()).sum());
        all.extend(snaps.iter().enumerate().flat_map(|(s, v)| {
            v.order.iter().map(move |&f| {
                let f = f as usize;
                (v.snap.families[f].name.as_ref(), s, f)
            })
        }));
        all.sort_by(|a, b| a.0.cmp(b.0));

        let last = kept.text.clone();
        let was = std::mem::replace(&mut kept.blocks, Vec::with_capacity(all.len()));
        let mut old = was.into_iter().peekable();
        // The run of the last text still to be copied: unchanged blocks that were side by
        // side in it are copied together.
        let mut run = 0..0;
        let mut fresh = 0;
        for members in all.chunk_by(|a, b| a.0 == b.0) {
            let name = members[0].0;
            let versions = members.iter().map(|&(_, s, f)| snaps[s].versions[f]);
            // Both lists are in name order: what sorts before this name is gone.
            while old.next_if(|b| *b.name < *name).is_some() {}
            let block = match old.next_if(|b| *b.name == *name) {
                Some(mut b) if b.versions.iter().copied().eq(versions.clone()) => {
                    if b.at.start != run.end {
                        out.push_str(&last[run]);
                        run = b.at.start..b.at.start;
                    }
                    run.end = b.at.end;
                    let at = out.len() + run.len() - b.at.len();
                    b.at = at..at + b.at.len();
                    b
                }
                reuse => {
                    fresh += 1;
                    out.push_str(&last[std::mem::replace(&mut run, 0..0)]);
                    let mut b = reuse.unwrap_or_else(|| Block {
                        name: name.into(),
                        versions: Vec::new(),
                        at: 0..0,
                    });
                    b.versions.clear();
                    b.versions.extend(versions);
                    let mut registry = Registry::default();
                    registry.register_collector(Box::new(OneBlock {
                        members: members
                            .iter()
                            .map(|&(_, s, f)| (snaps[s].snap.clone(), f))
                            .collect(),
                    }));
                    let start = out.len();
                    encode(out, &registry)?;
                    b.at = start..out.len();
                    b
                }
            };
            kept.blocks.push(block);
        }
        out.push_str(&last[run]);
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::SystemTime;

    use crate::model::{ErrorKind, Family, Kind, PollError, Sample, SourceKind};

    const MEMCACHED: SourceKind = SourceKind::new("memcached", "memcached_up");
    const MYSQL: SourceKind = SourceKind::new("mysql", "mysql_up");

    fn snap(source: SourceKind, target: &str, families: Vec<Family>) -> TargetSnapshot {
        TargetSnapshot {
            source,
            target: Arc::from(target),
            families,
            taken_at: SystemTime::now(),
            error: None,
        }
    }

    /// Families of every kind, with labels that need escaping and values that format oddly;
    /// `n` changes the values of some.
    fn families(n: f64) -> Vec<Family> {
        let mut cmds = Family::new("mysql_global_status_commands", "Commands.", Kind::Counter);
        for (i, c) in ["select", "insert", "show_status"].iter().enumerate() {
            cmds.push("command", *c, if i == 2 { n } else { 7.0 });
        }
        let mut info = Family::new("mysql_version", "Version \"x\"\\y\nz.", Kind::Info);
        info.push("version", "10.11\"\\\n", 1.0);
        let mut h = Family::new("d_seconds", "Durations.", Kind::Histogram);
        for (le, c) in [("0.1", 1.0), ("1", 3.0 + n), ("+Inf", 4.0 + n)] {
            h.samples.push(Sample {
                labels: vec![("method".into(), "GET".into()), ("le".into(), le.into())],
                value: c,
            });
        }
        h.push("method", "GET", 7.5 * n);
        vec![
            Family::single("mysql_up", "Up.", Kind::Gauge, 1.0),
            cmds,
            info,
            h,
            Family::single("odd_nan", "NaN.", Kind::Gauge, f64::NAN),
            Family::single("odd_negative_zero", "Signed zero.", Kind::Gauge, -0.0),
            Family::single("odd_inf", "Infinite.", Kind::Untyped, f64::INFINITY),
            Family::single("odd_big", "Big.", Kind::Counter, 1.5e300 * n),
            Family::single("uptime", "Uptime.", Kind::Counter, 100.0 + n),
        ]
    }

    /// What the store gives as a registry collector, after the registry's own metrics.
    fn reference(registry_metric: bool, store: &Arc<SnapshotStore>, openmetrics: bool) -> String {
        let mut reg = Registry::default();
        if registry_metric {
            own(&mut reg);
        }
        reference_after(reg, store, openmetrics)
    }

    /// What the store gives as a registry collector after the metrics of `reg`.
    fn reference_after(mut reg: Registry, store: &Arc<SnapshotStore>, openmetrics: bool) -> String {
        reg.register_collector(Box::new(store.clone()));
        let mut out = String::new();
        if openmetrics {
            text::encode(&mut out, &reg).unwrap();
        } else {
            prometheus_text::encode(&mut out, &reg).unwrap();
        }
        out
    }

    fn own(reg: &mut Registry) {
        let c: prometheus_client::metrics::counter::Counter = Default::default();
        c.inc_by(3);
        reg.register("headroom_polls", "Polls.", c);
    }

    fn exposition(store: &Arc<SnapshotStore>) -> Exposition {
        let mut reg = Registry::default();
        own(&mut reg);
        Exposition::new(reg, store.clone())
    }

    fn both(e: &Exposition, store: &Arc<SnapshotStore>) -> [usize; 2] {
        [false, true].map(|om| {
            let mut out = String::new();
            let fresh = e.encode(&mut out, om).unwrap();
            assert_eq!(out, reference(true, store, om), "openmetrics: {om}");
            fresh
        })
    }

    #[test]
    fn kept_text_reads_as_a_fresh_encoding_through_every_change() {
        let store = Arc::new(SnapshotStore::new());
        let e = exposition(&store);
        // Nothing in the store: the registry alone.
        assert_eq!(both(&e, &store), [0, 0]);

        store.put(snap(MYSQL, "db1", families(1.0)));
        store.put(snap(MYSQL, "db2", families(1.0)));
        let mut mc = Family::new("memcached_up", "Up.", Kind::Gauge);
        mc.push("x", "y", 1.0);
        store.put(snap(MEMCACHED, "mc1", vec![mc.clone()]));
        let blocks = 10;
        assert_eq!(both(&e, &store), [blocks, blocks]);
        // Nothing changed: every block from the kept text.
        assert_eq!(both(&e, &store), [0, 0]);

        // A poll that changes db1's counter, histogram, big and uptime (the NaN is compared by
        // its bits, so it is the same NaN).
        store.put(snap(MYSQL, "db1", families(2.0)));
        assert_eq!(both(&e, &store), [4, 4]);
        // The same values again.
        store.put(snap(MYSQL, "db1", families(2.0)));
        assert_eq!(both(&e, &store), [0, 0]);

        // A new family name, one that sorts first, and a family that leaves.
        let mut fams = families(2.0);
        fams.pop();
        fams.push(Family::single("aaa_first", "First.", Kind::Gauge, 0.0));
        fams.push(Family::single("zzz_last", "Last.", Kind::Gauge, 0.0));
        store.put(snap(MYSQL, "db1", fams));
        // aaa_first, zzz_last, and uptime (now db2's alone).
        assert_eq!(both(&e, &store), [3, 3]);

        // A target that leaves takes its series with it.
        store.remove(MYSQL, "db2");
        let mut out = String::new();
        e.encode(&mut out, false).unwrap();
        assert!(!out.contains("db2"), "{out}");
        // The eight blocks db2 had a family in, but for uptime, which left with it.
        assert_eq!(both(&e, &store)[1], 8);

        // A failed poll: only `mysql_up 0`, and a poll error.
        let mut failed = snap(
            MYSQL,
            "db1",
            vec![Family::single("mysql_up", "Up.", Kind::Gauge, 0.0)],
        );
        failed.error = Some(PollError::new(ErrorKind::Connect, "connection refused"));
        store.put(failed);
        both(&e, &store);

        // Two sources that disagree on a type: the odd one is skipped, kept or not.
        store.put(snap(
            MEMCACHED,
            "mc1",
            vec![mc, Family::single("mysql_up", "Up.", Kind::Counter, 1.0)],
        ));
        both(&e, &store);
        both(&e, &store);
    }

    #[test]
    fn kept_blocks_follow_a_registry_text_that_changes_length() {
        use prometheus_client::metrics::counter::Counter;
        let store = Arc::new(SnapshotStore::new());
        let polls: Counter = Default::default();
        let mut reg = Registry::default();
        reg.register("headroom_polls", "Polls.", polls.clone());
        let e = Exposition::new(reg, store.clone());
        // The counter's text grows by six digits while the store's blocks stay the same,
        // and again while some of them change: each block must still be copied from where
        // it was in the last text.
        for (n, by, fresh) in [(1.0, 0, 9), (1.0, 1_000_000, 0), (2.0, 7, 4), (2.0, 0, 0)] {
            polls.inc_by(by);
            store.put(snap(MYSQL, "db1", families(n)));
            for om in [false, true] {
                let mut out = String::new();
                assert_eq!(e.encode(&mut out, om).unwrap(), fresh, "openmetrics: {om}");
                let mut reg = Registry::default();
                let same: Counter = Default::default();
                same.inc_by(polls.get());
                reg.register("headroom_polls", "Polls.", same);
                assert_eq!(out, reference_after(reg, &store, om), "openmetrics: {om}");
            }
        }
    }

    #[test]
    fn a_zero_that_changes_sign_is_written_again() {
        let store = Arc::new(SnapshotStore::new());
        let e = exposition(&store);
        let zero = |v| vec![Family::single("z", "Zero.", Kind::Gauge, v)];
        store.put(snap(MYSQL, "db1", zero(0.0)));
        both(&e, &store);
        // `0.0 == -0.0`, but they are written differently.
        store.put(snap(MYSQL, "db1", zero(-0.0)));
        assert_eq!(both(&e, &store), [1, 1]);
        let mut out = String::new();
        e.encode(&mut out, false).unwrap();
        assert!(out.contains("z{target=\"db1\"} -0.0"), "{out}");
    }

    #[test]
    fn an_empty_registry_and_an_empty_store_give_what_the_encoders_give() {
        let store = Arc::new(SnapshotStore::new());
        let e = Exposition::new(Registry::default(), store.clone());
        for om in [false, true] {
            let mut out = String::new();
            e.encode(&mut out, om).unwrap();
            assert_eq!(out, reference(false, &store, om));
        }
        let mut out = String::new();
        e.encode(&mut out, true).unwrap();
        assert_eq!(out, "# EOF\n");
    }
}
