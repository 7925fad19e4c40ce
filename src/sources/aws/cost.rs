//! The cost source: the monthly cost of the estate headroom sees in a region, from the price
//! table (catalog/prices.yaml, plus the target's `prices`), one target per region.
//!
//! It lists RDS instances (DescribeDBInstances: class, engine, Multi-AZ, storage type, size,
//! provisioned IOPS), ElastiCache nodes (DescribeCacheClusters with node info), EBS volumes
//! (DescribeVolumes), classic load balancers and the EC2 instances registered with them
//! (DescribeLoadBalancers, DescribeInstances) and ELBv2 load balancers (DescribeLoadBalancers),
//! and prices each with [`crate::capacity::prices::estimate`]. A resource without a price is
//! counted in `headroom_cost_unpriced_resources`, never as 0. CloudWatch's GetMetricData cost
//! is the cloudwatch targets' `headroom_cloudwatch_estimated_cost_usd_per_month`, not repeated
//! here (docs/cost.md sums both).

use std::convert::Infallible;
use std::sync::Arc;

use serde::Deserialize;

use crate::capacity::prices::{self, Estimate, Resource, Row, Table};
use crate::config::{CommonTarget, Duration, Validator};
use crate::model::{Family, Kind, Sample};
use crate::model::{PollError, Polled, Poller, SourceKind};
use crate::sources::source::{Context, Source, SourceTarget, Spawn};

/// Default poll interval (not `defaults.interval`): the estate changes slowly.
pub const DEFAULT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(900);
/// Default poll timeout: a large account's listings take several pages.
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What a cost target lists.
pub const SERVICES: [&str; 5] = ["rds", "elasticache", "ebs", "elb", "ec2"];

/// One entry of `cost:` in the config.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Unique name of the target; becomes the `target` label.
    pub name: String,
    /// AWS region, e.g. `us-east-1`: the region whose estate is priced, and whose prices
    /// are looked up.
    pub region: String,
    /// Endpoint override for RDS, ElastiCache, EC2 and ELB (a VPC endpoint; the tests point
    /// it at moto).
    pub endpoint_url: Option<String>,
    /// Role to assume for this target (cross-account).
    pub role_arn: Option<String>,
    /// What to list and price: any of `rds`, `elasticache`, `ebs`, `elb` (classic and
    /// ELBv2 load balancer hours), `ec2` (the instances registered with classic load
    /// balancers). Default: all of them.
    pub services: Option<Vec<String>>,
    /// Price rows added to catalog/prices.yaml or replacing its rows of the same service,
    /// region, item, unit, engines and deployment (fields as in that file; `source` names
    /// where the figure comes from).
    #[serde(default)]
    pub prices: Vec<Row>,
    /// The estate's monthly budget in USD, exported as `headroom_cost_budget_usd` for the
    /// HeadroomCostOverBudget alert. Optional.
    pub budget_usd: Option<f64>,
    /// How often the target is polled. Default 15m (not `defaults.interval`).
    pub interval: Option<Duration>,
    /// Poll timeout. Default 60s (not `defaults.timeout`).
    pub timeout: Option<Duration>,
}

/// A validated cost target.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub access: super::Access,
    pub services: Vec<String>,
    pub table: Arc<Table>,
    pub budget_usd: Option<f64>,
}

impl SourceTarget for RawTarget {
    type Settings = Settings;

    fn common(&self) -> CommonTarget<'_> {
        CommonTarget {
            name: &self.name,
            interval: self.interval.or(Some(Duration(DEFAULT_INTERVAL))),
            timeout: self.timeout.or(Some(Duration(DEFAULT_TIMEOUT))),
            region: Some(&self.region),
        }
    }

    fn validate(&self, v: &mut Validator<'_>, path: &str, _cx: &Context) -> Option<Settings> {
        let before = v.error_count();
        let access =
            super::validate_access(v, path, &self.region, &self.endpoint_url, &self.role_arn);
        let services = match &self.services {
            None => SERVICES.iter().map(|s| (*s).to_owned()).collect(),
            Some(s) => {
                if s.is_empty() {
                    v.error(
                        &format!("{path}.services"),
                        "is empty: leave it out for every service",
                    );
                }
                for (i, x) in s.iter().enumerate() {
                    if !SERVICES.contains(&x.as_str()) {
                        v.error(
                            &format!("{path}.services[{i}]"),
                            format!("{x:?}: one of {}", SERVICES.join(", ")),
                        );
                    }
                }
                s.clone()
            }
        };
        for (i, r) in self.prices.iter().enumerate() {
            if let Err(e) = r.check() {
                v.error(&format!("{path}.prices[{i}]"), e);
            }
        }
        if let Some(b) = self.budget_usd
            && !(b.is_finite() && b > 0.0)
        {
            v.error(
                &format!("{path}.budget_usd"),
                "must be a positive amount of USD",
            );
        }
        if v.error_count() != before {
            return None;
        }
        Some(Settings {
            access: access?,
            services,
            table: Arc::new(prices::shipped().with_overrides(&self.prices)),
            budget_usd: self.budget_usd,
        })
    }
}

/// The families of one poll (pure: the tests feed it an estimate directly).
pub fn families(e: &Estimate, table: &Table, budget: Option<f64>) -> Vec<Family> {
    let mut cost = Family::new(
        "headroom_cost_monthly_usd",
        "Estimated monthly cost (USD, on-demand, 730 h) of the priced resources of the line, from the price table.",
        Kind::Gauge,
    );
    let mut resources = Family::new(
        "headroom_cost_resources",
        "Resources of the line (priced or not).",
        Kind::Gauge,
    );
    let mut unpriced = Family::new(
        "headroom_cost_unpriced_resources",
        "Resources of the line the price table has no price for: their cost is not in headroom_cost_monthly_usd.",
        Kind::Gauge,
    );
    for l in &e.lines {
        let labels = vec![
            ("service".into(), l.service.clone()),
            ("region".into(), l.region.clone()),
            ("component".into(), l.component.clone()),
            ("item".into(), l.item.clone()),
        ];
        let s = |value: f64| Sample {
            labels: labels.clone(),
            value,
        };
        cost.samples.push(s(l.usd));
        resources.samples.push(s(l.resources as f64));
        unpriced.samples.push(s(l.unpriced as f64));
    }
    let mut info = Family::new(
        "headroom_cost_price_source_info",
        "A source of the price table: what was read (cite), the date of its figures and when it was read.",
        Kind::Gauge,
    );
    for (k, s) in &table.sources {
        info.samples.push(Sample {
            labels: vec![
                ("source".into(), k.clone()),
                ("cite".into(), s.cite.clone()),
                ("date".into(), s.date.clone()),
                ("read".into(), s.read.clone()),
                ("third_party".into(), s.third_party.to_string()),
            ],
            value: 1.0,
        });
    }
    let oldest = table
        .sources
        .values()
        .filter_map(|s| crate::time::parse_date(&s.date).ok())
        .map(|days| days as f64 * 86_400.0)
        .reduce(f64::min);
    let mut out = vec![Family::single(
        "headroom_cost_up",
        "1 if every listing of the poll succeeded.",
        Kind::Gauge,
        1.0,
    )];
    out.extend([cost, resources, unpriced, info]);
    if let Some(t) = oldest {
        out.push(Family::single(
            "headroom_cost_price_date_timestamp_seconds",
            "Unix time of the oldest source date in the price table: how stale the prices may be.",
            Kind::Gauge,
            t,
        ));
    }
    if let Some(b) = budget {
        out.push(Family::single(
            "headroom_cost_budget_usd",
            "The target's budget_usd: what the estate may cost a month.",
            Kind::Gauge,
            b,
        ));
    }
    out
}

/// The five clients a cost poller calls (boxed: the poller enum keeps its variants small).
struct Calls {
    rds: super::Limited<aws_sdk_rds::Client>,
    elasticache: super::Limited<aws_sdk_elasticache::Client>,
    ec2: super::Limited<aws_sdk_ec2::Client>,
    elb: super::Limited<aws_sdk_elasticloadbalancing::Client>,
    elbv2: super::Limited<aws_sdk_elasticloadbalancingv2::Client>,
}

pub struct CostPoller {
    settings: Settings,
    c: Box<Calls>,
    api: super::ApiCounters,
}

impl std::fmt::Debug for CostPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CostPoller")
            .field("region", &self.settings.access.region)
            .finish_non_exhaustive()
    }
}

impl CostPoller {
    pub fn new(s: &Settings, clients: &super::Clients) -> Self {
        let api = super::ApiCounters::default();
        CostPoller {
            settings: s.clone(),
            c: Box::new(Calls {
                rds: clients.client(&s.access, &api),
                elasticache: clients.client(&s.access, &api),
                ec2: clients.client(&s.access, &api),
                elb: clients.client(&s.access, &api),
                elbv2: clients.client(&s.access, &api),
            }),
            api,
        }
    }

    fn wants(&self, s: &str) -> bool {
        self.settings.services.iter().any(|x| x == s)
    }

    fn fail<E, R>(
        &self,
        service: &'static str,
        op: &str,
        e: aws_sdk_rds::error::SdkError<E, R>,
    ) -> PollError
    where
        E: aws_sdk_rds::error::ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug + 'static,
    {
        super::call_failed(&self.api, service, &self.settings.access.region, op, e)
    }

    async fn rds(&self, out: &mut Vec<Resource>) -> Result<(), PollError> {
        let client = self.c.rds.turn().await;
        let mut marker: Option<String> = None;
        loop {
            self.api.request("rds", "DescribeDBInstances");
            let res = client
                .describe_db_instances()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("rds", "DescribeDBInstances", e))?;
            for d in res.db_instances() {
                out.push(Resource::Rds {
                    id: d.db_instance_identifier().unwrap_or_default().to_owned(),
                    class: d.db_instance_class().unwrap_or_default().to_owned(),
                    engine: d.engine().unwrap_or_default().to_owned(),
                    multi_az: d.multi_az().unwrap_or(false),
                    storage_type: d.storage_type().unwrap_or("gp2").to_owned(),
                    gib: f64::from(d.allocated_storage().unwrap_or(0)),
                    iops: d.iops().map(f64::from),
                });
            }
            marker = res.marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        Ok(())
    }

    async fn elasticache(&self, out: &mut Vec<Resource>) -> Result<(), PollError> {
        let client = self.c.elasticache.turn().await;
        let mut marker: Option<String> = None;
        loop {
            self.api.request("elasticache", "DescribeCacheClusters");
            let res = client
                .describe_cache_clusters()
                .show_cache_node_info(true)
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("elasticache", "DescribeCacheClusters", e))?;
            for c in res.cache_clusters() {
                let id = c.cache_cluster_id().unwrap_or_default();
                // NumCacheNodes is what is billed; CacheNodes lists them when asked.
                let n = c.num_cache_nodes().unwrap_or(c.cache_nodes().len() as i32);
                for i in 0..n.max(0) {
                    out.push(Resource::CacheNode {
                        id: format!("{id}/{:04}", i + 1),
                        node_type: c.cache_node_type().unwrap_or_default().to_owned(),
                        engine: c.engine().unwrap_or_default().to_owned(),
                    });
                }
            }
            marker = res.marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        Ok(())
    }

    async fn ebs(&self, out: &mut Vec<Resource>) -> Result<(), PollError> {
        let client = self.c.ec2.turn().await;
        let mut token: Option<String> = None;
        loop {
            self.api.request("ec2", "DescribeVolumes");
            let res = client
                .describe_volumes()
                .set_next_token(token.clone())
                .send()
                .await
                .map_err(|e| self.fail("ec2", "DescribeVolumes", e))?;
            for v in res.volumes() {
                out.push(Resource::Volume {
                    id: v.volume_id().unwrap_or_default().to_owned(),
                    volume_type: v
                        .volume_type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                    gib: f64::from(v.size().unwrap_or(0)),
                    iops: v.iops().map(f64::from),
                });
            }
            token = res.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// Classic load balancers, and the ids of the instances registered with them.
    async fn elb(&self, out: &mut Vec<Resource>) -> Result<Vec<String>, PollError> {
        let client = self.c.elb.turn().await;
        let mut instances = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            self.api
                .request("elasticloadbalancing", "DescribeLoadBalancers");
            let res = client
                .describe_load_balancers()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("elasticloadbalancing", "DescribeLoadBalancers", e))?;
            for d in res.load_balancer_descriptions() {
                out.push(Resource::LoadBalancer {
                    name: d.load_balancer_name().unwrap_or_default().to_owned(),
                    kind: "classic".into(),
                });
                instances.extend(
                    d.instances()
                        .iter()
                        .filter_map(|i| i.instance_id().map(str::to_owned)),
                );
            }
            marker = res.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        Ok(instances)
    }

    async fn elbv2(&self, out: &mut Vec<Resource>) -> Result<(), PollError> {
        let client = self.c.elbv2.turn().await;
        let mut marker: Option<String> = None;
        loop {
            self.api
                .request("elasticloadbalancingv2", "DescribeLoadBalancers");
            let res = client
                .describe_load_balancers()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| self.fail("elasticloadbalancingv2", "DescribeLoadBalancers", e))?;
            for d in res.load_balancers() {
                out.push(Resource::LoadBalancer {
                    name: d.load_balancer_name().unwrap_or_default().to_owned(),
                    kind: d
                        .r#type()
                        .map(|t| t.as_str().to_owned())
                        .unwrap_or_default(),
                });
            }
            marker = res.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
        Ok(())
    }

    async fn ec2(&self, mut ids: Vec<String>, out: &mut Vec<Resource>) -> Result<(), PollError> {
        ids.sort();
        ids.dedup();
        let client = self.c.ec2.turn().await;
        // DescribeInstances takes the ids in one call (they are few: one load balancer's
        // registered instances), paginated all the same.
        for chunk in ids.chunks(100) {
            let mut token: Option<String> = None;
            loop {
                self.api.request("ec2", "DescribeInstances");
                let res = client
                    .describe_instances()
                    .set_instance_ids(Some(chunk.to_vec()))
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| self.fail("ec2", "DescribeInstances", e))?;
                for r in res.reservations() {
                    for i in r.instances() {
                        // A stopped instance bills no hours.
                        let running = i
                            .state()
                            .and_then(|s| s.name())
                            .is_none_or(|n| n.as_str() == "running");
                        if running {
                            out.push(Resource::Instance {
                                id: i.instance_id().unwrap_or_default().to_owned(),
                                instance_type: i
                                    .instance_type()
                                    .map(|t| t.as_str().to_owned())
                                    .unwrap_or_default(),
                            });
                        }
                    }
                }
                token = res.next_token().map(str::to_owned);
                if token.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }
}

impl Poller for CostPoller {
    type Discovered = Infallible;

    async fn poll(&self) -> Result<Polled<Infallible>, PollError> {
        let mut estate = Vec::new();
        if self.wants("rds") {
            self.rds(&mut estate).await?;
        }
        if self.wants("elasticache") {
            self.elasticache(&mut estate).await?;
        }
        if self.wants("ebs") {
            self.ebs(&mut estate).await?;
        }
        let mut behind = Vec::new();
        if self.wants("elb") || self.wants("ec2") {
            let mut lbs = Vec::new();
            behind = self.elb(&mut lbs).await?;
            if self.wants("elb") {
                estate.extend(lbs);
                self.elbv2(&mut estate).await?;
            }
        }
        if self.wants("ec2") && !behind.is_empty() {
            self.ec2(behind, &mut estate).await?;
        }
        let e = prices::estimate(&self.settings.table, &self.settings.access.region, &estate);
        let mut out = families(&e, &self.settings.table, self.settings.budget_usd);
        out.extend(self.api.families());
        Ok(out.into())
    }
}

/// This source, as the `source` label and the config section name it.
pub const KIND: SourceKind = SourceKind::new("cost", "headroom_cost_up");

impl Source for Settings {
    const KIND: SourceKind = KIND;
    type Poller = CostPoller;

    fn poller(&self, at: Spawn<'_>) -> CostPoller {
        CostPoller::new(self, at.aws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::find_value;

    #[test]
    fn families_of_an_estimate() {
        let t = prices::shipped();
        let e = prices::estimate(
            &t,
            "us-east-1",
            &[
                Resource::Volume {
                    id: "vol-1".into(),
                    volume_type: "gp3".into(),
                    gib: 10.0,
                    iops: Some(3_000.0),
                },
                Resource::CacheNode {
                    id: "c/0001".into(),
                    node_type: "cache.t3.micro".into(),
                    engine: "memcached".into(),
                },
            ],
        );
        let f = families(&e, &t, Some(100.0));
        let at = |s, c, i| [("service", s), ("component", c), ("item", i)];
        assert_eq!(
            find_value(
                &f,
                "headroom_cost_monthly_usd",
                &at("ebs", "storage", "gp3")
            ),
            Some(0.8)
        );
        assert_eq!(
            find_value(
                &f,
                "headroom_cost_unpriced_resources",
                &at("elasticache", "node", "cache.t3.micro")
            ),
            Some(1.0)
        );
        assert_eq!(find_value(&f, "headroom_cost_budget_usd", &[]), Some(100.0));
        assert!(
            find_value(
                &f,
                "headroom_cost_price_source_info",
                &[("source", "cloudprice-ec2"), ("date", "2026-09-06")]
            )
            .is_some()
        );
        assert!(find_value(&f, "headroom_cost_price_date_timestamp_seconds", &[]).is_some());
    }
}
