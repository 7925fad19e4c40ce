"""Migration: the move into AWS: the D-day board's decision, the days left and each criterion
over time; the copy jobs' progress, rate, projected finish against D-day and failures. The
replication into AWS (lag, threads) and the DNS records that switch (TTL against the plan)."""

from grafana_foundation_sdk.models import common

from lib import checks, variables
from lib.layout import Board, Row
from lib.panels import q, stat, state_timeline, timeseries, value_map
from lib.promql import agent_sel, in_region, sel

GO_NO_GO = value_map([(0, "NO-GO", checks.CRITICAL), (1, "GO", checks.OK)])


def board_row() -> Row:
    return Row(
        "D-day board",
        [
            stat(
                "Decision",
                "The D-day board's decision on each agent (headroom_dday_go): GO when every "
                "criterion is GO, NO-GO otherwise; missing data is NO-GO. The reasons are on "
                "the agent's /dday page and from `headroom dday --config FILE`.",
                "none",
                [q(agent_sel("headroom_dday_go"), "{{instance}}", instant=True)],
                mappings=[GO_NO_GO],
                color_mode=common.BigValueColorMode.BACKGROUND,
                text_mode=common.BigValueTextMode.VALUE_AND_NAME,
                w=8,
                h=5,
            ),
            stat(
                "Days to D-day",
                "Days until dday.at (headroom_dday_timestamp_seconds - time()), with the phase "
                "each agent is configured in; negative once D-day has passed. The alert "
                "HeadroomDDayNoGo pages on a NO-GO inside the last day.",
                "d",
                [
                    q(
                        f"({agent_sel('headroom_dday_timestamp_seconds')} - time()) / 86400",
                        "{{instance}} ({{phase}})",
                        instant=True,
                    )
                ],
                thresholds=checks.thresholds([(None, checks.CRITICAL), (1, checks.WARNING), (7, checks.OK)]),
                color_mode=common.BigValueColorMode.VALUE,
                text_mode=common.BigValueTextMode.VALUE_AND_NAME,
                decimals=1,
                w=16,
                h=5,
            ),
            state_timeline(
                "Criteria",
                "Each criterion of the board over time (headroom_dday_criterion_go): GO (green) "
                "when every instance of its checks is OK, NO-GO (red) otherwise. The criteria "
                "are dday.criteria, by default migration, replication, DNS, certificates, load "
                "balancers, backups, read-only and capacity.",
                "none",
                [q(agent_sel("headroom_dday_criterion_go"), "{{instance}} {{criterion}}")],
                mappings=[GO_NO_GO],
                h=9,
            ),
        ],
    )


def progress_row() -> Row:
    return Row(
        "Copy progress",
        [
            timeseries(
                "Progress",
                "Share of the copy job done, by files and by bytes "
                "(headroom_migration_progress_ratio{by}: copied plus skipped, out of the "
                "total; failed files are not done). The dashed line is the job's target ratio "
                "(headroom_migration_target_ratio, 0.999 by default).",
                "percentunit",
                [
                    q(in_region(sel("headroom_migration_progress_ratio")), "{{target}} by {{by}}"),
                    q(in_region(sel("headroom_migration_target_ratio")), "{{target}} target"),
                ],
                min=0,
                max=1,
                w=12,
            ),
            timeseries(
                "Copy rate",
                "Files copied per second, smoothed over each target's rate_window "
                "(headroom_migration_copy_rate_files_per_second). A copier restart is a reset, "
                "never a negative rate. For cloudwatch_s3 inputs the points are daily.",
                "suffix:files/s",
                [q(in_region(sel("headroom_migration_copy_rate_files_per_second")))],
                w=6,
            ),
            timeseries(
                "Bytes per second",
                "Bytes copied per second over the rate window "
                "(headroom_migration_copy_rate_bytes_per_second).",
                "Bps",
                [q(in_region(sel("headroom_migration_copy_rate_bytes_per_second")))],
                w=6,
            ),
            timeseries(
                "Projected finish against D-day",
                "Days between D-day and the projected moment the target ratio is reached, by "
                "files and by bytes (headroom_migration_schedule_slack_seconds / 86400): "
                "MIGRATION_PROGRESS is WARNING below dday.margin and CRITICAL below 0 (late). "
                "Absent while the copy does not advance.",
                "d",
                [
                    q(
                        f'{in_region(sel("headroom_migration_schedule_slack_seconds"))} / 86400',
                        "{{target}} by {{by}}",
                    )
                ],
                thresholds=checks.thresholds([(None, checks.CRITICAL), (0, checks.WARNING), (7, checks.OK)]),
                w=12,
            ),
            timeseries(
                "Failures",
                "Files that failed to copy, per second over the rate window "
                "(headroom_migration_failure_rate_files_per_second). Failed files count as not "
                "done: they hold the progress below its target until retried.",
                "suffix:files/s",
                [q(in_region(sel("headroom_migration_failure_rate_files_per_second")))],
                w=12,
            ),
        ],
    )


def replication_row() -> Row:
    return Row(
        "Replication into AWS",
        [
            timeseries(
                "Replica lag",
                "How far each replica is behind its source, by pt-heartbeat's row where the "
                "target has `heartbeat:` (headroom_mysql_heartbeat_lag_seconds: right even "
                "while the SQL thread is stopped or stalled), and as the server says "
                "(headroom_mysql_replica_lag_seconds, Seconds_Behind_Master: absent while the "
                "SQL thread is stopped). Dashed lines: MYSQL_REPLICA_LAG's 60 s and 300 s.",
                "s",
                [
                    q(in_region(sel("headroom_mysql_heartbeat_lag_seconds")), "{{target}} {{channel}} heartbeat"),
                    q(in_region(sel("headroom_mysql_replica_lag_seconds")), "{{target}} {{channel}} server"),
                ],
                thresholds=checks.thresholds([(None, checks.OK), (60, checks.WARNING), (300, checks.CRITICAL)]),
                w=12,
            ),
            state_timeline(
                "Replication threads",
                "Each replication connection's IO (receiver) and SQL (applier) thread: running "
                "(1) or not (0; `Connecting` counts as not running) "
                "(headroom_mysql_replica_io_running, headroom_mysql_replica_sql_running). "
                "MYSQL_REPLICA_RUNNING is CRITICAL while one is not, with the last error.",
                "none",
                [
                    q(in_region(sel("headroom_mysql_replica_io_running")), "{{target}} {{channel}} IO"),
                    q(in_region(sel("headroom_mysql_replica_sql_running")), "{{target}} {{channel}} SQL"),
                ],
                mappings=[value_map([(0, "stopped", checks.CRITICAL), (1, "running", checks.OK)])],
                w=12,
                h=8,
            ),
        ],
    )


def dns_row() -> Row:
    return Row(
        "DNS before the switch",
        [
            timeseries(
                "TTL against the cut-over plan",
                "The TTL each record is served with, as its zone's authoritative server answers "
                "(headroom_dns_record_ttl_seconds), and the TTL planned for the cut-over "
                "(headroom_dns_cutover_ttl_seconds). It must be at or below the plan a lead "
                "time before D-day, so that every cache has dropped the old record by then.",
                "s",
                [
                    q(in_region(sel("headroom_dns_record_ttl_seconds")), "{{name}} {{type}} served"),
                    q(in_region(sel("headroom_dns_cutover_ttl_seconds")), "{{name}} {{type}} planned"),
                ],
                w=12,
            ),
            stat(
                "Days left to lower the TTL",
                "Days until the TTL must be at or below the plan (headroom_dns_ttl_deadline_seconds "
                "/ 86400: D-day minus the lead time), while it is still above it; DNS_TTL is "
                "WARNING under a day and CRITICAL once past. Records already lowered show "
                "\"lowered\".",
                "d",
                [
                    q(
                        f'{in_region(sel("headroom_dns_ttl_deadline_seconds"))} / 86400 '
                        f'and on (job, instance, target, name, type) '
                        f'({sel("headroom_dns_ttl_lowered")} == 0)',
                        "{{name}} {{type}}",
                        instant=True,
                    )
                ],
                thresholds=checks.thresholds([(None, checks.CRITICAL), (0, checks.WARNING), (1, checks.OK)]),
                no_value="lowered",
                color_mode=common.BigValueColorMode.BACKGROUND,
                text_mode=common.BigValueTextMode.VALUE_AND_NAME,
                decimals=1,
                w=12,
                h=8,
            ),
        ],
    )


HEALTH = value_map([(0, "OK", checks.OK), (1, "WARNING", checks.WARNING), (2, "CRITICAL", checks.CRITICAL)])


def disks_row() -> Row:
    # headroom_disk_health carries its status text as `detail`, which changes as the counts
    # and the temperature move: dropped so that each disk is one line.
    return Row(
        "Source disks",
        [
            state_timeline(
                "Disk health",
                "Each source disk's state as DISK_HEALTH judges it from smartctl's report "
                "(headroom_disk_health): OK, WARNING (hot, worn out, self-test errors), "
                "CRITICAL (SMART FAILED, reallocated or pending sectors, NVMe media errors past "
                "the target's limits). No value: the state is unknown (smartctl cannot read the "
                "disk, or its report is stale). The D-day criterion source_disks needs every "
                "disk OK.",
                "none",
                [q(f'max without (detail) ({in_region(sel("headroom_disk_health"))})', "{{disk}}")],
                mappings=[HEALTH],
                w=12,
                h=8,
            ),
            timeseries(
                "Reallocated and pending sectors",
                "Sectors each ATA disk has remapped to spares (attribute 5, "
                "headroom_disk_reallocated_sectors; SCSI: the grown defect list) and sectors "
                "waiting to be remapped (attribute 197, headroom_disk_pending_sectors). Either "
                "above the target's limit (0 by default) makes DISK_HEALTH CRITICAL; a rising "
                "count is a disk on its way out.",
                "short",
                [
                    q(in_region(sel("headroom_disk_reallocated_sectors")), "{{disk}} reallocated"),
                    q(in_region(sel("headroom_disk_pending_sectors")), "{{disk}} pending"),
                ],
                min=0,
                w=12,
                h=8,
            ),
            timeseries(
                "Temperature",
                "Each disk's current temperature (headroom_disk_temperature_celsius). "
                "DISK_HEALTH is WARNING at the target's temperature_warning, 55 °C by default "
                "(the dashed line).",
                "celsius",
                [q(in_region(sel("headroom_disk_temperature_celsius")), "{{disk}}")],
                thresholds=checks.thresholds([(None, checks.OK), (55, checks.WARNING)]),
                w=8,
            ),
            timeseries(
                "NVMe media errors and wear",
                "NVMe disks: media and data integrity errors (headroom_disk_nvme_media_errors; "
                "CRITICAL above the target's max_media_errors, 0) and the share of the rated "
                "endurance used, in % (headroom_disk_nvme_endurance_used_ratio × 100: "
                "WARNING from 100%).",
                "short",
                [
                    q(in_region(sel("headroom_disk_nvme_media_errors")), "{{disk}} media errors"),
                    q(f'{in_region(sel("headroom_disk_nvme_endurance_used_ratio"))} * 100', "{{disk}} % used"),
                ],
                min=0,
                w=8,
            ),
            timeseries(
                "Report age",
                "Directory targets: how old each disk's report file is "
                "(headroom_disk_report_age_seconds). Past the target's max_age (2 h by "
                "default) the report is stale and the disk's state unknown: the host's cron "
                "job, or the copy of its reports, has stopped.",
                "s",
                [q(in_region(sel("headroom_disk_report_age_seconds")), "{{disk}}")],
                min=0,
                w=8,
            ),
        ],
    )


BOARD = Board(
    uid="headroom-migration",
    title="headroom / Migration",
    description="The move into AWS: the D-day board's decision and criteria, and the copy jobs' progress, rate, projected finish against D-day and failures.",
    sources=("migration", "mysql", "dns", "disks"),
    rows=[board_row, progress_row, replication_row, dns_row, disks_row],
    extra_variables=[variables.agent],
)
