//! CloudWatch series names as YACE (prometheus-community/yet-another-cloudwatch-exporter)
//! builds them, so dashboards made for YACE work on headroom: `aws_<namespace>_<metric>_<stat>`
//! with `dimension_<Name>` labels. The rules (from YACE's `pkg/promutil`: `BuildMetricName`
//! and `PromString`): the namespace is lower-cased; an
//! underscore goes before an upper-case letter that follows a lower-case letter or a digit;
//! other characters that are not `[a-zA-Z0-9_]` become `_`, and `%` becomes `_percent`;
//! `aws_` is prefixed unless the namespace already starts with `aws`; a metric name that
//! repeats the namespace's leading parts loses them.

/// `HealthyHostCount` -> `healthy_host_count`, `CPUUtilization` -> `cpuutilization`,
/// `HTTPCode_Backend_4XX` -> `httpcode_backend_4_xx`.
pub fn prom_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut prev: Option<char> = None;
    for c in s.chars() {
        if c.is_ascii_uppercase()
            && prev.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit())
        {
            out.push('_');
        }
        match c {
            '%' => out.push_str("_percent"),
            c if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            _ => out.push('_'),
        }
        prev = Some(c);
    }
    out
}

/// The series name of one statistic of one CloudWatch metric.
pub fn metric_name(namespace: &str, metric: &str, statistic: &str) -> String {
    let ns = prom_string(&namespace.trim_start_matches('/').to_ascii_lowercase());
    let mut name = String::new();
    if !ns.starts_with("aws") {
        name.push_str("aws_");
    }
    name.push_str(&ns);
    name.push('_');
    let m = prom_string(metric);
    // A metric name that repeats the namespace's parts drops them (YACE: Glue's `glue.*`).
    let mut skip = 0;
    for part in ns.split('_') {
        if m[skip..].starts_with(part) {
            skip = part.len();
        }
    }
    name.push_str(m[skip..].trim_start_matches('_'));
    name.push('_');
    name.push_str(&prom_string(statistic));
    name
}

/// The name of a namespace's info series, `aws_<namespace>_info` (YACE's
/// `BuildNamespaceInfoMetrics`: the metric name `info` with no statistic).
pub fn info_name(namespace: &str) -> String {
    let stat = metric_name(namespace, "info", "x");
    stat[..stat.len() - 2].to_owned()
}

/// The label of a dimension: `dimension_LoadBalancerName` (YACE keeps the CamelCase).
pub fn dimension_label(name: &str) -> String {
    let mut s = String::from("dimension_");
    s.extend(name.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        }
    }));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names from YACE's README and names derived from its `BuildMetricName` (pkg/promutil).
    #[test]
    fn yace_names() {
        assert_eq!(
            metric_name("AWS/ELB", "Latency", "Average"),
            "aws_elb_latency_average"
        );
        assert_eq!(
            metric_name("AWS/ELB", "HTTPCode_Backend_4XX", "Sum"),
            "aws_elb_httpcode_backend_4_xx_sum"
        );
        assert_eq!(
            metric_name("AWS/ELB", "HealthyHostCount", "Minimum"),
            "aws_elb_healthy_host_count_minimum"
        );
        assert_eq!(
            metric_name("AWS/RDS", "FreeStorageSpace", "Average"),
            "aws_rds_free_storage_space_average"
        );
        assert_eq!(
            metric_name("AWS/ElastiCache", "CPUUtilization", "Average"),
            "aws_elasticache_cpuutilization_average"
        );
        assert_eq!(
            metric_name("AWS/ApplicationELB", "TargetResponseTime", "p99"),
            "aws_applicationelb_target_response_time_p99"
        );
        assert_eq!(
            metric_name("AWS/ELB", "Latency", "p99.9"),
            "aws_elb_latency_p99_9"
        );
        assert_eq!(
            metric_name("/aws/sagemaker/TrainingJobs", "CPUUtilization", "Average"),
            "aws_sagemaker_trainingjobs_cpuutilization_average"
        );
        assert_eq!(
            metric_name("Custom", "Queue%", "Sum"),
            "aws_custom_queue_percent_sum"
        );
        assert_eq!(info_name("AWS/ELB"), "aws_elb_info");
        assert_eq!(info_name("AWS/NetworkELB"), "aws_networkelb_info");
        assert_eq!(info_name("AWS/ElastiCache"), "aws_elasticache_info");
        assert_eq!(
            dimension_label("LoadBalancerName"),
            "dimension_LoadBalancerName"
        );
    }
}
