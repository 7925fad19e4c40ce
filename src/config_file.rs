//! The configuration file's schema: one field per section, each section's type owned by its
//! component (a source's targets by the source, `push:` by the checks, `history:` by the
//! store), checked by [`load`] into the runtime [`Config`]. Every error names the file, the
//! line and the column. The source sections come from the list in `sources/mod.rs`. Top
//! layer: this module only assembles.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use serde::Deserialize;

use crate::capacity::catalog::{self, Class};
use crate::check;
use crate::config::dday::{Criterion, DDay, RawDDay};
use crate::config::shard::Shard;
use crate::config::{CommonTarget, ConfigError, ConfigErrors, Duration, Pos, Positions, Validator};
use crate::scheduler::{PollLimit, poll_limit};
use crate::sources::source::{Context, SourceTarget};
use crate::sources::{KINDS, SourceConfig, Target, aws, sources};
use crate::store::history::{HistorySource, RawHistory};

/// Where the exporter listens unless `listen:` says otherwise. 9469 is not in the Prometheus
/// default port allocation list's taken range at the time of writing; change it freely.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9469";
/// Poll interval when neither the target nor `defaults:` sets one.
pub const DEFAULT_INTERVAL: StdDuration = StdDuration::from_secs(15);
/// Poll timeout when neither the target nor `defaults:` sets one.
pub const DEFAULT_TIMEOUT: StdDuration = StdDuration::from_secs(5);

macro_rules! schema {
    ($( $(#[$doc:meta])* $section:ident: $Variant:ident = $($module:ident)::+ ),* $(,)?) => {
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
            /// At most this many polls in flight at once, over every target; a poll due
            /// beyond it waits for a turn (its timeout starts when it runs). Default 1000.
            pub max_concurrent_polls: Option<usize>,
            /// Where this agent probes from, e.g. `us-west-2` or `dc-eu`: the `vantage` label
            /// of every http series, so that agents in several places scraped by one
            /// Prometheus give one series each per target. Default: empty.
            pub vantage: Option<String>,
            $(
                $(#[$doc])*
                #[serde(default)]
                pub $section: Vec<crate::sources::$($module)::+::RawTarget>,
            )*
            /// What the AWS targets share: the limit on calls in flight and the CloudWatch
            /// budget.
            #[serde(default)]
            pub aws: aws::RawShared,
            /// Where database history is kept: the embedded file (default) or a
            /// Prometheus-compatible server.
            #[serde(default)]
            pub history: RawHistory,
            /// Instance classes added to the shipped catalog (catalog/rds-classes.yaml), or
            /// replacing shipped ones of the same name.
            #[serde(default)]
            pub catalog: Vec<Class>,
            /// Use the check definitions shipped with headroom (`checks/*.yaml`). Default true.
            pub shipped_checks: Option<bool>,
            /// Checks of your own; one with the name of a shipped check replaces it.
            #[serde(default)]
            pub checks: Vec<check::RawCheck>,
            /// File where check states are kept across restarts (written atomically).
            /// Default: none, and states start afresh at every start.
            pub state_file: Option<PathBuf>,
            /// Where check results are pushed besides headroom's own outputs.
            #[serde(default)]
            pub push: check::engine::RawPush,
            /// The cut-over the migration is planned around: when, the phase now, the
            /// margin a projection must keep.
            #[serde(default)]
            pub dday: RawDDay,
        }

        impl RawConfig {
            /// Every target of every source section, validated, in the order of the list.
            fn targets(&self, v: &mut Validator<'_>, cx: &Context) -> Built {
                let mut out = Built::default();
                let mut names = Names::default();
                $( add(v, cx, &mut names, stringify!($section), &self.$section, &mut out); )*
                out
            }
        }
    };
}
sources!(schema);

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
    pub aws: aws::Shared,
    /// Where database history is read from and (the embedded file) recorded to; `None` when
    /// `history.enabled` is false.
    pub history: Option<HistorySource>,
    /// The shipped catalog with the config's `catalog:` entries.
    pub catalog: Arc<Vec<Class>>,
    /// What the daemon decided on the user's behalf (a stretched interval), said at start.
    pub notices: Vec<String>,
    /// `dday:`, when set.
    pub dday: Option<DDay>,
    /// `dday.criteria`; `None` for the board's defaults.
    pub dday_criteria: Option<Vec<Criterion>>,
    /// What part of the config this agent runs, when not all of it (`run --shard`).
    pub scope: Option<String>,
    /// `max_concurrent_polls`.
    pub poll_limit: PollLimit,
    /// With [`Secrets::Deferred`], the secrets that could not be read: by target name, or
    /// `None` for one of no target (`push.icinga2`'s password).
    pub unread_secrets: Vec<(Option<Arc<str>>, ConfigError)>,
}

/// When the secrets of a configuration (`password_env`, `token_file`, ...) are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    /// At load, and one that cannot be read is an error of the file: the daemon and
    /// `config check`.
    Required,
    /// At load too, but one that cannot be read is only kept against its target
    /// ([`Config::unread_secret`]): a command that polls one target, or none, must not fail
    /// for the secret of a target it never connects to (`headroom check` run by Nagios,
    /// whose environment has only its own variables; `config plan`; `capacity report`).
    Deferred,
}

impl Config {
    /// Why `target` cannot be polled when the secrets were [`Secrets::Deferred`]: the first
    /// of its secrets that could not be read, located in the file.
    pub fn unread_secret(&self, target: &str) -> Option<&ConfigError> {
        self.unread_secrets
            .iter()
            .find(|(t, _)| t.as_deref() == Some(target))
            .map(|(_, e)| e)
    }

    /// Every secret still unread an error, as [`Secrets::Required`] would have made it: for
    /// the daemon of one shard, once it keeps only its own targets.
    pub fn require_secrets(&self) -> Result<(), ConfigErrors> {
        if self.unread_secrets.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(
                self.unread_secrets.iter().map(|(_, e)| e.clone()).collect(),
            ))
        }
    }

    /// Keeps the targets of `shard` only (`run --shard`); says so in [`Config::scope`].
    pub fn keep_shard(&mut self, shard: Shard) {
        let all = self.targets.len();
        self.targets.retain(|t| shard.owns(&t.name));
        // The other shards' secrets are theirs to read.
        self.unread_secrets
            .retain(|(t, _)| t.as_deref().is_none_or(|t| shard.owns(t)));
        self.scope = Some(format!(
            "shard {shard}: {} of the config's {all} targets (the others are polled by the agents of the other shards)",
            self.targets.len()
        ));
    }

    /// What `config check` prints and the daemon logs at start and on reload.
    pub fn summary(&self) -> String {
        let cfg = self;
        let count = |k| cfg.targets.iter().filter(|t| t.kind() == k).count();
        let (instances, inactive) = check::instances(&cfg.checks, &cfg.targets);
        let per_source: Vec<String> = KINDS
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
        if let Some(scope) = &cfg.scope {
            s.push_str(&format!("\n{scope}"));
        }
        match &cfg.history {
            Some(HistorySource::Sqlite(p)) => s.push_str(&format!(
                "\nhistory: the mysql targets' rollups are recorded in {}",
                p.display()
            )),
            Some(HistorySource::Prometheus(u)) => {
                s.push_str(&format!("\nhistory: read from {u}; nothing recorded here"));
            }
            None => s.push_str("\nhistory: off"),
        }
        if let Some(d) = &cfg.dday {
            let days = (d.at - crate::time::unix_now()) as f64 / 86_400.0;
            s.push_str(&format!(
                "\ndday: {} ({}), phase {}",
                d.format(d.at),
                if days >= 0.0 {
                    format!("in {days:.1} days")
                } else {
                    format!("{:.1} days ago", -days)
                },
                d.phase.as_str()
            ));
        }
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
}

/// Target names seen so far, with the path of their first definition.
#[derive(Default)]
struct Names(Vec<(String, String)>);

/// The targets validated so far, and the secrets of theirs that could not be read.
#[derive(Default)]
struct Built {
    targets: Vec<Target>,
    unread: Vec<(Option<Arc<str>>, ConfigError)>,
}

/// Validates the targets of one source section and appends them to `out`.
fn add<T: SourceTarget>(
    v: &mut Validator<'_>,
    cx: &Context,
    names: &mut Names,
    section: &str,
    raws: &[T],
    out: &mut Built,
) where
    T::Settings: Into<SourceConfig>,
{
    let (interval, timeout) = v.default_schedule();
    for (i, raw) in raws.iter().enumerate() {
        let path = format!("{section}[{i}]");
        let c: CommonTarget<'_> = raw.common();
        let name_path = format!("{path}.name");
        if c.name.trim().is_empty() {
            v.error(&name_path, "target name must not be empty");
        } else if c.name.contains('/') {
            v.error(
                &name_path,
                "target names must not contain '/': it separates a discovered target's name from its parent's",
            );
        } else if let Some((_, first)) = names.0.iter().find(|(n, _)| n == c.name) {
            let at = v
                .pos(&format!("{first}.name"))
                .map(|p| format!(" at line {} column {}", p.line, p.col))
                .unwrap_or_default();
            v.error(
                &name_path,
                format!("duplicate target name {:?} (first defined{at})", c.name),
            );
        } else {
            names.0.push((c.name.to_owned(), path.clone()));
        }
        let interval = v.positive(&format!("{path}.interval"), c.interval, interval);
        let timeout = v.positive(&format!("{path}.timeout"), c.timeout, timeout);
        let name = Arc::<str>::from(c.name);
        if c.region.is_some_and(|r| r.trim().is_empty()) {
            v.error(&format!("{path}.region"), "region must not be empty");
        }
        let settings = raw.validate(v, &path, cx);
        out.unread
            .extend(v.take_unread().into_iter().map(|e| (Some(name.clone()), e)));
        if let Some(settings) = settings {
            out.targets.push(Target {
                name,
                interval,
                timeout,
                region: c.region.map(Arc::from),
                source: settings.into(),
            });
        }
    }
}

/// Only the `listen:` address of a configuration file (the default when it has none), for a
/// command that asks the daemon running with it: the rest (secrets in the daemon's
/// environment, say) is not this command's to validate.
pub fn listen_of(path: &Path) -> Result<SocketAddr, String> {
    #[derive(Deserialize)]
    struct ListenOnly {
        listen: Option<String>,
    }
    let src = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let raw: ListenOnly = serde_yaml_ng::from_str(&src).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        format!(
            "{}{at}: {}",
            path.display(),
            crate::config::serde_message(&e.to_string())
        )
    })?;
    let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    listen.parse().map_err(|_| {
        format!(
            "{}: listen: invalid listen address {listen:?}: expected ip:port, e.g. 127.0.0.1:9469",
            path.display()
        )
    })
}

/// Reads and validates a configuration file, with every secret it names.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    load_with(path, Secrets::Required)
}

/// Reads and validates a configuration file, its secrets as `secrets` says.
pub fn load_with(path: &Path, secrets: Secrets) -> Result<Config, ConfigErrors> {
    let src = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            pos: None,
            message: format!("cannot read: {e}"),
        }])
    })?;
    parse_with(path, &src, secrets)
}

/// Validates configuration text, with every secret it names; `file` is only used in
/// messages.
pub fn parse(file: &Path, src: &str) -> Result<Config, ConfigErrors> {
    parse_with(file, src, Secrets::Required)
}

/// Validates configuration text, its secrets as `secrets` says.
pub fn parse_with(file: &Path, src: &str, secrets: Secrets) -> Result<Config, ConfigErrors> {
    let raw: RawConfig = serde_yaml_ng::from_str(src).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: file.to_path_buf(),
            pos: e.location().map(|l| Pos {
                line: l.line(),
                col: l.column(),
            }),
            message: crate::config::serde_message(&e.to_string()),
        }])
    })?;
    let positions = Positions::index(src);
    let mut v = Validator::new(file, &positions, (DEFAULT_INTERVAL, DEFAULT_TIMEOUT));
    if secrets == Secrets::Deferred {
        v.defer_secrets();
    }
    let mut cx = Context {
        history: None,
        history_disabled: raw.history.enabled == Some(false),
        catalog: Arc::new(catalog::with_overrides(&raw.catalog)),
        rds_of: raw
            .mysql
            .iter()
            .filter_map(|m| Some((m.name.clone(), m.rds_instance.clone()?)))
            .collect::<HashMap<_, _>>(),
        dday: None,
        vantage: raw.vantage.clone().unwrap_or_default(),
    };
    if raw.vantage.as_deref().is_some_and(|s| s.trim().is_empty()) {
        v.error(
            "vantage",
            "vantage must not be empty (leave it out for none)",
        );
    }
    cx.history = raw.history.validate(&mut v, "history");
    cx.dday = raw.dday.validate(&mut v, "dday");
    let dday_criteria = raw.dday.criteria(&mut v, "dday");
    for (i, c) in raw.catalog.iter().enumerate() {
        if let Err(e) = c.check() {
            v.error(&format!("catalog[{i}]"), e);
        }
    }
    let listen = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    // An invalid address is an error; the default stands in while the rest is checked.
    let listen = listen.parse::<SocketAddr>().unwrap_or_else(|_| {
        v.error(
            "listen",
            format!("invalid listen address {listen:?}: expected ip:port, e.g. 127.0.0.1:9469"),
        );
        DEFAULT_LISTEN
            .parse()
            .expect("DEFAULT_LISTEN is an ip:port")
    });
    let interval = v.positive("defaults.interval", raw.defaults.interval, DEFAULT_INTERVAL);
    let timeout = v.positive("defaults.timeout", raw.defaults.timeout, DEFAULT_TIMEOUT);
    v.set_default_schedule((interval, timeout));

    let Built {
        mut targets,
        unread: mut unread_secrets,
    } = raw.targets(&mut v, &cx);
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
    let poll_limit = poll_limit(&mut v, raw.max_concurrent_polls);
    let notices = match aws.monthly_budget_usd {
        Some(budget) if v.error_count() == 0 => fit_budget(&mut targets, budget),
        _ => Vec::new(),
    };
    let state_file = raw.state_file.as_ref().map(|p| v.relative(p));
    let push = raw.push.validate(&mut v);
    unread_secrets.extend(v.take_unread().into_iter().map(|e| (None, e)));
    v.finish()?;
    Ok(Config {
        listen,
        targets,
        checks,
        state_file,
        push,
        aws,
        history: cx.history,
        catalog: cx.catalog,
        notices,
        dday: cx.dday,
        dday_criteria,
        scope: None,
        poll_limit,
        unread_secrets,
    })
}

/// `aws.monthly_budget_usd` applied to every cloudwatch target at once.
/// The scheduler fits it again over the configured and discovered ones as discovery finds
/// them ([`crate::sources::fit_cloudwatch_budget`]).
fn fit_budget(targets: &mut [Target], budget: f64) -> Vec<String> {
    crate::sources::fit_cloudwatch_budget(targets, budget)
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
            "t.yaml:4:5: memcached[0]: unknown field `adress`, expected one of `name`, `address`, `interval`, `timeout`, `region`, `slabs`: did you mean `address`?"
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
    fn deferred_secrets_are_kept_against_their_target() {
        use crate::config::shard::Shard;
        // Variables no environment sets.
        let src = "memcached:\n  - {name: cache, address: 127.0.0.1:11211}\n\
                   mysql:\n  - {name: db-a, address: 127.0.0.1:3306, user: u, password_env: HR_UNIT_UNSET_A}\n\
                   \x20 - {name: db-b, address: 127.0.0.1:3306, user: u, password_env: HR_UNIT_UNSET_B}\n\
                   push:\n  icinga2: {url: 'https://127.0.0.1:5665', user: u, password_env: HR_UNIT_UNSET_C}\n";
        let a =
            "t.yaml:4:66: mysql[0].password_env: environment variable HR_UNIT_UNSET_A is not set";
        // Required: errors of the file, as before.
        let e = errs(src);
        assert!(e.starts_with(a), "{e}");
        assert_eq!(e.lines().count(), 3, "{e}");

        let c = parse_with(Path::new("t.yaml"), src, Secrets::Deferred).unwrap();
        assert_eq!(c.targets.len(), 3);
        assert_eq!(c.unread_secret("db-a").unwrap().to_string(), a);
        assert!(c.unread_secret("db-b").is_some());
        assert!(c.unread_secret("cache").is_none());
        // The push password belongs to no target, and is not forgotten.
        assert_eq!(c.unread_secrets.len(), 3);
        assert_eq!(c.require_secrets().unwrap_err().0.len(), 3);

        // One shard keeps its own targets' secrets, and what belongs to no target.
        let shard = Shard { index: 0, count: 2 };
        let mut mine = c.clone();
        mine.keep_shard(shard);
        let owned = ["db-a", "db-b"].iter().filter(|n| shard.owns(n)).count();
        assert_eq!(mine.unread_secrets.len(), owned + 1);
        for t in ["db-a", "db-b"] {
            assert_eq!(mine.unread_secret(t).is_some(), shard.owns(t), "{t}");
        }

        // A secret given both ways is an error of the file either way.
        let both =
            "mysql:\n  - {name: d, address: h:1, user: u, password_env: X, password_file: f}\n";
        assert!(parse_with(Path::new("t.yaml"), both, Secrets::Deferred).is_err());
    }

    #[test]
    fn max_concurrent_polls_defaults_and_is_checked() {
        let c = parse(Path::new("t.yaml"), "memcached: []\n").unwrap();
        assert_eq!(c.poll_limit, PollLimit(1000));
        let c = parse(Path::new("t.yaml"), "max_concurrent_polls: 50\n").unwrap();
        assert_eq!(c.poll_limit, PollLimit(50));
        assert_eq!(
            errs("listen: 127.0.0.1:1\nmax_concurrent_polls: 0\n"),
            "t.yaml:2:23: max_concurrent_polls: must be at least 1"
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
    fn the_budget_fits_again_over_discovered_targets_from_the_configured_intervals() {
        // a: 10 billed metrics every 60s, $4.32/month, within $4.32 alone.
        let metrics: String = (0..10)
            .map(|i| format!("      - {{namespace: AWS/ELB, name: M{i}, statistics: [Sum]}}\n"))
            .collect();
        let src = format!(
            "aws: {{monthly_budget_usd: 4.32}}\ncloudwatch:\n  - name: a\n    region: us-east-1\n    interval: 60s\n    metrics:\n{metrics}"
        );
        let mut c = parse(Path::new("t.yaml"), &src).unwrap();
        assert_eq!(c.targets[0].interval, StdDuration::from_secs(60));
        // Discovery adds as much again: both go to 120s.
        let mut found = c.targets[0].clone();
        found.name = "cache/cloudwatch".into();
        c.targets.push(found);
        let notices = crate::sources::fit_cloudwatch_budget(&mut c.targets, 4.32);
        assert_eq!(notices.len(), 2, "{notices:?}");
        let intervals = |t: &[Target]| t.iter().map(|t| t.interval.as_secs()).collect::<Vec<_>>();
        assert_eq!(intervals(&c.targets), [120, 120]);
        // Fitting again is idempotent: from the configured 60s, not from 120s.
        crate::sources::fit_cloudwatch_budget(&mut c.targets, 4.32);
        assert_eq!(intervals(&c.targets), [120, 120]);
        // The discovered target goes: back to 60s.
        c.targets.pop();
        assert!(crate::sources::fit_cloudwatch_budget(&mut c.targets, 4.32).is_empty());
        assert_eq!(intervals(&c.targets), [60]);
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
}
