//! The configuration file: raw serde types (`deny_unknown_fields`, documented fields, named
//! defaults) checked by [`load`] into the runtime [`Config`]. Every error names the file, the
//! line and the column. Each source's own target type lives beside the source
//! (`sources::memcached::config`, `sources::mysql::config`); this module holds what they share.

mod duration;
mod positions;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use serde::Deserialize;

pub use duration::Duration;
pub use positions::{Pos, Positions};

use crate::check;
use crate::sources::{SourceKind, memcached, mysql, tls};

/// Where the exporter listens unless `listen:` says otherwise. 9469 is not in the Prometheus
/// default port allocation list's taken range at the time of writing; change it freely.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9469";
/// Poll interval when neither the target nor `defaults:` sets one.
pub const DEFAULT_INTERVAL: StdDuration = StdDuration::from_secs(15);
/// Poll timeout when neither the target nor `defaults:` sets one.
pub const DEFAULT_TIMEOUT: StdDuration = StdDuration::from_secs(5);

/// The top level of the configuration file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address the HTTP server listens on (`/metrics`, `/healthz`, `/-/ready`).
    /// Default: [`DEFAULT_LISTEN`].
    pub listen: Option<String>,
    /// Interval and timeout for every target that does not set its own.
    #[serde(default)]
    pub defaults: RawDefaults,
    /// memcached servers, polled with `stats`.
    #[serde(default)]
    pub memcached: Vec<memcached::RawTarget>,
    /// MySQL or MariaDB servers, polled with `SHOW GLOBAL STATUS` and friends.
    #[serde(default)]
    pub mysql: Vec<mysql::RawTarget>,
    /// TLS endpoints whose certificate is read (expiry, trust, name).
    #[serde(default)]
    pub tls: Vec<tls::RawTarget>,
    /// CloudWatch metrics, one target per region.
    #[serde(default)]
    pub cloudwatch: Vec<crate::sources::aws::cloudwatch::RawTarget>,
    /// RDS instance facts and snapshots, one target per region.
    #[serde(default)]
    pub rds: Vec<crate::sources::aws::rds::RawTarget>,
    /// Classic load balancers: instance health and listeners, one target per region.
    #[serde(default)]
    pub elb: Vec<crate::sources::aws::elb::RawTarget>,
    /// Application and network load balancers (ELBv2): target health and listeners, one
    /// target per region.
    #[serde(default)]
    pub elbv2: Vec<crate::sources::aws::elbv2::RawTarget>,
    /// ElastiCache clusters: memcached nodes become memcached targets, one target per region.
    #[serde(default)]
    pub elasticache: Vec<crate::sources::aws::elasticache::RawTarget>,
    /// What the AWS targets share: the limit on calls in flight and the CloudWatch budget.
    #[serde(default)]
    pub aws: crate::sources::aws::RawShared,
    /// Capacity models of databases, recomputed from their history.
    #[serde(default)]
    pub capacity: Vec<crate::sources::capacity::RawTarget>,
    /// Where database history is kept: the embedded file (default) or a Prometheus-compatible
    /// server.
    #[serde(default)]
    pub history: crate::store::history::RawHistory,
    /// Instance classes added to the shipped catalog (catalog/rds-classes.yaml), or replacing
    /// shipped ones of the same name.
    #[serde(default)]
    pub catalog: Vec<crate::capacity::catalog::Class>,
    /// Use the check definitions shipped with headroom (`checks/*.yaml`). Default true.
    pub shipped_checks: Option<bool>,
    /// Checks of your own; one with the name of a shipped check replaces it.
    #[serde(default)]
    pub checks: Vec<check::RawCheck>,
    /// File where check states are kept across restarts (written atomically). Default: none,
    /// and states start afresh at every start.
    pub state_file: Option<PathBuf>,
    /// Where check results are pushed besides headroom's own outputs.
    #[serde(default)]
    pub push: check::engine::RawPush,
}

/// `defaults:`: what a target inherits.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefaults {
    /// How often each target is polled. Default 15s.
    pub interval: Option<Duration>,
    /// How long one poll may take before it is abandoned and counted as a timeout. Default 5s.
    /// It may exceed the interval: the tick that finds the previous poll still running is
    /// skipped and counted in `headroom_polls_skipped_total`.
    pub timeout: Option<Duration>,
}

/// The validated configuration the daemon runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub targets: Vec<Target>,
    /// Active check definitions (shipped and user's).
    pub checks: Vec<check::CheckDef>,
    pub state_file: Option<PathBuf>,
    pub push: check::engine::PushConfig,
    pub aws: crate::sources::aws::Shared,
    /// Where database history is read from and (the embedded file) recorded to; `None` when
    /// `history.enabled` is false.
    pub history: Option<crate::capacity::evaluate::HistorySource>,
    /// The shipped catalog with the config's `catalog:` entries.
    pub catalog: Arc<Vec<crate::capacity::catalog::Class>>,
    /// What the daemon decided on the user's behalf (a stretched interval), said at start.
    pub notices: Vec<String>,
}

/// One target of one source, with its schedule resolved.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: Arc<str>,
    pub interval: StdDuration,
    pub timeout: StdDuration,
    pub source: SourceConfig,
}

impl Target {
    pub fn kind(&self) -> SourceKind {
        match self.source {
            SourceConfig::Memcached(_) => SourceKind::Memcached,
            SourceConfig::Mysql(_) => SourceKind::Mysql,
            SourceConfig::Tls(_) => SourceKind::Tls,
            SourceConfig::Cloudwatch(_) => SourceKind::Cloudwatch,
            SourceConfig::Rds(_) => SourceKind::Rds,
            SourceConfig::Elb(_) => SourceKind::Elb,
            SourceConfig::Elasticache(_) => SourceKind::Elasticache,
            SourceConfig::Elbv2(_) => SourceKind::Elbv2,
            SourceConfig::Capacity(_) => SourceKind::Capacity,
        }
    }
}

/// The source-specific part of a target.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    Memcached(memcached::Settings),
    Mysql(mysql::Settings),
    Tls(tls::Settings),
    Cloudwatch(crate::sources::aws::cloudwatch::Settings),
    Rds(crate::sources::aws::rds::Settings),
    Elb(crate::sources::aws::elb::Settings),
    Elasticache(crate::sources::aws::elasticache::Settings),
    Elbv2(crate::sources::aws::elbv2::Settings),
    Capacity(crate::sources::capacity::Settings),
}

/// A password or token. It is read from the environment or a file, never written inline, and
/// its `Debug` and `Display` print nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }
    /// The secret itself, for the one place that sends it to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One configuration error, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub pos: Option<Pos>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pos {
            Some(p) => write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                p.line,
                p.col,
                self.message
            ),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

/// All errors found in one file; `config check` prints every one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects validation errors with their positions. Source modules use it to check their own
/// targets.
#[derive(Debug)]
pub struct Validator<'a> {
    file: &'a Path,
    positions: &'a Positions,
    errors: Vec<ConfigError>,
    /// `defaults:` interval and timeout, resolved.
    schedule: (StdDuration, StdDuration),
    /// `history:`, resolved (capacity targets read it).
    history: Option<crate::capacity::evaluate::HistorySource>,
    history_disabled: bool,
    /// The catalog with `catalog:` applied.
    catalog: Arc<Vec<crate::capacity::catalog::Class>>,
    /// `mysql[].rds_instance` by target name.
    rds_of: Vec<(String, String)>,
}

impl Validator<'_> {
    /// Records an error about the node at `path` (e.g. `mysql[0].password_env`).
    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            file: self.file.to_path_buf(),
            pos: self.positions.find(path),
            message: format!("{path}: {}", message.into()),
        });
    }

    /// The interval and timeout of `defaults:` (for targets a source discovers).
    pub fn default_schedule(&self) -> (StdDuration, StdDuration) {
        self.schedule
    }

    /// Where database history is, unless `history.enabled` is false.
    pub fn history(&self) -> Option<&crate::capacity::evaluate::HistorySource> {
        self.history.as_ref()
    }

    /// Whether `history.enabled` is false (rather than `history:` invalid).
    pub fn history_disabled(&self) -> bool {
        self.history_disabled
    }

    /// The instance catalog, with the config's entries.
    pub fn catalog(&self) -> Arc<Vec<crate::capacity::catalog::Class>> {
        self.catalog.clone()
    }

    /// The `rds_instance` of the mysql target named `db`.
    pub fn rds_instance_of(&self, db: &str) -> Option<String> {
        self.rds_of
            .iter()
            .find(|(n, _)| n == db)
            .map(|(_, id)| id.clone())
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    pub fn pos(&self, path: &str) -> Option<Pos> {
        self.positions.find(path)
    }

    /// Reads a secret from `NAME` in the environment or from a file. `path` names the field
    /// for error messages; the secret itself never enters one.
    pub fn secret(&mut self, path: &str, env: Option<&str>, file: Option<&Path>) -> Option<Secret> {
        match (env, file) {
            (Some(_), Some(_)) => {
                self.error(path, "give either *_env or *_file, not both");
                None
            }
            (Some(var), None) => match std::env::var(var) {
                Ok(v) => Some(Secret(v)),
                Err(std::env::VarError::NotPresent) => {
                    self.error(path, format!("environment variable {var} is not set"));
                    None
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    self.error(
                        path,
                        format!("environment variable {var} is not valid UTF-8"),
                    );
                    None
                }
            },
            (None, Some(f)) => match std::fs::read_to_string(self.relative(f)) {
                // One trailing newline is what `echo pw > file` leaves; it is not part of it.
                Ok(v) => Some(Secret(
                    v.strip_suffix('\n')
                        .map(|s| s.strip_suffix('\r').unwrap_or(s))
                        .unwrap_or(&v)
                        .to_owned(),
                )),
                Err(e) => {
                    self.error(path, format!("cannot read {}: {e}", f.display()));
                    None
                }
            },
            (None, None) => None,
        }
    }

    /// A path from the config, relative to the config file's directory (as Prometheus
    /// resolves its `*_file` settings).
    pub fn relative(&self, p: &Path) -> PathBuf {
        match self.file.parent() {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// Checks a `host:port` address.
    pub fn address(&mut self, path: &str, addr: &str) -> bool {
        let ok = addr.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        });
        if !ok {
            self.error(
                path,
                format!("invalid address {addr:?}: expected host:port, e.g. 127.0.0.1:11211"),
            );
        }
        ok
    }
}

/// A target entry of one source as written in the config. Each source's `RawTarget`
/// implements it beside the source's own code; `parse` runs the shared part (name,
/// schedule) and then the source's own validation.
pub trait SourceTarget {
    /// Name and schedule, checked the same way for every source.
    fn common(&self) -> CommonTarget<'_>;
    /// The source's own fields, checked; `None` after recording errors in `v`.
    fn validate(&self, v: &mut Validator<'_>, path: &str) -> Option<SourceConfig>;
}

/// What every target has, whatever its source.
#[derive(Debug)]
pub struct CommonTarget<'a> {
    pub name: &'a str,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// Reads and validates a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            pos: None,
            message: format!("cannot read: {e}"),
        }])
    })?;
    parse(path, &src)
}

/// Validates configuration text; `file` is only used in messages.
pub fn parse(file: &Path, src: &str) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = serde_yaml_ng::from_str(src).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.to_path_buf(),
            pos: e.location().map(|l| Pos {
                line: l.line(),
                col: l.column(),
            }),
            message: strip_location(&e.to_string()),
        }])
    })?;
    let positions = Positions::index(src);
    let mut v = Validator {
        file,
        positions: &positions,
        errors: Vec::new(),
        schedule: (DEFAULT_INTERVAL, DEFAULT_TIMEOUT),
        history: None,
        history_disabled: raw.history.enabled == Some(false),
        catalog: Arc::new(Vec::new()),
        rds_of: raw
            .mysql
            .iter()
            .filter_map(|m| Some((m.name.clone(), m.rds_instance.clone()?)))
            .collect(),
    };
    v.history = raw.history.validate(&mut v, "history");
    v.catalog = Arc::new(crate::capacity::catalog::with_overrides(&raw.catalog));
    for (i, c) in raw.catalog.iter().enumerate() {
        if let Err(e) = c.check() {
            v.error(&format!("catalog[{i}]"), e);
        }
    }
    let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen = match listen.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            v.error(
                "listen",
                format!("invalid listen address {listen:?}: expected ip:port, e.g. 127.0.0.1:9469"),
            );
            None
        }
    };
    let interval = resolve(
        &mut v,
        "defaults.interval",
        raw.defaults.interval,
        DEFAULT_INTERVAL,
    );
    let timeout = resolve(
        &mut v,
        "defaults.timeout",
        raw.defaults.timeout,
        DEFAULT_TIMEOUT,
    );
    v.schedule = (interval, timeout);

    let mut targets: Vec<Target> = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new(); // (name, path of its first definition)
    let mut common = |v: &mut Validator<'_>, path: String, c: CommonTarget<'_>| {
        let name_path = format!("{path}.name");
        if c.name.trim().is_empty() {
            v.error(&name_path, "target name must not be empty");
        } else if c.name.contains('/') {
            v.error(
                &name_path,
                "target names must not contain '/': it separates a discovered target's name from its parent's",
            );
        } else if let Some((_, first)) = seen.iter().find(|(n, _)| n == c.name) {
            let at = v
                .pos(&format!("{first}.name"))
                .map(|p| format!(" at line {} column {}", p.line, p.col))
                .unwrap_or_default();
            v.error(
                &name_path,
                format!("duplicate target name {:?} (first defined{at})", c.name),
            );
        } else {
            seen.push((c.name.to_owned(), path.clone()));
        }
        let i = resolve(v, &format!("{path}.interval"), c.interval, interval);
        let t = resolve(v, &format!("{path}.timeout"), c.timeout, timeout);
        (Arc::<str>::from(c.name), i, t)
    };
    let mut add = |v: &mut Validator<'_>, key: &str, raws: &[&dyn SourceTarget]| {
        for (i, t) in raws.iter().enumerate() {
            let path = format!("{key}[{i}]");
            let (name, interval, timeout) = common(v, path.clone(), t.common());
            if let Some(source) = t.validate(v, &path) {
                targets.push(Target {
                    name,
                    interval,
                    timeout,
                    source,
                });
            }
        }
    };
    add(&mut v, "memcached", &dyns(&raw.memcached));
    add(&mut v, "mysql", &dyns(&raw.mysql));
    add(&mut v, "tls", &dyns(&raw.tls));
    add(&mut v, "cloudwatch", &dyns(&raw.cloudwatch));
    add(&mut v, "rds", &dyns(&raw.rds));
    add(&mut v, "elb", &dyns(&raw.elb));
    add(&mut v, "elbv2", &dyns(&raw.elbv2));
    add(&mut v, "elasticache", &dyns(&raw.elasticache));
    add(&mut v, "capacity", &dyns(&raw.capacity));
    let mut checks = if raw.shipped_checks.unwrap_or(true) {
        check::shipped()
    } else {
        Vec::new()
    };
    let mut own_names: Vec<&str> = Vec::new();
    for (i, rc) in raw.checks.iter().enumerate() {
        let item = format!("checks[{i}]");
        if own_names.contains(&rc.name.as_str()) {
            v.error(
                &format!("{item}.name"),
                format!("duplicate check name {:?}", rc.name),
            );
            continue;
        }
        own_names.push(&rc.name);
        let origin = match v.pos(&item) {
            Some(p) => format!("{}:{}:{}", file.display(), p.line, p.col),
            None => file.display().to_string(),
        };
        match check::validate_check(rc, &origin) {
            Ok(def) => {
                // A check of your own replaces the shipped one of the same name.
                checks.retain(|c| c.name != rc.name);
                checks.push(def);
            }
            Err(errs) => {
                for (field, msg) in errs {
                    v.error(&format!("{item}.{field}"), msg);
                }
            }
        }
    }
    let aws = raw.aws.validate(&mut v);
    let notices = match aws.monthly_budget_usd {
        Some(budget) if v.errors.is_empty() => {
            crate::sources::aws::cloudwatch::fit_budget(&mut targets, budget)
        }
        _ => Vec::new(),
    };
    let state_file = raw.state_file.as_ref().map(|p| v.relative(p));
    let push = raw.push.validate(&mut v);
    match (v.errors.is_empty(), listen) {
        (true, Some(listen)) => Ok(Config {
            listen,
            targets,
            checks,
            state_file,
            push,
            aws,
            history: v.history.clone(),
            catalog: v.catalog.clone(),
            notices,
        }),
        _ => Err(ConfigErrors(v.errors)),
    }
}

fn dyns<T: SourceTarget>(targets: &[T]) -> Vec<&dyn SourceTarget> {
    targets.iter().map(|t| t as &dyn SourceTarget).collect()
}

fn resolve(
    v: &mut Validator<'_>,
    path: &str,
    d: Option<Duration>,
    dflt: StdDuration,
) -> StdDuration {
    match d {
        Some(Duration(d)) if d.is_zero() => {
            v.error(path, "must be greater than 0");
            dflt
        }
        Some(Duration(d)) => d,
        None => dflt,
    }
}

/// serde_yaml appends " at line L column C" to its messages; the location is printed in
/// front instead, as compilers do.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_owned(),
        _ => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(src: &str) -> String {
        parse(Path::new("t.yaml"), src).unwrap_err().to_string()
    }

    #[test]
    fn defaults_apply_and_targets_override() {
        let c = parse(
            Path::new("t.yaml"),
            "defaults: {interval: 10s}\nmemcached:\n  - {name: a, address: 127.0.0.1:11211}\n  - {name: b, address: 127.0.0.1:11212, interval: 1m, timeout: 2s}\n",
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.targets[0].interval, StdDuration::from_secs(10));
        assert_eq!(c.targets[0].timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.targets[1].interval, StdDuration::from_secs(60));
        assert_eq!(c.targets[1].timeout, StdDuration::from_secs(2));
    }

    #[test]
    fn unknown_key_is_located() {
        assert_eq!(
            errs("listen: 127.0.0.1:1\nmemcached:\n  - name: a\n    adress: x:1\n"),
            "t.yaml:4:5: memcached[0]: unknown field `adress`, expected one of `name`, `address`, `interval`, `timeout`"
        );
    }

    #[test]
    fn duplicate_names_point_at_both() {
        assert_eq!(
            errs("memcached:\n  - {name: a, address: h:1}\n  - {name: a, address: h:2}\n"),
            "t.yaml:3:12: memcached[1].name: duplicate target name \"a\" (first defined at line 2 column 12)"
        );
    }

    #[test]
    fn zero_interval_rejected() {
        assert_eq!(
            errs("defaults:\n  interval: 0s\n"),
            "t.yaml:2:13: defaults.interval: must be greater than 0"
        );
    }

    #[test]
    fn budget_stretches_every_cloudwatch_interval_by_one_factor() {
        // 2 targets x 10 metrics x 1 statistic, every 60s: 10 billed metrics x 43,200 polls a
        // month x $0.01/1,000 = $4.32 each, $8.64 together; a $2.16 budget is a quarter of it.
        let metrics: String = (0..10)
            .map(|i| format!("      - {{namespace: AWS/ELB, name: M{i}, statistics: [Sum]}}\n"))
            .collect();
        let src = format!(
            "aws: {{monthly_budget_usd: 2.16}}\ncloudwatch:\n  - name: a\n    region: us-east-1\n    interval: 60s\n    metrics:\n{metrics}  - name: b\n    region: eu-west-1\n    interval: 60s\n    metrics:\n{metrics}"
        );
        let c = parse(Path::new("t.yaml"), &src).unwrap();
        assert_eq!(c.targets[0].interval, StdDuration::from_secs(240));
        assert_eq!(c.targets[1].interval, StdDuration::from_secs(240));
        assert_eq!(c.notices.len(), 2);
        assert!(
            c.notices[0].starts_with(
                "cloudwatch target a: interval stretched from 60s to 240s ($4.32 -> $1.08/month)"
            ),
            "{}",
            c.notices[0]
        );
        // Within budget: nothing changes, nothing is said.
        let c = parse(Path::new("t.yaml"), &src.replace("2.16", "9")).unwrap();
        assert_eq!(c.targets[0].interval, StdDuration::from_secs(60));
        assert!(c.notices.is_empty());
        assert_eq!(
            errs(&src.replace("2.16", "-1")),
            "t.yaml:1:27: aws.monthly_budget_usd: must be a positive amount of USD"
        );
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret("hunter2".into())),
            "Secret(<redacted>)"
        );
    }
}
