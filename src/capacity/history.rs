//! History from a Prometheus-compatible server (Prometheus, Thanos, Mimir) that scrapes
//! headroom: `query_range` over the series the MySQL source exports, turned into the model's
//! [`Observed`]. This is how a fleet bigger than one agent plans capacity, and how the
//! `capacity` commands read what the daemon has seen.

use std::time::Duration;

use super::model::Observed;
use super::usl::Point;

/// Prometheus refuses a range query of more than 11,000 points per series.
const MAX_POINTS: f64 = 11_000.0;

/// A `query_range` client.
#[derive(Debug)]
pub struct Prometheus {
    base: String,
    http: reqwest::Client,
}

/// One series' (timestamp, value) pairs.
pub type Series = Vec<(f64, f64)>;

impl Prometheus {
    pub fn new(base: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Prometheus {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// GETs `path` of the HTTP API with `params`; the answer's `data`, or an error naming
    /// `what` was asked, the HTTP status and the server's error text.
    async fn api(
        &self,
        path: &str,
        params: &[(&str, String)],
        what: &str,
    ) -> Result<serde_json::Value, String> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.base), params)
            .map_err(|e| format!("{}: not a URL: {e}", self.base))?;
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.base))?;
        let status = resp.status();
        let mut body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| format!("{}: not a Prometheus API answer: {e}", self.base))?;
        if body["status"] != "success" {
            return Err(format!(
                "{} answered {status} to {what}: {}",
                self.base,
                body["error"].as_str().unwrap_or("no error text")
            ));
        }
        Ok(body["data"].take())
    }

    /// The `target` of every mysql target with TPS series on the server.
    pub async fn targets(&self) -> Result<Vec<String>, String> {
        let metric = "headroom_mysql_transactions_per_second";
        let data = self
            .api(
                "/api/v1/label/target/values",
                &[("match[]", metric.to_owned())],
                &format!("the targets of {metric}"),
            )
            .await?;
        Ok(data
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The labels of the first series `query` returns at `at` (an instant query).
    pub async fn labels(&self, query: &str, at: f64) -> Result<Option<serde_json::Value>, String> {
        let data = self
            .api(
                "/api/v1/query",
                &[("query", query.to_owned()), ("time", format!("{at:.3}"))],
                query,
            )
            .await?;
        Ok(data["result"]
            .as_array()
            .and_then(|r| r.first())
            .map(|s| s["metric"].clone()))
    }

    /// The first series `query` returns over [start, end] at `step` seconds (empty when it
    /// returns none).
    pub async fn range(
        &self,
        query: &str,
        start: f64,
        end: f64,
        step: f64,
    ) -> Result<Series, String> {
        let data = self
            .api(
                "/api/v1/query_range",
                &[
                    ("query", query.to_owned()),
                    ("start", format!("{start:.3}")),
                    ("end", format!("{end:.3}")),
                    ("step", format!("{step}")),
                ],
                query,
            )
            .await?;
        let Some(first) = data["result"].as_array().and_then(|r| r.first()) else {
            return Ok(Vec::new());
        };
        Ok(first["values"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .filter_map(|v| {
                        let t = v[0].as_f64()?;
                        let x: f64 = v[1].as_str()?.parse().ok()?;
                        x.is_finite().then_some((t, x))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// The class, storage type, GiB and provisioned IOPS of an RDS instance: the latest
/// `headroom_rds_*` series in [start, end] (the latest, not the current: the instance or the
/// agent may be gone by now).
pub async fn rds_instance(
    p: &Prometheus,
    id: &str,
    start: f64,
    end: f64,
) -> Result<(String, super::catalog::StorageType, f64, Option<f64>), String> {
    let span = format!("{:.0}s", (end - start).max(60.0));
    let id = id.replace('\\', "\\\\").replace('"', "\\\"");
    let sel = format!("{{db_instance=\"{id}\"}}");
    let labels = p
        .labels(
            &format!("last_over_time(headroom_rds_instance_info{sel}[{span}])"),
            end,
        )
        .await?
        .ok_or_else(|| {
            format!(
                "no headroom_rds_instance_info for db_instance {id:?}: is an rds target configured?"
            )
        })?;
    let class = labels["class"].as_str().unwrap_or_default().to_owned();
    let kind: super::catalog::StorageType = labels["storage_type"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|e| format!("RDS storage type {e}"))?;
    let last = |s: Series| s.last().map(|(_, v)| *v);
    let bytes = last(
        p.range(
            &format!("last_over_time(headroom_rds_allocated_storage_bytes{sel}[{span}])"),
            end,
            end,
            60.0,
        )
        .await?,
    )
    .ok_or("no headroom_rds_allocated_storage_bytes")?;
    let iops = last(
        p.range(
            &format!("last_over_time(headroom_rds_provisioned_iops{sel}[{span}])"),
            end,
            end,
            60.0,
        )
        .await?,
    )
    .filter(|v| *v > 0.0)
    // gp2's IOPS follow from its size; RDS may still report a figure for it.
    .filter(|_| kind != super::catalog::StorageType::Gp2);
    Ok((class, kind, bytes / (1024.0 * 1024.0 * 1024.0), iops))
}

/// What to read: the database's `target` label and the window.
#[derive(Debug)]
pub struct Window {
    pub target: String,
    pub start: f64,
    pub end: f64,
    /// Seconds each point averages (60 by default: the reference's 10-60 s samples).
    pub resolution: f64,
    /// A series of the database's CPU utilization in percent, where one exists (for an RDS
    /// instance: `aws_rds_cpuutilization_average{dimension_DBInstanceIdentifier="ID"}`, which a
    /// cloudwatch target exports). Prometheus history only: the embedded history records the
    /// CPU with the rollups.
    pub cpu: Option<String>,
}

impl Window {
    /// A step that keeps each series under Prometheus's point limit, at least the resolution.
    fn step(&self) -> f64 {
        ((self.end - self.start) / MAX_POINTS)
            .ceil()
            .max(self.resolution)
    }
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

/// Reads the database's history from Prometheus. `progress` is told each series as it is
/// read (the report prints a bar from it).
pub async fn observe(
    p: &Prometheus,
    w: &Window,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<Inputs, String> {
    let t = w.target.replace('\\', "\\\\").replace('"', "\\\"");
    let sel = format!("{{target=\"{t}\"}}");
    let step = w.step();
    let avg = format!("{}s", step.ceil());
    let rate = format!("{}s", (4.0 * step).ceil());
    // Read only when there is a series to read.
    let cpu_query = w
        .cpu
        .as_ref()
        .map(|q| format!("avg_over_time({q}[{avg}])"))
        .unwrap_or_default();
    let queries: [(&str, String); 12] = [
        (
            "TPS",
            format!("avg_over_time(headroom_mysql_transactions_per_second{sel}[{avg}])"),
        ),
        (
            "concurrency",
            format!("avg_over_time(headroom_mysql_threads_running{sel}[{avg}])"),
        ),
        (
            "transactions in flight",
            format!("avg_over_time(headroom_mysql_transaction_concurrency{sel}[{avg}])"),
        ),
        (
            "device reads",
            format!("rate(mysql_global_status_innodb_data_reads{sel}[{rate}])"),
        ),
        (
            "device writes",
            format!("rate(mysql_global_status_innodb_data_writes{sel}[{rate}])"),
        ),
        (
            "device bytes",
            format!(
                "rate(mysql_global_status_innodb_data_read{sel}[{rate}]) + rate(mysql_global_status_innodb_data_written{sel}[{rate}])"
            ),
        ),
        (
            "buffer pool hit ratio",
            format!(
                "headroom_mysql_buffer_pool_hit_ratio{{target=\"{t}\",window=\"since_start\"}}"
            ),
        ),
        (
            "buffer pool size",
            format!("mysql_global_variables_innodb_buffer_pool_size{sel}"),
        ),
        (
            "max_connections",
            format!("mysql_global_variables_max_connections{sel}"),
        ),
        (
            "daily peaks",
            format!("max_over_time(headroom_mysql_transactions_per_second{sel}[1d])"),
        ),
        ("CPU", cpu_query),
        (
            "data size",
            format!(
                "max_over_time(headroom_mysql_data_size_bytes{sel}[{}s])",
                (step.max(600.0)).ceil()
            ),
        ),
    ];
    let mut series: Vec<Series> = Vec::new();
    for (i, (what, q)) in queries.iter().enumerate() {
        progress(i, queries.len(), what);
        let s = if *what == "CPU" && w.cpu.is_none() {
            Vec::new()
        } else if *what == "daily peaks" {
            // One peak per whole day of the window; none in a window under a day.
            if w.end - w.start >= 86_400.0 {
                p.range(q, w.start + 86_400.0, w.end, 86_400.0).await?
            } else {
                Vec::new()
            }
        } else {
            p.range(q, w.start, w.end, step).await?
        };
        series.push(s);
    }
    progress(queries.len(), queries.len(), "done");
    let [
        tps,
        concurrency,
        trx_concurrency,
        reads,
        writes,
        bytes,
        hit,
        pool,
        maxconn,
        peaks,
        cpu,
        db_bytes,
    ]: [Series; 12] = series
        .try_into()
        .map_err(|_| "internal: series count".to_owned())?;
    let last = |s: &Series| s.last().map(|(_, v)| *v);
    Ok(Inputs {
        tps,
        concurrency,
        trx_concurrency,
        reads,
        writes,
        bytes,
        cpu,
        cpu_source: w.cpu.clone(),
        miss_ratio: last(&hit).map(|h| 1.0 - h),
        buffer_pool_bytes: last(&pool),
        max_connections: last(&maxconn),
        db_bytes,
        daily_peaks: peaks.into_iter().map(|(_, v)| v).collect(),
        tps_p95: None,
    })
}

/// Reads the database's history from the embedded store: its minutes for a window of up to
/// 14 days, its hours for a longer one (the TPS p95 from the last week's minutes either way).
pub fn observe_store(
    store: &crate::store::history::HistoryStore,
    w: &Window,
) -> Result<Inputs, String> {
    use crate::store::history::{MINUTE_RETENTION_S, Resolution};
    let (start, end) = (w.start.floor() as i64, w.end.ceil() as i64);
    let res = if end - start <= MINUTE_RETENTION_S {
        Resolution::Minute
    } else {
        Resolution::Hour
    };
    let rows = store.rows(res, &w.target, start, end)?;
    let week_start = start.max(end - 7 * 86_400);
    let week: Vec<f64> = match res {
        Resolution::Minute => rows
            .iter()
            .filter(|r| r.ts >= week_start)
            .map(|r| r.tps_mean)
            .collect(),
        Resolution::Hour => store.minute_tps(&w.target, week_start, end)?,
    };
    let at = |f: &dyn Fn(&crate::store::history::Rollup) -> Option<f64>| -> Series {
        rows.iter()
            .filter_map(|r| f(r).map(|v| (r.ts as f64, v)))
            .collect()
    };
    let weighted = |f: &dyn Fn(&crate::store::history::Rollup) -> Option<f64>| {
        let (s, n) = rows
            .iter()
            .filter_map(|r| f(r).map(|v| (v * f64::from(r.samples), f64::from(r.samples))))
            .fold((0.0, 0.0), |(a, b), (v, k)| (a + v, b + k));
        (n > 0.0).then(|| s / n)
    };
    // Whole days from the start of the window.
    let days = ((end - start) / 86_400) as usize;
    let mut peaks = vec![f64::NAN; days];
    for r in &rows {
        let d = ((r.ts - start) / 86_400) as usize;
        if d < days {
            peaks[d] = if peaks[d].is_nan() {
                r.tps_max
            } else {
                peaks[d].max(r.tps_max)
            };
        }
    }
    let cpu = at(&|r| r.cpu);
    Ok(Inputs {
        tps: at(&|r| Some(r.tps_mean)),
        concurrency: at(&|r| r.concurrency),
        trx_concurrency: at(&|r| r.trx_concurrency),
        reads: at(&|r| r.read_iops),
        writes: at(&|r| r.write_iops),
        bytes: at(&|r| r.io_bytes),
        cpu_source: (!cpu.is_empty())
            .then(|| "CPUUtilization recorded with the history".to_owned()),
        cpu,
        miss_ratio: weighted(&|r| r.miss_ratio),
        buffer_pool_bytes: rows.iter().rev().find_map(|r| r.buffer_pool_bytes),
        max_connections: rows.iter().rev().find_map(|r| r.max_connections),
        db_bytes: at(&|r| r.db_bytes),
        daily_peaks: peaks.into_iter().filter(|p| !p.is_nan()).collect(),
        tps_p95: (!week.is_empty()).then(|| percentile(&week, 0.95)),
    })
}

/// Builds the model's inputs from a history.
pub fn build(i: Inputs, w: &Window) -> Result<(Observed, Vec<String>), String> {
    let mut notes = Vec::new();
    let db = &w.target;
    let (Some(first), Some(last)) = (i.tps.first(), i.tps.last()) else {
        return Err(format!(
            "no transactions per second of {db:?} in the window: is it a mysql target of a headroom that records this history (and has it run a minute)?"
        ));
    };
    // Say so when the history is shorter than the window asked for.
    let covered = last.0 - first.0;
    if covered < 0.9 * (w.end - w.start) {
        notes.push(format!(
            "the history covers {:.1} hours of the {:.1} days asked for",
            covered / 3600.0,
            (w.end - w.start) / 86_400.0
        ));
    }
    let values = |s: &Series| s.iter().map(|(_, v)| *v).collect::<Vec<f64>>();
    let tps_values = values(&i.tps);
    let total_tps: f64 = tps_values.iter().sum();
    // Per-transaction figures: totals over totals, over the timestamps both series have.
    let tps_at = by_time(&i.tps);
    let per_trx = |s: &Series| -> Option<f64> {
        let mut num = 0.0;
        let mut den = 0.0;
        for (t, v) in s {
            if let Some(x) = tps_at.get(&key(*t)) {
                num += v;
                den += x;
            }
        }
        (den > 0.0 && !s.is_empty()).then(|| num / den)
    };
    // Transactions in flight from performance_schema when the server times them (round
    // trips inside transactions included, as a connection is held); else Threads_running.
    let from_ps = !i.trx_concurrency.is_empty();
    let conc = if from_ps {
        &i.trx_concurrency
    } else {
        &i.concurrency
    };
    let samples = pairs(&i.tps, conc);
    let hold = {
        let n: f64 = conc.iter().map(|(_, v)| v).sum();
        (total_tps > 0.0 && !conc.is_empty())
            .then(|| n / conc.len() as f64 / (total_tps / i.tps.len() as f64))
    };
    if hold.is_some() {
        notes.push(if from_ps {
            "concurrency and connection hold time from performance_schema's transaction time (transactions in flight, round trips inside transactions included)".into()
        } else {
            "concurrency and connection hold time from Threads_running (server-side; performance_schema does not time transactions here): round trips inside transactions are not in it".into()
        });
    }
    // CPU: mean utilization against mean TPS over the timestamps both have.
    let cpu = {
        let joined: Vec<(f64, f64)> = i
            .cpu
            .iter()
            .filter_map(|(t, u)| tps_at.get(&key(*t)).map(|x| (*u, *x)))
            .collect();
        let k = joined.len() as f64;
        let (u, x) = joined
            .iter()
            .fold((0.0, 0.0), |(a, b), (u, x)| (a + u, b + x));
        (k > 0.0 && x > 0.0).then(|| (u / k / 100.0, x / k))
    };
    match (&i.cpu_source, cpu) {
        (Some(q), None) => notes.push(format!(
            "no CPU utilization in {q} over the window: no CPU ceiling"
        )),
        (Some(q), Some((u, x))) => notes.push(format!(
            "CPU from {q}: {:.0}% on average at {x:.0} TPS",
            u * 100.0
        )),
        (None, _) => notes.push(
            "CPU per transaction is not known without a CPU series (for RDS: a cloudwatch target with AWS/RDS CPUUtilization and the database's rds_instance): no CPU ceiling"
                .into(),
        ),
    }
    Ok((
        Observed {
            tps_p95: i.tps_p95.unwrap_or_else(|| percentile(&tps_values, 0.95)),
            samples,
            cpu,
            read_iops_per_trx: per_trx(&i.reads),
            write_iops_per_trx: per_trx(&i.writes),
            bytes_per_trx: per_trx(&i.bytes),
            miss_ratio: i.miss_ratio,
            buffer_pool_bytes: i.buffer_pool_bytes,
            hold_seconds: hold,
            // A tenth kept for administrators and monitoring.
            usable_connections: i.max_connections.map(|m| (m * 0.9).floor()),
            db_bytes: i.db_bytes.last().map(|(_, b)| *b),
            db_growth_bytes_per_day: growth_per_day(&i.db_bytes),
            daily_peaks: i.daily_peaks,
        },
        notes,
    ))
}

/// The least-squares slope of a series, per day; `None` over less than a day.
fn growth_per_day(s: &Series) -> Option<f64> {
    let (t0, t1) = (s.first()?.0, s.last()?.0);
    if t1 - t0 < 86_400.0 {
        return None;
    }
    let n = s.len() as f64;
    let tm = s.iter().map(|(t, _)| t).sum::<f64>() / n;
    let vm = s.iter().map(|(_, v)| v).sum::<f64>() / n;
    let sxx: f64 = s.iter().map(|(t, _)| (t - tm).powi(2)).sum();
    let sxy: f64 = s.iter().map(|(t, v)| (t - tm) * (v - vm)).sum();
    (sxx > 0.0).then(|| sxy / sxx * 86_400.0)
}

/// Most concurrency levels the USL gets: enough for a fit, few enough that each averages
/// several points.
pub const MAX_LEVELS: usize = 12;

/// (concurrency, TPS) points for the USL: the points (server-side concurrency has no natural
/// levels in production) sorted by concurrency and cut into up to [`MAX_LEVELS`] groups of
/// equal size, at least 3 points each; concurrency and TPS averaged per group.
pub fn pairs(tps: &Series, conc: &Series) -> Vec<Point> {
    let conc_at = by_time(conc);
    let mut joined: Vec<(f64, f64)> = tps
        .iter()
        .filter_map(|(t, x)| {
            conc_at
                .get(&key(*t))
                .map(|n| (*n, *x))
                .filter(|(n, x)| *n > 0.0 && *x > 0.0)
        })
        .collect();
    joined.sort_by(|a, b| a.0.total_cmp(&b.0));
    let groups = (joined.len() / 3).clamp(0, MAX_LEVELS);
    if groups == 0 {
        return Vec::new();
    }
    let size = joined.len() as f64 / groups as f64;
    (0..groups)
        .map(|g| {
            let part = &joined[(g as f64 * size) as usize..((g + 1) as f64 * size) as usize];
            let k = part.len() as f64;
            Point {
                n: part.iter().map(|p| p.0).sum::<f64>() / k,
                x: part.iter().map(|p| p.1).sum::<f64>() / k,
            }
        })
        .collect()
}

/// A timestamp as a map key: query_range steps are whole milliseconds.
fn key(t: f64) -> i64 {
    (t * 1000.0).round() as i64
}

/// A series by timestamp, for joining two series of the same query_range grid.
fn by_time(s: &Series) -> std::collections::HashMap<i64, f64> {
    s.iter().map(|(t, v)| (key(*t), *v)).collect()
}

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
    fn pairs_are_groups_of_equal_size_by_concurrency() {
        // Seven usable points (one has N = 0): two groups, of 3 and 4, lowest N first.
        let ns = [4.0, 1.0, 2.0, 1.0, 3.0, 0.0, 2.0, 5.0];
        let tps: Series = (0..8).map(|i| (i as f64, 100.0 + i as f64)).collect();
        let conc: Series = ns.iter().enumerate().map(|(i, n)| (i as f64, *n)).collect();
        let p = pairs(&tps, &conc);
        assert_eq!(p.len(), 2, "{p:?}");
        // Sorted by N: (1,101) (1,103) (2,102) | (2,106) (3,104) (4,100) (5,107).
        assert!(
            (p[0].n - 4.0 / 3.0).abs() < 1e-9 && (p[0].x - 102.0).abs() < 1e-9,
            "{p:?}"
        );
        assert!(
            (p[1].n - 3.5).abs() < 1e-9 && (p[1].x - 104.25).abs() < 1e-9,
            "{p:?}"
        );
        // 60 points: capped at 12 groups of 5.
        let many: Series = (0..60).map(|i| (i as f64, 1.0 + i as f64)).collect();
        assert_eq!(pairs(&many, &many).len(), MAX_LEVELS);
    }

    #[test]
    fn nearest_rank_percentile() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
    }
}
