//! The ALB/NLB source (Elastic Load Balancing v2): DescribeLoadBalancers finds the
//! application, network and gateway load balancers of a region (all, by name, or by tag),
//! DescribeTargetGroups their target groups, DescribeTargetHealth counts each group's targets
//! by state (the v2 form of the classic ELB's healthy and unhealthy host counts, judged per target
//! group by TG_HEALTHY_HOST_COUNT and TG_UNHEALTHY_HOST_COUNT), and DescribeListeners finds
//! the HTTPS and TLS listeners, each of which becomes a certificate target as on classic
//! load balancers.
//!
//! `lb_metrics:` and `nlb_metrics:` read the CloudWatch metrics of the application load
//! balancers (AWS/ApplicationELB) and network load balancers (AWS/NetworkELB) found, as
//! `lb_metrics:` does for classic ones. Their dimension `LoadBalancer` is "the final portion
//! of the load balancer ARN" (`app/<name>/<id>`, `net/<name>/<id>`: "CloudWatch metrics for
//! your Application Load Balancer" and "... Network Load Balancer", Elastic Load Balancing
//! docs). `exported_tags:` and `search_tags:` work as YACE's ([`super::tagging`]), with the
//! tags of the Resource Groups Tagging API (GetResources, resource type
//! `elasticloadbalancing:loadbalancer`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::cloudwatch::{RawResourceMetrics, Resource, ResourceMetrics};
use super::elb::{ListenerCertificates, RawListenerCertificates};
use super::tagging::{RawSearchTag, Tagged, Tagging, Tags};
use crate::config::{CommonTarget, Duration, Validator};
use crate::model::SourceKind;
use crate::model::{Family, Kind, Sample};
use crate::model::{PollError, Polled, Poller};
use crate::sources::discovery::Found;
use crate::sources::source::{Context, Source, SourceTarget, Spawn};

/// DescribeTags takes at most 20 resource ARNs per call (ELBv2 API reference).
const TAG_BATCH: usize = 20;

/// CloudWatch namespaces of application and network load balancers.
pub const ALB_NAMESPACE: &str = "AWS/ApplicationELB";
pub const NLB_NAMESPACE: &str = "AWS/NetworkELB";
const GATEWAY_NAMESPACE: &str = "AWS/GatewayELB";

/// What `lb_metrics:` reads of an application load balancer unless `metrics:` says
/// otherwise: requests, the targets' response time, responses by class from the targets and
/// the load balancer's own 5XX ("CloudWatch metrics for your Application Load Balancer").
pub const DEFAULT_ALB_METRICS: [&str; 7] = [
    "RequestCount",
    "TargetResponseTime",
    "HTTPCode_Target_2XX_Count",
    "HTTPCode_Target_3XX_Count",
    "HTTPCode_Target_4XX_Count",
    "HTTPCode_Target_5XX_Count",
    "HTTPCode_ELB_5XX_Count",
];

/// What `nlb_metrics:` reads of a network load balancer unless `metrics:` says otherwise
/// ("CloudWatch metrics for your Network Load Balancer").
pub const DEFAULT_NLB_METRICS: [&str; 3] = ["ActiveFlowCount", "NewFlowCount", "ProcessedBytes"];

/// Target health states (ELBv2 API reference, TargetHealth.State). `healthy` counts as
/// healthy; `unhealthy` and `unavailable` as unhealthy; `initial`, `draining` and `unused`
/// (not registered with an enabled zone, or no load balancer) as neither.
pub const STATES: [&str; 7] = [
    "initial",
    "healthy",
    "unhealthy",
    "unhealthy.draining",
    "unused",
    "draining",
    "unavailable",
];

/// One entry of `elbv2:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// AWS region, e.g. `us-west-2`.
    pub region: String,
    /// Endpoint override (a VPC endpoint; the tests point it at moto).
    pub endpoint_url: Option<String>,
    /// Role to assume for this target (cross-account).
    pub role_arn: Option<String>,
    /// Load balancer names to report. Default: all of the region.
    pub load_balancers: Option<Vec<String>>,
    /// Only load balancers carrying all of these tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The certificate targets made from HTTPS and TLS listeners.
    #[serde(default)]
    pub listener_certificates: RawListenerCertificates,
    /// CloudWatch metrics of every application load balancer found (AWS/ApplicationELB,
    /// dimension LoadBalancer). Default: RequestCount, TargetResponseTime,
    /// HTTPCode_Target_2XX_Count..5XX and HTTPCode_ELB_5XX_Count; `{metrics: []}` reads none.
    #[serde(default)]
    pub lb_metrics: RawResourceMetrics,
    /// CloudWatch metrics of every network load balancer found (AWS/NetworkELB, dimension
    /// LoadBalancer). Default: ActiveFlowCount, NewFlowCount, ProcessedBytes.
    #[serde(default)]
    pub nlb_metrics: RawResourceMetrics,
    /// Tag keys put on the `lb_metrics` and `nlb_metrics` series as `tag_<Key>` labels (YACE's
    /// `exportedTagsOnMetrics`). Giving this or `search_tags` also exports
    /// `aws_applicationelb_info` and `aws_networkelb_info` with every tag.
    #[serde(default)]
    pub exported_tags: Vec<String>,
    /// Only load balancers with every one of these tags, its value matching the expression
    /// (YACE's `searchTags`), e.g. `[{key: Environment, value: "^prod"}]`.
    #[serde(default)]
    pub search_tags: Vec<RawSearchTag>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// A validated ELBv2 target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub access: super::Access,
    pub load_balancers: Option<Vec<String>>,
    pub tags: BTreeMap<String, String>,
    pub listener_certificates: ListenerCertificates,
    pub lb_metrics: ResourceMetrics,
    pub nlb_metrics: ResourceMetrics,
    pub tagging: Tagging,
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
            super::validate_access(v, path, &self.region, &self.endpoint_url, &self.role_arn);
        let listener_certificates = self
            .listener_certificates
            .validate(v, &format!("{path}.listener_certificates"));
        let tagging = super::tagging::validate(v, path, &self.exported_tags, &self.search_tags);
        let access = access?;
        let lb_metrics = self.lb_metrics.validate_natural(
            v,
            &format!("{path}.lb_metrics"),
            &access,
            ALB_NAMESPACE,
            &DEFAULT_ALB_METRICS,
        );
        let nlb_metrics = self.nlb_metrics.validate_natural(
            v,
            &format!("{path}.nlb_metrics"),
            &access,
            NLB_NAMESPACE,
            &DEFAULT_NLB_METRICS,
        );
        Some(Settings {
            access,
            load_balancers: self.load_balancers.clone(),
            tags: self.tags.clone(),
            listener_certificates: listener_certificates?,
            lb_metrics: lb_metrics?,
            nlb_metrics: nlb_metrics?,
            tagging: tagging?,
        })
    }
}

/// What headroom reports of one load balancer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lb {
    pub arn: String,
    pub name: String,
    pub dns_name: String,
    pub kind: String,
    pub scheme: String,
    pub state: String,
    /// (protocol, port, certificate ARN of the default certificate)
    pub listeners: Vec<(String, i32, String)>,
    /// Its tags, when they were read.
    pub tags: Tags,
}

/// The value of the `LoadBalancer` dimension: the ARN after `loadbalancer/`
/// (`app/<name>/<id>`), empty for an ARN without it.
pub fn dimension_of(arn: &str) -> &str {
    arn.split_once(":loadbalancer/")
        .map(|(_, d)| d)
        .unwrap_or_default()
}

/// The CloudWatch namespace of a load balancer type (`application`, `network`, `gateway`).
pub fn namespace_of(kind: &str) -> Option<&'static str> {
    match kind {
        "application" => Some(ALB_NAMESPACE),
        "network" => Some(NLB_NAMESPACE),
        "gateway" => Some(GATEWAY_NAMESPACE),
        _ => None,
    }
}

/// One target group and its targets by state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    pub name: String,
    pub protocol: String,
    pub port: i32,
    pub target_type: String,
    /// Names of the reported load balancers it serves.
    pub load_balancers: Vec<String>,
    pub states: BTreeMap<String, u32>,
}

impl Group {
    pub fn healthy(&self) -> u32 {
        self.states.get("healthy").copied().unwrap_or(0)
    }

    pub fn unhealthy(&self) -> u32 {
        ["unhealthy", "unhealthy.draining", "unavailable"]
            .iter()
            .map(|s| self.states.get(*s).copied().unwrap_or(0))
            .sum()
    }
}

/// The families of one poll (pure).
pub fn families(lbs: &[Lb], groups: &[Group]) -> Vec<Family> {
    let mut info = Family::new(
        "headroom_elbv2_load_balancer",
        "Application, network and gateway load balancers found, in labels.",
        Kind::Info,
    );
    let mut listeners = Family::new(
        "headroom_elbv2_listener",
        "Listeners; HTTPS and TLS ones carry their default certificate's ARN.",
        Kind::Info,
    );
    for lb in lbs {
        let name = || ("load_balancer".into(), lb.name.clone());
        info.samples.push(Sample {
            labels: vec![
                name(),
                ("type".into(), lb.kind.clone()),
                ("scheme".into(), lb.scheme.clone()),
                ("state".into(), lb.state.clone()),
                ("dns_name".into(), lb.dns_name.clone()),
            ],
            value: 1.0,
        });
        for (proto, port, cert) in &lb.listeners {
            listeners.samples.push(Sample {
                labels: vec![
                    name(),
                    ("protocol".into(), proto.clone()),
                    ("port".into(), port.to_string()),
                    ("certificate".into(), cert.clone()),
                ],
                value: 1.0,
            });
        }
    }
    let mut group_info = Family::new(
        "headroom_elbv2_target_group",
        "Target groups of the load balancers found; load_balancer lists those it serves, comma-separated.",
        Kind::Info,
    );
    let mut by_state = Family::new(
        "headroom_elbv2_targets",
        "Registered targets by health state (DescribeTargetHealth).",
        Kind::Gauge,
    );
    let mut healthy = Family::new(
        "headroom_elbv2_healthy_targets",
        "Targets in state healthy.",
        Kind::Gauge,
    );
    let mut unhealthy = Family::new(
        "headroom_elbv2_unhealthy_targets",
        "Targets in state unhealthy, unhealthy.draining or unavailable.",
        Kind::Gauge,
    );
    for g in groups {
        let tg = || ("target_group".into(), g.name.clone());
        group_info.samples.push(Sample {
            labels: vec![
                tg(),
                ("load_balancer".into(), g.load_balancers.join(",")),
                ("protocol".into(), g.protocol.clone()),
                ("port".into(), g.port.to_string()),
                ("target_type".into(), g.target_type.clone()),
            ],
            value: 1.0,
        });
        for state in STATES {
            by_state.samples.push(Sample {
                labels: vec![tg(), ("state".into(), state.to_owned())],
                value: f64::from(g.states.get(state).copied().unwrap_or(0)),
            });
        }
        healthy.samples.push(Sample {
            labels: vec![tg()],
            value: f64::from(g.healthy()),
        });
        unhealthy.samples.push(Sample {
            labels: vec![tg()],
            value: f64::from(g.unhealthy()),
        });
    }
    let mut out = vec![Family::single(
        "headroom_elbv2_up",
        "1 if DescribeLoadBalancers succeeded.",
        Kind::Gauge,
        1.0,
    )];
    out.extend(
        [info, listeners, group_info, by_state, healthy, unhealthy]
            .into_iter()
            .filter(|f| !f.samples.is_empty()),
    );
    out
}

pub struct Elbv2Poller {
    settings: Settings,
    client: super::Limited<aws_sdk_elasticloadbalancingv2::Client>,
    tagging: super::Limited<aws_sdk_resourcegroupstagging::Client>,
    api: super::ApiCounters,
}

impl std::fmt::Debug for Elbv2Poller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elbv2Poller")
            .field("region", &self.settings.access.region)
            .finish_non_exhaustive()
    }
}

const SERVICE: &str = "elasticloadbalancingv2";

impl Elbv2Poller {
    pub fn new(s: &Settings, clients: &super::Clients) -> Self {
        let api = super::ApiCounters::default();
        Elbv2Poller {
            settings: s.clone(),
            client: clients.client(&s.access, &api),
            tagging: clients.client(&s.access, &api),
            api,
        }
    }

    fn fail<E>(&self, op: &str, e: aws_sdk_elasticloadbalancingv2::error::SdkError<E>) -> PollError
    where
        E: aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata
            + std::error::Error
            + 'static,
    {
        super::call_failed(&self.api, SERVICE, &self.settings.access.region, op, e)
    }

    async fn load_balancers(
        &self,
        client: &aws_sdk_elasticloadbalancingv2::Client,
    ) -> Result<Vec<Lb>, PollError> {
        let mut lbs = Vec::new();
        let mut marker: Option<String> = None;
        let mut pages = super::Pages::default();
        loop {
            self.api.request(SERVICE, "DescribeLoadBalancers");
            let out = client
                .describe_load_balancers()
                .set_names(self.settings.load_balancers.clone())
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("DescribeLoadBalancers", e))?;
            for d in out.load_balancers() {
                lbs.push(Lb {
                    arn: d.load_balancer_arn().unwrap_or_default().to_owned(),
                    name: d.load_balancer_name().unwrap_or_default().to_owned(),
                    dns_name: d.dns_name().unwrap_or_default().to_owned(),
                    kind: d
                        .r#type()
                        .map(|t| t.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                    scheme: d
                        .scheme()
                        .map(|t| t.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                    state: d
                        .state()
                        .and_then(|s| s.code())
                        .map(|c| c.as_str())
                        .unwrap_or_default()
                        .to_owned(),
                    listeners: Vec::new(),
                    tags: Tags::new(),
                });
            }
            marker = pages.after(
                out.next_marker(),
                &self.settings.access.region,
                "DescribeLoadBalancers",
            )?;
            if marker.is_none() {
                break;
            }
        }
        if !self.settings.tags.is_empty() {
            let mut keep: Vec<String> = Vec::new();
            for chunk in lbs.chunks(TAG_BATCH) {
                self.api.request(SERVICE, "DescribeTags");
                let out = client
                    .describe_tags()
                    .set_resource_arns(Some(chunk.iter().map(|l| l.arn.clone()).collect()))
                    .send()
                    .await
                    .map_err(|e| self.fail("DescribeTags", e))?;
                for td in out.tag_descriptions() {
                    let has = |k: &str, v: &str| {
                        td.tags()
                            .iter()
                            .any(|t| t.key() == Some(k) && t.value() == Some(v))
                    };
                    if self.settings.tags.iter().all(|(k, v)| has(k, v)) {
                        keep.extend(td.resource_arn().map(str::to_owned));
                    }
                }
            }
            lbs.retain(|l| keep.contains(&l.arn));
        }
        let tagging = &self.settings.tagging;
        if tagging.is_on() && !lbs.is_empty() {
            let client = self.tagging.turn().await;
            let mut tags = super::tagging::get_resources(
                &client,
                &self.api,
                &self.settings.access.region,
                "elasticloadbalancing:loadbalancer",
            )
            .await?;
            for lb in &mut lbs {
                lb.tags = tags.remove(&lb.arn).unwrap_or_default();
            }
            lbs.retain(|l| tagging.selects(&l.tags));
        }
        Ok(lbs)
    }
}

impl Poller for Elbv2Poller {
    type Discovered = Found;

    async fn poll(&self) -> Result<Polled<Found>, PollError> {
        let client = self.client.turn().await;
        let mut lbs = self.load_balancers(&client).await?;
        let mut groups: BTreeMap<String, Group> = BTreeMap::new(); // by ARN
        for lb in &mut lbs {
            let mut marker: Option<String> = None;
            let mut pages = super::Pages::default();
            loop {
                self.api.request(SERVICE, "DescribeListeners");
                let out = client
                    .describe_listeners()
                    .load_balancer_arn(&lb.arn)
                    .set_marker(marker.clone())
                    .send()
                    .await
                    .map_err(|e| self.fail("DescribeListeners", e))?;
                for l in out.listeners() {
                    lb.listeners.push((
                        l.protocol()
                            .map(|p| p.as_str())
                            .unwrap_or_default()
                            .to_owned(),
                        l.port().unwrap_or(0),
                        l.certificates()
                            .iter()
                            .find(|c| c.is_default() != Some(false))
                            .and_then(|c| c.certificate_arn())
                            .unwrap_or_default()
                            .to_owned(),
                    ));
                }
                marker = pages.after(
                    out.next_marker(),
                    &self.settings.access.region,
                    "DescribeListeners",
                )?;
                if marker.is_none() {
                    break;
                }
            }
            let mut marker: Option<String> = None;
            let mut pages = super::Pages::default();
            loop {
                self.api.request(SERVICE, "DescribeTargetGroups");
                let out = match client
                    .describe_target_groups()
                    .load_balancer_arn(&lb.arn)
                    .set_marker(marker.clone())
                    .send()
                    .await
                {
                    Ok(out) => out,
                    // A load balancer with no target group yet: moto answers
                    // TargetGroupNotFound where an empty list is meant.
                    Err(e)
                        if aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata::code(
                            &e,
                        ) == Some("TargetGroupNotFound") =>
                    {
                        break;
                    }
                    Err(e) => return Err(self.fail("DescribeTargetGroups", e)),
                };
                for tg in out.target_groups() {
                    let arn = tg.target_group_arn().unwrap_or_default().to_owned();
                    let g = groups.entry(arn).or_insert_with(|| Group {
                        name: tg.target_group_name().unwrap_or_default().to_owned(),
                        protocol: tg
                            .protocol()
                            .map(|p| p.as_str())
                            .unwrap_or_default()
                            .to_owned(),
                        port: tg.port().unwrap_or(0),
                        target_type: tg
                            .target_type()
                            .map(|p| p.as_str())
                            .unwrap_or_default()
                            .to_owned(),
                        ..Group::default()
                    });
                    g.load_balancers.push(lb.name.clone());
                }
                marker = pages.after(
                    out.next_marker(),
                    &self.settings.access.region,
                    "DescribeTargetGroups",
                )?;
                if marker.is_none() {
                    break;
                }
            }
        }
        for (arn, g) in &mut groups {
            self.api.request(SERVICE, "DescribeTargetHealth");
            let out = client
                .describe_target_health()
                .target_group_arn(arn)
                .send()
                .await
                .map_err(|e| self.fail("DescribeTargetHealth", e))?;
            for d in out.target_health_descriptions() {
                let state = d
                    .target_health()
                    .and_then(|h| h.state())
                    .map(|s| s.as_str())
                    .unwrap_or("unknown");
                *g.states.entry(state.to_owned()).or_default() += 1;
            }
        }
        let groups: Vec<Group> = groups.into_values().collect();
        let mut out = families(&lbs, &groups);
        let s = &self.settings;
        if s.tagging.is_on() {
            out.extend(info_families(&lbs, &s.access.region));
        }
        out.extend(self.api.families());
        let lc = &s.listener_certificates;
        let mut discovered = if lc.children.enabled {
            lc.targets(
                lbs.iter().map(|lb| {
                    (
                        lb.name.as_str(),
                        lb.dns_name.as_str(),
                        lb.listeners.as_slice(),
                    )
                }),
                &["HTTPS", "TLS"],
            )
        } else {
            Vec::new()
        };
        let (albs, nlbs) = resources(&lbs, &s.tagging);
        discovered.extend(
            super::cloudwatch::resources_target(
                &[(&s.lb_metrics, &albs), (&s.nlb_metrics, &nlbs)],
                lc.children.timeout,
            )
            .map(|t| t.map(Found::Cloudwatch)),
        );
        Ok(Polled {
            families: out,
            discovered: Some(discovered),
        })
    }
}

/// The CloudWatch resources of the application and of the network load balancers (pure).
pub fn resources(lbs: &[Lb], tagging: &Tagging) -> (Vec<Resource>, Vec<Resource>) {
    let mut albs = Vec::new();
    let mut nlbs = Vec::new();
    for lb in lbs {
        let dim = dimension_of(&lb.arn);
        if dim.is_empty() {
            continue;
        }
        let mut labels = super::tagging::resource_labels(&lb.arn);
        labels.extend(tagging.labels(&lb.tags));
        let r = Resource {
            dimensions: vec![("LoadBalancer".to_owned(), dim.to_owned())],
            labels,
        };
        match namespace_of(&lb.kind) {
            Some(ALB_NAMESPACE) => albs.push(r),
            Some(NLB_NAMESPACE) => nlbs.push(r),
            _ => {}
        }
    }
    (albs, nlbs)
}

/// `aws_applicationelb_info`, `aws_networkelb_info`, `aws_gatewayelb_info` of the load
/// balancers found (pure).
pub fn info_families(lbs: &[Lb], region: &str) -> Vec<Family> {
    let mut by_ns: BTreeMap<&'static str, Vec<Tagged>> = BTreeMap::new();
    for lb in lbs {
        if let Some(ns) = namespace_of(&lb.kind) {
            by_ns.entry(ns).or_default().push(Tagged {
                arn: lb.arn.clone(),
                tags: lb.tags.clone(),
            });
        }
    }
    by_ns
        .into_iter()
        .map(|(ns, r)| super::tagging::info_family(ns, region, &r))
        .collect()
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("elbv2", "headroom_elbv2_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = Elbv2Poller;

    fn poller(&self, at: Spawn<'_>) -> Elbv2Poller {
        Elbv2Poller::new(self, at.aws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_sum_into_healthy_and_unhealthy() {
        let g = Group {
            states: BTreeMap::from([
                ("healthy".into(), 3),
                ("unhealthy".into(), 1),
                ("unavailable".into(), 1),
                ("draining".into(), 2),
                ("initial".into(), 1),
            ]),
            ..Group::default()
        };
        assert_eq!((g.healthy(), g.unhealthy()), (3, 2));
        let f = families(&[], &[g]);
        let by_state = f
            .iter()
            .find(|f| f.name == "headroom_elbv2_targets")
            .unwrap();
        // Every state is exported, zero or not, so a state appearing is a change in value,
        // not a new series.
        assert_eq!(by_state.samples.len(), STATES.len());
    }

    #[test]
    fn load_balancer_dimension_is_the_arn_suffix() {
        // The ARN form of the ELBv2 API reference's examples.
        let arn = "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/app/my-load-balancer/50dc6c495c0c9188";
        assert_eq!(dimension_of(arn), "app/my-load-balancer/50dc6c495c0c9188");
        assert_eq!(dimension_of("nonsense"), "");
        let lb = |kind: &str, arn: &str| Lb {
            arn: arn.into(),
            kind: kind.into(),
            tags: [("team".to_owned(), "storage".to_owned())].into(),
            ..Lb::default()
        };
        let tagging = Tagging {
            exported: vec!["team".into()],
            search: vec![],
        };
        let (albs, nlbs) = resources(
            &[
                lb("application", arn),
                lb(
                    "network",
                    "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/net/n/1",
                ),
                lb(
                    "gateway",
                    "arn:aws:elasticloadbalancing:us-west-2:123456789012:loadbalancer/gwy/g/2",
                ),
            ],
            &tagging,
        );
        assert_eq!((albs.len(), nlbs.len()), (1, 1));
        assert_eq!(nlbs[0].dimensions[0].1, "net/n/1");
        assert_eq!(
            albs[0].labels,
            vec![
                ("name".to_owned(), arn.to_owned()),
                ("account_id".to_owned(), "123456789012".to_owned()),
                ("tag_team".to_owned(), "storage".to_owned()),
            ]
        );
    }
}
