//! The backups source: how old the newest backup of each resource is, one target per region.
//!
//! - EBS: DescribeVolumes (all, by id or by tag) and DescribeSnapshots (owner `self`): the
//!   newest snapshot in state `completed` of each volume (a pending one restores nothing).
//! - RDS: DescribeDBInstances (all or by id) and DescribeDBSnapshots: the newest `available`
//!   automated and manual snapshot of each instance. The instance's LatestRestorableTime is
//!   the rds source's `headroom_rds_latest_restorable_timestamp_seconds`, not repeated here.
//! - Route 53 zone exports: the newest object under an S3 prefix (ListObjectsV2), or the
//!   newest file of a local directory (or one file), by its modification time.
//!
//! Every resource gets `headroom_backup_missing`, and its age, newest timestamp and max age
//! with `kind` and `resource` labels. A resource without any backup is its own state: its
//! age is NaN (no value, which BACKUP_AGE reports as "no backup"), never 0.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::Deserialize;

use crate::config::{CommonTarget, Duration, Validator};
use crate::model::{Family, Kind, Sample};
use crate::model::{PollError, Polled, Poller, SourceKind};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};

/// Default of `max_age`: daily backups.
pub const DEFAULT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(86_400);
/// Default poll interval (not `defaults.interval`): backups are made hours apart, and each
/// poll lists every snapshot of the account.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// Default poll timeout: the listings of a large account take several pages.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// One entry of `backups:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// AWS region, e.g. `us-west-2`.
    pub region: String,
    /// Endpoint override for EC2, RDS and S3 (a VPC endpoint; the tests point it at moto).
    /// With an override, S3 is addressed path-style (`endpoint/bucket/key`).
    pub endpoint_url: Option<String>,
    /// Role to assume for this target (cross-account), e.g.
    /// `arn:aws:iam::123456789012:role/headroom-readonly`.
    pub role_arn: Option<String>,
    /// The newest backup of each resource may be at most this old. Default 24h.
    pub max_age: Option<Duration>,
    /// EBS volumes whose snapshots are judged. Absent: none; `{}`: every volume of the region.
    pub ebs: Option<RawEbs>,
    /// RDS instances whose snapshots are judged. Absent: none; `{}`: every instance.
    pub rds: Option<RawRds>,
    /// Route 53 zone exports: where each zone's export is written.
    #[serde(default)]
    pub route53_exports: Vec<RawZoneExport>,
    /// How often the target is polled. Default 5m (not `defaults.interval`).
    pub interval: Option<Duration>,
    /// Poll timeout. Default 60s (not `defaults.timeout`).
    pub timeout: Option<Duration>,
}

/// `ebs:` of a `backups:` target.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEbs {
    /// Volume ids (`vol-...`) to judge. Default: every volume (with `tags`: every tagged one).
    pub volumes: Option<Vec<String>>,
    /// Only volumes carrying all of these tags, e.g. `{Backup: daily}`.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Max age of these volumes' snapshots. Default: the target's `max_age`.
    pub max_age: Option<Duration>,
}

/// `rds:` of a `backups:` target.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRds {
    /// DB instance identifiers to judge. Default: every instance of the region.
    pub instances: Option<Vec<String>>,
    /// Whether manual snapshots are judged too (kind `rds_manual`). Default true; set false
    /// where only automated backups are taken.
    pub manual: Option<bool>,
    /// Max age of these instances' snapshots. Default: the target's `max_age`.
    pub max_age: Option<Duration>,
}

/// One entry of `route53_exports:`: a zone and where its exports go (`s3` or `path`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawZoneExport {
    /// The zone's name, e.g. `example.com`; becomes the `resource` label.
    pub zone: String,
    /// Exports written to S3: the newest object under the prefix counts.
    pub s3: Option<RawS3Location>,
    /// Exports written to a local file, or a directory whose newest file counts (not
    /// recursive); relative to the config file's directory.
    pub path: Option<PathBuf>,
    /// Max age of this zone's export. Default: the target's `max_age`.
    pub max_age: Option<Duration>,
}

/// `s3:` of a zone export.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawS3Location {
    /// Bucket name (in the target's region).
    pub bucket: String,
    /// Key prefix, e.g. `route53/example.com/`. Default: the whole bucket.
    #[serde(default)]
    pub prefix: String,
}

/// Which volumes: ids, tags, or all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ebs {
    pub volumes: Option<Vec<String>>,
    pub tags: BTreeMap<String, String>,
    pub max_age_s: u64,
}

/// Which instances, and whether manual snapshots count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rds {
    pub instances: Option<Vec<String>>,
    pub manual: bool,
    pub max_age_s: u64,
}

/// Where a zone's exports are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportAt {
    S3 { bucket: String, prefix: String },
    Path(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneExport {
    pub zone: String,
    pub at: ExportAt,
    pub max_age_s: u64,
}

/// A validated backups target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub access: super::Access,
    pub ebs: Option<Ebs>,
    pub rds: Option<Rds>,
    pub exports: Vec<ZoneExport>,
}

fn positive(v: &mut Validator<'_>, path: &str, d: Option<Duration>, dflt: u64) -> u64 {
    match d {
        None => dflt,
        Some(d) if d.0.as_secs() >= 1 => d.0.as_secs(),
        Some(d) => {
            v.error(path, format!("{d} is shorter than a second"));
            dflt
        }
    }
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval.or(Some(Duration(DEFAULT_INTERVAL))),
            timeout: self.timeout.or(Some(Duration(DEFAULT_TIMEOUT))),
            region: Some(&self.region),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, _cx: &Context) -> Option<Settings> {
        let before = v.error_count();
        let access =
            super::validate_access(v, path, &self.region, &self.endpoint_url, &self.role_arn);
        let max_age = positive(
            v,
            &format!("{path}.max_age"),
            self.max_age,
            DEFAULT_MAX_AGE.as_secs(),
        );
        let ebs = self.ebs.as_ref().map(|e| {
            if e.volumes.as_ref().is_some_and(Vec::is_empty) {
                v.error(
                    &format!("{path}.ebs.volumes"),
                    "is empty: list volume ids, or leave it out for every volume",
                );
            }
            Ebs {
                volumes: e.volumes.clone(),
                tags: e.tags.clone(),
                max_age_s: positive(v, &format!("{path}.ebs.max_age"), e.max_age, max_age),
            }
        });
        let rds = self.rds.as_ref().map(|r| {
            if r.instances.as_ref().is_some_and(Vec::is_empty) {
                v.error(
                    &format!("{path}.rds.instances"),
                    "is empty: list instance ids, or leave it out for every instance",
                );
            }
            Rds {
                instances: r.instances.clone(),
                manual: r.manual.unwrap_or(true),
                max_age_s: positive(v, &format!("{path}.rds.max_age"), r.max_age, max_age),
            }
        });
        let mut exports = Vec::new();
        for (i, z) in self.route53_exports.iter().enumerate() {
            let p = format!("{path}.route53_exports[{i}]");
            if z.zone.is_empty() {
                v.error(&format!("{p}.zone"), "is empty");
            }
            let at = match (&z.s3, &z.path) {
                (Some(s3), None) => {
                    if s3.bucket.is_empty() {
                        v.error(&format!("{p}.s3.bucket"), "is empty");
                    }
                    ExportAt::S3 {
                        bucket: s3.bucket.clone(),
                        prefix: s3.prefix.clone(),
                    }
                }
                (None, Some(file)) => ExportAt::Path(v.relative(file)),
                _ => {
                    v.error(&p, "needs exactly one of `s3` and `path`");
                    continue;
                }
            };
            if exports.iter().any(|e: &ZoneExport| e.zone == z.zone) {
                v.error(
                    &format!("{p}.zone"),
                    format!("zone {:?} is listed twice", z.zone),
                );
            }
            exports.push(ZoneExport {
                zone: z.zone.clone(),
                at,
                max_age_s: positive(v, &format!("{p}.max_age"), z.max_age, max_age),
            });
        }
        if ebs.is_none() && rds.is_none() && exports.is_empty() {
            v.error(
                path,
                "watches nothing: set `ebs`, `rds` or `route53_exports` (`ebs: {}` is every volume)",
            );
        }
        if v.error_count() != before {
            return None;
        }
        Some(Settings {
            access: access?,
            ebs,
            rds,
            exports,
        })
    }
}

/// What a backup is of: the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BackupKind {
    Ebs,
    RdsAutomated,
    RdsManual,
    Route53Export,
}

impl BackupKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupKind::Ebs => "ebs",
            BackupKind::RdsAutomated => "rds_automated",
            BackupKind::RdsManual => "rds_manual",
            BackupKind::Route53Export => "route53_export",
        }
    }
}

/// One resource and its newest backup (Unix time), if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Backup {
    pub kind: BackupKind,
    pub resource: String,
    pub newest: Option<f64>,
    pub max_age_s: u64,
}

/// Keeps the newest time per key.
fn keep_newest(map: &mut BTreeMap<String, f64>, key: &str, t: f64) {
    let e = map.entry(key.to_owned()).or_insert(t);
    if t > *e {
        *e = t;
    }
}

/// The newest completed snapshot of each volume, from DescribeSnapshots' items as
/// (volume id, state, start time). Pending and error snapshots restore nothing, so they do
/// not count.
pub fn newest_completed<'a>(
    snapshots: impl IntoIterator<Item = (&'a str, &'a str, Option<f64>)>,
) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (volume, state, start) in snapshots {
        if let (true, Some(t)) = (state == "completed", start) {
            keep_newest(&mut out, volume, t);
        }
    }
    out
}

/// The families of one poll (pure: the tests feed it backups directly).
pub fn families(backups: &[Backup], now: f64) -> Vec<Family> {
    let mut age = Family::new(
        "headroom_backup_age_seconds",
        "Age of the newest backup of the resource (NaN when there is none).",
        Kind::Gauge,
    );
    let mut newest = Family::new(
        "headroom_backup_newest_timestamp_seconds",
        "Unix time of the newest backup of the resource (absent when there is none).",
        Kind::Gauge,
    );
    let mut missing = Family::new(
        "headroom_backup_missing",
        "1 when the resource has no backup at all.",
        Kind::Gauge,
    );
    let mut max_age = Family::new(
        "headroom_backup_max_age_seconds",
        "The configured max age of the resource's newest backup.",
        Kind::Gauge,
    );
    let mut ratio = Family::new(
        "headroom_backup_age_ratio",
        "Age of the newest backup over its max age: above 1 is overdue (NaN when there is none).",
        Kind::Gauge,
    );
    for b in backups {
        let labels = vec![
            ("kind".into(), b.kind.as_str().to_owned()),
            ("resource".into(), b.resource.clone()),
        ];
        let s = |value: f64| Sample {
            labels: labels.clone(),
            value,
        };
        let a = b.newest.map(|t| (now - t).max(0.0));
        age.samples.push(s(a.unwrap_or(f64::NAN)));
        if let Some(t) = b.newest {
            newest.samples.push(s(t));
        }
        missing
            .samples
            .push(s(if b.newest.is_none() { 1.0 } else { 0.0 }));
        max_age.samples.push(s(b.max_age_s as f64));
        ratio
            .samples
            .push(s(a.map_or(f64::NAN, |a| a / b.max_age_s as f64)));
    }
    let mut out = vec![Family::single(
        "headroom_backups_up",
        "1 if every listing of the poll succeeded.",
        Kind::Gauge,
        1.0,
    )];
    out.extend(
        [age, newest, missing, max_age, ratio]
            .into_iter()
            .filter(|f| !f.samples.is_empty()),
    );
    out
}

/// The newest modification time of `path`: the file's own, or the newest regular file's in
/// the directory. `None` when there is nothing (a missing path is a missing backup).
pub fn newest_file(path: &Path) -> Option<f64> {
    let secs = |m: std::fs::Metadata| {
        m.modified()
            .ok()?
            .duration_since(UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs_f64())
    };
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_file() {
        return secs(meta);
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .filter_map(secs)
        .reduce(f64::max)
}

pub struct BackupsPoller {
    settings: Settings,
    ec2: super::Limited<aws_sdk_ec2::Client>,
    rds: super::Limited<aws_sdk_rds::Client>,
    s3: super::Limited<aws_sdk_s3::Client>,
    api: super::ApiCounters,
}

impl std::fmt::Debug for BackupsPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupsPoller")
            .field("region", &self.settings.access.region)
            .finish_non_exhaustive()
    }
}

fn secs(t: Option<&aws_smithy_types::DateTime>) -> Option<f64> {
    t.map(|t| t.as_secs_f64())
}

impl BackupsPoller {
    pub fn new(s: &Settings, clients: &super::Clients) -> Self {
        let api = super::ApiCounters::default();
        BackupsPoller {
            settings: s.clone(),
            ec2: clients.client(&s.access, &api),
            rds: clients.client(&s.access, &api),
            s3: clients.client(&s.access, &api),
            api,
        }
    }

    fn fail<E, R>(
        &self,
        service: &'static str,
        op: &str,
        e: aws_sdk_rds::error::SdkError<E, R>,
    ) -> PollError
    where
        E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        super::call_failed(&self.api, service, &self.settings.access.region, op, e)
    }

    async fn ebs(&self, ebs: &Ebs, out: &mut Vec<Backup>) -> Result<(), PollError> {
        use aws_sdk_ec2::types::Filter;
        let client = self.ec2.turn().await;
        let mut volumes = Vec::new();
        let mut token: Option<String> = None;
        loop {
            self.api.request("ec2", "DescribeVolumes");
            let filters: Vec<Filter> = ebs
                .tags
                .iter()
                .map(|(k, v)| Filter::builder().name(format!("tag:{k}")).values(v).build())
                .collect();
            let res = client
                .describe_volumes()
                .set_volume_ids(ebs.volumes.clone())
                .set_filters((!filters.is_empty()).then_some(filters))
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| self.fail("ec2", "DescribeVolumes", e))?;
            volumes.extend(
                res.volumes()
                    .iter()
                    .filter_map(|v| v.volume_id().map(str::to_owned)),
            );
            token = res.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let mut newest = BTreeMap::new();
        let mut token: Option<String> = None;
        while !volumes.is_empty() {
            self.api.request("ec2", "DescribeSnapshots");
            // Listed volumes narrow the listing; volumes found by tag or all of them do not
            // (a filter takes at most 200 values).
            let res = client
                .describe_snapshots()
                .owner_ids("self")
                .set_filters(ebs.volumes.as_ref().map(|ids| {
                    vec![
                        Filter::builder()
                            .name("volume-id")
                            .set_values(Some(ids.clone()))
                            .build(),
                    ]
                }))
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| self.fail("ec2", "DescribeSnapshots", e))?;
            for (k, t) in newest_completed(res.snapshots().iter().map(|s| {
                (
                    s.volume_id().unwrap_or_default(),
                    s.state().map(|s| s.as_str()).unwrap_or_default(),
                    secs(s.start_time()),
                )
            })) {
                keep_newest(&mut newest, &k, t);
            }
            token = res.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        volumes.sort();
        volumes.dedup();
        out.extend(volumes.into_iter().map(|v| Backup {
            kind: BackupKind::Ebs,
            newest: newest.get(&v).copied(),
            resource: v,
            max_age_s: ebs.max_age_s,
        }));
        Ok(())
    }

    async fn rds(&self, rds: &Rds, out: &mut Vec<Backup>) -> Result<(), PollError> {
        let client = self.rds.turn().await;
        let mut instances = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.api.request("rds", "DescribeDBInstances");
            let res = client
                .describe_db_instances()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("rds", "DescribeDBInstances", e))?;
            instances.extend(
                res.db_instances()
                    .iter()
                    .filter_map(|d| d.db_instance_identifier())
                    .filter(|id| {
                        rds.instances
                            .as_ref()
                            .is_none_or(|w| w.iter().any(|x| x == id))
                    })
                    .map(str::to_owned),
            );
            marker = res.marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        // Without a SnapshotType, DescribeDBSnapshots lists automated and manual snapshots
        // (not shared or public ones): one paginated listing for both kinds.
        let (mut automated, mut manual) = (BTreeMap::new(), BTreeMap::new());
        let mut marker: Option<String> = None;
        while !instances.is_empty() {
            self.api.request("rds", "DescribeDBSnapshots");
            let res = client
                .describe_db_snapshots()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("rds", "DescribeDBSnapshots", e))?;
            for s in res.db_snapshots() {
                let (Some(id), Some(t), Some("available")) = (
                    s.db_instance_identifier(),
                    secs(s.snapshot_create_time()),
                    s.status(),
                ) else {
                    continue;
                };
                match s.snapshot_type() {
                    Some("automated") => keep_newest(&mut automated, id, t),
                    Some("manual") => keep_newest(&mut manual, id, t),
                    _ => {}
                }
            }
            marker = res.marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        instances.sort();
        instances.dedup();
        for id in instances {
            out.push(Backup {
                kind: BackupKind::RdsAutomated,
                resource: id.clone(),
                newest: automated.get(&id).copied(),
                max_age_s: rds.max_age_s,
            });
            if rds.manual {
                out.push(Backup {
                    kind: BackupKind::RdsManual,
                    newest: manual.get(&id).copied(),
                    resource: id,
                    max_age_s: rds.max_age_s,
                });
            }
        }
        Ok(())
    }

    async fn s3_newest(&self, bucket: &str, prefix: &str) -> Result<Option<f64>, PollError> {
        let client = self.s3.turn().await;
        let mut newest: Option<f64> = None;
        let mut token: Option<String> = None;
        loop {
            self.api.request("s3", "ListObjectsV2");
            let res = client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token.clone())
                .send()
                .await
                .map_err(|e| self.fail("s3", "ListObjectsV2", e))?;
            for o in res.contents() {
                if let Some(t) = secs(o.last_modified()) {
                    newest = Some(newest.map_or(t, |n| n.max(t)));
                }
            }
            token = res.next_continuation_token().map(str::to_owned);
            if token.is_none() || res.is_truncated() != Some(true) {
                break;
            }
        }
        Ok(newest)
    }
}

impl Poller for BackupsPoller {
    type Discovered = Infallible;

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let mut backups = Vec::new();
        if let Some(ebs) = &self.settings.ebs {
            self.ebs(ebs, &mut backups).await?;
        }
        if let Some(rds) = &self.settings.rds {
            self.rds(rds, &mut backups).await?;
        }
        for z in &self.settings.exports {
            let newest = match &z.at {
                ExportAt::S3 { bucket, prefix } => self.s3_newest(bucket, prefix).await?,
                ExportAt::Path(p) => {
                    let p = p.clone();
                    tokio::task::spawn_blocking(move || newest_file(&p))
                        .await
                        .ok()
                        .flatten()
                }
            };
            backups.push(Backup {
                kind: BackupKind::Route53Export,
                resource: z.zone.clone(),
                newest,
                max_age_s: z.max_age_s,
            });
        }
        let now = crate::time::unix_now_f64();
        let mut out = families(&backups, now);
        out.extend(self.api.families());
        Ok(out.into())
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("backups", "headroom_backups_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = BackupsPoller;

    fn poller(&self, at: Spawn<'_>) -> BackupsPoller {
        BackupsPoller::new(self, at.aws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::find_value;

    #[test]
    fn ages_missing_backups_and_ratios() {
        let b = |kind, resource: &str, newest, max_age_s| Backup {
            kind,
            resource: resource.into(),
            newest,
            max_age_s,
        };
        let now = 1_000_000.0;
        let f = families(
            &[
                b(BackupKind::Ebs, "vol-1", Some(now - 3600.0), 86_400),
                b(BackupKind::Ebs, "vol-2", None, 86_400),
                b(BackupKind::RdsManual, "db1", Some(now - 7200.0), 3600),
            ],
            now,
        );
        let at = |kind: &'static str, r: &'static str| [("kind", kind), ("resource", r)];
        assert_eq!(
            find_value(&f, "headroom_backup_age_seconds", &at("ebs", "vol-1")),
            Some(3600.0)
        );
        assert_eq!(
            find_value(&f, "headroom_backup_missing", &at("ebs", "vol-1")),
            Some(0.0)
        );
        assert_eq!(
            find_value(
                &f,
                "headroom_backup_newest_timestamp_seconds",
                &at("ebs", "vol-1")
            ),
            Some(now - 3600.0)
        );
        // No snapshot is not age 0: no value, and missing.
        assert!(
            find_value(&f, "headroom_backup_age_seconds", &at("ebs", "vol-2"))
                .unwrap()
                .is_nan()
        );
        assert_eq!(
            find_value(&f, "headroom_backup_missing", &at("ebs", "vol-2")),
            Some(1.0)
        );
        assert_eq!(
            find_value(
                &f,
                "headroom_backup_newest_timestamp_seconds",
                &at("ebs", "vol-2")
            ),
            None
        );
        assert_eq!(
            find_value(&f, "headroom_backup_age_ratio", &at("rds_manual", "db1")),
            Some(2.0)
        );
        assert_eq!(
            find_value(
                &f,
                "headroom_backup_max_age_seconds",
                &at("rds_manual", "db1")
            ),
            Some(3600.0)
        );
    }

    /// The snapshots of the `describe-snapshots` examples in the AWS CLI Command Reference
    /// (https://docs.aws.amazon.com/cli/latest/reference/ec2/describe-snapshots.html):
    /// Example 1, snap-01234567890abcdef of vol-049df61146c4d7901, `completed`, StartTime
    /// 2019-02-28T21:28:32.000Z; Example 2, snap-1234567890abcdef0, `pending`, StartTime
    /// 2019-08-04T12:48:18.000Z (its output leaves the volume out: here, the same one). moto
    /// completes every snapshot at once, so only this test sees a pending one.
    #[test]
    fn only_completed_snapshots_count_and_age_from_their_start() {
        let vol = "vol-049df61146c4d7901";
        let newest = newest_completed([
            (vol, "pending", Some(1_564_922_898.0)),
            (vol, "completed", Some(1_551_389_312.0)),
            ("vol-0000000000000000b", "error", Some(1_564_922_898.0)),
        ]);
        assert_eq!(newest.get(vol).copied(), Some(1_551_389_312.0));
        assert_eq!(newest.get("vol-0000000000000000b"), None);
        // A day and a second later, with the default max age: overdue (BACKUP_AGE's
        // `critical: "1"` alerts above 1).
        let b = Backup {
            kind: BackupKind::Ebs,
            resource: vol.into(),
            newest: newest.get(vol).copied(),
            max_age_s: DEFAULT_MAX_AGE.as_secs(),
        };
        let f = families(&[b], 1_551_389_312.0 + 86_401.0);
        let at = [("kind", "ebs"), ("resource", vol)];
        assert_eq!(
            find_value(&f, "headroom_backup_age_seconds", &at),
            Some(86_401.0)
        );
        assert!(find_value(&f, "headroom_backup_age_ratio", &at).unwrap() > 1.0);
    }

    #[test]
    fn newest_file_of_a_directory() {
        let dir = std::env::temp_dir().join(format!("headroom-backups-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        assert_eq!(newest_file(&dir), None, "no regular file yet");
        let old = dir.join("old.zone");
        std::fs::write(&old, "a").unwrap();
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
        std::fs::File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(t)
            .unwrap();
        assert_eq!(newest_file(&old), Some(1_000_000_000.0));
        std::fs::write(dir.join("new.zone"), "b").unwrap();
        let newest = newest_file(&dir).unwrap();
        assert!(newest > 1_000_000_000.0);
        assert_eq!(newest_file(&dir.join("absent")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
