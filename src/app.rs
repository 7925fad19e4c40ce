//! Wiring: config to scheduler and server; signals; reload; shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::signal::unix::{SignalKind, signal};

use crate::check::engine::{CheckMetrics, Engine};
use crate::check::retention::Retention;
use crate::check::{self};
use crate::config::{self, Config};
use crate::scheduler::Scheduler;
use crate::server::{AppState, app};
use crate::sources::SourceKind;
use crate::store::SnapshotStore;
use crate::telemetry::SelfMetrics;

/// How long in-flight HTTP requests may take to finish after SIGTERM.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// `headroom config check`: one line per error, or a summary.
pub fn check_config(path: &Path) -> Result<String, config::ConfigErrors> {
    let cfg = config::load(path)?;
    Ok(summary(&cfg))
}

/// `headroom config plan`: the CloudWatch poll plan of every cloudwatch target.
pub fn plan_config(path: &Path) -> Result<String, config::ConfigErrors> {
    use crate::sources::aws::plan::{MAX_QUERIES_PER_CALL, plan};
    let cfg = config::load(path)?;
    let mut out = String::new();
    let (mut calls, mut queries, mut billed, mut yace_calls, mut cost, mut yace_cost) =
        (0, 0, 0, 0, 0.0, 0.0);
    let mut lower_bound = 0; // calls can only be shared within a region (and window)
    for t in &cfg.targets {
        let config::SourceConfig::Cloudwatch(s) = &t.source else {
            continue;
        };
        let p = plan(&s.requests);
        // YACE: one query per statistic, each billed as a metric, batched per job (namespace).
        let mut per_ns: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
        for r in &s.requests {
            *per_ns.entry(r.namespace.as_str()).or_default() += r.statistics.len();
        }
        let yc: usize = per_ns
            .values()
            .map(|q| q.div_ceil(MAX_QUERIES_PER_CALL))
            .sum();
        let interval = t.interval.as_secs_f64();
        let polls = 30.0 * 86_400.0 / interval.max(1.0);
        let yace_usd = p.queries as f64 * polls * 0.01 / 1000.0;
        out.push_str(&format!(
            "{} ({}): {} metrics, {} queries every {}s -> {} GetMetricData calls, {} billed metrics, ${:.2}/month; YACE model: {} calls, {} billed metrics, ${:.2}/month\n",
            t.name, s.access.region, s.requests.len(), p.queries, interval, p.calls.len(), p.billed_metrics,
            p.usd_per_month(interval), yc, p.queries, yace_usd
        ));
        calls += p.calls.len();
        lower_bound += p.queries.div_ceil(MAX_QUERIES_PER_CALL);
        queries += p.queries;
        billed += p.billed_metrics;
        yace_calls += yc;
        cost += p.usd_per_month(interval);
        yace_cost += yace_usd;
    }
    for n in &cfg.notices {
        out.push_str(&format!("{n}\n"));
    }
    out.push_str(&format!(
        "total: {queries} queries -> {calls} calls (sum over targets of ceil(queries/500) = {lower_bound}), {billed} billed metrics, ${cost:.2}/month; YACE model: {yace_calls} calls, {queries} billed metrics, ${yace_cost:.2}/month"
    ));
    Ok(out)
}

/// `headroom capacity report` and `what-if`: reads the history, assesses, renders.
pub async fn capacity(cmd: &crate::cli::CapacityCommand) -> Result<String, String> {
    use crate::capacity::catalog;
    use crate::capacity::history::{Prometheus, Window, observe};
    use crate::capacity::model::{Instance, assess, recommend};
    use crate::capacity::report::{ObservedInfo, Report, WindowInfo};
    use crate::cli::{CapacityCommand, ReportFormat};
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
        Some(id) => crate::capacity::history::rds_instance(&prom, id, end).await?,
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
    residuals: crate::cli::Residuals,
    predict: &[f64],
    format: crate::cli::ReportFormat,
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
        crate::cli::Residuals::Relative => Residuals::Relative,
        crate::cli::Residuals::Absolute => Residuals::Absolute,
    };
    let f = fit(&points, r).ok_or("need at least 3 points to fit σ, κ and λ")?;
    let predictions: Vec<(f64, f64)> = predict.iter().map(|n| (*n, f.usl.throughput(*n))).collect();
    Ok(match format {
        crate::cli::ReportFormat::Json => serde_json::json!({
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
        crate::cli::ReportFormat::Md => {
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
pub fn migration_plan(p: &crate::cli::MigrationPlan) -> Result<String, String> {
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
        crate::cli::Format::Text => render(&r, &result).trim_end().to_owned(),
        crate::cli::Format::Json => serde_json::json!({
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

fn summary(cfg: &Config) -> String {
    let count = |k| cfg.targets.iter().filter(|t| t.kind() == k).count();
    let (instances, inactive) = check::instances(&cfg.checks, &cfg.targets);
    let per_source: Vec<String> = SourceKind::ALL
        .iter()
        .map(|k| format!("{} {}", count(*k), k.as_str()))
        .collect();
    let mut s = format!(
        "config OK: {} targets ({}); {} checks on them; listen {}",
        cfg.targets.len(),
        per_source.join(", "),
        instances.len(),
        cfg.listen
    );
    for i in inactive {
        s.push_str(&format!(
            "\ninactive check {} ({}): {}",
            i.name, i.source, i.reason
        ));
    }
    for n in &cfg.notices {
        s.push_str(&format!("\n{n}"));
    }
    s
}

/// Puts the config's checks on `targets` (configured and discovered).
async fn install_checks(
    engine: &tokio::sync::Mutex<Engine>,
    cfg: &Config,
    targets: &[config::Target],
) {
    let (instances, inactive) = check::instances(&cfg.checks, targets);
    engine
        .lock()
        .await
        .set_instances(instances, inactive, cfg.push.clone());
}

/// `headroom run`: runs until SIGTERM or SIGINT.
pub async fn run(path: &Path, listen_override: Option<SocketAddr>) -> anyhow::Result<()> {
    let cfg = config::load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let listen = listen_override.unwrap_or(cfg.listen);
    tracing::info!("{}", summary(&cfg));
    for n in &cfg.notices {
        tracing::warn!("{n}");
    }
    let concurrency = cfg.aws.max_concurrent_requests;
    crate::sources::aws::set_concurrency(concurrency);

    let store = Arc::new(SnapshotStore::new());
    let mut registry = Registry::default();
    let metrics = SelfMetrics::register(&mut registry);
    registry.register_collector(Box::new(store.clone()));

    let check_metrics = CheckMetrics::register(&mut registry);
    let retention = cfg.state_file.clone().map(Retention::new);
    if retention.is_none() && !cfg.checks.is_empty() {
        tracing::info!("no state_file: check states start afresh at every start");
    }
    let engine = Engine::new(store.clone(), check_metrics, retention);
    let board = engine.board();
    let engine = Arc::new(tokio::sync::Mutex::new(engine));

    let mut scheduler = Scheduler::new(store, metrics);
    let mut found = scheduler.discoveries();
    let state = AppState {
        registry: Arc::new(registry),
        readiness: scheduler.readiness(),
        board,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!("serving http://{listen}/metrics");
    scheduler.apply(cfg.targets.clone()).await;
    install_checks(&engine, &cfg, &scheduler.targets()).await;

    let stop = tokio_util::sync::CancellationToken::new();
    let checks_task = tokio::spawn(Engine::run(engine.clone(), stop.clone()));
    let server = {
        let stop = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app(state))
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        })
    };

    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    let mut current_listen = cfg.listen;
    let mut cfg = cfg;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: shutting down"); break; }
            _ = hup.recv() => match config::load(path) {
                Ok(new) => {
                    if new.listen != current_listen && listen_override.is_none() {
                        tracing::warn!(old = %current_listen, new = %new.listen, "a new listen address takes effect at the next restart");
                    }
                    current_listen = new.listen;
                    if new.aws.max_concurrent_requests != concurrency {
                        tracing::warn!(
                            old = concurrency,
                            new = new.aws.max_concurrent_requests,
                            "a new aws.max_concurrent_requests takes effect at the next restart"
                        );
                    }
                    for n in &new.notices {
                        tracing::warn!("{n}");
                    }
                    tracing::info!("SIGHUP: reloaded; {}", summary(&new));
                    scheduler.apply(new.targets.clone()).await;
                    install_checks(&engine, &new, &scheduler.targets()).await;
                    cfg = new;
                }
                Err(e) => tracing::error!("SIGHUP: config not reloaded, the running one stays:\n{e}"),
            },
            Some(d) = found.recv() => {
                if scheduler.discovered(d).await {
                    install_checks(&engine, &cfg, &scheduler.targets()).await;
                }
            }
        }
    }

    stop.cancel();
    scheduler.stop().await;
    let _ = checks_task.await; // saves the check states one last time
    match tokio::time::timeout(DRAIN_DEADLINE, server).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e).context("HTTP server failed"),
        Ok(Err(e)) => Err(e).context("HTTP server task failed"),
        Err(_) => {
            tracing::warn!("HTTP connections still open after {DRAIN_DEADLINE:?}; exiting anyway");
            Ok(())
        }
    }
}
