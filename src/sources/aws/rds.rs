//! The RDS source: DescribeDBInstances for the facts of every instance of a region (class,
//! engine, storage, provisioned IOPS and throughput, Multi-AZ, backups, encryption, public
//! access, status) and DescribeDBSnapshots for the age of each instance's latest automated
//! snapshot: a production backup, DR and security policy as `headroom_rds_*` series with a
//! `db_instance` label, which the shipped RDS_* checks judge per instance. The instances'
//! CloudWatch metrics (`instance_metrics:`, none by default) are read by one discovered
//! cloudwatch target, `<this target>/cloudwatch`, whose queries follow the instances found.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::cloudwatch::{RawResourceMetrics, ResourceMetrics};
use crate::config::{CommonTarget, Duration, Validator};
use crate::model::TargetOf;
use crate::model::{Family, Kind, Sample};
use crate::model::{PollError, Poller};
use crate::model::{Polled, SourceKind};
use crate::sources::discovery::Found;
use crate::sources::source::{Context, Source, SourceTarget, Spawn};

/// The CloudWatch namespace of RDS and its per-instance dimension (RDS user guide, "Amazon
/// CloudWatch metrics for Amazon RDS": DBInstanceIdentifier).
const NAMESPACE: &str = "AWS/RDS";

/// One entry of `rds:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// AWS region, e.g. `us-west-2`.
    pub region: String,
    /// Endpoint override (a VPC endpoint; the tests point it at moto).
    pub endpoint_url: Option<String>,
    /// Role to assume for this target (cross-account), e.g.
    /// `arn:aws:iam::123456789012:role/headroom-readonly`.
    pub role_arn: Option<String>,
    /// DB instance identifiers to report. Default: every instance of the region.
    pub instances: Option<Vec<String>>,
    /// The instances' CloudWatch metrics (AWS/RDS, dimension DBInstanceIdentifier), e.g.
    /// `{metrics: [CPUUtilization, FreeStorageSpace]}`. Default: none. Fields as for
    /// `elasticache[].node_metrics`.
    #[serde(default)]
    pub instance_metrics: RawResourceMetrics,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// A validated RDS target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub access: super::Access,
    pub instances: Option<Vec<String>>,
    /// `None` when no metric is configured.
    pub instance_metrics: Option<ResourceMetrics>,
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval,
            timeout: self.timeout,
            region: Some(&self.region),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, _cx: &Context) -> Option<Settings> {
        let access =
            super::validate_access(v, path, &self.region, &self.endpoint_url, &self.role_arn)?;
        let instance_metrics = self.instance_metrics.validate(
            v,
            &format!("{path}.instance_metrics"),
            &access,
            NAMESPACE,
            &[],
        )?;
        Some(Settings {
            access,
            instances: self.instances.clone(),
            instance_metrics: Some(instance_metrics).filter(|m| !m.metrics.is_empty()),
        })
    }
}

/// What headroom reports of one instance.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Instance {
    pub id: String,
    pub class: String,
    pub engine: String,
    pub engine_version: String,
    pub storage_type: String,
    pub status: String,
    pub availability_zone: String,
    pub allocated_gib: Option<f64>,
    pub iops: Option<f64>,
    pub throughput_mib_s: Option<f64>,
    pub multi_az: Option<bool>,
    pub backup_retention_days: Option<f64>,
    pub latest_restorable: Option<f64>,
    pub encrypted: Option<bool>,
    pub public: Option<bool>,
    pub latest_snapshot: Option<f64>,
}

/// The families of one poll (pure: the tests feed it instances directly).
pub fn families(instances: &[Instance], now: f64) -> Vec<Family> {
    let mut info = Family::new(
        "headroom_rds_instance",
        "RDS instance facts, in labels.",
        Kind::Info,
    );
    let mut gauges: BTreeMap<&'static str, Family> = BTreeMap::new();
    let mut g = |name: &'static str, help: &'static str, id: &str, v: Option<f64>| {
        if let Some(v) = v {
            gauges
                .entry(name)
                .or_insert_with(|| Family::new(name, help, Kind::Gauge))
                .samples
                .push(Sample {
                    labels: vec![("db_instance".into(), id.to_owned())],
                    value: v,
                });
        }
    };
    let b = |x: Option<bool>| x.map(|x| if x { 1.0 } else { 0.0 });
    for i in instances {
        info.samples.push(Sample {
            labels: vec![
                ("db_instance".into(), i.id.clone()),
                ("class".into(), i.class.clone()),
                ("engine".into(), i.engine.clone()),
                ("engine_version".into(), i.engine_version.clone()),
                ("storage_type".into(), i.storage_type.clone()),
                ("status".into(), i.status.clone()),
                ("availability_zone".into(), i.availability_zone.clone()),
            ],
            value: 1.0,
        });
        let id = i.id.as_str();
        g(
            "headroom_rds_available",
            "1 while the instance status is `available`.",
            id,
            Some(if i.status == "available" { 1.0 } else { 0.0 }),
        );
        g(
            "headroom_rds_allocated_storage_bytes",
            "Allocated storage.",
            id,
            i.allocated_gib.map(|x| x * 1024.0 * 1024.0 * 1024.0),
        );
        g(
            "headroom_rds_provisioned_iops",
            "Provisioned IOPS (io1/io2, gp3 above its baseline).",
            id,
            i.iops,
        );
        g(
            "headroom_rds_storage_throughput_bytes_per_second",
            "Provisioned storage throughput (gp3).",
            id,
            i.throughput_mib_s.map(|x| x * 1024.0 * 1024.0),
        );
        g(
            "headroom_rds_multi_az",
            "1 if the instance is Multi-AZ.",
            id,
            b(i.multi_az),
        );
        g(
            "headroom_rds_backup_retention_seconds",
            "Automated backup retention period (0: backups off).",
            id,
            i.backup_retention_days.map(|d| d * 86_400.0),
        );
        g(
            "headroom_rds_latest_restorable_timestamp_seconds",
            "Latest point-in-time restore time, Unix time.",
            id,
            i.latest_restorable,
        );
        g(
            "headroom_rds_storage_encrypted",
            "1 if storage is encrypted.",
            id,
            b(i.encrypted),
        );
        g(
            "headroom_rds_publicly_accessible",
            "1 if the instance is publicly accessible.",
            id,
            b(i.public),
        );
        // No automated snapshot at all reads as infinitely old, so the backup check fails
        // rather than loses its subject.
        g(
            "headroom_rds_latest_snapshot_age_seconds",
            "Age of the newest automated snapshot (+Inf when there is none).",
            id,
            Some(
                i.latest_snapshot
                    .map(|t| (now - t).max(0.0))
                    .unwrap_or(f64::INFINITY),
            ),
        );
    }
    let mut out = vec![Family::single(
        "headroom_rds_up",
        "1 if DescribeDBInstances succeeded.",
        Kind::Gauge,
        1.0,
    )];
    if !info.samples.is_empty() {
        out.push(info);
    }
    out.extend(gauges.into_values());
    out
}

/// The cloudwatch target of the instances' metrics, if any are configured (pure).
pub fn discovered(instances: &[Instance], s: &Settings) -> Vec<TargetOf<Found>> {
    let resources: Vec<Vec<(String, String)>> = instances
        .iter()
        .map(|i| vec![("DBInstanceIdentifier".to_owned(), i.id.clone())])
        .collect();
    // The poll timeout of the parent is not known here; the target takes at least 10s.
    s.instance_metrics
        .as_ref()
        .and_then(|m| m.target(&resources, std::time::Duration::from_secs(10)))
        .map(|t| t.map(Found::Cloudwatch))
        .into_iter()
        .collect()
}

pub struct RdsPoller {
    settings: Settings,
    client: super::Limited<aws_sdk_rds::Client>,
    api: super::ApiCounters,
}

impl std::fmt::Debug for RdsPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdsPoller")
            .field("region", &self.settings.access.region)
            .finish_non_exhaustive()
    }
}

impl RdsPoller {
    pub fn new(s: &Settings, clients: &super::Clients) -> Self {
        let api = super::ApiCounters::default();
        RdsPoller {
            settings: s.clone(),
            client: clients.client(&s.access, &api),
            api,
        }
    }

    fn fail<E>(&self, op: &str, e: aws_sdk_rds::error::SdkError<E>) -> PollError
    where
        E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        super::call_failed(&self.api, "rds", &self.settings.access.region, op, e)
    }
}

fn secs(t: Option<&aws_sdk_rds::primitives::DateTime>) -> Option<f64> {
    t.map(|t| t.as_secs_f64())
}

impl Poller for RdsPoller {
    type Discovered = Found;

    async fn poll(&self) -> Result<Polled<Found>, PollError> {
        let client = self.client.turn().await;
        let mut instances = Vec::new();
        let mut marker: Option<String> = None;
        let mut pages = super::Pages::default();
        loop {
            self.api.request("rds", "DescribeDBInstances");
            let out = client
                .describe_db_instances()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("DescribeDBInstances", e))?;
            for d in out.db_instances() {
                let id = d.db_instance_identifier().unwrap_or_default().to_owned();
                if self
                    .settings
                    .instances
                    .as_ref()
                    .is_some_and(|want| !want.contains(&id))
                {
                    continue;
                }
                instances.push(Instance {
                    id,
                    class: d.db_instance_class().unwrap_or_default().into(),
                    engine: d.engine().unwrap_or_default().into(),
                    engine_version: d.engine_version().unwrap_or_default().into(),
                    storage_type: d.storage_type().unwrap_or_default().into(),
                    status: d.db_instance_status().unwrap_or_default().into(),
                    availability_zone: d.availability_zone().unwrap_or_default().into(),
                    allocated_gib: d.allocated_storage().map(f64::from),
                    iops: d.iops().map(f64::from),
                    throughput_mib_s: d.storage_throughput().map(f64::from),
                    multi_az: d.multi_az(),
                    backup_retention_days: d.backup_retention_period().map(f64::from),
                    latest_restorable: secs(d.latest_restorable_time()),
                    encrypted: d.storage_encrypted(),
                    public: d.publicly_accessible(),
                    latest_snapshot: None,
                });
            }
            marker = pages.after(
                out.marker(),
                &self.settings.access.region,
                "DescribeDBInstances",
            )?;
            if marker.is_none() {
                break;
            }
        }
        // One paginated call for all automated snapshots of the region, not one per instance.
        let mut newest: BTreeMap<String, f64> = BTreeMap::new();
        let mut marker: Option<String> = None;
        let mut pages = super::Pages::default();
        loop {
            self.api.request("rds", "DescribeDBSnapshots");
            let out = match client
                .describe_db_snapshots()
                .snapshot_type("automated")
                .set_marker(marker.clone())
                .send()
                .await
            {
                Ok(o) => o,
                // Snapshot ages are missing this poll; the instance facts still count.
                Err(e) => {
                    let err = self.fail("DescribeDBSnapshots", e);
                    tracing::warn!(error = %err, "RDS snapshots not read");
                    break;
                }
            };
            for s in out.db_snapshots() {
                if let (Some(id), Some(t)) =
                    (s.db_instance_identifier(), secs(s.snapshot_create_time()))
                {
                    let e = newest.entry(id.to_owned()).or_insert(t);
                    if t > *e {
                        *e = t;
                    }
                }
            }
            marker = match pages.next(out.marker()) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(region = %self.settings.access.region, "RDS snapshots not all read: DescribeDBSnapshots: {e}");
                    break;
                }
            };
            if marker.is_none() {
                break;
            }
        }
        for i in &mut instances {
            i.latest_snapshot = newest.get(&i.id).copied();
        }
        let now = crate::time::unix_now_f64();
        let mut out = families(&instances, now);
        out.extend(self.api.families());
        Ok(Polled {
            families: out,
            discovered: Some(discovered(&instances, &self.settings)),
        })
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("rds", "headroom_rds_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = RdsPoller;

    fn poller(&self, at: Spawn<'_>) -> RdsPoller {
        RdsPoller::new(self, at.aws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::find_value;

    #[test]
    fn facts_become_series() {
        let i = Instance {
            id: "osdp-db-proddc1".into(),
            class: "db.r5.2xlarge".into(),
            status: "available".into(),
            allocated_gib: Some(500.0),
            multi_az: Some(true),
            encrypted: Some(false),
            public: Some(false),
            backup_retention_days: Some(7.0),
            latest_snapshot: Some(1000.0),
            ..Instance::default()
        };
        let none = Instance {
            id: "db2".into(),
            latest_snapshot: None,
            ..Instance::default()
        };
        let f = families(&[i, none], 1000.0 + 3600.0);
        let db = [("db_instance", "osdp-db-proddc1")];
        assert_eq!(
            find_value(&f, "headroom_rds_allocated_storage_bytes", &db),
            Some(500.0 * 1073741824.0)
        );
        assert_eq!(find_value(&f, "headroom_rds_multi_az", &db), Some(1.0));
        assert_eq!(
            find_value(&f, "headroom_rds_storage_encrypted", &db),
            Some(0.0)
        );
        assert_eq!(
            find_value(&f, "headroom_rds_backup_retention_seconds", &db),
            Some(604_800.0)
        );
        assert_eq!(
            find_value(&f, "headroom_rds_latest_snapshot_age_seconds", &db),
            Some(3600.0)
        );
        assert_eq!(
            find_value(
                &f,
                "headroom_rds_latest_snapshot_age_seconds",
                &[("db_instance", "db2")]
            ),
            Some(f64::INFINITY)
        );
        assert_eq!(
            find_value(&f, "headroom_rds_available", &[("db_instance", "db2")]),
            Some(0.0)
        );
    }
}
