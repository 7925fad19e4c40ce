//! `headroom config check` and `headroom config plan`.

use std::path::Path;

use crate::config::ConfigErrors;
use crate::config_file;
use crate::sources::SourceConfig;
use crate::sources::aws::plan::Costs;

/// A count and its noun.
fn counted(k: usize, one: &str, many: &str) -> String {
    crate::units::count(k as u64, one, many)
}

/// `headroom config check`: one line per error, or a summary.
pub fn check_config(path: &Path) -> Result<String, ConfigErrors> {
    let cfg = config_file::load(path)?;
    Ok(cfg.summary())
}

/// `headroom config plan`: the CloudWatch poll plan of every cloudwatch target.
pub fn plan_config(path: &Path) -> Result<String, ConfigErrors> {
    // A plan connects to nothing: the secrets need not be readable here.
    let cfg = config_file::load_with(path, config_file::Secrets::Deferred)?;
    let mut out = String::new();
    let mut total = Costs::default();
    for t in &cfg.targets {
        let SourceConfig::Cloudwatch(s) = &t.source else {
            continue;
        };
        let interval = t.interval.as_secs_f64();
        let c = Costs::of(&s.requests, interval);
        out.push_str(&format!(
            "{} ({}): {}, {} every {}s -> {}, {}, ${:.2}/month; YACE model: {}, {}, ${:.2}/month\n",
            t.name,
            s.access.region,
            counted(s.requests.len(), "metric", "metrics"),
            counted(c.queries, "query", "queries"),
            interval,
            counted(c.calls, "GetMetricData call", "GetMetricData calls"),
            counted(c.billed_metrics, "billed metric", "billed metrics"),
            c.usd_per_month,
            counted(c.yace_calls, "call", "calls"),
            counted(c.queries, "billed metric", "billed metrics"),
            c.yace_usd_per_month
        ));
        total = total + c;
    }
    // What discovery adds: a cloudwatch target per discovering target, whose cost grows
    // with what it finds; the daemon counts it in aws.monthly_budget_usd as it is found.
    for t in &cfg.targets {
        let sets = match &t.source {
            SourceConfig::Elasticache(s) => vec![("node_metrics", &s.node_metrics, "node")],
            SourceConfig::Elb(s) => vec![("lb_metrics", &s.lb_metrics, "load balancer")],
            SourceConfig::Elbv2(s) => vec![
                ("lb_metrics", &s.lb_metrics, "application load balancer"),
                ("nlb_metrics", &s.nlb_metrics, "network load balancer"),
            ],
            SourceConfig::Rds(s) => match &s.instance_metrics {
                Some(m) => vec![("instance_metrics", m, "DB instance")],
                None => continue,
            },
            _ => continue,
        };
        for (field, metrics, per) in sets {
            let one = vec![("Resource".to_owned(), "one".to_owned())];
            let Some(cw) = metrics.target(&[one], t.timeout) else {
                continue;
            };
            let interval = cw.interval.as_secs_f64();
            let c = Costs::of(&cw.source.requests, interval);
            out.push_str(&format!(
                "{}/cloudwatch ({field} of {}): per {per}: {}, {} every {}s -> ${:.2}/month; discovered, so counted in aws.monthly_budget_usd as the daemon finds them\n",
                t.name,
                t.name,
                counted(cw.source.requests.len(), "metric", "metrics"),
                counted(c.queries, "query", "queries"),
                interval,
                c.usd_per_month
            ));
        }
    }
    if out.is_empty() {
        out.push_str(
            "nothing is read from CloudWatch: no cloudwatch target, and no elasticache, elb, elbv2 or rds target whose discoveries it would poll\n",
        );
    }
    for n in &cfg.notices {
        out.push_str(&format!("{n}\n"));
    }
    let Costs {
        queries,
        calls,
        fewest_calls,
        billed_metrics,
        usd_per_month,
        yace_calls,
        yace_usd_per_month,
    } = total;
    out.push_str(&format!(
        "total: {} -> {} (sum over targets of ceil(queries/500) = {fewest_calls}), {}, ${usd_per_month:.2}/month; YACE model: {}, {}, ${yace_usd_per_month:.2}/month",
        counted(queries, "query", "queries"),
        counted(calls, "call", "calls"),
        counted(billed_metrics, "billed metric", "billed metrics"),
        counted(yace_calls, "call", "calls"),
        counted(queries, "billed metric", "billed metrics"),
    ));
    Ok(out)
}
