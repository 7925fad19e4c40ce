//! The snapshot store: the latest metric families of every target, written by the scheduler
//! after each poll and read by the `/metrics` handler (and, later, by checks).
//!
//! A poller returns plain [`Family`] values without a `target` label; the store adds it when
//! the families are encoded, and merges families of the same name from different targets into
//! one exposition block, so `memcached_up` of two servers is one metric with two series. A
//! target that is removed takes its series with it: nothing stays behind as a stale series.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use std::time::SystemTime;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;

pub use crate::model::find_value;
use crate::model::{Family, Kind, PollError, SourceKind};

/// What one target looked like after its latest poll.
#[derive(Debug, Clone)]
pub struct TargetSnapshot {
    pub source: SourceKind,
    pub target: Arc<str>,
    /// On success, everything the poller returned; on failure, only `<source>_up 0`.
    pub families: Vec<Family>,
    /// When the poll that produced this snapshot ended.
    pub taken_at: SystemTime,
    /// Why the latest poll failed, if it did. Never contains a secret: poll errors are built
    /// from server messages and addresses, never from credentials.
    pub error: Option<PollError>,
}

impl TargetSnapshot {
    /// The value of the first series of `name` whose labels include all of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        find_value(&self.families, name, labels)
    }
}

type Key = (SourceKind, Arc<str>);

/// A snapshot as stored and as a scrape reads it (see [`SnapshotStore::versioned`]).
#[derive(Debug, Clone)]
pub struct Versioned {
    pub snap: Arc<TargetSnapshot>,
    /// By index of `snap.families`. A family that reads exactly as the same target's family of
    /// the snapshot before keeps that one's version; any other gets a new one. No two
    /// families of different content share a version, so the encoded text of a version can
    /// be kept and written again (see `crate::store::exposition`).
    pub versions: Arc<[u64]>,
    /// The indices of `snap.families` in name order (stable), made again only when the names
    /// differ from the snapshot before: a scrape merges these runs instead of sorting.
    pub order: Arc<[u32]>,
}

/// The latest snapshot of every target. Cheap to read: a scrape clones a few `Arc`s under a
/// read lock and encodes outside it.
#[derive(Debug, Default)]
pub struct SnapshotStore {
    inner: RwLock<BTreeMap<Key, Versioned>>,
    next_version: AtomicU64,
    /// Told of every `put`: the check engine judges a poll's data as it arrives.
    changed: tokio::sync::Notify,
    /// The targets put since the last [`SnapshotStore::take_changed`].
    put_since: std::sync::Mutex<Vec<Key>>,
}

impl SnapshotStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the snapshot of one target.
    pub fn put(&self, snap: TargetSnapshot) {
        let key = (snap.source, snap.target.clone());
        // Compared outside the lock. Only this target's poller replaces its snapshot, and a
        // version carried over names the content it was given for, whichever snapshot that was.
        let old = self.read().get(&key).cloned();
        let versions = snap
            .families
            .iter()
            .enumerate()
            .map(|(i, fam)| match &old {
                Some(old) if old.snap.families.get(i).is_some_and(|o| same_text(o, fam)) => {
                    old.versions[i]
                }
                _ => self.next_version.fetch_add(1, Ordering::Relaxed),
            })
            .collect();
        let order = match &old {
            Some(old)
                if old.snap.families.len() == snap.families.len()
                    && old
                        .snap
                        .families
                        .iter()
                        .zip(&snap.families)
                        .all(|(a, b)| same_str(&a.name, &b.name)) =>
            {
                old.order.clone()
            }
            _ => {
                let mut order: Vec<u32> = (0..snap.families.len() as u32).collect();
                order.sort_by(|&a, &b| {
                    snap.families[a as usize]
                        .name
                        .cmp(&snap.families[b as usize].name)
                });
                order.into()
            }
        };
        self.write().insert(
            key.clone(),
            Versioned {
                snap: Arc::new(snap),
                versions,
                order,
            },
        );
        self.put_since
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(key);
        self.changed.notify_one();
    }

    /// The targets put since the last call, as (source, target): the engine looks at these
    /// targets' checks only, not at every check's target after every poll.
    pub fn take_changed(&self) -> Vec<(SourceKind, Arc<str>)> {
        std::mem::take(&mut *self.put_since.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Completes at the next `put` after it is first polled, or at once if one came since the
    /// last such wait completed.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Forgets a target, so its series leave `/metrics`.
    pub fn remove(&self, source: SourceKind, target: &str) {
        self.write().remove(&(source, Arc::from(target)));
    }

    pub fn get(&self, source: SourceKind, target: &str) -> Option<Arc<TargetSnapshot>> {
        self.read()
            .get(&(source, Arc::from(target)))
            .map(|e| e.snap.clone())
    }

    /// All snapshots, ordered by source and target.
    pub fn all(&self) -> Vec<Arc<TargetSnapshot>> {
        self.read().values().map(|e| e.snap.clone()).collect()
    }

    /// All snapshots with the versions and the name order of their families, ordered by
    /// source and target.
    pub fn versioned(&self) -> Vec<Versioned> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> parking_lot::RwLockReadGuard<'_, BTreeMap<Key, Versioned>> {
        // A writer that panicked cannot leave a half-written map: insert/remove are atomic
        // with respect to the map's invariants, so a poisoned lock is still consistent.
        self.inner.read()
    }

    fn write(&self) -> parking_lot::RwLockWriteGuard<'_, BTreeMap<Key, Versioned>> {
        self.inner.write()
    }
}

fn metric_type(kind: Kind) -> MetricType {
    match kind {
        Kind::Counter => MetricType::Counter,
        Kind::Gauge => MetricType::Gauge,
        Kind::Untyped => MetricType::Unknown,
        Kind::Info => MetricType::Info,
        Kind::Histogram => MetricType::Histogram,
    }
}

/// The store as a registry collector, every family encoded at every scrape: the reference
/// that `crate::store::exposition` (what the daemon serves, each block's text kept) must give
/// byte for byte; the tests compare the two.
#[cfg(test)]
impl prometheus_client::collector::Collector for SnapshotStore {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        let snaps = self.all();
        // The families of all targets grouped by name (a stable sort: each name's targets stay
        // in the store's order), each group under the first one's help and type. A sorted
        // list and one label buffer for every series: a scrape allocates per scrape, not per
        // family or series.
        let mut all: Vec<(&str, &Family, &str)> = snaps
            .iter()
            .flat_map(|snap| {
                snap.families
                    .iter()
                    .map(|fam| (fam.name.as_ref(), fam, snap.target.as_ref()))
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        let mut labels: Vec<(&str, &str)> = Vec::new();
        for members in all.chunk_by(|a, b| a.0 == b.0) {
            encode_group(&mut encoder, members, &mut labels)?;
        }
        Ok(())
    }
}

/// Whether two families encode to the same text: the same name, help, type, labels and values
/// (bit for bit: `0.0` and `-0.0` are written differently, and a NaN is never equal to itself
/// under `==`).
fn same_text(a: &Family, b: &Family) -> bool {
    a.kind == b.kind
        && a.samples.len() == b.samples.len()
        && same_str(&a.name, &b.name)
        && same_str(&a.help, &b.help)
        && a.samples.iter().zip(&b.samples).all(|(x, y)| {
            x.value.to_bits() == y.value.to_bits()
                && x.labels.len() == y.labels.len()
                && x.labels
                    .iter()
                    .zip(&y.labels)
                    .all(|((k, v), (l, w))| same_str(k, l) && v == w)
        })
}

/// Equal strings; the same static or interned string (most names, helps and label names) by
/// its address, without comparing its bytes.
fn same_str(a: &str, b: &str) -> bool {
    std::ptr::eq(a, b) || a == b
}

/// One exposition block: the families of one name, each with the target it came from (`name`
/// of each is the same), under the first one's help and type. `labels` is a buffer to reuse.
pub(crate) fn encode_group<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    members: &[(&'a str, &'a Family, &'a str)],
    labels: &mut Vec<(&'a str, &'a str)>,
) -> Result<(), std::fmt::Error> {
    let (name, first, _) = members[0];
    let mut metric = encoder.encode_descriptor(name, &first.help, None, metric_type(first.kind))?;
    for &(_, fam, target) in members {
        if fam.kind != first.kind {
            // Two sources disagree on a type: a bug, but never a reason to break the
            // whole scrape. Skip the odd one out.
            tracing::error!(
                metric = name,
                target,
                "metric type mismatch; series skipped"
            );
            continue;
        }
        if fam.kind == Kind::Histogram {
            encode_histograms(&mut metric, fam, target)?;
            continue;
        }
        for s in &fam.samples {
            labels.clear();
            labels.push(("target", target));
            labels.extend(s.labels.iter().map(|(k, v)| (k.as_ref(), v.as_str())));
            match fam.kind {
                Kind::Info => metric.encode_info(&*labels)?,
                Kind::Counter => {
                    let m = metric.encode_family(&*labels)?;
                    ConstF64Counter(s.value).encode(m)?;
                }
                Kind::Gauge | Kind::Untyped => {
                    let mut m = metric.encode_family(&*labels)?;
                    m.encode_gauge(&s.value)?;
                }
                Kind::Histogram => unreachable!("histograms are encoded above"),
            }
        }
    }
    Ok(())
}

/// The series of a [`Kind::Histogram`] family: runs of `le` samples (cumulative counts), each
/// closed by its sum (the sample without `le`).
fn encode_histograms(
    metric: &mut prometheus_client::encoding::MetricEncoder<'_>,
    fam: &Family,
    target: &str,
) -> Result<(), std::fmt::Error> {
    let mut buckets: Vec<(f64, u64)> = Vec::new();
    let mut previous = 0.0;
    for s in &fam.samples {
        match s.labels.iter().find(|(k, _)| k == "le") {
            Some((_, le)) => {
                let upper = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().unwrap_or(f64::INFINITY)
                };
                // The encoder takes each bucket's own count and accumulates it again.
                buckets.push((upper, (s.value - previous).max(0.0) as u64));
                previous = s.value;
            }
            None => {
                let count = buckets.iter().map(|(_, n)| n).sum();
                let mut labels: Vec<(&str, &str)> = Vec::with_capacity(s.labels.len() + 1);
                labels.push(("target", target));
                labels.extend(s.labels.iter().map(|(k, v)| (k.as_ref(), v.as_str())));
                let mut m = metric.encode_family(&labels)?;
                m.encode_histogram::<NoLabelSet>(s.value, count, &buckets, None)?;
                buckets.clear();
                previous = 0.0;
            }
        }
    }
    Ok(())
}

/// A counter value encoded without exemplar or `_created`.
struct ConstF64Counter(f64);

impl EncodeMetric for ConstF64Counter {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::MetricEncoder<'_>,
    ) -> Result<(), std::fmt::Error> {
        encoder.encode_counter::<NoLabelSet, f64, f64>(&self.0, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::Sample;

    const MEMCACHED: SourceKind = SourceKind::new("memcached", "memcached_up");
    use prometheus_client::registry::Registry;

    fn snap(target: &str, families: Vec<Family>) -> TargetSnapshot {
        TargetSnapshot {
            source: MEMCACHED,
            target: Arc::from(target),
            families,
            taken_at: SystemTime::now(),
            error: None,
        }
    }

    /// The check engine waits on `changed`: a put before the wait is not lost, and a put
    /// during it ends it.
    #[test]
    fn a_put_wakes_whoever_waits_for_a_change() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            let store = Arc::new(SnapshotStore::new());
            let up = |v| vec![Family::single("memcached_up", "Up.", Kind::Gauge, v)];
            store.put(snap("a", up(1.0)));
            tokio::time::timeout(std::time::Duration::from_secs(5), store.changed())
                .await
                .expect("a put before the wait was lost");
            let waiting = {
                let store = store.clone();
                tokio::spawn(async move { store.changed().await })
            };
            tokio::task::yield_now().await;
            assert!(!waiting.is_finished(), "a wait ended with no put");
            store.put(snap("a", up(0.0)));
            tokio::time::timeout(std::time::Duration::from_secs(5), waiting)
                .await
                .expect("a put did not end the wait")
                .unwrap();
        });
    }

    #[test]
    fn families_of_two_targets_merge_into_one_block() {
        let store = Arc::new(SnapshotStore::new());
        store.put(snap(
            "a",
            vec![Family::single("memcached_up", "Up.", Kind::Gauge, 1.0)],
        ));
        store.put(snap(
            "b",
            vec![Family::single("memcached_up", "Up.", Kind::Gauge, 0.0)],
        ));
        let mut reg = Registry::default();
        reg.register_collector(Box::new(store.clone()));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &reg).unwrap();
        assert_eq!(
            out,
            "# HELP memcached_up Up.\n# TYPE memcached_up gauge\n\
             memcached_up{target=\"a\"} 1.0\nmemcached_up{target=\"b\"} 0.0\n"
        );
        store.remove(MEMCACHED, "a");
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &reg).unwrap();
        assert!(!out.contains("target=\"a\""), "{out}");
    }

    #[test]
    fn histograms_get_bucket_sum_and_count() {
        let store = Arc::new(SnapshotStore::new());
        let mut h = Family::new("d_seconds", "Durations.", Kind::Histogram);
        for (le, n) in [("0.1", 1.0), ("1", 3.0), ("+Inf", 4.0)] {
            h.samples.push(Sample {
                labels: vec![("method".into(), "GET".into()), ("le".into(), le.into())],
                value: n,
            });
        }
        h.push("method", "GET", 7.5);
        store.put(snap("a", vec![h]));
        let mut reg = Registry::default();
        reg.register_collector(Box::new(store.clone()));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &reg).unwrap();
        for line in [
            "# TYPE d_seconds histogram",
            "d_seconds_sum{target=\"a\",method=\"GET\"} 7.5",
            "d_seconds_count{target=\"a\",method=\"GET\"} 4",
            "d_seconds_bucket{target=\"a\",method=\"GET\",le=\"0.1\"} 1",
            "d_seconds_bucket{target=\"a\",method=\"GET\",le=\"1\"} 3",
            "d_seconds_bucket{target=\"a\",method=\"GET\",le=\"+Inf\"} 4",
        ] {
            assert!(out.contains(line), "{line} not in\n{out}");
        }
    }

    #[test]
    fn counters_get_total_and_info_gets_info() {
        let store = Arc::new(SnapshotStore::new());
        let mut cmds = Family::new("memcached_commands", "Commands.", Kind::Counter);
        cmds.samples.push(Sample {
            labels: vec![
                ("command".into(), "get".into()),
                ("status".into(), "hit".into()),
            ],
            value: 3.0,
        });
        let mut info = Family::new("mysql_version", "Version.", Kind::Info);
        info.push("version", "10.11", 1.0);
        store.put(snap("a", vec![cmds, info]));
        let mut reg = Registry::default();
        reg.register_collector(Box::new(store.clone()));
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, &reg).unwrap();
        assert!(
            out.contains("memcached_commands_total{target=\"a\",command=\"get\",status=\"hit\"} 3"),
            "{out}"
        );
        assert!(out.contains("# TYPE mysql_version_info gauge"), "{out}");
        assert!(
            out.contains("mysql_version_info{target=\"a\",version=\"10.11\"} 1"),
            "{out}"
        );
        assert_eq!(
            store.get(MEMCACHED, "a").unwrap().value(
                "memcached_commands",
                &[("command", "get"), ("status", "hit")]
            ),
            Some(3.0)
        );
    }
}
