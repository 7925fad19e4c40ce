//! Sources: one module per kind of thing headroom polls. Each implements [`Poller`] and owns
//! its config type; [`AnyPoller`] is the closed list of them (an enum, not a registry), so
//! adding a source is one variant here and one arm in `config`.
//!
//! A poller only fetches and parses. Interval, jitter, timeout, `up`, durations, error counts
//! and skipped polls belong to the scheduler.

pub mod aws;
pub mod capacity;
pub mod discovery;
pub mod memcached;
pub mod mysql;
pub mod tls;

use std::fmt;
use std::future::Future;

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

use crate::config::{SourceConfig, Target};
use crate::store::Family;

/// Which source a target belongs to. Used as the `source` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    Memcached,
    Mysql,
    Tls,
    Cloudwatch,
    Rds,
    Elb,
    Elasticache,
    Elbv2,
    Capacity,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Memcached => "memcached",
            SourceKind::Mysql => "mysql",
            SourceKind::Tls => "tls",
            SourceKind::Cloudwatch => "cloudwatch",
            SourceKind::Rds => "rds",
            SourceKind::Elb => "elb",
            SourceKind::Elasticache => "elasticache",
            SourceKind::Elbv2 => "elbv2",
            SourceKind::Capacity => "capacity",
        }
    }

    pub const ALL: [SourceKind; 9] = [
        SourceKind::Memcached,
        SourceKind::Mysql,
        SourceKind::Tls,
        SourceKind::Cloudwatch,
        SourceKind::Rds,
        SourceKind::Elb,
        SourceKind::Elbv2,
        SourceKind::Elasticache,
        SourceKind::Capacity,
    ];

    /// The exporter-compatible `up` metric of this source (`memcached_up`, `mysql_up`), which
    /// is all a failed poll leaves in the snapshot.
    pub fn up_metric(self) -> &'static str {
        match self {
            SourceKind::Memcached => "memcached_up",
            SourceKind::Mysql => "mysql_up",
            SourceKind::Tls => "headroom_tls_up",
            SourceKind::Cloudwatch => "headroom_cloudwatch_up",
            SourceKind::Rds => "headroom_rds_up",
            SourceKind::Elb => "headroom_elb_up",
            SourceKind::Elasticache => "headroom_elasticache_up",
            SourceKind::Elbv2 => "headroom_elbv2_up",
            SourceKind::Capacity => "headroom_capacity_up",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EncodeLabelValue for SourceKind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), fmt::Error> {
        fmt::Write::write_str(encoder, self.as_str())
    }
}

/// Why a poll failed, in the bounded set used as the `kind` label of
/// `headroom_poll_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The poll did not finish within its timeout.
    Timeout,
    /// The target could not be reached (refused, unreachable, TLS or DNS failure).
    Connect,
    /// The target refused the credentials or the privileges.
    Auth,
    /// The target answered, but not with what was expected.
    Protocol,
    /// The API refused the call for its rate (AWS throttling), after the SDK's retries.
    Throttled,
    /// The source answered but holds nothing to compute from yet (a capacity model before
    /// its database has a minute of history).
    NoData,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Timeout,
        ErrorKind::Connect,
        ErrorKind::Auth,
        ErrorKind::Protocol,
        ErrorKind::Throttled,
        ErrorKind::NoData,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connect => "connect",
            ErrorKind::Auth => "auth",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Throttled => "throttled",
            ErrorKind::NoData => "no_data",
        }
    }
}

impl EncodeLabelValue for ErrorKind {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), fmt::Error> {
        fmt::Write::write_str(encoder, self.as_str())
    }
}

/// A failed poll: its kind and a message fit for logs and the status page. Messages are
/// built from addresses and server replies, never from credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}", kind = .kind.as_str())]
pub struct PollError {
    pub kind: ErrorKind,
    pub message: String,
}

impl PollError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        PollError {
            kind,
            message: message.into(),
        }
    }
}

/// What one successful poll gives.
#[derive(Debug, Default)]
pub struct Polled {
    /// The target's metric families (without the `target` label, which the store adds).
    pub families: Vec<Family>,
    /// For a source that discovers other targets (ElastiCache nodes, ELB listeners): the
    /// complete set it found this time, named relative to this target (the scheduler puts
    /// `<this target>/` in front). `None` for sources that discover nothing.
    pub discovered: Option<Vec<Target>>,
}

impl From<Vec<Family>> for Polled {
    fn from(families: Vec<Family>) -> Self {
        Polled {
            families,
            discovered: None,
        }
    }
}

/// What every source implements: fetch and parse once.
pub trait Poller: Send + Sync {
    /// Polls the target once.
    fn poll(&self) -> impl Future<Output = Result<Polled, PollError>> + Send;
}

/// Every poller headroom has.
#[derive(Debug)]
pub enum AnyPoller {
    Memcached(memcached::MemcachedPoller),
    Mysql(mysql::MysqlPoller),
    Tls(tls::TlsPoller),
    Cloudwatch(aws::cloudwatch::CloudwatchPoller),
    Rds(aws::rds::RdsPoller),
    Elb(aws::elb::ElbPoller),
    Elasticache(aws::elasticache::ElasticachePoller),
    Elbv2(aws::elbv2::Elbv2Poller),
    Capacity(capacity::CapacityPoller),
}

impl AnyPoller {
    /// The poller of `target`; AWS pollers get their clients from `clients`.
    pub fn new(target: &Target, clients: &aws::Clients) -> Self {
        match &target.source {
            SourceConfig::Memcached(s) => AnyPoller::Memcached(memcached::MemcachedPoller::new(s)),
            SourceConfig::Mysql(s) => AnyPoller::Mysql(mysql::MysqlPoller::new(s)),
            SourceConfig::Tls(s) => AnyPoller::Tls(tls::TlsPoller::new(s)),
            SourceConfig::Rds(s) => AnyPoller::Rds(aws::rds::RdsPoller::new(s, clients)),
            SourceConfig::Elb(s) => AnyPoller::Elb(aws::elb::ElbPoller::new(s, clients)),
            SourceConfig::Elbv2(s) => AnyPoller::Elbv2(aws::elbv2::Elbv2Poller::new(s, clients)),
            SourceConfig::Capacity(s) => AnyPoller::Capacity(capacity::CapacityPoller::new(s)),
            SourceConfig::Elasticache(s) => AnyPoller::Elasticache(
                aws::elasticache::ElasticachePoller::new(&target.name, s, clients),
            ),
            SourceConfig::Cloudwatch(s) => AnyPoller::Cloudwatch(
                aws::cloudwatch::CloudwatchPoller::new(s, target.interval, clients),
            ),
        }
    }

    /// Releases connections before the target goes away.
    pub async fn close(&self) {
        if let AnyPoller::Mysql(p) = self {
            p.close().await;
        }
    }
}

impl Poller for AnyPoller {
    async fn poll(&self) -> Result<Polled, PollError> {
        match self {
            AnyPoller::Memcached(p) => p.poll().await,
            AnyPoller::Mysql(p) => p.poll().await,
            AnyPoller::Tls(p) => p.poll().await,
            AnyPoller::Cloudwatch(p) => p.poll().await,
            AnyPoller::Rds(p) => p.poll().await,
            AnyPoller::Elb(p) => p.poll().await,
            AnyPoller::Elasticache(p) => p.poll().await,
            AnyPoller::Elbv2(p) => p.poll().await,
            AnyPoller::Capacity(p) => p.poll().await,
        }
    }
}
