//! AWS sources: CloudWatch (metrics of a region) and RDS (instance facts), with what they
//! share: the client factory ([`clients`]: the SDK configuration per region, endpoint and
//! role, and the limit on calls in flight) and the request and error counters every AWS
//! source exports.

pub mod backups;
pub mod clients;
pub mod cloudwatch;
pub mod cost;
pub mod elasticache;
pub mod elb;
pub mod elbv2;
pub mod naming;
pub mod plan;
pub mod posture;
pub mod rds;
pub mod rds_token;
pub mod route53;
pub mod tagging;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

pub use clients::{Clients, Limited};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

use crate::model::{Family, Kind, Sample};

/// The pagination tokens (`Marker`, `NextToken`) a paginated call has been given so far. A
/// service that hands back a token it already gave would have the poll ask for the same page
/// until its timeout, billing a call each time; the SDK's own paginators stop on a repeated
/// token for that reason, and so does every paginated loop here.
#[derive(Debug, Default)]
pub struct Pages {
    seen: std::collections::HashSet<String>,
}

impl Pages {
    /// The token to send for the next page: `Ok(None)` after the last page, `Err` when the
    /// service repeats a token.
    pub fn next(&mut self, token: Option<&str>) -> Result<Option<String>, &'static str> {
        match token {
            None => Ok(None),
            Some(t) if !self.seen.insert(t.to_owned()) => Err(
                "the service gave a pagination token it had already given (a page that would repeat forever)",
            ),
            Some(t) => Ok(Some(t.to_owned())),
        }
    }

    /// [`Pages::next`] for a poll: a repeated token is a `protocol` error of `operation` in
    /// `region`, worded as the SDK's call errors are.
    pub fn after(
        &mut self,
        token: Option<&str>,
        region: &str,
        operation: &str,
    ) -> Result<Option<String>, crate::model::PollError> {
        self.next(token).map_err(|e| {
            crate::model::PollError::new(
                crate::model::ErrorKind::Protocol,
                format!("{region} {operation}: {e}"),
            )
        })
    }
}

/// `aws:` in the config: what every AWS target of the process shares.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShared {
    /// At most this many AWS API calls in flight at once, over every AWS target. Default 5
    /// (YACE's `-cloudwatch-concurrency` default, in its README's flag table).
    pub max_concurrent_requests: Option<usize>,
    /// What GetMetricData may cost per month over every `cloudwatch:` target, in USD. When
    /// the poll plans at their intervals would cost more, every cloudwatch target's interval
    /// is stretched by the same factor to fit, and headroom says so at start.
    pub monthly_budget_usd: Option<f64>,
}

/// Validated [`RawShared`].
#[derive(Debug, Clone, PartialEq)]
pub struct Shared {
    pub max_concurrent_requests: usize,
    pub monthly_budget_usd: Option<f64>,
}

/// Default of `aws.max_concurrent_requests`.
pub const DEFAULT_CONCURRENCY: usize = 5;

impl RawShared {
    pub fn validate(&self, v: &mut crate::config::Validator<'_>) -> Shared {
        let n = self.max_concurrent_requests.unwrap_or(DEFAULT_CONCURRENCY);
        if n == 0 {
            v.error("aws.max_concurrent_requests", "must be at least 1");
        }
        if let Some(b) = self.monthly_budget_usd
            && !(b.is_finite() && b > 0.0)
        {
            v.error("aws.monthly_budget_usd", "must be a positive amount of USD");
        }
        Shared {
            max_concurrent_requests: n.max(1),
            monthly_budget_usd: self.monthly_budget_usd,
        }
    }
}

/// Where and as whom an AWS target calls: every AWS source's config has these.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Access {
    pub region: String,
    /// Endpoint override for every service the target calls (a VPC endpoint; moto in tests).
    pub endpoint_url: Option<String>,
    /// Role to assume (STS AssumeRole) on top of the default credentials.
    pub role_arn: Option<String>,
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
) -> crate::model::PollError
where
    E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    use crate::model::ErrorKind;
    use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
    let code = ProvideErrorMetadata::code(&e)
        .unwrap_or("unknown")
        .to_owned();
    api.error(service, &code);
    let kind = match &e {
        SdkError::DispatchFailure(_) => ErrorKind::Connect,
        SdkError::TimeoutError(_) => ErrorKind::Timeout,
        _ if is_throttle(&code) => ErrorKind::Throttled,
        _ if code.contains("AccessDenied")
            || code.contains("Unauthorized")
            || code.contains("Signature") =>
        {
            ErrorKind::Auth
        }
        _ => ErrorKind::Protocol,
    };
    crate::model::PollError::new(kind, format!("{region} {operation}: {}", error_chain(&e)))
}

/// An error and its sources as one line, `outer: inner: innermost`, each level's own text
/// once. The SDK's `DisplayErrorContext` appends the whole error's `Debug` (the raw HTTP
/// response with its headers and body) to the chain, which no status line should carry.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        // Some levels repeat their source's text in their own: keep it once.
        if !text.is_empty() && !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out.replace('\n', " ")
}

/// Error codes AWS services use for rate limits (Query services: `Throttling`; JSON ones:
/// `ThrottlingException`; EC2-style: `RequestLimitExceeded`; S3: `SlowDown`).
pub fn is_throttle(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "SlowDown"
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

/// Requests by (service, operation), errors by (service, code), retries by (service,
/// operation, code).
#[derive(Debug, Default)]
struct Tallies {
    requests: BTreeMap<(&'static str, &'static str), f64>,
    errors: BTreeMap<(&'static str, String), f64>,
    retries: BTreeMap<(&'static str, String, String), f64>,
}

/// `headroom_aws_requests_total{service,operation}`,
/// `headroom_aws_errors_total{service,code}` and
/// `headroom_aws_retries_total{service,operation,code}` of one target. Clones share the
/// counts (the SDK client's retry interceptor holds one).
#[derive(Debug, Default, Clone)]
pub struct ApiCounters {
    inner: Arc<Mutex<Tallies>>,
}

impl ApiCounters {
    pub fn request(&self, service: &'static str, operation: &'static str) {
        *self
            .lock()
            .requests
            .entry((service, operation))
            .or_default() += 1.0;
    }

    pub fn error(&self, service: &'static str, code: &str) {
        *self
            .lock()
            .errors
            .entry((service, code.to_owned()))
            .or_default() += 1.0;
    }

    fn retry(&self, service: &'static str, operation: &str, code: &str) {
        *self
            .lock()
            .retries
            .entry((service, operation.to_owned(), code.to_owned()))
            .or_default() += 1.0;
    }

    pub fn requests(&self, service: &'static str, operation: &'static str) -> f64 {
        self.lock()
            .requests
            .get(&(service, operation))
            .copied()
            .unwrap_or(0.0)
    }

    /// An interceptor for an SDK client of `service` that counts its retries here.
    pub fn retry_counter(&self, service: &'static str) -> RetryCounter {
        RetryCounter {
            api: self.clone(),
            service,
            attempts: AtomicU32::new(0),
            last_code: Mutex::new(String::new()),
        }
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, Tallies> {
        self.inner.lock()
    }

    pub fn families(&self) -> Vec<Family> {
        let g = self.lock();
        let mut req = Family::new(
            "headroom_aws_requests",
            "AWS API requests made, by service and operation.",
            Kind::Counter,
        );
        for ((service, op), n) in &g.requests {
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
        for ((service, code), n) in &g.errors {
            errs.samples.push(Sample {
                labels: vec![
                    ("service".into(), (*service).into()),
                    ("code".into(), code.clone()),
                ],
                value: *n,
            });
        }
        let mut retries = Family::new(
            "headroom_aws_retries",
            "AWS API attempts retried by the SDK (exponential backoff with jitter), by the error code of the attempt that failed: Throttling, ThrottlingException and RequestLimitExceeded are throttles.",
            Kind::Counter,
        );
        for ((service, op, code), n) in &g.retries {
            retries.samples.push(Sample {
                labels: vec![
                    ("service".into(), (*service).into()),
                    ("operation".into(), op.clone()),
                    ("code".into(), code.clone()),
                ],
                value: *n,
            });
        }
        [req, errs, retries]
            .into_iter()
            .filter(|f| !f.samples.is_empty())
            .collect()
    }
}

/// Counts the SDK's retries. The SDK retries throttling and transient errors itself (standard
/// mode: 3 attempts, exponential backoff with full jitter); this sees every attempt, so a
/// second attempt of an operation is a retry, and the failed attempt's error code says why.
/// One client makes one call at a time (a target's calls are sequential), which is what the
/// per-interceptor attempt count relies on.
#[derive(Debug)]
pub struct RetryCounter {
    api: ApiCounters,
    service: &'static str,
    attempts: AtomicU32,
    last_code: Mutex<String>,
}

impl Intercept for RetryCounter {
    fn name(&self) -> &'static str {
        "headroom-retry-counter"
    }

    fn read_before_execution(
        &self,
        _ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.attempts.store(0, Ordering::Relaxed);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.attempts.fetch_add(1, Ordering::Relaxed) > 0 {
            let op = cfg
                .load::<Metadata>()
                .map(|m| m.name())
                .unwrap_or("unknown");
            let code = self.last_code.lock().clone();
            self.api.retry(self.service, op, &code);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        ctx: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let code = match ctx.response() {
            None => "connection".to_owned(),
            Some(r) if r.status().is_success() => return Ok(()),
            Some(r) => error_code(
                r.status().as_u16(),
                |h| r.headers().get(h),
                r.body().bytes().unwrap_or_default(),
            ),
        };
        *self.last_code.lock() = code;
        Ok(())
    }
}

/// The AWS error code of a failed response: the `x-amzn-query-error` header (JSON and CBOR
/// protocols of Query-compatible services, such as CloudWatch), `x-amzn-ErrorType` (JSON
/// protocols), or the `<Code>` element of a Query/XML error body; else `http_<status>`.
fn error_code<'a>(status: u16, header: impl Fn(&str) -> Option<&'a str>, body: &[u8]) -> String {
    if let Some(v) = header("x-amzn-query-error") {
        return v.split(';').next().unwrap_or(v).to_owned();
    }
    if let Some(v) = header("x-amzn-errortype") {
        return v.split(':').next().unwrap_or(v).to_owned();
    }
    let body = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    if let Some(start) = body.find("<Code>")
        && let Some(len) = body[start + 6..].find("</Code>")
    {
        return body[start + 6..start + 6 + len].to_owned();
    }
    format!("http_{status}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);
    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|l| l as _)
        }
    }

    #[test]
    fn an_sdk_error_is_its_chain_of_texts_without_the_debug_dump() {
        use aws_sdk_rds::error::{DisplayErrorContext, SdkError};
        use aws_sdk_rds::operation::describe_db_instances::DescribeDBInstancesError;
        let inner = Layer(
            "io error",
            Some(Box::new(Layer("Connection refused (os error 111)", None))),
        );
        let e: SdkError<DescribeDBInstancesError, ()> = SdkError::construction_failure(inner);
        let line = error_chain(&e);
        assert_eq!(
            line,
            "failed to construct request: io error: Connection refused (os error 111)"
        );
        // What the SDK's own context printer adds, and this leaves out.
        assert!(
            DisplayErrorContext(&e)
                .to_string()
                .contains("ConstructionFailure(")
        );
        assert!(!line.contains("ConstructionFailure("), "{line}");
        // A level that repeats its source's text keeps it once; new lines become spaces.
        let twice = Layer(
            "timed out\nafter 5s",
            Some(Box::new(Layer("after 5s", None))),
        );
        assert_eq!(error_chain(&twice), "timed out after 5s");
    }

    #[test]
    fn error_codes_from_headers_and_bodies() {
        let none = |_: &str| None;
        // Query protocol error body (ELB, RDS, ElastiCache).
        assert_eq!(
            error_code(
                400,
                none,
                b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"
            ),
            "Throttling"
        );
        assert_eq!(
            error_code(
                400,
                |h| (h == "x-amzn-query-error").then_some("Throttling;Sender"),
                b""
            ),
            "Throttling"
        );
        assert_eq!(
            error_code(
                400,
                |h| (h == "x-amzn-errortype")
                    .then_some("ThrottlingException:http://internal.amazon.com/"),
                b"{}"
            ),
            "ThrottlingException"
        );
        assert_eq!(error_code(503, none, b"<html>busy</html>"), "http_503");
    }

    /// Found by tests/it/fuzz_parsers.rs: an RDS or CloudWatch response whose `Marker` or
    /// `NextToken` came back each time had the poll ask for the same page until its timeout.
    #[test]
    fn a_repeated_pagination_token_ends_the_pages() {
        let mut p = Pages::default();
        assert_eq!(p.next(Some("A")), Ok(Some("A".to_owned())));
        assert_eq!(p.next(Some("B")), Ok(Some("B".to_owned())));
        assert!(p.next(Some("A")).is_err());
        assert_eq!(Pages::default().next(None), Ok(None));
    }
}
