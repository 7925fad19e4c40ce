//! `headroom check`: one poll and one evaluation in-process, printed as a plugin line, with
//! the plugin exit code. The same pollers and the same evaluation as the daemon.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::check::state::Status;
use crate::check::{CheckDef, CheckKind, Evaluation, PerHost, RawCheck, Unreachable, evaluate};
use crate::cli::{CheckMode, MemcachedMetric, MysqlMetric, NamedCheck, Thresholds};
use crate::config_file::{self, Config};
use crate::model::{ErrorKind, PollError, Poller};
use crate::sources::{AnyPoller, memcached, mysql, tls};
use crate::sources::{SourceConfig, Target};
use crate::store::TargetSnapshot;
use crate::time::unix_now;

/// Runs a check and returns the line to print and the exit code.
pub async fn run(mode: CheckMode) -> (String, u8) {
    let ev = match mode {
        CheckMode::Named(args) => named(&args).await,
        mode => match build(mode) {
            Ok((def, target, timeout, resource)) => {
                Ok(once(&def, &target, resource.as_deref(), timeout).await)
            }
            Err(msg) => Err(msg),
        },
    };
    match ev {
        Ok(ev) => (ev.line(), ev.status.code()),
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
    let snap = snapshot(def, target, timeout).await;
    judge(def, &snap, resource)
}

/// One poll of `target` (two, a second apart, when `def` judges a rate), as a snapshot.
async fn snapshot(def: &CheckDef, target: &Target, timeout: Duration) -> TargetSnapshot {
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
    TargetSnapshot {
        source: target.kind(),
        target: target.name.clone(),
        families,
        taken_at: SystemTime::now(),
        error,
    }
}

/// Evaluates `def` on a snapshot; for a per-resource check, on `resource`.
fn judge(def: &CheckDef, snap: &TargetSnapshot, resource: Option<&str>) -> Evaluation {
    let max_age = Duration::from_secs(3600);
    match resource {
        Some(host) if snap.error.is_none() => {
            let found = crate::check::resources(def, snap);
            match found.iter().find(|(h, _)| h == host) {
                Some((_, filter)) => {
                    crate::check::evaluate_with(def, host, Some(snap), filter, max_age, unix_now())
                }
                None => Evaluation {
                    status: Status::Unknown,
                    text: format!(
                        "no {host:?} among the {} resources of '{}' ({})",
                        def.name,
                        snap.target,
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
        _ => evaluate(def, &snap.target, Some(snap), max_age, unix_now()),
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
        CheckMode::Named(_) => Err("a named check is run by `named`".into()),
    }
}

/// `headroom check NAME --config FILE [--host HOST]`: the check as the daemon runs it, on the
/// host the daemon reports it for. A host that no configured target has may be one a
/// configured target discovers (an ElastiCache node, a load balancer's listener, their
/// CloudWatch metrics): then the configured targets that discover that source are polled
/// once, and the check runs on what they found.
async fn named(args: &[String]) -> Result<Evaluation, String> {
    use clap::Parser;
    let a = NamedCheck::try_parse_from(args).map_err(|e| {
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
        format!("{first}{tip} (usage: headroom check NAME --config FILE [--host HOST])")
    })?;
    // Nagios runs a check with an environment of its own: the secret of a target this check
    // does not poll (another database's password variable) must not make it fail.
    let cfg = config_file::load_with(Path::new(&a.config), config_file::Secrets::Deferred)
        .map_err(|e| format!("config: {}", e.to_string().replace('\n', "; ")))?;
    let def = cfg
        .checks
        .iter()
        .find(|c| c.name == a.name)
        .cloned()
        .ok_or_else(|| {
            let near = crate::config::nearest(&a.name, cfg.checks.iter().map(|c| &*c.name))
                .map(|n| format!(": did you mean {n}?"))
                .unwrap_or_default();
            format!(
                "no check named {} in {} or the shipped checks{near}",
                a.name,
                a.config.display()
            )
        })?;
    let missing = match on_targets(&a, &def, &cfg.targets, &cfg, false).await? {
        Outcome::Done(ev) => return Ok(ev),
        Outcome::Missing(msg) => msg,
    };
    let (found, failed) = discover(&cfg.targets, def.source, a.timeout).await;
    let why = |msg: String| {
        if failed.is_empty() {
            msg
        } else {
            format!("{msg}; discovery failed: {}", failed.join("; "))
        }
    };
    if found.is_empty() {
        return Err(why(missing));
    }
    match on_targets(&a, &def, &found, &cfg, true).await? {
        Outcome::Done(ev) => Ok(ev),
        Outcome::Missing(msg) => Err(why(msg)),
    }
}

/// What running a named check on a set of targets came to.
enum Outcome {
    Done(Evaluation),
    /// The host (or any target) is not among them: the reason.
    Missing(String),
}

/// Runs `def` on the instance of `targets` that `--host` names. `discovered`: the targets
/// were found by others, and a host may also be given by its name below its parent
/// (`my-mem-cluster/0001` for `cache-us/my-mem-cluster/0001`) when only one matches. A target
/// whose secret `cfg` could not read is not polled: the check is UNKNOWN with the reason.
async fn on_targets(
    a: &NamedCheck,
    def: &CheckDef,
    targets: &[Target],
    cfg: &Config,
    discovered: bool,
) -> Result<Outcome, String> {
    let (instances, _) = crate::check::instances(std::slice::from_ref(def), targets);
    let what = if discovered { "discovered " } else { "" };
    let no_target = || {
        Outcome::Missing(format!(
            "check {} has no {what}target in {}",
            a.name,
            a.config.display()
        ))
    };
    let not_on = |h: &str| {
        Outcome::Missing(format!(
            "check {} does not run on {h:?} (it runs on: {})",
            a.name,
            hosts(&instances)
        ))
    };
    let target = |name: &str| {
        if let Some(e) = cfg.unread_secret(name) {
            return Err(format!("config: {e}"));
        }
        targets
            .iter()
            .find(|t| &*t.name == name && t.kind() == def.source)
            .ok_or_else(|| "target vanished".to_owned())
    };
    // A check whose hosts are named after their targets (`per_host: target`): --host names the
    // target (`db-1`) or one of its resources (`db-1/aws`), and the target is found by the
    // name.
    if def.per_host == PerHost::Target {
        let (inst, host) = match (&a.host, instances.as_slice()) {
            (Some(h), _) => match instances
                .iter()
                .find(|i| *h == *i.target || h.starts_with(&format!("{}/", i.target)))
            {
                Some(i) => (i, h.clone()),
                None => return Ok(not_on(h)),
            },
            (None, [only]) => (only, only.target.to_string()),
            (None, []) => return Ok(no_target()),
            (None, _) => {
                return Err(format!(
                    "check {} runs on several targets ({}): give --host",
                    a.name,
                    hosts(&instances)
                ));
            }
        };
        let t = target(&inst.target)?;
        let timeout = timeout_or(a.timeout, t.timeout)?;
        return Ok(Outcome::Done(once(def, t, Some(&host), timeout).await));
    }
    // A per-resource check: --host names the resource (a load balancer, a cache node, a DB
    // instance), found in the series of one of the check's targets, tried in turn.
    if !def.per.is_empty() {
        let Some(r) = a.host.as_deref() else {
            return Err(format!(
                "check {} runs per resource: give --host RESOURCE",
                a.name
            ));
        };
        if instances.is_empty() {
            return Ok(no_target());
        }
        let mut seen = Vec::new();
        let mut first_failed = None;
        for inst in &instances {
            let t = target(&inst.target)?;
            let snap = snapshot(def, t, timeout_or(a.timeout, t.timeout)?).await;
            let found = crate::check::resources(def, &snap);
            if found.iter().any(|(h, _)| h == r) {
                return Ok(Outcome::Done(judge(def, &snap, Some(r))));
            }
            seen.extend(
                found
                    .into_iter()
                    .map(|(h, _)| format!("{h} ({})", snap.target)),
            );
            if snap.error.is_some() && first_failed.is_none() {
                first_failed = Some(snap);
            }
        }
        // One target that could not be read: its failure is the answer.
        if let (Some(snap), [_]) = (first_failed, instances.as_slice()) {
            return Ok(Outcome::Done(judge(def, &snap, Some(r))));
        }
        return Ok(Outcome::Missing(format!(
            "no {r:?} among the {} resources of {} ({})",
            def.name,
            hosts(&instances),
            seen.join(", ")
        )));
    }
    let inst = match (&a.host, instances.len()) {
        (Some(h), _) => {
            let below: Vec<_> = instances
                .iter()
                .filter(|i| discovered && i.host.ends_with(&format!("/{h}")))
                .collect();
            match (
                instances.iter().find(|i| &*i.host == h.as_str()),
                &below[..],
            ) {
                (Some(i), _) => i,
                (None, [i]) => *i,
                (None, []) => return Ok(not_on(h)),
                (None, _) => {
                    return Err(format!(
                        "{h:?} names several discovered targets ({}): give the whole name",
                        below
                            .iter()
                            .map(|i| i.host.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        (None, 1) => &instances[0],
        (None, 0) => return Ok(no_target()),
        (None, _) => {
            return Err(format!(
                "check {} runs on several {what}targets ({}): give --host",
                a.name,
                hosts(&instances)
            ));
        }
    };
    let t = target(&inst.host)?;
    let timeout = timeout_or(a.timeout, t.timeout)?;
    Ok(Outcome::Done(once(def, t, None, timeout).await))
}

/// Polls, once, every configured target that discovers targets of `child`'s source, and
/// returns those it found (named and placed as the daemon names them) with the failures.
async fn discover(
    configured: &[Target],
    child: crate::model::SourceKind,
    timeout: Option<f64>,
) -> (Vec<Target>, Vec<String>) {
    let finders = crate::sources::discovery::finders(child.as_str());
    let mut found = Vec::new();
    let mut failed = Vec::new();
    for parent in configured
        .iter()
        .filter(|t| finders.contains(&t.kind().as_str()))
    {
        let poller = AnyPoller::new(parent, &crate::sources::aws::Clients::default());
        let limit = timeout_or(timeout, parent.timeout).unwrap_or(parent.timeout);
        let polled = tokio::time::timeout(limit, poller.poll()).await;
        poller.close().await;
        match polled {
            Ok(Ok(p)) => found.extend(
                p.discovered
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|t| t.kind() == child)
                    .map(|t| Target {
                        name: crate::sources::discovery::child_name(&parent.name, &t.name),
                        region: t.region.clone().or_else(|| parent.region.clone()),
                        ..t
                    }),
            ),
            Ok(Err(e)) => failed.push(format!("{}: {e}", parent.name)),
            Err(_) => failed.push(format!(
                "{}: no answer within {}s",
                parent.name,
                limit.as_secs_f64()
            )),
        }
    }
    (found, failed)
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
