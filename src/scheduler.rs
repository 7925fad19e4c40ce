//! The scheduler: polls every target on its own interval, with a fixed per-target phase
//! (jitter), a per-poll timeout, at most one poll of a target in flight, and at most
//! `max_concurrent_polls` polls in flight over all targets (so that ten thousand targets
//! never open ten thousand sockets at once). It writes each result into the snapshot store
//! and keeps the self-metrics; the pollers do neither.
//!
//! The targets it runs are the configured ones plus those their polls discover
//! ([`crate::sources::discovery`]): a discovering poll sends its finds over a channel that
//! the owner of the scheduler hands back to [`Scheduler::discovered`].

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::model::{Family, Kind};
use crate::model::{PollError, Poller, SourceKind};
use crate::sources::AnyPoller;
use crate::sources::Target;
use crate::sources::aws::Clients;
use crate::sources::aws::clients::Limiter;
use crate::sources::discovery::child_name;
use crate::store::{SnapshotStore, TargetSnapshot};
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

type Key = (SourceKind, Arc<str>);

/// Default of `max_concurrent_polls`. A poll holds one or two sockets (memcached, mysql, a
/// probe and its redirect), so a thousand polls stay well under the open-file limit a
/// service gets once the soft limit is raised to the hard one (see [`raise_nofile_limit`]),
/// while polling a thousand targets whose timeout is 5 s at least every 5 s even when every
/// one of them hangs.
pub const DEFAULT_MAX_CONCURRENT_POLLS: usize = 1000;

/// `max_concurrent_polls:` in the config: the bound on polls in flight over every target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollLimit(pub usize);

impl Default for PollLimit {
    fn default() -> Self {
        PollLimit(DEFAULT_MAX_CONCURRENT_POLLS)
    }
}

/// Validates `max_concurrent_polls` (absent: the default).
pub fn poll_limit(v: &mut crate::config::Validator<'_>, raw: Option<usize>) -> PollLimit {
    let n = raw.unwrap_or(DEFAULT_MAX_CONCURRENT_POLLS);
    if n == 0 {
        v.error("max_concurrent_polls", "must be at least 1");
    }
    PollLimit(n.max(1))
}

/// Raises the soft limit on open files (RLIMIT_NOFILE) to the hard limit, as Go's runtime
/// does at start since Go 1.19 (so every Go exporter gets it): the soft limit is often 1024
/// for compatibility with select(2), which headroom does not use (see getrlimit(2) and
/// the "File descriptor limits" section of Go's os package documentation). Returns the
/// limit now in force and what it was, or why it could not be read or changed.
pub fn raise_nofile_limit() -> Result<(u64, u64), String> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let lim = getrlimit(Resource::Nofile);
    let Some(soft) = lim.current else {
        return Ok((u64::MAX, u64::MAX)); // unlimited already
    };
    let Some(hard) = lim.maximum else {
        // An unlimited hard limit cannot be the soft one (the kernel caps RLIMIT_NOFILE at
        // fs.nr_open); keep the soft limit, as Go's runtime does when its raise fails.
        return Ok((soft, soft));
    };
    if soft >= hard {
        return Ok((soft, soft));
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        },
    )
    .map_err(|e| format!("cannot raise the open-file limit from {soft} to {hard}: {e}"))?;
    Ok((hard, soft))
}

/// What one poll of a discovering target found: the complete set, named in full.
#[derive(Debug)]
pub struct Discovery {
    pub parent: Key,
    pub targets: Vec<Target>,
}

struct Running {
    target: Target,
    cancel: CancellationToken,
    task: JoinHandle<()>,
}

/// Owns one task per target.
pub struct Scheduler {
    store: Arc<SnapshotStore>,
    /// Where the AWS pollers get their clients.
    aws: Clients,
    metrics: SelfMetrics,
    readiness: Arc<Readiness>,
    running: HashMap<Key, Running>,
    configured: Vec<Target>,
    /// The latest finds of each discovering target, by parent.
    discovered: HashMap<Key, Vec<Target>>,
    found_tx: mpsc::UnboundedSender<Discovery>,
    found_rx: Option<mpsc::UnboundedReceiver<Discovery>>,
    /// Permits of polls in flight, over every target.
    limiter: Limiter,
    /// `aws.monthly_budget_usd`: shared by every cloudwatch target, discovered ones too.
    cloudwatch_budget: Option<f64>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scheduler")
            .field("targets", &self.running.len())
            .finish()
    }
}

impl Scheduler {
    pub fn new(
        store: Arc<SnapshotStore>,
        metrics: SelfMetrics,
        aws: Clients,
        limit: PollLimit,
    ) -> Self {
        let (found_tx, found_rx) = mpsc::unbounded_channel();
        metrics.max_concurrent_polls.set(limit.0 as i64);
        Scheduler {
            limiter: Limiter::new(limit.0),
            store,
            aws,
            metrics,
            readiness: Arc::new(Readiness::default()),
            running: HashMap::new(),
            configured: Vec::new(),
            discovered: HashMap::new(),
            found_tx,
            found_rx: Some(found_rx),
            cloudwatch_budget: None,
        }
    }

    /// Sets `aws.monthly_budget_usd` (at start and on reload, before [`Scheduler::apply`]):
    /// every cloudwatch target, configured or discovered, is stretched to fit it together.
    pub fn set_cloudwatch_budget(&mut self, budget: Option<f64>) {
        self.cloudwatch_budget = budget;
    }

    /// The channel discovering polls report on; hand each [`Discovery`] to
    /// [`Scheduler::discovered`]. It can be taken once.
    pub fn discoveries(&mut self) -> mpsc::UnboundedReceiver<Discovery> {
        self.found_rx
            .take()
            .expect("the discovery channel is taken once")
    }

    /// Every target running or about to: the configured ones, then the discovered ones of
    /// configured parents.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = self.configured.clone();
        let mut parents: Vec<&Key> = self.discovered.keys().collect();
        parents.sort();
        for p in parents {
            out.extend(self.discovered[p].iter().cloned());
        }
        if let Some(budget) = self.cloudwatch_budget {
            crate::sources::fit_cloudwatch_budget(&mut out, budget);
        }
        out
    }

    /// Takes a discovering poll's finds. Returns whether the set of targets changed (then
    /// the checks on them need recomputing).
    pub async fn discovered(&mut self, d: Discovery) -> bool {
        let parent_configured = self
            .configured
            .iter()
            .any(|t| t.kind() == d.parent.0 && t.name == d.parent.1);
        if !parent_configured {
            return false; // a late report from a target that has been removed
        }
        let unchanged = self.discovered.get(&d.parent).is_some_and(|old| {
            old.len() == d.targets.len()
                && old
                    .iter()
                    .zip(&d.targets)
                    .all(|(a, b)| a.name == b.name && same(a, b))
        });
        if unchanged {
            return false;
        }
        tracing::info!(
            source = %d.parent.0,
            target = %d.parent.1,
            found = d.targets.len(),
            "discovered targets changed"
        );
        self.discovered.insert(d.parent, d.targets);
        if let Some(budget) = self.cloudwatch_budget {
            let mut all = self.targets();
            for n in crate::sources::fit_cloudwatch_budget(&mut all, budget) {
                tracing::warn!("{n}");
            }
        }
        self.reconcile().await;
        true
    }

    /// The bound on polls in flight now.
    pub fn poll_limit(&self) -> PollLimit {
        PollLimit(self.limiter.limit())
    }

    /// Changes the bound on polls in flight (a reload). Polls in flight finish first: none
    /// is cancelled, and new ones wait until fewer than the new bound run.
    pub fn set_poll_limit(&self, limit: PollLimit) {
        self.limiter.set_limit(limit.0);
        self.metrics.max_concurrent_polls.set(limit.0 as i64);
    }

    pub fn readiness(&self) -> Arc<Readiness> {
        self.readiness.clone()
    }

    /// Makes the configured targets `targets`: new ones start, removed ones stop and take
    /// their series (and their discovered targets) with them, changed ones restart, unchanged
    /// ones keep running (and keep their state, such as the previous sample that rates are
    /// computed from).
    pub async fn apply(&mut self, targets: Vec<Target>) {
        self.discovered
            .retain(|k, _| targets.iter().any(|t| t.kind() == k.0 && t.name == k.1));
        self.configured = targets;
        self.reconcile().await;
    }

    /// Makes the running set equal to [`Scheduler::targets`].
    async fn reconcile(&mut self) {
        let wanted: HashMap<Key, Target> = self
            .targets()
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
                self.metrics
                    .remove_target(key.0, &key.1, r.target.region.as_deref());
                tracing::info!(source = %key.0, target = %key.1, "target stopped");
            }
        }
        for (key, target) in wanted {
            if self.running.contains_key(&key) {
                continue;
            }
            self.metrics
                .add_target(key.0, &key.1, target.region.as_deref());
            self.readiness.pending.fetch_add(1, Ordering::AcqRel);
            let cancel = CancellationToken::new();
            let task = tokio::spawn(run_target(
                target.clone(),
                TaskShared {
                    aws: self.aws.clone(),
                    store: self.store.clone(),
                    metrics: self.metrics.clone(),
                    readiness: self.readiness.clone(),
                    found: self.found_tx.clone(),
                    limiter: self.limiter.clone(),
                },
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

/// What every target's task shares with the scheduler.
struct TaskShared {
    aws: Clients,
    store: Arc<SnapshotStore>,
    metrics: SelfMetrics,
    readiness: Arc<Readiness>,
    found: mpsc::UnboundedSender<Discovery>,
    limiter: Limiter,
}

async fn run_target(target: Target, shared: TaskShared, cancel: CancellationToken) {
    let TaskShared {
        aws,
        store,
        metrics,
        readiness,
        found,
        limiter,
    } = shared;
    let kind = target.kind();
    let poller = Arc::new(AnyPoller::new(&target, &aws));
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
            found: found.clone(),
            limiter: limiter.clone(),
        };
        let in_flight = in_flight.clone();
        let first_done = first_done.clone();
        let readiness = readiness.clone();
        // Boxed: a task's memory lives as long as its JoinHandle (`current`, until the next
        // tick), and the poll future inline made it 16 KB per target (the largest source's
        // poll); boxed, the future is freed as soon as the poll ends.
        current = Some(tokio::spawn(Box::pin(async move {
            ctx.poll_once().await;
            if !first_done.swap(true, Ordering::AcqRel) {
                readiness.pending.fetch_sub(1, Ordering::AcqRel);
            }
            in_flight.store(false, Ordering::Release);
        })));
    }
    if let Some(task) = current {
        task.abort();
        let _ = task.await;
    }
    if !first_done.load(Ordering::Acquire) {
        readiness.pending.fetch_sub(1, Ordering::AcqRel);
    }
    // Boxed, as the poll above: the close future runs once, at the end, and need not be part
    // of the target's task for its whole life.
    Box::pin(poller.close()).await;
}

/// One unit of a gauge for as long as it lives: a poll aborted while it waits or runs (its
/// target removed) gives its unit back too.
struct Held(prometheus_client::metrics::gauge::Gauge);

impl Held {
    fn new(g: &prometheus_client::metrics::gauge::Gauge) -> Held {
        g.inc();
        Held(g.clone())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.0.dec();
    }
}

struct PollCtx {
    target: Target,
    poller: Arc<AnyPoller>,
    store: Arc<SnapshotStore>,
    metrics: SelfMetrics,
    labels: TargetLabels,
    found: mpsc::UnboundedSender<Discovery>,
    limiter: Limiter,
}

impl PollCtx {
    async fn poll_once(&self) {
        let kind = self.target.kind();
        // The wait for a turn is not the target's fault: the timeout and the duration start
        // once the poll may run. A wait past the next tick makes that tick a skipped one.
        let permit = match self.limiter.try_acquire() {
            Some(p) => p,
            None => {
                let _waiting = Held::new(&self.metrics.polls_waiting);
                self.limiter.acquire().await
            }
        };
        let in_flight = Held::new(&self.metrics.polls_in_flight);
        self.metrics.polls.get_or_create(&self.labels).inc();
        let started = Instant::now();
        let result = match tokio::time::timeout(self.target.timeout, self.poller.poll()).await {
            Ok(r) => r,
            Err(_) => Err(PollError::new(
                crate::model::ErrorKind::Timeout,
                format!(
                    "no answer within {}",
                    crate::units::std_duration(self.target.timeout)
                ),
            )),
        };
        drop(permit);
        drop(in_flight);
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
            Ok(polled) => {
                if let Some(found) = polled.discovered {
                    let targets = found
                        .into_iter()
                        .map(|t| Target {
                            name: child_name(&self.target.name, &t.name),
                            region: t.region.or_else(|| self.target.region.clone()),
                            ..t
                        })
                        .collect();
                    // The receiver goes only when the daemon stops.
                    let _ = self.found.send(Discovery {
                        parent: (kind, self.target.name.clone()),
                        targets,
                    });
                }
                let families = polled.families;
                self.metrics.up.get_or_create(&self.labels).set(1);
                self.metrics
                    .last_success
                    .get_or_create(&self.labels)
                    .set(crate::time::unix_seconds(now));
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
        let a = phase(crate::sources::mysql::KIND, "db1", i);
        assert_eq!(a, phase(crate::sources::mysql::KIND, "db1", i));
        assert!(a < i);
        let spread: std::collections::HashSet<_> = (0..50)
            .map(|n| phase(crate::sources::memcached::KIND, &format!("m{n}"), i))
            .collect();
        assert!(
            spread.len() > 40,
            "phases collide too often: {}",
            spread.len()
        );
    }

    /// Ten targets on a real socket that accepts and never answers, three turns: three polls
    /// run, seven wait (their timeout not started), and a raised limit lets more run at once.
    #[test]
    fn polls_in_flight_never_exceed_the_limit() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap().to_string();
            // Holds every connection open without a byte of answer.
            let silent = tokio::spawn(async move {
                let mut held = Vec::new();
                while let Ok((s, _)) = listener.accept().await {
                    held.push(s);
                }
            });
            let mut reg = prometheus_client::registry::Registry::default();
            let metrics = SelfMetrics::register(&mut reg);
            let mut s = Scheduler::new(
                Arc::new(SnapshotStore::new()),
                metrics.clone(),
                Clients::default(),
                PollLimit(3),
            );
            let targets = (0..10)
                .map(|i| Target {
                    name: Arc::from(format!("m{i}")),
                    // The first tick of each target falls within 10 ms.
                    interval: Duration::from_millis(10),
                    timeout: Duration::from_secs(30),
                    region: None,
                    source: crate::sources::memcached::Settings {
                        address: addr.clone(),
                        slabs: false,
                    }
                    .into(),
                })
                .collect();
            s.apply(targets).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(metrics.polls_in_flight.get(), 3);
            assert_eq!(metrics.polls_waiting.get(), 7);
            assert_eq!(metrics.max_concurrent_polls.get(), 3);
            s.set_poll_limit(PollLimit(8));
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(metrics.polls_in_flight.get(), 8);
            assert_eq!(metrics.polls_waiting.get(), 2);
            s.stop().await;
            // Aborted polls give their units back.
            assert_eq!(metrics.polls_in_flight.get(), 0);
            assert_eq!(metrics.polls_waiting.get(), 0);
            silent.abort();
        });
    }

    #[test]
    fn the_open_file_limit_is_raised_to_the_hard_one() {
        let (now, _) = raise_nofile_limit().unwrap();
        let lim = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(lim.current, Some(now));
        assert!(lim.maximum.is_none_or(|hard| hard == now));
    }
}
