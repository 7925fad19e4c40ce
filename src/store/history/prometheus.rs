//! History from a Prometheus-compatible server (Prometheus, Thanos, Mimir) that scrapes
//! headroom: `query_range` over the series the MySQL source exports. This is how a fleet
//! bigger than one agent plans capacity.

use std::time::Duration;

use super::{Inputs, InstanceFacts, Series, Window};

/// Prometheus refuses a range query of more than 11,000 points per series.
const MAX_POINTS: f64 = 11_000.0;

/// A `query_range` client.
#[derive(Debug)]
pub struct Prometheus {
    base: String,
    http: reqwest::Client,
}

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
) -> Result<InstanceFacts, String> {
    let span = format!("{:.0}s", (end - start).max(60.0));
    let quoted = id.replace('\\', "\\\\").replace('"', "\\\"");
    let sel = format!("{{db_instance=\"{quoted}\"}}");
    let labels = p
        .labels(
            &format!("last_over_time(headroom_rds_instance_info{sel}[{span}])"),
            end,
        )
        .await?
        .ok_or_else(|| {
            format!(
                "no headroom_rds_instance_info for db_instance {quoted:?}: is an rds target configured?"
            )
        })?;
    let label = |name: &str| labels[name].as_str().unwrap_or_default().to_owned();
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
    );
    Ok(InstanceFacts {
        rds_instance: id.to_owned(),
        class: label("class"),
        storage_type: label("storage_type"),
        gib: bytes / (1024.0 * 1024.0 * 1024.0),
        iops,
        updated: end as i64,
    })
}

/// A step that keeps each series under Prometheus's point limit, at least the resolution.
fn step(w: &Window) -> f64 {
    ((w.end - w.start) / MAX_POINTS).ceil().max(w.resolution)
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
    let step = step(w);
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
