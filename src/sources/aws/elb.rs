//! The classic ELB source: DescribeLoadBalancers discovers the load balancers of a region
//! (all, by name, or by tag), DescribeInstanceHealth counts their healthy and unhealthy
//! instances (for the HEALTHY_HOST_COUNT, UNHEALTHY_HOST_COUNT and ELB_HEALTHY_STATUS checks),
//! and the listeners are exported, HTTPS/SSL ones with their certificate, for the
//! certificate check to follow. Series carry a `load_balancer` label.
//!
//! `lb_metrics:` reads the AWS/ELB metrics of every load balancer found (by default the
//! request count, latency and the HTTP response counts by class, [`DEFAULT_LB_METRICS`]);
//! `exported_tags:` puts tags on those series and `search_tags:` selects load balancers by
//! tag ([`super::tagging`]). Tags come from ELB's own DescribeTags, which serves classic load
//! balancers everywhere (moto's Tagging API lists them under a resource type of its own);
//! their ARNs, which DescribeLoadBalancers does not return, are built from the account STS
//! GetCallerIdentity names.
//!
//! Each HTTPS or SSL listener becomes a certificate target of its own (a discovered `tls`
//! target named `<this target>/<load balancer>:<port>`, connecting to the load balancer's DNS
//! name), so ELB_CERTIFICATE runs on every listener without configuring them one by one.

use std::collections::BTreeMap;

use std::path::PathBuf;

use serde::Deserialize;

use super::cloudwatch::{RawResourceMetrics, Resource, ResourceMetrics};
use super::tagging::{RawSearchTag, Tagged, Tagging, Tags};
use crate::config::{CommonTarget, Duration, Validator};
use crate::model::SourceKind;
use crate::model::TargetOf;
use crate::model::{Family, Kind, Sample};
use crate::model::{PollError, Polled, Poller};
use crate::sources::discovery::Found;
use crate::sources::discovery::{Children, RawChildren};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};
use crate::sources::tls;

/// DescribeTags takes at most 20 load balancer names per call (ELB API reference).
const TAG_BATCH: usize = 20;

/// The CloudWatch namespace of classic load balancers.
pub const NAMESPACE: &str = "AWS/ELB";

/// What `lb_metrics:` reads unless `metrics:` says otherwise: the request count, latency and
/// the responses by class, from the backends and from the load balancer itself ("CloudWatch
/// metrics for your Classic Load Balancer", Elastic Load Balancing docs). Each is read with
/// its useful statistic (`Sum` for the counts, `Average` for Latency).
pub const DEFAULT_LB_METRICS: [&str; 7] = [
    "RequestCount",
    "Latency",
    "HTTPCode_Backend_2XX",
    "HTTPCode_Backend_3XX",
    "HTTPCode_Backend_4XX",
    "HTTPCode_Backend_5XX",
    "HTTPCode_ELB_5XX",
];

/// One entry of `elb:` in the config.
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
    /// Load balancer names to report. Default: all of the region.
    pub load_balancers: Option<Vec<String>>,
    /// Only load balancers carrying all of these tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The certificate targets made from HTTPS and SSL listeners.
    #[serde(default)]
    pub listener_certificates: RawListenerCertificates,
    /// CloudWatch metrics of every load balancer found (AWS/ELB, dimension
    /// LoadBalancerName), e.g. `{metrics: [Latency]}` for LATENCY. Default: RequestCount,
    /// Latency, HTTPCode_Backend_2XX..5XX and HTTPCode_ELB_5XX; `{metrics: []}` reads none.
    #[serde(default)]
    pub lb_metrics: RawResourceMetrics,
    /// Tag keys put on the `lb_metrics` series as `tag_<Key>` labels (YACE's
    /// `exportedTagsOnMetrics`), e.g. `[Team]`. Giving this or `search_tags` also exports
    /// `aws_elb_info` with every tag.
    #[serde(default)]
    pub exported_tags: Vec<String>,
    /// Only load balancers with every one of these tags, its value matching the expression
    /// (YACE's `searchTags`), e.g. `[{key: Environment, value: "^prod"}]`.
    #[serde(default)]
    pub search_tags: Vec<RawSearchTag>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// `listener_certificates:` of an `elb:` target.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListenerCertificates {
    /// Set to false to make no certificate targets. Default true.
    pub enabled: Option<bool>,
    /// Poll interval of each certificate target. Default: `defaults.interval`.
    pub interval: Option<Duration>,
    /// Poll timeout of each certificate target. Default: `defaults.timeout`.
    pub timeout: Option<Duration>,
    /// Connect elsewhere than `<DNS name>:<port>`: `{"dns-name:443": "host:port"}`.
    #[serde(default)]
    pub connect_to: BTreeMap<String, String>,
    /// Name checked against the certificate and sent as SNI, by load balancer name. Default:
    /// the load balancer's DNS name (a certificate for your own domain then fails the name
    /// check: give the domain here).
    #[serde(default)]
    pub server_names: BTreeMap<String, String>,
    /// PEM file with extra trust anchors (a private CA), on top of the system store.
    pub ca_file: Option<PathBuf>,
}

impl RawListenerCertificates {
    pub fn validate(&self, v: &mut Validator<'_>, path: &str) -> Option<ListenerCertificates> {
        let children = RawChildren {
            enabled: self.enabled,
            interval: self.interval,
            timeout: self.timeout,
            connect_to: self.connect_to.clone(),
        }
        .validate(v, path);
        for name in self.server_names.values() {
            if rustls::pki_types::ServerName::try_from(name.as_str()).is_err() {
                v.error(
                    &format!("{path}.server_names"),
                    format!("{name:?} is not a DNS name or IP address"),
                );
            }
        }
        let ca_file = self.ca_file.as_ref().map(|f| v.relative(f));
        if let Some(f) = &ca_file
            && let Err(e) = tls::load_pem(f)
        {
            v.error(&format!("{path}.ca_file"), e);
            return None;
        }
        Some(ListenerCertificates {
            children: children?,
            server_names: self.server_names.clone(),
            ca_file,
        })
    }
}

/// Validated [`RawListenerCertificates`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerCertificates {
    pub children: Children,
    pub server_names: BTreeMap<String, String>,
    pub ca_file: Option<PathBuf>,
}

/// A validated classic ELB target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub access: super::Access,
    pub load_balancers: Option<Vec<String>>,
    pub tags: BTreeMap<String, String>,
    pub listener_certificates: ListenerCertificates,
    pub lb_metrics: ResourceMetrics,
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
            NAMESPACE,
            &DEFAULT_LB_METRICS,
        );
        Some(Settings {
            access,
            load_balancers: self.load_balancers.clone(),
            tags: self.tags.clone(),
            listener_certificates: listener_certificates?,
            lb_metrics: lb_metrics?,
            tagging: tagging?,
        })
    }
}

/// What headroom reports of one load balancer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Lb {
    pub name: String,
    pub dns_name: String,
    pub scheme: String,
    pub healthy: u32,
    pub unhealthy: u32,
    /// (protocol, port, certificate id)
    pub listeners: Vec<(String, i32, String)>,
    /// Its tags, when they were read.
    pub tags: Tags,
}

impl ListenerCertificates {
    /// The certificate target of a TLS listener (HTTPS and SSL on classic load balancers,
    /// HTTPS and TLS on ALB/NLB), named `<load balancer>:<port>`.
    pub fn target(&self, lb_name: &str, dns_name: &str, port: i32) -> TargetOf<Found> {
        let server_name = self
            .server_names
            .get(lb_name)
            .cloned()
            .unwrap_or_else(|| dns_name.to_owned());
        self.children.target(
            format!("{lb_name}:{port}"),
            Found::Tls(tls::Settings {
                address: self.children.address(dns_name, port),
                server_name,
                ca_file: self.ca_file.clone(),
                verify: true,
            }),
        )
    }
}

impl ListenerCertificates {
    /// The certificate targets of the listeners speaking one of `tls` (pure). Each load
    /// balancer is (name, DNS name, listeners as (protocol, port, certificate)); one without
    /// a DNS name has nothing to connect to.
    pub fn targets<'a>(
        &self,
        lbs: impl IntoIterator<Item = (&'a str, &'a str, &'a [(String, i32, String)])>,
        tls: &[&str],
    ) -> Vec<TargetOf<Found>> {
        lbs.into_iter()
            .filter(|(_, dns, _)| !dns.is_empty())
            .flat_map(|(name, dns, listeners)| {
                listeners
                    .iter()
                    .filter(|(proto, _, _)| tls.iter().any(|t| proto.eq_ignore_ascii_case(t)))
                    .map(move |(_, port, _)| self.target(name, dns, *port))
            })
            .collect()
    }
}

/// The certificate targets of a classic load balancer's HTTPS and SSL listeners (pure).
pub fn listener_targets(lbs: &[Lb], lc: &ListenerCertificates) -> Vec<TargetOf<Found>> {
    lc.targets(
        lbs.iter().map(|lb| {
            (
                lb.name.as_str(),
                lb.dns_name.as_str(),
                lb.listeners.as_slice(),
            )
        }),
        &["HTTPS", "SSL"],
    )
}

/// The families of one poll (pure).
pub fn families(lbs: &[Lb]) -> Vec<Family> {
    let mut info = Family::new(
        "headroom_elb_load_balancer",
        "Classic load balancers found, in labels.",
        Kind::Info,
    );
    let mut healthy = Family::new(
        "headroom_elb_healthy_instances",
        "Registered instances InService.",
        Kind::Gauge,
    );
    let mut unhealthy = Family::new(
        "headroom_elb_unhealthy_instances",
        "Registered instances not InService (OutOfService or Unknown).",
        Kind::Gauge,
    );
    let mut listeners = Family::new(
        "headroom_elb_listener",
        "Listeners; HTTPS and SSL ones carry their certificate (IAM or ACM ARN).",
        Kind::Info,
    );
    for lb in lbs {
        let l = |extra: Vec<(&'static str, String)>| {
            let mut v: Vec<(std::borrow::Cow<'static, str>, String)> =
                vec![("load_balancer".into(), lb.name.clone())];
            v.extend(extra.into_iter().map(|(k, x)| (k.into(), x)));
            v
        };
        info.samples.push(Sample {
            labels: l(vec![
                ("dns_name", lb.dns_name.clone()),
                ("scheme", lb.scheme.clone()),
            ]),
            value: 1.0,
        });
        healthy.samples.push(Sample {
            labels: l(vec![]),
            value: f64::from(lb.healthy),
        });
        unhealthy.samples.push(Sample {
            labels: l(vec![]),
            value: f64::from(lb.unhealthy),
        });
        for (proto, port, cert) in &lb.listeners {
            listeners.samples.push(Sample {
                labels: l(vec![
                    ("protocol", proto.clone()),
                    ("port", port.to_string()),
                    ("certificate", cert.clone()),
                ]),
                value: 1.0,
            });
        }
    }
    let mut out = vec![Family::single(
        "headroom_elb_up",
        "1 if DescribeLoadBalancers succeeded.",
        Kind::Gauge,
        1.0,
    )];
    out.extend(
        [info, healthy, unhealthy, listeners]
            .into_iter()
            .filter(|f| !f.samples.is_empty()),
    );
    out
}

pub struct ElbPoller {
    settings: Settings,
    client: super::Limited<aws_sdk_elasticloadbalancing::Client>,
    sts: super::Limited<aws_sdk_sts::Client>,
    /// The account, once STS has named it (it does not change under one set of credentials).
    account: parking_lot::Mutex<Option<String>>,
    api: super::ApiCounters,
}

impl std::fmt::Debug for ElbPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElbPoller")
            .field("region", &self.settings.access.region)
            .finish_non_exhaustive()
    }
}

impl ElbPoller {
    pub fn new(s: &Settings, clients: &super::Clients) -> Self {
        let api = super::ApiCounters::default();
        ElbPoller {
            settings: s.clone(),
            client: clients.client(&s.access, &api),
            sts: clients.client(&s.access, &api),
            account: parking_lot::Mutex::new(None),
            api,
        }
    }

    fn fail<E>(&self, op: &str, e: aws_sdk_elasticloadbalancing::error::SdkError<E>) -> PollError
    where
        E: aws_sdk_elasticloadbalancing::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        super::call_failed(
            &self.api,
            "elasticloadbalancing",
            &self.settings.access.region,
            op,
            e,
        )
    }

    /// The account of the credentials, asked of STS once.
    async fn account(&self) -> Result<String, PollError> {
        if let Some(a) = self.account.lock().clone() {
            return Ok(a);
        }
        let sts = self.sts.turn().await;
        let a = super::tagging::account(&sts, &self.api, &self.settings.access.region).await?;
        *self.account.lock() = Some(a.clone());
        Ok(a)
    }
}

/// The ARN of a classic load balancer (ELB API reference: `arn:aws:elasticloadbalancing:
/// region:account:loadbalancer/name`).
pub fn lb_arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{}:elasticloadbalancing:{region}:{account}:loadbalancer/{name}",
        super::tagging::partition(region)
    )
}

impl Poller for ElbPoller {
    type Discovered = Found;

    async fn poll(&self) -> Result<Polled<Found>, PollError> {
        let client = self.client.turn().await;
        let mut lbs: Vec<Lb> = Vec::new();
        let mut marker: Option<String> = None;
        let mut pages = super::Pages::default();
        loop {
            self.api
                .request("elasticloadbalancing", "DescribeLoadBalancers");
            let out = client
                .describe_load_balancers()
                .set_load_balancer_names(self.settings.load_balancers.clone())
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("DescribeLoadBalancers", e))?;
            for d in out.load_balancer_descriptions() {
                lbs.push(Lb {
                    name: d.load_balancer_name().unwrap_or_default().to_owned(),
                    dns_name: d.dns_name().unwrap_or_default().to_owned(),
                    scheme: d.scheme().unwrap_or_default().to_owned(),
                    listeners: d
                        .listener_descriptions()
                        .iter()
                        .filter_map(|ld| ld.listener())
                        .map(|l| {
                            (
                                l.protocol().to_owned(),
                                l.load_balancer_port(),
                                l.ssl_certificate_id().unwrap_or_default().to_owned(),
                            )
                        })
                        .collect(),
                    ..Lb::default()
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
        let tagging = &self.settings.tagging;
        if !self.settings.tags.is_empty() || tagging.is_on() {
            let mut keep: Vec<String> = Vec::new();
            let mut tags: BTreeMap<String, Tags> = BTreeMap::new();
            for chunk in lbs.chunks(TAG_BATCH) {
                self.api.request("elasticloadbalancing", "DescribeTags");
                let out = client
                    .describe_tags()
                    .set_load_balancer_names(Some(chunk.iter().map(|l| l.name.clone()).collect()))
                    .send()
                    .await
                    .map_err(|e| self.fail("DescribeTags", e))?;
                for td in out.tag_descriptions() {
                    let has = |k: &str, v: &str| {
                        td.tags()
                            .iter()
                            .any(|t| t.key() == k && t.value() == Some(v))
                    };
                    let all: Tags = td
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_owned(), t.value().unwrap_or_default().to_owned()))
                        .collect();
                    if self.settings.tags.iter().all(|(k, v)| has(k, v)) && tagging.selects(&all) {
                        keep.extend(td.load_balancer_name().map(str::to_owned));
                    }
                    if let Some(n) = td.load_balancer_name() {
                        tags.insert(n.to_owned(), all);
                    }
                }
            }
            lbs.retain(|l| keep.contains(&l.name));
            for lb in &mut lbs {
                lb.tags = tags.remove(&lb.name).unwrap_or_default();
            }
        }
        for lb in &mut lbs {
            self.api
                .request("elasticloadbalancing", "DescribeInstanceHealth");
            let out = client
                .describe_instance_health()
                .load_balancer_name(&lb.name)
                .send()
                .await
                .map_err(|e| self.fail("DescribeInstanceHealth", e))?;
            for s in out.instance_states() {
                if s.state() == Some("InService") {
                    lb.healthy += 1;
                } else {
                    lb.unhealthy += 1;
                }
            }
        }
        let lb_metrics = &self.settings.lb_metrics;
        // The account only names resources: when STS cannot be reached (an endpoint that
        // serves ELB alone), the poll goes on with `name` and `account_id` empty, and the
        // failed call counts in headroom_aws_errors_total.
        let account = if !lbs.is_empty() && (tagging.is_on() || !lb_metrics.metrics.is_empty()) {
            self.account().await.ok()
        } else {
            None
        };
        let region = &self.settings.access.region;
        let arn = |lb: &Lb| {
            account
                .as_deref()
                .map(|a| lb_arn(region, a, &lb.name))
                .unwrap_or_default()
        };
        let mut out = families(&lbs);
        if tagging.is_on() {
            let tagged: Vec<Tagged> = lbs
                .iter()
                .map(|lb| Tagged {
                    arn: arn(lb),
                    tags: lb.tags.clone(),
                })
                .collect();
            out.push(super::tagging::info_family(NAMESPACE, region, &tagged));
        }
        out.extend(self.api.families());
        let lc = &self.settings.listener_certificates;
        let mut discovered = if lc.children.enabled {
            listener_targets(&lbs, lc)
        } else {
            Vec::new()
        };
        let resources: Vec<Resource> = lbs
            .iter()
            .map(|lb| {
                let mut labels = super::tagging::resource_labels(&arn(lb));
                labels.extend(tagging.labels(&lb.tags));
                Resource {
                    dimensions: vec![("LoadBalancerName".to_owned(), lb.name.clone())],
                    labels,
                }
            })
            .collect();
        discovered.extend(
            super::cloudwatch::resources_target(&[(lb_metrics, &resources)], lc.children.timeout)
                .map(|t| t.map(Found::Cloudwatch)),
        );
        Ok(Polled {
            families: out,
            discovered: Some(discovered),
        })
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("elb", "headroom_elb_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = ElbPoller;

    fn poller(&self, at: Spawn<'_>) -> ElbPoller {
        ElbPoller::new(self, at.aws)
    }
}
