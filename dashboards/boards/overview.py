"""Overview: every check's state as Nagios' service status screen shows it, counts by state,
and the targets whose latest poll failed."""

from grafana_foundation_sdk.models import common

from lib import checks
from lib.layout import Board, Row
from lib.panels import (
    CHECK_STATES,
    STATE_TYPES,
    UP_DOWN,
    bargauge,
    by_name,
    cell,
    data_link,
    filter_equal,
    limit_line,
    merge,
    organize,
    q,
    stat,
    state_timeline,
    table,
    timeseries,
)
from lib.promql import in_region, sel

CHECK = "job, instance, target, check, host"
TARGET = "job, instance, source, target"


def _check_series(metric: str) -> str:
    return f"max by ({CHECK}) ({in_region(sel(metric))})"


def _count(title: str, expr: str, color: str, description: str, base: str = checks.OK) -> object:
    return stat(
        title,
        description,
        "none",
        [q(expr, title, instant=True)],
        w=4,
        h=4,
        color_mode=common.BigValueColorMode.BACKGROUND,
        thresholds=checks.thresholds([(None, base)] + ([(1, color)] if color != base else [])),
        decimals=0,
    )


def _state_count(state: int, name: str, color: str) -> object:
    expr = f"sum({in_region(sel('headroom_check_state') + f' == bool {state}')})"
    what = {
        0: "are OK",
        1: "are WARNING",
        2: "are CRITICAL",
        3: "are UNKNOWN (no data, stale data, or a poll that timed out)",
    }[state]
    return _count(
        name,
        expr,
        color,
        f"How many checks of the selected targets {what} now, soft and hard states alike "
        "(headroom_check_state). The table below lists them.",
        base=checks.OK,
    )


def checks_row() -> Row:
    attempts = (
        f'label_join('
        f'count_values by ({CHECK}) ("attempt", {in_region(sel("headroom_check_attempt"))}) '
        f"* on ({CHECK}) group_left (max_attempts) "
        f'count_values by ({CHECK}) ("max_attempts", {sel("headroom_check_max_attempts")}), '
        f'"attempts", "/", "attempt", "max_attempts")'
    )
    status_table = table(
        "Service status",
        "Every check of the selected targets, one row per check and host, as Nagios' service "
        "status screen shows them: Host (the target, or the resource of a per-resource check), "
        "Service (the check), Status, Last check (its latest evaluation), Duration (time since "
        "the state last changed), Attempt (attempt/max_check_attempts: a problem is HARD at the "
        "last attempt), State type, and Information: the value the check compared with its "
        "thresholds (its unit is the check's: %, seconds, days, a count; see docs/checks.md). "
        "The check's full output text is on the agent's /status page, where each row links "
        "(click a cell): it is not a label because it changes with every poll, and a label that "
        "does would make a new series each time. Agent is the headroom that runs the check. "
        "Problems sort first.",
        "none",
        [
            q(_check_series("headroom_check_state"), "", instant=True, table=True),
            q(f"{_check_series('headroom_check_last_check_timestamp_seconds')} * 1000", "", instant=True, table=True),
            q(f"time() - {_check_series('headroom_check_last_state_change_timestamp_seconds')}", "", instant=True, table=True),
            q(attempts, "", instant=True, table=True),
            q(_check_series("headroom_check_state_type"), "", instant=True, table=True),
            q(_check_series("headroom_check_value"), "", instant=True, table=True),
        ],
        transformations=[
            merge(),
            organize(
                [
                    ("host", "Host"),
                    ("check", "Service"),
                    ("Value #A", "Status"),
                    ("Value #B", "Last check"),
                    ("Value #C", "Duration"),
                    ("attempts", "Attempt"),
                    ("Value #E", "State type"),
                    ("Value #F", "Information"),
                    ("target", "Target"),
                    ("instance", "Agent"),
                ],
                exclude=["Time", "job", "attempt", "max_attempts", "Value #D"],
            ),
        ],
        sort_by=[("Status", True)],
        overrides=[
            by_name(
                "Status",
                mappings=[CHECK_STATES.to_json()],
                custom_cellOptions=cell("color-background", mode="basic"),
                custom_width=110,
            ),
            by_name("Last check", unit="dateTimeAsIso", custom_width=180),
            by_name("Duration", unit="dtdurations", custom_width=200),
            by_name("Attempt", custom_width=80),
            by_name("State type", mappings=[STATE_TYPES.to_json()], custom_width=95),
        ],
        links=[data_link("Status page of this check's host", "http://${__data.fields.instance}/status?host=${__data.fields.host}")],
        w=24,
        h=14,
    )
    return Row(
        "Checks",
        [
            _state_count(0, "OK", checks.OK),
            _state_count(1, "WARNING", checks.WARNING),
            _state_count(2, "CRITICAL", checks.CRITICAL),
            _state_count(3, "UNKNOWN", checks.UNKNOWN),
            _count(
                "Flapping",
                f"sum({in_region(sel('headroom_check_flapping'))})",
                "orange",
                "How many checks are flapping now: changing state so often (weighted percent "
                "state change over the last 21 results above flap_high, 30% by default) that "
                "notifications would be noise (headroom_check_flapping).",
            ),
            _count(
                "Targets down",
                f"sum({in_region(sel('headroom_up') + ' == bool 0')})",
                checks.CRITICAL,
                "How many of the selected targets failed their latest poll (headroom_up == 0): "
                "their checks go CRITICAL or UNKNOWN. The Targets row lists them.",
            ),
            status_table,
        ],
    )


def targets_row() -> Row:
    up = f"max by ({TARGET}) ({in_region(sel('headroom_up'))})"
    last = f"max by ({TARGET}) ({in_region(sel('headroom_last_success_timestamp_seconds'))})"
    return Row(
        "Targets",
        [
            table(
                "Down targets",
                "The selected targets whose latest poll failed (headroom_up == 0), with their "
                "source, the end of their last successful poll and how long ago that was: they "
                "have been down since about then. Empty when every target answers. The query "
                "returns every target and the table keeps the rows whose up value is 0, so a "
                "target that recovers leaves the table at the next refresh. Last successful "
                "poll is empty for a target that has not answered since headroom started. The "
                "reason is in headroom's log and in headroom_poll_errors_total{kind} (the "
                "headroom itself dashboard).",
                "none",
                [
                    q(up, "", instant=True, table=True),
                    q(f"{last} * 1000", "", instant=True, table=True),
                    q(f"time() - {last}", "", instant=True, table=True),
                ],
                transformations=[
                    merge(),
                    filter_equal("Value #A", 0),
                    organize(
                        [
                            ("source", "Source"),
                            ("target", "Target"),
                            ("Value #B", "Last successful poll"),
                            ("Value #C", "Down for"),
                            ("instance", "Agent"),
                        ],
                        exclude=["Time", "job", "Value #A"],
                    ),
                ],
                sort_by=[("Down for", True)],
                overrides=[
                    by_name("Last successful poll", unit="dateTimeAsIso"),
                    by_name("Down for", unit="dtdurations"),
                ],
                w=12,
                h=8,
            ),
            state_timeline(
                "Target availability",
                "Whether each selected target's latest poll succeeded, over time "
                "(headroom_up: UP green, DOWN red), by source/target.",
                "none",
                [q(up, "{{source}}/{{target}}")],
                mappings=[UP_DOWN],
                thresholds=checks.thresholds([(None, checks.CRITICAL), (1, checks.OK)]),
                w=12,
                h=8,
            ),
        ],
    )


def history_row() -> Row:
    return Row(
        "History",
        [
            state_timeline(
                "Check state history",
                "Each check's state over time (headroom_check_state: OK green, WARNING "
                "yellow, CRITICAL red, UNKNOWN grey), one line per host and check, soft and "
                "hard states alike: when a problem started, how long it lasted, what else "
                "changed at the same time.",
                "none",
                [q(_check_series("headroom_check_state"), "{{host}} {{check}}")],
                mappings=[CHECK_STATES],
                thresholds=checks.thresholds([(None, checks.OK), (1, checks.WARNING), (2, checks.CRITICAL), (3, checks.UNKNOWN)]),
                w=24,
                h=12,
            ),
        ],
    )


def cost_row() -> Row:
    cost = sel("headroom_cost_monthly_usd", region=True)
    unpriced = sel("headroom_cost_unpriced_resources", region=True)
    cloudwatch = in_region(sel("headroom_cloudwatch_estimated_cost_usd_per_month"))
    return Row(
        "Cost",
        [
            timeseries(
                "Estimated monthly cost by service",
                "What the estate of the selected cost targets would cost a month, on-demand "
                "(730 h), per service (headroom_cost_monthly_usd: RDS instances and storage, "
                "ElastiCache nodes, EBS volumes, load balancer hours, the EC2 instances behind "
                "classic load balancers), stacked with CloudWatch's GetMetricData "
                "(headroom_cloudwatch_estimated_cost_usd_per_month), against the cost targets' "
                "budget_usd (headroom_cost_budget_usd: the dashed red line, absent when none is "
                "set). Prices come from catalog/prices.yaml; resources without a price are "
                "left out (the Unpriced panel counts them). See docs/cost.md.",
                "currencyUSD",
                [
                    q(f"sum by (service) ({cost})", "{{service}}"),
                    q(f"sum({cloudwatch})", "cloudwatch"),
                    q(f"sum({in_region(sel('headroom_cost_budget_usd'))})", "budget"),
                ],
                stack=True,
                overrides=[limit_line("budget")],
                decimals=2,
                w=12,
                h=8,
            ),
            bargauge(
                "Monthly cost by item",
                "The estimated monthly cost of each service and item (class, node type, volume "
                "type, load balancer type) in each region, from headroom_cost_monthly_usd.",
                "currencyUSD",
                [q(f"sum by (service, region, item) ({cost}) > 0", "{{service}} {{item}} {{region}}", instant=True)],
                decimals=2,
                w=6,
                h=8,
            ),
            stat(
                "Unpriced resources",
                "Resources the price table has no price for (headroom_cost_unpriced_resources): "
                "their cost is not in the estimate, which reads low by it. Add rows under the "
                "cost target's prices, or refresh catalog/prices.yaml (catalog/update-prices.py). "
                "HeadroomCostUnpriced fires after an hour.",
                "none",
                [q(f"sum({unpriced})", "unpriced", instant=True)],
                color_mode=common.BigValueColorMode.BACKGROUND,
                thresholds=checks.thresholds([(None, checks.OK), (1, checks.WARNING)]),
                decimals=0,
                w=3,
                h=4,
            ),
            stat(
                "Price table age",
                "How old the oldest source of the price table is "
                "(time() - headroom_cost_price_date_timestamp_seconds): the date its figures "
                "were published, not when headroom read them. headroom_cost_price_source_info "
                "names each source.",
                "dtdurations",
                [q(f"time() - min({in_region(sel('headroom_cost_price_date_timestamp_seconds'))})", "age", instant=True)],
                w=3,
                h=4,
            ),
        ],
    )


BOARD = Board(
    uid="headroom-overview",
    title="headroom / Overview",
    description="Every check's state like Nagios' service status screen, counts by state, the targets that are down, and the estate's estimated monthly cost.",
    sources=None,
    rows=[checks_row, targets_row, cost_row, history_row],
)
