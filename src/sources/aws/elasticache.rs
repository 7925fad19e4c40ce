//! The ElastiCache source: DescribeCacheClusters with node info finds the clusters of a
//! region and their nodes. Each memcached node becomes a memcached target of its own (a
//! discovered target named `<this target>/<cluster>/<node>`, read with `stats` like any
//! other), and the nodes' CloudWatch metrics (CPUUtilization by default, for the
//! CPU_UTILIZATION check) are read by one discovered cloudwatch target,
//! `<this target>/cloudwatch`, whose queries follow the nodes found.

use serde::Deserialize;

use super::cloudwatch::{RawResourceMetrics, ResourceMetrics};
use crate::config::{CommonTarget, Duration, Validator};
use crate::model::SourceKind;
use crate::model::TargetOf;
use crate::model::{Family, Kind, Sample};
use crate::model::{PollError, Polled, Poller};
use crate::sources::discovery::Found;
use crate::sources::discovery::{Children, RawChildren};
use crate::sources::memcached;
use crate::sources::source::{Context, Source, SourceTarget, Spawn};

/// The CloudWatch namespace of ElastiCache and its per-node dimensions (ElastiCache user
/// guide, "Host-level metrics": CacheClusterId and CacheNodeId).
const NAMESPACE: &str = "AWS/ElastiCache";

/// One entry of `elasticache:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// AWS region, e.g. `eu-west-1`.
    pub region: String,
    /// Endpoint override (a VPC endpoint; the tests point it at moto).
    pub endpoint_url: Option<String>,
    /// Role to assume for this target (cross-account).
    pub role_arn: Option<String>,
    /// Cluster ids to report. Default: every cluster of the region.
    pub clusters: Option<Vec<String>>,
    /// How the memcached nodes found are polled.
    #[serde(default)]
    pub nodes: RawChildren,
    /// The memcached nodes found read `stats items` and `stats slabs` too and export the
    /// per-slab-class `memcached_slab_*` series (as a memcached target's `slabs`). Default:
    /// false.
    pub slabs: Option<bool>,
    /// The nodes' CloudWatch metrics (AWS/ElastiCache, dimensions CacheClusterId and
    /// CacheNodeId). Default `[CPUUtilization]`, for CPU_UTILIZATION.
    #[serde(default)]
    pub node_metrics: RawResourceMetrics,
    /// How often the clusters are listed. Default: `defaults.interval`.
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
}

/// A validated ElastiCache target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub access: super::Access,
    pub clusters: Option<Vec<String>>,
    pub nodes: Children,
    /// The discovered memcached nodes' `slabs`.
    pub slabs: bool,
    pub node_metrics: ResourceMetrics,
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
        let nodes = self.nodes.validate(v, &format!("{path}.nodes"));
        let access = access?;
        let node_metrics = self.node_metrics.validate(
            v,
            &format!("{path}.node_metrics"),
            &access,
            NAMESPACE,
            &["CPUUtilization"],
        );
        if v.error_count() != before {
            return None;
        }
        Some(Settings {
            access,
            clusters: self.clusters.clone(),
            nodes: nodes?,
            slabs: self.slabs.unwrap_or(false),
            node_metrics: node_metrics?,
        })
    }
}

/// What headroom reports of one cache cluster.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cluster {
    pub id: String,
    pub engine: String,
    pub engine_version: String,
    pub node_type: String,
    pub status: String,
    pub num_nodes: i32,
    pub nodes: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Node {
    pub id: String,
    pub status: String,
    pub zone: String,
    /// `None` while the node is being created (the API gives no endpoint yet).
    pub endpoint: Option<(String, i32)>,
}

/// The relative name of a node's memcached target.
fn node_target(cluster: &str, node: &str) -> String {
    format!("{cluster}/{node}")
}

/// The targets the clusters make (pure): a memcached target per memcached node with an
/// endpoint, and one cloudwatch target for all those nodes' metrics.
pub fn discovered(clusters: &[Cluster], s: &Settings) -> Vec<TargetOf<Found>> {
    let mut out = Vec::new();
    let mut resources = Vec::new();
    for c in clusters
        .iter()
        .filter(|c| c.engine.eq_ignore_ascii_case("memcached"))
    {
        for n in &c.nodes {
            let Some((host, port)) = &n.endpoint else {
                continue;
            };
            if s.nodes.enabled {
                out.push(s.nodes.target(
                    node_target(&c.id, &n.id),
                    Found::Memcached(memcached::Settings {
                        address: s.nodes.address(host, *port),
                        slabs: s.slabs,
                    }),
                ));
            }
            resources.push(vec![
                ("CacheClusterId".to_owned(), c.id.clone()),
                ("CacheNodeId".to_owned(), n.id.clone()),
            ]);
        }
    }
    out.extend(
        s.node_metrics
            .target(&resources, s.nodes.timeout)
            .map(|t| t.map(Found::Cloudwatch)),
    );
    out
}

/// The families of one poll (pure).
pub fn families(clusters: &[Cluster], parent: &str) -> Vec<Family> {
    let mut info = Family::new(
        "headroom_elasticache_cluster",
        "Cache clusters found, in labels.",
        Kind::Info,
    );
    let mut num = Family::new(
        "headroom_elasticache_cluster_nodes",
        "NumCacheNodes of the cluster (what it should have).",
        Kind::Gauge,
    );
    let mut nodes = Family::new(
        "headroom_elasticache_node",
        "Cache nodes found with their endpoint; memcached ones are polled as the target named in node_target.",
        Kind::Info,
    );
    for c in clusters {
        let cl = || vec![("cache_cluster".into(), c.id.clone())];
        let mut labels = cl();
        labels.extend([
            ("engine".into(), c.engine.clone()),
            ("engine_version".into(), c.engine_version.clone()),
            ("node_type".into(), c.node_type.clone()),
            ("status".into(), c.status.clone()),
        ]);
        info.samples.push(Sample { labels, value: 1.0 });
        num.samples.push(Sample {
            labels: cl(),
            value: f64::from(c.num_nodes),
        });
        for n in &c.nodes {
            let mut labels = cl();
            let memcached = c.engine.eq_ignore_ascii_case("memcached") && n.endpoint.is_some();
            labels.extend([
                ("cache_node".into(), n.id.clone()),
                ("status".into(), n.status.clone()),
                ("availability_zone".into(), n.zone.clone()),
                (
                    "address".into(),
                    n.endpoint
                        .as_ref()
                        .map(|(h, p)| format!("{h}:{p}"))
                        .unwrap_or_default(),
                ),
                (
                    "node_target".into(),
                    if memcached {
                        crate::sources::discovery::child_name(parent, &node_target(&c.id, &n.id))
                            .to_string()
                    } else {
                        String::new()
                    },
                ),
            ]);
            nodes.samples.push(Sample { labels, value: 1.0 });
        }
    }
    let mut out = vec![Family::single(
        "headroom_elasticache_up",
        "1 if DescribeCacheClusters succeeded.",
        Kind::Gauge,
        1.0,
    )];
    out.extend(
        [info, num, nodes]
            .into_iter()
            .filter(|f| !f.samples.is_empty()),
    );
    out
}

pub struct ElasticachePoller {
    /// The target's own name, for the `node_target` label.
    name: String,
    settings: Settings,
    client: super::Limited<aws_sdk_elasticache::Client>,
    api: super::ApiCounters,
}

impl std::fmt::Debug for ElasticachePoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticachePoller")
            .field("region", &self.settings.access.region)
            .finish_non_exhaustive()
    }
}

impl ElasticachePoller {
    pub fn new(name: &str, s: &Settings, clients: &super::Clients) -> Self {
        let api = super::ApiCounters::default();
        ElasticachePoller {
            name: name.to_owned(),
            settings: s.clone(),
            client: clients.client(&s.access, &api),
            api,
        }
    }
}

impl Poller for ElasticachePoller {
    type Discovered = Found;

    async fn poll(&self) -> Result<Polled<Found>, PollError> {
        let client = self.client.turn().await;
        let mut clusters = Vec::new();
        let mut marker: Option<String> = None;
        let mut pages = super::Pages::default();
        loop {
            self.api.request("elasticache", "DescribeCacheClusters");
            let out = client
                .describe_cache_clusters()
                .show_cache_node_info(true)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| {
                    super::call_failed(
                        &self.api,
                        "elasticache",
                        &self.settings.access.region,
                        "DescribeCacheClusters",
                        e,
                    )
                })?;
            for c in out.cache_clusters() {
                let id = c.cache_cluster_id().unwrap_or_default();
                if let Some(want) = &self.settings.clusters
                    && !want.iter().any(|w| w.eq_ignore_ascii_case(id))
                {
                    continue;
                }
                clusters.push(Cluster {
                    id: id.to_owned(),
                    engine: c.engine().unwrap_or_default().to_owned(),
                    engine_version: c.engine_version().unwrap_or_default().to_owned(),
                    node_type: c.cache_node_type().unwrap_or_default().to_owned(),
                    status: c.cache_cluster_status().unwrap_or_default().to_owned(),
                    num_nodes: c.num_cache_nodes().unwrap_or(0),
                    nodes: c
                        .cache_nodes()
                        .iter()
                        .map(|n| Node {
                            id: n.cache_node_id().unwrap_or_default().to_owned(),
                            status: n.cache_node_status().unwrap_or_default().to_owned(),
                            zone: n
                                .customer_availability_zone()
                                .unwrap_or_default()
                                .to_owned(),
                            endpoint: n.endpoint().and_then(|e| {
                                Some((e.address()?.to_owned(), e.port().unwrap_or(11211)))
                            }),
                        })
                        .collect(),
                });
            }
            marker = pages.after(
                out.marker(),
                &self.settings.access.region,
                "DescribeCacheClusters",
            )?;
            if marker.is_none() {
                break;
            }
        }
        let mut out = families(&clusters, &self.name);
        out.extend(self.api.families());
        Ok(Polled {
            families: out,
            discovered: Some(discovered(&clusters, &self.settings)),
        })
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("elasticache", "headroom_elasticache_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = ElasticachePoller;

    fn poller(&self, at: Spawn<'_>) -> ElasticachePoller {
        ElasticachePoller::new(at.name, self, at.aws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::time::Duration as StdDuration;

    fn settings() -> Settings {
        let access = super::super::Access {
            region: "us-east-1".into(),
            endpoint_url: None,
            role_arn: None,
        };
        Settings {
            access: access.clone(),
            clusters: None,
            nodes: Children {
                enabled: true,
                interval: StdDuration::from_secs(15),
                timeout: StdDuration::from_secs(5),
                connect_to: BTreeMap::from([(
                    "a.0001.use1.cache.amazonaws.com:11211".to_owned(),
                    "127.0.0.1:19411".to_owned(),
                )]),
            },
            slabs: false,
            node_metrics: ResourceMetrics {
                access,
                namespace: NAMESPACE,
                metrics: vec!["CPUUtilization".into()],
                statistics: vec!["Average".into()],
                period: StdDuration::from_secs(60),
                interval: StdDuration::from_secs(60),
            },
        }
    }

    fn cluster(engine: &str, nodes: &[(&str, Option<&str>)]) -> Cluster {
        Cluster {
            id: "c1".into(),
            engine: engine.into(),
            num_nodes: nodes.len() as i32,
            nodes: nodes
                .iter()
                .map(|(id, host)| Node {
                    id: (*id).into(),
                    endpoint: host.map(|h| (h.to_owned(), 11211)),
                    ..Node::default()
                })
                .collect(),
            ..Cluster::default()
        }
    }

    #[test]
    fn memcached_nodes_with_endpoints_become_targets() {
        let c = cluster(
            "memcached",
            &[
                ("0001", Some("a.0001.use1.cache.amazonaws.com")),
                ("0002", Some("a.0002.use1.cache.amazonaws.com")),
                ("0003", None), // still being created
            ],
        );
        let t = discovered(&[c], &settings());
        let names: Vec<&str> = t.iter().map(|t| &*t.name).collect();
        assert_eq!(names, ["c1/0001", "c1/0002", "cloudwatch"]);
        assert_eq!(
            t[0].source,
            Found::Memcached(memcached::Settings {
                address: "127.0.0.1:19411".into(),
                slabs: false,
            })
        );
        assert_eq!(
            t[1].source,
            Found::Memcached(memcached::Settings {
                address: "a.0002.use1.cache.amazonaws.com:11211".into(),
                slabs: false,
            })
        );
        let Found::Cloudwatch(cw) = &t[2].source else {
            panic!("{:?}", t[2]);
        };
        assert_eq!(cw.requests.len(), 2);
        assert_eq!(
            cw.requests[1].dimensions,
            [
                ("CacheClusterId".to_owned(), "c1".to_owned()),
                ("CacheNodeId".to_owned(), "0002".to_owned())
            ]
        );
    }

    #[test]
    fn redis_nodes_are_not_memcached_targets() {
        let c = cluster(
            "redis",
            &[("0001", Some("r.0001.use1.cache.amazonaws.com"))],
        );
        assert!(discovered(&[c], &settings()).is_empty());
    }

    #[test]
    fn no_metrics_means_no_cloudwatch_target() {
        let mut s = settings();
        s.node_metrics.metrics.clear();
        let c = cluster("memcached", &[("0001", Some("h"))]);
        let t = discovered(&[c], &s);
        assert_eq!(t.len(), 1);
        assert!(matches!(t[0].source, Found::Memcached(_)));
    }
}
