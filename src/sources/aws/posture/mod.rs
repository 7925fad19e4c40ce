//! The posture source: the account's security posture and whether its logs are on, read
//! with read-only calls, one target per region.
//!
//! Security findings: the root user's MFA and access keys (IAM GetAccountSummary), the
//! password policy against a configured minimum (GetAccountPasswordPolicy), active access
//! keys older than N days (ListUsers, ListAccessKeys), RDS and EC2 instances with public
//! addresses, unencrypted RDS storage, EBS volumes and ElastiCache groups, classic ELB
//! TLS listeners whose security policy is not an allowed one. Logging: ELB access logs,
//! S3 server access logging of configured buckets, CloudTrail trails logging, AWS Config
//! recorders recording.
//!
//! IAM is global: an account's IAM findings are the same from every region, so they are read
//! by the targets with `iam: true` (the default); with several regional targets of one
//! account, leave it on one and set `iam: false` on the others, or every finding counts once
//! per target.
//!
//! The poller only fetches; [`judge`] decides, on plain values, so it is tested without AWS.

pub mod judge;

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use serde::Deserialize;

use crate::config::{CommonTarget, Duration, Validator};
use crate::model::{PollError, Polled, Poller, SourceKind};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};

use judge::{AccessKey, Finding, Logging, PasswordMinimum, PasswordPolicy, TlsListener};

/// Default poll interval: posture changes with deployments, not by the second, and a poll
/// makes a call per IAM user and per load balancer.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(300);
/// Default `access_key_max_age_days`: the CIS AWS Foundations Benchmark's rotation period
/// (v1.4, control 1.14: access keys rotated every 90 days or less).
pub const DEFAULT_KEY_AGE_DAYS: f64 = 90.0;
/// Default `elb_tls_policies`: the classic ELB predefined policy that allows TLS 1.2 only
/// (Elastic Load Balancing, Classic Load Balancers guide, "Predefined SSL security policies").
pub const DEFAULT_TLS_POLICY: &str = "ELBSecurityPolicy-TLS-1-2-2017-01";

/// One entry of `posture:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// AWS region, e.g. `us-west-2`.
    pub region: String,
    /// Endpoint override for every service called (a VPC endpoint; the tests point it at
    /// moto).
    pub endpoint_url: Option<String>,
    /// Role to assume for this target (cross-account), e.g.
    /// `arn:aws:iam::123456789012:role/headroom-readonly`.
    pub role_arn: Option<String>,
    /// Read the account-wide IAM findings (root MFA and keys, password policy, access key
    /// age) on this target. IAM is global: keep it on one target per account. Default true.
    pub iam: Option<bool>,
    /// Active IAM access keys created more than this many days ago are findings. Default 90.
    pub access_key_max_age_days: Option<f64>,
    /// The minimum the account password policy must meet. Default: 14 characters and no
    /// reuse of the last 24 passwords.
    #[serde(default)]
    pub password_policy: RawPasswordMinimum,
    /// Predefined security policies allowed on classic ELB HTTPS and SSL listeners. Default:
    /// `[ELBSecurityPolicy-TLS-1-2-2017-01]`.
    pub elb_tls_policies: Option<Vec<String>>,
    /// S3 buckets whose server access logging must be on. Default: none.
    #[serde(default)]
    pub s3_buckets: Vec<String>,
    /// Finding and logging kinds not judged on this target (and whose calls are not made),
    /// e.g. `[config_recorder]` in a region without AWS Config.
    #[serde(default)]
    pub skip: Vec<String>,
    /// Resources accepted as they are, by kind: `{public_ec2: [i-0bastion]}`. Their findings
    /// (or logging state) are not exported.
    #[serde(default)]
    pub exempt: BTreeMap<String, Vec<String>>,
    /// Poll interval. Default 5m.
    pub interval: Option<Duration>,
    /// Poll timeout. Default: `defaults.timeout`.
    pub timeout: Option<Duration>,
}

/// `password_policy:` of a `posture:` target.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPasswordMinimum {
    /// Minimum password length. Default 14.
    pub min_length: Option<i32>,
    /// Require at least one symbol. Default false.
    #[serde(default)]
    pub require_symbols: bool,
    /// Require at least one number. Default false.
    #[serde(default)]
    pub require_numbers: bool,
    /// Require at least one upper-case letter. Default false.
    #[serde(default)]
    pub require_uppercase: bool,
    /// Require at least one lower-case letter. Default false.
    #[serde(default)]
    pub require_lowercase: bool,
    /// Passwords must expire within this many days. Default: expiry not required.
    pub max_age_days: Option<i32>,
    /// At least this many previous passwords may not be reused. Default 24; 0 turns it off.
    pub reuse_prevention: Option<i32>,
}

/// A validated posture target.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub access: super::Access,
    pub iam: bool,
    pub access_key_max_age_days: f64,
    pub password: PasswordMinimum,
    pub elb_tls_policies: Vec<String>,
    pub s3_buckets: Vec<String>,
    pub skip: BTreeSet<String>,
    pub exempt: BTreeMap<String, BTreeSet<String>>,
}

/// Every kind a target can judge: the security findings, then the logging kinds.
pub fn all_kinds() -> Vec<&'static str> {
    judge::IAM_KINDS
        .iter()
        .chain(judge::REGIONAL_KINDS.iter())
        .chain(
            [
                judge::ELB_ACCESS_LOG,
                judge::S3_ACCESS_LOG,
                judge::CLOUDTRAIL,
                judge::CONFIG_RECORDER,
            ]
            .iter(),
        )
        .copied()
        .collect()
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval.or(Some(Duration(DEFAULT_INTERVAL))),
            timeout: self.timeout,
            region: Some(&self.region),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, _cx: &Context) -> Option<Settings> {
        let before = v.error_count();
        let access =
            super::validate_access(v, path, &self.region, &self.endpoint_url, &self.role_arn);
        let days = self.access_key_max_age_days.unwrap_or(DEFAULT_KEY_AGE_DAYS);
        if !(days.is_finite() && days >= 0.0) {
            v.error(
                &format!("{path}.access_key_max_age_days"),
                "must be a number of days, 0 or more",
            );
        }
        let p = &self.password_policy;
        let min = PasswordMinimum {
            min_length: p.min_length.unwrap_or(14),
            require_symbols: p.require_symbols,
            require_numbers: p.require_numbers,
            require_uppercase: p.require_uppercase,
            require_lowercase: p.require_lowercase,
            max_age_days: p.max_age_days,
            reuse_prevention: match p.reuse_prevention {
                None => Some(24),
                Some(0) => None,
                Some(n) => Some(n),
            },
        };
        // IAM's own bounds (UpdateAccountPasswordPolicy): length 6 to 128, age 1 to 1095
        // days, reuse prevention 1 to 24.
        if !(6..=128).contains(&min.min_length) {
            v.error(
                &format!("{path}.password_policy.min_length"),
                "IAM allows 6 to 128",
            );
        }
        if let Some(d) = min.max_age_days
            && !(1..=1095).contains(&d)
        {
            v.error(
                &format!("{path}.password_policy.max_age_days"),
                "IAM allows 1 to 1095",
            );
        }
        if let Some(n) = min.reuse_prevention
            && !(1..=24).contains(&n)
        {
            v.error(
                &format!("{path}.password_policy.reuse_prevention"),
                "IAM allows 1 to 24 (0 turns the requirement off)",
            );
        }
        let policies = self
            .elb_tls_policies
            .clone()
            .unwrap_or_else(|| vec![DEFAULT_TLS_POLICY.to_owned()]);
        if policies.is_empty() {
            v.error(
                &format!("{path}.elb_tls_policies"),
                "allow at least one policy (or skip: [elb_tls_policy])",
            );
        }
        let kinds = all_kinds();
        for (i, k) in self.skip.iter().enumerate() {
            if !kinds.contains(&k.as_str()) {
                v.error(
                    &format!("{path}.skip[{i}]"),
                    format!("{k:?} is not a posture kind: one of {}", kinds.join(", ")),
                );
            }
        }
        for k in self.exempt.keys() {
            if !kinds.contains(&k.as_str()) {
                v.error(
                    &format!("{path}.exempt.{k}"),
                    format!("{k:?} is not a posture kind: one of {}", kinds.join(", ")),
                );
            }
        }
        if v.error_count() != before {
            return None;
        }
        Some(Settings {
            access: access?,
            iam: self.iam.unwrap_or(true),
            access_key_max_age_days: days,
            password: min,
            elb_tls_policies: policies,
            s3_buckets: self.s3_buckets.clone(),
            skip: self.skip.iter().cloned().collect(),
            exempt: self
                .exempt
                .iter()
                .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
                .collect(),
        })
    }
}

impl Settings {
    /// Whether this target judges `kind`.
    pub fn judges(&self, kind: &str) -> bool {
        !self.skip.contains(kind) && (self.iam || !judge::IAM_KINDS.contains(&kind))
    }

    fn exempt(&self, kind: &str, resource: &str) -> bool {
        self.exempt
            .get(kind)
            .is_some_and(|set| set.contains(resource))
    }
}

/// The posture poller: a client per service, built at its first turn.
pub struct PosturePoller {
    settings: Settings,
    /// Boxed: eight clients would make this the largest poller by far (`AnyPoller` holds
    /// every kind by value).
    c: Box<ServiceClients>,
    api: super::ApiCounters,
}

/// The clients of the services a posture poll calls.
struct ServiceClients {
    iam: super::Limited<aws_sdk_iam::Client>,
    ec2: super::Limited<aws_sdk_ec2::Client>,
    rds: super::Limited<aws_sdk_rds::Client>,
    elasticache: super::Limited<aws_sdk_elasticache::Client>,
    elb: super::Limited<aws_sdk_elasticloadbalancing::Client>,
    s3: super::Limited<aws_sdk_s3::Client>,
    cloudtrail: super::Limited<aws_sdk_cloudtrail::Client>,
    config: super::Limited<aws_sdk_config::Client>,
}

/// A classic load balancer's name and its TLS listeners: (port, the listener's policy names).
type TlsPorts = (String, Vec<(i32, Vec<String>)>);

impl std::fmt::Debug for PosturePoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PosturePoller")
            .field("region", &self.settings.access.region)
            .finish_non_exhaustive()
    }
}

/// GetAccountSummary's map by key name.
fn summary(
    m: &std::collections::HashMap<aws_sdk_iam::types::SummaryKeyType, i32>,
) -> BTreeMap<String, i64> {
    m.iter()
        .map(|(k, v)| (k.as_str().to_owned(), i64::from(*v)))
        .collect()
}

/// Unix time of an SDK date.
fn secs(t: Option<&aws_smithy_types::DateTime>) -> Option<f64> {
    t.map(|t| t.as_secs_f64())
}

fn now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl PosturePoller {
    pub fn new(s: &Settings, clients: &super::Clients) -> Self {
        let api = super::ApiCounters::default();
        PosturePoller {
            settings: s.clone(),
            c: Box::new(ServiceClients {
                iam: clients.client(&s.access, &api),
                ec2: clients.client(&s.access, &api),
                rds: clients.client(&s.access, &api),
                elasticache: clients.client(&s.access, &api),
                elb: clients.client(&s.access, &api),
                s3: clients.client(&s.access, &api),
                cloudtrail: clients.client(&s.access, &api),
                config: clients.client(&s.access, &api),
            }),
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

    fn judges(&self, kind: &str) -> bool {
        self.settings.judges(kind)
    }

    /// Root MFA and keys, the password policy, old access keys.
    async fn iam(&self, out: &mut Vec<Finding>) -> Result<(), PollError> {
        let client = self.c.iam.turn().await;
        if self.judges(judge::MFA_DISABLED) || self.judges(judge::ROOT_ACCESS_KEYS) {
            self.api.request("iam", "GetAccountSummary");
            let s = client
                .get_account_summary()
                .send()
                .await
                .map_err(|e| self.fail("iam", "GetAccountSummary", e))?;
            let map = s.summary_map().map(summary).unwrap_or_default();
            out.extend(
                judge::summary_findings(&map)
                    .into_iter()
                    .filter(|f| self.judges(f.kind)),
            );
        }
        if self.judges(judge::PASSWORD_POLICY) {
            self.api.request("iam", "GetAccountPasswordPolicy");
            let policy = match client.get_account_password_policy().send().await {
                Ok(o) => o.password_policy().map(|p| PasswordPolicy {
                    min_length: p.minimum_password_length(),
                    require_symbols: p.require_symbols(),
                    require_numbers: p.require_numbers(),
                    require_uppercase: p.require_uppercase_characters(),
                    require_lowercase: p.require_lowercase_characters(),
                    max_age_days: p.max_password_age(),
                    reuse_prevention: p.password_reuse_prevention(),
                }),
                // No policy at all: IAM answers NoSuchEntity (IAM API reference,
                // GetAccountPasswordPolicy, Errors).
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_no_such_entity_exception()) =>
                {
                    None
                }
                Err(e) => return Err(self.fail("iam", "GetAccountPasswordPolicy", e)),
            };
            let gaps = judge::password_gaps(policy.as_ref(), &self.settings.password);
            if !gaps.is_empty() {
                out.push(Finding::new(
                    judge::PASSWORD_POLICY,
                    judge::ACCOUNT,
                    gaps.join(", "),
                ));
            }
        }
        if self.judges(judge::ACCESS_KEY_AGE) {
            let mut users = Vec::new();
            let mut marker: Option<String> = None;
            loop {
                self.api.request("iam", "ListUsers");
                let o = client
                    .list_users()
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|e| self.fail("iam", "ListUsers", e))?;
                users.extend(o.users().iter().map(|u| u.user_name().to_owned()));
                marker = o.marker().filter(|_| o.is_truncated()).map(str::to_owned);
                if marker.is_none() {
                    break;
                }
            }
            let mut keys = Vec::new();
            for user in users {
                let mut marker: Option<String> = None;
                loop {
                    self.api.request("iam", "ListAccessKeys");
                    let o = client
                        .list_access_keys()
                        .user_name(&user)
                        .set_marker(marker.clone())
                        .send()
                        .await
                        .map_err(|e| self.fail("iam", "ListAccessKeys", e))?;
                    for k in o.access_key_metadata() {
                        keys.push(AccessKey {
                            user: user.clone(),
                            id: k.access_key_id().unwrap_or_default().to_owned(),
                            active: k.status() == Some(&aws_sdk_iam::types::StatusType::Active),
                            created: secs(k.create_date()).unwrap_or(0.0),
                        });
                    }
                    marker = o.marker().filter(|_| o.is_truncated()).map(str::to_owned);
                    if marker.is_none() {
                        break;
                    }
                }
            }
            out.extend(judge::old_keys(
                &keys,
                self.settings.access_key_max_age_days,
                now(),
            ));
        }
        Ok(())
    }

    /// Public and unencrypted EC2 instances and EBS volumes.
    async fn ec2(&self, out: &mut Vec<Finding>) -> Result<(), PollError> {
        let client = self.c.ec2.turn().await;
        if self.judges(judge::PUBLIC_EC2) {
            let mut token: Option<String> = None;
            loop {
                self.api.request("ec2", "DescribeInstances");
                let o = client
                    .describe_instances()
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| self.fail("ec2", "DescribeInstances", e))?;
                for i in o.reservations().iter().flat_map(|r| r.instances()) {
                    let gone = i.state().and_then(|s| s.name()).is_some_and(|n| {
                        matches!(
                            n,
                            aws_sdk_ec2::types::InstanceStateName::Terminated
                                | aws_sdk_ec2::types::InstanceStateName::ShuttingDown
                        )
                    });
                    if let (false, Some(ip)) = (gone, i.public_ip_address()) {
                        out.push(Finding::new(
                            judge::PUBLIC_EC2,
                            i.instance_id().unwrap_or_default(),
                            ip,
                        ));
                    }
                }
                token = o.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        if self.judges(judge::UNENCRYPTED_EBS) {
            let mut token: Option<String> = None;
            loop {
                self.api.request("ec2", "DescribeVolumes");
                let o = client
                    .describe_volumes()
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| self.fail("ec2", "DescribeVolumes", e))?;
                for v in o.volumes() {
                    if v.encrypted() == Some(false) {
                        out.push(Finding::new(
                            judge::UNENCRYPTED_EBS,
                            v.volume_id().unwrap_or_default(),
                            "",
                        ));
                    }
                }
                token = o.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Public and unencrypted RDS instances.
    async fn rds(&self, out: &mut Vec<Finding>) -> Result<(), PollError> {
        if !(self.judges(judge::PUBLIC_RDS) || self.judges(judge::UNENCRYPTED_RDS)) {
            return Ok(());
        }
        let client = self.c.rds.turn().await;
        let mut marker: Option<String> = None;
        loop {
            self.api.request("rds", "DescribeDBInstances");
            let o = client
                .describe_db_instances()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("rds", "DescribeDBInstances", e))?;
            for d in o.db_instances() {
                let id = d.db_instance_identifier().unwrap_or_default();
                if self.judges(judge::PUBLIC_RDS) && d.publicly_accessible() == Some(true) {
                    out.push(Finding::new(judge::PUBLIC_RDS, id, ""));
                }
                if self.judges(judge::UNENCRYPTED_RDS) && d.storage_encrypted() == Some(false) {
                    out.push(Finding::new(judge::UNENCRYPTED_RDS, id, ""));
                }
            }
            marker = o.marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// ElastiCache encryption: Redis and Valkey replication groups at rest and in transit,
    /// and clusters outside any group (memcached: in transit only, since ElastiCache offers
    /// no at-rest encryption for memcached). A flag the API leaves out is not judged.
    async fn elasticache(&self, out: &mut Vec<Finding>) -> Result<(), PollError> {
        if !self.judges(judge::UNENCRYPTED_ELASTICACHE) {
            return Ok(());
        }
        let client = self.c.elasticache.turn().await;
        let gaps = |at_rest: Option<bool>, transit: Option<bool>| {
            [(at_rest, "at rest"), (transit, "in transit")]
                .into_iter()
                .filter(|(on, _)| *on == Some(false))
                .map(|(_, what)| what)
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut marker: Option<String> = None;
        loop {
            self.api.request("elasticache", "DescribeReplicationGroups");
            let o = client
                .describe_replication_groups()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("elasticache", "DescribeReplicationGroups", e))?;
            for g in o.replication_groups() {
                // A group being deleted is on its way out with its data; judging it would
                // keep a finding open that its deletion already fixes.
                if g.status() == Some("deleting") {
                    continue;
                }
                let gap = gaps(
                    g.at_rest_encryption_enabled(),
                    g.transit_encryption_enabled(),
                );
                if !gap.is_empty() {
                    out.push(Finding::new(
                        judge::UNENCRYPTED_ELASTICACHE,
                        g.replication_group_id().unwrap_or_default(),
                        format!("not encrypted {gap}"),
                    ));
                }
            }
            marker = o.marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        let mut marker: Option<String> = None;
        loop {
            self.api.request("elasticache", "DescribeCacheClusters");
            let o = client
                .describe_cache_clusters()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("elasticache", "DescribeCacheClusters", e))?;
            for c in o.cache_clusters() {
                if c.replication_group_id().is_some() {
                    continue;
                }
                let memcached = c.engine() == Some("memcached");
                let at_rest = if memcached {
                    None
                } else {
                    c.at_rest_encryption_enabled()
                };
                let gap = gaps(at_rest, c.transit_encryption_enabled());
                if !gap.is_empty() {
                    out.push(Finding::new(
                        judge::UNENCRYPTED_ELASTICACHE,
                        c.cache_cluster_id().unwrap_or_default(),
                        format!("not encrypted {gap}"),
                    ));
                }
            }
            marker = o.marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Classic ELB: the TLS policy of each HTTPS/SSL listener and the access log.
    async fn elb(&self, out: &mut Vec<Finding>, logs: &mut Vec<Logging>) -> Result<(), PollError> {
        let tls = self.judges(judge::ELB_TLS_POLICY);
        let access_log = self.judges(judge::ELB_ACCESS_LOG);
        if !(tls || access_log) {
            return Ok(());
        }
        let client = self.c.elb.turn().await;
        // (name, [(port, listener policy names)] of its TLS listeners)
        let mut lbs: Vec<TlsPorts> = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.api
                .request("elasticloadbalancing", "DescribeLoadBalancers");
            let o = client
                .describe_load_balancers()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("elasticloadbalancing", "DescribeLoadBalancers", e))?;
            for lb in o.load_balancer_descriptions() {
                let listeners = lb
                    .listener_descriptions()
                    .iter()
                    .filter_map(|d| {
                        let l = d.listener()?;
                        let p = l.protocol().to_ascii_uppercase();
                        (p == "HTTPS" || p == "SSL")
                            .then(|| (l.load_balancer_port(), d.policy_names().to_vec()))
                    })
                    .collect();
                lbs.push((
                    lb.load_balancer_name().unwrap_or_default().to_owned(),
                    listeners,
                ));
            }
            marker = o.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        let mut listeners = Vec::new();
        for (name, tls_listeners) in &lbs {
            if access_log {
                self.api
                    .request("elasticloadbalancing", "DescribeLoadBalancerAttributes");
                let a = client
                    .describe_load_balancer_attributes()
                    .load_balancer_name(name)
                    .send()
                    .await
                    .map_err(|e| {
                        self.fail("elasticloadbalancing", "DescribeLoadBalancerAttributes", e)
                    })?;
                let on = a
                    .load_balancer_attributes()
                    .and_then(|a| a.access_log())
                    .is_some_and(|l| l.enabled());
                logs.push(Logging {
                    kind: judge::ELB_ACCESS_LOG,
                    resource: name.clone(),
                    enabled: on,
                });
            }
            if tls && !tls_listeners.is_empty() {
                self.api
                    .request("elasticloadbalancing", "DescribeLoadBalancerPolicies");
                let p = client
                    .describe_load_balancer_policies()
                    .load_balancer_name(name)
                    .send()
                    .await
                    .map_err(|e| {
                        self.fail("elasticloadbalancing", "DescribeLoadBalancerPolicies", e)
                    })?;
                let described: Vec<(String, String, Option<String>)> = p
                    .policy_descriptions()
                    .iter()
                    .map(|d| {
                        (
                            d.policy_name().unwrap_or_default().to_owned(),
                            d.policy_type_name().unwrap_or_default().to_owned(),
                            d.policy_attribute_descriptions()
                                .iter()
                                .find(|a| a.attribute_name() == Some("Reference-Security-Policy"))
                                .and_then(|a| a.attribute_value())
                                .map(str::to_owned),
                        )
                    })
                    .collect();
                for (port, names) in tls_listeners {
                    listeners.push(TlsListener {
                        load_balancer: name.clone(),
                        port: *port,
                        policy: judge::reference_policy(names, &described),
                    });
                }
            }
        }
        out.extend(judge::tls_findings(
            &listeners,
            &self.settings.elb_tls_policies,
        ));
        Ok(())
    }

    /// S3 server access logging of the configured buckets.
    async fn s3(&self, logs: &mut Vec<Logging>) -> Result<(), PollError> {
        if !self.judges(judge::S3_ACCESS_LOG) || self.settings.s3_buckets.is_empty() {
            return Ok(());
        }
        let client = self.c.s3.turn().await;
        for b in &self.settings.s3_buckets {
            self.api.request("s3", "GetBucketLogging");
            let o = client
                .get_bucket_logging()
                .bucket(b)
                .send()
                .await
                .map_err(|e| self.fail("s3", "GetBucketLogging", e))?;
            logs.push(Logging {
                kind: judge::S3_ACCESS_LOG,
                resource: b.clone(),
                enabled: o.logging_enabled().is_some(),
            });
        }
        Ok(())
    }

    /// CloudTrail: every trail that covers the region (its own and multi-region trails of
    /// other regions, whose status is asked by ARN) and whether it logs. No trail at all is
    /// logging off.
    async fn cloudtrail(&self, logs: &mut Vec<Logging>) -> Result<(), PollError> {
        if !self.judges(judge::CLOUDTRAIL) {
            return Ok(());
        }
        let client = self.c.cloudtrail.turn().await;
        self.api.request("cloudtrail", "DescribeTrails");
        let o = client
            .describe_trails()
            .include_shadow_trails(true)
            .send()
            .await
            .map_err(|e| self.fail("cloudtrail", "DescribeTrails", e))?;
        let before = logs.len();
        for t in o.trail_list() {
            let name = t.name().unwrap_or_default().to_owned();
            self.api.request("cloudtrail", "GetTrailStatus");
            let s = client
                .get_trail_status()
                .name(t.trail_arn().unwrap_or(&name))
                .send()
                .await
                .map_err(|e| self.fail("cloudtrail", "GetTrailStatus", e))?;
            logs.push(Logging {
                kind: judge::CLOUDTRAIL,
                resource: name,
                enabled: s.is_logging() == Some(true),
            });
        }
        if logs.len() == before {
            logs.push(Logging {
                kind: judge::CLOUDTRAIL,
                resource: judge::NONE.into(),
                enabled: false,
            });
        }
        Ok(())
    }

    /// AWS Config: whether the region's recorder records. No recorder is recording off.
    async fn config(&self, logs: &mut Vec<Logging>) -> Result<(), PollError> {
        if !self.judges(judge::CONFIG_RECORDER) {
            return Ok(());
        }
        let client = self.c.config.turn().await;
        self.api
            .request("config", "DescribeConfigurationRecorderStatus");
        let o = client
            .describe_configuration_recorder_status()
            .send()
            .await
            .map_err(|e| self.fail("config", "DescribeConfigurationRecorderStatus", e))?;
        let before = logs.len();
        for r in o.configuration_recorders_status() {
            logs.push(Logging {
                kind: judge::CONFIG_RECORDER,
                resource: r.name().unwrap_or("default").to_owned(),
                enabled: r.recording(),
            });
        }
        if logs.len() == before {
            logs.push(Logging {
                kind: judge::CONFIG_RECORDER,
                resource: judge::NONE.into(),
                enabled: false,
            });
        }
        Ok(())
    }
}

impl Poller for PosturePoller {
    type Discovered = Infallible;

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let mut findings = Vec::new();
        let mut logs = Vec::new();
        // One service at a time: each holds one turn of the shared limiter.
        if self.settings.iam {
            self.iam(&mut findings).await?;
        }
        self.ec2(&mut findings).await?;
        self.rds(&mut findings).await?;
        self.elasticache(&mut findings).await?;
        self.elb(&mut findings, &mut logs).await?;
        self.s3(&mut logs).await?;
        self.cloudtrail(&mut logs).await?;
        self.config(&mut logs).await?;
        findings.retain(|f| !self.settings.exempt(f.kind, &f.resource));
        logs.retain(|l| !self.settings.exempt(l.kind, &l.resource));
        let kinds: Vec<&'static str> = judge::IAM_KINDS
            .iter()
            .chain(judge::REGIONAL_KINDS.iter())
            .copied()
            .filter(|k| self.judges(k))
            .collect();
        let mut out = judge::families(&kinds, &findings, &logs);
        out.extend(self.api.families());
        Ok(out.into())
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("posture", "headroom_posture_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = PosturePoller;

    fn poller(&self, at: Spawn<'_>) -> PosturePoller {
        PosturePoller::new(self, at.aws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_iam::types::SummaryKeyType;

    /// The output of `aws iam get-account-summary` as the AWS CLI Command Reference shows it
    /// (its example "To get information about IAM entity usage and IAM quotas in the current
    /// account"), in part: an account whose root user has MFA and no access keys.
    const CLI_EXAMPLE: &str = r#"{"SummaryMap": {"UsersQuota": 5000, "GroupsQuota": 100,
        "InstanceProfiles": 6, "SigningCertificatesPerUserQuota": 2,
        "AccountAccessKeysPresent": 0, "RolesQuota": 250, "AccountSigningCertificatesPresent": 0,
        "Users": 27, "MFADevicesInUse": 1, "AccountMFAEnabled": 1, "MFADevices": 3,
        "AccessKeysPerUserQuota": 2}}"#;

    fn sdk_map(json: &str) -> std::collections::HashMap<SummaryKeyType, i32> {
        let v: serde_json::Value = serde_json::from_str(json).unwrap();
        v["SummaryMap"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, n)| (SummaryKeyType::from(k.as_str()), n.as_i64().unwrap() as i32))
            .collect()
    }

    #[test]
    fn account_summary_as_the_sdk_returns_it() {
        // moto cannot model the root user (tests/it/posture.rs): the documented example goes
        // through the same conversion and judgment as a live answer.
        let clean = summary(&sdk_map(CLI_EXAMPLE));
        assert_eq!(clean.get("AccountMFAEnabled"), Some(&1));
        assert!(judge::summary_findings(&clean).is_empty());
        // The same account with the two root-user facts reversed, as the IAM API reference
        // defines them (AccountMFAEnabled 0: no MFA device; AccountAccessKeysPresent 1: the
        // root user has an access key).
        let bad = CLI_EXAMPLE
            .replace(
                "\"AccountAccessKeysPresent\": 0",
                "\"AccountAccessKeysPresent\": 1",
            )
            .replace("\"AccountMFAEnabled\": 1", "\"AccountMFAEnabled\": 0");
        let kinds: Vec<&str> = judge::summary_findings(&summary(&sdk_map(&bad)))
            .iter()
            .map(|f| f.kind)
            .collect();
        assert_eq!(kinds, [judge::MFA_DISABLED, judge::ROOT_ACCESS_KEYS]);
    }
}
