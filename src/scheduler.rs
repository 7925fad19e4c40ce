//! The scheduler: polls every target on its own interval, with a fixed per-target phase
//! (jitter), a per-poll timeout, and at most one poll of a target in flight. It writes each
//! result into the snapshot store and keeps the self-metrics; the pollers do neither.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::config::Target;
use crate::sources::{AnyPoller, PollError, Poller, SourceKind};
use crate::store::{Family, Kind, SnapshotStore, TargetSnapshot};
use crate::telemetry::{ErrorLabels, SelfMetrics, TargetLabels};

/// Whether every target has been polled at least once (`/-/ready`).
#[derive(Debug, Default)]
pub struct Readiness {
    pending: AtomicUsize,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }
}

struct Running {
    target: Target,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// Owns one task per target.
pub struct Scheduler {
    store: Arc<SnapshotStore>,
    metrics: SelfMetrics,
    readiness: Arc<Readiness>,
    running: HashMap<(SourceKind, Arc<str>), Running>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("targets", &self.running.len())
            .finish()
    }
}

impl Scheduler {
    pub fn new(store: Arc<SnapshotStore>, metrics: SelfMetrics) -> Self {
        Scheduler {
            store,
            metrics,
            readiness: Arc::new(Readiness::default()),
            running: HashMap::new(),
        }
    }

    pub fn readiness(&self) -> Arc<Readiness> {
        self.readiness.clone()
    }

    /// Makes the running set of targets equal to `targets`: new ones start, removed ones stop
    /// and take their series with them, changed ones restart, unchanged ones keep running
    /// (and keep their state, such as the previous sample that rates are computed from).
    pub async fn apply(&mut self, targets: Vec<Target>) {
        let wanted: HashMap<(SourceKind, Arc<str>), Target> = targets
            .into_iter()
            .map(|t| ((t.kind(), t.name.clone()), t))
            .collect();
        let stale: Vec<_> = self
            .running
            .iter()
            .filter(|(k, r)| wanted.get(*k).is_none_or(|t| !same(t, &r.target)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in stale {
            if let Some(r) = self.running.remove(&key) {
                r.cancel.cancel();
                let _ = r.task.await;
                self.store.remove(key.0, &key.1);
                self.metrics.remove_target(key.0, &key.1);
                tracing::info!(source = %key.0, target = %key.1, "target stopped");
            }
        }
        for (key, target) in wanted {
            if self.running.contains_key(&key) {
                continue;
            }
            self.metrics.add_target(key.0, &key.1);
            self.readiness.pending.fetch_add(1, Ordering::AcqRel);
            let cancel = CancellationToken::new();
            let task = tokio::spawn(run_target(
                target.clone(),
                self.store.clone(),
                self.metrics.clone(),
                self.readiness.clone(),
                cancel.clone(),
            ));
            self.running.insert(
                key,
                Running {
                    target,
                    cancel,
                    task,
                },
            );
        }
    }

    /// Stops every target and waits for their tasks.
    pub async fn stop(&mut self) {
        for r in self.running.values() {
            r.cancel.cancel();
        }
        for (_, r) in self.running.drain() {
            let _ = r.task.await;
        }
    }
}

fn same(a: &Target, b: &Target) -> bool {
    a.interval == b.interval && a.timeout == b.timeout && a.source == b.source
}

/// A stable phase in `[0, interval)` from the target's identity, so that targets spread over
/// the interval and keep their slot across restarts (as Prometheus spreads its scrapes).
pub fn phase(source: SourceKind, name: &str, interval: Duration) -> Duration {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (source.as_str(), name).hash(&mut h);
    let ms = interval.as_millis().max(1) as u64;
    Duration::from_millis(h.finish() % ms)
}

async fn run_target(
    target: Target,
    store: Arc<SnapshotStore>,
    metrics: SelfMetrics,
    readiness: Arc<Readiness>,
    cancel: CancellationToken,
) {
    let kind = target.kind();
    let poller = Arc::new(AnyPoller::new(&target));
    let labels = TargetLabels {
        source: kind,
        target: target.name.to_string(),
    };
    let in_flight = Arc::new(AtomicBool::new(false));
    let first_done = Arc::new(AtomicBool::new(false));
    let start = tokio::time::Instant::now() + phase(kind, &target.name, target.interval);
    let mut ticker = tokio::time::interval_at(start, target.interval);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut current: Option<JoinHandle<()>> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = ticker.tick() => {}
        }
        if in_flight.load(Ordering::Acquire) {
            metrics.skipped.get_or_create(&labels).inc();
            tracing::debug!(source = %kind, target = %target.name, "previous poll still running; tick skipped");
            continue;
        }
        in_flight.store(true, Ordering::Release);
        let ctx = PollCtx {
            target: target.clone(),
            poller: poller.clone(),
            store: store.clone(),
            metrics: metrics.clone(),
            labels: labels.clone(),
        };
        let in_flight = in_flight.clone();
        let first_done = first_done.clone();
        let readiness = readiness.clone();
        current = Some(tokio::spawn(async move {
            ctx.poll_once().await;
            if !first_done.swap(true, Ordering::AcqRel) {
                readiness.pending.fetch_sub(1, Ordering::AcqRel);
            }
            in_flight.store(false, Ordering::Release);
        }));
    }
    if let Some(task) = current {
        task.abort();
        let _ = task.await;
    }
    if !first_done.load(Ordering::Acquire) {
        readiness.pending.fetch_sub(1, Ordering::AcqRel);
    }
    poller.close().await;
}

struct PollCtx {
    target: Target,
    poller: Arc<AnyPoller>,
    store: Arc<SnapshotStore>,
    metrics: SelfMetrics,
    labels: TargetLabels,
}

impl PollCtx {
    async fn poll_once(&self) {
        let kind = self.target.kind();
        self.metrics.polls.get_or_create(&self.labels).inc();
        let started = Instant::now();
        let result = match tokio::time::timeout(self.target.timeout, self.poller.poll()).await {
            Ok(r) => r,
            Err(_) => Err(PollError::new(
                crate::sources::ErrorKind::Timeout,
                format!("no answer within {:?}", self.target.timeout),
            )),
        };
        let elapsed = started.elapsed().as_secs_f64();
        self.metrics
            .poll_duration
            .get_or_create(&self.labels)
            .observe(elapsed);
        let was_up = self.metrics.up.get_or_create(&self.labels).get() == 1;
        let previous_error = self
            .store
            .get(kind, &self.target.name)
            .and_then(|s| s.error.as_ref().map(|e| e.to_string()));
        let now = SystemTime::now();
        match result {
            Ok(families) => {
                self.metrics.up.get_or_create(&self.labels).set(1);
                self.metrics.last_success.get_or_create(&self.labels).set(
                    now.duration_since(UNIX_EPOCH)
                        .map(|d| d.as_secs_f64())
                        .unwrap_or(0.0),
                );
                if previous_error.is_some() {
                    tracing::info!(source = %kind, target = %self.target.name, "target recovered");
                }
                self.store.put(TargetSnapshot {
                    source: kind,
                    target: self.target.name.clone(),
                    families,
                    taken_at: now,
                    error: None,
                });
            }
            Err(e) => {
                self.metrics.up.get_or_create(&self.labels).set(0);
                self.metrics
                    .errors
                    .get_or_create(&ErrorLabels {
                        source: kind,
                        target: self.target.name.to_string(),
                        kind: e.kind,
                    })
                    .inc();
                // Say it once when a target goes down or the reason changes, not every poll.
                let msg = e.to_string();
                if was_up || previous_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!(source = %kind, target = %self.target.name, error = %msg, "poll failed");
                } else {
                    tracing::debug!(source = %kind, target = %self.target.name, error = %msg, "poll failed");
                }
                self.store.put(TargetSnapshot {
                    source: kind,
                    target: self.target.name.clone(),
                    families: vec![Family::single(
                        kind.up_metric(),
                        "Whether the target could be reached and read.",
                        Kind::Gauge,
                        0.0,
                    )],
                    taken_at: now,
                    error: Some(e),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_is_stable_and_within_interval() {
        let i = Duration::from_secs(15);
        let a = phase(SourceKind::Mysql, "db1", i);
        assert_eq!(a, phase(SourceKind::Mysql, "db1", i));
        assert!(a < i);
        let spread: std::collections::HashSet<_> = (0..50)
            .map(|n| phase(SourceKind::Memcached, &format!("m{n}"), i))
            .collect();
        assert!(
            spread.len() > 40,
            "phases collide too often: {}",
            spread.len()
        );
    }
}
