"""Load balancers: classic ELB and ALB/NLB host health, latency and HTTP responses from
CloudWatch (named as YACE names them), and the days left on the listeners' certificates."""

from grafana_foundation_sdk.models import common

from lib import checks
from lib.layout import Board, Row
from lib.panels import by_regexp, q, bargauge, stat, timeseries
from lib.promql import in_region, sel

DAYS = "suffix:days"
RESPONSES = "suffix:responses"


def class_colours():
    """Series legends ending in 2xx, 4xx and 5xx drawn green, orange and red."""
    return [
        by_regexp(".* 2xx", color={"mode": "fixed", "fixedColor": checks.OK}),
        by_regexp(".* 4xx", color={"mode": "fixed", "fixedColor": "orange"}),
        by_regexp(".* 5xx", color={"mode": "fixed", "fixedColor": checks.CRITICAL}),
    ]


def _host_count(title: str, metric: str, check: str, legend: str, description: str) -> object:
    return stat(
        title,
        description,
        "none",
        [q(in_region(sel(metric)), legend, instant=True)],
        w=6,
        h=5,
        text_mode=common.BigValueTextMode.VALUE_AND_NAME,
        color_mode=common.BigValueColorMode.BACKGROUND,
        thresholds=checks.check_thresholds(check, integer=True),
        decimals=0,
    )


def hosts_row() -> Row:
    elb = {"healthy": "headroom_elb_healthy_instances", "unhealthy": "headroom_elb_unhealthy_instances"}
    v2 = {"healthy": "headroom_elbv2_healthy_targets", "unhealthy": "headroom_elbv2_unhealthy_targets"}
    red_unhealthy = by_regexp(".* unhealthy", color={"mode": "fixed", "fixedColor": checks.CRITICAL})
    green_healthy = by_regexp(".* healthy", color={"mode": "fixed", "fixedColor": checks.OK})
    return Row(
        "Hosts",
        [
            _host_count(
                "Classic ELB: healthy instances",
                elb["healthy"],
                "HEALTHY_HOST_COUNT",
                "{{load_balancer}}",
                "Registered instances InService, per classic load balancer "
                "(headroom_elb_healthy_instances, from DescribeInstanceHealth). Colours are "
                "HEALTHY_HOST_COUNT's: WARNING below 2, CRITICAL below 1.",
            ),
            _host_count(
                "Classic ELB: unhealthy instances",
                elb["unhealthy"],
                "UNHEALTHY_HOST_COUNT",
                "{{load_balancer}}",
                "Registered instances not InService, per classic load balancer "
                "(headroom_elb_unhealthy_instances). Colours are UNHEALTHY_HOST_COUNT's: "
                "WARNING above 0, CRITICAL above 1 (ELB_HEALTHY_STATUS is CRITICAL above 0).",
            ),
            _host_count(
                "ALB/NLB: healthy targets",
                v2["healthy"],
                "TG_HEALTHY_HOST_COUNT",
                "{{target_group}}",
                "Targets in state healthy, per target group of the ALBs and NLBs "
                "(headroom_elbv2_healthy_targets, from DescribeTargetHealth). Colours are "
                "TG_HEALTHY_HOST_COUNT's: WARNING below 2, CRITICAL below 1.",
            ),
            _host_count(
                "ALB/NLB: unhealthy targets",
                v2["unhealthy"],
                "TG_UNHEALTHY_HOST_COUNT",
                "{{target_group}}",
                "Targets unhealthy, unhealthy.draining or unavailable, per target group "
                "(headroom_elbv2_unhealthy_targets; draining, initial and unused targets count "
                "as neither). Colours are TG_UNHEALTHY_HOST_COUNT's: WARNING above 0, CRITICAL "
                "above 1.",
            ),
            timeseries(
                "Classic ELB instances",
                "InService (healthy) and other (unhealthy) registered instances of each "
                "classic load balancer over time (headroom_elb_healthy_instances, "
                "headroom_elb_unhealthy_instances).",
                "none",
                [
                    q(in_region(sel(elb["healthy"])), "{{load_balancer}} healthy"),
                    q(in_region(sel(elb["unhealthy"])), "{{load_balancer}} unhealthy"),
                ],
                decimals=0,
                overrides=[green_healthy, red_unhealthy],
            ),
            timeseries(
                "ALB/NLB targets",
                "Healthy and unhealthy targets of each ALB/NLB target group over time "
                "(headroom_elbv2_healthy_targets, headroom_elbv2_unhealthy_targets).",
                "none",
                [
                    q(in_region(sel(v2["healthy"])), "{{target_group}} healthy"),
                    q(in_region(sel(v2["unhealthy"])), "{{target_group}} unhealthy"),
                ],
                decimals=0,
                overrides=[green_healthy, red_unhealthy],
            ),
        ],
    )


def latency_row() -> Row:
    lb = "{{dimension_LoadBalancerName}}"
    return Row(
        "Latency",
        [
            timeseries(
                "Latency (average)",
                "Average time from the load balancer sending a request to a backend until the "
                "backend starts answering, per classic load balancer (CloudWatch AWS/ELB "
                "Latency, Average: aws_elb_latency_average). Each point is the newest settled "
                "CloudWatch datapoint headroom read. Dashed lines are LATENCY's thresholds "
                "(WARNING above 1 s, CRITICAL above 5 s), which this series is judged by.",
                "s",
                [q(sel("aws_elb_latency_average", region=True), lb)],
                thresholds=checks.check_thresholds("LATENCY"),
            ),
            timeseries(
                "Latency (p99)",
                "The 99th percentile of the same latency (CloudWatch AWS/ELB Latency, "
                "extended statistic p99: aws_elb_latency_p99): the slowest 1% of requests, "
                "which the average hides. Configure the p99 statistic on a cloudwatch target "
                "to fill it. No check judges it: LATENCY judges the average.",
                "s",
                [q(sel("aws_elb_latency_p99", region=True), lb)],
            ),
        ],
    )


def http_row() -> Row:
    lb = "{{dimension_LoadBalancerName}}"
    per_period = (
        "CloudWatch Sum statistics: responses counted over one CloudWatch period (the metric's "
        "`period`, 60 s by default), the newest settled period headroom read. CloudWatch has "
        "no datapoint for a period without such responses; set `nil_to_zero` on the metric "
        "to export 0 then."
    )
    return Row(
        "HTTP responses",
        [
            timeseries(
                "Backend responses by class",
                "HTTP responses the backends sent through each classic load balancer, by "
                "status class: 2xx (aws_elb_httpcode_backend_2_xx_sum), 4xx "
                "(aws_elb_httpcode_backend_4_xx_sum), 5xx (aws_elb_httpcode_backend_5_xx_sum). "
                + per_period,
                RESPONSES,
                [
                    q(sel("aws_elb_httpcode_backend_2_xx_sum", region=True), f"{lb} 2xx"),
                    q(sel("aws_elb_httpcode_backend_4_xx_sum", region=True), f"{lb} 4xx"),
                    q(sel("aws_elb_httpcode_backend_5_xx_sum", region=True), f"{lb} 5xx"),
                ],
                decimals=0,
                overrides=class_colours(),
            ),
            timeseries(
                "Load balancer 5xx",
                "HTTP 5xx responses the load balancer itself generated (no healthy backend, "
                "backend connection errors, surge queue full: aws_elb_httpcode_elb_5_xx_sum), "
                "per classic load balancer. "
                + per_period,
                RESPONSES,
                [q(sel("aws_elb_httpcode_elb_5_xx_sum", region=True), f"{lb} ELB 5xx")],
                decimals=0,
                overrides=[by_regexp(".*", color={"mode": "fixed", "fixedColor": checks.CRITICAL})],
            ),
        ],
    )


def v2_row() -> Row:
    lb = "{{dimension_LoadBalancer}}"
    per_period = (
        "CloudWatch Sum statistics over one period (60 s by default), the newest settled period "
        "headroom read through the elbv2 target's lb_metrics / nlb_metrics (the discovered "
        "<target>/cloudwatch target); CloudWatch has no datapoint for a period without any."
    )
    return Row(
        "ALB/NLB traffic",
        [
            timeseries(
                "ALB requests",
                "Requests each application load balancer processed per period "
                "(CloudWatch AWS/ApplicationELB RequestCount, Sum: "
                "aws_applicationelb_request_count_sum; LoadBalancer is app/<name>/<id>). "
                + per_period,
                "suffix:requests",
                [q(sel("aws_applicationelb_request_count_sum", region=True), lb)],
                decimals=0,
            ),
            timeseries(
                "ALB target response time",
                "Average time from the load balancer sending a request to a target until the "
                "target starts answering (CloudWatch AWS/ApplicationELB TargetResponseTime, "
                "Average: aws_applicationelb_target_response_time_average).",
                "s",
                [q(sel("aws_applicationelb_target_response_time_average", region=True), lb)],
            ),
            timeseries(
                "ALB responses by class",
                "HTTP responses of the targets by class (aws_applicationelb_httpcode_target_"
                "2_xx_count_sum, ..._4_xx_..., ..._5_xx_...) and the 5xx the load balancer "
                "generated itself (aws_applicationelb_httpcode_elb_5_xx_count_sum). "
                + per_period,
                RESPONSES,
                [
                    q(sel("aws_applicationelb_httpcode_target_2_xx_count_sum", region=True), f"{lb} 2xx"),
                    q(sel("aws_applicationelb_httpcode_target_4_xx_count_sum", region=True), f"{lb} 4xx"),
                    q(sel("aws_applicationelb_httpcode_target_5_xx_count_sum", region=True), f"{lb} 5xx"),
                    q(sel("aws_applicationelb_httpcode_elb_5_xx_count_sum", region=True), f"{lb} ELB 5xx"),
                ],
                decimals=0,
                overrides=class_colours(),
            ),
            timeseries(
                "NLB active flows",
                "Concurrent TCP flows from clients to targets, per network load balancer "
                "(CloudWatch AWS/NetworkELB ActiveFlowCount, Average: "
                "aws_networkelb_active_flow_count_average; LoadBalancer is net/<name>/<id>).",
                "none",
                [q(sel("aws_networkelb_active_flow_count_average", region=True), lb)],
                decimals=0,
            ),
        ],
    )


def certificates_row() -> Row:
    return Row(
        "Certificates",
        [
            bargauge(
                "Certificate days left",
                "Days until the earliest expiry each TLS target reports: the certificates of "
                "the HTTPS/TLS listeners (discovered targets named <target>/<load "
                "balancer>:<port>) and the configured tls targets "
                "(target:headroom_tls_certificate_expiry_days:min, the recording rule the "
                "certificate alerts use). Colours are ELB_CERTIFICATE's: WARNING below 30 "
                "days, CRITICAL below 15 (the check also goes CRITICAL on an untrusted chain "
                "or a wrong host name; the Overview shows those).",
                DAYS,
                [q(in_region(sel("target:headroom_tls_certificate_expiry_days:min")), "{{target}}", instant=True)],
                thresholds=checks.check_thresholds("ELB_CERTIFICATE"),
                decimals=1,
                min=0,
                w=24,
                h=8,
            ),
        ],
    )


BOARD = Board(
    uid="headroom-load-balancers",
    title="headroom / Load balancers",
    description="Classic ELB and ALB/NLB health, latency, HTTP responses and traffic, and certificate days left.",
    sources=("cloudwatch", "elb", "elbv2", "tls"),
    rows=[hosts_row, latency_row, http_row, v2_row, certificates_row],
)
