//! Database history, from either of two back ends behind one interface: the embedded SQLite
//! file the daemon records ([`sqlite`]), or a Prometheus-compatible server that scrapes
//! headroom ([`prometheus`], `query_range`). [`HistorySource::read`] gives the same
//! [`Inputs`] from both; the capacity model is built from them.

pub mod prometheus;
pub mod sqlite;

use std::path::PathBuf;

pub use sqlite::{
    HOUR_RETENTION_S, HistoryStore, InstanceFacts, MINUTE_RETENTION_S, Resolution, Rollup, hour_of,
};

/// File name of the embedded history when `history.sqlite` is not set, beside the config
/// file.
pub const DEFAULT_FILE: &str = "headroom-history.sqlite";

/// `history:` in the config.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHistory {
    /// The embedded history file, created on first run; relative to the config file's
    /// directory. Default `headroom-history.sqlite` beside the config file. The daemon records
    /// every mysql target's rollups in it.
    pub sqlite: Option<PathBuf>,
    /// A Prometheus-compatible server (Prometheus, Thanos, Mimir) that scrapes the headroom
    /// agents, as its HTTP API base URL: capacity targets read history from it with
    /// `query_range`, and nothing is recorded locally.
    pub prometheus: Option<String>,
    /// `false`: no history at all (no file, no capacity targets). Default true.
    pub enabled: Option<bool>,
}

impl RawHistory {
    /// The history source, or `None` when disabled.
    pub fn validate(
        &self,
        v: &mut crate::config::Validator<'_>,
        path: &str,
    ) -> Option<HistorySource> {
        if self.enabled == Some(false) {
            return None;
        }
        match (&self.sqlite, &self.prometheus) {
            (Some(_), Some(_)) => {
                v.error(
                    &format!("{path}.prometheus"),
                    "give either sqlite or prometheus, not both",
                );
                None
            }
            (_, Some(url)) => match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {
                    Some(HistorySource::Prometheus(url.clone()))
                }
                _ => {
                    v.error(
                        &format!("{path}.prometheus"),
                        format!("{url:?} is not an http(s) URL, e.g. http://prometheus:9090"),
                    );
                    None
                }
            },
            (Some(p), None) => Some(HistorySource::Sqlite(v.relative(p))),
            (None, None) => Some(HistorySource::Sqlite(
                v.relative(std::path::Path::new(DEFAULT_FILE)),
            )),
        }
    }
}

/// Where a database's history is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistorySource {
    /// The embedded history file the daemon records.
    Sqlite(PathBuf),
    /// A Prometheus-compatible server that scrapes headroom (its HTTP API base URL).
    Prometheus(String),
}

impl std::fmt::Display for HistorySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HistorySource::Sqlite(p) => write!(f, "{}", p.display()),
            HistorySource::Prometheus(u) => f.write_str(u),
        }
    }
}

/// Why a history could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The back end could not be read (server down, file missing or not a history).
    #[error("{0}")]
    Unavailable(String),
    /// The back end answered, but holds nothing of what was asked.
    #[error("{0}")]
    NoData(String),
}

impl HistorySource {
    /// Reads one database's history over the window, and the facts of its RDS instance
    /// `rds` (the latest in the window) when one is named. `progress` is told each series
    /// as it is read (Prometheus only; the embedded file is read at once).
    pub async fn read(
        &self,
        w: &Window,
        rds: Option<&str>,
        progress: impl FnMut(usize, usize, &str),
    ) -> Result<(Inputs, Option<InstanceFacts>), HistoryError> {
        use HistoryError::{NoData, Unavailable};
        match self {
            HistorySource::Prometheus(url) => {
                let prom = prometheus::Prometheus::new(url).map_err(Unavailable)?;
                let facts = match rds {
                    Some(id) => Some(
                        prometheus::rds_instance(&prom, id, w.start, w.end)
                            .await
                            .map_err(|e| {
                                if e.starts_with("no ") {
                                    NoData(e)
                                } else {
                                    Unavailable(e)
                                }
                            })?,
                    ),
                    None => None,
                };
                let inputs = prometheus::observe(&prom, w, progress)
                    .await
                    .map_err(Unavailable)?;
                Ok((inputs, facts))
            }
            HistorySource::Sqlite(path) => {
                let path = path.clone();
                let rds = rds.map(str::to_owned);
                // The embedded history records the CPU with the rollups.
                let w = Window {
                    target: w.target.clone(),
                    cpu: None,
                    ..*w
                };
                tokio::task::spawn_blocking(move || {
                    let store = HistoryStore::open_read(&path).map_err(Unavailable)?;
                    let facts = match rds {
                        Some(id) => Some(
                            store
                                .instance(&w.target)
                                .map_err(Unavailable)?
                                .filter(|f| f.rds_instance == id)
                                .ok_or_else(|| {
                                    NoData(format!("{}: no facts of RDS instance {id:?} recorded for {:?}: does the daemon have an rds target that sees it, and mysql[].rds_instance: {id} on {:?}?", path.display(), w.target, w.target))
                                })?,
                        ),
                        None => None,
                    };
                    Ok((sqlite::observe(&store, &w).map_err(Unavailable)?, facts))
                })
                .await
                .map_err(|e| Unavailable(format!("history reader: {e}")))?
            }
        }
    }
}

/// What to read: the database's `target` label and the window.
#[derive(Debug)]
pub struct Window {
    pub target: String,
    pub start: f64,
    pub end: f64,
    /// Seconds each point averages (60 by default; the capacity model wants 10-60 s samples).
    pub resolution: f64,
    /// A series of the database's CPU utilization in percent, where one exists (for an RDS
    /// instance: `aws_rds_cpuutilization_average{dimension_DBInstanceIdentifier="ID"}`, which a
    /// cloudwatch target exports). Prometheus history only: the embedded history records the
    /// CPU with the rollups.
    pub cpu: Option<String>,
}

/// What the model is built from, whichever history it came from.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Mean TPS per point.
    pub tps: Series,
    /// Mean concurrency (Threads_running) per point, on the same timestamps.
    pub concurrency: Series,
    /// Mean transactions in flight from performance_schema per point (empty where the server
    /// does not time transactions); preferred to Threads_running when present.
    pub trx_concurrency: Series,
    /// Device reads, writes and bytes per second per point.
    pub reads: Series,
    pub writes: Series,
    pub bytes: Series,
    /// CPU utilization, percent, per point (empty when unknown).
    pub cpu: Series,
    /// Where the CPU figures come from, for the notes (None: no CPU series at all).
    pub cpu_source: Option<String>,
    pub miss_ratio: Option<f64>,
    pub buffer_pool_bytes: Option<f64>,
    pub max_connections: Option<f64>,
    /// Data and index bytes over time.
    pub db_bytes: Series,
    /// The highest TPS of each whole day of the window, oldest first.
    pub daily_peaks: Vec<f64>,
    /// The 95th percentile of TPS when the history knows it better than the points do (the
    /// embedded history: over the last week's minutes even when the points are hours).
    pub tps_p95: Option<f64>,
}

/// One series' (timestamp, value) pairs.
pub type Series = Vec<(f64, f64)>;

/// The `q` quantile of `v` (nearest rank).
pub fn percentile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentile() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }
}
