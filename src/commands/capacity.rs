//! The `capacity` and `migration` commands: arguments in, text or JSON out. The computation
//! is in the sibling modules; this is where the command line meets it.

use crate::cli;

/// `headroom capacity report` and `what-if`: reads the history, assesses, renders.
pub async fn capacity(cmd: &cli::CapacityCommand) -> Result<String, String> {
    use crate::capacity::evaluate::WhatIf;
    use cli::CapacityCommand;
    match cmd {
        CapacityCommand::Fit {
            model: cli::FitModel::Knee,
            predict,
            format,
            ..
        } => knee_fit(predict, *format),
        CapacityCommand::Fit {
            residuals,
            predict,
            format,
            ..
        } => capacity_fit(*residuals, predict, *format),
        CapacityCommand::Report { history, current } => report(history, current, None).await,
        CapacityCommand::WhatIf {
            history,
            current,
            class,
            storage,
            gib,
            iops,
        } => {
            let w = WhatIf {
                class: class.clone(),
                storage: *storage,
                gib: *gib,
                iops: *iops,
            };
            report(history, current, Some(&w)).await
        }
    }
}

async fn report(
    h: &cli::HistoryArgs,
    cur: &cli::CurrentArgs,
    what_if: Option<&crate::capacity::evaluate::WhatIf>,
) -> Result<String, String> {
    use crate::capacity::catalog;
    use crate::capacity::evaluate::{Current, Request, evaluate};
    use crate::store::history::HistorySource;
    use crate::store::history::HistoryStore;
    use crate::store::history::prometheus::Prometheus;
    // Where the history is, the catalog, and what the config says each database runs on.
    let (source, classes, cfg) = match (&h.config, &h.store, &h.prometheus) {
        (Some(path), _, _) => {
            // The report reads the history alone: the targets' secrets need not be readable.
            let cfg = crate::config_file::load_with(path, crate::config_file::Secrets::Deferred)
                .map_err(|e| e.to_string())?;
            let source = cfg.history.clone().ok_or_else(|| {
                format!(
                    "{}: history.enabled is false: no history to read",
                    path.display()
                )
            })?;
            (source, cfg.catalog.to_vec(), Some(cfg))
        }
        (None, Some(file), _) => (
            HistorySource::Sqlite(file.clone()),
            catalog::shipped(),
            None,
        ),
        (None, None, Some(url)) => (
            HistorySource::Prometheus(url.clone()),
            catalog::shipped(),
            None,
        ),
        (None, None, None) => return Err("give --config, --store or --prometheus".into()),
    };
    let dbs = match (&h.db, &source) {
        (Some(db), _) => vec![db.clone()],
        (None, HistorySource::Sqlite(p)) => {
            let p = p.clone();
            tokio::task::spawn_blocking(move || HistoryStore::open_read(&p)?.dbs())
                .await
                .map_err(|e| e.to_string())??
        }
        (None, HistorySource::Prometheus(url)) => Prometheus::new(url)?.targets().await?,
    };
    if dbs.is_empty() {
        return Err(format!("{source}: no database has any history yet"));
    }
    // `--shard I/N`: the databases this agent's shard polls; the report says which part it is.
    let (dbs, scope) = match h.shard {
        Some(shard) if h.db.is_none() => {
            let all = dbs.len();
            let mine: Vec<String> = dbs.into_iter().filter(|d| shard.owns(d)).collect();
            let scope = format!(
                "shard {shard}: {} of the {all} databases in the history (the others are other shards')",
                mine.len()
            );
            if mine.is_empty() {
                return Err(format!("{source}: {scope}"));
            }
            (mine, Some(scope))
        }
        _ => (dbs, None),
    };
    if let Some(scope) = &scope {
        eprintln!("headroom: {scope}");
    }
    if what_if.is_some() && dbs.len() != 1 {
        return Err("what-if needs --db".into());
    }
    let given = cur.current_class.as_ref().map(|class| Current::Given {
        class: class.clone(),
        storage: cur.current_storage.unwrap_or(catalog::StorageType::Gp3),
        gib: cur.current_gib.unwrap_or(0.0),
        iops: cur.current_iops,
    });
    let store = match &source {
        HistorySource::Sqlite(p) => Some(HistoryStore::open_read(p)?),
        HistorySource::Prometheus(_) => None,
    };
    // What a database runs on: the command line, then the config, then the facts recorded
    // with the embedded history.
    let current_of = |db: &str| -> Result<Current, String> {
        if let Some(id) = &cur.rds_instance {
            return Ok(Current::Rds(id.clone()));
        }
        if let Some(g) = &given {
            return Ok(g.clone());
        }
        if let Some(cfg) = &cfg {
            for t in &cfg.targets {
                match &t.source {
                    crate::sources::SourceConfig::Capacity(s) if s.db == db => {
                        return Ok(s.current.clone());
                    }
                    crate::sources::SourceConfig::Mysql(s) if &*t.name == db => {
                        if let Some(id) = &s.rds_instance {
                            return Ok(Current::Rds(id.clone()));
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(f) = store
            .as_ref()
            .map(|s| s.instance(db))
            .transpose()?
            .flatten()
        {
            return Ok(Current::Rds(f.rds_instance));
        }
        Err(format!(
            "{db}: what does it run on? give --rds-instance or --current-class/--current-storage/--current-gib"
        ))
    };
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let tty = std::io::IsTerminal::is_terminal(&std::io::stderr());
    // Databases are assessed side by side, as many as there are cores: reading the embedded
    // history runs on the blocking pool, so a fleet report uses every core.
    let parallel = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(8);
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(parallel));
    let classes = std::sync::Arc::new(classes);
    let prices = std::sync::Arc::new(crate::capacity::prices::shipped());
    let what_if = what_if.cloned();
    let total = dbs.len();
    let mut tasks = tokio::task::JoinSet::new();
    let mut failed = Vec::new();
    for (k, db) in dbs.iter().enumerate() {
        let current = match current_of(db) {
            Ok(c) => c,
            Err(e) => {
                failed.push(e);
                continue;
            }
        };
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        // The region to price in: --region, then the database's capacity target's.
        let region = cur.region.clone().or_else(|| {
            cfg.as_ref()?.targets.iter().find_map(|t| match &t.source {
                crate::sources::SourceConfig::Capacity(s) if s.db == *db => s.region.clone(),
                _ => None,
            })
        });
        let (source, classes, what_if, db, prices) = (
            source.clone(),
            classes.clone(),
            what_if.clone(),
            db.clone(),
            prices.clone(),
        );
        let (days, horizon, resolution) = (h.days, h.horizon, h.resolution.as_secs_f64());
        tasks.spawn(async move {
            let _slot = slot;
            let req = Request {
                source: &source,
                db: &db,
                current: &current,
                days,
                horizon,
                resolution,
                end,
                catalog: &classes,
                what_if: what_if.as_ref(),
                region: region.as_deref(),
                prices: &prices,
            };
            // A bar for the series of one database; a line per database for a fleet.
            let r = evaluate(&req, |i, n, what| {
                if tty && total == 1 {
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
            .await;
            (k, db, r)
        });
    }
    let mut reports = Vec::new();
    let mut done = 0;
    while let Some(joined) = tasks.join_next().await {
        let (k, db, result) = joined.map_err(|e| format!("assessment task: {e}"))?;
        done += 1;
        if tty && total > 1 {
            eprint!("\rassessed {done}/{total} databases{:<20}", "");
        }
        match result {
            Ok(r) => reports.push((k, r)),
            Err(e) => failed.push(format!("{db}: {e}")),
        }
    }
    if tty && total > 1 {
        eprintln!();
    }
    reports.sort_by_key(|(k, _)| *k);
    let reports: Vec<_> = reports.into_iter().map(|(_, r)| r).collect();
    if reports.is_empty() {
        return Err(failed.join("\n"));
    }
    for f in &failed {
        eprintln!("headroom: skipped {f}");
    }
    let text = match (h.format, reports.as_slice()) {
        (cli::ReportFormat::Json, [one]) if h.db.is_some() => one.json(),
        (cli::ReportFormat::Json, all) => {
            serde_json::to_string_pretty(all).map_err(|e| e.to_string())?
        }
        (cli::ReportFormat::Md, all) => {
            let body = all
                .iter()
                .map(|r| r.markdown())
                .collect::<Vec<_>>()
                .join("\n---\n\n");
            match &scope {
                Some(s) => format!("_This report covers {s}._\n\n{body}"),
                None => body,
            }
        }
        (cli::ReportFormat::Html, all) => crate::capacity::report::html(all),
    };
    match &h.out {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| format!("{}: {e}", path.display()))?;
            Ok(format!(
                "wrote {} ({} databases)",
                path.display(),
                reports.len()
            ))
        }
        None => Ok(text),
    }
}

/// `headroom capacity fit --model knee`: the same input, the saturation model.
fn knee_fit(predict: &[f64], format: cli::ReportFormat) -> Result<String, String> {
    let points = read_points()?;
    let f = crate::capacity::knee::fit(&points).ok_or("need at least 3 points to fit")?;
    let m = f.model;
    let predictions: Vec<(f64, f64)> = predict.iter().map(|n| (*n, m.throughput(*n))).collect();
    Ok(match format {
        cli::ReportFormat::Json => serde_json::json!({
            "model": "knee",
            "lambda": m.lambda,
            "x1": m.x1,
            "kappa": m.kappa,
            "peak_concurrency": m.knee(),
            "peak_throughput": m.peak_throughput(),
            "mape": f.mape,
            "points": f.points,
            "rising_points": f.rising,
            "saturated_points": f.saturated,
            "flags": f.flags,
            "predictions": predictions,
        })
        .to_string(),
        cli::ReportFormat::Md | cli::ReportFormat::Html => {
            let opt = |v: Option<f64>, digits: usize| {
                v.map(|v| format!("{v:.digits$}"))
                    .unwrap_or_else(|| "unknown".into())
            };
            let out = format!(
                "lambda {} per thread  X1 {}  kappa {:.6}\npeak {} at N = {}\nfit on {} points ({} rising, {} saturated), mean error {:.2}%\n",
                opt(m.lambda, 3),
                opt(m.x1, 1),
                m.kappa,
                opt(m.peak_throughput(), 1),
                opt(m.knee(), 2),
                f.points,
                f.rising,
                f.saturated,
                f.mape * 100.0
            );
            fit_tail(out, &f.flags, &predictions)
        }
    })
}

/// The end of `capacity fit`'s text, for either model: its flags and the predictions asked.
fn fit_tail(mut out: String, flags: &[String], predictions: &[(f64, f64)]) -> String {
    for flag in flags {
        out.push_str(&format!("flag: {flag}\n"));
    }
    for (n, x) in predictions {
        out.push_str(&format!("X({n}) = {x:.1}\n"));
    }
    out.trim_end().to_owned()
}

/// `N X` lines from stdin.
fn read_points() -> Result<Vec<crate::capacity::usl::Point>, String> {
    use crate::capacity::usl::Point;
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
    Ok(points)
}

/// `headroom capacity fit`: reads `N X` lines from stdin.
fn capacity_fit(
    residuals: cli::Residuals,
    predict: &[f64],
    format: cli::ReportFormat,
) -> Result<String, String> {
    use crate::capacity::usl::{Residuals, fit};
    let points = read_points()?;
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
        cli::ReportFormat::Md | cli::ReportFormat::Html => {
            let out = format!(
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
            fit_tail(out, &f.flags, &predictions)
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
