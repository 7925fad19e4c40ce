//! Packing CloudWatch queries into GetMetricData calls.
//!
//! GetMetricData takes at most 500 queries per call and bills "$0.01 per 1,000 metrics
//! requested", where "you can request up to five statistics for the same metric in a single
//! GetMetricData API request. Additional statistics are billed as an additional metric"
//! (AWS text quoted in prometheus/cloudwatch_exporter PR #482). So the unit of packing is a
//! metric with up to five of its statistics: a unit is never split across calls (which would
//! bill it twice), and units are packed first-fit-decreasing into calls of 500 queries. One
//! call has one time window, so queries are grouped by region and window first.

use std::collections::BTreeMap;

/// Queries per GetMetricData call (API reference, `MetricDataQueries`: "maximum of 500").
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// Statistics of one metric billed as one metric within one call.
pub const STATS_PER_BILLED_METRIC: usize = 5;
/// Published GetMetricData price: USD per 1,000 metrics requested (aws.amazon.com/cloudwatch/pricing,
/// "API requests", GetMetricData; also quoted in cloudwatch_exporter issue #134).
pub const USD_PER_1000_METRICS: f64 = 0.01;

/// One metric to read, with the statistics wanted of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricRequest {
    pub region: String,
    pub namespace: String,
    pub metric: String,
    /// (name, value), sorted by name.
    pub dimensions: Vec<(String, String)>,
    pub statistics: Vec<String>,
    pub period_s: u32,
    /// How far back the window starts (seconds before its end).
    pub length_s: u32,
    /// How far behind now the window ends.
    pub delay_s: u32,
}

/// One GetMetricData call: a region, a window, and the queries as indexes into the
/// request list with the statistic to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub region: String,
    pub length_s: u32,
    pub delay_s: u32,
    pub queries: Vec<(usize, String)>,
}

/// What a poll costs.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub calls: Vec<Call>,
    pub queries: usize,
    pub billed_metrics: usize,
}

impl Plan {
    /// USD per month if this plan runs every `interval_s` seconds (30-day month).
    pub fn usd_per_month(&self, interval_s: f64) -> f64 {
        let polls = 30.0 * 86_400.0 / interval_s.max(1.0);
        self.billed_metrics as f64 * polls * USD_PER_1000_METRICS / 1000.0
    }
}

/// Region, window length and delay: what one call shares.
type Window<'a> = (&'a str, u32, u32);
/// A request and up to five of its statistics: billed as one metric, never split.
type Unit<'a> = (usize, &'a [String]);

/// Packs `requests` into calls.
pub fn plan(requests: &[MetricRequest]) -> Plan {
    // (region, length, delay) -> units of (request index, up to 5 statistics)
    let mut groups: BTreeMap<Window<'_>, Vec<Unit<'_>>> = BTreeMap::new();
    let mut billed = 0;
    let mut queries = 0;
    for (i, r) in requests.iter().enumerate() {
        for chunk in r.statistics.chunks(STATS_PER_BILLED_METRIC) {
            groups
                .entry((r.region.as_str(), r.length_s, r.delay_s))
                .or_default()
                .push((i, chunk));
            billed += 1;
            queries += chunk.len();
        }
    }
    let mut calls = Vec::new();
    for ((region, length_s, delay_s), mut units) in groups {
        // First fit decreasing: big units first, each into the first call with room.
        units.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        let mut bins: Vec<Call> = Vec::new();
        for (i, stats) in units {
            let bin = match bins
                .iter_mut()
                .find(|b| b.queries.len() + stats.len() <= MAX_QUERIES_PER_CALL)
            {
                Some(b) => b,
                None => {
                    bins.push(Call {
                        region: region.to_owned(),
                        length_s,
                        delay_s,
                        queries: Vec::new(),
                    });
                    bins.last_mut().expect("just pushed")
                }
            };
            bin.queries.extend(stats.iter().map(|s| (i, s.clone())));
        }
        calls.extend(bins);
    }
    Plan {
        calls,
        queries,
        billed_metrics: billed,
    }
}

/// One target's plan beside what YACE's model would make of the same metrics, per month at
/// an interval.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Costs {
    pub queries: usize,
    pub calls: usize,
    /// The fewest calls the queries could take: ceil(queries / 500).
    pub fewest_calls: usize,
    pub billed_metrics: usize,
    pub usd_per_month: f64,
    /// YACE: one query per statistic, each billed as a metric, batched per job (namespace).
    pub yace_calls: usize,
    pub yace_usd_per_month: f64,
}

impl Costs {
    pub fn of(requests: &[MetricRequest], interval_s: f64) -> Self {
        let p = plan(requests);
        let mut per_ns: BTreeMap<&str, usize> = Default::default();
        for r in requests {
            *per_ns.entry(r.namespace.as_str()).or_default() += r.statistics.len();
        }
        let polls = 30.0 * 86_400.0 / interval_s.max(1.0);
        Costs {
            queries: p.queries,
            calls: p.calls.len(),
            fewest_calls: p.queries.div_ceil(MAX_QUERIES_PER_CALL),
            billed_metrics: p.billed_metrics,
            usd_per_month: p.usd_per_month(interval_s),
            yace_calls: per_ns
                .values()
                .map(|q| q.div_ceil(MAX_QUERIES_PER_CALL))
                .sum(),
            yace_usd_per_month: p.queries as f64 * polls * USD_PER_1000_METRICS / 1000.0,
        }
    }
}

/// The sum of two targets' costs.
impl std::ops::Add for Costs {
    type Output = Costs;

    fn add(self, o: Costs) -> Costs {
        Costs {
            queries: self.queries + o.queries,
            calls: self.calls + o.calls,
            fewest_calls: self.fewest_calls + o.fewest_calls,
            billed_metrics: self.billed_metrics + o.billed_metrics,
            usd_per_month: self.usd_per_month + o.usd_per_month,
            yace_calls: self.yace_calls + o.yace_calls,
            yace_usd_per_month: self.yace_usd_per_month + o.yace_usd_per_month,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(region: &str, n: usize, stats: &[&str]) -> Vec<MetricRequest> {
        (0..n)
            .map(|i| MetricRequest {
                region: region.into(),
                namespace: "AWS/ELB".into(),
                metric: format!("M{i}"),
                dimensions: vec![("LoadBalancerName".into(), format!("lb-{i}"))],
                statistics: stats.iter().map(|s| s.to_string()).collect(),
                period_s: 60,
                length_s: 300,
                delay_s: 120,
            })
            .collect()
    }

    #[test]
    fn twelve_hundred_queries_make_three_calls() {
        let p = plan(&req("eu-west-1", 400, &["Average", "Maximum", "Sum"]));
        assert_eq!(p.queries, 1200);
        assert_eq!(p.calls.len(), 3);
        assert_eq!(p.billed_metrics, 400);
        assert!(
            p.calls
                .iter()
                .all(|c| c.queries.len() <= MAX_QUERIES_PER_CALL)
        );
        // Every statistic of a metric is in the same call.
        for c in &p.calls {
            for (i, _) in &c.queries {
                assert_eq!(c.queries.iter().filter(|(j, _)| j == i).count(), 3);
            }
        }
    }

    #[test]
    fn more_than_five_statistics_bill_twice_and_regions_never_mix() {
        let stats = [
            "Average",
            "Maximum",
            "Minimum",
            "Sum",
            "SampleCount",
            "p99",
            "p50",
        ];
        let mut r = req("us-west-2", 10, &stats);
        r.extend(req("eu-west-1", 10, &stats));
        let p = plan(&r);
        assert_eq!(p.queries, 140);
        assert_eq!(p.billed_metrics, 40); // ceil(7/5) = 2 per metric
        assert_eq!(p.calls.len(), 2);
        assert!(
            p.calls
                .iter()
                .all(|c| c.queries.iter().all(|(i, _)| r[*i].region == c.region))
        );
    }

    #[test]
    fn cost_uses_the_published_price() {
        // 20 classic ELBs x 13 metrics = 260 billed metrics every minute: 260 x 43,200
        // minutes = 11.2 M metrics a month, $112.32 at $0.01 per 1,000.
        let p = plan(&req("eu-west-1", 260, &["Average"]));
        assert!(
            (p.usd_per_month(60.0) - 112.32).abs() < 0.01,
            "{}",
            p.usd_per_month(60.0)
        );
    }

    #[test]
    fn a_later_delay_gets_its_own_window() {
        // A metric with its own delay cannot share a call whose window ends elsewhere.
        let mut r = req("eu-west-1", 3, &["Sum"]);
        r[2].delay_s = 600;
        let p = plan(&r);
        assert_eq!(p.calls.len(), 2);
        let mut delays: Vec<u32> = p.calls.iter().map(|c| c.delay_s).collect();
        delays.sort();
        assert_eq!(delays, [120, 600]);
    }
}
