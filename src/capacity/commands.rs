//! The `capacity` and `migration` commands: arguments in, text or JSON out. The computation
//! is in the sibling modules; this is where the command line meets it.

use crate::cli;

/// `headroom capacity report` and `what-if`: reads the history, assesses, renders.
pub async fn capacity(cmd: &cli::CapacityCommand) -> Result<String, String> {
    use crate::capacity::catalog;
    use crate::capacity::history::{Prometheus, Window, observe};
    use crate::capacity::model::{Instance, assess, recommend};
    use crate::capacity::report::{ObservedInfo, Report, WindowInfo};
    use cli::{CapacityCommand, ReportFormat};
    let (h, cur, target) = match cmd {
        CapacityCommand::Fit {
            residuals,
            predict,
            format,
        } => return capacity_fit(*residuals, predict, *format),
        CapacityCommand::Report { history, current } => (history, current, None),
        CapacityCommand::WhatIf {
            history,
            current,
            class,
            storage,
            gib,
            iops,
        } => (history, current, Some((class, storage, gib, iops))),
    };
    if !(h.days.is_finite() && h.days > 0.0 && h.horizon.is_finite() && h.horizon >= 0.0) {
        return Err("--days must be more than 0 and --horizon at least 0".into());
    }
    let prom = Prometheus::new(&h.prometheus)?;
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let window = Window {
        target: h.db.clone(),
        start: end - h.days * 86_400.0,
        end,
        resolution: h.resolution.as_secs_f64().max(1.0),
        // An RDS instance's CPU comes from CloudWatch, as a cloudwatch target exports it.
        cpu: cur.rds_instance.as_ref().map(|id| {
            format!(
                "aws_rds_cpuutilization_average{{dimension_DBInstanceIdentifier=\"{}\"}}",
                id.replace('\\', "\\\\").replace('"', "\\\"")
            )
        }),
    };
    let classes = catalog::shipped();
    let find = |name: &str| {
        classes
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .ok_or_else(|| format!("{name}: not in the catalog (catalog/rds-classes.yaml)"))
    };
    // The current instance: given, or from headroom's RDS series.
    let (class, kind, gib, iops) = match &cur.rds_instance {
        Some(id) => crate::capacity::history::rds_instance(&prom, id, window.start, end).await?,
        None => (
            cur.current_class.clone().unwrap_or_default(),
            cur.current_storage.ok_or("--current-storage is required")?,
            cur.current_gib.ok_or("--current-gib is required")?,
            cur.current_iops,
        ),
    };
    let current = Instance {
        class: find(&class)?,
        storage: catalog::storage(kind, gib, iops, None)
            .map_err(|e| format!("current storage: {e}"))?,
    };
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (observed, mut notes) = observe(&prom, &window, |i, n, what| {
        if tty {
            let width = 30;
            let done = i * width / n.max(1);
            eprint!(
                "\rreading history [{}{}] {i}/{n} {what:<24}",
                "#".repeat(done),
                " ".repeat(width - done)
            );
            if i == n {
                eprintln!();
            }
        }
    })
    .await?;
    let now = assess(&observed, &current, &current);
    let what_if = match target {
        None => None,
        Some((class, storage, tgib, tiops)) => {
            let tkind = storage.unwrap_or(kind);
            let tgib = tgib.unwrap_or(gib);
            // The current provisioned IOPS carry over to the same storage type.
            let tiops = tiops.or(if tkind == kind { iops } else { None });
            Some(assess(
                &observed,
                &current,
                &Instance {
                    class: find(class)?,
                    storage: catalog::storage(tkind, tgib, tiops, None)
                        .map_err(|e| format!("--storage/--gib/--iops: {e}"))?,
                },
            ))
        }
    };
    // The load to plan for: the p95, or the trend at the horizon if higher.
    let at_horizon = crate::capacity::model::trend_at(&observed.daily_peaks, h.horizon)
        .unwrap_or(0.0)
        .max(observed.tps_p95);
    let recommended = match recommend(&observed, &current, &classes, at_horizon) {
        Ok((c, _)) => Some(c.name.clone()),
        Err(why) => {
            notes.push(why);
            None
        }
    };
    notes.insert(
        0,
        format!(
            "inputs from {} (query_range over the mysql target's series)",
            h.prometheus
        ),
    );
    let report = Report {
        schema_version: 1,
        db: h.db.clone(),
        generated_at: end,
        window: WindowInfo {
            start: window.start,
            end: window.end,
            source: h.prometheus.clone(),
        },
        observed: ObservedInfo::from(&observed),
        current: now,
        what_if,
        recommended_class: recommended,
        horizon_days: h.horizon,
        notes,
    };
    let text = match h.format {
        ReportFormat::Json => report.json(),
        ReportFormat::Md => report.markdown(),
    };
    match &h.out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(format!("wrote {}", path.display()))
        }
        None => Ok(text),
    }
}

/// `headroom capacity fit`: reads `N X` lines from stdin.
fn capacity_fit(
    residuals: cli::Residuals,
    predict: &[f64],
    format: cli::ReportFormat,
) -> Result<String, String> {
    use crate::capacity::usl::{Point, Residuals, fit};
    use std::io::BufRead;
    let mut points = Vec::new();
    for (i, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut it = line
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|s| !s.is_empty());
        let parse = |s: Option<&str>| s.and_then(|s| s.parse::<f64>().ok());
        match (parse(it.next()), parse(it.next()), it.next()) {
            (Some(n), Some(x), None) if n > 0.0 && x > 0.0 => points.push(Point { n, x }),
            _ => {
                return Err(format!(
                    "stdin line {}: {line:?}: expected two positive numbers, concurrency and throughput",
                    i + 1
                ));
            }
        }
    }
    let r = match residuals {
        cli::Residuals::Relative => Residuals::Relative,
        cli::Residuals::Absolute => Residuals::Absolute,
    };
    let f = fit(&points, r).ok_or("need at least 3 points to fit σ, κ and λ")?;
    let predictions: Vec<(f64, f64)> = predict.iter().map(|n| (*n, f.usl.throughput(*n))).collect();
    Ok(match format {
        cli::ReportFormat::Json => serde_json::json!({
            "sigma": f.usl.sigma,
            "kappa": f.usl.kappa,
            "lambda": f.usl.lambda,
            "peak_concurrency": f.usl.peak_concurrency(),
            "peak_throughput": f.usl.peak_throughput(),
            "mape": f.mape,
            "points": f.points,
            "flags": f.flags,
            "predictions": predictions,
        })
        .to_string(),
        cli::ReportFormat::Md => {
            let mut out = format!(
                "sigma {:.6}  kappa {:.8}  lambda {:.3}\npeak {:.1} at N = {}\nfit on {} points, mean error {:.2}%\n",
                f.usl.sigma,
                f.usl.kappa,
                f.usl.lambda,
                f.usl.peak_throughput(),
                f.usl
                    .peak_concurrency()
                    .map(|n| format!("{n:.0}"))
                    .unwrap_or_else(|| "none (no coherency cost)".into()),
                f.points,
                f.mape * 100.0
            );
            for flag in &f.flags {
                out.push_str(&format!("flag: {flag}\n"));
            }
            for (n, x) in predictions {
                out.push_str(&format!("X({n}) = {x:.1}\n"));
            }
            out.trim_end().to_owned()
        }
    })
}

/// `headroom migration plan`: text or JSON; an error for inputs that make no plan.
pub fn migration_plan(p: &cli::MigrationPlan) -> Result<String, String> {
    use crate::capacity::transfer::{Request, plan, render};
    let files = p.files.unwrap_or(0.0);
    if files == 0.0 && !p.per_file_overhead.is_zero() {
        return Err("--per-file-overhead needs --files".into());
    }
    let deadline_s = match p.deadline {
        None => None,
        Some(day) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let left = day as f64 * 86_400.0 - now;
            if left <= 0.0 {
                return Err("--deadline is not in the future".into());
            }
            Some(left)
        }
    };
    let r = Request {
        bytes: p.size,
        files,
        bandwidth_bps: p.bandwidth,
        efficiency: p.efficiency,
        per_file: p.per_file_overhead,
        streams: p.streams,
        deadline_s,
    };
    let result = plan(&r);
    Ok(match p.format {
        cli::Format::Text => render(&r, &result).trim_end().to_owned(),
        cli::Format::Json => serde_json::json!({
            "bytes": r.bytes,
            "files": r.files,
            "bandwidth_bps": r.bandwidth_bps,
            "efficiency": r.efficiency,
            "per_file_overhead_seconds": r.per_file.as_secs_f64(),
            "streams": r.streams,
            "plan": result,
        })
        .to_string(),
    })
}
