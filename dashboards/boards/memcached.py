"""Memcached / ElastiCache: hit ratio, evictions, commands, response time, CPU, memory used
against the limit and connections, for configured memcached targets and the ElastiCache
nodes headroom discovers (each a memcached target of its own)."""

from lib import checks
from lib.layout import Board, Row
from lib.panels import bargauge, limit_line, q, timeseries
from lib.promql import in_region, rate, sel

BY_TARGET = "job, instance, target"


def efficiency_row() -> Row:
    return Row(
        "Cache efficiency",
        [
            timeseries(
                "Get hit ratio",
                "Gets that found their key, out of all gets, over the last 5 minutes "
                "(target:headroom_memcached_get_hit_ratio:rate5m, from "
                "memcached_commands_total{command=\"get\"}: the recording rule the hit-ratio "
                "alert uses). Dashed lines are MEMCACHE_HITRATE's thresholds: WARNING below "
                "90%, CRITICAL below 80%. The check judges the ratio since memcached started "
                "(the panel on the right), so a recent drop shows here first. No line: no "
                "gets in the window.",
                "percentunit",
                [q(in_region(sel("target:headroom_memcached_get_hit_ratio:rate5m")))],
                thresholds=checks.check_thresholds("MEMCACHE_HITRATE"),
                min=0,
                max=1,
                legend_calcs=("lastNotNull", "min"),
                w=16,
            ),
            bargauge(
                "Hit ratio since start",
                "Get hits out of all gets since each memcached started "
                "(headroom_memcached_hit_ratio{window=\"since_start\"}): exactly what "
                "MEMCACHE_HITRATE judges, with its colours (WARNING below 90%, CRITICAL below "
                "80%). Absent for a memcached that has served no get yet (the check is OK "
                "then).",
                "percentunit",
                [q(in_region(sel("headroom_memcached_hit_ratio", 'window="since_start"')), instant=True)],
                thresholds=checks.check_thresholds("MEMCACHE_HITRATE"),
                min=0,
                max=1,
                decimals=1,
                w=8,
            ),
            timeseries(
                "Evictions",
                "Items evicted to make room for new ones, per second "
                "(rate of memcached_items_evicted_total). Evictions of items that were still "
                "being read lower the hit ratio: if both move together, the cache is too "
                "small for its working set.",
                "suffix:items/s",
                [q(in_region(rate(sel("memcached_items_evicted_total"), BY_TARGET)))],
            ),
            timeseries(
                "Commands",
                "Commands per second by command (rate of memcached_commands_total, hits and "
                "misses together; set counts stores).",
                "ops",
                [q(in_region(rate(sel("memcached_commands_total"), f"{BY_TARGET}, command")), "{{target}} {{command}}")],
            ),
        ],
    )


def latency_cpu_row() -> Row:
    return Row(
        "Response time and CPU",
        [
            timeseries(
                "Response time",
                "How long memcached took to answer headroom's `stats` command, connect "
                "excluded (headroom_memcached_stats_rtt_seconds), at each poll. Dashed lines "
                "are MEMCACHE_RESPONSE's thresholds: WARNING above 0.1 s, CRITICAL above 0.5 s.",
                "s",
                [q(in_region(sel("headroom_memcached_stats_rtt_seconds")))],
                thresholds=checks.check_thresholds("MEMCACHE_RESPONSE"),
                w=8,
            ),
            timeseries(
                "Node CPU (CloudWatch)",
                "CPU utilisation of each ElastiCache node, per cluster/node (CloudWatch "
                "AWS/ElastiCache CPUUtilization, Average: aws_elasticache_cpuutilization_average, "
                "read by the elasticache target's <target>/cloudwatch target or a configured "
                "cloudwatch target). Dashed lines are CPU_UTILIZATION's thresholds: WARNING "
                "above 80%, CRITICAL above 90%.",
                "percent",
                [
                    q(
                        sel("aws_elasticache_cpuutilization_average", region=True),
                        "{{dimension_CacheClusterId}}/{{dimension_CacheNodeId}}",
                    )
                ],
                thresholds=checks.check_thresholds("CPU_UTILIZATION"),
                min=0,
                max=100,
                w=8,
            ),
            timeseries(
                "Process CPU",
                "CPU time the memcached process used per second of wall time, user and "
                "system (rate of memcached_process_user_cpu_seconds_total and "
                "memcached_process_system_cpu_seconds_total, from memcached's rusage): 100% is "
                "one core fully busy. memcached's own view, for servers CloudWatch does not "
                "watch.",
                "percentunit",
                [
                    q(in_region(rate(sel("memcached_process_user_cpu_seconds_total"), BY_TARGET)), "{{target}} user"),
                    q(in_region(rate(sel("memcached_process_system_cpu_seconds_total"), BY_TARGET)), "{{target}} system"),
                ],
                stack=True,
                w=8,
            ),
        ],
    )


def memory_connections_row() -> Row:
    return Row(
        "Memory and connections",
        [
            timeseries(
                "Memory used against limit",
                "Bytes memcached uses to store items (memcached_current_bytes) against the "
                "most it may use (memcached_limit_bytes, its -m: the dashed red line). A "
                "cache at its limit evicts; that is normal as long as the hit ratio holds.",
                "bytes",
                [
                    q(in_region(sel("memcached_current_bytes")), "{{target}} used"),
                    q(in_region(sel("memcached_limit_bytes")), "{{target}} limit"),
                ],
                overrides=[limit_line(".* limit")],
            ),
            timeseries(
                "Connections against maximum",
                "Open client connections (memcached_current_connections) against the most "
                "memcached accepts (memcached_max_connections, its -c: the dashed red line). "
                "At the maximum, memcached stops accepting and clients time out.",
                "none",
                [
                    q(in_region(sel("memcached_current_connections")), "{{target}} open"),
                    q(in_region(sel("memcached_max_connections")), "{{target}} max"),
                ],
                overrides=[limit_line(".* max")],
                decimals=0,
            ),
        ],
    )


def slab_row() -> Row:
    return Row(
        "Slab classes",
        [
            timeseries(
                "Memory by slab class",
                "Bytes the items of each slab class take "
                "(memcached_slab_mem_requested_bytes, from `stats items`). memcached stores an "
                "item in the smallest chunk size that holds it; a class that grows while others "
                "hold their pages is where a change in value sizes shows first. Only for targets "
                "with `slabs: true` (memcached_exporter exports them always), once they hold items.",
                "bytes",
                [q(in_region(sel("memcached_slab_mem_requested_bytes")), "{{target}} class {{slab}}")],
                stack=True,
            ),
            timeseries(
                "Evictions by slab class",
                "Items evicted per second in each slab class "
                "(rate of memcached_slab_items_evicted_total). Evictions in one class while the "
                "others have free chunks (memcached_slab_chunks_free) mean its pages are "
                "short, not the cache as a whole: memcached's slab rebalancer "
                "(slab_reassign, slab_automove) moves pages to it.",
                "suffix:items/s",
                [q(in_region(rate(sel("memcached_slab_items_evicted_total"), f"{BY_TARGET}, slab")), "{{target}} class {{slab}}")],
            ),
        ],
    )


BOARD = Board(
    uid="headroom-memcached",
    title="headroom / Memcached and ElastiCache",
    description="Hit ratio, evictions, response time, CPU, memory against limit, connections and slab classes of memcached targets and ElastiCache nodes.",
    sources=("memcached", "elasticache", "cloudwatch"),
    rows=[efficiency_row, latency_cpu_row, memory_connections_row, slab_row],
)
