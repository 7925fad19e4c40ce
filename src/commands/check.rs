//! `headroom check`: one poll and one evaluation in-process, printed as a plugin line, with
//! the plugin exit code. The same pollers and the same evaluation as the daemon.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::check::state::Status;
use crate::check::{CheckDef, CheckKind, Evaluation, PerHost, RawCheck, Unreachable, evaluate};
use crate::cli::{CheckMode, MemcachedMetric, MysqlMetric, NamedCheck, Thresholds};
use crate::config_file;
use crate::model::{ErrorKind, PollError, Poller};
use crate::sources::{AnyPoller, memcached, mysql, tls};
use crate::sources::{SourceConfig, Target};
use crate::store::TargetSnapshot;
use crate::time::unix_now;

/// Runs a check and returns the line to print and the exit code.
pub async fn run(mode: CheckMode) -> (String, u8) {
    match build(mode) {
        Ok((def, target, timeout, resource)) => {
            let ev = once(&def, &target, resource.as_deref(), timeout).await;
            (ev.line(), ev.status.code())
        }
        Err(msg) => (format!("UNKNOWN: {msg}"), Status::Unknown.code()),
    }
}

/// Polls `target` once (twice, a second apart, for rates) and evaluates `def`; for a
/// per-resource check, on `resource`.
pub async fn once(
    def: &CheckDef,
    target: &Target,
    resource: Option<&str>,
    timeout: Duration,
) -> Evaluation {
    let poller = AnyPoller::new(target, &crate::sources::aws::Clients::default());
    // A migration check's copy rate needs two readings too (cloudwatch_s3 gets its history in
    // one, and the second poll costs one call).
    let needs_rate = def.metric.ends_with("_per_second") || def.kind == CheckKind::Migration;
    let work = async {
        if needs_rate {
            poller.poll().await?;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        poller.poll().await
    };
    let result = match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(PollError::new(
            ErrorKind::Timeout,
            format!("no answer within {}", crate::units::std_duration(timeout)),
        )),
    };
    poller.close().await;
    let (families, error) = match result {
        Ok(p) => (p.families, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let snap = TargetSnapshot {
        source: target.kind(),
        target: target.name.clone(),
        families,
        taken_at: SystemTime::now(),
        error,
    };
    let max_age = Duration::from_secs(3600);
    match resource {
        Some(host) if snap.error.is_none() => {
            let found = crate::check::resources(def, &snap);
            match found.iter().find(|(h, _)| h == host) {
                Some((_, filter)) => {
                    crate::check::evaluate_with(def, host, Some(&snap), filter, max_age, unix_now())
                }
                None => Evaluation {
                    status: Status::Unknown,
                    text: format!(
                        "no {host:?} among the {} resources of '{}' ({})",
                        def.name,
                        target.name,
                        found
                            .iter()
                            .map(|(h, _)| h.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    perf: Vec::new(),
                    value: None,
                },
            }
        }
        _ => evaluate(def, &target.name, Some(&snap), max_age, unix_now()),
    }
}

fn range(s: &Option<String>) -> Result<Option<crate::check::range::Range>, String> {
    s.as_deref()
        .map(|r| {
            r.parse()
                .map_err(|e: crate::check::range::RangeError| e.to_string())
        })
        .transpose()
}

fn with_port(host: &str, port: u16) -> String {
    if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !host.ends_with(']')
    {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    }
}

fn timeout_of(t: &Thresholds) -> Result<Duration, String> {
    if t.timeout.is_finite() && t.timeout > 0.0 {
        Ok(Duration::from_secs_f64(t.timeout))
    } else {
        Err(format!(
            "invalid timeout {}: give seconds greater than 0",
            t.timeout
        ))
    }
}

/// A check definition for an ad-hoc check.
fn adhoc(
    name: &str,
    source: &str,
    kind: CheckKind,
    metric: Option<&str>,
    labels: &[(&str, &str)],
    t: &Thresholds,
) -> Result<CheckDef, String> {
    let raw = RawCheck {
        name: name.into(),
        source: source.into(),
        targets: None,
        kind,
        metric: metric.map(str::to_owned),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        per: Vec::new(),
        per_host: None,
        scale: None,
        warning: range(&t.warning)?,
        critical: range(&t.critical)?,
        max_check_attempts: Some(1),
        check_interval: None,
        retry_interval: None,
        max_age: None,
        unreachable: Unreachable::Critical,
        if_absent: None,
        absent_output: None,
        perf_label: None,
        unit: String::new(),
        min: None,
        max: None,
        output: None,
        ok_if: None,
        flap_low: None,
        flap_high: None,
    };
    match crate::check::validate_check(&raw, "command line") {
        Ok(d) => Ok(d),
        Err(e) => Err(e
            .into_iter()
            .map(|(f, m)| format!("{f}: {m}"))
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

fn target(name: &str, timeout: Duration, source: SourceConfig) -> Target {
    Target {
        name: Arc::from(name),
        interval: timeout,
        timeout,
        region: None,
        source,
    }
}

type Built = (CheckDef, Target, Duration, Option<String>);

/// An ad-hoc mysql check: name, kind, metric, labels, scale, unit, perfdata label.
type MysqlAdhoc = (
    &'static str,
    CheckKind,
    Option<&'static str>,
    &'static [(&'static str, &'static str)],
    f64,
    &'static str,
    &'static str,
);

fn build(mode: CheckMode) -> Result<Built, String> {
    match mode {
        CheckMode::Cert {
            host,
            port,
            sni,
            ca_file,
            noauth,
            thresholds,
        } => {
            let timeout = timeout_of(&thresholds)?;
            // Days as whole numbers, "simple lower" as check_http -C and check_ssl_cert use
            // them: -w 30 means WARNING below 30 days.
            let lower = |s: &Option<String>| {
                s.as_ref().map(|v| {
                    if v.contains(':') || v.starts_with('@') {
                        v.clone()
                    } else {
                        format!("{v}:")
                    }
                })
            };
            let t = Thresholds {
                warning: lower(&thresholds.warning),
                critical: lower(&thresholds.critical),
                timeout: thresholds.timeout,
            };
            let mut def = adhoc("CERTIFICATE", "tls", CheckKind::Certificate, None, &[], &t)?;
            if thresholds.warning.is_none() {
                def.warning = "30:".parse().ok();
            }
            if thresholds.critical.is_none() {
                def.critical = "15:".parse().ok();
            }
            let server_name = sni.unwrap_or_else(|| {
                host.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned()
            });
            let s = tls::Settings {
                address: with_port(&host, port),
                server_name,
                ca_file,
                verify: !noauth,
            };
            Ok((
                def,
                target(&host, timeout, SourceConfig::Tls(s)),
                timeout,
                None,
            ))
        }
        CheckMode::Memcached {
            host,
            metric,
            thresholds,
        } => {
            let timeout = timeout_of(&thresholds)?;
            let mut def = match metric {
                MemcachedMetric::Response => adhoc(
                    "MEMCACHE_RESPONSE",
                    "memcached",
                    CheckKind::Metric,
                    Some("headroom_memcached_stats_rtt_seconds"),
                    &[],
                    &thresholds,
                )?,
                MemcachedMetric::Hitrate => adhoc(
                    "MEMCACHE_HITRATE",
                    "memcached",
                    CheckKind::Metric,
                    Some("headroom_memcached_hit_ratio"),
                    &[("window", "since_start")],
                    &thresholds,
                )?,
            };
            match metric {
                MemcachedMetric::Response => {
                    def.unit = "s".into();
                    def.perf_label = "time".into();
                    def.output = Some("stats answered in {human} at {target}".into());
                }
                MemcachedMetric::Hitrate => {
                    def.scale = 100.0;
                    def.unit = "%".into();
                    def.perf_label = "hitrate".into();
                    def.output = Some("Hit ratio {human} at {target}".into());
                    def.if_absent = Status::Ok;
                    def.absent_output = Some("no gets yet at {target}".into());
                }
            }
            // A one-shot check judges `stats` only: the slab replies would be read for nothing.
            let s = memcached::Settings {
                address: with_port(&host, 11211),
                slabs: false,
            };
            Ok((
                def,
                target(&host, timeout, SourceConfig::Memcached(s)),
                timeout,
                None,
            ))
        }
        CheckMode::Mysql {
            host,
            user,
            password_env,
            password_file,
            ssl,
            iam_region,
            metric,
            thresholds,
        } => {
            let timeout = timeout_of(&thresholds)?;
            let password = crate::config::Secret::from_env_or_file(
                password_env.as_deref(),
                password_file.as_deref(),
            )?;
            let (name, kind, metric_name, labels, scale, unit, label): MysqlAdhoc = match metric {
                MysqlMetric::Connections => (
                    "MYSQL_CONNECTIONS",
                    CheckKind::Metric,
                    Some("headroom_mysql_connections_used_ratio"),
                    &[("threads", "connected")],
                    100.0,
                    "%",
                    "connections",
                ),
                MysqlMetric::ReplicaLag => (
                    "MYSQL_REPLICA_LAG",
                    CheckKind::ReplicaLag,
                    None,
                    &[],
                    1.0,
                    "s",
                    "lag",
                ),
                MysqlMetric::ReplicaRunning => (
                    "MYSQL_REPLICA_RUNNING",
                    CheckKind::ReplicaThreads,
                    None,
                    &[],
                    1.0,
                    "",
                    "threads_running",
                ),
                MysqlMetric::ThreadsRunning => (
                    "MYSQL_THREADS_RUNNING",
                    CheckKind::Metric,
                    Some("headroom_mysql_threads_running"),
                    &[],
                    1.0,
                    "",
                    "threads_running",
                ),
                MysqlMetric::Tps => (
                    "MYSQL_TPS",
                    CheckKind::Metric,
                    Some("headroom_mysql_transactions_per_second"),
                    &[],
                    1.0,
                    "",
                    "tps",
                ),
            };
            let mut def = adhoc(name, "mysql", kind, metric_name, labels, &thresholds)?;
            def.scale = scale;
            def.unit = unit.into();
            def.perf_label = label.into();
            if matches!(
                metric,
                MysqlMetric::ReplicaLag | MysqlMetric::ReplicaRunning
            ) {
                // The first replication connection the server lists; a server that is not a
                // replica is fine.
                def.if_absent = Status::Ok;
                def.absent_output = Some("{target} is not a replica".into());
            }
            if metric == MysqlMetric::ReplicaRunning {
                def.min = Some(0.0);
                def.max = Some(2.0);
                if thresholds.critical.is_none() {
                    def.critical = "2:".parse().ok();
                }
            }
            let ssl = mysql::RawSsl {
                mode: ssl.ssl_mode,
                ca: ssl.ssl_ca.as_deref(),
                cert: ssl.ssl_cert.as_deref(),
                key: ssl.ssl_key.as_deref(),
            }
            .resolve(if iam_region.is_some() {
                mysql::SslMode::VerifyIdentity
            } else {
                mysql::SslMode::Disabled
            })
            .map_err(|errors| {
                errors
                    .into_iter()
                    .map(|(field, msg)| format!("--{}: {msg}", field.replace('_', "-")))
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
            if iam_region.is_some() && !ssl.mode.requires_tls() {
                return Err(format!(
                    "--iam-region sends its token in clear text, so only over TLS: --ssl-mode {} is not accepted",
                    ssl.mode.as_str()
                ));
            }
            let s = mysql::Settings {
                ssl,
                iam_region,
                ..mysql::Settings::new(with_port(&host, 3306), user, password)
            };
            Ok((
                def,
                target(&host, timeout, SourceConfig::Mysql(s)),
                timeout,
                None,
            ))
        }
        CheckMode::Named(args) => {
            use clap::Parser;
            let a = NamedCheck::try_parse_from(&args).map_err(|e| {
                let text = e.to_string();
                let mut lines = text.lines().map(str::trim);
                let first = lines
                    .next()
                    .unwrap_or("usage error")
                    .trim_start_matches("error: ")
                    .to_owned();
                // clap's suggestion of the near flag, if it has one.
                let tip = lines
                    .find_map(|l| l.strip_prefix("tip: "))
                    .map(|t| format!("; {t}"))
                    .unwrap_or_default();
                format!("{first}{tip} (usage: headroom check NAME --config FILE [--host TARGET])")
            })?;
            named(&a)
        }
    }
}

fn named(a: &NamedCheck) -> Result<Built, String> {
    let cfg = config_file::load(Path::new(&a.config))
        .map_err(|e| format!("config: {}", e.to_string().replace('\n', "; ")))?;
    let def = cfg
        .checks
        .iter()
        .find(|c| c.name == a.name)
        .cloned()
        .ok_or_else(|| {
            format!(
                "no check named {} in {} or the shipped checks",
                a.name,
                a.config.display()
            )
        })?;
    let (instances, _) = crate::check::instances(std::slice::from_ref(&def), &cfg.targets);
    // A check whose hosts are named after their targets (`per_host: target`): --host names the
    // target (`db-1`) or one of its resources (`db-1/aws`), and the target is found by the
    // name.
    if def.per_host == PerHost::Target {
        let Some(h) = a.host.clone() else {
            return match instances.as_slice() {
                [only] => {
                    let target = target_of(&cfg.targets, &def, &only.target)?;
                    let timeout = timeout_or(a.timeout, target.timeout)?;
                    let host = target.name.to_string();
                    Ok((def, target, timeout, Some(host)))
                }
                [] => Err(format!(
                    "check {} has no target in {}",
                    a.name,
                    a.config.display()
                )),
                _ => Err(format!(
                    "check {} runs on several targets ({}): give --host",
                    a.name,
                    hosts(&instances)
                )),
            };
        };
        let inst = instances
            .iter()
            .find(|i| h == *i.target || h.starts_with(&format!("{}/", i.target)))
            .ok_or_else(|| {
                format!(
                    "check {} does not run on {h:?} (it runs on: {})",
                    a.name,
                    hosts(&instances)
                )
            })?;
        let target = target_of(&cfg.targets, &def, &inst.target)?;
        let timeout = timeout_or(a.timeout, target.timeout)?;
        return Ok((def, target, timeout, Some(h)));
    }
    // A per-resource check: --host names the resource (a load balancer, a cache node), found
    // in the series of the check's one target.
    let (resource, host) = if def.per.is_empty() {
        (None, a.host.clone())
    } else {
        let Some(r) = a.host.clone() else {
            return Err(format!(
                "check {} runs per resource: give --host RESOURCE",
                a.name
            ));
        };
        if instances.len() > 1 {
            return Err(format!(
                "check {} runs on several targets ({}); headroom check supports one",
                a.name,
                hosts(&instances)
            ));
        }
        (Some(r), None)
    };
    let inst = match (&host, instances.len()) {
        (Some(h), _) => instances
            .iter()
            .find(|i| &*i.host == h.as_str())
            .ok_or_else(|| {
                format!(
                    "check {} does not run on {h:?} (it runs on: {})",
                    a.name,
                    hosts(&instances)
                )
            })?,
        (None, 1) => &instances[0],
        (None, 0) => {
            return Err(format!(
                "check {} has no target in {}",
                a.name,
                a.config.display()
            ));
        }
        (None, _) => {
            return Err(format!(
                "check {} runs on several targets ({}): give --host",
                a.name,
                hosts(&instances)
            ));
        }
    };
    let target = target_of(&cfg.targets, &def, &inst.host)?;
    let timeout = timeout_or(a.timeout, target.timeout)?;
    Ok((def, target, timeout, resource))
}

fn target_of(targets: &[Target], def: &CheckDef, name: &str) -> Result<Target, String> {
    targets
        .iter()
        .find(|t| &*t.name == name && t.kind() == def.source)
        .cloned()
        .ok_or_else(|| "target vanished".to_owned())
}

fn timeout_or(given: Option<f64>, dflt: Duration) -> Result<Duration, String> {
    match given {
        Some(t) if t.is_finite() && t > 0.0 => Ok(Duration::from_secs_f64(t)),
        Some(t) => Err(format!("invalid timeout {t}")),
        None => Ok(dflt),
    }
}

fn hosts(i: &[crate::check::Instance]) -> String {
    i.iter()
        .map(|i| i.host.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
