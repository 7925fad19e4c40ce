//! The check engine: evaluates each check instance on its own schedule (`check_interval`,
//! `retry_interval` while SOFT), feeds the results to the Nagios state machine, and publishes
//! the states to the status page, the metrics, the retention file and, when configured, the
//! senders in [`super::push`] (a Nagios external command file, the Icinga 2 API).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::bind::{InactiveCheck, Instance, resources};
use super::eval::{Evaluation, evaluate_with};
use super::push::icinga::{IcingaResult, IcingaSender};
use super::push::nagios;
use super::retention::Retention;
use super::state::{CheckState, StateType, Status, duration_text};
use crate::model::SourceKind;
use crate::store::{SnapshotStore, TargetSnapshot};
use crate::time::unix_now;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CheckLabels {
    pub check: String,
    pub host: String,
    /// The target whose data the check judged (a per-resource check's host is a resource of
    /// it), so dashboards and alerts can select checks by target as they select its series.
    pub target: String,
}

impl CheckLabels {
    fn of(inst: &Instance) -> Self {
        CheckLabels {
            check: inst.def.name.clone(),
            host: inst.host.to_string(),
            target: inst.target.to_string(),
        }
    }
}

/// `headroom_check_*`, one series per check and host.
#[derive(Debug, Clone, Default)]
pub struct CheckMetrics {
    pub state: Family<CheckLabels, Gauge>,
    pub state_type: Family<CheckLabels, Gauge>,
    pub attempt: Family<CheckLabels, Gauge>,
    pub flapping: Family<CheckLabels, Gauge>,
    pub percent_state_change: Family<CheckLabels, Gauge<f64, AtomicU64>>,
    pub value: Family<CheckLabels, Gauge<f64, AtomicU64>>,
    pub last_state_change: Family<CheckLabels, Gauge>,
    pub last_check: Family<CheckLabels, Gauge>,
    pub max_attempts: Family<CheckLabels, Gauge>,
    /// The D-day board: 1 GO, 0 NO-GO, overall and per criterion.
    pub dday_go: Gauge,
    pub dday_criterion_go: Family<CriterionLabels, Gauge>,
    pub dday_at: Family<PhaseLabels, Gauge>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CriterionLabels {
    pub criterion: String,
}

impl CheckMetrics {
    pub fn register(reg: &mut Registry) -> Self {
        let m = CheckMetrics::default();
        reg.register(
            "headroom_check_state",
            "Check state: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN",
            m.state.clone(),
        );
        reg.register(
            "headroom_check_state_type",
            "0 SOFT, 1 HARD",
            m.state_type.clone(),
        );
        reg.register(
            "headroom_check_attempt",
            "Current attempt (the 1 of 1/5)",
            m.attempt.clone(),
        );
        reg.register(
            "headroom_check_flapping",
            "1 while the check is flapping",
            m.flapping.clone(),
        );
        reg.register(
            "headroom_check_percent_state_change",
            "Nagios' weighted percent state change over the last 21 states",
            m.percent_state_change.clone(),
        );
        reg.register(
            "headroom_check_value",
            "The value the check compared with its thresholds (days remaining for certificate checks)",
            m.value.clone(),
        );
        reg.register_with_unit(
            "headroom_check_last_state_change_timestamp",
            "When the check last changed state, Unix time",
            Unit::Seconds,
            m.last_state_change.clone(),
        );
        reg.register_with_unit(
            "headroom_check_last_check_timestamp",
            "When the check was last evaluated, Unix time",
            Unit::Seconds,
            m.last_check.clone(),
        );
        reg.register(
            "headroom_check_max_attempts",
            "Attempts before a problem becomes HARD (the 5 of 1/5)",
            m.max_attempts.clone(),
        );
        reg.register(
            "headroom_dday_go",
            "The D-day board's decision: 1 GO, 0 NO-GO (see /dday)",
            m.dday_go.clone(),
        );
        reg.register(
            "headroom_dday_criterion_go",
            "1 while the D-day board's criterion is GO, 0 while it blocks",
            m.dday_criterion_go.clone(),
        );
        reg.register_with_unit(
            "headroom_dday_timestamp",
            "D-day (dday.at), Unix time, with the phase the move is in; absent when not configured",
            Unit::Seconds,
            m.dday_at.clone(),
        );
        m
    }

    fn set(&self, l: &CheckLabels, s: &CheckState, value: Option<f64>) {
        self.state.get_or_create(l).set(i64::from(s.status.code()));
        self.state_type.get_or_create(l).set(s.state_type as i64);
        self.attempt.get_or_create(l).set(i64::from(s.attempt));
        self.flapping.get_or_create(l).set(i64::from(s.is_flapping));
        self.percent_state_change
            .get_or_create(l)
            .set(s.percent_state_change);
        self.last_state_change
            .get_or_create(l)
            .set(s.last_state_change);
        self.last_check.get_or_create(l).set(s.last_check);
        self.max_attempts
            .get_or_create(l)
            .set(i64::from(s.max_attempts));
        match value {
            Some(v) => {
                self.value.get_or_create(l).set(v);
            }
            None => {
                self.value.remove(l);
            }
        }
    }

    fn remove(&self, l: &CheckLabels) {
        self.state.remove(l);
        self.state_type.remove(l);
        self.attempt.remove(l);
        self.flapping.remove(l);
        self.percent_state_change.remove(l);
        self.value.remove(l);
        self.last_state_change.remove(l);
        self.last_check.remove(l);
        self.max_attempts.remove(l);
    }
}

pub use super::board::{Board, CheckView, SharedBoard};

// The `push:` config, at the path the config module reads it from.
pub use super::push::{IcingaPush, PushConfig, RawIcinga, RawPush};

struct Slot {
    inst: Instance,
    state: CheckState,
    /// When the check is next due: a check interval (or a retry interval) after it was last
    /// evaluated.
    next_due: Instant,
    /// How far from `next_due` the poll's data may bring an evaluation (`Slot::due`).
    slack: Duration,
    /// When the poll ended whose snapshot the check last judged (`TargetSnapshot::taken_at`).
    judged: Option<SystemTime>,
    last_value: Option<f64>,
    /// Since when the check has been waiting for its target's first poll.
    waiting_since: Instant,
}

impl Slot {
    fn new(inst: Instance, state: CheckState, next_due: Instant, now: Instant) -> Slot {
        Slot {
            inst,
            state,
            next_due,
            slack: Duration::ZERO,
            judged: None,
            last_value: None,
            waiting_since: now,
        }
    }

    /// Whether the check is due: from `slack` before `next_due` when its target's poll has
    /// just brought data the check has not judged (`fresh`), else at `slack` after it. So a
    /// check judges a poll's data as it arrives, in the engine's turn after the poll, rather
    /// than at a time of its own up to an interval later (and in a wake-up of its own); and
    /// past `next_due` it waits up to `slack` for the poll due then, no longer: a poll that
    /// hangs or is skipped does not hold it.
    fn due(&self, now: Instant, fresh: impl FnOnce() -> bool) -> bool {
        if now >= self.next_due + self.slack {
            return true;
        }
        now + self.slack >= self.next_due && fresh()
    }

    /// After an evaluation: due again a `period` from `now`. A poll's data comes once a poll
    /// interval, so it may come half of the shorter of the two early, and (when the check
    /// waits for every poll or fewer) half a poll interval late.
    fn schedule(&mut self, now: Instant, period: Duration) {
        self.next_due = now + period;
        self.slack = period.min(self.inst.poll_interval) / 2;
    }
}

/// Owns the check states; `run` drives them.
pub struct Engine {
    slots: Vec<Slot>,
    /// Per-resource checks bound to their targets; `expand` turns each into one slot per
    /// resource found in the target's snapshot.
    templates: Vec<Instance>,
    /// By index of `templates`: the poll whose snapshot each was last expanded from. The
    /// engine runs after every poll of every target; a template is expanded again only when
    /// its own target's data is new.
    expanded: Vec<Option<SystemTime>>,
    store: Arc<SnapshotStore>,
    metrics: CheckMetrics,
    board: SharedBoard,
    retention: Option<Retention>,
    push: PushConfig,
    icinga: Option<IcingaSender>,
    saved: HashMap<(String, String), CheckState>,
    dirty: bool,
    last_save: Instant,
    /// When the whole board was last rebuilt; between rebuilds, an evaluation rewrites only
    /// its own row (`row_of`), so a tick costs what it evaluated, not the number of checks.
    last_full_publish: Instant,
    /// The board row of each slot, as of the latest full publish.
    row_of: Vec<usize>,
    /// The D-day series exported at the latest publish, so that only those gone are removed
    /// (clearing them all would let a scrape in between see none).
    dday_series: (Vec<CriterionLabels>, Option<PhaseLabels>),
    /// When the D-day series were last judged, and whether an evaluation since wants them
    /// judged again ([`DDAY_PUBLISH_EVERY`]).
    last_dday_publish: Option<Instant>,
    dday_pending: bool,
}

/// Longest time between a state change and its landing in the state file.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// How often the whole board is rebuilt (every row's state duration moves on); evaluations in
/// between update their own rows at once.
const FULL_PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// How often at most the D-day series are judged again after evaluations: judging reads the
/// whole board, and a target polled every 100 ms would otherwise pay it ten times a second
/// for gauges a scrape reads every 15 s. An evaluation lands in them within this delay.
const DDAY_PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// A slot's row on the board.
fn view(s: &Slot, now: i64) -> CheckView {
    CheckView {
        check: s.inst.def.name.clone(),
        host: s.inst.host.to_string(),
        target: s.inst.target.to_string(),
        bound: s.inst.def.thresholds_text(),
        status: s.state.status,
        state_type: s.state.state_type,
        attempt: s.state.attempt,
        max_attempts: s.state.max_attempts,
        has_been_checked: s.state.has_been_checked,
        last_check: s.state.last_check,
        last_state_change: s.state.last_state_change,
        last_hard_state_change: s.state.last_hard_state_change,
        duration: if s.state.state_since() > 0 {
            duration_text(now - s.state.state_since())
        } else {
            String::new()
        },
        output: s.state.output.clone(),
        perfdata: s.state.perfdata.clone(),
        is_flapping: s.state.is_flapping,
        percent_state_change: s.state.percent_state_change,
        value: s.last_value,
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("checks", &self.slots.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(
        store: Arc<SnapshotStore>,
        metrics: CheckMetrics,
        retention: Option<Retention>,
    ) -> Self {
        let saved = match &retention {
            Some(r) => {
                let (states, err) = r.load();
                if let Some(e) = err {
                    tracing::warn!("check state not restored: {e}");
                } else if !states.is_empty() {
                    tracing::info!(checks = states.len(), file = %r.path().display(), "check state restored");
                }
                states
            }
            None => HashMap::new(),
        };
        Engine {
            slots: Vec::new(),
            templates: Vec::new(),
            expanded: Vec::new(),
            store,
            metrics,
            board: SharedBoard::default(),
            retention,
            push: PushConfig::default(),
            icinga: None,
            saved,
            dirty: false,
            last_save: Instant::now(),
            last_full_publish: Instant::now(),
            row_of: Vec::new(),
            dday_series: Default::default(),
            last_dday_publish: None,
            dday_pending: false,
        }
    }

    pub fn board(&self) -> SharedBoard {
        self.board.clone()
    }

    /// Replaces the set of instances, keeping the state of those that stay (by check name
    /// and host) and restoring retained state for new ones.
    pub fn set_instances(
        &mut self,
        instances: Vec<Instance>,
        inactive: Vec<InactiveCheck>,
        push: PushConfig,
    ) {
        {
            // Said once per check, not again at every reload or discovery.
            let board = self.board.read();
            for i in inactive.iter().filter(|i| !board.inactive.contains(i)) {
                tracing::warn!(check = %i.name, source = %i.source, "check inactive: {}", i.reason);
            }
        }
        if push != self.push {
            self.icinga = push
                .icinga2
                .clone()
                .and_then(|c| match IcingaSender::start(c) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        tracing::error!("Icinga 2 push disabled: {e}");
                        None
                    }
                });
            self.push = push;
        }
        let (templates, instances): (Vec<Instance>, Vec<Instance>) =
            instances.into_iter().partition(|i| i.template);
        let mut old: HashMap<(String, String), Slot> = HashMap::new();
        let mut kept: Vec<Slot> = Vec::new();
        for s in std::mem::take(&mut self.slots) {
            // A resource's check stays (with its state) while its template does.
            let template = (!s.inst.filter.is_empty())
                .then(|| {
                    templates
                        .iter()
                        .find(|t| t.def.name == s.inst.def.name && t.target == s.inst.target)
                })
                .flatten();
            match template {
                Some(t) => kept.push(Slot {
                    inst: Instance {
                        def: t.def.clone(),
                        interval: t.interval,
                        retry: t.retry,
                        max_age: t.max_age,
                        poll_interval: t.poll_interval,
                        ..s.inst.clone()
                    },
                    ..s
                }),
                None => {
                    old.insert((s.inst.def.name.clone(), s.inst.host.to_string()), s);
                }
            }
        }
        self.expanded = vec![None; templates.len()];
        self.templates = templates;
        let now = Instant::now();
        for inst in instances {
            let key = (inst.def.name.clone(), inst.host.to_string());
            let slot = match old.remove(&key) {
                Some(mut s) => {
                    s.state.max_attempts = inst.def.max_attempts;
                    // A reload may have restarted the target (and emptied its snapshot):
                    // give it the same grace as a new one.
                    s.waiting_since = now;
                    s.inst = inst;
                    s
                }
                None => {
                    let mut state = self
                        .saved
                        .remove(&key)
                        .unwrap_or_else(|| CheckState::new(inst.def.max_attempts));
                    state.max_attempts = inst.def.max_attempts;
                    // Judged with its target's first poll (`tick`): the checks of one
                    // target in one turn, each target's at its own poll's time.
                    Slot::new(inst, state, now, now)
                }
            };
            self.slots.push(slot);
        }
        self.slots.extend(kept);
        for s in old.values() {
            self.metrics.remove(&CheckLabels::of(&s.inst));
        }
        self.board.write().inactive = inactive;
        self.publish();
    }

    /// Evaluates the instances that are due; returns when the next one will be.
    pub fn tick(&mut self) -> Instant {
        let now = Instant::now();
        let unix = unix_now();
        // New or gone slots (resources found or lost) reorder the board: rebuild it.
        // The targets polled since the last tick: only their checks may judge new data early.
        let changed = self.store.take_changed();
        let mut rebuild = self.expand(now, &changed);
        let mut evaluated: Vec<usize> = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let mut snap = None;
            let fresh = |snap: &mut Option<Arc<TargetSnapshot>>| {
                if !polled(&changed, slot.inst.def.source, &slot.inst.target) {
                    return false;
                }
                *snap = self.store.get(slot.inst.def.source, &slot.inst.target);
                snap.as_ref()
                    .is_some_and(|s| slot.judged != Some(s.taken_at))
            };
            let due = if slot.judged.is_none() {
                // Never judged data: the first poll's is judged as it arrives.
                slot.next_due <= now || fresh(&mut snap)
            } else {
                slot.due(now, || fresh(&mut snap))
            };
            if !due {
                continue;
            }
            if snap.is_none() {
                snap = self.store.get(slot.inst.def.source, &slot.inst.target);
            }
            if snap.is_none() && now.duration_since(slot.waiting_since) < slot.inst.max_age {
                // The target has not been polled yet: stay PENDING rather than report an
                // UNKNOWN that says nothing about it (and would alert at every start).
                slot.next_due = now + Duration::from_millis(200);
                slot.slack = Duration::ZERO;
                continue;
            }
            slot.judged = snap.as_ref().map(|s| s.taken_at);
            let ev = evaluate_with(
                &slot.inst.def,
                &slot.inst.host,
                snap.as_deref(),
                &slot.inst.filter,
                slot.inst.max_age,
                unix,
            );
            let t = record(&mut slot.state, &ev, unix, &slot.inst);
            slot.last_value = ev.value;
            if t.state_change || t.hard_state_change {
                tracing::info!(
                    check = %slot.inst.def.name, host = %slot.inst.host,
                    "{};{};{};{}", slot.state.status.as_str(),
                    if slot.state.state_type == StateType::Hard { "HARD" } else { "SOFT" },
                    slot.state.attempt, slot.state.output
                );
            }
            if t.flapping_started {
                tracing::warn!(check = %slot.inst.def.name, host = %slot.inst.host, "started flapping ({:.1}% change)", slot.state.percent_state_change);
            }
            if let Some(cmd) = &self.push.nagios_command_file
                && let Err(e) = nagios::write(cmd, &slot.inst.host, &slot.inst.def.name, &ev, unix)
            {
                tracing::warn!(file = %cmd.display(), error = %e, "result not pushed to Nagios");
            }
            if let Some(icinga) = &self.icinga {
                icinga.send(IcingaResult {
                    host: slot.inst.host.to_string(),
                    service: slot.inst.def.name.clone(),
                    exit_status: ev.status.code(),
                    output: slot.state.output.clone(),
                    perfdata: ev.perf.iter().map(|p| p.render()).collect(),
                });
            }
            let soft_problem =
                slot.state.state_type == StateType::Soft && slot.state.status != Status::Ok;
            slot.schedule(
                now,
                if soft_problem {
                    slot.inst.retry
                } else {
                    slot.inst.interval
                },
            );
            self.metrics
                .set(&CheckLabels::of(&slot.inst), &slot.state, slot.last_value);
            evaluated.push(i);
        }
        if !evaluated.is_empty() {
            self.dirty = true;
        }
        rebuild |= self.row_of.len() != self.slots.len()
            || (self.last_full_publish.elapsed() >= FULL_PUBLISH_EVERY && !evaluated.is_empty());
        if rebuild {
            self.publish();
        } else if !evaluated.is_empty() {
            self.publish_rows(&evaluated);
        }
        if self.dday_pending
            && self
                .last_dday_publish
                .is_none_or(|t| t.elapsed() >= DDAY_PUBLISH_EVERY)
        {
            self.publish_dday(unix);
        }
        // Saving rewrites and fsyncs the whole file: at most once a second, and at shutdown.
        if self.dirty && self.last_save.elapsed() >= SAVE_EVERY {
            self.save();
        }
        let next = self
            .slots
            .iter()
            .map(|s| s.next_due + s.slack)
            .min()
            .unwrap_or(now + Duration::from_secs(1));
        match self.last_dday_publish.filter(|_| self.dday_pending) {
            Some(t) => next.min(t + DDAY_PUBLISH_EVERY),
            None => next,
        }
    }

    /// Makes the slots of per-resource checks follow the resources in their targets'
    /// snapshots: a check for each resource that appeared, none for one that vanished. A
    /// target that failed or has not been polled keeps its resources' checks, which report
    /// that. Returns whether anything changed.
    fn expand(&mut self, now: Instant, since: &[(SourceKind, Arc<str>)]) -> bool {
        let mut changed = false;
        for (t, expanded) in self.templates.iter().zip(&mut self.expanded) {
            // Expanded from a snapshot, and its target not polled since: nothing new.
            if expanded.is_some() && !polled(since, t.def.source, &t.target) {
                continue;
            }
            let Some(snap) = self.store.get(t.def.source, &t.target) else {
                continue;
            };
            if snap.error.is_some() || *expanded == Some(snap.taken_at) {
                continue;
            }
            *expanded = Some(snap.taken_at);
            let found = resources(&t.def, &snap);
            let before = self.slots.len();
            self.slots.retain(|s| {
                let mine = s.inst.def.name == t.def.name && s.inst.target == t.target && !s.inst.filter.is_empty();
                let keep = !mine || found.iter().any(|(h, _)| *h == *s.inst.host);
                if !keep {
                    self.metrics.remove(&CheckLabels::of(&s.inst));
                    tracing::info!(check = %s.inst.def.name, host = %s.inst.host, "resource gone; check removed");
                }
                keep
            });
            changed |= self.slots.len() != before;
            for (host, filter) in found {
                let exists = self
                    .slots
                    .iter()
                    .any(|s| s.inst.def.name == t.def.name && *s.inst.host == *host);
                if exists {
                    continue;
                }
                let key = (t.def.name.clone(), host.clone());
                let mut state = self
                    .saved
                    .remove(&key)
                    .unwrap_or_else(|| CheckState::new(t.def.max_attempts));
                state.max_attempts = t.def.max_attempts;
                self.slots.push(Slot::new(
                    Instance {
                        host: Arc::from(host.as_str()),
                        filter,
                        template: false,
                        ..t.clone()
                    },
                    state,
                    now,
                    now,
                ));
                changed = true;
            }
        }
        changed
    }

    fn save(&mut self) {
        self.dirty = false;
        self.last_save = Instant::now();
        if let Some(r) = &self.retention {
            let states = self
                .slots
                .iter()
                .map(|s| (s.inst.def.name.as_str(), &*s.inst.host, &s.state));
            if let Err(e) = r.save(states) {
                tracing::warn!(file = %r.path().display(), error = %e, "check state not saved");
            }
        }
    }

    /// Rebuilds the whole board (and the D-day series) from every slot.
    fn publish(&mut self) {
        let now = unix_now();
        let mut order: Vec<usize> = (0..self.slots.len()).collect();
        // By host, then service, as Nagios' status screen lists them.
        order.sort_by(|&a, &b| {
            let (a, b) = (&self.slots[a].inst, &self.slots[b].inst);
            (&*a.host, &a.def.name).cmp(&(&*b.host, &b.def.name))
        });
        let mut row_of = vec![0; self.slots.len()];
        for (row, &slot) in order.iter().enumerate() {
            row_of[slot] = row;
        }
        self.row_of = row_of;
        self.last_full_publish = Instant::now();
        let checks = order
            .into_iter()
            .map(|i| view(&self.slots[i], now))
            .collect();
        let mut board = self.board.write();
        board.checks = checks;
        board.per_resource = self.templates.iter().map(|t| t.def.name.clone()).collect();
        drop(board);
        self.publish_dday(now);
    }

    /// Rewrites the rows of the slots just evaluated; the D-day series follow within
    /// [`DDAY_PUBLISH_EVERY`].
    fn publish_rows(&mut self, slots: &[usize]) {
        let now = unix_now();
        let mut board = self.board.write();
        for &i in slots {
            if let Some(row) = board.checks.get_mut(self.row_of[i]) {
                *row = view(&self.slots[i], now);
            }
        }
        drop(board);
        self.dday_pending = true;
    }

    fn publish_dday(&mut self, now: i64) {
        self.dday_pending = false;
        self.last_dday_publish = Some(Instant::now());
        let board = self.board.read();
        let judged = super::dday::judge(&board, None, now);
        drop(board);
        let go = |d: super::dday::Decision| i64::from(d == super::dday::Decision::Go);
        self.metrics.dday_go.set(go(judged.decision));
        let criteria: Vec<CriterionLabels> = judged
            .criteria
            .iter()
            .map(|c| CriterionLabels {
                criterion: c.name.clone(),
            })
            .collect();
        for (l, c) in criteria.iter().zip(&judged.criteria) {
            self.metrics
                .dday_criterion_go
                .get_or_create(l)
                .set(go(c.decision));
        }
        let phase = judged.dday_timestamp.map(|at| {
            let l = PhaseLabels {
                phase: judged.phase.as_str().to_owned(),
            };
            self.metrics.dday_at.get_or_create(&l).set(at);
            l
        });
        let (old_criteria, old_phase) = std::mem::replace(&mut self.dday_series, (criteria, phase));
        for l in old_criteria
            .iter()
            .filter(|l| !self.dday_series.0.contains(l))
        {
            self.metrics.dday_criterion_go.remove(l);
        }
        if let Some(l) = old_phase.filter(|l| self.dday_series.1.as_ref() != Some(l)) {
            self.metrics.dday_at.remove(&l);
        }
    }

    /// Runs until cancelled.
    pub async fn run(engine: Arc<tokio::sync::Mutex<Engine>>, cancel: CancellationToken) {
        let store = engine.lock().await.store.clone();
        loop {
            let next = engine.lock().await.tick();
            // Wake at least every second so a reload's new instances are picked up promptly.
            let until = next.min(Instant::now() + Duration::from_secs(1));
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(until) => {}
                // A poll's data: judged in the turn after the poll, on its thread.
                _ = store.changed() => {}
            }
        }
        engine.lock().await.save();
    }
}

/// Whether `target` of `source` is among the targets polled (`SnapshotStore::take_changed`).
fn polled(since: &[(SourceKind, Arc<str>)], source: SourceKind, target: &str) -> bool {
    since.iter().any(|(s, t)| *s == source && **t == *target)
}

/// Applies one evaluation to a state and records its output.
pub fn record(
    state: &mut CheckState,
    ev: &Evaluation,
    now: i64,
    inst: &Instance,
) -> super::state::Transition {
    let t = state.apply(ev.status, now, inst.def.flap);
    let line = ev.line();
    let (out, perf) = match line.split_once(" | ") {
        Some((o, p)) => (o.to_owned(), p.to_owned()),
        None => (line, String::new()),
    };
    state.output = out;
    state.perfdata = perf;
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckDef, instances, parse_list};
    use crate::model::{ErrorKind, PollError};
    use crate::model::{Family as MetricFamily, Kind};
    use crate::sources::memcached;
    use crate::sources::{SourceConfig, Target};
    use crate::store::TargetSnapshot;
    use std::path::Path;
    use std::time::SystemTime;

    fn target(name: &str) -> Target {
        Target {
            name: Arc::from(name),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            region: None,
            source: SourceConfig::Memcached(memcached::Settings {
                address: "127.0.0.1:1".into(),
                slabs: false,
            }),
        }
    }

    fn defs(yaml: &str) -> Vec<CheckDef> {
        parse_list(Path::new("t.yaml"), yaml, "").unwrap()
    }

    /// A memcached check going CRITICAL above 0.5, HARD at the third result in a row.
    const RESP: &str = "- {name: RESP, source: memcached, metric: rtt, critical: \"0.5\", \
                        max_check_attempts: 3, check_interval: 60s, retry_interval: 10s}\n";

    fn engine(store: &Arc<SnapshotStore>, retention: Option<Retention>) -> Engine {
        Engine::new(store.clone(), CheckMetrics::default(), retention)
    }

    fn bind(e: &mut Engine, defs: &[CheckDef], targets: &[Target], push: PushConfig) {
        let (inst, inactive) = instances(defs, targets);
        e.set_instances(inst, inactive, push);
    }

    fn put(
        store: &SnapshotStore,
        target: &str,
        families: Vec<MetricFamily>,
        error: Option<PollError>,
    ) {
        store.put(TargetSnapshot {
            source: memcached::KIND,
            target: Arc::from(target),
            families,
            taken_at: SystemTime::now(),
            error,
        });
    }

    fn rtt(store: &SnapshotStore, target: &str, v: f64) {
        put(
            store,
            target,
            vec![MetricFamily::single("rtt", "", Kind::Gauge, v)],
            None,
        );
    }

    /// Makes every check due now, as if its interval, and the wait for its target's next
    /// poll, had passed.
    fn due(e: &mut Engine) {
        let now = Instant::now();
        for s in &mut e.slots {
            s.next_due = now;
            s.slack = Duration::ZERO;
        }
    }

    fn row(e: &Engine, check: &str, host: &str) -> CheckView {
        let b = e.board.read();
        b.checks
            .iter()
            .find(|v| v.check == check && v.host == host)
            .unwrap_or_else(|| panic!("no {check} on {host} in {:?}", b.checks))
            .clone()
    }

    fn hosts(e: &Engine) -> Vec<String> {
        let b = e.board.read();
        b.checks
            .iter()
            .map(|v| format!("{}@{}", v.check, v.host))
            .collect()
    }

    fn progress(v: &CheckView) -> (Status, StateType, u32) {
        (v.status, v.state_type, v.attempt)
    }

    /// Whether the last `tick` evaluated the check: an evaluation moves it a period on.
    fn evaluated(e: &Engine, period: u64) -> bool {
        e.slots[0].next_due > Instant::now() + Duration::from_secs(period - 1)
    }

    /// Moves the check's due time to `secs` from now (negative: past due).
    fn due_in(e: &mut Engine, secs: i64) {
        let now = Instant::now();
        let d = Duration::from_secs(secs.unsigned_abs());
        e.slots[0].next_due = if secs < 0 { now - d } else { now + d };
    }

    /// RESP's target is polled every 10 s; the check runs every 10 s while SOFT and every 60 s
    /// otherwise. A poll's data is judged as it arrives when the check is due within half the
    /// shorter of the two, and a check past due waits as long for it, no longer.
    #[test]
    fn a_check_judges_each_poll_as_it_arrives_and_waits_half_a_poll_for_a_late_one() {
        let store = Arc::new(SnapshotStore::new());
        let mut e = engine(&store, None);
        bind(&mut e, &defs(RESP), &[target("m1")], PushConfig::default());
        e.tick();
        assert!(
            !row(&e, "RESP", "m1").has_been_checked,
            "judged before any poll"
        );
        // The first poll is judged as it arrives, whatever the time.
        rtt(&store, "m1", 0.7);
        due_in(&mut e, 3600);
        e.tick();
        assert_eq!(
            progress(&row(&e, "RESP", "m1")),
            (Status::Critical, StateType::Soft, 1)
        );
        assert!(evaluated(&e, 10));

        // SOFT, due in 3 s: the same data waits; the next poll's is judged now.
        due_in(&mut e, 3);
        e.tick();
        assert!(!evaluated(&e, 10), "judged the same data again before due");
        rtt(&store, "m1", 0.8);
        e.tick();
        assert!(evaluated(&e, 10), "a poll's data due within 5 s waited");
        assert_eq!(
            progress(&row(&e, "RESP", "m1")),
            (Status::Critical, StateType::Soft, 2)
        );

        // Due in 6 s: new data waits, more than half a poll ahead; then it is judged when the
        // check is past due by the margin, with no poll since.
        rtt(&store, "m1", 0.9);
        due_in(&mut e, 6);
        e.tick();
        assert!(!evaluated(&e, 10), "judged more than half a poll early");
        due_in(&mut e, 0);
        e.tick();
        assert!(!evaluated(&e, 10), "did not wait for a poll at due time");
        due_in(&mut e, -5);
        e.tick();
        assert_eq!(
            progress(&row(&e, "RESP", "m1")),
            (Status::Critical, StateType::Hard, 3)
        );

        // HARD: every 60 s, but the slack is still half the 10 s poll. A poll 6 s early
        // waits, one 4 s early is judged; past due with nothing new, the check waits 5 s for
        // the poll, then judges what it has.
        assert!(evaluated(&e, 60));
        rtt(&store, "m1", 0.9);
        due_in(&mut e, 6);
        e.tick();
        assert!(!evaluated(&e, 60), "judged more than half a poll early");
        rtt(&store, "m1", 0.9);
        due_in(&mut e, 4);
        e.tick();
        assert!(evaluated(&e, 60), "a poll's data due within 5 s waited");
        due_in(&mut e, -4);
        e.tick();
        assert!(!evaluated(&e, 60), "did not wait for a poll 4 s late");
        due_in(&mut e, -6);
        e.tick();
        assert!(evaluated(&e, 60), "waited past half a poll for a late one");
    }

    #[test]
    fn a_problem_turns_hard_on_the_retry_schedule_and_recovers() {
        let store = Arc::new(SnapshotStore::new());
        let mut e = engine(&store, None);
        bind(&mut e, &defs(RESP), &[target("m1")], PushConfig::default());
        rtt(&store, "m1", 0.7);

        let before = Instant::now();
        e.tick();
        let v = row(&e, "RESP", "m1");
        assert_eq!(progress(&v), (Status::Critical, StateType::Soft, 1));
        assert_eq!((v.max_attempts, v.has_been_checked), (3, true));
        assert_eq!(v.output, "CRITICAL: RESP = 0.7");
        assert_eq!(v.perfdata, "'resp'=0.7;;0.5");
        // SOFT: the next evaluation is a retry_interval away, and not earlier.
        let next = e.slots[0].next_due;
        assert!(next >= before + Duration::from_secs(10), "{next:?}");
        assert!(next < before + Duration::from_secs(11), "{next:?}");
        e.tick();
        assert_eq!(
            progress(&row(&e, "RESP", "m1")).2,
            1,
            "evaluated before due"
        );

        due(&mut e);
        e.tick();
        assert_eq!(
            progress(&row(&e, "RESP", "m1")),
            (Status::Critical, StateType::Soft, 2)
        );
        due(&mut e);
        let before = Instant::now();
        e.tick();
        assert_eq!(
            progress(&row(&e, "RESP", "m1")),
            (Status::Critical, StateType::Hard, 3)
        );
        // HARD: back to check_interval.
        assert!(e.slots[0].next_due >= before + Duration::from_secs(60));
        let labels = CheckLabels {
            check: "RESP".into(),
            host: "m1".into(),
            target: "m1".into(),
        };
        assert_eq!(e.metrics.attempt.get(&labels).unwrap().get(), 3);
        assert_eq!(e.metrics.max_attempts.get(&labels).unwrap().get(), 3);
        let checked = e.metrics.last_check.get(&labels).unwrap().get();
        assert!((unix_now() - checked).abs() <= 2, "{checked}");
        assert_eq!(e.metrics.state.get(&labels).unwrap().get(), 2);
        assert_eq!(e.metrics.state_type.get(&labels).unwrap().get(), 1);
        assert_eq!(e.metrics.value.get(&labels).unwrap().get(), 0.7);

        rtt(&store, "m1", 0.02);
        due(&mut e);
        e.tick();
        let v = row(&e, "RESP", "m1");
        assert_eq!(progress(&v), (Status::Ok, StateType::Hard, 1));
        assert_eq!(v.output, "OK: RESP = 0.02");
        assert_eq!(e.metrics.state.get(&labels).unwrap().get(), 0);
    }

    #[test]
    fn a_target_that_cannot_be_polled_fails_its_checks_with_the_reason() {
        let store = Arc::new(SnapshotStore::new());
        let mut e = engine(&store, None);
        let two = format!(
            "{RESP}- {{name: SOFTER, source: memcached, metric: rtt, unreachable: unknown}}\n"
        );
        bind(&mut e, &defs(&two), &[target("m1")], PushConfig::default());
        put(
            &store,
            "m1",
            vec![],
            Some(PollError::new(ErrorKind::Connect, "refused")),
        );
        // First evaluations are spread over a second; both at once here.
        due(&mut e);
        e.tick();
        let v = row(&e, "RESP", "m1");
        assert_eq!(v.status, Status::Critical);
        assert_eq!(
            v.output,
            "CRITICAL: m1 could not be polled: connect: refused"
        );
        assert_eq!(v.perfdata, "");
        let v = row(&e, "SOFTER", "m1");
        assert_eq!(v.status, Status::Unknown);
        assert_eq!(
            v.output,
            "UNKNOWN: m1 could not be polled: connect: refused"
        );
        // A timeout says nothing about the target's state.
        put(
            &store,
            "m1",
            vec![],
            Some(PollError::new(ErrorKind::Timeout, "no answer")),
        );
        due(&mut e);
        e.tick();
        let v = row(&e, "RESP", "m1");
        assert_eq!(v.status, Status::Unknown);
        assert_eq!(
            v.output,
            "UNKNOWN: m1 could not be polled: timeout: no answer"
        );
    }

    #[test]
    fn a_check_stays_pending_until_its_target_is_polled_or_max_age_passes() {
        let store = Arc::new(SnapshotStore::new());
        let mut e = engine(&store, None);
        bind(&mut e, &defs(RESP), &[target("m1")], PushConfig::default());
        let before = Instant::now();
        e.tick();
        let v = row(&e, "RESP", "m1");
        assert!(!v.has_been_checked);
        assert_eq!(v.output, "");
        // Looked at again shortly, not after a whole interval.
        assert!(e.slots[0].next_due < before + Duration::from_secs(1));
        // No first poll within max_age (3 intervals + the timeout): UNKNOWN.
        e.slots[0].waiting_since = Instant::now() - Duration::from_secs(33);
        due(&mut e);
        e.tick();
        let v = row(&e, "RESP", "m1");
        assert_eq!(v.status, Status::Unknown);
        assert_eq!(
            v.output,
            "UNKNOWN: no data yet: target 'm1' has not been polled"
        );
    }

    #[test]
    fn checks_follow_targets_that_come_and_go_and_keep_their_state() {
        let store = Arc::new(SnapshotStore::new());
        let mut e = engine(&store, None);
        let d = defs(RESP);
        bind(
            &mut e,
            &d,
            &[target("m1"), target("m2")],
            PushConfig::default(),
        );
        rtt(&store, "m1", 0.7);
        rtt(&store, "m2", 0.7);
        e.tick();
        due(&mut e);
        e.tick();
        assert_eq!(hosts(&e), ["RESP@m1", "RESP@m2"]);
        assert_eq!(progress(&row(&e, "RESP", "m1")).2, 2);

        bind(
            &mut e,
            &d,
            &[target("m1"), target("m3")],
            PushConfig::default(),
        );
        assert_eq!(hosts(&e), ["RESP@m1", "RESP@m3"]);
        // m1 keeps its attempt count; m3 is new and pending; m2's series are gone.
        assert_eq!(
            progress(&row(&e, "RESP", "m1")),
            (Status::Critical, StateType::Soft, 2)
        );
        assert!(!row(&e, "RESP", "m3").has_been_checked);
        let m2 = CheckLabels {
            check: "RESP".into(),
            host: "m2".into(),
            target: "m2".into(),
        };
        assert!(e.metrics.state.get(&m2).is_none());
        assert!(e.metrics.last_check.get(&m2).is_none());

        bind(&mut e, &d, &[], PushConfig::default());
        let b = e.board.read();
        assert!(b.checks.is_empty(), "{:?}", b.checks);
        assert_eq!(
            b.inactive,
            [InactiveCheck {
                name: "RESP".into(),
                source: "memcached".into(),
                reason: "no memcached target is configured".into(),
            }]
        );
    }

    #[test]
    fn per_resource_checks_follow_the_resources_in_the_snapshot() {
        let store = Arc::new(SnapshotStore::new());
        let mut e = engine(&store, None);
        let d = defs(
            "- {name: LB_HEALTHY, source: memcached, metric: healthy, per: [lb], critical: \"1:\"}\n",
        );
        bind(&mut e, &d, &[target("m1")], PushConfig::default());
        let lbs = |values: &[(&str, f64)]| {
            let mut f = MetricFamily::new("healthy", "", Kind::Gauge);
            for (lb, v) in values {
                f.push("lb", *lb, *v);
            }
            vec![f]
        };
        put(&store, "m1", lbs(&[("a", 2.0), ("b", 0.0)]), None);
        e.tick();
        assert_eq!(hosts(&e), ["LB_HEALTHY@a", "LB_HEALTHY@b"]);
        assert_eq!(row(&e, "LB_HEALTHY", "a").status, Status::Ok);
        assert_eq!(row(&e, "LB_HEALTHY", "b").status, Status::Critical);

        put(&store, "m1", lbs(&[("a", 2.0)]), None);
        e.tick();
        assert_eq!(hosts(&e), ["LB_HEALTHY@a"]);
        // A failed poll keeps the resources' checks, which report it.
        put(
            &store,
            "m1",
            vec![],
            Some(PollError::new(ErrorKind::Connect, "refused")),
        );
        due(&mut e);
        e.tick();
        assert_eq!(hosts(&e), ["LB_HEALTHY@a"]);
        assert_eq!(row(&e, "LB_HEALTHY", "a").status, Status::Critical);
    }

    #[test]
    fn states_survive_a_restart_through_the_state_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        let d = defs(RESP);
        {
            let store = Arc::new(SnapshotStore::new());
            let mut e = engine(&store, Some(Retention::new(&file)));
            bind(&mut e, &d, &[target("m1")], PushConfig::default());
            rtt(&store, "m1", 0.7);
            e.tick();
            due(&mut e);
            e.tick();
            e.save();
        }
        let store = Arc::new(SnapshotStore::new());
        let mut e = engine(&store, Some(Retention::new(&file)));
        bind(&mut e, &d, &[target("m1")], PushConfig::default());
        // Restored before any evaluation, with the target not polled yet.
        let v = row(&e, "RESP", "m1");
        assert!(v.has_been_checked);
        assert_eq!(progress(&v), (Status::Critical, StateType::Soft, 2));
        assert_eq!(v.output, "CRITICAL: RESP = 0.7");
        // And the next result carries on from there: the third in a row is HARD.
        rtt(&store, "m1", 0.7);
        e.tick();
        assert_eq!(
            progress(&row(&e, "RESP", "m1")),
            (Status::Critical, StateType::Hard, 3)
        );
    }

    #[test]
    fn each_result_goes_to_the_nagios_command_file() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = dir.path().join("nagios.cmd");
        std::fs::write(&cmd, "").unwrap();
        let store = Arc::new(SnapshotStore::new());
        let mut e = engine(&store, None);
        let push = PushConfig {
            nagios_command_file: Some(cmd.clone()),
            icinga2: None,
        };
        bind(&mut e, &defs(RESP), &[target("m1")], push);
        rtt(&store, "m1", 0.7);
        let before = unix_now();
        e.tick();
        due(&mut e);
        e.tick();
        let after = unix_now();
        let written = std::fs::read_to_string(&cmd).unwrap();
        let lines: Vec<&str> = written.lines().collect();
        assert_eq!(lines.len(), 2, "{written:?}");
        for line in lines {
            let (ts, rest) = line
                .strip_prefix('[')
                .and_then(|l| l.split_once("] "))
                .unwrap_or_else(|| panic!("{line:?}"));
            let ts: i64 = ts.parse().unwrap();
            assert!((before..=after).contains(&ts), "{line:?}");
            assert_eq!(
                rest,
                "PROCESS_SERVICE_CHECK_RESULT;m1;RESP;2;CRITICAL: RESP = 0.7 | 'resp'=0.7;;0.5"
            );
        }
    }
}
