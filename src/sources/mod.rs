//! Sources: one module per kind of thing headroom polls. This file is THE list of them: one
//! line per source (its config section, its variant, its module). The config file's schema
//! (`config_file.rs`), [`SourceConfig`], [`AnyPoller`] and [`KINDS`] are generated from it,
//! so adding a source is one module and one line here.
//!
//! Each module provides `KIND`, a `RawTarget` implementing [`source::SourceTarget`], a
//! `Settings` implementing [`source::Source`], and a poller implementing
//! [`crate::model::Poller`]. A poller only fetches and parses. Interval, jitter, timeout,
//! `up`, durations, error counts and skipped polls belong to the scheduler.

pub mod aws;
pub mod capacity;
pub mod discovery;
pub mod disks;
pub mod dns;
pub mod http;
pub mod memcached;
pub mod migration;
pub mod mysql;
pub mod source;
pub mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use crate::model::{PollError, Polled, Poller, SourceKind, TargetOf};
use source::{Source, Spawn};

/// Every source: `section: Variant = module`, with the section's description (it becomes the
/// config field's documentation). Calls the macro `$then` with the list.
macro_rules! sources {
    ($then:ident) => {
        $then! {
            /// memcached servers, polled with `stats`.
            memcached: Memcached = memcached,
            /// MySQL or MariaDB servers, polled with `SHOW GLOBAL STATUS` and friends.
            mysql: Mysql = mysql,
            /// TLS endpoints whose certificate is read (expiry, trust, name).
            tls: Tls = tls,
            /// CloudWatch metrics, one target per region.
            cloudwatch: Cloudwatch = aws::cloudwatch,
            /// RDS instance facts and snapshots, one target per region.
            rds: Rds = aws::rds,
            /// Classic load balancers: instance health and listeners, one target per region.
            elb: Elb = aws::elb,
            /// Application and network load balancers (ELBv2): target health and listeners,
            /// one target per region.
            elbv2: Elbv2 = aws::elbv2,
            /// ElastiCache clusters: memcached nodes become memcached targets, one target per
            /// region.
            elasticache: Elasticache = aws::elasticache,
            /// Capacity models of databases, recomputed from their history.
            capacity: Capacity = capacity,
            /// Copy jobs of a migration: their progress, rate and projection against D-day.
            migration: Migration = migration,
            /// DNS records asked of their zone's authoritative server: TTL, answers, and the
            /// TTL planned for the cut-over.
            dns: Dns = dns,
            /// HTTP(S) and WebDAV probes: one request (GET, HEAD, PUT, DELETE, PROPFIND) or a
            /// round trip per poll, timed by phase, as blackbox_exporter's http prober.
            http: Http = http,
            /// Disks of the source hosts: SMART health from `smartctl --json -a`, run here
            /// or read from the JSON reports the hosts write.
            disks: Disks = disks,
            /// Security posture findings (IAM, public and unencrypted resources, ELB TLS
            /// policies) and whether logging is on (ELB, S3, CloudTrail, AWS Config), one target
            /// per region.
            posture: Posture = aws::posture,
            /// Backups: the newest EBS snapshot, RDS snapshot and Route 53 zone export of each
            /// resource and its age, one target per region.
            backups: Backups = aws::backups,
            /// The monthly cost of the estate (RDS, ElastiCache, EBS, load balancers, the EC2
            /// instances behind them) from the price table, one target per region.
            cost: Cost = aws::cost,
        }
    };
}
pub(crate) use sources;

/// A target of any source, with its schedule resolved.
pub type Target = TargetOf<SourceConfig>;

macro_rules! define {
    ($( $(#[$doc:meta])* $section:ident: $Variant:ident = $($module:ident)::+ ),* $(,)?) => {
        /// Every source, in the order of the list.
        pub const KINDS: &[SourceKind] = &[$( <$($module)::+::Settings as Source>::KIND ),*];

        /// The source-specific part of a target.
        #[derive(Debug, Clone, PartialEq)]
        pub enum SourceConfig {
            $( $Variant($($module)::+::Settings), )*
        }

        impl SourceConfig {
            pub fn kind(&self) -> SourceKind {
                match self {
                    $( SourceConfig::$Variant(_) => <$($module)::+::Settings as Source>::KIND, )*
                }
            }

            /// [`Source::may_export`] of the target's source.
            pub fn may_export(&self, metric: &str, labels: &[(String, String)]) -> bool {
                match self {
                    $( SourceConfig::$Variant(s) => s.may_export(metric, labels), )*
                }
            }
        }

        $(
            impl From<$($module)::+::Settings> for SourceConfig {
                fn from(s: $($module)::+::Settings) -> Self {
                    SourceConfig::$Variant(s)
                }
            }
        )*

        /// Every poller headroom has.
        #[derive(Debug)]
        pub enum AnyPoller {
            $( $Variant(<$($module)::+::Settings as Source>::Poller), )*
        }

        impl AnyPoller {
            pub fn new(target: &Target, aws: &aws::Clients) -> Self {
                let at = Spawn {
                    name: &target.name,
                    interval: target.interval,
                    aws,
                };
                match &target.source {
                    $( SourceConfig::$Variant(s) => AnyPoller::$Variant(s.poller(at)), )*
                }
            }
        }

        impl Poller for AnyPoller {
            type Discovered = SourceConfig;

            async fn poll(&self) -> Result<Polled<SourceConfig>, PollError> {
                match self {
                    $( AnyPoller::$Variant(p) => boxed_poll(p).await.map(lift), )*
                }
            }

            async fn close(&self) {
                match self {
                    $( AnyPoller::$Variant(p) => p.close().await, )*
                }
            }
        }
    };
}
sources!(define);

/// `poller`'s poll future on the heap, at its own size. Held inline, [`AnyPoller`]'s future
/// would be as large as the largest source's (the AWS SDK's, tens of KiB), and every function
/// that polls it would reserve that much stack and touch it page by page on entry, a page
/// fault each on a one-shot check's fresh stack even to poll a memcached. Not inlined, so
/// the future is built in a frame of its own size, not in one sized for every source.
#[inline(never)]
fn boxed_poll<P: Poller>(
    poller: &P,
) -> Pin<Box<impl Future<Output = Result<Polled<P::Discovered>, PollError>> + Send + '_>> {
    Box::pin(poller.poll())
}

impl Target {
    pub fn kind(&self) -> SourceKind {
        self.source.kind()
    }
}

impl From<Infallible> for SourceConfig {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

impl From<discovery::Found> for SourceConfig {
    fn from(found: discovery::Found) -> Self {
        match found {
            discovery::Found::Memcached(s) => s.into(),
            discovery::Found::Tls(s) => s.into(),
            discovery::Found::Cloudwatch(s) => s.into(),
        }
    }
}

/// `aws.monthly_budget_usd` over every cloudwatch target of `targets`, configured and
/// discovered (the nodes' `node_metrics:`, the load balancers' `lb_metrics:`): each gets back
/// its configured interval, then all are stretched by one factor until their plans fit the
/// budget together. Idempotent, so it can run again whenever discovery changes the set.
/// Returns what it stretched, for the log.
pub fn fit_cloudwatch_budget(targets: &mut [Target], budget: f64) -> Vec<String> {
    let cloudwatch: Vec<_> = targets
        .iter_mut()
        .filter_map(|t| match &mut t.source {
            SourceConfig::Cloudwatch(s) => {
                if let Some(configured) = s.configured_interval.take() {
                    t.interval = configured;
                }
                Some((&*t.name, &mut t.interval, s))
            }
            _ => None,
        })
        .collect();
    aws::cloudwatch::fit_budget(cloudwatch, budget)
}

/// A poll's discovered targets as targets of any source.
fn lift<D: Into<SourceConfig>>(p: Polled<D>) -> Polled<SourceConfig> {
    Polled {
        families: p.families,
        discovered: p
            .discovered
            .map(|found| found.into_iter().map(|t| t.map(Into::into)).collect()),
    }
}
