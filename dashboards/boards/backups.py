"""Backups: how old the newest backup of each resource is (EBS volumes, RDS instances'
automated and manual snapshots, Route 53 zone exports), against its max age, which have none,
and the RDS instances' point-in-time restore lag (the rds source's series). A board of its own
rather than a row of Databases: its resources are volumes and DNS zones as much as databases,
and "can we restore?" is asked of all of them at once, before D-day above all."""

from lib import checks
from lib.layout import Board, Row
from lib.panels import bargauge, q, stat, timeseries
from lib.promql import in_region, sel

LEGEND = "{{target}} {{kind}} {{resource}}"


def backups_row() -> Row:
    return Row(
        "Backups",
        [
            bargauge(
                "Age over max age",
                "The newest backup's age over its max age (headroom_backup_age_ratio): exactly "
                "what BACKUP_AGE judges, with its colours (CRITICAL above 1: older than the "
                "target's max_age, 24h unless set). A resource without any backup has no bar: "
                "see the panel on the right.",
                "none",
                [q(in_region(sel("headroom_backup_age_ratio")), LEGEND, instant=True)],
                thresholds=checks.check_thresholds("BACKUP_AGE"),
                min=0,
                decimals=2,
                w=16,
                h=8,
            ),
            stat(
                "Resources without a backup",
                "Resources with no backup at all (sum of headroom_backup_missing): a volume "
                "without a completed snapshot, an instance without an available snapshot of "
                "a kind, a zone without an export. BACKUP_AGE is CRITICAL for each, and "
                "HeadroomBackupMissing fires after 15 minutes.",
                "none",
                [q(f"sum({in_region(sel('headroom_backup_missing'))})", "missing", instant=True)],
                w=8,
                h=8,
            ),
            timeseries(
                "Age of the newest backup",
                "Age of each resource's newest backup (headroom_backup_age_seconds): a saw "
                "tooth, dropping at each new backup. A tooth that keeps rising is a backup "
                "job that stopped.",
                "s",
                [q(in_region(sel("headroom_backup_age_seconds")), LEGEND)],
                min=0,
                w=16,
            ),
            timeseries(
                "RDS restore point lag",
                "How far behind now each RDS instance's latest point-in-time restore time is "
                "(time() - headroom_rds_latest_restorable_timestamp_seconds, from the rds "
                "source, not repeated by the backups source): a few minutes while automated "
                "backups and log uploads run. Empty without an rds target.",
                "s",
                [q(in_region(f"time() - {sel('headroom_rds_latest_restorable_timestamp_seconds')}"), "{{target}} {{db_instance}}")],
                min=0,
                w=8,
            ),
        ],
    )


BOARD = Board(
    uid="headroom-backups",
    title="headroom / Backups",
    description="Age of the newest EBS snapshot, RDS snapshot and Route 53 zone export of each resource against its max age, and the resources without any.",
    sources=("backups", "rds"),
    rows=[backups_row],
)
