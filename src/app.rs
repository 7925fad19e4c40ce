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
use crate::config::shard::Shard;
use crate::config_file::{self, Config};
use crate::scheduler::Scheduler;
use crate::server::web::{self, SharedWeb, WebListener, WebMetrics};
use crate::server::{AppState, app};
use crate::sources::{SourceConfig, Target, aws, mysql};
use crate::store::SnapshotStore;
use crate::store::exposition::Exposition;
use crate::store::history::HistorySource;
use crate::store::recorder::Recorded;
use crate::telemetry::SelfMetrics;

/// How long in-flight HTTP requests may take to finish after SIGTERM.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Puts the config's checks on `targets` (configured and discovered).
async fn install_checks(engine: &tokio::sync::Mutex<Engine>, cfg: &Config, targets: &[Target]) {
    let (instances, inactive) = check::instances(&cfg.checks, targets);
    let mut engine = engine.lock().await;
    {
        let board = engine.board();
        let mut b = board.write();
        b.dday = cfg.dday;
        b.scope = cfg.scope.clone();
        b.criteria = cfg
            .dday_criteria
            .clone()
            .unwrap_or_else(check::dday::default_criteria);
    }
    engine.set_instances(instances, inactive, cfg.push.clone());
}

/// `mysql[].rds_instance` by target name.
fn rds_instances(cfg: &Config) -> std::collections::HashMap<String, String> {
    cfg.targets
        .iter()
        .filter_map(|t| match &t.source {
            SourceConfig::Mysql(s) => Some((t.name.to_string(), s.rds_instance.clone()?)),
            _ => None,
        })
        .collect()
}

/// SIGHUP for `--web.config.file`: the new file, or the running one kept and the error logged.
fn reload_web(web: &SharedWeb) {
    match web.reload() {
        None => {}
        Some(Ok(summary)) => tracing::info!("SIGHUP: web config reloaded: {summary}"),
        Some(Err(e)) => {
            tracing::error!("SIGHUP: web config not reloaded, the running one stays:\n{e}");
        }
    }
}

/// `headroom run`: runs until SIGTERM or SIGINT.
pub async fn run(
    path: &Path,
    listen_override: Option<SocketAddr>,
    shard: Option<Shard>,
    web_config: Option<&Path>,
) -> anyhow::Result<()> {
    // The agent of one shard needs the secrets of its own targets only: the others may be
    // set only where the agents of their shards run.
    let load = |path: &Path| match shard {
        None => config_file::load(path),
        Some(s) => {
            config_file::load_with(path, config_file::Secrets::Deferred).and_then(|mut cfg| {
                cfg.keep_shard(s);
                cfg.require_secrets()?;
                Ok(cfg)
            })
        }
    };
    let cfg = load(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let web_cfg = match web_config {
        Some(p) => web::load(p).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => web::WebConfig::default(),
    };
    let listen = listen_override.unwrap_or(cfg.listen);
    tracing::info!("{}", cfg.summary());
    for n in &cfg.notices {
        tracing::warn!("{n}");
    }
    let aws = aws::Clients::new(cfg.aws.max_concurrent_requests);

    let store = Arc::new(SnapshotStore::new());
    let mut registry = Registry::default();
    let metrics = SelfMetrics::register(&mut registry);

    let check_metrics = CheckMetrics::register(&mut registry);
    // The security counters exist only where there is something to count.
    let web_metrics = match web_config {
        Some(_) => WebMetrics::register(&mut registry),
        None => WebMetrics::default(),
    };
    let web = SharedWeb::new(web_config, web_cfg, web_metrics);
    let retention = cfg.state_file.clone().map(Retention::new);
    if retention.is_none() && !cfg.checks.is_empty() {
        tracing::info!("no state_file: check states start afresh at every start");
    }
    let engine = Engine::new(store.clone(), check_metrics, retention);
    let board = engine.board();
    let engine = Arc::new(tokio::sync::Mutex::new(engine));

    let recorder_metrics = crate::store::recorder::RecorderMetrics::register(&mut registry);
    let rds_map: crate::store::recorder::RdsMap = Default::default();
    let history_stop = tokio_util::sync::CancellationToken::new();
    let mut recorder: Option<std::thread::JoinHandle<()>> = None;
    let snapshots = store.clone();
    let start_recorder = |cfg: &Config, recorder: &mut Option<std::thread::JoinHandle<()>>| {
        *rds_map.write() = rds_instances(cfg);
        if recorder.is_some() {
            return;
        }
        let Some(HistorySource::Sqlite(path)) = &cfg.history else {
            return;
        };
        if !cfg.targets.iter().any(|t| t.kind() == mysql::KIND) {
            return;
        }
        match crate::store::recorder::spawn(
            path.clone(),
            rds_map.clone(),
            Recorded {
                mysql: mysql::KIND,
                cloudwatch: aws::cloudwatch::KIND,
                rds: aws::rds::KIND,
            },
            snapshots.clone(),
            recorder_metrics.clone(),
            history_stop.clone(),
        ) {
            Ok(h) => *recorder = Some(h),
            // The daemon runs on without history: monitoring matters more than planning.
            Err(e) => tracing::error!("history not recorded: {e}"),
        }
    };
    start_recorder(&cfg, &mut recorder);

    match crate::scheduler::raise_nofile_limit() {
        Ok((now, was)) if now != was => {
            tracing::info!(was, now, "open-file limit raised to the hard limit");
        }
        Ok((now, _)) => tracing::info!(limit = now, "open-file limit"),
        Err(e) => tracing::warn!("{e}"),
    }
    let mut scheduler = Scheduler::new(store.clone(), metrics, aws.clone(), cfg.poll_limit);
    let mut found = scheduler.discoveries();
    let state = AppState {
        // The store's families come after the registry's metrics, where a collector's would.
        exposition: Arc::new(Exposition::new(registry, store.clone())),
        readiness: scheduler.readiness(),
        board,
        renders: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let scheme = if web.current().config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!("serving {scheme}://{listen}/metrics");
    if web.path().is_some() {
        tracing::info!("web config: {}", web.current().config.summary());
    }
    scheduler.set_cloudwatch_budget(cfg.aws.monthly_budget_usd);
    scheduler.apply(cfg.targets.clone()).await;
    install_checks(&engine, &cfg, &scheduler.targets()).await;

    let stop = tokio_util::sync::CancellationToken::new();
    let checks_task = tokio::spawn(Engine::run(engine.clone(), stop.clone()));
    let server = {
        let stop = stop.clone();
        let web = web.clone();
        tokio::spawn(async move {
            // As a make-service, each connection gets a clone of the router as built; served
            // as a plain `Router`, axum rebuilds it (`with_state`) at every connection, a
            // fiftieth of the daemon's CPU when scraped every 100 ms over new connections.
            let router = app(state);
            if web.path().is_none() {
                axum::serve(listener, router.into_make_service())
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            } else {
                let listener = WebListener::new(listener, web.clone())?;
                axum::serve(listener, web::secured(router, web).into_make_service())
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            }
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
            _ = hup.recv() => { reload_web(&web); match load(path) {
                Ok(new) => {
                    if new.listen != current_listen && listen_override.is_none() {
                        tracing::warn!(old = %current_listen, new = %new.listen, "a new listen address takes effect at the next restart");
                    }
                    current_listen = new.listen;
                    if new.aws.max_concurrent_requests != aws.limit() {
                        tracing::info!(
                            old = aws.limit(),
                            new = new.aws.max_concurrent_requests,
                            "aws.max_concurrent_requests changed; calls in flight finish first"
                        );
                        aws.set_limit(new.aws.max_concurrent_requests);
                    }
                    if new.poll_limit != scheduler.poll_limit() {
                        tracing::info!(
                            old = scheduler.poll_limit().0,
                            new = new.poll_limit.0,
                            "max_concurrent_polls changed; polls in flight finish first"
                        );
                        scheduler.set_poll_limit(new.poll_limit);
                    }
                    for n in &new.notices {
                        tracing::warn!("{n}");
                    }
                    tracing::info!("SIGHUP: reloaded; {}", new.summary());
                    if new.history != cfg.history {
                        tracing::warn!("a new history: takes effect at the next restart");
                    }
                    start_recorder(&new, &mut recorder);
                    scheduler.set_cloudwatch_budget(new.aws.monthly_budget_usd);
                    scheduler.apply(new.targets.clone()).await;
                    install_checks(&engine, &new, &scheduler.targets()).await;
                    cfg = new;
                }
                Err(e) => tracing::error!("SIGHUP: config not reloaded, the running one stays:\n{e}"),
            }},
            Some(d) = found.recv() => {
                if scheduler.discovered(d).await {
                    install_checks(&engine, &cfg, &scheduler.targets()).await;
                }
            }
        }
    }

    stop.cancel();
    scheduler.stop().await;
    // The recorder writes the minute in progress after the last polls.
    history_stop.cancel();
    if let Some(h) = recorder {
        let _ = tokio::task::spawn_blocking(move || h.join()).await;
    }
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
