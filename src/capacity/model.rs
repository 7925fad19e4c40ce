//! The capacity model of one database (after Zaitsev, "Modeling MySQL Capacity by Measuring
//! Resource Consumptions", Percona 2011; docs/capacity.md): a TPS ceiling
//! per resource from the utilization law (X ≤ u/d), one from Little's law for connections, one
//! from the USL fit, the smallest of them as the database's maximum TPS and the resource that
//! sets it, headroom against the 95th percentile, time to saturation from the trend of daily
//! peaks, and the smallest catalog class that keeps 30% headroom. Every result carries the
//! reasons it may be wrong.

use serde::Serialize;

use super::catalog::{Class, Storage, cpu_generation, sustained_iops, sustained_mib_s};
use super::usl::{self, Point, Residuals};

/// Utilization a resource is planned to: CPU 75%, I/O 80% (empirical targets,
/// after Zaitsev's derating in "Modeling MySQL Capacity by Measuring Resource Consumptions").
pub const CPU_TARGET: f64 = 0.75;
pub const IO_TARGET: f64 = 0.8;
/// Headroom a recommended class must keep at the horizon.
pub const MIN_HEADROOM: f64 = 0.3;
/// The trend is solved for when it reaches this share of the maximum.
pub const SATURATION: f64 = 0.8;
/// No figure is extrapolated past this multiple of the highest throughput observed
/// ("farther out than twice the measured throughput", the Schwartz e-book).
pub const EXTRAPOLATION_LIMIT: f64 = 2.0;

/// What was measured on the database, over the history window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// 95th percentile of TPS over the last 7 days.
    pub tps_p95: f64,
    /// (server-side concurrency, TPS) pairs for the USL.
    pub samples: Vec<Point>,
    /// CPU utilization (0..1) and the TPS it was measured at, where known (RDS CloudWatch).
    pub cpu: Option<(f64, f64)>,
    /// Device read and write operations per transaction.
    pub read_iops_per_trx: Option<f64>,
    pub write_iops_per_trx: Option<f64>,
    /// Bytes read and written on the device per transaction.
    pub bytes_per_trx: Option<f64>,
    /// Buffer pool miss ratio (reads from disk / read requests), and the buffer pool size.
    pub miss_ratio: Option<f64>,
    pub buffer_pool_bytes: Option<f64>,
    /// How long a transaction holds a connection, seconds (P_S transaction concurrency / TPS).
    pub hold_seconds: Option<f64>,
    /// Connections the applications may use (max_connections less a reserve).
    pub usable_connections: Option<f64>,
    /// Daily peak TPS, oldest first, one a day.
    pub daily_peaks: Vec<f64>,
    /// Data and index bytes, the latest reading, and their growth per day over the window
    /// (a window of a day or more).
    pub db_bytes: Option<f64>,
    pub db_growth_bytes_per_day: Option<f64>,
}

/// Which resource a ceiling belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Cpu,
    Iops,
    Throughput,
    Connections,
    Scalability,
}

impl Resource {
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Cpu => "cpu",
            Resource::Iops => "iops",
            Resource::Throughput => "throughput",
            Resource::Connections => "connections",
            Resource::Scalability => "scalability",
        }
    }
}

/// One ceiling and how it was reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bound {
    pub resource: Resource,
    pub max_tps: f64,
    pub basis: String,
}

/// The model's answer for one database on one instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub class: String,
    pub bounds: Vec<Bound>,
    /// The smallest ceiling; `None` when nothing bounds the database (no data).
    pub max_tps: Option<f64>,
    pub bottleneck: Option<Resource>,
    /// 1 − p95 / max.
    pub headroom: Option<f64>,
    pub usl: Option<UslSummary>,
    /// Days until the daily-peak trend reaches 80% of the maximum: (early, likely, late).
    pub days_to_saturation: Option<(f64, f64, f64)>,
    pub confidence: Confidence,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UslSummary {
    pub sigma: f64,
    pub kappa: f64,
    pub lambda: f64,
    pub peak_concurrency: Option<f64>,
    pub peak_tps: f64,
    pub mape: f64,
    pub points: usize,
    pub n_range: (f64, f64),
}

/// How far to trust an assessment, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confidence {
    pub level: Level,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Low,
    Medium,
    High,
}

/// The instance a database runs on (or might).
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub class: Class,
    pub storage: Storage,
}

/// Assesses `obs`, measured on `current`, as it would run on `target` (the same instance for
/// the current picture, another for a what-if).
pub fn assess(obs: &Observed, current: &Instance, target: &Instance) -> Assessment {
    let mut reasons: Vec<String> = Vec::new();
    let mut level = Level::High;
    let mut lower = |l: Level, why: String, reasons: &mut Vec<String>| {
        level = level.min(l);
        reasons.push(why);
    };
    let same = current.class.name == target.class.name;
    let max_seen = obs.samples.iter().map(|p| p.x).fold(obs.tps_p95, f64::max);
    let mut bounds = Vec::new();

    // CPU: d = U·vCPU/X on the current class, scaled to the target by vCPU and by the
    // processor generation's throughput per vCPU (published figures, catalog.rs).
    match obs.cpu {
        Some((u, x)) if u > 0.0 && x > 0.0 => {
            let d = u * f64::from(current.class.vcpu) / x;
            let differ = !same && generation(&current.class.name) != generation(&target.class.name);
            let (gc, gt) = (
                cpu_generation(&current.class.name),
                cpu_generation(&target.class.name),
            );
            let speedup = match (gc, gt) {
                (Some(c), Some(t)) if differ => t.factor / c.factor,
                _ => 1.0,
            };
            let max = CPU_TARGET * f64::from(target.class.vcpu) * speedup / d;
            let by = if speedup == 1.0 {
                String::new()
            } else {
                format!(
                    ", x{speedup:.2} for the CPU generation ({})",
                    gt.map_or("", |g| g.processor)
                )
            };
            bounds.push(Bound {
                resource: Resource::Cpu,
                max_tps: max,
                basis: format!(
                    "{:.2} ms of CPU per transaction (measured at {:.0}% CPU), {} vCPU at {:.0}%{by}",
                    d * 1000.0,
                    u * 100.0,
                    target.class.vcpu,
                    CPU_TARGET * 100.0
                ),
            });
            if u < 0.5 {
                lower(
                    Level::Medium,
                    format!(
                        "CPU per transaction measured at {:.0}% utilization: below 50% it reads high",
                        u * 100.0
                    ),
                    &mut reasons,
                );
            }
            match (differ, gc, gt) {
                (false, _, _) => {}
                (true, Some(c), Some(t)) if c.factor == t.factor => {}
                (true, Some(c), Some(t)) => lower(
                    Level::Medium,
                    format!(
                        "CPU scaled from {} ({}) to {} ({}) by x{speedup:.2} per vCPU from published figures ({}; {}): a best case, not measured on this workload",
                        current.class.name,
                        c.processor,
                        target.class.name,
                        t.processor,
                        c.source,
                        t.source
                    ),
                    &mut reasons,
                ),
                (true, _, _) => lower(
                    Level::Low,
                    format!(
                        "CPU scaled from {} to {} by vCPU only: the generations differ and one has no published relative figure",
                        current.class.name, target.class.name
                    ),
                    &mut reasons,
                ),
            }
        }
        _ => lower(
            Level::Medium,
            "no CPU utilization known (RDS's CloudWatch CPUUtilization gives it): no CPU ceiling"
                .into(),
            &mut reasons,
        ),
    }

    // I/O: reads scale with the miss ratio, which a larger buffer pool lowers (same working
    // set, α = 1: m' = m·B/B').
    if let (Some(r), Some(w)) = (obs.read_iops_per_trx, obs.write_iops_per_trx) {
        let scale = match obs.buffer_pool_bytes {
            Some(b) if !same && b > 0.0 => b / target.class.buffer_pool_bytes(),
            _ => 1.0,
        };
        // A smaller pool raises the misses as a larger one lowers them (bounded in truth by
        // the logical reads per transaction, which are not measured: an upper estimate).
        let per_trx = r * scale.max(0.0) + w;
        let iops = sustained_iops(&target.class, &target.storage);
        if per_trx > 0.0 {
            bounds.push(Bound {
                resource: Resource::Iops,
                max_tps: IO_TARGET * iops / per_trx,
                basis: format!(
                    "{per_trx:.2} I/Os per transaction against {iops:.0} sustained IOPS at {:.0}%",
                    IO_TARGET * 100.0
                ),
            });
        }
        if target.storage.burst_iops.is_some() {
            reasons
                .push("gp2 burst credits not counted: the ceiling uses the baseline IOPS".into());
        }
        if target.class.burst {
            reasons.push(format!(
                "{} reaches its EBS maximum 30 minutes a day only: sized on the baseline",
                target.class.name
            ));
        }
    }
    if let Some(b) = obs.bytes_per_trx.filter(|b| *b > 0.0) {
        let mib_s = sustained_mib_s(&target.class, &target.storage);
        bounds.push(Bound {
            resource: Resource::Throughput,
            max_tps: IO_TARGET * mib_s * 1024.0 * 1024.0 / b,
            basis: format!(
                "{:.1} KiB per transaction against {mib_s:.0} MiB/s at {:.0}%",
                b / 1024.0,
                IO_TARGET * 100.0
            ),
        });
    }

    // Connections, by Little's law: X = C / R.
    if let (Some(hold), Some(c)) = (obs.hold_seconds, obs.usable_connections)
        && hold > 0.0
    {
        let c = if same {
            c
        } else {
            // The target class's default max_connections, with the same reserve share.
            c.min(target.class.mysql_max_connections())
        };
        bounds.push(Bound {
            resource: Resource::Connections,
            max_tps: c / hold,
            basis: format!(
                "{c:.0} usable connections held {:.1} ms per transaction",
                hold * 1000.0
            ),
        });
    }

    // The USL: valid only where it was measured.
    let fit = usl::fit(&obs.samples, Residuals::Relative);
    let usl = fit.as_ref().map(|f| UslSummary {
        sigma: f.usl.sigma,
        kappa: f.usl.kappa,
        lambda: f.usl.lambda,
        peak_concurrency: f.usl.peak_concurrency(),
        peak_tps: f.usl.peak_throughput(),
        mape: f.mape,
        points: f.points,
        n_range: (f.n_min, f.n_max),
    });
    // A fitted peak below what was observed, or at the lowest concurrency, is contradicted by
    // the data (server-side concurrency that never grew, a regime change): not a ceiling.
    let contradicted = fit.as_ref().and_then(|f| {
        let peak = f.usl.peak_throughput();
        if peak < max_seen {
            Some(format!(
                "USL not used: its peak ({peak:.0} TPS) is below the highest TPS observed ({max_seen:.0})"
            ))
        } else if f.usl.peak_concurrency().is_some_and(|n| n <= f.n_min.max(1.0)) {
            Some("USL not used: its peak lies at the lowest concurrency observed, where nothing scaled".into())
        } else {
            None
        }
    });
    match &fit {
        Some(_) if same && contradicted.is_some() => {
            lower(
                Level::Medium,
                contradicted.clone().unwrap_or_default(),
                &mut reasons,
            );
        }
        Some(f) if f.flags.is_empty() && same => {
            let peak = f.usl.peak_throughput();
            let capped = peak.min(EXTRAPOLATION_LIMIT * max_seen);
            bounds.push(Bound {
                resource: Resource::Scalability,
                max_tps: capped,
                basis: if capped < peak {
                    format!(
                        "USL peak {peak:.0} TPS capped at {EXTRAPOLATION_LIMIT}x the highest observed ({max_seen:.0})"
                    )
                } else {
                    format!(
                        "USL peak at concurrency {:.0} (σ {:.4}, κ {:.6}, {} points, error {:.1}%)",
                        f.usl.peak_concurrency().unwrap_or(f64::NAN),
                        f.usl.sigma,
                        f.usl.kappa,
                        f.points,
                        f.mape * 100.0
                    )
                },
            });
            if capped < peak {
                lower(
                    Level::Medium,
                    format!(
                        "the USL peak lies past {EXTRAPOLATION_LIMIT}x the observed range: capped there"
                    ),
                    &mut reasons,
                );
            }
        }
        Some(f) if same => {
            for flag in &f.flags {
                lower(Level::Medium, format!("USL not used: {flag}"), &mut reasons);
            }
        }
        Some(_) => reasons.push(format!(
            "USL not revalidated on {}: σ and κ do not transfer across core counts",
            target.class.name
        )),
        None => lower(
            Level::Medium,
            "USL not used: fewer than 3 (concurrency, TPS) samples".into(),
            &mut reasons,
        ),
    }

    let best = bounds
        .iter()
        .filter(|b| b.max_tps.is_finite() && b.max_tps > 0.0)
        .min_by(|a, b| a.max_tps.total_cmp(&b.max_tps));
    let mut max_tps = best.map(|b| b.max_tps);
    if max_tps.is_none() {
        lower(
            Level::Low,
            "no ceiling could be computed from the data".into(),
            &mut reasons,
        );
    }
    // No figure past twice the highest TPS observed. On the instance measured the maximum is
    // capped there; on another class (a what-if, a recommendation) the figure is an
    // extrapolation by construction, so it stands, flagged.
    if let Some(m) = max_tps
        && m > EXTRAPOLATION_LIMIT * max_seen
        && max_seen > 0.0
    {
        let resource = best.map(|b| b.resource.as_str()).unwrap_or("-");
        let why = if same {
            max_tps = Some(EXTRAPOLATION_LIMIT * max_seen);
            format!(
                "the lowest ceiling ({m:.0} TPS, {resource}) is more than {EXTRAPOLATION_LIMIT}x the highest TPS observed ({max_seen:.0}): the maximum is capped at {:.0}; load it further to learn more",
                EXTRAPOLATION_LIMIT * max_seen
            )
        } else {
            format!(
                "the maximum ({m:.0} TPS, {resource}) is more than {EXTRAPOLATION_LIMIT}x the highest TPS observed ({max_seen:.0}): an extrapolation"
            )
        };
        lower(Level::Low, why, &mut reasons);
    }
    let days_to_saturation = max_tps.and_then(|m| saturation(&obs.daily_peaks, SATURATION * m));
    if obs.daily_peaks.len() < 28 {
        reasons.push(format!(
            "{} of daily peaks: the trend needs 4 to 12 weeks",
            match obs.daily_peaks.len() {
                1 => "1 day".to_owned(),
                n => format!("{n} days"),
            }
        ));
        if !obs.daily_peaks.is_empty() {
            level = level.min(Level::Medium);
        }
    }
    Assessment {
        class: target.class.name.clone(),
        max_tps,
        bottleneck: best.map(|b| b.resource),
        headroom: max_tps.map(|m| 1.0 - obs.tps_p95 / m),
        bounds,
        usl,
        days_to_saturation,
        confidence: Confidence { level, reasons },
    }
}

/// The class family and generation, `db.r5` of `db.r5.2xlarge`.
fn generation(class: &str) -> &str {
    class.rsplit_once('.').map(|(g, _)| g).unwrap_or(class)
}

/// The least-squares line through `peaks` (one a day, day 0 first): slope per day, value on
/// the last day, and the slope's standard error. `None` with fewer than 7 days.
fn daily_line(peaks: &[f64]) -> Option<(f64, f64, f64)> {
    let n = peaks.len();
    if n < 7 {
        return None;
    }
    let nf = n as f64;
    let xm = (nf - 1.0) / 2.0;
    let ym = peaks.iter().sum::<f64>() / nf;
    let sxx: f64 = (0..n).map(|i| (i as f64 - xm).powi(2)).sum();
    let sxy: f64 = peaks
        .iter()
        .enumerate()
        .map(|(i, y)| (i as f64 - xm) * (y - ym))
        .sum();
    let slope = sxy / sxx;
    let intercept = ym - slope * xm;
    let resid: f64 = peaks
        .iter()
        .enumerate()
        .map(|(i, y)| (y - (intercept + slope * i as f64)).powi(2))
        .sum();
    let se = (resid / (nf - 2.0) / sxx).sqrt();
    Some((slope, intercept + slope * (nf - 1.0), se))
}

/// Days until the linear trend of `peaks` (one a day) reaches `level`: (early, likely, late)
/// from the slope's 80% confidence interval. `None` with fewer than 7 days, a flat or falling
/// trend, or a level already reached.
pub fn saturation(peaks: &[f64], level: f64) -> Option<(f64, f64, f64)> {
    let (slope, now, se) = daily_line(peaks)?;
    // Two-sided 80%: t(0.90, n−2); 1.282 is the normal value, fine from a week up.
    let t = 1.282 + 1.0 / (peaks.len() as f64 - 2.0);
    if now >= level {
        return Some((0.0, 0.0, 0.0));
    }
    let days = |s: f64| (s > 0.0).then(|| (level - now) / s);
    let likely = days(slope)?;
    let early = days(slope + t * se).unwrap_or(likely);
    let late = days(slope - t * se).unwrap_or(f64::INFINITY);
    Some((early, likely, late))
}

/// The forecast of daily peaks `days` after the last one: (low, likely, high) from the
/// slope's 80% confidence interval, as [`saturation`] reads it. `None` with fewer than 7 days.
pub fn forecast(peaks: &[f64], days: f64) -> Option<(f64, f64, f64)> {
    let (slope, now, se) = daily_line(peaks)?;
    let t = 1.282 + 1.0 / (peaks.len() as f64 - 2.0);
    Some((
        now + (slope - t * se) * days,
        now + slope * days,
        now + (slope + t * se) * days,
    ))
}

/// What the report's charts draw, computed here so that the report only renders.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Charts {
    /// The fitted USL curve, (concurrency, TPS), from 0 to twice the concurrency observed
    /// (or past the curve's peak).
    pub usl_curve: Vec<(f64, f64)>,
    /// The forecast of daily peaks: (days after the last, low, likely, high) to the horizon.
    pub forecast: Vec<(f64, f64, f64, f64)>,
}

/// The chart data of an assessment.
pub fn charts(obs: &Observed, a: &Assessment, horizon_days: f64) -> Charts {
    let usl_curve = a
        .usl
        .as_ref()
        .map(|u| {
            let f = usl::Usl {
                sigma: u.sigma,
                kappa: u.kappa,
                lambda: u.lambda,
            };
            let top = (u.n_range.1 * 2.0)
                .max(u.peak_concurrency.unwrap_or(0.0) * 1.2)
                .min(u.n_range.1 * 4.0)
                .max(1.0);
            // X(0) = 0; the formula is 0/0 there when σ = 1.
            std::iter::once((0.0, 0.0))
                .chain((1..=60).map(|i| {
                    let n = top * f64::from(i) / 60.0;
                    (n, f.throughput(n))
                }))
                .filter(|(_, x)| x.is_finite())
                .collect()
        })
        .unwrap_or_default();
    let forecast = if horizon_days > 0.0 {
        (0..=30)
            .filter_map(|i| {
                let d = horizon_days * f64::from(i) / 30.0;
                forecast(&obs.daily_peaks, d)
                    .map(|(lo, mid, hi)| (d, lo.max(0.0), mid, hi))
                    .filter(|(_, lo, mid, hi)| lo.is_finite() && mid.is_finite() && hi.is_finite())
            })
            .collect()
    } else {
        Vec::new()
    };
    Charts {
        usl_curve,
        forecast,
    }
}

/// The linear trend of `peaks` (one a day) `days` after the last one; `None` with fewer than
/// 7 days.
pub fn trend_at(peaks: &[f64], days: f64) -> Option<f64> {
    daily_line(peaks).map(|(slope, last, _)| last + slope * days)
}

/// The smallest class of `catalog` (fewest vCPU, then least memory) that keeps
/// [`MIN_HEADROOM`] for `tps` (the load expected at the horizon), on the same storage.
/// `Err` says why there is no answer: without CPU per transaction the model cannot size
/// compute on another class (the USL does not transfer across core counts).
pub fn recommend<'a>(
    obs: &Observed,
    current: &Instance,
    catalog: &'a [Class],
    tps: f64,
) -> Result<(&'a Class, Assessment), String> {
    if obs.cpu.is_none() {
        return Err(
            "no recommendation: it needs CPU per transaction (CPU utilization, e.g. RDS's CloudWatch CPUUtilization), since the USL does not transfer across classes".into(),
        );
    }
    let mut candidates: Vec<&Class> = catalog.iter().collect();
    candidates.sort_by(|a, b| {
        a.vcpu
            .cmp(&b.vcpu)
            .then(a.memory_gib.total_cmp(&b.memory_gib))
            .then(a.name.cmp(&b.name))
    });
    candidates
        .into_iter()
        .find_map(|c| {
            let target = Instance {
                class: c.clone(),
                storage: current.storage,
            };
            let a = assess(obs, current, &target);
            let m = a.max_tps?;
            (1.0 - tps / m >= MIN_HEADROOM).then_some((c, a))
        })
        .ok_or_else(|| {
            format!(
                "no class of the catalog keeps {:.0}% headroom for {tps:.0} TPS on this storage",
                MIN_HEADROOM * 100.0
            )
        })
}

#[cfg(test)]
mod tests {
    use super::super::catalog::{self, StorageType, storage};
    use super::*;

    fn instance(class: &str, gib: f64) -> Instance {
        Instance {
            class: catalog::shipped()
                .into_iter()
                .find(|c| c.name == class)
                .unwrap(),
            storage: storage(StorageType::Gp3, gib, None, None).unwrap(),
        }
    }

    /// A database measured on db.r5.xlarge (4 vCPU): 1,000 TPS at 50% CPU, 2 reads and 1
    /// write per transaction, 16 KiB each.
    fn observed() -> Observed {
        Observed {
            tps_p95: 900.0,
            samples: Vec::new(),
            cpu: Some((0.5, 1000.0)),
            read_iops_per_trx: Some(2.0),
            write_iops_per_trx: Some(1.0),
            bytes_per_trx: Some(3.0 * 16384.0),
            miss_ratio: Some(0.01),
            buffer_pool_bytes: Some(24.0 * 1024.0 * 1024.0 * 1024.0),
            hold_seconds: Some(0.005),
            usable_connections: Some(2000.0),
            daily_peaks: Vec::new(),
            db_bytes: None,
            db_growth_bytes_per_day: None,
        }
    }

    #[test]
    fn the_smallest_ceiling_is_the_bottleneck() {
        let cur = instance("db.r5.xlarge", 500.0);
        let a = assess(&observed(), &cur, &cur);
        let get = |r| a.bounds.iter().find(|b| b.resource == r).unwrap().max_tps;
        // CPU: d = 0.5·4/1000 = 2 ms; 0.75·4/0.002 = 1,500 TPS.
        assert!((get(Resource::Cpu) - 1500.0).abs() < 1e-9);
        // I/O: gp3 500 GiB gives 12,000 IOPS, the class sustains 6,000; 0.8·6000/3 = 1,600.
        assert!((get(Resource::Iops) - 1600.0).abs() < 1e-9);
        // Connections: 2,000 / 5 ms = 400,000.
        assert!((get(Resource::Connections) - 400_000.0).abs() < 1e-6);
        assert_eq!(a.bottleneck, Some(Resource::Cpu));
        assert_eq!(a.max_tps, Some(1500.0));
        assert!((a.headroom.unwrap() - 0.4).abs() < 1e-9); // 1 − 900/1500
        // No USL samples and CPU measured at 50%: medium at best.
        assert_eq!(a.confidence.level, Level::Medium);
        assert!(
            a.confidence
                .reasons
                .iter()
                .any(|r| r.contains("USL not used"))
        );
    }

    #[test]
    fn a_bigger_class_moves_the_bottleneck() {
        let cur = instance("db.r5.xlarge", 500.0);
        let big = instance("db.r5.4xlarge", 500.0);
        let a = assess(&observed(), &cur, &big);
        // CPU ×4 = 6,000; reads shrink with the 4x buffer pool (2·¼ + 1 = 1.5 I/Os), against
        // the volume's 12,000 IOPS now: 0.8·12000/1.5 = 6,400; throughput 500 MiB/s at 48 KiB
        // per transaction: 8,533.
        let get = |r| a.bounds.iter().find(|b| b.resource == r).unwrap().max_tps;
        assert!((get(Resource::Cpu) - 6000.0).abs() < 1e-9);
        assert!((get(Resource::Iops) - 6400.0).abs() < 1e-9);
        assert_eq!(a.bottleneck, Some(Resource::Cpu));
        // 6,000 > 2x the 1,000 observed: flagged as an extrapolation.
        assert_eq!(a.confidence.level, Level::Low);
    }

    #[test]
    fn another_cpu_generation_scales_by_its_published_factor() {
        let cur = instance("db.r5.xlarge", 500.0);
        // Graviton2 against the 5th-generation x86: up to 35% more per vCPU (catalog.rs).
        let a = assess(&observed(), &cur, &instance("db.r6g.xlarge", 500.0));
        let cpu = a
            .bounds
            .iter()
            .find(|b| b.resource == Resource::Cpu)
            .unwrap();
        assert!((cpu.max_tps - 1500.0 * 1.35).abs() < 1e-9, "{cpu:?}");
        assert!(
            cpu.basis
                .contains("x1.35 for the CPU generation (AWS Graviton2)")
        );
        assert!(
            a.confidence
                .reasons
                .iter()
                .any(|r| r.contains("published figures") && r.contains("best case")),
            "{:?}",
            a.confidence.reasons
        );
        // And back: the same factor divides.
        let g = instance("db.r6g.xlarge", 500.0);
        let back = assess(&observed(), &g, &cur);
        let cpu = back
            .bounds
            .iter()
            .find(|b| b.resource == Resource::Cpu)
            .unwrap();
        assert!((cpu.max_tps - 1500.0 / 1.35).abs() < 1e-9, "{cpu:?}");
        // Another family of the same processor (db.m5): vCPU only, no reason to doubt it.
        let m = assess(&observed(), &cur, &instance("db.m5.xlarge", 500.0));
        let cpu = m
            .bounds
            .iter()
            .find(|b| b.resource == Resource::Cpu)
            .unwrap();
        assert!((cpu.max_tps - 1500.0).abs() < 1e-9, "{cpu:?}");
        assert!(
            !m.confidence
                .reasons
                .iter()
                .any(|r| r.contains("CPU scaled"))
        );
    }

    #[test]
    fn recommendation_keeps_thirty_percent() {
        let cur = instance("db.r5.xlarge", 500.0);
        let cat = catalog::shipped();
        // 1,400 TPS expected. Every 4-vCPU class tops out at 1,500 on CPU (7% headroom). The
        // first 8-vCPU class (least memory, then name) is db.m5.2xlarge: CPU 3,000; its
        // 24 GiB buffer pool equals today's, so reads stay 2 per transaction and its 12,000
        // baseline IOPS give 0.8·12000/3 = 3,200. Headroom 1 − 1400/3000 = 53%.
        let (c, a) = recommend(&observed(), &cur, &cat, 1400.0).unwrap();
        // Without CPU per transaction there is no answer, and it says why.
        let mut blind = observed();
        blind.cpu = None;
        assert!(
            recommend(&blind, &cur, &cat, 1400.0)
                .unwrap_err()
                .contains("needs CPU")
        );
        assert_eq!(c.name, "db.m5.2xlarge");
        assert_eq!(a.max_tps, Some(3000.0));
        assert_eq!(a.bottleneck, Some(Resource::Cpu));
        assert!(1.0 - 1400.0 / a.max_tps.unwrap() >= MIN_HEADROOM);
    }

    #[test]
    fn usl_bound_comes_from_samples_and_is_capped() {
        let cur = instance("db.r5.xlarge", 500.0);
        let mut o = observed();
        o.cpu = Some((0.9, 1000.0));
        o.tps_p95 = 700.0; // under the law's peak (~745), as a real p95 would be
        // Samples from a law with its peak near N = 35: the data reaches N = 32.
        let law = usl::Usl {
            sigma: 0.0267,
            kappa: 0.000769,
            lambda: 60.0,
        };
        o.samples = (1..=32)
            .map(|n| Point {
                n: n as f64,
                x: law.throughput(n as f64),
            })
            .collect();
        let a = assess(&o, &cur, &cur);
        let s = a.usl.as_ref().unwrap();
        assert!((s.sigma - 0.0267).abs() < 1e-6 && (s.kappa - 0.000769).abs() < 1e-8);
        let b = a
            .bounds
            .iter()
            .find(|b| b.resource == Resource::Scalability)
            .unwrap();
        assert!((b.max_tps - law.peak_throughput()).abs() < 1.0, "{b:?}");
        assert_eq!(a.bottleneck, Some(Resource::Scalability)); // ~745 < 1,111 CPU
    }

    #[test]
    fn saturation_from_a_rising_trend() {
        // +10 TPS a day from 500, 30 days: at day 29 the trend is 790; 80% of 1,500 = 1,200
        // is 41 days away.
        let peaks: Vec<f64> = (0..30).map(|d| 500.0 + 10.0 * d as f64).collect();
        let (early, likely, late) = saturation(&peaks, 1200.0).unwrap();
        assert!((likely - 41.0).abs() < 1e-6);
        assert!(early <= likely && likely <= late);
        assert!(saturation(&peaks[..5], 1200.0).is_none());
        let flat = vec![500.0; 30];
        assert!(saturation(&flat, 1200.0).is_none());
    }
}
