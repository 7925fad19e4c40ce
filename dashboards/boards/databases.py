"""Databases: MySQL/MariaDB throughput, read/write mix, connections, InnoDB buffer pool, and
the capacity model's view (TPS against the modelled maximum, headroom, days to saturation,
the bottleneck). Capacity series' `target` is the capacity target's name, not the database's,
so the capacity row has its own variable, `capacity`."""

from grafana_foundation_sdk.models import common

from lib import checks, variables
from lib.layout import Board, Row
from lib.panels import by_name, limit_line, organize, q, stat, table, timeseries
from lib.promql import CAPACITY, in_region, sel

TPS = "suffix:tx/s"
DAYS = "suffix:days"


def throughput_row() -> Row:
    return Row(
        "Throughput",
        [
            timeseries(
                "Transactions per second",
                "Transactions per second over each poll interval "
                "(headroom_mysql_transactions_per_second): commits, rollbacks and autocommit "
                "statements, from the counter docs/capacity.md#transactions-per-second "
                "describes (headroom_mysql_tps_source_info names it). What the capacity model "
                "is built from. MYSQL_TPS has no thresholds by default.",
                TPS,
                [q(in_region(sel("headroom_mysql_transactions_per_second")))],
            ),
            timeseries(
                "Queries per second",
                "Statements clients sent per second (headroom_mysql_queries_per_second: the "
                "Questions rate without headroom's own statements).",
                "suffix:queries/s",
                [q(in_region(sel("headroom_mysql_queries_per_second")))],
            ),
            timeseries(
                "Reads and writes",
                "Statements per second by kind (headroom_mysql_statements_per_second): read "
                "is Com_select without headroom's own; write is inserts, updates, deletes, "
                "replaces (and their multi-table and select forms) and LOAD DATA. Stacked.",
                "suffix:statements/s",
                [q(in_region(sel("headroom_mysql_statements_per_second")), "{{target}} {{kind}}")],
                stack=True,
            ),
            timeseries(
                "Read share",
                "Reads out of reads and writes over each poll interval "
                "(headroom_mysql_read_ratio): how read-heavy the workload is, which decides "
                "whether replicas or a cache would take load off the primary.",
                "percentunit",
                [q(in_region(sel("headroom_mysql_read_ratio")))],
                min=0,
                max=1,
            ),
        ],
    )


def connections_row() -> Row:
    return Row(
        "Connections and InnoDB",
        [
            timeseries(
                "Connections used",
                "Connected threads as a share of max_connections "
                "(headroom_mysql_connections_used_ratio{threads=\"connected\"}), and the "
                "highest share since the server started (threads=\"max_used\", from "
                "Max_used_connections). Dashed lines are MYSQL_CONNECTIONS' thresholds: "
                "WARNING above 80%, CRITICAL above 90%.",
                "percentunit",
                [
                    q(in_region(sel("headroom_mysql_connections_used_ratio", 'threads="connected"')), "{{target}} connected"),
                    q(in_region(sel("headroom_mysql_connections_used_ratio", 'threads="max_used"')), "{{target}} max used"),
                ],
                thresholds=checks.check_thresholds("MYSQL_CONNECTIONS"),
                min=0,
                max=1,
            ),
            timeseries(
                "Connections against max_connections",
                "Connected threads (mysql_global_status_threads_connected, headroom's own "
                "connection included) against the server's max_connections "
                "(mysql_global_variables_max_connections: the dashed red line).",
                "none",
                [
                    q(in_region(sel("mysql_global_status_threads_connected")), "{{target}} connected"),
                    q(in_region(sel("mysql_global_variables_max_connections")), "{{target}} max_connections"),
                ],
                overrides=[limit_line(".* max_connections")],
                decimals=0,
            ),
            timeseries(
                "Threads running",
                "Threads executing a statement at each poll, headroom's own excluded "
                "(headroom_mysql_threads_running): the server's concurrency. Dashed lines are "
                "MYSQL_THREADS_RUNNING's thresholds: WARNING above 32, CRITICAL above 64.",
                "none",
                [q(in_region(sel("headroom_mysql_threads_running")))],
                thresholds=checks.check_thresholds("MYSQL_THREADS_RUNNING", integer=True),
                decimals=0,
            ),
            timeseries(
                "Buffer pool hit ratio",
                "Page reads the InnoDB buffer pool served from memory over each poll interval "
                "(headroom_mysql_buffer_pool_hit_ratio{window=\"last_poll\"}: 1 - "
                "Innodb_buffer_pool_reads / Innodb_buffer_pool_read_requests). Below about "
                "99%, reads go to disk and the pool (innodb_buffer_pool_size) is small for the "
                "working set.",
                "percentunit",
                [q(in_region(sel("headroom_mysql_buffer_pool_hit_ratio", 'window="last_poll"')))],
                max=1,
                legend_calcs=("lastNotNull", "min"),
            ),
        ],
    )


def _model_stat(title: str, metric: str, label: str, description: str) -> object:
    return stat(
        title,
        description,
        "none",
        [q(in_region(sel(metric, var=CAPACITY)), f"{{{{target}}}}: {{{{{label}}}}}", instant=True)],
        w=5,
        h=5,
        text_mode=common.BigValueTextMode.NAME,
        color_mode=common.BigValueColorMode.NONE,
    )


def capacity_row() -> Row:
    saturation = sel("target:headroom_capacity_time_to_saturation_days:likely", var=CAPACITY)
    return Row(
        "Capacity ($capacity)",
        [
            stat(
                "Headroom",
                "How far the p95 load is below the most the database sustains on its instance: "
                "1 - p95 TPS / max TPS (headroom_capacity_headroom_ratio), per capacity model. "
                "Colours are CAPACITY_HEADROOM's: WARNING below 30% (the margin the "
                "recommendation keeps), CRITICAL below 10%.",
                "percentunit",
                [q(in_region(sel("headroom_capacity_headroom_ratio", var=CAPACITY)), instant=True)],
                thresholds=checks.check_thresholds("CAPACITY_HEADROOM"),
                color_mode=common.BigValueColorMode.BACKGROUND,
                text_mode=common.BigValueTextMode.VALUE_AND_NAME,
                decimals=0,
                w=5,
                h=5,
            ),
            stat(
                "Days to saturation",
                "When the trend of daily TPS peaks reaches 80% of the modelled maximum, most "
                "likely (target:headroom_capacity_time_to_saturation_days:likely: "
                "headroom_capacity_time_to_saturation_seconds{estimate=\"likely\"} in days). "
                "\"no forecast\" (no series) while there are fewer than 7 days of peaks or the "
                "trend is flat. Red inside 30 days, as the saturation alert.",
                DAYS,
                [q(in_region(saturation), instant=True)],
                thresholds=checks.thresholds([(None, checks.CRITICAL), (30, checks.OK)]),
                no_value="no forecast",
                color_mode=common.BigValueColorMode.BACKGROUND,
                text_mode=common.BigValueTextMode.VALUE_AND_NAME,
                decimals=0,
                w=5,
                h=5,
            ),
            _model_stat(
                "Bottleneck",
                "headroom_capacity_bottleneck_info",
                "resource",
                "The resource whose ceiling sets the maximum TPS "
                "(headroom_capacity_bottleneck_info{resource}): cpu, iops, throughput, "
                "connections or scalability (the USL fit). The table below has every ceiling.",
            ),
            _model_stat(
                "Recommended class",
                "headroom_capacity_recommended_class_info",
                "class",
                "The smallest instance class of the catalog that keeps 30% headroom at the "
                "horizon (headroom_capacity_recommended_class_info{class}); absent without "
                "CPU per transaction. `headroom capacity report` explains it.",
            ),
            stat(
                "Model confidence",
                "How much the model can be trusted (headroom_capacity_confidence_info{level}: "
                "low, medium, high); the capacity report says why.",
                "none",
                [q(in_region(sel("headroom_capacity_confidence_info", var=CAPACITY)), "{{target}}: {{level}}", instant=True)],
                text_mode=common.BigValueTextMode.NAME,
                color_mode=common.BigValueColorMode.NONE,
                w=4,
                h=5,
            ),
            timeseries(
                "TPS against modelled maximum",
                "The 95th percentile of TPS over the model's window "
                "(headroom_capacity_tps_p95) against the most transactions per second the "
                "database sustains on its instance (headroom_capacity_max_tps: the lowest "
                "resource ceiling, capped at twice the TPS observed; the dashed red line). "
                "Recomputed every capacity interval (5 minutes by default).",
                TPS,
                [
                    q(in_region(sel("headroom_capacity_tps_p95", var=CAPACITY)), "{{target}} p95"),
                    q(in_region(sel("headroom_capacity_max_tps", var=CAPACITY)), "{{target}} max"),
                ],
                overrides=[limit_line(".* max")],
            ),
            timeseries(
                "Headroom over time",
                "headroom_capacity_headroom_ratio over time. Dashed lines are "
                "CAPACITY_HEADROOM's thresholds: WARNING below 30%, CRITICAL below 10%.",
                "percentunit",
                [q(in_region(sel("headroom_capacity_headroom_ratio", var=CAPACITY)))],
                thresholds=checks.check_thresholds("CAPACITY_HEADROOM"),
                max=1,
                legend_calcs=("lastNotNull", "min"),
            ),
            table(
                "TPS ceiling per resource",
                "The most transactions per second each resource allows "
                "(headroom_capacity_resource_max_tps{resource}): cpu, iops, throughput, "
                "connections, scalability (USL). The lowest is the bottleneck; the table "
                "sorts it first.",
                TPS,
                [
                    q(
                        f"max by (job, instance, target, resource) ({in_region(sel('headroom_capacity_resource_max_tps', var=CAPACITY))})",
                        "",
                        instant=True,
                        table=True,
                    )
                ],
                transformations=[
                    organize(
                        [("target", "Capacity model"), ("resource", "Resource"), ("Value", "Ceiling"), ("instance", "Agent")],
                        exclude=["Time", "job"],
                    )
                ],
                sort_by=[("Ceiling", False)],
                overrides=[by_name("Ceiling", decimals=1)],
                w=24,
                h=7,
            ),
        ],
    )


BOARD = Board(
    uid="headroom-databases",
    title="headroom / Databases",
    description="MySQL/MariaDB throughput, read/write mix, connections, buffer pool, and the capacity model: TPS against its maximum, headroom, days to saturation, bottleneck.",
    sources=("mysql",),
    rows=[throughput_row, connections_row, capacity_row],
    extra_variables=[lambda: variables.target(("capacity",), name=CAPACITY, label="Capacity model")],
)
