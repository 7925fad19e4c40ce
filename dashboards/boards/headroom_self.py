"""headroom itself: whether its polls succeed and how long they take, errors by kind, skipped
polls, AWS API requests, and the estimated CloudWatch cost against the monthly budget."""

from grafana_foundation_sdk.models import common

from lib import checks, variables
from lib.layout import Board, Row
from lib.panels import bargauge, limit_line, q, stat, timeseries
from lib.promql import RATE, agent_sel, in_region, rate, sel

SOURCE_TARGET = "job, instance, source, target"
PER_SECOND_POLLS = "suffix:polls/s"
ERRORS = "suffix:errors/s"
# Per-target series of headroom's own work: the agent matters (two agents may poll the same
# target), so legends name it.
AGENT_LEGEND = "{{source}}/{{target}} ({{instance}})"


def _summary(title: str, expr: str, unit: str, steps: list, description: str, decimals: int | None = 0) -> object:
    return stat(
        title,
        description,
        unit,
        [q(expr, title, instant=True)],
        w=6,
        h=4,
        color_mode=common.BigValueColorMode.BACKGROUND,
        thresholds=checks.thresholds(steps),
        decimals=decimals,
    )


def summary_row() -> Row:
    return Row(
        "Targets",
        [
            _summary(
                "Targets up",
                f"sum({in_region(sel('headroom_up'))})",
                "none",
                [(None, checks.OK)],
                "Selected targets whose latest poll succeeded (sum of headroom_up).",
            ),
            _summary(
                "Targets down",
                f"sum({in_region(sel('headroom_up') + ' == bool 0')})",
                "none",
                [(None, checks.OK), (1, checks.CRITICAL)],
                "Selected targets whose latest poll failed (headroom_up == 0). The Overview "
                "lists them; Poll errors by target below says why.",
            ),
            _summary(
                "Poll errors",
                f"sum({in_region(sel('source_target_kind:headroom_poll_errors:rate5m'))})",
                ERRORS,
                [(None, checks.OK), (0.001, checks.WARNING)],
                "Failed polls per second over the last 5 minutes, every kind and selected "
                "target together (source_target_kind:headroom_poll_errors:rate5m, the "
                "recording rule the poll-error alert uses).",
                decimals=None,
            ),
            _summary(
                "Skipped polls",
                f"sum({in_region(sel('source_target:headroom_polls_skipped:rate5m'))})",
                PER_SECOND_POLLS,
                [(None, checks.OK), (0.001, checks.WARNING)],
                "Poll ticks skipped per second over the last 5 minutes because the previous "
                "poll of the target was still running "
                "(source_target:headroom_polls_skipped:rate5m): a target slower than its "
                "interval.",
                decimals=None,
            ),
        ],
    )


def polls_row() -> Row:
    def quantile(phi: float) -> str:
        buckets = in_region(f"rate({sel('headroom_poll_duration_seconds_bucket')}[{RATE}])")
        return f"histogram_quantile({phi}, sum by ({SOURCE_TARGET}, le) ({buckets}))"

    return Row(
        "Polls",
        [
            timeseries(
                "Poll duration (p99)",
                "The 99th percentile of poll durations per source/target "
                "(histogram_quantile over headroom_poll_duration_seconds_bucket, failed polls "
                "included; buckets from 1 ms to 30 s). A poll close to the target's timeout "
                "is about to fail; one longer than its interval skips ticks.",
                "s",
                [q(quantile(0.99), AGENT_LEGEND)],
            ),
            timeseries(
                "Poll duration (median)",
                "The median poll duration per source/target (histogram_quantile(0.5) over "
                "headroom_poll_duration_seconds_bucket).",
                "s",
                [q(quantile(0.5), AGENT_LEGEND)],
            ),
            timeseries(
                "Poll errors by kind",
                "Failed polls per second over the last 5 minutes by kind, selected targets "
                "together (source_target_kind:headroom_poll_errors:rate5m): timeout, "
                "connect, auth, protocol, throttled (AWS rate limits after the SDK's "
                "retries), no_data (a capacity model without history yet).",
                ERRORS,
                [q(f"sum by (kind) ({in_region(sel('source_target_kind:headroom_poll_errors:rate5m'))})", "{{kind}}")],
            ),
            timeseries(
                "Poll errors by target",
                "Failed polls per second over the last 5 minutes per source/target, every "
                "kind together (source_target_kind:headroom_poll_errors:rate5m).",
                ERRORS,
                [
                    q(
                        f"sum by ({SOURCE_TARGET}) ({in_region(sel('source_target_kind:headroom_poll_errors:rate5m'))})",
                        AGENT_LEGEND,
                    )
                ],
            ),
            timeseries(
                "Skipped polls",
                "Poll ticks skipped per second over the last 5 minutes, per source/target "
                "(source_target:headroom_polls_skipped:rate5m): the previous poll was still "
                "running. Raise the target's interval or its timeout's headroom.",
                PER_SECOND_POLLS,
                [q(in_region(sel("source_target:headroom_polls_skipped:rate5m")), AGENT_LEGEND)],
            ),
            timeseries(
                "Polls in flight against the bound",
                "Polls running now (headroom_polls_in_flight) and polls due but waiting for a "
                "turn (headroom_polls_waiting) against max_concurrent_polls, the most that "
                "may run at once over all targets (headroom_max_concurrent_polls: the dashed "
                "red line). Waiting polls start late; HeadroomPollsWaiting fires when some "
                "wait at every scrape for 15 minutes.",
                "none",
                [
                    q(agent_sel("headroom_polls_in_flight"), "{{instance}} in flight"),
                    q(agent_sel("headroom_polls_waiting"), "{{instance}} waiting"),
                    q(agent_sel("headroom_max_concurrent_polls"), "{{instance}} max"),
                ],
                overrides=[limit_line(".* max")],
                decimals=0,
            ),
            timeseries(
                "Time since last successful poll",
                "Age of each target's data: now minus the end of its latest successful poll "
                "(headroom_last_success_timestamp_seconds). It saws between 0 and the "
                "interval while polls succeed and climbs while they fail; checks go UNKNOWN "
                "\"stale\" past their max_age (3 intervals + the timeout by default).",
                "s",
                [q(f"time() - {in_region(sel('headroom_last_success_timestamp_seconds'))}", AGENT_LEGEND)],
            ),
        ],
    )


def aws_row() -> Row:
    cost = sel("headroom_cloudwatch_estimated_cost_usd_per_month")
    budget = sel("headroom_cloudwatch_budget_usd_per_month")
    return Row(
        "AWS",
        [
            timeseries(
                "AWS API requests by operation",
                "AWS API requests per second, per target and operation (rate of "
                "headroom_aws_requests_total{service,operation}): every AWS target (cloudwatch, "
                "elb, elbv2, elasticache, rds) counts its own calls. GetMetricData is what "
                "CloudWatch bills.",
                "reqps",
                [
                    q(
                        in_region(rate(sel("headroom_aws_requests_total"), "job, instance, target, service, operation")),
                        "{{target}} {{operation}} ({{instance}})",
                    )
                ],
            ),
            timeseries(
                "CloudWatch datapoint age",
                "Age of the CloudWatch datapoint behind each exported series, per series "
                "(headroom_cloudwatch_datapoint_age_seconds): at least the poll window's "
                "`delay` (2 minutes by default), since CloudWatch revises its newest points.",
                "s",
                [
                    q(
                        f"max by (job, instance, target, series) ({sel('headroom_cloudwatch_datapoint_age_seconds', region=True)})",
                        "{{target}} {{series}}",
                    )
                ],
            ),
            timeseries(
                "CloudWatch cost per month against budget",
                "What the cloudwatch targets' poll plans cost per 30-day month at $0.01 per "
                "1,000 metrics requested, summed per headroom agent "
                "(headroom_cloudwatch_estimated_cost_usd_per_month), against aws.monthly_budget_usd "
                "(headroom_cloudwatch_budget_usd_per_month: the dashed red line, absent when "
                "no budget is set). With a budget, headroom stretches the intervals to fit it; "
                "the per-node targets of elasticache are not part of the budget.",
                "currencyUSD",
                [
                    q(f"sum by (job, instance) ({in_region(cost)})", "{{instance}} estimated cost"),
                    q(f"max by (job, instance) ({budget})", "{{instance}} budget"),
                ],
                overrides=[limit_line(".* budget")],
                decimals=2,
            ),
            bargauge(
                "CloudWatch cost per month by target",
                "The estimated monthly GetMetricData cost of each cloudwatch target's poll plan "
                "(headroom_cloudwatch_estimated_cost_usd_per_month; up to five statistics of a "
                "metric in one call bill as one). `headroom config plan` prints the plan.",
                "currencyUSD",
                [q(in_region(cost), "{{target}}", instant=True)],
                decimals=2,
                min=0,
            ),
        ],
    )


BOARD = Board(
    uid="headroom-self",
    title="headroom / headroom itself",
    description="headroom's own polls: success, durations, errors by kind, skipped polls, polls in flight against the bound, AWS requests and the CloudWatch cost against its budget.",
    sources=None,
    rows=[summary_row, polls_row, aws_row],
    extra_variables=[variables.agent],
)
