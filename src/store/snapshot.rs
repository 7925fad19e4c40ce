//! The snapshot store: the latest metric families of every target, written by the scheduler
//! after each poll and read by the `/metrics` handler (and, later, by checks).
//!
//! A poller returns plain [`Family`] values without a `target` label; the store adds it when
//! the families are encoded, and merges families of the same name from different targets into
//! one exposition block, so `memcached_up` of two servers is one metric with two series. A
//! target that is removed takes its series with it: nothing stays behind as a stale series.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;
use std::time::SystemTime;

use prometheus_client::collector::Collector;
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

/// The latest snapshot of every target. Cheap to read: a scrape clones a few `Arc`s under a
/// read lock and encodes outside it.
#[derive(Debug, Default)]
pub struct SnapshotStore {
    inner: RwLock<BTreeMap<Key, Arc<TargetSnapshot>>>,
}

impl SnapshotStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the snapshot of one target.
    pub fn put(&self, snap: TargetSnapshot) {
        let key = (snap.source, snap.target.clone());
        self.write().insert(key, Arc::new(snap));
    }

    /// Forgets a target, so its series leave `/metrics`.
    pub fn remove(&self, source: SourceKind, target: &str) {
        self.write().remove(&(source, Arc::from(target)));
    }

    pub fn get(&self, source: SourceKind, target: &str) -> Option<Arc<TargetSnapshot>> {
        self.read().get(&(source, Arc::from(target))).cloned()
    }

    /// All snapshots, ordered by source and target.
    pub fn all(&self) -> Vec<Arc<TargetSnapshot>> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> parking_lot::RwLockReadGuard<'_, BTreeMap<Key, Arc<TargetSnapshot>>> {
        // A writer that panicked cannot leave a half-written map: insert/remove are atomic
        // with respect to the map's invariants, so a poisoned lock is still consistent.
        self.inner.read()
    }

    fn write(&self) -> parking_lot::RwLockWriteGuard<'_, BTreeMap<Key, Arc<TargetSnapshot>>> {
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

impl Collector for SnapshotStore {
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
            let (name, first, _) = members[0];
            let mut metric =
                encoder.encode_descriptor(name, &first.help, None, metric_type(first.kind))?;
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
                        Kind::Info => metric.encode_info(&labels)?,
                        Kind::Counter => {
                            let m = metric.encode_family(&labels)?;
                            ConstF64Counter(s.value).encode(m)?;
                        }
                        Kind::Gauge | Kind::Untyped => {
                            let mut m = metric.encode_family(&labels)?;
                            m.encode_gauge(&s.value)?;
                        }
                        Kind::Histogram => unreachable!("histograms are encoded above"),
                    }
                }
            }
        }
        Ok(())
    }
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
