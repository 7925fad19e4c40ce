//! AWS sources: CloudWatch (metrics of a region) and RDS (instance facts), with what they
//! share: the SDK configuration (default credential chain, region, endpoint override) and
//! the request and error counters every AWS source exports.

pub mod cloudwatch;
pub mod elb;
pub mod naming;
pub mod plan;
pub mod rds;

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::store::{Family, Kind, Sample};

/// The shared SDK configuration for one region: the SDK's default credential chain
/// (environment, profile, web identity, ECS, IMDSv2 instance role).
pub async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .load()
        .await
}

/// Requests by (service, operation) and errors by (service, code).
type Tallies = (
    BTreeMap<(&'static str, &'static str), f64>,
    BTreeMap<(&'static str, String), f64>,
);

/// `headroom_aws_requests_total{service,operation}` and
/// `headroom_aws_errors_total{service,code}` of one target.
#[derive(Debug, Default)]
pub struct ApiCounters {
    inner: Mutex<Tallies>,
}

impl ApiCounters {
    pub fn request(&self, service: &'static str, operation: &'static str) {
        *self.lock().0.entry((service, operation)).or_default() += 1.0;
    }

    pub fn error(&self, service: &'static str, code: &str) {
        *self.lock().1.entry((service, code.to_owned())).or_default() += 1.0;
    }

    pub fn requests(&self, service: &'static str, operation: &'static str) -> f64 {
        self.lock()
            .0
            .get(&(service, operation))
            .copied()
            .unwrap_or(0.0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tallies> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn families(&self) -> Vec<Family> {
        let g = self.lock();
        let mut req = Family::new(
            "headroom_aws_requests",
            "AWS API requests made, by service and operation.",
            Kind::Counter,
        );
        for ((service, op), n) in &g.0 {
            req.samples.push(Sample {
                labels: vec![
                    ("service".into(), (*service).into()),
                    ("operation".into(), (*op).into()),
                ],
                value: *n,
            });
        }
        let mut errs = Family::new(
            "headroom_aws_errors",
            "Failed AWS calls by service and error code (throttling shows as Throttling).",
            Kind::Counter,
        );
        for ((service, code), n) in &g.1 {
            errs.samples.push(Sample {
                labels: vec![
                    ("service".into(), (*service).into()),
                    ("code".into(), code.clone()),
                ],
                value: *n,
            });
        }
        [req, errs]
            .into_iter()
            .filter(|f| !f.samples.is_empty())
            .collect()
    }
}
