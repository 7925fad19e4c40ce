//! The model's inputs from a history, whichever back end it came from: the (concurrency,
//! TPS) points for the USL, per-transaction figures, daily peaks, growth.

use super::model::Observed;
use super::usl::Point;
use crate::store::history::{Inputs, Series, Window, percentile};

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
/// several points once the history is long.
pub const MAX_LEVELS: usize = 12;

/// (concurrency, TPS) points for the USL: the points (server-side concurrency has no natural
/// levels in production) sorted by concurrency and cut into up to [`MAX_LEVELS`] groups of
/// equal size; concurrency and TPS averaged per group. Each point is already a mean (a
/// history minute of the embedded store, a step of a Prometheus range query), so a short
/// history, say a load test's ramp of a few minutes, keeps one point per level: the fit's
/// own checks (6 levels spanning 3x, its error) judge whether it is enough.
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
    let groups = joined.len().min(MAX_LEVELS);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_groups_of_equal_size_by_concurrency() {
        // Seven usable points (one has N = 0): seven levels, one point each, lowest N first.
        let ns = [4.0, 1.0, 2.0, 1.0, 3.0, 0.0, 2.0, 5.0];
        let tps: Series = (0..8).map(|i| (i as f64, 100.0 + i as f64)).collect();
        let conc: Series = ns.iter().enumerate().map(|(i, n)| (i as f64, *n)).collect();
        let p = pairs(&tps, &conc);
        let got: Vec<(f64, f64)> = p.iter().map(|p| (p.n, p.x)).collect();
        // Sorted by N (stable, so equal N keep their time order).
        let want = [
            (1.0, 101.0),
            (1.0, 103.0),
            (2.0, 102.0),
            (2.0, 106.0),
            (3.0, 104.0),
            (4.0, 100.0),
            (5.0, 107.0),
        ];
        assert_eq!(got, want);
        // 30 points: 12 groups of 2 or 3, each the mean of its points.
        let many: Series = (0..30).map(|i| (i as f64, 1.0 + i as f64)).collect();
        let p = pairs(&many, &many);
        assert_eq!(p.len(), MAX_LEVELS);
        // size 2.5: the first group is points 0..2 (N 1, 2), the last 27..30 (N 28, 29, 30).
        assert!((p[0].n - 1.5).abs() < 1e-9, "{p:?}");
        assert!((p[11].n - 29.0).abs() < 1e-9, "{p:?}");
    }
}
