//! Nagios-style checks: definitions (shipped in `checks/*.yaml` and in the user's config),
//! their evaluation against the snapshot store, and the state machine that turns results into
//! soft and hard states. Checks read the snapshot, never the network: evaluating one costs a
//! map lookup.

pub mod engine;
pub mod output;
pub mod range;
pub mod retention;
pub mod state;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use crate::config::{Duration, Pos, Positions};
use crate::model::SourceKind;
use crate::store::TargetSnapshot;
use crate::time::openssl_date;
use output::Perf;
use range::Range;
use state::Status;

/// Default attempts before a problem is HARD: the seed's screen shows `1/5`.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// How a check turns data into a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// One series' value against `warning` and `critical` ranges.
    #[default]
    Metric,
    /// The `tls` source's certificate: expiry in days against the ranges, and CRITICAL for an
    /// expired, not yet valid, misnamed or untrusted certificate.
    Certificate,
}

/// What a check does when its target's latest poll failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unreachable {
    /// As check_tcp or check_mysql report a refused connection.
    #[default]
    Critical,
    Unknown,
}

/// One check as written in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// The service name shown in Nagios and on the status page, e.g. `MEMCACHE_HITRATE`.
    pub name: String,
    /// Source whose targets this check runs on: `memcached`, `mysql`, `tls` (and, once they
    /// exist, `cloudwatch`, `elb`, `elasticache`, `rds`).
    pub source: String,
    /// Target names to run on. Default: every target of the source.
    pub targets: Option<Vec<String>>,
    /// `metric` (default) or `certificate`.
    #[serde(default)]
    pub kind: CheckKind,
    /// Series to read (`metric` checks), e.g. `headroom_memcached_hit_ratio`.
    pub metric: Option<String>,
    /// Labels the series must have, e.g. `{window: last_poll}`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Run once per distinct value of these labels among the target's series of `metric`
    /// rather than once per target: `per: [dimension_LoadBalancerName]` makes one check per
    /// load balancer, named after it (values of several labels are joined with `-`).
    /// Resources that appear get a check; ones that vanish lose theirs.
    #[serde(default)]
    pub per: Vec<String>,
    /// Multiplies the value before it is compared and shown (100 turns a ratio into percent).
    pub scale: Option<f64>,
    /// Range whose violation is WARNING (plugin guideline syntax: `10`, `10:`, `~:10`, `@10:20`).
    pub warning: Option<Range>,
    /// Range whose violation is CRITICAL.
    pub critical: Option<Range>,
    /// Results in a row before a problem becomes HARD. Default 5.
    pub max_check_attempts: Option<u32>,
    /// Time between evaluations in an OK or HARD state. Default: the target's poll interval.
    pub check_interval: Option<Duration>,
    /// Time between evaluations in a SOFT problem state. Default: the target's poll interval.
    pub retry_interval: Option<Duration>,
    /// Data older than this is UNKNOWN ("stale"). Default: three poll intervals plus the timeout.
    pub max_age: Option<Duration>,
    /// State when the target could not be polled: `critical` (default) or `unknown`.
    #[serde(default)]
    pub unreachable: Unreachable,
    /// State when the target was polled but the series is absent (default UNKNOWN). A
    /// replica-lag check on a server that is no replica wants `OK`.
    pub if_absent: Option<Status>,
    /// Status text when the series is absent; `{target}` and `{name}` are replaced.
    pub absent_output: Option<String>,
    /// Perfdata label. Default: the check name in lower case.
    pub perf_label: Option<String>,
    /// Perfdata unit of measure: none, `s`, `ms`, `us`, `%`, `B`, `KB`, `MB`, `TB`, `c`.
    #[serde(default)]
    pub unit: String,
    /// Perfdata minimum and maximum.
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Status text. `{value}`, `{unit}`, `{target}` and `{name}` are replaced. Default:
    /// `<name> = <value><unit>`.
    pub output: Option<String>,
    /// Flap detection thresholds in percent state change (Nagios defaults 20 and 30).
    pub flap_low: Option<f64>,
    pub flap_high: Option<f64>,
}

/// A validated check definition.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckDef {
    pub name: String,
    pub source: SourceKind,
    pub targets: Option<Vec<String>>,
    pub kind: CheckKind,
    pub metric: String,
    pub labels: Vec<(String, String)>,
    pub per: Vec<String>,
    pub scale: f64,
    pub warning: Option<Range>,
    pub critical: Option<Range>,
    pub max_attempts: u32,
    pub check_interval: Option<StdDuration>,
    pub retry_interval: Option<StdDuration>,
    pub max_age: Option<StdDuration>,
    pub unreachable: Unreachable,
    pub if_absent: Status,
    pub absent_output: Option<String>,
    pub perf_label: String,
    pub unit: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub output: Option<String>,
    pub flap: state::FlapThresholds,
    /// Where it was defined, for messages.
    pub origin: String,
}

/// A check that names a source this build or this config does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InactiveCheck {
    pub name: String,
    pub source: String,
    pub reason: String,
}

const UNITS: &[&str] = &["", "s", "ms", "us", "%", "B", "KB", "MB", "TB", "c"];

/// Checks a raw definition; errors are `(path, message)` for the caller to locate.
pub fn validate_check(raw: &RawCheck, origin: &str) -> Result<CheckDef, Vec<(String, String)>> {
    let mut errors: Vec<(String, String)> = Vec::new();
    let source = crate::sources::KINDS
        .iter()
        .find(|k| k.as_str() == raw.source)
        .copied();
    if source.is_none() {
        let all: Vec<&str> = crate::sources::KINDS.iter().map(|k| k.as_str()).collect();
        errors.push((
            "source".into(),
            format!("unknown source {:?}: one of {}", raw.source, all.join(", ")),
        ));
    }
    if raw.name.trim().is_empty() || raw.name.contains([';', '\n']) {
        errors.push((
            "name".into(),
            "must be non-empty and contain no ';' or newline".into(),
        ));
    }
    if raw.kind == CheckKind::Metric && raw.metric.is_none() {
        errors.push(("metric".into(), "a metric check needs `metric:`".into()));
    }
    if !raw.per.is_empty() && raw.kind != CheckKind::Metric {
        errors.push((
            "per".into(),
            "only metric checks can run per label value".into(),
        ));
    }
    if raw.kind == CheckKind::Certificate && raw.source != "tls" {
        errors.push((
            "kind".into(),
            "certificate checks run on the tls source".into(),
        ));
    }
    if !UNITS.contains(&raw.unit.as_str()) {
        errors.push((
            "unit".into(),
            format!(
                "{:?} is not a perfdata unit ({})",
                raw.unit,
                UNITS.join(" ")
            ),
        ));
    }
    if raw.max_check_attempts == Some(0) {
        errors.push(("max_check_attempts".into(), "must be at least 1".into()));
    }
    for (field, d) in [
        ("check_interval", raw.check_interval),
        ("retry_interval", raw.retry_interval),
        ("max_age", raw.max_age),
    ] {
        if d.is_some_and(|d| d.0.is_zero()) {
            errors.push((field.into(), "must be greater than 0".into()));
        }
    }
    let flap = state::FlapThresholds {
        low: raw.flap_low.unwrap_or(state::FlapThresholds::default().low),
        high: raw
            .flap_high
            .unwrap_or(state::FlapThresholds::default().high),
    };
    if !(0.0..=100.0).contains(&flap.low)
        || !(0.0..=100.0).contains(&flap.high)
        || flap.low > flap.high
    {
        errors.push((
            "flap_low".into(),
            "flap thresholds are percentages with flap_low <= flap_high".into(),
        ));
    }
    let Some(source) = source.filter(|_| errors.is_empty()) else {
        return Err(errors);
    };
    let (warning, critical) = match raw.kind {
        // `simple lower` thresholds on days, as check_ssl_cert and check_http -C use them.
        CheckKind::Certificate => (
            raw.warning.clone().or_else(|| "30:".parse().ok()),
            raw.critical.clone().or_else(|| "15:".parse().ok()),
        ),
        CheckKind::Metric => (raw.warning.clone(), raw.critical.clone()),
    };
    Ok(CheckDef {
        name: raw.name.clone(),
        source,
        targets: raw.targets.clone(),
        kind: raw.kind,
        metric: raw
            .metric
            .clone()
            .unwrap_or_else(|| "headroom_tls_certificate_expiry_seconds".into()),
        labels: raw
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        per: raw.per.clone(),
        scale: raw.scale.unwrap_or(1.0),
        warning,
        critical,
        max_attempts: raw.max_check_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS),
        check_interval: raw.check_interval.map(|d| d.0),
        retry_interval: raw.retry_interval.map(|d| d.0),
        max_age: raw.max_age.map(|d| d.0),
        unreachable: raw.unreachable,
        if_absent: raw.if_absent.unwrap_or(Status::Unknown),
        absent_output: raw.absent_output.clone(),
        perf_label: raw.perf_label.clone().unwrap_or_else(|| match raw.kind {
            CheckKind::Certificate => "days_remaining".into(),
            CheckKind::Metric => raw.name.to_ascii_lowercase(),
        }),
        unit: raw.unit.clone(),
        min: raw.min,
        max: raw.max,
        output: raw.output.clone(),
        flap,
        origin: origin.to_owned(),
    })
}

/// The shipped check files, compiled into the binary so an installed headroom has them.
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "checks/memcached.yaml",
        include_str!("../../checks/memcached.yaml"),
    ),
    ("checks/mysql.yaml", include_str!("../../checks/mysql.yaml")),
    ("checks/tls.yaml", include_str!("../../checks/tls.yaml")),
    ("checks/aws.yaml", include_str!("../../checks/aws.yaml")),
    (
        "checks/capacity.yaml",
        include_str!("../../checks/capacity.yaml"),
    ),
];

/// The shipped checks, parsed. A test loads every file, so an error here is a build bug.
pub fn shipped() -> Vec<CheckDef> {
    let mut defs = Vec::new();
    for (path, src) in SHIPPED {
        match parse_list(Path::new(path), src, "") {
            Ok(d) => defs.extend(d),
            Err(errors) => {
                tracing::error!("shipped checks {path} are broken: {}", errors.join("; "));
            }
        }
    }
    defs
}

/// Parses a check file: a YAML list of checks.
pub fn parse_list(path: &Path, src: &str, prefix: &str) -> Result<Vec<CheckDef>, Vec<String>> {
    let raws: Vec<RawCheck> =
        serde_yaml_ng::from_str(src).map_err(|e| vec![locate_serde(path, &e)])?;
    validate_list(path, src, prefix, &raws)
}

/// Validates already-deserialized raw checks, locating errors in `src`.
pub fn validate_list(
    path: &Path,
    src: &str,
    prefix: &str,
    raws: &[RawCheck],
) -> Result<Vec<CheckDef>, Vec<String>> {
    let positions = Positions::index(src);
    let mut defs = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in raws.iter().enumerate() {
        let item = if prefix.is_empty() {
            format!("[{i}]")
        } else {
            format!("{prefix}[{i}]")
        };
        let origin = match positions.find(&item) {
            Some(p) => format!("{}:{}:{}", path.display(), p.line, p.col),
            None => path.display().to_string(),
        };
        match validate_check(raw, &origin) {
            Ok(d) => defs.push(d),
            Err(errs) => {
                for (field, msg) in errs {
                    let at = format!("{item}.{field}");
                    errors.push(located(path, positions.find(&at), &format!("{at}: {msg}")));
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(defs)
    } else {
        Err(errors)
    }
}

fn located(path: &Path, pos: Option<Pos>, msg: &str) -> String {
    match pos {
        Some(p) => format!("{}:{}:{}: {msg}", path.display(), p.line, p.col),
        None => format!("{}: {msg}", path.display()),
    }
}

fn locate_serde(path: &Path, e: &serde_yaml_ng::Error) -> String {
    let msg = e.to_string();
    let msg = match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    };
    // serde_yaml names the root sequence `.`: `.[0].warning` reads better as `[0].warning`.
    let msg = msg.strip_prefix('.').map(str::to_owned).unwrap_or(msg);
    located(
        path,
        e.location().map(|l| Pos {
            line: l.line(),
            col: l.column(),
        }),
        &msg,
    )
}

/// The outcome of evaluating a check once.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub status: Status,
    /// Status text without the `STATUS: ` prefix.
    pub text: String,
    pub perf: Vec<Perf>,
    /// The value compared, when there was one (days remaining for certificates).
    pub value: Option<f64>,
}

impl Evaluation {
    fn unknown(text: String) -> Self {
        Evaluation {
            status: Status::Unknown,
            text,
            perf: Vec::new(),
            value: None,
        }
    }

    /// The plugin output line.
    pub fn line(&self) -> String {
        output::plugin_line(self.status, &self.text, &self.perf)
    }
}

/// Evaluates `def` on `target` against its latest snapshot. `max_age` is the age past which
/// data is stale; `now` is Unix seconds.
pub fn evaluate(
    def: &CheckDef,
    target: &str,
    snap: Option<&TargetSnapshot>,
    max_age: StdDuration,
    now: i64,
) -> Evaluation {
    evaluate_with(def, target, snap, &[], max_age, now)
}

/// [`evaluate`] with extra label matchers: the label values a per-resource check was made
/// for.
pub fn evaluate_with(
    def: &CheckDef,
    target: &str,
    snap: Option<&TargetSnapshot>,
    filter: &[(String, String)],
    max_age: StdDuration,
    now: i64,
) -> Evaluation {
    let Some(snap) = snap else {
        return Evaluation::unknown(format!(
            "no data yet: target '{target}' has not been polled"
        ));
    };
    if let Some(err) = &snap.error {
        // A poll that timed out, or found nothing to compute from yet, says nothing about the
        // target's state (UNKNOWN, as the plugin guidelines have it); one that was refused or
        // failed does.
        let status = match (err.kind, def.unreachable) {
            (crate::model::ErrorKind::Timeout | crate::model::ErrorKind::NoData, _)
            | (_, Unreachable::Unknown) => Status::Unknown,
            (_, Unreachable::Critical) => Status::Critical,
        };
        return Evaluation {
            status,
            text: format!("{target} could not be polled: {err}"),
            perf: Vec::new(),
            value: None,
        };
    }
    let taken = snap
        .taken_at
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let age = (now - taken).max(0);
    if age as u64 > max_age.as_secs() {
        return Evaluation::unknown(format!(
            "stale: the latest data from '{target}' is {} old (limit {})",
            state::duration_text(age),
            state::duration_text(max_age.as_secs() as i64)
        ));
    }
    match def.kind {
        CheckKind::Metric => evaluate_metric(def, target, snap, filter),
        CheckKind::Certificate => evaluate_certificate(def, snap, now),
    }
}

fn thresholds(def: &CheckDef, v: f64) -> Status {
    if def.critical.as_ref().is_some_and(|r| r.alerts(v)) {
        Status::Critical
    } else if def.warning.as_ref().is_some_and(|r| r.alerts(v)) {
        Status::Warning
    } else {
        Status::Ok
    }
}

fn perf(def: &CheckDef, v: f64) -> Perf {
    Perf {
        label: def.perf_label.clone(),
        value: v,
        uom: def.unit.clone(),
        warn: def.warning.clone(),
        crit: def.critical.clone(),
        min: def.min,
        max: def.max,
    }
}

fn evaluate_metric(
    def: &CheckDef,
    target: &str,
    snap: &TargetSnapshot,
    filter: &[(String, String)],
) -> Evaluation {
    let labels: Vec<(&str, &str)> = def
        .labels
        .iter()
        .chain(filter)
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let Some(raw) = snap.value(&def.metric, &labels) else {
        let sel = if labels.is_empty() {
            String::new()
        } else {
            format!(
                "{{{}}}",
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(",")
            )
        };
        let text = match &def.absent_output {
            Some(t) => t.replace("{target}", target).replace("{name}", &def.name),
            None => format!("no value for {}{sel} from '{target}'", def.metric),
        };
        return Evaluation {
            status: def.if_absent,
            text,
            perf: Vec::new(),
            value: None,
        };
    };
    let v = raw * def.scale;
    let shown = output::number((v * 1e6).round() / 1e6);
    let text = match &def.output {
        Some(t) => t
            .replace("{value}", &shown)
            .replace("{unit}", &def.unit)
            .replace("{target}", target)
            .replace("{name}", &def.name),
        None => format!("{} = {shown}{}", def.name, def.unit),
    };
    Evaluation {
        status: thresholds(def, v),
        text,
        perf: vec![perf(def, v)],
        value: Some(v),
    }
}

/// The seed's ELB_CERTIFICATE line, and CRITICAL with the reason for a certificate that is
/// expired, not yet valid, issued for another name or not trusted.
fn evaluate_certificate(def: &CheckDef, snap: &TargetSnapshot, now: i64) -> Evaluation {
    let info = |label: &str| -> String {
        snap.families
            .iter()
            .filter(|f| f.name == "headroom_tls_certificate")
            .flat_map(|f| &f.samples)
            .flat_map(|s| &s.labels)
            .find(|(k, _)| k == label)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (Some(not_after), Some(not_before)) = (
        snap.value("headroom_tls_certificate_not_after_timestamp_seconds", &[]),
        snap.value("headroom_tls_certificate_not_before_timestamp_seconds", &[]),
    ) else {
        return Evaluation::unknown("no certificate data".into());
    };
    let (not_after, not_before) = (not_after as i64, not_before as i64);
    let name = info("server_name");
    let alg = info("signature_algorithm");
    let left = not_after - now;
    // Whole days, rounded down as check_ssl_cert.pl and check_http -C do.
    let days = left.div_euclid(86_400);
    let mut problems: Vec<String> = Vec::new();
    let text = if left < 0 {
        problems.push("expired".into());
        format!(
            "Certificate EXPIRED {} days ago for '{name}'. Certificate Expired: '{}'. Hash algorithm: {alg}",
            (-left) / 86_400,
            openssl_date(not_after)
        )
    } else {
        format!(
            "{days} days remaining for '{name}'. Certificate Expires: '{}'. Hash algorithm: {alg}",
            openssl_date(not_after)
        )
    };
    if now < not_before {
        problems.push(format!("not valid before '{}'", openssl_date(not_before)));
    }
    if snap.value("headroom_tls_certificate_hostname_match", &[]) != Some(1.0) {
        let sans = info("sans");
        let cn = info("subject_cn");
        problems.push(format!(
            "not valid for '{name}' (CN '{cn}'{})",
            if sans.is_empty() {
                String::new()
            } else {
                format!(", names {sans}")
            }
        ));
    }
    if snap.value("headroom_tls_certificate_trusted", &[]) != Some(1.0) {
        let why = info("trust_error");
        problems.push(format!(
            "chain not trusted: {}",
            if why.is_empty() {
                "unknown reason".into()
            } else {
                why
            }
        ));
    }
    let value = days as f64;
    let mut status = thresholds(def, value);
    let mut text = text;
    if !problems.is_empty() {
        status = Status::Critical;
        let extra: Vec<&String> = problems
            .iter()
            .filter(|p| p.as_str() != "expired")
            .collect();
        if !extra.is_empty() {
            text.push_str(". Certificate ");
            text.push_str(
                &extra
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            );
        }
    }
    let mut p = perf(def, value);
    p.uom = String::new();
    Evaluation {
        status,
        text,
        perf: vec![p],
        value: Some(value),
    }
}

/// A check bound to one target: what the engine schedules.
#[derive(Debug, Clone)]
pub struct Instance {
    pub def: Arc<CheckDef>,
    /// The host the check reports as: the target's name, or for a per-resource check the
    /// resource's label values.
    pub host: Arc<str>,
    /// The target whose snapshot the check reads.
    pub target: Arc<str>,
    /// Label values of the resource, for a per-resource check.
    pub filter: Vec<(String, String)>,
    /// A per-resource check's template: not evaluated itself, it makes one instance per
    /// resource found in the target's snapshot.
    pub template: bool,
    pub interval: StdDuration,
    pub retry: StdDuration,
    pub max_age: StdDuration,
}

/// Binds every active check to the targets it runs on.
pub fn instances(
    defs: &[CheckDef],
    targets: &[crate::sources::Target],
) -> (Vec<Instance>, Vec<InactiveCheck>) {
    let mut out = Vec::new();
    let mut inactive = Vec::new();
    for d in defs {
        let d = Arc::new(d.clone());
        let mine: Vec<&crate::sources::Target> = targets
            .iter()
            .filter(|t| t.kind() == d.source)
            .filter(|t| {
                d.targets
                    .as_ref()
                    .is_none_or(|names| names.iter().any(|n| n.as_str() == &*t.name))
            })
            .collect();
        if mine.is_empty() {
            inactive.push(InactiveCheck {
                name: d.name.clone(),
                source: d.source.as_str().into(),
                reason: match &d.targets {
                    Some(names) => {
                        format!("none of its targets ({}) is configured", names.join(", "))
                    }
                    None => format!("no {} target is configured", d.source),
                },
            });
            continue;
        }
        for t in mine {
            out.push(Instance {
                def: d.clone(),
                host: t.name.clone(),
                target: t.name.clone(),
                filter: Vec::new(),
                template: !d.per.is_empty(),
                interval: d.check_interval.unwrap_or(t.interval),
                retry: d.retry_interval.unwrap_or(t.interval),
                max_age: d.max_age.unwrap_or(t.interval * 3 + t.timeout),
            });
        }
    }
    (out, inactive)
}

/// The resources a per-resource check runs on in a snapshot: the distinct values of its
/// `per` labels among the series of its metric that match its labels, each as (host name,
/// label matchers).
pub fn resources(def: &CheckDef, snap: &TargetSnapshot) -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for s in snap
        .families
        .iter()
        .filter(|f| f.name == def.metric)
        .flat_map(|f| &f.samples)
    {
        let matches = def
            .labels
            .iter()
            .all(|(k, v)| s.labels.iter().any(|(a, b)| a == k && b == v));
        if !matches {
            continue;
        }
        let values: Option<Vec<(String, String)>> = def
            .per
            .iter()
            .map(|p| {
                s.labels
                    .iter()
                    .find(|(k, _)| k == p)
                    .map(|(k, v)| (k.to_string(), v.clone()))
            })
            .collect();
        let Some(values) = values.filter(|v| v.iter().all(|(_, x)| !x.is_empty())) else {
            continue;
        };
        let host = values
            .iter()
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join("-");
        if !out.iter().any(|(h, _)| *h == host) {
            out.push((host, values));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ErrorKind, PollError};
    use crate::model::{Family, Kind};
    use std::time::SystemTime;

    #[test]
    fn every_shipped_file_parses() {
        let mut names = Vec::new();
        for (path, src) in SHIPPED {
            let defs =
                parse_list(Path::new(path), src, "").unwrap_or_else(|e| panic!("{path}: {e:?}"));
            names.extend(defs.iter().map(|d| d.name.clone()));
        }
        for seed in [
            "CPU_UTILIZATION",
            "MEMCACHE_HITRATE",
            "MEMCACHE_RESPONSE",
            "ELB_CERTIFICATE",
            "ELB_HEALTHY_STATUS",
            "HEALTHY_HOST_COUNT",
            "LATENCY",
            "UNHEALTHY_HOST_COUNT",
            "MYSQL_CONNECTIONS",
            "MYSQL_REPLICA_LAG",
            "MYSQL_TPS",
        ] {
            assert!(names.iter().any(|n| n == seed), "{seed} not shipped");
        }
    }

    #[test]
    fn invalid_definitions_are_located() {
        let src = "- name: X\n  source: memcached\n  metric: m\n  warning: \"2:1\"\n";
        let e = parse_list(Path::new("c.yaml"), src, "").unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("c.yaml:4:12: [0].warning: invalid range \"2:1\""),
            "{e:?}"
        );
        let src = "- name: X\n  source: redis\n  metric: m\n";
        let e = parse_list(Path::new("c.yaml"), src, "").unwrap_err();
        assert!(
            e[0].starts_with("c.yaml:2:11: [0].source: unknown source \"redis\""),
            "{e:?}"
        );
    }

    fn snap(families: Vec<Family>, error: Option<PollError>) -> TargetSnapshot {
        TargetSnapshot {
            source: crate::sources::memcached::KIND,
            target: Arc::from("m1"),
            families,
            taken_at: SystemTime::now(),
            error,
        }
    }

    fn def(yaml: &str) -> CheckDef {
        let mut d = parse_list(Path::new("t.yaml"), yaml, "").unwrap();
        d.remove(0)
    }

    #[test]
    fn metric_check_states_and_output() {
        let d = def(
            "- {name: MEMCACHE_RESPONSE, source: memcached, metric: rtt, unit: s, warning: \"0.1\", critical: \"0.5\", output: \"took {value}s\"}\n",
        );
        let now = crate::time::unix_now();
        let age = StdDuration::from_secs(60);
        let ok = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![Family::single("rtt", "", Kind::Gauge, 0.02)],
                None,
            )),
            age,
            now,
        );
        assert_eq!(
            ok.line(),
            "OK: took 0.02s | 'memcache_response'=0.02s;0.1;0.5"
        );
        let w = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![Family::single("rtt", "", Kind::Gauge, 0.2)],
                None,
            )),
            age,
            now,
        );
        assert_eq!(w.status, Status::Warning);
        let c = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![Family::single("rtt", "", Kind::Gauge, 0.7)],
                None,
            )),
            age,
            now,
        );
        assert_eq!(c.status, Status::Critical);
        let none = evaluate(&d, "m1", None, age, now);
        assert_eq!(
            none.line(),
            "UNKNOWN: no data yet: target 'm1' has not been polled"
        );
        let down = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![],
                Some(PollError::new(ErrorKind::Connect, "refused")),
            )),
            age,
            now,
        );
        assert_eq!(
            down.line(),
            "CRITICAL: m1 could not be polled: connect: refused"
        );
        let slow = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![],
                Some(PollError::new(ErrorKind::Timeout, "no answer")),
            )),
            age,
            now,
        );
        assert_eq!(slow.status, Status::Unknown);
        let stale = evaluate(
            &d,
            "m1",
            Some(&snap(
                vec![Family::single("rtt", "", Kind::Gauge, 0.02)],
                None,
            )),
            age,
            now + 3600,
        );
        assert!(
            stale
                .line()
                .starts_with("UNKNOWN: stale: the latest data from 'm1' is 0d 1h 0m 0s old"),
            "{}",
            stale.line()
        );
    }
}
