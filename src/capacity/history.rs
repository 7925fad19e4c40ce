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

    /// The labels of the first series `query` returns at `at` (an instant query).
    pub async fn labels(&self, query: &str, at: f64) -> Result<Option<serde_json::Value>, String> {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", self.base),
            &[("query", query.to_owned()), ("time", format!("{at:.3}"))],
        )
        .map_err(|e| format!("{}: not a URL: {e}", self.base))?;
        let body: serde_json::Value = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.base))?
            .json()
            .await
            .map_err(|e| format!("{}: not a Prometheus API answer: {e}", self.base))?;
        if body["status"] != "success" {
            return Err(format!(
                "{} refused {query}: {}",
                self.base,
                body["error"].as_str().unwrap_or("no error text")
            ));
        }
        Ok(body["data"]["result"]
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
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query_range", self.base),
            &[
                ("query", query.to_owned()),
                ("start", format!("{start:.3}")),
                ("end", format!("{end:.3}")),
                ("step", format!("{step}")),
            ],
        )
        .map_err(|e| format!("{}: not a URL: {e}", self.base))?;
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{}: {e}", self.base))?;
        let status = resp.status();
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| format!("{}: not a Prometheus API answer: {e}", self.base))?;
        if body["status"] != "success" {
            return Err(format!(
                "{} answered {status} to {query}: {}",
                self.base,
                body["error"].as_str().unwrap_or("no error text")
            ));
        }
        let Some(first) = body["data"]["result"].as_array().and_then(|r| r.first()) else {
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
    /// cloudwatch target exports).
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

/// Reads the database's history and builds the model's inputs. `progress` is told each
/// series as it is read (the report prints a bar from it).
pub async fn observe(
    p: &Prometheus,
    w: &Window,
    mut progress: impl FnMut(usize, usize, &str),
) -> Result<(Observed, Vec<String>), String> {
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
    let queries: [(&str, String); 10] = [
        (
            "TPS",
            format!("avg_over_time(headroom_mysql_transactions_per_second{sel}[{avg}])"),
        ),
        (
            "concurrency",
            format!("avg_over_time(headroom_mysql_threads_running{sel}[{avg}])"),
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
        conc,
        reads,
        writes,
        bytes,
        hit,
        pool,
        maxconn,
        peaks,
        cpu,
    ]: [Series; 10] = series
        .try_into()
        .map_err(|_| "internal: series count".to_owned())?;
    let mut notes = Vec::new();
    if tps.is_empty() {
        return Err(format!(
            "no headroom_mysql_transactions_per_second for target {:?} in the window: is it a mysql target of a headroom that this server scrapes?",
            w.target
        ));
    }
    let values = |s: &Series| s.iter().map(|(_, v)| *v).collect::<Vec<f64>>();
    let tps_values = values(&tps);
    let total_tps: f64 = tps_values.iter().sum();
    // Per-transaction figures: totals over totals, over the timestamps both series have.
    let tps_at = by_time(&tps);
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
    let last = |s: &Series| s.last().map(|(_, v)| *v);
    let samples = pairs(&tps, &conc);
    let hold = {
        let n: f64 = conc.iter().map(|(_, v)| v).sum();
        (total_tps > 0.0 && !conc.is_empty())
            .then(|| n / conc.len() as f64 / (total_tps / tps.len() as f64))
    };
    if hold.is_some() {
        notes.push(
            "connection hold time from Threads_running (server-side): round trips inside transactions are not in it".into(),
        );
    }
    // CPU: mean utilization against mean TPS over the timestamps both have.
    let cpu = {
        let joined: Vec<(f64, f64)> = cpu
            .iter()
            .filter_map(|(t, u)| tps_at.get(&key(*t)).map(|x| (*u, *x)))
            .collect();
        let k = joined.len() as f64;
        let (u, x) = joined
            .iter()
            .fold((0.0, 0.0), |(a, b), (u, x)| (a + u, b + x));
        (k > 0.0 && x > 0.0).then(|| (u / k / 100.0, x / k))
    };
    match (&w.cpu, cpu) {
        (Some(q), None) => notes.push(format!(
            "no CPU utilization in {q} over the window: no CPU ceiling"
        )),
        (Some(q), Some((u, x))) => notes.push(format!(
            "CPU from {q}: {:.0}% on average at {x:.0} TPS",
            u * 100.0
        )),
        (None, _) => notes.push(
            "CPU per transaction is not known without a CPU series (for RDS, a cloudwatch target with AWS/RDS CPUUtilization and --rds-instance): no CPU ceiling"
                .into(),
        ),
    }
    Ok((
        Observed {
            tps_p95: percentile(&tps_values, 0.95),
            samples,
            cpu,
            read_iops_per_trx: per_trx(&reads),
            write_iops_per_trx: per_trx(&writes),
            bytes_per_trx: per_trx(&bytes),
            miss_ratio: last(&hit).map(|h| 1.0 - h),
            buffer_pool_bytes: last(&pool),
            hold_seconds: hold,
            // A tenth kept for administrators and monitoring.
            usable_connections: last(&maxconn).map(|m| (m * 0.9).floor()),
            daily_peaks: values(&peaks),
        },
        notes,
    ))
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
