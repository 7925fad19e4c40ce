//! AWS sources: CloudWatch (metrics of a region) and RDS (instance facts), with what they
//! share: the SDK configuration (default credential chain, region, endpoint override) and
//! the request and error counters every AWS source exports.

pub mod cloudwatch;
pub mod elasticache;
pub mod elb;
pub mod naming;
pub mod plan;
pub mod rds;

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::store::{Family, Kind, Sample};

/// Where and as whom an AWS target calls: every AWS source's config has these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub region: String,
    /// Endpoint override for every service the target calls (a VPC endpoint; moto in tests).
    pub endpoint_url: Option<String>,
    /// Role to assume (STS AssumeRole) on top of the default credentials.
    pub role_arn: Option<String>,
}

/// The SDK configuration of one target: the SDK's default credential chain (environment,
/// profile, web identity, ECS, IMDSv2 instance role), its region and endpoint, and the role
/// it assumes, if any.
pub async fn sdk_config(a: &Access) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(a.region.clone()));
    if let Some(url) = &a.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    let base = loader.load().await;
    match &a.role_arn {
        None => base,
        Some(arn) => {
            let provider = aws_config::sts::AssumeRoleProvider::builder(arn)
                .session_name("headroom")
                .configure(&base)
                .build()
                .await;
            base.into_builder()
                .credentials_provider(aws_sdk_cloudwatch::config::SharedCredentialsProvider::new(
                    provider,
                ))
                .build()
        }
    }
}

/// Turns a failed SDK call into a poll error of the bounded kinds, and counts it by AWS error
/// code. The SDK crates all re-export the same `SdkError` and `ProvideErrorMetadata`, so one
/// function serves every AWS source.
pub fn call_failed<E, R>(
    api: &ApiCounters,
    service: &'static str,
    region: &str,
    operation: &str,
    e: aws_sdk_rds::error::SdkError<E, R>,
) -> crate::sources::PollError
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use crate::sources::ErrorKind;
    use aws_sdk_rds::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
    let code = ProvideErrorMetadata::code(&e)
        .unwrap_or("unknown")
        .to_owned();
    api.error(service, &code);
    let kind = match &e {
        SdkError::DispatchFailure(_) => ErrorKind::Connect,
        SdkError::TimeoutError(_) => ErrorKind::Timeout,
        _ if code.contains("AccessDenied")
            || code.contains("Unauthorized")
            || code.contains("Signature") =>
        {
            ErrorKind::Auth
        }
        _ => ErrorKind::Protocol,
    };
    crate::sources::PollError::new(
        kind,
        format!("{region} {operation}: {}", DisplayErrorContext(&e)),
    )
}

/// Checks the fields every AWS target has; `path` locates errors.
pub fn validate_access(
    v: &mut crate::config::Validator<'_>,
    path: &str,
    region: &str,
    endpoint_url: &Option<String>,
    role_arn: &Option<String>,
) -> Option<Access> {
    let before = v.error_count();
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        v.error(
            &format!("{path}.region"),
            format!("{region:?} is not an AWS region name"),
        );
    }
    validate_endpoint(v, path, endpoint_url);
    if let Some(r) = role_arn
        && (!r.starts_with("arn:aws") || !r.contains(":role/"))
    {
        v.error(
            &format!("{path}.role_arn"),
            format!("{r:?} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
        );
    }
    (v.error_count() == before).then(|| Access {
        region: region.to_owned(),
        endpoint_url: endpoint_url.clone(),
        role_arn: role_arn.clone(),
    })
}

/// Checks `{path}.endpoint_url`.
pub fn validate_endpoint(
    v: &mut crate::config::Validator<'_>,
    path: &str,
    endpoint_url: &Option<String>,
) {
    if let Some(u) = endpoint_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        v.error(
            &format!("{path}.endpoint_url"),
            format!("{u:?} is not an http(s) URL"),
        );
    }
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
