//! One database's capacity, end to end: read its history (the embedded store or a
//! Prometheus-compatible server), find what it runs on, assess it (and a resize, if asked),
//! recommend a class. The `capacity` commands and the daemon's capacity targets both call
//! [`evaluate`]; they differ only in what they do with the [`Report`].

use super::catalog::{self, Class, StorageType};
use super::inputs::build;
use super::model::{Instance, assess, charts, recommend, trend_at};
use super::prices::{Table, cost_of};
use super::report::{ObservedInfo, Report, WindowInfo};
use crate::store::history::{HistoryError, HistorySource, Window};

/// What the database runs on.
#[derive(Debug, Clone, PartialEq)]
pub enum Current {
    /// Given in the config or on the command line.
    Given {
        class: String,
        storage: StorageType,
        gib: f64,
        iops: Option<f64>,
    },
    /// This RDS instance, as headroom's rds target saw it (recorded with the embedded history,
    /// or its `headroom_rds_*` series in Prometheus); its CPU from CloudWatch.
    Rds(String),
}

/// A class and storage to assess besides the current one.
#[derive(Debug, Clone, PartialEq)]
pub struct WhatIf {
    pub class: String,
    pub storage: Option<StorageType>,
    pub gib: Option<f64>,
    pub iops: Option<f64>,
}

/// Why an evaluation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The history could not be read (server down, file missing or not a history).
    #[error("{0}")]
    Unavailable(String),
    /// The history has nothing (yet) to build the model from.
    #[error("{0}")]
    NoData(String),
    /// The request cannot be evaluated (a class not in the catalog, impossible storage).
    #[error("{0}")]
    Invalid(String),
}

/// One evaluation.
#[derive(Debug)]
pub struct Request<'a> {
    pub source: &'a HistorySource,
    pub db: &'a str,
    pub current: &'a Current,
    /// Days of history, ending at `end`.
    pub days: f64,
    /// Days ahead the recommendation must hold.
    pub horizon: f64,
    /// Seconds each point averages (Prometheus history).
    pub resolution: f64,
    pub end: f64,
    pub catalog: &'a [Class],
    pub what_if: Option<&'a WhatIf>,
    /// The AWS region whose prices the report's cost uses; None: no cost in the report.
    pub region: Option<&'a str>,
    /// The price table.
    pub prices: &'a Table,
}

/// Reads, assesses and recommends. `progress` is told each series read from Prometheus.
pub async fn evaluate(
    r: &Request<'_>,
    progress: impl FnMut(usize, usize, &str),
) -> Result<Report, EvalError> {
    use EvalError::{Invalid, NoData, Unavailable};
    if !(r.days.is_finite() && r.days > 0.0 && r.horizon.is_finite() && r.horizon >= 0.0) {
        return Err(Invalid(
            "the window must be more than 0 days and the horizon at least 0".into(),
        ));
    }
    let window = Window {
        target: r.db.to_owned(),
        start: r.end - r.days * 86_400.0,
        end: r.end,
        resolution: r.resolution.max(1.0),
        // An RDS instance's CPU comes from CloudWatch, as a cloudwatch target exports it.
        cpu: match r.current {
            Current::Rds(id) => Some(format!(
                "aws_rds_cpuutilization_average{{dimension_DBInstanceIdentifier=\"{}\"}}",
                id.replace('\\', "\\\\").replace('"', "\\\"")
            )),
            Current::Given { .. } => None,
        },
    };
    let find = |name: &str| {
        r.catalog
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| {
                Invalid(format!("{name}: not in the catalog (catalog/rds-classes.yaml, or add it under catalog: in the config)"))
            })
    };
    let rds = match r.current {
        Current::Rds(id) => Some(id.as_str()),
        Current::Given { .. } => None,
    };
    let (inputs, facts) = r
        .source
        .read(&window, rds, progress)
        .await
        .map_err(|e| match e {
            HistoryError::Unavailable(e) => Unavailable(e),
            HistoryError::NoData(e) => NoData(e),
        })?;
    let (class, kind, gib, iops) = match (r.current, facts) {
        (
            Current::Given {
                class,
                storage,
                gib,
                iops,
            },
            _,
        ) => (class.clone(), *storage, *gib, *iops),
        (Current::Rds(_), Some(f)) => {
            let kind: StorageType = f
                .storage_type
                .parse()
                .map_err(|e| Invalid(format!("RDS storage type {e}")))?;
            // gp2's IOPS follow from its size; RDS may still report a figure for it.
            let iops = f.iops.filter(|v| *v > 0.0 && kind != StorageType::Gp2);
            (f.class, kind, f.gib, iops)
        }
        (Current::Rds(id), None) => {
            return Err(Unavailable(format!("internal: no facts of {id:?} read")));
        }
    };
    let current = Instance {
        class: find(&class)?,
        storage: catalog::storage(kind, gib, iops, None)
            .map_err(|e| Invalid(format!("current storage: {e}")))?,
    };
    let (observed, mut notes) = build(inputs, &window).map_err(NoData)?;
    let now = assess(&observed, &current, &current);
    let what_if = match r.what_if {
        None => None,
        Some(w) => {
            let tkind = w.storage.unwrap_or(kind);
            let tgib = w.gib.unwrap_or(gib);
            // The current provisioned IOPS carry over to the same storage type.
            let tiops = w.iops.or(if tkind == kind { iops } else { None });
            Some(assess(
                &observed,
                &current,
                &Instance {
                    class: find(&w.class)?,
                    storage: catalog::storage(tkind, tgib, tiops, None)
                        .map_err(|e| Invalid(format!("what-if storage: {e}")))?,
                },
            ))
        }
    };
    // The load to plan for: the p95, or the trend at the horizon if higher.
    let at_horizon = trend_at(&observed.daily_peaks, r.horizon)
        .unwrap_or(0.0)
        .max(observed.tps_p95);
    let recommended = match recommend(&observed, &current, r.catalog, at_horizon) {
        Ok((c, _)) => Some(c.name.clone()),
        Err(why) => {
            notes.push(why);
            None
        }
    };
    notes.insert(
        0,
        match r.source {
            HistorySource::Prometheus(u) => {
                format!("inputs from {u} (query_range over the mysql target's series)")
            }
            HistorySource::Sqlite(p) => {
                format!("inputs from the embedded history {}", p.display())
            }
        },
    );
    let charts = charts(&observed, &now, r.horizon);
    let cost = r.region.map(|region| {
        cost_of(
            r.prices,
            region,
            &current.class.name,
            recommended.as_deref(),
        )
    });
    Ok(Report {
        schema_version: 1,
        db: r.db.to_owned(),
        generated_at: r.end,
        window: WindowInfo {
            start: window.start,
            end: window.end,
            source: r.source.to_string(),
        },
        observed: ObservedInfo::from(&observed),
        current: now,
        what_if,
        recommended_class: recommended,
        horizon_days: r.horizon,
        cost,
        charts,
        notes,
    })
}
