//! The capacity source: one database's capacity model, recomputed on a schedule (every 5
//! minutes by default) from its history, the embedded one or a Prometheus-compatible server's
//! (`history:`), and exported as `headroom_capacity_*` so that Prometheus alerts on it and the
//! CAPACITY_HEADROOM check watches it. A poll reads history, never the database.
//!
//! A central headroom with `history: {prometheus: URL}` can run capacity targets for
//! databases that other agents poll: that is how a fleet bigger than one agent is planned.

use std::sync::Arc;

use serde::Deserialize;

use crate::capacity::catalog::{Class, StorageType};
use crate::capacity::evaluate::{Current, EvalError, Request, evaluate};
use crate::capacity::report::Report;
use crate::config::{CommonTarget, Duration as CfgDuration, Validator};
use crate::model::SourceKind;
use crate::model::{ErrorKind, PollError, Polled, Poller};
use crate::model::{Family, Kind};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};
use crate::store::history::HistorySource;
use std::convert::Infallible;

/// Default interval: the model moves with days of history, not seconds.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// Default timeout: long history from a remote Prometheus takes a while.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// One entry of `capacity:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label of its series.
    pub name: String,
    /// The database: the name of its mysql target (the `target` label of its series in the
    /// history). Default: `name`.
    pub db: Option<String>,
    /// The RDS instance it runs on: class and storage from an rds target, CPU from a
    /// cloudwatch target's AWS/RDS CPUUtilization. Default: the mysql target's
    /// `rds_instance`.
    pub rds_instance: Option<String>,
    /// Or the class it runs on, e.g. `db.r5.large` (with `storage` and `gib`).
    pub class: Option<String>,
    /// Its storage type: gp2, gp3, io1 or io2.
    pub storage: Option<String>,
    /// Its allocated storage, GiB.
    pub gib: Option<f64>,
    /// Its provisioned IOPS (gp3 from 400 GiB, io1, io2).
    pub iops: Option<f64>,
    /// How much history the model is built from. Default 7d (the headroom is against its
    /// p95).
    pub window: Option<CfgDuration>,
    /// How far ahead the recommended class must keep 30% headroom. Default 90d.
    pub horizon: Option<CfgDuration>,
    /// How often the model is recomputed. Default 5m (not `defaults.interval`).
    pub interval: Option<CfgDuration>,
    /// Default 60s (not `defaults.timeout`).
    pub timeout: Option<CfgDuration>,
    /// Where the target is, e.g. `us-west-2` or `dc1`: the `region` label of
    /// `headroom_target_info`, which dashboards select targets by. Default: none.
    pub region: Option<String>,
}

/// A validated capacity target.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub db: String,
    pub current: Current,
    pub history: HistorySource,
    pub window_days: f64,
    pub horizon_days: f64,
    pub catalog: Arc<Vec<Class>>,
    /// The target's `region`: the report prices its classes there (catalog/prices.yaml).
    pub region: Option<String>,
    pub prices: Arc<crate::capacity::prices::Table>,
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval.or(Some(CfgDuration(DEFAULT_INTERVAL))),
            timeout: self.timeout.or(Some(CfgDuration(DEFAULT_TIMEOUT))),
            region: self.region.as_deref(),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, cx: &Context) -> Option<Settings> {
        let before = v.error_count();
        let db = self.db.clone().unwrap_or_else(|| self.name.clone());
        let Some(history) = cx.history.clone() else {
            // An invalid history: is already reported.
            if cx.history_disabled {
                v.error(
                    path,
                    "a capacity target needs a history: history.enabled is false",
                );
            }
            return None;
        };
        let given = self.class.is_some() || self.storage.is_some() || self.gib.is_some();
        let current = match (&self.rds_instance, given) {
            (Some(_), true) => {
                v.error(
                    &format!("{path}.rds_instance"),
                    "give either rds_instance or class/storage/gib, not both",
                );
                None
            }
            (Some(id), false) => Some(Current::Rds(id.clone())),
            (None, true) => {
                let storage = match self.storage.as_deref().map(str::parse::<StorageType>) {
                    Some(Ok(s)) => Some(s),
                    Some(Err(e)) => {
                        v.error(&format!("{path}.storage"), e.to_string());
                        None
                    }
                    None => {
                        v.error(&format!("{path}.storage"), "needed with class");
                        None
                    }
                };
                let gib = match self.gib {
                    Some(g) if g.is_finite() && g > 0.0 => Some(g),
                    Some(_) => {
                        v.error(&format!("{path}.gib"), "must be more than 0");
                        None
                    }
                    None => {
                        v.error(&format!("{path}.gib"), "needed with class");
                        None
                    }
                };
                let class = match &self.class {
                    Some(c) if cx.catalog.iter().any(|k| &k.name == c) => Some(c.clone()),
                    Some(c) => {
                        v.error(
                            &format!("{path}.class"),
                            format!("{c:?} is not in the catalog (catalog/rds-classes.yaml); add it under catalog:"),
                        );
                        None
                    }
                    None => {
                        v.error(&format!("{path}.class"), "needed with storage and gib");
                        None
                    }
                };
                match (class, storage, gib) {
                    (Some(class), Some(storage), Some(gib)) => Some(Current::Given {
                        class,
                        storage,
                        gib,
                        iops: self.iops,
                    }),
                    _ => None,
                }
            }
            (None, false) => match cx.rds_of.get(&db).cloned() {
                Some(id) => Some(Current::Rds(id)),
                None => {
                    v.error(
                        path,
                        format!(
                            "what does {db:?} run on? set rds_instance (here or on its mysql target) or class, storage and gib"
                        ),
                    );
                    None
                }
            },
        };
        let days = |d: CfgDuration| d.0.as_secs_f64() / 86_400.0;
        let window_days = self.window.map(days).unwrap_or(7.0);
        if window_days <= 0.0 {
            v.error(&format!("{path}.window"), "must be greater than 0");
        }
        let horizon_days = self.horizon.map(days).unwrap_or(90.0);
        if v.error_count() != before {
            return None;
        }
        Some(Settings {
            db,
            current: current?,
            history,
            window_days,
            horizon_days,
            catalog: cx.catalog.clone(),
            region: self.region.clone(),
            prices: Arc::new(crate::capacity::prices::shipped()),
        })
    }
}

/// Polls one database's capacity model.
#[derive(Debug)]
pub struct CapacityPoller {
    s: Settings,
}

impl CapacityPoller {
    pub fn new(s: &Settings) -> Self {
        CapacityPoller { s: s.clone() }
    }
}

impl Poller for CapacityPoller {
    type Discovered = Infallible;

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let end = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let s = &self.s;
        let report = evaluate(
            &Request {
                source: &s.history,
                db: &s.db,
                current: &s.current,
                days: s.window_days,
                horizon: s.horizon_days,
                resolution: 60.0,
                end,
                catalog: &s.catalog,
                what_if: None,
                region: s.region.as_deref(),
                prices: &s.prices,
            },
            |_, _, _| {},
        )
        .await
        .map_err(|e| match e {
            EvalError::NoData(m) => PollError::new(ErrorKind::NoData, m),
            EvalError::Unavailable(m) => PollError::new(ErrorKind::Connect, m),
            EvalError::Invalid(m) => PollError::new(ErrorKind::Protocol, m),
        })?;
        Ok(families(&report).into())
    }
}

/// The report as metric families.
pub fn families(r: &Report) -> Vec<Family> {
    let a = &r.current;
    let mut out = vec![Family::single(
        "headroom_capacity_up",
        "Whether the model could be built from the history.",
        Kind::Gauge,
        1.0,
    )];
    let gauge = |out: &mut Vec<Family>, name: &'static str, help: &'static str, v: Option<f64>| {
        if let Some(v) = v.filter(|v| !v.is_nan()) {
            out.push(Family::single(name, help, Kind::Gauge, v));
        }
    };
    gauge(
        &mut out,
        "headroom_capacity_max_tps",
        "Most transactions per second the database sustains on its instance: the lowest ceiling of its resources.",
        a.max_tps,
    );
    gauge(
        &mut out,
        "headroom_capacity_tps_p95",
        "95th percentile of transactions per second over the model's window.",
        Some(r.observed.tps_p95),
    );
    gauge(
        &mut out,
        "headroom_capacity_headroom_ratio",
        "1 - p95 TPS / max TPS: the share of the ceiling still free (negative above it).",
        a.headroom,
    );
    let mut bounds = Family::new(
        "headroom_capacity_resource_max_tps",
        "The TPS ceiling each resource sets (cpu, iops, throughput, connections, scalability).",
        Kind::Gauge,
    );
    for b in &a.bounds {
        bounds.push("resource", b.resource.as_str(), b.max_tps);
    }
    if !bounds.samples.is_empty() {
        out.push(bounds);
    }
    if let Some(b) = a.bottleneck {
        let mut f = Family::new(
            "headroom_capacity_bottleneck",
            "The resource that sets the maximum TPS.",
            Kind::Info,
        );
        f.push("resource", b.as_str(), 1.0);
        out.push(f);
    }
    if let Some((early, likely, late)) = a.days_to_saturation {
        let mut f = Family::new(
            "headroom_capacity_time_to_saturation_seconds",
            "When the trend of daily TPS peaks reaches 80% of the maximum: likely, and the early and late ends of its 80% interval.",
            Kind::Gauge,
        );
        for (k, d) in [("early", early), ("likely", likely), ("late", late)] {
            f.push("estimate", k, d * 86_400.0);
        }
        out.push(f);
    }
    let mut conf = Family::new(
        "headroom_capacity_confidence",
        "How far the model can be trusted (low, medium, high); the report says why.",
        Kind::Info,
    );
    conf.push(
        "level",
        format!("{:?}", a.confidence.level).to_lowercase(),
        1.0,
    );
    out.push(conf);
    if let Some(c) = &r.recommended_class {
        let mut f = Family::new(
            "headroom_capacity_recommended_class",
            "The smallest catalog class that keeps 30% headroom at the horizon.",
            Kind::Info,
        );
        f.push("class", c.clone(), 1.0);
        out.push(f);
    }
    out
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("capacity", "headroom_capacity_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = CapacityPoller;

    fn poller(&self, _at: Spawn<'_>) -> CapacityPoller {
        CapacityPoller::new(self)
    }
}
