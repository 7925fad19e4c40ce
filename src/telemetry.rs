//! Logging set-up and headroom's own metrics (`headroom_*` about polling), registered with
//! prometheus-client with typed label sets.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::model::{ErrorKind, SourceKind};

/// Starts logging to stderr. `RUST_LOG` overrides the default level (`info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub source: SourceKind,
    pub target: String,
}

/// `headroom_target_info`: where a target is, for selecting targets by region.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetInfoLabels {
    pub source: SourceKind,
    pub target: String,
    /// Empty when the target has none.
    pub region: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub source: SourceKind,
    pub target: String,
    pub kind: ErrorKind,
}

/// Buckets of `headroom_poll_duration_seconds`: 1 ms to 30 s.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The scheduler's metrics, one series per target.
#[derive(Debug, Clone)]
pub struct SelfMetrics {
    pub up: Family<TargetLabels, Gauge>,
    pub polls: Family<TargetLabels, Counter>,
    pub poll_duration: Family<TargetLabels, Histogram, fn() -> Histogram>,
    pub errors: Family<ErrorLabels, Counter>,
    pub skipped: Family<TargetLabels, Counter>,
    pub last_success: Family<TargetLabels, Gauge<f64, AtomicU64>>,
    pub info: Family<TargetInfoLabels, Gauge>,
    /// Polls running now, over every target.
    pub polls_in_flight: Gauge,
    /// Polls due that wait for a turn (`max_concurrent_polls` are in flight).
    pub polls_waiting: Gauge,
    /// The bound on polls in flight (`max_concurrent_polls`).
    pub max_concurrent_polls: Gauge,
}

impl SelfMetrics {
    pub fn register(registry: &mut Registry) -> SelfMetrics {
        let m = SelfMetrics {
            up: Family::default(),
            polls: Family::default(),
            poll_duration: Family::new_with_constructor(duration_histogram),
            errors: Family::default(),
            skipped: Family::default(),
            last_success: Family::default(),
            info: Family::default(),
            polls_in_flight: Gauge::default(),
            polls_waiting: Gauge::default(),
            max_concurrent_polls: Gauge::default(),
        };
        registry.register(
            "headroom_up",
            "1 if the latest poll of the target succeeded, 0 if it failed",
            m.up.clone(),
        );
        registry.register(
            "headroom_polls",
            "Polls started, per target",
            m.polls.clone(),
        );
        registry.register_with_unit(
            "headroom_poll_duration",
            "How long polls took, failed ones included",
            Unit::Seconds,
            m.poll_duration.clone(),
        );
        registry.register(
            "headroom_poll_errors",
            "Failed polls by kind: timeout, connect, auth or protocol",
            m.errors.clone(),
        );
        registry.register(
            "headroom_polls_skipped",
            "Scheduled polls skipped because the previous poll of the same target was still running",
            m.skipped.clone(),
        );
        registry.register_with_unit(
            "headroom_last_success_timestamp",
            "Unix time at which the latest successful poll of the target ended",
            Unit::Seconds,
            m.last_success.clone(),
        );
        registry.register(
            "headroom_target_info",
            "1 for every target polled, configured or discovered, with its region (AWS region or the target's region: setting; empty when it has none)",
            m.info.clone(),
        );
        registry.register(
            "headroom_polls_in_flight",
            "Polls running now, over every target",
            m.polls_in_flight.clone(),
        );
        registry.register(
            "headroom_polls_waiting",
            "Polls due that wait for a turn because max_concurrent_polls polls are in flight",
            m.polls_waiting.clone(),
        );
        registry.register(
            "headroom_max_concurrent_polls",
            "The bound on polls in flight over every target (max_concurrent_polls)",
            m.max_concurrent_polls.clone(),
        );
        registry.register(
            "headroom_build",
            "headroom's version",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        m
    }

    /// Creates every series of a target at zero, so that `rate()` and alerts see them from
    /// the first scrape rather than from the first error.
    pub fn add_target(&self, source: SourceKind, target: &str, region: Option<&str>) {
        let l = TargetLabels {
            source,
            target: target.to_owned(),
        };
        self.info
            .get_or_create(&TargetInfoLabels {
                source,
                target: target.to_owned(),
                region: region.unwrap_or_default().to_owned(),
            })
            .set(1);
        let _ = self.up.get_or_create(&l);
        let _ = self.polls.get_or_create(&l);
        let _ = self.poll_duration.get_or_create(&l);
        let _ = self.skipped.get_or_create(&l);
        let _ = self.last_success.get_or_create(&l);
        for kind in ErrorKind::ALL {
            let _ = self.errors.get_or_create(&ErrorLabels {
                source,
                target: target.to_owned(),
                kind,
            });
        }
    }

    /// Drops every series of a target that was removed from the config.
    pub fn remove_target(&self, source: SourceKind, target: &str, region: Option<&str>) {
        let l = TargetLabels {
            source,
            target: target.to_owned(),
        };
        self.info.remove(&TargetInfoLabels {
            source,
            target: target.to_owned(),
            region: region.unwrap_or_default().to_owned(),
        });
        self.up.remove(&l);
        self.polls.remove(&l);
        self.poll_duration.remove(&l);
        self.skipped.remove(&l);
        self.last_success.remove(&l);
        for kind in ErrorKind::ALL {
            self.errors.remove(&ErrorLabels {
                source,
                target: target.to_owned(),
                kind,
            });
        }
    }
}
