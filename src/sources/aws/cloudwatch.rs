//! The CloudWatch source: configured metrics of one region read with GetMetricData, packed
//! by [`super::plan`], named as YACE names them ([`super::naming`]).
//!
//! One target is one region (and account): all of its metrics share its calls. Each
//! series is the newest datapoint of its window; its age is exported beside it so checks and
//! alerts can tell settled data from fresh, still-revised points.

use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration as StdDuration;

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat, ScanBy};
use serde::Deserialize;

use super::naming::{dimension_label, metric_name};
use super::plan::{MetricRequest, Plan, plan};
use crate::config::{CommonTarget, Duration, Validator};
use crate::model::{ErrorKind, PollError, Poller};
use crate::model::{Family, Kind, Sample};
use crate::model::{Polled, SourceKind, TargetOf};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};
use std::convert::Infallible;

/// Statistics CloudWatch knows: the five standard ones and percentiles `p0`..`p100`
/// (YACE accepts `^p(\d{1,2}(\.\d{0,2})?|100)$`).
pub(crate) fn valid_statistic(s: &str) -> bool {
    match s {
        "Average" | "Sum" | "Minimum" | "Maximum" | "SampleCount" => true,
        _ => s.strip_prefix('p').is_some_and(|p| {
            p == "100"
                || match p.split_once('.') {
                    None => (1..=2).contains(&p.len()) && p.chars().all(|c| c.is_ascii_digit()),
                    Some((a, b)) => {
                        (1..=2).contains(&a.len())
                            && b.len() <= 2
                            && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit())
                    }
                }
        }),
    }
}

/// How far behind now a window ends unless `delay:` says otherwise: "to get accurate 1 minute
/// period metrics 2 minutes of delay is required" (YACE issue #1796,
/// prometheus-community/yet-another-cloudwatch-exporter on GitHub).
pub const DEFAULT_DELAY_S: u32 = 120;

/// The statistic a metric is read with when `statistics:` is not given and the source reads
/// each metric its own way (`lb_metrics:`): `Sum` for counts, `Maximum` for a queue's length,
/// `Average` otherwise. The CloudWatch docs name the useful statistics per metric ("Elastic Load
/// Balancing User Guide", CloudWatch metrics for your Classic / Application / Network Load
/// Balancer): `Sum` for RequestCount, the HTTPCode_* counts, ProcessedBytes, NewFlowCount and
/// the connection and reset counts, `Maximum` for SurgeQueueLength, `Average` for Latency,
/// TargetResponseTime, the host counts and ActiveFlowCount.
pub fn natural_statistic(metric: &str) -> &'static str {
    const SUM: [&str; 7] = [
        "RequestCount",
        "ProcessedBytes",
        "ProcessedPackets",
        "NewFlowCount",
        "SpilloverCount",
        "ConsumedLCUs",
        "RejectedConnectionCount",
    ];
    if metric == "SurgeQueueLength" {
        "Maximum"
    } else if SUM.contains(&metric)
        || metric.starts_with("HTTPCode_")
        || metric.starts_with("TCP_")
        || metric.ends_with("ConnectionCount")
        || metric.ends_with("ErrorCount")
        || metric.ends_with("_Count")
    {
        "Sum"
    } else {
        "Average"
    }
}

/// One resource whose metrics a [`ResourceMetrics`] reads: its dimensions, and the labels
/// its series carry besides them (`name`, `account_id`, `tag_*`; see [`super::tagging`]).
#[derive(Debug, Clone, Default)]
pub struct Resource {
    pub dimensions: Vec<(String, String)>,
    pub labels: Vec<(String, String)>,
}

/// The CloudWatch metrics of resources another source discovers (`node_metrics:` of
/// `elasticache:`, `lb_metrics:` of `elb:` and `elbv2:`): one discovered cloudwatch target,
/// `<target>/cloudwatch`, whose queries follow the resources found, so a check like LATENCY or
/// CPU_UTILIZATION covers every resource without listing them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResourceMetrics {
    /// Metric names of the source's namespace, read per resource; `[]` reads none.
    pub metrics: Option<Vec<String>>,
    /// Default `[Average]`; for `lb_metrics:`, each metric's useful statistic (`Sum` for
    /// counts, `Average` for latencies, `Maximum` for SurgeQueueLength).
    pub statistics: Option<Vec<String>>,
    /// Datapoint period. Default 60s.
    pub period: Option<Duration>,
    /// How often they are read. Default: the period (a shorter one pays for the same points).
    pub interval: Option<Duration>,
    /// Endpoint override for CloudWatch. Default: the target's `endpoint_url`.
    pub endpoint_url: Option<String>,
}

/// Validated [`RawResourceMetrics`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMetrics {
    pub access: super::Access,
    pub namespace: &'static str,
    pub metrics: Vec<String>,
    /// Empty: each metric's [`natural_statistic`].
    pub statistics: Vec<String>,
    pub period: StdDuration,
    pub interval: StdDuration,
}

impl RawResourceMetrics {
    /// `access` is the discovering target's; `default_metrics` what is read unless
    /// `metrics:` says otherwise.
    pub fn validate(
        &self,
        v: &mut Validator<'_>,
        path: &str,
        access: &super::Access,
        namespace: &'static str,
        default_metrics: &[&str],
    ) -> Option<ResourceMetrics> {
        let stats = self
            .statistics
            .clone()
            .unwrap_or_else(|| vec!["Average".to_owned()]);
        self.validate_with(v, path, access, namespace, default_metrics, stats)
    }

    /// [`RawResourceMetrics::validate`] where a metric without `statistics:` is read with its
    /// [`natural_statistic`].
    pub fn validate_natural(
        &self,
        v: &mut Validator<'_>,
        path: &str,
        access: &super::Access,
        namespace: &'static str,
        default_metrics: &[&str],
    ) -> Option<ResourceMetrics> {
        let stats = self.statistics.clone().unwrap_or_default();
        if self.statistics.as_ref().is_some_and(Vec::is_empty) {
            v.error(
                &format!("{path}.statistics"),
                "give at least one statistic, or leave it out",
            );
        }
        self.validate_with(v, path, access, namespace, default_metrics, stats)
    }

    fn validate_with(
        &self,
        v: &mut Validator<'_>,
        path: &str,
        access: &super::Access,
        namespace: &'static str,
        default_metrics: &[&str],
        statistics: Vec<String>,
    ) -> Option<ResourceMetrics> {
        let before = v.error_count();
        super::validate_endpoint(v, path, &self.endpoint_url);
        for s in &statistics {
            if !valid_statistic(s) {
                v.error(
                    &format!("{path}.statistics"),
                    format!("{s:?} is not a statistic (Average, Sum, Minimum, Maximum, SampleCount, p0..p100)"),
                );
            }
        }
        let period = self
            .period
            .map(|d| d.0)
            .unwrap_or(StdDuration::from_secs(60));
        if period.as_secs() == 0 || !period.as_secs().is_multiple_of(60) {
            v.error(
                &format!("{path}.period"),
                format!("{namespace} metrics have 60s resolution: give a multiple of 60s"),
            );
        }
        let interval = self.interval.map(|d| d.0).unwrap_or(period);
        if interval.is_zero() {
            v.error(&format!("{path}.interval"), "must be greater than 0");
        }
        (v.error_count() == before).then(|| ResourceMetrics {
            access: super::Access {
                endpoint_url: self.endpoint_url.clone().or(access.endpoint_url.clone()),
                ..access.clone()
            },
            namespace,
            metrics: self
                .metrics
                .clone()
                .unwrap_or_else(|| default_metrics.iter().map(|m| (*m).to_owned()).collect()),
            statistics,
            period,
            interval,
        })
    }
}

impl ResourceMetrics {
    /// The cloudwatch target for these resources, each given by its dimensions; `None` when
    /// there is nothing to read.
    pub fn target(
        &self,
        resources: &[Vec<(String, String)>],
        timeout: StdDuration,
    ) -> Option<TargetOf<Settings>> {
        let resources: Vec<Resource> = resources
            .iter()
            .map(|d| Resource {
                dimensions: d.clone(),
                labels: Vec::new(),
            })
            .collect();
        resources_target(&[(self, &resources)], timeout)
    }

    /// The requests for these resources, with the extra labels of each.
    fn requests(&self, resources: &[Resource]) -> Vec<(MetricRequest, Vec<(String, String)>)> {
        let period = self.period.as_secs() as u32;
        resources
            .iter()
            .flat_map(|r| {
                self.metrics.iter().map(move |m| {
                    let mut dimensions = r.dimensions.clone();
                    dimensions.sort();
                    let statistics = if self.statistics.is_empty() {
                        vec![natural_statistic(m).to_owned()]
                    } else {
                        self.statistics.clone()
                    };
                    (
                        MetricRequest {
                            region: self.access.region.clone(),
                            namespace: self.namespace.to_owned(),
                            metric: m.clone(),
                            dimensions,
                            statistics,
                            period_s: period,
                            length_s: 5 * period,
                            delay_s: DEFAULT_DELAY_S,
                        },
                        r.labels.clone(),
                    )
                })
            })
            .collect()
    }
}

/// One cloudwatch target for the resources of several [`ResourceMetrics`] of one discovering
/// target (`elbv2:` reads AWS/ApplicationELB and AWS/NetworkELB), polled at the shortest of
/// their intervals; `None` when there is nothing to read.
pub fn resources_target(
    parts: &[(&ResourceMetrics, &[Resource])],
    timeout: StdDuration,
) -> Option<TargetOf<Settings>> {
    let mut requests = Vec::new();
    let mut labels = Vec::new();
    let mut interval: Option<StdDuration> = None;
    let mut access = None;
    for (m, resources) in parts {
        let r = m.requests(resources);
        if r.is_empty() {
            continue;
        }
        interval = Some(interval.map_or(m.interval, |i| i.min(m.interval)));
        access.get_or_insert_with(|| m.access.clone());
        for (req, l) in r {
            requests.push(req);
            labels.push(l);
        }
    }
    let access = access?;
    Some(TargetOf {
        name: "cloudwatch".into(),
        interval: interval?,
        timeout: timeout.max(StdDuration::from_secs(10)),
        region: Some(std::sync::Arc::from(access.region.as_str())),
        source: Settings {
            access,
            nil_to_zero: vec![false; requests.len()],
            labels,
            requests,
            budget_usd_per_month: None,
            configured_interval: None,
        },
    })
}

/// Stretches the interval of every cloudwatch target by one factor so that their poll plans
/// cost at most `budget` USD a month together; returns what it did, for the log. Each
/// target keeps its configured interval in its settings, to export beside the effective one.
pub fn fit_budget(
    mut targets: Vec<(&str, &mut StdDuration, &mut Settings)>,
    budget: f64,
) -> Vec<String> {
    let cost = |interval: StdDuration, s: &Settings| {
        plan(&s.requests).usd_per_month(interval.as_secs_f64())
    };
    let total: f64 = targets.iter().map(|(_, i, s)| cost(**i, s)).sum();
    let mut notices = Vec::new();
    for (name, interval, s) in targets.iter_mut() {
        let before = cost(**interval, s);
        s.budget_usd_per_month = Some(budget);
        if total <= budget {
            continue;
        }
        let configured = **interval;
        let stretched = StdDuration::from_secs_f64(configured.as_secs_f64() * total / budget);
        // Whole seconds, rounded up, so the sum stays within the budget.
        let stretched =
            StdDuration::from_secs(stretched.as_secs() + u64::from(stretched.subsec_nanos() > 0));
        s.configured_interval = Some(configured);
        **interval = stretched;
        let after = cost(stretched, s);
        notices.push(format!(
            "cloudwatch target {name}: interval stretched from {}s to {}s (${before:.2} -> ${after:.2}/month) so that all cloudwatch targets (${total:.2}/month at their configured intervals) fit aws.monthly_budget_usd ${budget:.2}",
            configured.as_secs_f64(),
            stretched.as_secs_f64(),
        ));
    }
    notices
}

/// One metric of a `cloudwatch:` target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetric {
    /// e.g. `AWS/ELB`.
    pub namespace: String,
    /// e.g. `Latency`.
    pub name: String,
    /// Dimension name to value, e.g. `{LoadBalancerName: osdp-storage-elb-proddc1}`.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// `Average`, `Sum`, `Minimum`, `Maximum`, `SampleCount`, or a percentile like `p99`.
    pub statistics: Vec<String>,
    /// Overrides the target's period.
    pub period: Option<Duration>,
    /// Overrides the target's delay, for a metric that settles later than the others (YACE
    /// ignores a metric-level delay and uses the job's: YACE issue #230).
    pub delay: Option<Duration>,
    /// Export 0 rather than nothing when the window has no datapoint (count-type metrics).
    #[serde(default)]
    pub nil_to_zero: bool,
}

/// One entry of `cloudwatch:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// AWS region, e.g. `eu-west-1`.
    pub region: String,
    /// Endpoint override (a VPC endpoint; the tests point it at moto).
    pub endpoint_url: Option<String>,
    /// Role to assume for this target (cross-account), e.g.
    /// `arn:aws:iam::123456789012:role/headroom-readonly`.
    pub role_arn: Option<String>,
    /// Datapoint period. Default 60s.
    pub period: Option<Duration>,
    /// Window length. Default: five periods.
    pub length: Option<Duration>,
    /// How far behind now the window ends, so that CloudWatch has settled the points.
    /// Default 2m: "to get accurate 1 minute period metrics 2 minutes of delay is required"
    /// (YACE issue #1796).
    pub delay: Option<Duration>,
    pub metrics: Vec<RawMetric>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// A validated CloudWatch target.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub access: super::Access,
    pub requests: Vec<MetricRequest>,
    pub nil_to_zero: Vec<bool>,
    /// Labels of each request's series besides `region` and the dimensions (`name`,
    /// `account_id`, `tag_*` of a discovered resource); empty for configured metrics.
    pub labels: Vec<Vec<(String, String)>>,
    /// `aws.monthly_budget_usd`, if set.
    pub budget_usd_per_month: Option<f64>,
    /// The interval before the budget stretched it, if it did.
    pub configured_interval: Option<StdDuration>,
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
        let before = v.error_count();
        let access =
            super::validate_access(v, path, &self.region, &self.endpoint_url, &self.role_arn);
        let secs = |d: Option<Duration>, dflt: u64| d.map(|d| d.0.as_secs()).unwrap_or(dflt);
        let period = secs(self.period, 60);
        let length = secs(self.length, period * 5);
        let delay = secs(self.delay, u64::from(DEFAULT_DELAY_S));
        if period == 0 || period % 60 != 0 && ![1, 5, 10, 30].contains(&period) {
            v.error(
                &format!("{path}.period"),
                "CloudWatch periods are 1s, 5s, 10s, 30s or a multiple of 60s",
            );
        }
        if length < period {
            v.error(&format!("{path}.length"), "must be at least one period");
        }
        let mut requests = Vec::new();
        let mut nil = Vec::new();
        for (i, m) in self.metrics.iter().enumerate() {
            let mp = format!("{path}.metrics[{i}]");
            if m.statistics.is_empty() {
                v.error(&format!("{mp}.statistics"), "give at least one statistic");
            }
            for s in &m.statistics {
                if !valid_statistic(s) {
                    v.error(&format!("{mp}.statistics"), format!("{s:?} is not a statistic (Average, Sum, Minimum, Maximum, SampleCount, p0..p100)"));
                }
            }
            requests.push(MetricRequest {
                region: self.region.clone(),
                namespace: m.namespace.clone(),
                metric: m.name.clone(),
                dimensions: m
                    .dimensions
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                statistics: m.statistics.clone(),
                period_s: m
                    .period
                    .map(|d| d.0.as_secs() as u32)
                    .unwrap_or(period as u32),
                length_s: length as u32,
                delay_s: m
                    .delay
                    .map(|d| d.0.as_secs() as u32)
                    .unwrap_or(delay as u32),
            });
            nil.push(m.nil_to_zero);
        }
        let access = access?;
        (v.error_count() == before).then_some({
            Settings {
                access,
                requests,
                nil_to_zero: nil,
                labels: Vec::new(),
                budget_usd_per_month: None,
                configured_interval: None,
            }
        })
    }
}

#[derive(Debug, Default)]
struct Counters {
    metrics_requested: f64,
}

pub struct CloudwatchPoller {
    settings: Settings,
    /// The target's poll interval, for the cost estimate.
    interval: StdDuration,
    plan: Plan,
    client: super::Limited<aws_sdk_cloudwatch::Client>,
    counters: Mutex<Counters>,
    api: super::ApiCounters,
}

impl std::fmt::Debug for CloudwatchPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudwatchPoller")
            .field("region", &self.settings.access.region)
            .finish_non_exhaustive()
    }
}

impl CloudwatchPoller {
    pub fn new(s: &Settings, interval: StdDuration, clients: &super::Clients) -> Self {
        let api = super::ApiCounters::default();
        CloudwatchPoller {
            plan: plan(&s.requests),
            settings: s.clone(),
            interval,
            client: clients.client(&s.access, &api),
            counters: Mutex::default(),
            api,
        }
    }

    /// The plan, for `bench/cloudwatch-plan` and the cost metric.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    fn count_error(&self, code: &str) {
        self.api.error("cloudwatch", code);
    }
}

/// What a call's window is aligned to: the least common multiple of its queries' periods.
fn call_period(requests: &[MetricRequest], queries: &[(usize, String)]) -> i64 {
    fn gcd(a: i64, b: i64) -> i64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    queries
        .iter()
        .map(|(i, _)| i64::from(requests[*i].period_s.max(1)))
        .fold(1, |l, p| l / gcd(l, p) * p)
}

/// The newest datapoint of each query: (request index, statistic) -> (value, timestamp).
type Results = BTreeMap<(usize, String), (f64, f64)>;

fn now_s() -> f64 {
    crate::time::unix_now_f64()
}

impl Poller for CloudwatchPoller {
    type Discovered = Infallible;

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let client = self.client.turn().await;
        let now = now_s() as i64;
        let mut results: Results = BTreeMap::new();
        let mut failed_calls = 0;
        for call in &self.plan.calls {
            // The window ends on a boundary of every period in the call (their least common
            // multiple), so its last bucket of each query is a whole one: ending inside a
            // bucket would export that bucket's partial aggregate. Aligning to the largest
            // period instead cut a 120s bucket in half when a 180s metric shared the call.
            let period = call_period(&self.settings.requests, &call.queries);
            let end = (now - call.delay_s as i64).div_euclid(period) * period;
            // The start on a boundary too (the window grows to whole buckets): CloudWatch
            // rounds an unaligned start down, moto starts its buckets there.
            let start = (end - call.length_s as i64).div_euclid(period) * period;
            let mut queries = Vec::with_capacity(call.queries.len());
            for (n, (i, stat)) in call.queries.iter().enumerate() {
                let r = &self.settings.requests[*i];
                let mut metric = Metric::builder()
                    .namespace(&r.namespace)
                    .metric_name(&r.metric);
                for (k, v) in &r.dimensions {
                    metric = metric.dimensions(Dimension::builder().name(k).value(v).build());
                }
                let ms = MetricStat::builder()
                    .metric(metric.build())
                    .period(r.period_s as i32)
                    .stat(stat)
                    .build();
                queries.push(
                    MetricDataQuery::builder()
                        .id(format!("q{n}"))
                        .metric_stat(ms)
                        .return_data(true)
                        .build(),
                );
            }
            let mut token: Option<String> = None;
            let mut pages = super::Pages::default();
            loop {
                let out = client
                    .get_metric_data()
                    .start_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(start))
                    .end_time(aws_sdk_cloudwatch::primitives::DateTime::from_secs(end))
                    .scan_by(ScanBy::TimestampDescending)
                    .set_metric_data_queries(Some(queries.clone()))
                    .set_next_token(token.clone())
                    .send()
                    .await;
                self.api.request("cloudwatch", "GetMetricData");
                {
                    let mut c = self.counters.lock();
                    if token.is_none() {
                        c.metrics_requested += call.queries.len() as f64;
                    }
                }
                let out = match out {
                    Ok(o) => o,
                    Err(e) => {
                        // A failed call never fails the others (YACE drops only that batch too);
                        // its series are absent this poll.
                        let code = aws_sdk_cloudwatch::error::ProvideErrorMetadata::code(&e)
                            .unwrap_or("unknown")
                            .to_owned();
                        tracing::warn!(region = %self.settings.access.region, error = %super::error_chain(&e), "GetMetricData failed");
                        self.count_error(&code);
                        failed_calls += 1;
                        break;
                    }
                };
                for r in out.metric_data_results() {
                    let Some(n) = r
                        .id()
                        .and_then(|id| id.strip_prefix('q'))
                        .and_then(|n| n.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    let Some((i, stat)) = call.queries.get(n) else {
                        continue;
                    };
                    // Newest first (TimestampDescending); keep the newest across pages.
                    if let (Some(v), Some(t)) = (r.values().first(), r.timestamps().first()) {
                        let t = t.as_secs_f64();
                        let e = results.entry((*i, stat.clone())).or_insert((*v, t));
                        if t > e.1 {
                            *e = (*v, t);
                        }
                    }
                }
                token = match pages.next(out.next_token()) {
                    Ok(t) => t,
                    // The call's datapoints so far are kept (newest first, the window's
                    // newest is on the first page); the call counts as failed.
                    Err(e) => {
                        tracing::warn!(region = %self.settings.access.region, "GetMetricData: {e}");
                        failed_calls += 1;
                        break;
                    }
                };
                if token.is_none() {
                    break;
                }
            }
        }
        if failed_calls == self.plan.calls.len() && failed_calls > 0 {
            return Err(PollError::new(
                ErrorKind::Protocol,
                format!(
                    "{}: every GetMetricData call failed",
                    self.settings.access.region
                ),
            ));
        }
        Ok(self.families(&results, now as f64).into())
    }
}

impl CloudwatchPoller {
    fn families(&self, results: &Results, now: f64) -> Vec<Family> {
        let reqs = &self.settings.requests;
        // One consistent label set per name (YACE's EnsureLabelConsistency): the union of
        // the dimension labels of every series of that name, missing ones empty.
        let no_labels = Vec::new();
        let extra = |i: usize| self.settings.labels.get(i).unwrap_or(&no_labels);
        let mut label_names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (i, r) in reqs.iter().enumerate() {
            for s in &r.statistics {
                let set = label_names
                    .entry(metric_name(&r.namespace, &r.metric, s))
                    .or_default();
                set.extend(r.dimensions.iter().map(|(k, _)| dimension_label(k)));
                set.extend(extra(i).iter().map(|(k, _)| k.clone()));
            }
        }
        let all_dims: BTreeSet<String> = label_names.values().flatten().cloned().collect();
        let mut fams: BTreeMap<String, Family> = BTreeMap::new();
        let mut age = Family::new(
            "headroom_cloudwatch_datapoint_age_seconds",
            "Age of the newest datapoint behind each CloudWatch series: recent points may still be revised.",
            Kind::Gauge,
        );
        for (i, r) in reqs.iter().enumerate() {
            for s in &r.statistics {
                let name = metric_name(&r.namespace, &r.metric, s);
                let labels_for = |set: &BTreeSet<String>| {
                    let mut l: Vec<(std::borrow::Cow<'static, str>, String)> =
                        vec![("region".into(), r.region.clone())];
                    for d in set {
                        let v = r
                            .dimensions
                            .iter()
                            .find(|(k, _)| &dimension_label(k) == d)
                            .or_else(|| extra(i).iter().find(|(k, _)| k == d))
                            .map(|(_, v)| v.clone())
                            .unwrap_or_default();
                        l.push((d.clone().into(), v));
                    }
                    l
                };
                let value = match results.get(&(i, s.clone())) {
                    Some((v, t)) => {
                        let mut l = labels_for(&all_dims);
                        l.insert(0, ("series".into(), name.clone()));
                        age.samples.push(Sample {
                            labels: l,
                            value: (now - t).max(0.0),
                        });
                        Some(*v)
                    }
                    None if self.settings.nil_to_zero.get(i).copied().unwrap_or(false) => Some(0.0),
                    None => None,
                };
                if let Some(v) = value {
                    fams.entry(name.clone())
                        .or_insert_with(|| {
                            Family::new(
                                name.clone(),
                                format!("CloudWatch {} {} {s}", r.namespace, r.metric),
                                Kind::Gauge,
                            )
                        })
                        .samples
                        .push(Sample {
                            labels: labels_for(&label_names[&name]),
                            value: v,
                        });
                }
            }
        }
        let c = self.counters.lock();
        let mut out: Vec<Family> = fams.into_values().collect();
        out.push(Family::single(
            "headroom_cloudwatch_up",
            "1 if at least one GetMetricData call of the latest poll succeeded.",
            Kind::Gauge,
            1.0,
        ));
        if !age.samples.is_empty() {
            out.push(age);
        }
        out.extend(self.api.families());
        out.push(Family::single(
            "headroom_cloudwatch_metrics_requested",
            "Metric queries sent in GetMetricData calls (what CloudWatch bills per 1,000).",
            Kind::Counter,
            c.metrics_requested,
        ));
        let interval = self.interval.as_secs_f64();
        out.push(Family::single(
            "headroom_cloudwatch_estimated_cost_usd_per_month",
            "GetMetricData cost of this target's poll plan at $0.01 per 1,000 metrics (up to 5 statistics of a metric in one call bill as one), over a 30-day month.",
            Kind::Gauge,
            self.plan.usd_per_month(interval),
        ));
        out.push(Family::single(
            "headroom_cloudwatch_interval_seconds",
            "The interval this target is polled at (aws.monthly_budget_usd may have stretched it).",
            Kind::Gauge,
            interval,
        ));
        if let Some(configured) = self.settings.configured_interval {
            out.push(Family::single(
                "headroom_cloudwatch_configured_interval_seconds",
                "The interval the config asks for, before aws.monthly_budget_usd stretched it.",
                Kind::Gauge,
                configured.as_secs_f64(),
            ));
        }
        if let Some(b) = self.settings.budget_usd_per_month {
            out.push(Family::single(
                "headroom_cloudwatch_budget_usd_per_month",
                "aws.monthly_budget_usd: what GetMetricData may cost over every cloudwatch target.",
                Kind::Gauge,
                b,
            ));
        }
        out
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("cloudwatch", "headroom_cloudwatch_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = CloudwatchPoller;

    fn poller(&self, at: Spawn<'_>) -> CloudwatchPoller {
        CloudwatchPoller::new(self, at.interval, at.aws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_statistics_of_load_balancer_metrics() {
        for m in [
            "RequestCount",
            "HTTPCode_Backend_5XX",
            "HTTPCode_ELB_5XX",
            "HTTPCode_Target_2XX_Count",
            "NewFlowCount",
            "ProcessedBytes",
            "TCP_Target_Reset_Count",
            "ActiveConnectionCount",
        ] {
            assert_eq!(natural_statistic(m), "Sum", "{m}");
        }
        for m in [
            "Latency",
            "TargetResponseTime",
            "HealthyHostCount",
            "UnHealthyHostCount",
            "ActiveFlowCount",
        ] {
            assert_eq!(natural_statistic(m), "Average", "{m}");
        }
        assert_eq!(natural_statistic("SurgeQueueLength"), "Maximum");
    }

    #[test]
    fn resources_of_two_namespaces_make_one_target_with_their_labels() {
        let access = crate::sources::aws::Access {
            region: "eu-west-1".into(),
            endpoint_url: None,
            role_arn: None,
        };
        let rm = |ns: &'static str, metrics: &[&str], secs: u64| ResourceMetrics {
            access: access.clone(),
            namespace: ns,
            metrics: metrics.iter().map(|m| (*m).to_owned()).collect(),
            statistics: vec![],
            period: StdDuration::from_secs(60),
            interval: StdDuration::from_secs(secs),
        };
        let alb = rm(
            "AWS/ApplicationELB",
            &["RequestCount", "TargetResponseTime"],
            120,
        );
        let nlb = rm("AWS/NetworkELB", &["ActiveFlowCount"], 60);
        let r = |d: &str| Resource {
            dimensions: vec![("LoadBalancer".into(), d.into())],
            labels: vec![("tag_team".into(), "storage".into())],
        };
        let t = resources_target(
            &[(&alb, &[r("app/a/1")]), (&nlb, &[r("net/n/2")])],
            StdDuration::from_secs(5),
        )
        .unwrap();
        assert_eq!(t.interval, StdDuration::from_secs(60));
        let s = &t.source;
        assert_eq!(s.requests.len(), 3);
        assert_eq!(s.labels.len(), 3);
        assert_eq!(s.requests[0].statistics, ["Sum"]);
        assert_eq!(s.requests[1].statistics, ["Average"]);
        assert_eq!(s.requests[2].namespace, "AWS/NetworkELB");
        assert_eq!(
            s.labels[2],
            vec![("tag_team".to_owned(), "storage".to_owned())]
        );
        let none = rm("AWS/ApplicationELB", &[], 60);
        assert!(resources_target(&[(&none, &[r("app/a/1")])], StdDuration::from_secs(5)).is_none());
    }

    #[test]
    fn a_call_window_ends_on_every_period_boundary() {
        let req = |period_s| MetricRequest {
            region: "eu-west-1".into(),
            namespace: "AWS/ELB".into(),
            metric: "Latency".into(),
            dimensions: Vec::new(),
            statistics: vec!["Average".into()],
            period_s,
            length_s: 720,
            delay_s: 120,
        };
        let r = [req(120), req(180), req(60)];
        let q = |i: &[usize]| -> Vec<(usize, String)> {
            i.iter().map(|i| (*i, "Average".to_owned())).collect()
        };
        assert_eq!(call_period(&r, &q(&[0, 1, 2])), 360);
        assert_eq!(call_period(&r, &q(&[0, 2])), 120);
        assert_eq!(call_period(&r, &q(&[2])), 60);
    }

    #[test]
    fn statistics() {
        for s in [
            "Average",
            "Sum",
            "Minimum",
            "Maximum",
            "SampleCount",
            "p99",
            "p99.9",
            "p50",
            "p100",
            "p0",
        ] {
            assert!(valid_statistic(s), "{s}");
        }
        for s in ["average", "p", "p999", "p99.999", "max", "p1000", ""] {
            assert!(!valid_statistic(s), "{s}");
        }
    }
}
