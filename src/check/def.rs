//! Check definitions: the YAML form ([`RawCheck`]), its validation into a [`CheckDef`], and
//! the check files shipped with headroom.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use super::range::Range;
use super::state::{self, Status};
use super::template;
use crate::config::{Duration, Pos, Positions};
use crate::model::SourceKind;

/// Default attempts before a problem is HARD: 5, as `1/5` on an example Nagios 4 status screen.
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
    /// A mysql replication connection's IO and SQL threads: the number running (0 to 2)
    /// against the ranges, the output naming a stopped thread and its last error.
    ReplicaThreads,
    /// A mysql replication connection's lag in seconds against the ranges: the pt-heartbeat
    /// lag when the target has a heartbeat for the connection, else Seconds_Behind_Master.
    ReplicaLag,
    /// A mysql target's `read_only` against what the phase of `dday:` expects of its `role`:
    /// CRITICAL when they differ. Runs only on targets with a role and a phase.
    ReadOnly,
    /// The `migration` source's projection against D-day: OK when the target ratio is
    /// reached or projected before D-day minus `dday.margin`, WARNING inside the margin,
    /// CRITICAL after D-day or without progress, UNKNOWN without `dday:`. Its thresholds come
    /// from `dday:`, not from ranges.
    Migration,
}

impl CheckKind {
    /// The source a kind other than `metric` judges.
    fn source(self) -> Option<&'static str> {
        match self {
            CheckKind::Metric => None,
            CheckKind::Certificate => Some("tls"),
            CheckKind::Migration => Some("migration"),
            CheckKind::ReplicaThreads | CheckKind::ReplicaLag | CheckKind::ReadOnly => {
                Some("mysql")
            }
        }
    }

    /// The series a kind other than `metric` reads first: for a per-resource check, the one
    /// whose label values make its resources.
    fn metric(self) -> &'static str {
        match self {
            CheckKind::Metric | CheckKind::Certificate => "headroom_tls_certificate_expiry_seconds",
            CheckKind::Migration => "headroom_migration_schedule_slack_seconds",
            CheckKind::ReplicaThreads | CheckKind::ReplicaLag => {
                "headroom_mysql_replica_io_running"
            }
            CheckKind::ReadOnly => "headroom_mysql_read_only_expected",
        }
    }
}

/// The host a per-resource check reports as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PerHost {
    /// The resource's label values joined with `-` (load balancers, cache nodes: names that
    /// mean something on their own).
    #[default]
    Values,
    /// `<target>/<values>`, and the target itself for empty values (MariaDB's default
    /// replication connection is named ""): for resources named only within their target,
    /// such as replication channels. A target with no resource still gets one check, named
    /// after it, which finds its series absent (`if_absent`).
    Target,
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
    /// `metric` (default), `certificate` or `migration`.
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
    /// The host of a per-resource check: `values` (default: the label values joined with
    /// `-`) or `target` (`<target>/<values>`, the target itself for empty values, and one
    /// check named after a target that has no resource).
    pub per_host: Option<PerHost>,
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
    /// Status text. `{value}`, `{unit}`, `{target}`, `{name}`, `{label:KEY}` (a label of the
    /// series judged) and `{value:METRIC}` (another series of the target) are replaced.
    /// Default: `<name> = <value><unit>`.
    pub output: Option<String>,
    /// OK whatever the value while another series of the target is within a range: DNS_TTL
    /// judges the time left to lower a TTL only while the TTL is still above the plan.
    pub ok_if: Option<OkIf>,
    /// Flap detection thresholds in percent state change (Nagios defaults 20 and 30).
    pub flap_low: Option<f64>,
    pub flap_high: Option<f64>,
}

/// `ok_if`: the check is OK, whatever its value, while `metric` (a series of the same target,
/// with the check's labels and resource) does not violate `range`, read as a threshold reads
/// it (`1:` holds for 1 and above). Absent, the condition does not hold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OkIf {
    /// The series, e.g. `headroom_dns_ttl_lowered`.
    pub metric: String,
    /// Where it must lie for the check to be OK.
    pub range: Range,
    /// Status text while it holds (placeholders as in `output`). Default: `output`'s.
    pub output: Option<String>,
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
    pub per_host: PerHost,
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
    pub ok_if: Option<OkIf>,
    pub flap: state::FlapThresholds,
    /// Where it was defined, for messages.
    pub origin: String,
}

impl CheckDef {
    /// Its thresholds as `warning 30:, critical 15:` (plugin range syntax); empty without.
    /// For the kinds judged without ranges, what they are judged against.
    pub fn thresholds_text(&self) -> String {
        match self.kind {
            CheckKind::Migration => {
                return "projected by D-day minus dday.margin (WARNING after it, CRITICAL after D-day)".into();
            }
            CheckKind::ReadOnly => return "read_only as dday.phase expects of the role".into(),
            _ => {}
        }
        let parts: Vec<String> = [("warning", &self.warning), ("critical", &self.critical)]
            .into_iter()
            .filter_map(|(level, r)| r.as_ref().map(|r| format!("{level} {r}")))
            .collect();
        parts.join(", ")
    }
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
    if !raw.per.is_empty() && matches!(raw.kind, CheckKind::Certificate | CheckKind::Migration) {
        errors.push((
            "per".into(),
            format!("{} checks cannot run per label value", kind_name(raw.kind)),
        ));
    }
    if raw.ok_if.is_some() && raw.kind != CheckKind::Metric {
        errors.push((
            "ok_if".into(),
            "only metric checks have a condition to be OK".into(),
        ));
    }
    for (field, t) in [
        ("output", &raw.output),
        ("absent_output", &raw.absent_output),
        (
            "ok_if.output",
            &raw.ok_if.as_ref().and_then(|o| o.output.clone()),
        ),
    ] {
        if let Some(Err(e)) = t.as_deref().map(template::check) {
            errors.push((field.into(), e));
        }
    }
    if raw.per_host.is_some() && raw.per.is_empty() {
        errors.push((
            "per_host".into(),
            "per_host names the hosts of a per-resource check: give `per:` too".into(),
        ));
    }
    if let Some(src) = raw.kind.source()
        && raw.source != src
    {
        errors.push((
            "kind".into(),
            format!("{} checks run on the {src} source", kind_name(raw.kind)),
        ));
    }
    if raw.kind == CheckKind::Migration {
        for (field, given) in [
            ("warning", raw.warning.is_some()),
            ("critical", raw.critical.is_some()),
        ] {
            if given {
                errors.push((
                    field.into(),
                    "a migration check's thresholds are D-day (CRITICAL after it) and dday.margin (WARNING inside it): set them in dday:".into(),
                ));
            }
        }
        if let Some((k, v)) = raw.labels.iter().find(|(k, v)| {
            *k != "by" || crate::sources::migration::progress::By::parse(v).is_none()
        }) {
            errors.push((
                "labels".into(),
                format!("{k}: {v:?}: a migration check takes only `by: files` or `by: bytes` (default: both)"),
            ));
        }
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
        _ => (raw.warning.clone(), raw.critical.clone()),
    };
    Ok(CheckDef {
        name: raw.name.clone(),
        source,
        targets: raw.targets.clone(),
        kind: raw.kind,
        metric: raw
            .metric
            .clone()
            .unwrap_or_else(|| raw.kind.metric().into()),
        labels: raw
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        per: raw.per.clone(),
        per_host: raw.per_host.unwrap_or_default(),
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
            CheckKind::Migration => "slack".into(),
            _ => raw.name.to_ascii_lowercase(),
        }),
        unit: raw.unit.clone(),
        min: raw.min,
        max: raw.max,
        output: raw.output.clone(),
        ok_if: raw.ok_if.clone(),
        flap,
        origin: origin.to_owned(),
    })
}

/// A kind as written in YAML.
fn kind_name(k: CheckKind) -> &'static str {
    match k {
        CheckKind::Metric => "metric",
        CheckKind::Certificate => "certificate",
        CheckKind::ReplicaThreads => "replica_threads",
        CheckKind::ReplicaLag => "replica_lag",
        CheckKind::ReadOnly => "read_only",
        CheckKind::Migration => "migration",
    }
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
    (
        "checks/migration.yaml",
        include_str!("../../checks/migration.yaml"),
    ),
    ("checks/dns.yaml", include_str!("../../checks/dns.yaml")),
    ("checks/http.yaml", include_str!("../../checks/http.yaml")),
    ("checks/disks.yaml", include_str!("../../checks/disks.yaml")),
    (
        "checks/posture.yaml",
        include_str!("../../checks/posture.yaml"),
    ),
    (
        "checks/backups.yaml",
        include_str!("../../checks/backups.yaml"),
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
    let msg = crate::config::serde_message(&e.to_string());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_file_parses() {
        let mut names = Vec::new();
        for (path, src) in SHIPPED {
            let defs =
                parse_list(Path::new(path), src, "").unwrap_or_else(|e| panic!("{path}: {e:?}"));
            names.extend(defs.iter().map(|d| d.name.clone()));
        }
        for name in [
            "CPU_UTILIZATION",
            "DNS_TTL",
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
            "MIGRATION_PROGRESS",
            "HTTP_STATUS",
            "WEBDAV_GET_LATENCY",
            "WEBDAV_PUT_LATENCY",
            "WEBDAV_ROUNDTRIP",
        ] {
            assert!(names.iter().any(|n| n == name), "{name} not shipped");
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
}
