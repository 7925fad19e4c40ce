//! The recorder: reads every MySQL target's snapshot after each poll (from the snapshot
//! store, never from the network) and writes per-minute rollups to the embedded history.
//!
//! It runs on its own thread (SQLite calls block): once a second it takes the snapshots that
//! changed since it last looked, adds them to the minute in progress of their database, and
//! writes the minutes that are over. Counters (InnoDB device I/O, buffer pool reads) become
//! rates from the difference between consecutive polls, credited to the minute of the later
//! one; a counter that went down (a restart) contributes nothing for that interval.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use parking_lot::RwLock;
use std::time::{Duration, SystemTime};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family as MetricFamily;
use prometheus_client::registry::Registry;

use super::history::{HistoryStore, InstanceFacts, Rollup};
use super::snapshot::{SnapshotStore, TargetSnapshot, find_value};
use crate::model::SourceKind;

/// Which RDS instance each MySQL target is (`mysql[].rds_instance`), kept current across
/// reloads.
pub type RdsMap = Arc<RwLock<HashMap<String, String>>>;

/// The recorder's own metrics.
#[derive(Debug, Clone, Default)]
pub struct RecorderMetrics {
    rows: MetricFamily<Vec<(&'static str, &'static str)>, Counter<u64, AtomicU64>>,
    errors: Counter<u64, AtomicU64>,
}

impl RecorderMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = RecorderMetrics::default();
        registry.register(
            "headroom_history_rows_written",
            "Rollup rows written to the embedded history, by resolution.",
            m.rows.clone(),
        );
        registry.register(
            "headroom_history_write_errors",
            "Failed writes to the embedded history (the rows are retried at the next write).",
            m.errors.clone(),
        );
        m
    }
}

#[derive(Debug, Clone, Copy)]
struct Counters {
    t: f64,
    reads: Option<f64>,
    writes: Option<f64>,
    bytes: Option<f64>,
    requests: Option<f64>,
    misses: Option<f64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Mean {
    sum: f64,
    n: f64,
}

impl Mean {
    fn add(&mut self, v: Option<f64>) {
        if let Some(v) = v.filter(|v| v.is_finite()) {
            self.sum += v;
            self.n += 1.0;
        }
    }
    fn get(self) -> Option<f64> {
        (self.n > 0.0).then(|| self.sum / self.n)
    }
}

/// A counter's increase over one interval, credited as a rate.
#[derive(Debug, Default, Clone, Copy)]
struct Rate {
    delta: f64,
    seconds: f64,
}

impl Rate {
    fn add(&mut self, prev: Option<f64>, now: Option<f64>, dt: f64) {
        if let (Some(a), Some(b)) = (prev, now)
            && b >= a
        {
            self.delta += b - a;
            self.seconds += dt;
        }
    }
    fn get(self) -> Option<f64> {
        (self.seconds > 0.0).then(|| self.delta / self.seconds)
    }
}

#[derive(Debug, Default)]
struct Minute {
    ts: i64,
    tps: Vec<f64>,
    concurrency: Mean,
    trx_concurrency: Mean,
    connections: Mean,
    cpu: Mean,
    reads: Rate,
    writes: Rate,
    bytes: Rate,
    requests: Rate,
    misses: Rate,
    buffer_pool_bytes: Option<f64>,
    max_connections: Option<f64>,
    db_bytes: Option<f64>,
}

impl Minute {
    fn rollup(&self, db: &str) -> Option<Rollup> {
        if self.tps.is_empty() {
            return None;
        }
        let p = |q| super::history::percentile(&self.tps, q);
        Some(Rollup {
            db: db.to_owned(),
            ts: self.ts,
            samples: self.tps.len() as u32,
            tps_mean: self.tps.iter().sum::<f64>() / self.tps.len() as f64,
            tps_p50: p(0.5),
            tps_p95: p(0.95),
            tps_max: self.tps.iter().copied().fold(0.0, f64::max),
            concurrency: self.concurrency.get(),
            trx_concurrency: self.trx_concurrency.get(),
            connections: self.connections.get(),
            cpu: self.cpu.get(),
            read_iops: self.reads.get(),
            write_iops: self.writes.get(),
            io_bytes: self.bytes.get(),
            miss_ratio: match (self.misses.get(), self.requests.get()) {
                (Some(m), Some(r)) if r > 0.0 => Some((m / r).clamp(0.0, 1.0)),
                _ => None,
            },
            buffer_pool_bytes: self.buffer_pool_bytes,
            max_connections: self.max_connections,
            db_bytes: self.db_bytes,
        })
    }
}

#[derive(Debug, Default)]
struct DbState {
    last_taken: Option<SystemTime>,
    prev: Option<Counters>,
    minute: Option<Minute>,
}

/// Which sources' snapshots the recorder reads: the databases' (MySQL status), the
/// CloudWatch metrics (an RDS instance's CPU) and the RDS facts. The app names them; the
/// store knows no source.
#[derive(Debug, Clone, Copy)]
pub struct Recorded {
    pub mysql: SourceKind,
    pub cloudwatch: SourceKind,
    pub rds: SourceKind,
}

/// Turns snapshots into rollups. Pure but for the store it writes to.
#[derive(Debug)]
pub struct Recorder {
    store: HistoryStore,
    rds: RdsMap,
    kinds: Recorded,
    dbs: HashMap<String, DbState>,
    /// Closed minutes not written yet (kept when a write fails, up to a day of them).
    pending: Vec<Rollup>,
    facts: HashMap<String, InstanceFacts>,
    metrics: RecorderMetrics,
}

/// Most rows kept for a retry while writes fail.
const MAX_PENDING: usize = 1440;

fn unix(t: SystemTime) -> f64 {
    crate::time::unix_seconds(t)
}

impl Recorder {
    pub fn new(
        store: HistoryStore,
        rds: RdsMap,
        kinds: Recorded,
        metrics: RecorderMetrics,
    ) -> Self {
        Recorder {
            store,
            rds,
            kinds,
            dbs: HashMap::new(),
            pending: Vec::new(),
            facts: HashMap::new(),
            metrics,
        }
    }

    /// Adds every MySQL snapshot taken since the last call.
    pub fn sample(&mut self, snaps: &[Arc<TargetSnapshot>]) {
        let rds = self.rds.read().clone();
        for s in snaps.iter().filter(|s| s.source == self.kinds.mysql) {
            let db: &str = &s.target;
            let state = self.dbs.entry(db.to_owned()).or_default();
            if state.last_taken == Some(s.taken_at) {
                continue;
            }
            state.last_taken = Some(s.taken_at);
            if s.error.is_some() {
                continue;
            }
            let id = rds.get(db);
            let cpu = id.and_then(|id| rds_cpu(snaps, self.kinds.cloudwatch, id));
            if let Some(id) = id
                && let Some(f) = rds_facts(snaps, self.kinds.rds, id, s.taken_at)
                && self.facts.get(db).is_none_or(|old| {
                    InstanceFacts {
                        updated: 0,
                        ..old.clone()
                    } != InstanceFacts {
                        updated: 0,
                        ..f.clone()
                    }
                })
            {
                match self.store.set_instance(db, &f) {
                    Ok(()) => {
                        self.facts.insert(db.to_owned(), f);
                    }
                    Err(e) => {
                        self.metrics.errors.inc();
                        tracing::warn!(target = db, "history: recording instance facts: {e}");
                    }
                }
            }
            let t = unix(s.taken_at);
            let ts = (t as i64).div_euclid(60) * 60;
            if state.minute.as_ref().is_some_and(|m| m.ts != ts) {
                let done = state.minute.take().and_then(|m| m.rollup(db));
                self.pending.extend(done);
            }
            let m = state.minute.get_or_insert_with(|| Minute {
                ts,
                ..Minute::default()
            });
            let v = |name: &str| find_value(&s.families, name, &[]);
            let now = Counters {
                t,
                reads: v("mysql_global_status_innodb_data_reads"),
                writes: v("mysql_global_status_innodb_data_writes"),
                bytes: v("mysql_global_status_innodb_data_read")
                    .zip(v("mysql_global_status_innodb_data_written"))
                    .map(|(r, w)| r + w),
                requests: v("mysql_global_status_innodb_buffer_pool_read_requests"),
                misses: v("mysql_global_status_innodb_buffer_pool_reads"),
            };
            if let Some(prev) = state.prev
                && now.t > prev.t
            {
                let dt = now.t - prev.t;
                m.reads.add(prev.reads, now.reads, dt);
                m.writes.add(prev.writes, now.writes, dt);
                m.bytes.add(prev.bytes, now.bytes, dt);
                m.requests.add(prev.requests, now.requests, dt);
                m.misses.add(prev.misses, now.misses, dt);
            }
            state.prev = Some(now);
            // The first poll has no rate yet: it counts for the counters only.
            let Some(tps) = v("headroom_mysql_transactions_per_second") else {
                continue;
            };
            m.tps.push(tps);
            m.concurrency.add(v("headroom_mysql_threads_running"));
            m.trx_concurrency
                .add(v("headroom_mysql_transaction_concurrency"));
            m.connections
                .add(v("mysql_global_status_threads_connected"));
            m.cpu.add(cpu);
            m.buffer_pool_bytes = v("mysql_global_variables_innodb_buffer_pool_size");
            m.max_connections = v("mysql_global_variables_max_connections");
            m.db_bytes = v("headroom_mysql_data_size_bytes").or(m.db_bytes);
        }
        // Databases that are gone: their minute in progress is written, their state dropped.
        let present: Vec<&str> = snaps
            .iter()
            .filter(|s| s.source == self.kinds.mysql)
            .map(|s| &*s.target)
            .collect();
        let gone: Vec<String> = self
            .dbs
            .keys()
            .filter(|k| !present.contains(&k.as_str()))
            .cloned()
            .collect();
        for db in gone {
            if let Some(m) = self.dbs.remove(&db).and_then(|s| s.minute)
                && let Some(r) = m.rollup(&db)
            {
                self.pending.push(r);
            }
        }
    }

    /// Writes every minute that is over at `now` (all of them, the one in progress too, when
    /// `all`). Returns the rows written.
    pub fn flush(&mut self, now: SystemTime, all: bool) -> usize {
        let t = unix(now) as i64;
        let current = t.div_euclid(60) * 60;
        for (db, state) in &mut self.dbs {
            if state.minute.as_ref().is_some_and(|m| all || m.ts < current)
                && let Some(r) = state.minute.take().and_then(|m| m.rollup(db))
            {
                self.pending.push(r);
            }
        }
        if self.pending.is_empty() {
            return 0;
        }
        match self.store.write(&self.pending, t) {
            Ok(hours) => {
                let n = self.pending.len();
                self.metrics
                    .rows
                    .get_or_create(&vec![("resolution", "minute")])
                    .inc_by(n as u64);
                if hours > 0 {
                    self.metrics
                        .rows
                        .get_or_create(&vec![("resolution", "hour")])
                        .inc_by(hours as u64);
                }
                self.pending.clear();
                n
            }
            Err(e) => {
                self.metrics.errors.inc();
                tracing::warn!("history: writing {} rollups: {e}", self.pending.len());
                if self.pending.len() > MAX_PENDING {
                    let drop = self.pending.len() - MAX_PENDING;
                    self.pending.drain(..drop);
                }
                0
            }
        }
    }
}

/// The latest CloudWatch CPUUtilization average of an RDS instance any cloudwatch target
/// exports.
fn rds_cpu(snaps: &[Arc<TargetSnapshot>], kind: SourceKind, id: &str) -> Option<f64> {
    snaps.iter().filter(|s| s.source == kind).find_map(|s| {
        find_value(
            &s.families,
            "aws_rds_cpuutilization_average",
            &[("dimension_DBInstanceIdentifier", id)],
        )
    })
}

/// An RDS instance's class and storage as an rds target last saw them.
fn rds_facts(
    snaps: &[Arc<TargetSnapshot>],
    kind: SourceKind,
    id: &str,
    at: SystemTime,
) -> Option<InstanceFacts> {
    snaps.iter().filter(|s| s.source == kind).find_map(|s| {
        let info = s
            .families
            .iter()
            .filter(|f| f.name == "headroom_rds_instance")
            .flat_map(|f| f.samples.iter())
            .find(|x| x.labels.iter().any(|(k, v)| k == "db_instance" && v == id))?;
        let label = |k: &str| {
            info.labels
                .iter()
                .find(|(lk, _)| lk == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let sel = [("db_instance", id)];
        Some(InstanceFacts {
            rds_instance: id.to_owned(),
            class: label("class"),
            storage_type: label("storage_type"),
            gib: find_value(&s.families, "headroom_rds_allocated_storage_bytes", &sel)?
                / (1024.0 * 1024.0 * 1024.0),
            iops: find_value(&s.families, "headroom_rds_provisioned_iops", &sel),
            updated: unix(at) as i64,
        })
    })
}

/// Runs the recorder on its own thread until `stop`; then writes the minute in progress.
pub fn spawn(
    path: PathBuf,
    rds: RdsMap,
    kinds: Recorded,
    snapshots: Arc<SnapshotStore>,
    metrics: RecorderMetrics,
    stop: tokio_util::sync::CancellationToken,
) -> Result<std::thread::JoinHandle<()>, String> {
    let store = HistoryStore::open(&path)?;
    tracing::info!(
        "history: recording per-minute rollups in {}",
        path.display()
    );
    let mut rec = Recorder::new(store, rds, kinds, metrics);
    std::thread::Builder::new()
        .name("history".into())
        .spawn(move || {
            while !stop.is_cancelled() {
                std::thread::sleep(Duration::from_secs(1));
                rec.sample(&snapshots.all());
                rec.flush(SystemTime::now(), false);
            }
            rec.sample(&snapshots.all());
            rec.flush(SystemTime::now(), true);
        })
        .map_err(|e| format!("history thread: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, Kind};
    use std::time::UNIX_EPOCH;

    const MYSQL: SourceKind = SourceKind::new("mysql", "mysql_up");
    const CLOUDWATCH: SourceKind = SourceKind::new("cloudwatch", "headroom_cloudwatch_up");
    const KINDS: Recorded = Recorded {
        mysql: MYSQL,
        cloudwatch: CLOUDWATCH,
        rds: SourceKind::new("rds", "headroom_rds_up"),
    };

    fn snap(
        target: &str,
        source: SourceKind,
        at: f64,
        values: &[(&str, f64)],
    ) -> Arc<TargetSnapshot> {
        Arc::new(TargetSnapshot {
            source,
            target: target.into(),
            families: values
                .iter()
                .map(|(n, v)| Family::single(n.to_string(), "", Kind::Gauge, *v))
                .collect(),
            taken_at: UNIX_EPOCH + Duration::from_secs_f64(at),
            error: None,
        })
    }

    fn mysql(
        at: f64,
        tps: Option<f64>,
        reads: f64,
        requests: f64,
        misses: f64,
    ) -> Arc<TargetSnapshot> {
        let mut v = vec![
            ("mysql_global_status_innodb_data_reads", reads),
            (
                "mysql_global_status_innodb_buffer_pool_read_requests",
                requests,
            ),
            ("mysql_global_status_innodb_buffer_pool_reads", misses),
            ("headroom_mysql_threads_running", 3.0),
            ("headroom_mysql_transaction_concurrency", 4.5),
            ("mysql_global_variables_max_connections", 151.0),
            ("headroom_mysql_data_size_bytes", 1e9 + at),
        ];
        if let Some(t) = tps {
            v.push(("headroom_mysql_transactions_per_second", t));
        }
        snap("db1", MYSQL, at, &v)
    }

    #[test]
    fn polls_become_minutes_with_rates_from_counters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let rds: RdsMap = Arc::new(RwLock::new(HashMap::from([(
            "db1".to_owned(),
            "rds-1".to_owned(),
        )])));
        let mut rec = Recorder::new(
            HistoryStore::open(&path).unwrap(),
            rds,
            KINDS,
            RecorderMetrics::default(),
        );
        let t0 = 1_800_000_000.0; // a minute boundary
        let cw = snap("cw", CLOUDWATCH, t0, &[]);
        let cw = Arc::new(TargetSnapshot {
            families: vec![{
                let mut f = Family::new("aws_rds_cpuutilization_average", "", Kind::Gauge);
                f.push("dimension_DBInstanceIdentifier", "rds-1", 40.0);
                f
            }],
            ..(*cw).clone()
        });
        // First poll: counters only. Then 10 s polls: reads +100/poll, 1,000 requests and 10
        // misses per poll; the same snapshot seen twice counts once.
        rec.sample(&[mysql(t0 + 5.0, None, 0.0, 0.0, 0.0), cw.clone()]);
        rec.sample(&[
            mysql(t0 + 15.0, Some(100.0), 100.0, 1000.0, 10.0),
            cw.clone(),
        ]);
        rec.sample(&[
            mysql(t0 + 15.0, Some(100.0), 100.0, 1000.0, 10.0),
            cw.clone(),
        ]);
        rec.sample(&[
            mysql(t0 + 25.0, Some(300.0), 200.0, 2000.0, 20.0),
            cw.clone(),
        ]);
        // Next minute: a counter reset (restart) adds nothing.
        rec.sample(&[mysql(t0 + 65.0, Some(50.0), 5.0, 0.0, 0.0), cw.clone()]);
        assert_eq!(
            rec.flush(UNIX_EPOCH + Duration::from_secs_f64(t0 + 61.0), false),
            1
        );
        let store = HistoryStore::open_read(&path).unwrap();
        let minutes = || {
            store
                .rows(
                    crate::store::history::Resolution::Minute,
                    "db1",
                    0,
                    i64::MAX,
                )
                .unwrap()
        };
        let rows = minutes();
        assert_eq!(rows.len(), 1, "{rows:?}");
        let m = &rows[0];
        assert_eq!((m.ts, m.samples), (t0 as i64, 2));
        assert_eq!((m.tps_mean, m.tps_max), (200.0, 300.0));
        assert_eq!(m.read_iops, Some(10.0));
        assert_eq!(m.miss_ratio, Some(0.01));
        assert_eq!(m.concurrency, Some(3.0));
        assert_eq!(m.trx_concurrency, Some(4.5));
        // The latest size reading of the minute.
        assert_eq!(m.db_bytes, Some(1e9 + t0 + 25.0));
        assert_eq!(m.cpu, Some(40.0));
        assert_eq!(m.max_connections, Some(151.0));
        // At shutdown the minute in progress is written too; its reads had a reset only.
        assert_eq!(
            rec.flush(UNIX_EPOCH + Duration::from_secs_f64(t0 + 66.0), true),
            1
        );
        let rows = minutes();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].read_iops, None);
    }
}
