//! The migration source: the progress of a copy job (files and bytes: total, copied, failed,
//! skipped), read from the copier's job database (SQL), a JSON endpoint, a Prometheus text
//! endpoint, or the destination bucket's daily S3 storage metrics in CloudWatch; its copy
//! rate over a window, the ETA to the target ratio, the projected date and how it lands
//! against D-day (`dday:`). The arithmetic is in [`progress`], the parsing in [`parse`].
//! docs/migration.md describes it for users.

pub mod parse;
pub mod progress;

use std::convert::Infallible;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Row};
use serde::Deserialize;

use crate::config::dday::DDay;
use crate::config::{CommonTarget, Duration, Secret, Validator};
use crate::model::{ErrorKind, Family, Kind, PollError, Polled, Poller, Sample, SourceKind};
use crate::sources::aws::{self, Access, ApiCounters, Limited};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};
use parse::Selector;
use progress::{By, Counters, Observed, Projection, Reading, Side, Tracker};

/// Default of `target_ratio`: the plan's "99.9% of the files before D-day".
pub const DEFAULT_TARGET_RATIO: f64 = 0.999;
/// Default of `rate_window`.
pub const DEFAULT_RATE_WINDOW: StdDuration = StdDuration::from_secs(15 * 60);
/// S3 storage metrics are daily: the default window of a `cloudwatch_s3` target's rate, and
/// its interval.
pub const S3_RATE_WINDOW: StdDuration = StdDuration::from_secs(3 * 86_400);
pub const S3_INTERVAL: StdDuration = StdDuration::from_secs(3600);
/// "Amazon S3 CloudWatch daily storage metrics for buckets" are reported once a day
/// (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/metrics-dimensions.html>): the
/// period asked for.
pub const S3_PERIOD_S: i64 = 86_400;

/// Where each counter is found: a column, a JSON pointer or a metric selector per field.
/// Total and copied of files and of bytes are required; failed and skipped are optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFields {
    /// Files to copy in all.
    pub files_total: Option<String>,
    /// Files copied.
    pub files_copied: Option<String>,
    /// Files whose copy failed (not done: still to copy or to decide about).
    pub files_failed: Option<String>,
    /// Files skipped (already at the destination, or excluded): done, not to copy.
    pub files_skipped: Option<String>,
    /// Bytes to copy in all.
    pub bytes_total: Option<String>,
    /// Bytes copied.
    pub bytes_copied: Option<String>,
    /// Bytes of the files whose copy failed.
    pub bytes_failed: Option<String>,
    /// Bytes of the files skipped.
    pub bytes_skipped: Option<String>,
}

/// One measure's counters, each mapped to a `T`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SideMap<T> {
    pub total: T,
    pub copied: T,
    pub failed: Option<T>,
    pub skipped: Option<T>,
}

/// Every counter mapped to a `T` (a column name, a JSON pointer, a selector).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap<T> {
    pub files: SideMap<T>,
    pub bytes: SideMap<T>,
}

impl RawFields {
    fn entries(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("files_total", &self.files_total),
            ("files_copied", &self.files_copied),
            ("files_failed", &self.files_failed),
            ("files_skipped", &self.files_skipped),
            ("bytes_total", &self.bytes_total),
            ("bytes_copied", &self.bytes_copied),
            ("bytes_failed", &self.bytes_failed),
            ("bytes_skipped", &self.bytes_skipped),
        ]
    }

    /// Checks every field with `check`; `what` names what the fields map to, for messages.
    fn validate<T>(
        &self,
        v: &mut Validator<'_>,
        path: &str,
        what: &str,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Option<FieldMap<T>> {
        let before = v.error_count();
        let missing: Vec<&str> = self
            .entries()
            .iter()
            .filter(|(n, val)| (n.ends_with("_total") || n.ends_with("_copied")) && val.is_none())
            .map(|(n, _)| *n)
            .collect();
        if !missing.is_empty() {
            v.error(
                path,
                format!(
                    "needs the {what} of {} (files_total, files_copied, bytes_total and bytes_copied are required; *_failed and *_skipped are optional)",
                    missing.join(", ")
                ),
            );
        }
        let mut out: Vec<Option<T>> = Vec::new();
        for (n, val) in self.entries() {
            out.push(val.as_deref().and_then(|s| match check(s) {
                Ok(t) => Some(t),
                Err(e) => {
                    v.error(&format!("{path}.{n}"), e);
                    None
                }
            }));
        }
        if v.error_count() != before {
            return None;
        }
        let mut it = out.into_iter();
        let mut next = || it.next().flatten();
        let mut side = || -> Option<SideMap<T>> {
            let (total, copied, failed, skipped) = (next(), next(), next(), next());
            Some(SideMap {
                total: total?,
                copied: copied?,
                failed,
                skipped,
            })
        };
        let files = side()?;
        let bytes = side()?;
        Some(FieldMap { files, bytes })
    }
}

impl<T> FieldMap<T> {
    /// A reading, each counter got with `get` (`Ok(None)`: no value, an error for total and
    /// copied); errors name the field.
    fn read(
        &self,
        mut get: impl FnMut(&T) -> Result<Option<f64>, String>,
    ) -> Result<Reading, String> {
        let mut side = |m: &SideMap<T>, by: &str| -> Result<Side, String> {
            let mut one = |t: &T, field: &str| get(t).map_err(|e| format!("{by}_{field}: {e}"));
            let total =
                one(&m.total, "total")?.ok_or_else(|| format!("{by}_total: no value (NULL)"))?;
            let copied =
                one(&m.copied, "copied")?.ok_or_else(|| format!("{by}_copied: no value (NULL)"))?;
            let failed = match &m.failed {
                Some(t) => one(t, "failed")?,
                None => None,
            };
            let skipped = match &m.skipped {
                Some(t) => one(t, "skipped")?,
                None => None,
            };
            Ok(Side {
                total,
                copied,
                failed,
                skipped,
            })
        };
        Ok(Reading {
            files: side(&self.files, "files")?,
            bytes: side(&self.bytes, "bytes")?,
        })
    }
}

/// `sql:`: a query against the copy job's database (MySQL or MariaDB).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSql {
    /// `host:port` of the job database.
    pub address: String,
    /// User to log in as; it needs SELECT on what the query reads, nothing else.
    pub user: String,
    /// Name of the environment variable holding the password.
    pub password_env: Option<String>,
    /// File holding the password (one trailing newline is ignored); relative to the config
    /// file.
    pub password_file: Option<PathBuf>,
    /// Not accepted: passwords never stand in the config. Present only to say so clearly.
    pub password: Option<serde::de::IgnoredAny>,
    /// Database to use (the query may also name its tables in full).
    pub database: Option<String>,
    /// The query; the first row of its result is read.
    pub query: String,
    /// The column of that row holding each counter, e.g. `{files_total: total_files, ...}`.
    pub columns: RawFields,
}

/// `http:`: a JSON document over HTTP(S).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// URL of the document, e.g. `http://copier:8080/progress`.
    pub url: String,
    /// Environment variable holding a bearer token sent as `Authorization: Bearer`.
    pub token_env: Option<String>,
    /// File holding the bearer token; relative to the config file.
    pub token_file: Option<PathBuf>,
    /// Not accepted: tokens never stand in the config.
    pub token: Option<serde::de::IgnoredAny>,
    /// The JSON pointer (RFC 6901) of each counter, e.g. `{files_copied: /files/copied, ...}`.
    pub pointers: RawFields,
}

/// `prometheus:`: the copier's Prometheus text endpoint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrometheus {
    /// URL of the endpoint, e.g. `http://copier:9100/metrics`.
    pub url: String,
    /// Environment variable holding a bearer token sent as `Authorization: Bearer`.
    pub token_env: Option<String>,
    /// File holding the bearer token; relative to the config file.
    pub token_file: Option<PathBuf>,
    /// Not accepted: tokens never stand in the config.
    pub token: Option<serde::de::IgnoredAny>,
    /// The series of each counter: a metric name, optionally with `=` / `!=` label matchers,
    /// e.g. `{files_copied: 'copier_files{state="copied"}', ...}`. Every series that matches
    /// is added up (one per worker, say).
    pub metrics: RawFields,
}

/// A number, or a text with a unit (`2PB`, `1e9`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawAmount {
    Number(f64),
    Text(String),
}

/// `cloudwatch_s3:`: the destination bucket's daily S3 storage metrics in CloudWatch.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCloudwatchS3 {
    /// The destination bucket.
    pub bucket: String,
    /// The bucket's region (S3 storage metrics are in the bucket's region).
    pub region: String,
    /// Endpoint override for CloudWatch (a VPC endpoint; the tests point it at moto).
    pub endpoint_url: Option<String>,
    /// Role to assume (cross-account).
    pub role_arn: Option<String>,
    /// The `StorageType` of `BucketSizeBytes`. Default `StandardStorage`.
    pub storage_type: Option<String>,
    /// Files to copy in all (S3 only knows what has arrived), e.g. `1e9`.
    pub files_total: Option<RawAmount>,
    /// Bytes to copy in all, e.g. `2PB` or `1.8PiB`.
    pub bytes_total: Option<RawAmount>,
}

/// One entry of `migration:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// Read the counters with a SQL query.
    pub sql: Option<RawSql>,
    /// Read the counters from a JSON document.
    pub http: Option<RawHttp>,
    /// Read the counters from a Prometheus text endpoint.
    pub prometheus: Option<RawPrometheus>,
    /// Read what has arrived from the bucket's daily S3 storage metrics.
    pub cloudwatch_s3: Option<RawCloudwatchS3>,
    /// The ratio of files (and of bytes) done that counts as finished. Default 0.999.
    pub target_ratio: Option<f64>,
    /// The window the copy rate is measured over. Default 15m (3d for cloudwatch_s3, at
    /// least 1d: its points are daily).
    pub rate_window: Option<Duration>,
    /// `state` (default): the numbers are the job's state, a decrease lowers progress;
    /// `since_start`: they are the copier's counters since it started, and a decrease (a
    /// restart) keeps what was counted before.
    pub counters: Option<Counters>,
    /// Overrides `defaults.interval` (cloudwatch_s3: default 1h).
    pub interval: Option<Duration>,
    /// Overrides `defaults.timeout`.
    pub timeout: Option<Duration>,
    /// Where the target is: the `region` label of `headroom_target_info`. Default: none, or
    /// the bucket's region for cloudwatch_s3.
    pub region: Option<String>,
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        let s3 = self.cloudwatch_s3.as_ref();
        CommonTarget {
            name: &self.name,
            interval: self.interval.or(s3.map(|_| Duration(S3_INTERVAL))),
            timeout: self.timeout,
            region: self.region.as_deref().or(s3.map(|s| s.region.as_str())),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, cx: &Context) -> Option<Settings> {
        let before = v.error_count();
        let given: Vec<&str> = [
            ("sql", self.sql.is_some()),
            ("http", self.http.is_some()),
            ("prometheus", self.prometheus.is_some()),
            ("cloudwatch_s3", self.cloudwatch_s3.is_some()),
        ]
        .into_iter()
        .filter(|(_, g)| *g)
        .map(|(n, _)| n)
        .collect();
        match given.as_slice() {
            [] => {
                v.error(
                    path,
                    "no input: give one of sql, http, prometheus or cloudwatch_s3 (where the copy job's counters are read)",
                );
                return None;
            }
            [_] => {}
            [first, rest @ ..] => {
                for r in rest {
                    v.error(
                        &format!("{path}.{r}"),
                        format!("give exactly one of sql, http, prometheus or cloudwatch_s3: {first} is given too"),
                    );
                }
                return None;
            }
        }
        let target_ratio = self.target_ratio.unwrap_or(DEFAULT_TARGET_RATIO);
        if !(target_ratio > 0.0 && target_ratio <= 1.0) {
            v.error(
                &format!("{path}.target_ratio"),
                format!("{target_ratio} is not a ratio in (0, 1], e.g. 0.999"),
            );
        }
        let s3 = self.cloudwatch_s3.is_some();
        let rate_window = v.positive(
            &format!("{path}.rate_window"),
            self.rate_window,
            if s3 {
                S3_RATE_WINDOW
            } else {
                DEFAULT_RATE_WINDOW
            },
        );
        if s3 && rate_window.as_secs() < S3_PERIOD_S as u64 {
            v.error(
                &format!("{path}.rate_window"),
                "S3 storage metrics are published once a day: the rate window must be at least 1d",
            );
        }
        let counters = self.counters.unwrap_or_default();
        if s3 && counters == Counters::SinceStart {
            v.error(
                &format!("{path}.counters"),
                "the bucket's metrics are its state (objects and bytes stored): counters must be `state`",
            );
        }
        let input = if let Some(s) = &self.sql {
            s.validate(v, &format!("{path}.sql"))
        } else if let Some(h) = &self.http {
            h.validate(v, &format!("{path}.http"))
        } else if let Some(p) = &self.prometheus {
            p.validate(v, &format!("{path}.prometheus"))
        } else if let Some(c) = &self.cloudwatch_s3 {
            c.validate(v, &format!("{path}.cloudwatch_s3"))
        } else {
            None
        };
        let input = input?;
        (v.error_count() == before).then_some(Settings {
            input,
            target_ratio,
            rate_window,
            counters,
            dday: cx.dday,
        })
    }
}

/// Reads a secret given as `*_env` / `*_file`, refusing an inline one.
fn secret(
    v: &mut Validator<'_>,
    path: &str,
    what: &str,
    inline: bool,
    env: Option<&str>,
    file: Option<&std::path::Path>,
) -> Option<Secret> {
    if inline {
        v.error(
            &format!("{path}.{what}"),
            format!("inline {what}s are not accepted; use {what}_env or {what}_file"),
        );
        return None;
    }
    let at = if file.is_some() {
        format!("{path}.{what}_file")
    } else {
        format!("{path}.{what}_env")
    };
    v.secret(&at, env, file)
}

/// Checks an http(s) URL without credentials in it.
fn check_url(v: &mut Validator<'_>, path: &str, url: &str) -> bool {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {
            if u.password().is_some() || !u.username().is_empty() {
                v.error(
                    path,
                    "credentials do not belong in the URL: use token_env or token_file",
                );
                return false;
            }
            true
        }
        _ => {
            v.error(
                path,
                format!("{url:?} is not an http(s) URL, e.g. http://copier:8080/progress"),
            );
            false
        }
    }
}

impl RawSql {
    fn validate(&self, v: &mut Validator<'_>, path: &str) -> Option<Input> {
        let before = v.error_count();
        v.address(&format!("{path}.address"), &self.address);
        if self.user.is_empty() {
            v.error(&format!("{path}.user"), "must not be empty");
        }
        if self.query.trim().is_empty() {
            v.error(&format!("{path}.query"), "must not be empty");
        }
        let password = secret(
            v,
            path,
            "password",
            self.password.is_some(),
            self.password_env.as_deref(),
            self.password_file.as_deref(),
        );
        let columns = self
            .columns
            .validate(v, &format!("{path}.columns"), "column", |c| {
                if c.trim().is_empty() {
                    Err("a column name must not be empty".into())
                } else {
                    Ok(c.to_owned())
                }
            });
        let columns = columns?;
        (v.error_count() == before).then(|| {
            Input::Sql(SqlInput {
                address: self.address.clone(),
                user: self.user.clone(),
                password,
                database: self.database.clone(),
                query: self.query.clone(),
                columns,
            })
        })
    }
}

impl RawHttp {
    fn validate(&self, v: &mut Validator<'_>, path: &str) -> Option<Input> {
        let before = v.error_count();
        check_url(v, &format!("{path}.url"), &self.url);
        let token = secret(
            v,
            path,
            "token",
            self.token.is_some(),
            self.token_env.as_deref(),
            self.token_file.as_deref(),
        );
        let pointers =
            self.pointers
                .validate(v, &format!("{path}.pointers"), "JSON pointer", |p| {
                    parse::check_pointer(p).map(|()| p.to_owned())
                });
        let pointers = pointers?;
        (v.error_count() == before).then(|| {
            Input::Http(HttpInput {
                url: self.url.clone(),
                token,
                pointers,
            })
        })
    }
}

impl RawPrometheus {
    fn validate(&self, v: &mut Validator<'_>, path: &str) -> Option<Input> {
        let before = v.error_count();
        check_url(v, &format!("{path}.url"), &self.url);
        let token = secret(
            v,
            path,
            "token",
            self.token.is_some(),
            self.token_env.as_deref(),
            self.token_file.as_deref(),
        );
        let metrics = self
            .metrics
            .validate(v, &format!("{path}.metrics"), "metric", |m| {
                m.parse::<Selector>()
            });
        let metrics = metrics?;
        (v.error_count() == before).then(|| {
            Input::Prometheus(PrometheusInput {
                url: self.url.clone(),
                token,
                metrics,
            })
        })
    }
}

fn amount(
    v: &mut Validator<'_>,
    path: &str,
    a: &Option<RawAmount>,
    example: &str,
    parse: fn(&str) -> Result<f64, crate::capacity::transfer::UnitError>,
) -> Option<f64> {
    let n = match a {
        None => {
            v.error(
                path,
                format!("required: S3 only counts what has arrived, so the total comes from the config (e.g. {example})"),
            );
            return None;
        }
        Some(RawAmount::Number(n)) => *n,
        Some(RawAmount::Text(s)) => match parse(s) {
            Ok(n) => n,
            Err(e) => {
                v.error(path, e.to_string());
                return None;
            }
        },
    };
    if n.is_finite() && n > 0.0 {
        Some(n)
    } else {
        v.error(path, "must be greater than 0");
        None
    }
}

impl RawCloudwatchS3 {
    fn validate(&self, v: &mut Validator<'_>, path: &str) -> Option<Input> {
        let before = v.error_count();
        let access =
            aws::validate_access(v, path, &self.region, &self.endpoint_url, &self.role_arn);
        // Bucket names: 3 to 63 lower-case letters, digits, dots and hyphens
        // (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
        let b = &self.bucket;
        if !((3..=63).contains(&b.len())
            && b.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-'))
        {
            v.error(
                &format!("{path}.bucket"),
                format!("{b:?} is not an S3 bucket name (3 to 63 lower-case letters, digits, dots and hyphens)"),
            );
        }
        let files_total = amount(
            v,
            &format!("{path}.files_total"),
            &self.files_total,
            "files_total: 1e9",
            crate::capacity::transfer::parse_count,
        );
        let bytes_total = amount(
            v,
            &format!("{path}.bytes_total"),
            &self.bytes_total,
            "bytes_total: 2PB",
            crate::capacity::transfer::parse_size,
        );
        let storage_type = self
            .storage_type
            .clone()
            .unwrap_or_else(|| "StandardStorage".to_owned());
        if storage_type.is_empty() || !storage_type.chars().all(|c| c.is_ascii_alphanumeric()) {
            v.error(
                &format!("{path}.storage_type"),
                format!("{storage_type:?} is not an S3 storage type, e.g. StandardStorage or IntelligentTieringFAStorage"),
            );
        }
        let (access, files_total, bytes_total) = (access?, files_total?, bytes_total?);
        (v.error_count() == before).then(|| {
            Input::CloudwatchS3(S3Input {
                access,
                bucket: self.bucket.clone(),
                storage_type,
                files_total,
                bytes_total,
            })
        })
    }
}

/// A validated `sql:` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlInput {
    pub address: String,
    pub user: String,
    pub password: Option<Secret>,
    pub database: Option<String>,
    pub query: String,
    pub columns: FieldMap<String>,
}

/// A validated `http:` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpInput {
    pub url: String,
    pub token: Option<Secret>,
    pub pointers: FieldMap<String>,
}

/// A validated `prometheus:` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrometheusInput {
    pub url: String,
    pub token: Option<Secret>,
    pub metrics: FieldMap<Selector>,
}

/// A validated `cloudwatch_s3:` input.
#[derive(Debug, Clone, PartialEq)]
pub struct S3Input {
    pub access: Access,
    pub bucket: String,
    pub storage_type: String,
    pub files_total: f64,
    pub bytes_total: f64,
}

/// Where a target's counters come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Sql(SqlInput),
    Http(HttpInput),
    Prometheus(PrometheusInput),
    CloudwatchS3(S3Input),
}

impl Input {
    /// The `input` label of `headroom_migration_info`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Input::Sql(_) => "sql",
            Input::Http(_) => "http",
            Input::Prometheus(_) => "prometheus",
            Input::CloudwatchS3(_) => "cloudwatch_s3",
        }
    }
}

/// A validated migration target.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub input: Input,
    pub target_ratio: f64,
    pub rate_window: StdDuration,
    pub counters: Counters,
    /// `dday:` of the config, when set.
    pub dday: Option<DDay>,
}

/// How a poller reads its input.
enum Fetch {
    Sql {
        input: SqlInput,
        opts: Opts,
        conn: tokio::sync::Mutex<Option<Conn>>,
    },
    Http {
        url: String,
        token: Option<Secret>,
        client: reqwest::Client,
        pointers: FieldMap<String>,
    },
    Prometheus {
        url: String,
        token: Option<Secret>,
        client: reqwest::Client,
        metrics: FieldMap<Selector>,
    },
    S3 {
        input: S3Input,
        client: Limited<aws_sdk_cloudwatch::Client>,
        api: ApiCounters,
    },
}

pub struct MigrationPoller {
    // Boxed: the connection options and clients make the poller large beside the others.
    settings: Box<Settings>,
    fetch: Box<Fetch>,
    tracker: parking_lot::Mutex<Tracker>,
}

impl std::fmt::Debug for MigrationPoller {
    // The settings hold secrets (redacted by `Secret`), the connection options a password:
    // print only where it reads from.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrationPoller")
            .field("input", &self.settings.input.as_str())
            .finish_non_exhaustive()
    }
}

fn http_client() -> reqwest::Client {
    // The scheduler bounds each poll with the target's timeout; this one only bounds a
    // client used outside it.
    reqwest::Client::builder()
        .timeout(StdDuration::from_secs(300))
        .build()
        .unwrap_or_default()
}

impl MigrationPoller {
    pub fn new(s: &Settings, aws_clients: &aws::Clients) -> Self {
        let fetch = match &s.input {
            Input::Sql(i) => {
                let (host, port) = i
                    .address
                    .rsplit_once(':')
                    .map(|(h, p)| {
                        (
                            h.trim_start_matches('[').trim_end_matches(']'),
                            p.parse().unwrap_or(3306),
                        )
                    })
                    .unwrap_or((i.address.as_str(), 3306));
                let opts = OptsBuilder::default()
                    .ip_or_hostname(host)
                    .tcp_port(port)
                    .user(Some(i.user.clone()))
                    .pass(i.password.as_ref().map(|p| p.expose().to_owned()))
                    .db_name(i.database.clone())
                    .prefer_socket(false)
                    .stmt_cache_size(0);
                Fetch::Sql {
                    input: i.clone(),
                    opts: opts.into(),
                    conn: tokio::sync::Mutex::new(None),
                }
            }
            Input::Http(i) => Fetch::Http {
                url: i.url.clone(),
                token: i.token.clone(),
                client: http_client(),
                pointers: i.pointers.clone(),
            },
            Input::Prometheus(i) => Fetch::Prometheus {
                url: i.url.clone(),
                token: i.token.clone(),
                client: http_client(),
                metrics: i.metrics.clone(),
            },
            Input::CloudwatchS3(i) => {
                let api = ApiCounters::default();
                Fetch::S3 {
                    client: aws_clients.client(&i.access, &api),
                    input: i.clone(),
                    api,
                }
            }
        };
        MigrationPoller {
            tracker: parking_lot::Mutex::new(Tracker::new(s.rate_window.as_secs_f64(), s.counters)),
            settings: Box::new(s.clone()),
            fetch: Box::new(fetch),
        }
    }
}

fn now_s() -> f64 {
    crate::time::unix_now_f64()
}

/// A reqwest error with its causes (reqwest's own text is "error sending request"; the
/// cause says "connection refused").
fn http_error(url: &str, e: reqwest::Error) -> PollError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() || e.is_request() {
        ErrorKind::Connect
    } else {
        ErrorKind::Protocol
    };
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let s = c.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        cause = c.source();
    }
    PollError::new(kind, format!("{url}: {text}"))
}

/// GETs `url` and returns its body; 401/403 are `auth`, another non-2xx `protocol`.
async fn get(
    client: &reqwest::Client,
    url: &str,
    token: Option<&Secret>,
    accept: &str,
) -> Result<String, PollError> {
    let mut req = client.get(url).header(reqwest::header::ACCEPT, accept);
    if let Some(t) = token {
        req = req.bearer_auth(t.expose());
    }
    let resp = req.send().await.map_err(|e| http_error(url, e))?;
    let status = resp.status();
    if !status.is_success() {
        let kind = if matches!(status.as_u16(), 401 | 403) {
            ErrorKind::Auth
        } else {
            ErrorKind::Protocol
        };
        return Err(PollError::new(kind, format!("{url} answered {status}")));
    }
    resp.text().await.map_err(|e| http_error(url, e))
}

impl Fetch {
    /// The readings this poll gives, oldest first: one for the polled inputs (taken now),
    /// the bucket's daily points for cloudwatch_s3.
    async fn readings(&self, window: StdDuration) -> Result<Vec<(f64, Reading)>, PollError> {
        match self {
            Fetch::Sql { input, opts, conn } => {
                let reading = sql_reading(input, opts, conn).await?;
                Ok(vec![(now_s(), reading)])
            }
            Fetch::Http {
                url,
                token,
                client,
                pointers,
            } => {
                let body = get(client, url, token.as_ref(), "application/json").await?;
                let doc: serde_json::Value = serde_json::from_str(&body).map_err(|e| {
                    PollError::new(ErrorKind::Protocol, format!("{url}: not JSON: {e}"))
                })?;
                let reading = pointers
                    .read(|p| parse::json_number(&doc, p).map(Some))
                    .map_err(|e| PollError::new(ErrorKind::Protocol, format!("{url}: {e}")))?;
                Ok(vec![(now_s(), reading)])
            }
            Fetch::Prometheus {
                url,
                token,
                client,
                metrics,
            } => {
                // The text format 0.0.4 (what every exporter serves without negotiation).
                let body = get(client, url, token.as_ref(), "text/plain;version=0.0.4").await?;
                let series = parse::parse_text(&body)
                    .map_err(|e| PollError::new(ErrorKind::Protocol, format!("{url}: {e}")))?;
                let reading = metrics
                    .read(|sel| match sel.sum(&series) {
                        None => Err(format!("no series {sel}")),
                        // The text format allows NaN and ±Inf; no count is either.
                        Some(v) if !v.is_finite() => Err(format!("{sel} is {v}, not a count")),
                        Some(v) => Ok(Some(v)),
                    })
                    .map_err(|e| PollError::new(ErrorKind::Protocol, format!("{url}: {e}")))?;
                Ok(vec![(now_s(), reading)])
            }
            Fetch::S3 { input, client, api } => s3_readings(input, client, api, window).await,
        }
    }
}

async fn sql_reading(
    input: &SqlInput,
    opts: &Opts,
    conn: &tokio::sync::Mutex<Option<Conn>>,
) -> Result<Reading, PollError> {
    let err = |e| crate::sources::mysql::classify(&input.address, e);
    let mut guard = conn.lock().await;
    // Taken out while in use: a poll cancelled by its timeout drops the connection with it.
    let mut c = match guard.take() {
        Some(c) => c,
        None => Conn::new(opts.clone()).await.map_err(err)?,
    };
    let row: Option<Row> = match c.query_first(&input.query).await {
        Ok(r) => r,
        // The server refused the query (no such table, no privilege): the connection is fine.
        Err(e @ mysql_async::Error::Server(_)) => {
            *guard = Some(c);
            return Err(err(e));
        }
        Err(e) => return Err(err(e)),
    };
    *guard = Some(c);
    let row = row.ok_or_else(|| {
        PollError::new(
            ErrorKind::Protocol,
            format!("{}: the query returned no row", input.address),
        )
    })?;
    let names: Vec<String> = row
        .columns_ref()
        .iter()
        .map(|c| c.name_str().into_owned())
        .collect();
    input
        .columns
        .read(|col| {
            let i = names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(col))
                .ok_or_else(|| {
                    format!(
                        "no column {col:?} in the query's result (its columns: {})",
                        names.join(", ")
                    )
                })?;
            match row.as_ref(i) {
                Some(v) => parse::sql_number(v).map_err(|e| format!("column {col}: {e}")),
                None => Ok(None),
            }
        })
        .map_err(|e| PollError::new(ErrorKind::Protocol, format!("{}: {e}", input.address)))
}

/// The bucket's daily NumberOfObjects (AllStorageTypes) and BucketSizeBytes (the configured
/// storage type) over the rate window and two days more, as readings at the points' times.
async fn s3_readings(
    input: &S3Input,
    client: &Limited<aws_sdk_cloudwatch::Client>,
    api: &ApiCounters,
    window: StdDuration,
) -> Result<Vec<(f64, Reading)>, PollError> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
    let now = now_s() as i64;
    let end = (now / S3_PERIOD_S + 1) * S3_PERIOD_S;
    let start = (now - window.as_secs() as i64) / S3_PERIOD_S * S3_PERIOD_S - 2 * S3_PERIOD_S;
    let query = |id: &str, metric: &str, storage: &str| {
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace("AWS/S3")
                            .metric_name(metric)
                            .dimensions(
                                Dimension::builder()
                                    .name("BucketName")
                                    .value(&input.bucket)
                                    .build(),
                            )
                            .dimensions(
                                Dimension::builder()
                                    .name("StorageType")
                                    .value(storage)
                                    .build(),
                            )
                            .build(),
                    )
                    .period(S3_PERIOD_S as i32)
                    .stat("Average")
                    .build(),
            )
            .return_data(true)
            .build()
    };
    let queries = vec![
        query("files", "NumberOfObjects", "AllStorageTypes"),
        query("bytes", "BucketSizeBytes", &input.storage_type),
    ];
    let turn = client.turn().await;
    let mut files = std::collections::BTreeMap::<i64, f64>::new();
    let mut bytes = std::collections::BTreeMap::<i64, f64>::new();
    let mut token: Option<String> = None;
    loop {
        let out = turn
            .get_metric_data()
            .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(start))
            .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(end))
            .scan_by(ScanBy::TimestampAscending)
            .set_metric_data_queries(Some(queries.clone()))
            .set_next_token(token.clone())
            .send()
            .await;
        api.request("cloudwatch", "GetMetricData");
        let out = out.map_err(|e| {
            aws::call_failed(api, "cloudwatch", &input.access.region, "GetMetricData", e)
        })?;
        for r in out.metric_data_results() {
            let into = match r.id() {
                Some("files") => &mut files,
                Some("bytes") => &mut bytes,
                _ => continue,
            };
            for (t, v) in r.timestamps().iter().zip(r.values()) {
                into.insert(t.secs(), *v);
            }
        }
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let readings: Vec<(f64, Reading)> = files
        .iter()
        .filter_map(|(t, f)| {
            bytes.get(t).map(|b| {
                (
                    *t as f64,
                    Reading {
                        files: Side {
                            total: input.files_total,
                            copied: *f,
                            failed: None,
                            skipped: None,
                        },
                        bytes: Side {
                            total: input.bytes_total,
                            copied: *b,
                            failed: None,
                            skipped: None,
                        },
                    },
                )
            })
        })
        .collect();
    if readings.is_empty() {
        return Err(PollError::new(
            ErrorKind::NoData,
            format!(
                "{}: no daily NumberOfObjects and BucketSizeBytes ({}) of bucket {} since {}: S3 publishes storage metrics once a day",
                input.access.region,
                input.storage_type,
                input.bucket,
                crate::time::openssl_date(start)
            ),
        ));
    }
    Ok(readings)
}

impl Poller for MigrationPoller {
    type Discovered = Infallible;

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let readings = self.fetch.readings(self.settings.rate_window).await?;
        let s = &self.settings;
        let mut fresh;
        let mut kept = self.tracker.lock();
        // The bucket's points come whole each poll: a tracker of their own each time.
        let tracker: &mut Tracker = if matches!(*self.fetch, Fetch::S3 { .. }) {
            fresh = Tracker::new(s.rate_window.as_secs_f64(), s.counters);
            &mut fresh
        } else {
            &mut kept
        };
        let mut last = None;
        for (t, r) in &readings {
            last = Some((*t, tracker.observe(*t, r)));
        }
        let Some((t, observed)) = last else {
            return Err(PollError::new(ErrorKind::NoData, "no reading"));
        };
        let projections: Vec<(By, Projection)> = By::ALL
            .into_iter()
            .map(|by| (by, tracker.project(by, &observed, s.target_ratio, t)))
            .collect();
        let mut out = families(s, &observed, &projections, t, tracker.resets());
        if let Fetch::S3 { api, .. } = &*self.fetch {
            out.extend(api.families());
        }
        Ok(out.into())
    }

    async fn close(&self) {
        if let Fetch::Sql { conn, .. } = &*self.fetch
            && let Some(c) = conn.lock().await.take()
        {
            let _ = c.disconnect().await;
        }
    }
}

fn by_family(name: &'static str, help: &'static str, values: &[(By, Option<f64>)]) -> Family {
    let mut f = Family::new(name, help, Kind::Gauge);
    for (by, v) in values {
        if let Some(v) = v {
            f.push("by", by.as_str(), *v);
        }
    }
    f
}

/// The series of one poll.
pub fn families(
    s: &Settings,
    o: &Observed,
    projections: &[(By, Projection)],
    t: f64,
    resets: u64,
) -> Vec<Family> {
    let mut out = vec![Family::single(
        "headroom_migration_up",
        "1 if the latest read of the copy job's counters succeeded.",
        Kind::Gauge,
        1.0,
    )];
    let mut info = Family::new(
        "headroom_migration",
        "Where the copy job's counters are read from (input: sql, http, prometheus, cloudwatch_s3) and what they are (counters: state or since_start).",
        Kind::Info,
    );
    info.samples.push(Sample {
        labels: vec![
            ("input".into(), s.input.as_str().into()),
            (
                "counters".into(),
                match s.counters {
                    Counters::State => "state",
                    Counters::SinceStart => "since_start",
                }
                .into(),
            ),
        ],
        value: 1.0,
    });
    out.push(info);
    for (name, help, side) in [
        (
            "headroom_migration_files",
            "Files of the copy job by state: total (to copy in all), copied, failed, skipped (done without copying).",
            &o.reading.files,
        ),
        (
            "headroom_migration_bytes",
            "Bytes of the copy job by state: total (to copy in all), copied, failed, skipped (done without copying).",
            &o.reading.bytes,
        ),
    ] {
        let mut f = Family::new(name, help, Kind::Gauge);
        f.push("state", "total", side.total);
        f.push("state", "copied", side.copied);
        if let Some(v) = side.failed {
            f.push("state", "failed", v);
        }
        if let Some(v) = side.skipped {
            f.push("state", "skipped", v);
        }
        out.push(f);
    }
    let p = |by: By| projections.iter().find(|(b, _)| *b == by).map(|(_, p)| *p);
    let each = |f: &dyn Fn(&Projection) -> Option<f64>| -> Vec<(By, Option<f64>)> {
        By::ALL
            .into_iter()
            .map(|by| (by, p(by).and_then(|p| f(&p))))
            .collect()
    };
    out.push(by_family(
        "headroom_migration_progress_ratio",
        "Done (copied + skipped) / total, by files and by bytes (0 to 1).",
        &each(&|p| p.ratio),
    ));
    out.push(Family::single(
        "headroom_migration_target_ratio",
        "The ratio done that counts as finished (target_ratio).",
        Kind::Gauge,
        s.target_ratio,
    ));
    out.push(by_family(
        "headroom_migration_target_reached",
        "1 once the progress ratio is at or above the target ratio, else 0.",
        &each(&|p| p.ratio.map(|_| if p.reached { 1.0 } else { 0.0 })),
    ));
    if let Some(r) = o.rates {
        out.push(Family::single(
            "headroom_migration_copy_rate_files_per_second",
            "Files done (copied + skipped) per second over the rate window.",
            Kind::Gauge,
            r.files,
        ));
        out.push(Family::single(
            "headroom_migration_copy_rate_bytes_per_second",
            "Bytes done (copied + skipped) per second over the rate window.",
            Kind::Gauge,
            r.bytes,
        ));
        if o.reading.files.failed.is_some() {
            out.push(Family::single(
                "headroom_migration_failure_rate_files_per_second",
                "Files failed per second over the rate window.",
                Kind::Gauge,
                r.files_failed,
            ));
        }
        if o.reading.bytes.failed.is_some() {
            out.push(Family::single(
                "headroom_migration_failure_rate_bytes_per_second",
                "Bytes failed per second over the rate window.",
                Kind::Gauge,
                r.bytes_failed,
            ));
        }
        out.push(Family::single(
            "headroom_migration_rate_span_seconds",
            "Seconds between the first and the last reading the rates are measured over (the rate window once warm; less after a start or a reset).",
            Kind::Gauge,
            r.span,
        ));
    }
    out.push(Family::single(
        "headroom_migration_rate_window_seconds",
        "The configured window of the copy rate (rate_window).",
        Kind::Gauge,
        s.rate_window.as_secs_f64(),
    ));
    out.push(Family::single(
        "headroom_migration_counter_resets",
        "Decreases of copied, skipped or failed seen since the target's poller started: each restarts the rate window.",
        Kind::Counter,
        resets as f64,
    ));
    out.push(Family::single(
        "headroom_migration_reading_timestamp_seconds",
        "Unix time of the reading the series describe: the poll, or the newest daily point for cloudwatch_s3.",
        Kind::Gauge,
        t,
    ));
    out.push(by_family(
        "headroom_migration_eta_seconds",
        "Seconds from the reading until the target ratio at the current copy rate (0 once reached; absent at zero rate).",
        &each(&|p| p.eta),
    ));
    out.push(by_family(
        "headroom_migration_projected_timestamp_seconds",
        "Unix time the target ratio is projected to be reached at the current rate (once reached: when it was first seen reached).",
        &each(&|p| p.projected),
    ));
    if let Some(d) = &s.dday {
        out.push(Family::single(
            "headroom_migration_dday_timestamp_seconds",
            "Unix time of D-day (dday.at).",
            Kind::Gauge,
            d.at as f64,
        ));
        out.push(Family::single(
            "headroom_migration_dday_margin_seconds",
            "How long before D-day the target ratio must be projected to be on schedule (dday.margin), seconds.",
            Kind::Gauge,
            d.margin.as_secs_f64(),
        ));
        let mut di = Family::new(
            "headroom_migration_dday",
            "D-day as configured (at: RFC 3339 in its zone) and the phase of the move.",
            Kind::Info,
        );
        di.samples.push(Sample {
            labels: vec![
                ("at".into(), d.format(d.at)),
                ("phase".into(), d.phase.as_str().into()),
            ],
            value: 1.0,
        });
        out.push(di);
        out.push(by_family(
            "headroom_migration_schedule_slack_seconds",
            "D-day minus the projected time of the target ratio, seconds: negative when late (absent without a projection).",
            &each(&|p| p.projected.map(|pt| progress::slack(d.at, pt))),
        ));
    }
    out.retain(|f| !f.samples.is_empty());
    out
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("migration", "headroom_migration_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = MigrationPoller;

    fn poller(&self, at: Spawn<'_>) -> MigrationPoller {
        MigrationPoller::new(self, at.aws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Positions;
    use std::path::Path;

    fn validate(yaml: &str) -> Result<Settings, Vec<String>> {
        let raw: Vec<RawTarget> = serde_yaml_ng::from_str(yaml).map_err(|e| vec![e.to_string()])?;
        let pos = Positions::index(yaml);
        let mut v = Validator::new(
            Path::new("m.yaml"),
            &pos,
            (StdDuration::from_secs(15), StdDuration::from_secs(5)),
        );
        let s = raw[0].validate(&mut v, "[0]", &Context::default());
        match v.finish() {
            Ok(()) => Ok(s.unwrap()),
            Err(e) => Err(e.0.iter().map(|e| e.to_string()).collect()),
        }
    }

    const HTTP: &str = "- name: m\n  http:\n    url: http://127.0.0.1:1/p\n    pointers:\n      files_total: /f/t\n      files_copied: /f/c\n      bytes_total: /b/t\n      bytes_copied: /b/c\n";

    #[test]
    fn one_input_with_its_required_fields() {
        let s = validate(HTTP).unwrap();
        assert_eq!(s.target_ratio, 0.999);
        assert_eq!(s.rate_window, DEFAULT_RATE_WINDOW);
        assert_eq!(s.counters, Counters::State);
        let Input::Http(h) = &s.input else { panic!() };
        assert_eq!(h.pointers.files.copied, "/f/c");
        assert_eq!(h.pointers.files.failed, None);

        let e = validate("- name: m\n  target_ratio: 0.5\n").unwrap_err();
        assert_eq!(
            e,
            [
                "m.yaml:1:3: [0]: no input: give one of sql, http, prometheus or cloudwatch_s3 (where the copy job's counters are read)"
            ]
        );
        let two = format!("{HTTP}  prometheus:\n    url: http://x/metrics\n    metrics: {{}}\n");
        let e = validate(&two).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("m.yaml:10:5: [0].prometheus: give exactly one of"),
            "{e:?}"
        );
        let bad = HTTP.replace("/f/c", "f/c");
        let e = validate(&bad).unwrap_err();
        assert!(
            e[0].starts_with(
                "m.yaml:6:21: [0].http.pointers.files_copied: \"f/c\" is not a JSON pointer"
            ),
            "{e:?}"
        );
        let missing = HTTP.replace("      bytes_copied: /b/c\n", "");
        let e = validate(&missing).unwrap_err();
        assert!(
            e[0].starts_with(
                "m.yaml:5:7: [0].http.pointers: needs the JSON pointer of bytes_copied"
            ),
            "{e:?}"
        );
    }

    #[test]
    fn s3_needs_totals_a_day_of_window_and_state_counters() {
        let y = "- name: m\n  cloudwatch_s3:\n    bucket: dest-bucket\n    region: eu-west-1\n    files_total: 1e9\n    bytes_total: 2PB\n";
        let s = validate(y).unwrap();
        let Input::CloudwatchS3(i) = &s.input else {
            panic!()
        };
        assert_eq!((i.files_total, i.bytes_total), (1e9, 2e15));
        assert_eq!(i.storage_type, "StandardStorage");
        assert_eq!(s.rate_window, S3_RATE_WINDOW);
        let e = validate(&format!("{y}  rate_window: 1h\n  counters: since_start\n")).unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("at least 1d"), "{e:?}");
        assert!(e[1].contains("must be `state`"), "{e:?}");
        let e = validate(&y.replace("    bytes_total: 2PB\n", "")).unwrap_err();
        assert!(e[0].contains("bytes_total: required"), "{e:?}");
    }

    #[test]
    fn secrets_never_inline_and_urls_without_credentials() {
        let e = validate(&HTTP.replace(
            "url: http://127.0.0.1:1/p",
            "url: http://u:pw@127.0.0.1:1/p\n    token: abc",
        ))
        .unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e.iter().all(|m| !m.contains("pw@") && !m.contains("abc")),
            "{e:?}"
        );
        let sql = "- name: m\n  sql:\n    address: 127.0.0.1:3306\n    user: u\n    query: SELECT 1\n    columns: {files_total: a, files_copied: b, bytes_total: c, bytes_copied: d}\n";
        let s = validate(sql).unwrap();
        assert!(matches!(s.input, Input::Sql(_)));
        let e = validate(&sql.replace("columns: {files_total: a, ", "columns: {")).unwrap_err();
        assert!(e[0].contains("needs the column of files_total"), "{e:?}");
    }

    #[test]
    fn the_families_of_a_poll() {
        let s = validate(HTTP).unwrap();
        let mut t = Tracker::new(60.0, Counters::State);
        let r = |c: f64| Reading {
            files: Side {
                total: 1000.0,
                copied: c,
                failed: Some(1.0),
                skipped: Some(0.0),
            },
            bytes: Side {
                total: 1000.0,
                copied: c,
                failed: None,
                skipped: None,
            },
        };
        t.observe(0.0, &r(0.0));
        let o = t.observe(10.0, &r(100.0));
        let ps: Vec<_> = By::ALL
            .into_iter()
            .map(|b| (b, t.project(b, &o, 0.999, 10.0)))
            .collect();
        let f = families(&s, &o, &ps, 10.0, 0);
        let v = |n: &str, l: &[(&str, &str)]| crate::model::find_value(&f, n, l);
        assert_eq!(
            v("headroom_migration_files", &[("state", "failed")]),
            Some(1.0)
        );
        assert_eq!(v("headroom_migration_bytes", &[("state", "failed")]), None);
        assert_eq!(
            v("headroom_migration_progress_ratio", &[("by", "files")]),
            Some(0.1)
        );
        assert_eq!(
            v("headroom_migration_copy_rate_files_per_second", &[]),
            Some(10.0)
        );
        assert_eq!(
            v("headroom_migration_failure_rate_files_per_second", &[]),
            Some(0.0)
        );
        assert_eq!(
            v("headroom_migration_failure_rate_bytes_per_second", &[]),
            None
        );
        assert_eq!(
            v("headroom_migration_eta_seconds", &[("by", "bytes")]),
            Some(89.9)
        );
        // No dday: none of its series.
        assert_eq!(
            v(
                "headroom_migration_schedule_slack_seconds",
                &[("by", "files")]
            ),
            None
        );
        let mut s2 = s.clone();
        s2.dday = Some(DDay {
            at: 1000,
            offset_s: 3600,
            phase: crate::config::dday::Phase::Before,
            margin: StdDuration::from_secs(600),
        });
        let f = families(&s2, &o, &ps, 10.0, 0);
        let slack = crate::model::find_value(
            &f,
            "headroom_migration_schedule_slack_seconds",
            &[("by", "files")],
        )
        .unwrap();
        assert!((slack - (1000.0 - 99.9)).abs() < 1e-9, "{slack}");
        assert_eq!(
            crate::model::find_value(
                &f,
                "headroom_migration_dday",
                &[("at", "1970-01-01T01:16:40+01:00")]
            ),
            Some(1.0)
        );
    }
}
