//! The price table (catalog/prices.yaml, compiled in, every row naming its source and date)
//! and the monthly cost of an estate from it. Pure: the cost source lists the estate, the
//! capacity report prices its current and recommended class.
//!
//! A month is 730 hours (8,760 hours a year over 12). A resource without a price is listed
//! as unpriced, never counted as 0.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The shipped table.
pub const SHIPPED: &str = include_str!("../../catalog/prices.yaml");

/// Hours in the average month.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Where a price comes from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// What was read: a package and file, a page, or an offer file and its version.
    pub cite: String,
    /// The date the source gives for its figures (an offer file's publicationDate).
    pub date: String,
    /// The date the figures were read into the table.
    pub read: String,
    /// Whether the figures are a third party's copy of AWS's prices.
    #[serde(default)]
    pub third_party: bool,
}

/// What a price is per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// An instance, node or load balancer hour.
    Hour,
    /// A GB of provisioned storage for a month.
    GbMonth,
    /// A provisioned IOPS for a month (above `included`).
    IopsMonth,
}

/// One price (a row of `prices:` in the table, or of `cost[].prices` in the config).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// `rds`, `ebs`, `ec2`, `elasticache` or `elb`.
    pub service: String,
    /// AWS region, e.g. `us-east-1`.
    pub region: String,
    /// The instance class (`db.r5.large`, `cache.m5.large`, `m5.large`), volume type (`gp3`)
    /// or load balancer type (`classic`, `application`, `network`).
    pub item: String,
    /// What `usd` is per: `hour`, `gb_month` or `iops_month`.
    pub unit: Unit,
    /// The price, USD per unit.
    pub usd: f64,
    /// RDS and ElastiCache instance rows: the engines the price is for (`mysql`, `mariadb`,
    /// `postgres`, `redis`, `memcached`). Absent: every engine.
    pub engines: Option<Vec<String>>,
    /// RDS rows: `single-az` (default) or `multi-az`.
    pub deployment: Option<String>,
    /// `iops_month` rows: IOPS the storage price already includes.
    #[serde(default)]
    pub included: f64,
    /// Key of the row's source under `sources:` (in the config, any text naming it).
    pub source: String,
}

/// A price table: its sources and rows.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    pub sources: BTreeMap<String, Source>,
    pub prices: Vec<Row>,
}

/// The shipped table.
pub fn shipped() -> Table {
    serde_yaml_ng::from_str(SHIPPED).expect("catalog/prices.yaml parses (a test loads it)")
}

impl Row {
    /// Whether a row from the config makes sense.
    pub fn check(&self) -> Result<(), String> {
        const SERVICES: [&str; 5] = ["rds", "ebs", "ec2", "elasticache", "elb"];
        if !SERVICES.contains(&self.service.as_str()) {
            return Err(format!(
                "service {:?}: one of {}",
                self.service,
                SERVICES.join(", ")
            ));
        }
        if self.region.is_empty() || self.item.is_empty() || self.source.is_empty() {
            return Err("region, item and source must not be empty".into());
        }
        if !(self.usd.is_finite() && self.usd >= 0.0) {
            return Err(format!("usd {}: must be 0 or more", self.usd));
        }
        if let Some(d) = &self.deployment
            && d != "single-az"
            && d != "multi-az"
        {
            return Err(format!("deployment {d:?}: single-az or multi-az"));
        }
        if !(self.included.is_finite() && self.included >= 0.0) {
            return Err("included must be 0 or more".into());
        }
        Ok(())
    }

    fn deployment(&self) -> &str {
        self.deployment.as_deref().unwrap_or("single-az")
    }

    fn same_key(&self, o: &Row) -> bool {
        self.service == o.service
            && self.region == o.region
            && self.item == o.item
            && self.unit == o.unit
            && self.engines == o.engines
            && self.deployment() == o.deployment()
    }
}

impl Table {
    /// The table with `rows` replacing rows of the same service, region, item, unit,
    /// engines and deployment, and adding the others.
    pub fn with_overrides(mut self, rows: &[Row]) -> Table {
        for r in rows {
            match self.prices.iter_mut().find(|p| p.same_key(r)) {
                Some(p) => *p = r.clone(),
                None => self.prices.push(r.clone()),
            }
        }
        self
    }

    /// The row pricing `item` of `service` in `region` per `unit`, for `engine` and
    /// `deployment` where they matter. A row naming the engine wins over one for every engine.
    pub fn find(&self, q: &Query<'_>) -> Option<&Row> {
        let mut best: Option<&Row> = None;
        for r in &self.prices {
            if r.service != q.service
                || r.region != q.region
                || r.item != q.item
                || r.unit != q.unit
            {
                continue;
            }
            if let Some(d) = q.deployment
                && r.deployment() != d
            {
                continue;
            }
            match (&r.engines, q.engine) {
                (Some(es), Some(e)) if es.iter().any(|x| x == e) => return Some(r),
                (Some(_), _) => {}
                (None, _) => best = best.or(Some(r)),
            }
        }
        best
    }
}

/// What to look up.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub service: &'a str,
    pub region: &'a str,
    pub item: &'a str,
    pub unit: Unit,
    pub engine: Option<&'a str>,
    pub deployment: Option<&'a str>,
}

/// One billed thing of the estate.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// An RDS instance: its class and storage.
    Rds {
        id: String,
        class: String,
        engine: String,
        multi_az: bool,
        storage_type: String,
        gib: f64,
        iops: Option<f64>,
    },
    /// An ElastiCache node.
    CacheNode {
        id: String,
        node_type: String,
        engine: String,
    },
    /// An EBS volume.
    Volume {
        id: String,
        volume_type: String,
        gib: f64,
        iops: Option<f64>,
    },
    /// An EC2 instance (one behind a load balancer).
    Instance { id: String, instance_type: String },
    /// A load balancer: `classic`, `application` or `network`.
    LoadBalancer { name: String, kind: String },
}

/// A line of the estimate: one service, component and item in a region.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Line {
    pub service: String,
    pub region: String,
    /// `instance`, `node`, `storage`, `iops` or `load_balancer`.
    pub component: String,
    pub item: String,
    /// Resources counted in the line.
    pub resources: u64,
    /// USD a month of the priced resources.
    pub usd: f64,
    /// Resources with no price (not in `usd`).
    pub unpriced: u64,
    /// Sources of the prices used.
    pub sources: Vec<String>,
}

/// The monthly cost of the estate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Estimate {
    pub lines: Vec<Line>,
}

impl Estimate {
    /// USD a month over every priced line.
    pub fn total(&self) -> f64 {
        self.lines.iter().map(|l| l.usd).sum()
    }

    /// Resources without a price.
    pub fn unpriced(&self) -> u64 {
        self.lines.iter().map(|l| l.unpriced).sum()
    }
}

/// Adds `amount` units of `q` to the estimate (or an unpriced resource).
fn add(
    lines: &mut BTreeMap<(String, String, String), Line>,
    t: &Table,
    q: Query<'_>,
    component: &str,
    amount: f64,
) {
    let l = lines
        .entry((
            q.service.to_owned(),
            component.to_owned(),
            q.item.to_owned(),
        ))
        .or_insert_with(|| Line {
            service: q.service.to_owned(),
            region: q.region.to_owned(),
            component: component.to_owned(),
            item: q.item.to_owned(),
            ..Line::default()
        });
    l.resources += 1;
    match t.find(&q) {
        Some(r) => {
            let billed = match r.unit {
                Unit::IopsMonth => (amount - r.included).max(0.0),
                _ => amount,
            };
            l.usd += billed * r.usd;
            if !l.sources.contains(&r.source) {
                l.sources.push(r.source.clone());
            }
        }
        None => l.unpriced += 1,
    }
}

/// The gp3 IOPS RDS includes: 3,000 below 400 GiB, 12,000 from 400 GiB (MySQL, MariaDB and
/// PostgreSQL; Amazon RDS User Guide, "Amazon RDS DB instance storage", gp3 storage).
fn rds_gp3_included(gib: f64) -> f64 {
    if gib >= 400.0 { 12_000.0 } else { 3_000.0 }
}

/// The monthly cost of `estate` in `region` from `table`.
pub fn estimate(table: &Table, region: &str, estate: &[Resource]) -> Estimate {
    let mut lines = BTreeMap::new();
    let q = |service, item, unit| Query {
        service,
        region,
        item,
        unit,
        engine: None,
        deployment: None,
    };
    for r in estate {
        match r {
            Resource::Rds {
                class,
                engine,
                multi_az,
                storage_type,
                gib,
                iops,
                ..
            } => {
                let deployment = Some(if *multi_az { "multi-az" } else { "single-az" });
                let one = |item, unit| Query {
                    engine: Some(engine.as_str()),
                    deployment,
                    ..q("rds", item, unit)
                };
                add(
                    &mut lines,
                    table,
                    one(class, Unit::Hour),
                    "instance",
                    HOURS_PER_MONTH,
                );
                add(
                    &mut lines,
                    table,
                    one(storage_type, Unit::GbMonth),
                    "storage",
                    *gib,
                );
                // Provisioned IOPS: io1 and io2 all of them, gp3 those above its baseline
                // (gp2 has none). An `iops_month` row bills what is above its `included`
                // (3,000 for gp3, the offer files' figure); RDS's gp3 baseline is 12,000 from
                // 400 GiB, so the amount passed is shifted by the difference. Within the
                // baseline nothing is billed, whether or not a row exists.
                let billed_iops = match (storage_type.as_str(), iops) {
                    ("gp3", Some(i)) if *i > rds_gp3_included(*gib) => {
                        Some(i - (rds_gp3_included(*gib) - 3_000.0))
                    }
                    ("io1" | "io2", Some(i)) => Some(*i),
                    _ => None,
                };
                if let Some(i) = billed_iops {
                    let qq = Query {
                        engine: None,
                        ..one(storage_type, Unit::IopsMonth)
                    };
                    add(&mut lines, table, qq, "iops", i);
                }
            }
            Resource::CacheNode {
                node_type, engine, ..
            } => {
                let qq = Query {
                    engine: Some(engine.as_str()),
                    ..q("elasticache", node_type, Unit::Hour)
                };
                add(&mut lines, table, qq, "node", HOURS_PER_MONTH);
            }
            Resource::Volume {
                volume_type,
                gib,
                iops,
                ..
            } => {
                add(
                    &mut lines,
                    table,
                    q("ebs", volume_type, Unit::GbMonth),
                    "storage",
                    *gib,
                );
                let billed = match (volume_type.as_str(), iops) {
                    ("gp3", Some(i)) if *i > 3_000.0 => Some(*i),
                    ("io1" | "io2", Some(i)) => Some(*i),
                    _ => None,
                };
                if let Some(i) = billed {
                    add(
                        &mut lines,
                        table,
                        q("ebs", volume_type, Unit::IopsMonth),
                        "iops",
                        i,
                    );
                }
            }
            Resource::Instance { instance_type, .. } => {
                add(
                    &mut lines,
                    table,
                    q("ec2", instance_type, Unit::Hour),
                    "instance",
                    HOURS_PER_MONTH,
                );
            }
            Resource::LoadBalancer { kind, .. } => {
                add(
                    &mut lines,
                    table,
                    q("elb", kind, Unit::Hour),
                    "load_balancer",
                    HOURS_PER_MONTH,
                );
            }
        }
    }
    Estimate {
        lines: lines.into_values().collect(),
    }
}

/// The monthly price of one RDS instance class (instance hours only), if the table has it.
pub fn rds_class_month<'a>(
    table: &'a Table,
    region: &str,
    class: &str,
    engine: Option<&str>,
    multi_az: bool,
) -> Option<(f64, &'a Row)> {
    let r = table.find(&Query {
        service: "rds",
        region,
        item: class,
        unit: Unit::Hour,
        engine,
        deployment: Some(if multi_az { "multi-az" } else { "single-az" }),
    })?;
    Some((r.usd * HOURS_PER_MONTH, r))
}

/// What the current and the recommended class cost a month: instance hours only (730 h,
/// on-demand), from the price table (catalog/prices.yaml, refreshed by
/// catalog/update-prices.py).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CostInfo {
    pub region: String,
    /// The RDS engine and deployment priced, e.g. `mysql`, `single-az`.
    pub engine: String,
    pub deployment: String,
    pub current_class: String,
    /// None: the table has no price for the class (see `unpriced`).
    pub current_usd_per_month: Option<f64>,
    pub recommended_class: Option<String>,
    pub recommended_usd_per_month: Option<f64>,
    /// Recommended less current, when both are priced.
    pub change_usd_per_month: Option<f64>,
    /// The price table's sources used: what was read and the date of its figures.
    pub sources: Vec<String>,
    /// Classes without a price.
    pub unpriced: Vec<String>,
}

impl CostInfo {
    /// One paragraph of Markdown.
    pub fn markdown(&self) -> String {
        let usd =
            |v: Option<f64>| v.map_or_else(|| "unpriced".to_owned(), |v| format!("${v:.2}/month"));
        let mut out = format!(
            "Cost (instance hours, on-demand, {} {} in {}, 730 h a month): {} {} now",
            self.engine,
            self.deployment,
            self.region,
            self.current_class,
            usd(self.current_usd_per_month),
        );
        if let Some(c) = &self.recommended_class {
            out.push_str(&format!(
                "; recommended {c} {}",
                usd(self.recommended_usd_per_month)
            ));
            if let Some(d) = self.change_usd_per_month {
                out.push_str(&format!(
                    " ({}${:.2}/month)",
                    if d < 0.0 { "-" } else { "+" },
                    d.abs()
                ));
            }
        }
        out.push_str(
            ".
",
        );
        if !self.unpriced.is_empty() {
            out.push_str(&format!(
                "No price for {} in {} ({} {}): refresh catalog/prices.yaml (catalog/update-prices.py) or add a row under a cost target's `prices`.
",
                self.unpriced.join(", "),
                self.region,
                self.engine,
                self.deployment
            ));
        }
        for s in &self.sources {
            out.push_str(&format!(
                "Prices: {s}.
"
            ));
        }
        out.push('\n');
        out
    }
}

/// The engine the capacity model's databases are priced as: MySQL (the model reads a mysql
/// target; MariaDB's RDS prices are looked up as MySQL's).
pub const PRICED_ENGINE: &str = "mysql";

/// What `current` and `recommended` cost a month in `region` (RDS for MySQL, single-AZ:
/// the history does not record the engine or Multi-AZ).
pub fn cost_of(table: &Table, region: &str, current: &str, recommended: Option<&str>) -> CostInfo {
    let mut sources = Vec::new();
    let mut unpriced = Vec::new();
    let mut price =
        |class: &str| match rds_class_month(table, region, class, Some(PRICED_ENGINE), false) {
            Some((usd, row)) => {
                let s = match table.sources.get(&row.source) {
                    Some(s) => format!(
                        "{} ({}, read {}{})",
                        s.cite,
                        s.date,
                        s.read,
                        if s.third_party { ", third-party" } else { "" }
                    ),
                    None => row.source.clone(),
                };
                if !sources.contains(&s) {
                    sources.push(s);
                }
                Some(usd)
            }
            None => {
                if !unpriced.iter().any(|u| u == class) {
                    unpriced.push(class.to_owned());
                }
                None
            }
        };
    let now = price(current);
    let rec = recommended.and_then(&mut price);
    CostInfo {
        region: region.to_owned(),
        engine: PRICED_ENGINE.to_owned(),
        deployment: "single-az".to_owned(),
        current_class: current.to_owned(),
        current_usd_per_month: now,
        recommended_class: recommended.map(str::to_owned),
        recommended_usd_per_month: rec,
        change_usd_per_month: now.zip(rec).map(|(a, b)| b - a),
        sources,
        unpriced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_loads_and_every_row_names_a_source() {
        let t = shipped();
        assert!(!t.prices.is_empty());
        for r in &t.prices {
            r.check().unwrap();
            assert!(t.sources.contains_key(&r.source), "{r:?}");
        }
        for (k, s) in &t.sources {
            assert_eq!(s.date.len(), 10, "{k}: date as YYYY-MM-DD");
            assert_eq!(s.read.len(), 10, "{k}: read as YYYY-MM-DD");
        }
    }

    #[test]
    fn estimate_prices_what_it_can_and_lists_the_rest() {
        let t = shipped();
        let estate = vec![
            Resource::Rds {
                id: "pg".into(),
                class: "db.m5.large".into(),
                engine: "postgres".into(),
                multi_az: false,
                storage_type: "gp3".into(),
                gib: 100.0,
                iops: Some(3_000.0),
            },
            // No MySQL row for db.r5.large: unpriced, not 0.
            Resource::Rds {
                id: "my".into(),
                class: "db.r5.large".into(),
                engine: "mysql".into(),
                multi_az: false,
                storage_type: "gp2".into(),
                gib: 50.0,
                iops: None,
            },
            Resource::Volume {
                id: "vol-1".into(),
                volume_type: "gp3".into(),
                gib: 200.0,
                iops: Some(3_000.0),
            },
            Resource::LoadBalancer {
                name: "web".into(),
                kind: "classic".into(),
            },
        ];
        let e = estimate(&t, "us-east-1", &estate);
        let line = |s: &str, c: &str, i: &str| {
            e.lines
                .iter()
                .find(|l| l.service == s && l.component == c && l.item == i)
                .unwrap()
                .clone()
        };
        // By hand from catalog/prices.yaml: 0.171 x 730, 100 x 0.115, 50 x 0.115, 200 x 0.08.
        assert!((line("rds", "instance", "db.m5.large").usd - 124.83).abs() < 1e-9);
        assert!((line("rds", "storage", "gp3").usd - 11.5).abs() < 1e-9);
        assert!((line("rds", "storage", "gp2").usd - 5.75).abs() < 1e-9);
        assert!((line("ebs", "storage", "gp3").usd - 16.0).abs() < 1e-9);
        let r5 = line("rds", "instance", "db.r5.large");
        assert_eq!((r5.resources, r5.unpriced, r5.usd), (1, 1, 0.0));
        assert_eq!(line("elb", "load_balancer", "classic").unpriced, 1);
        assert_eq!(e.unpriced(), 2);
        assert!((e.total() - (124.83 + 11.5 + 5.75 + 16.0)).abs() < 1e-9);
    }

    #[test]
    fn overrides_replace_and_add_and_gp3_bills_iops_above_the_baseline() {
        let row = |item: &str, unit, usd, included| Row {
            service: "rds".into(),
            region: "eu-west-1".into(),
            item: item.into(),
            unit,
            usd,
            engines: None,
            deployment: None,
            included,
            source: "test".into(),
        };
        let t = shipped().with_overrides(&[
            row("gp3", Unit::GbMonth, 0.1, 0.0),
            row("gp3", Unit::IopsMonth, 0.02, 3_000.0),
            row("db.r5.large", Unit::Hour, 0.3, 0.0),
        ]);
        let rds = |gib, iops| Resource::Rds {
            id: "a".into(),
            class: "db.r5.large".into(),
            engine: "mysql".into(),
            multi_az: false,
            storage_type: "gp3".into(),
            gib,
            iops: Some(iops),
        };
        // 100 GiB with 5,000 IOPS: 2,000 above the 3,000 baseline.
        let e = estimate(&t, "eu-west-1", &[rds(100.0, 5_000.0)]);
        assert!((e.total() - (0.3 * 730.0 + 10.0 + 2_000.0 * 0.02)).abs() < 1e-9);
        // 500 GiB with 12,000 IOPS: RDS's baseline from 400 GiB, nothing billed for IOPS.
        let e = estimate(&t, "eu-west-1", &[rds(500.0, 12_000.0)]);
        assert!((e.total() - (0.3 * 730.0 + 50.0)).abs() < 1e-9);
        // Multi-AZ has no row: unpriced.
        let (m, _) = rds_class_month(&t, "eu-west-1", "db.r5.large", Some("mysql"), false).unwrap();
        assert!((m - 219.0).abs() < 1e-9);
        assert!(rds_class_month(&t, "eu-west-1", "db.r5.large", Some("mysql"), true).is_none());
    }

    #[test]
    fn an_engine_row_wins_over_an_all_engine_row() {
        let mut t = shipped();
        t.prices.push(Row {
            service: "rds".into(),
            region: "us-east-1".into(),
            item: "db.t3.medium".into(),
            unit: Unit::Hour,
            usd: 9.0,
            engines: None,
            deployment: None,
            included: 0.0,
            source: "test".into(),
        });
        let (m, r) =
            rds_class_month(&t, "us-east-1", "db.t3.medium", Some("mysql"), false).unwrap();
        assert_eq!(r.source, "reintech-rds");
        assert!((m - 0.068 * 730.0).abs() < 1e-9);
        let (m, _) =
            rds_class_month(&t, "us-east-1", "db.t3.medium", Some("oracle-ee"), false).unwrap();
        assert!((m - 9.0 * 730.0).abs() < 1e-9);
    }
}
