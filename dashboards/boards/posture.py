"""Posture: the account's security findings and whether its logs are on, from the `posture`
source (docs/posture.md). A board of its own: it is read when preparing an audit or a D-day
review, by other people and at another pace than the performance boards, and its panels
(counts by kind, a table of findings, logging states) share nothing with their time series.

Every finding is a series `headroom_posture_finding{kind, resource, detail}` of value 1; the
counts by kind (`headroom_posture_findings`) are 0 when clean, so the count panels always have
data. Logging is `headroom_logging_enabled{kind, resource}`, 1 on and 0 off.
"""

from grafana_foundation_sdk.models import common

from lib import checks
from lib.layout import Board, Row
from lib.panels import by_name, organize, q, stat, state_timeline, table, timeseries, value_map
from lib.promql import in_region, sel

ON_OFF = value_map([(0, "off", checks.CRITICAL), (1, "on", checks.OK)])
# SECURITY_POSTURE and LOGGING are CRITICAL from one finding, one resource off.
ANY_IS_CRITICAL = checks.thresholds([(None, checks.OK), (1, checks.CRITICAL)])


def findings_row() -> Row:
    return Row(
        "Security findings",
        [
            stat(
                "Findings by kind",
                "Resources that break the security policy, by kind "
                "(headroom_posture_findings, summed over the selected targets): the root "
                "user's MFA and access keys, the password policy, access keys older than the "
                "configured age, public RDS and EC2 instances, unencrypted RDS, EBS and "
                "ElastiCache storage, ELB listeners on an outdated TLS policy. Red from one: "
                "SECURITY_POSTURE is CRITICAL then.",
                "none",
                [q(f"sum by (kind) ({in_region(sel('headroom_posture_findings'))})", "{{kind}}", instant=True)],
                thresholds=ANY_IS_CRITICAL,
                color_mode=common.BigValueColorMode.BACKGROUND,
                text_mode=common.BigValueTextMode.VALUE_AND_NAME,
                w=24,
                h=5,
            ),
            table(
                "Findings",
                "Every finding now (headroom_posture_finding): the kind, the resource and why "
                "(detail: the password rules missed, the TLS policy in use, a key's creation "
                "date, an instance's public address), by target. A fixed finding leaves the "
                "table at the next poll (every 5 minutes by default). The runbook of "
                "HeadroomSecurityFinding says how to fix each kind.",
                "none",
                [q(in_region(sel("headroom_posture_finding")), "", instant=True, table=True)],
                transformations=[
                    organize(
                        [("target", "Target"), ("kind", "Kind"), ("resource", "Resource"), ("detail", "Detail")],
                        exclude=["Time", "Value", "__name__", "job", "instance"],
                    )
                ],
                sort_by=[("Kind", False)],
                w=24,
                h=9,
            ),
            timeseries(
                "Findings over time",
                "The count of findings by kind over the time range "
                "(headroom_posture_findings, summed over the selected targets): when a "
                "finding appeared, and whether a fix held.",
                "none",
                [q(f"sum by (kind) ({in_region(sel('headroom_posture_findings'))})", "{{kind}}")],
                decimals=0,
                w=24,
            ),
        ],
    )


def logging_row() -> Row:
    return Row(
        "Logging",
        [
            stat(
                "Resources not logging, by kind",
                "How many resources of each kind have logging off "
                "(headroom_logging_disabled, summed over the selected targets): ELB access "
                "logs, S3 server access logging of the configured buckets, CloudTrail trails, "
                "AWS Config recorders (a region without a trail or recorder counts one, "
                "resource \"none\"). Red from one: LOGGING is CRITICAL then.",
                "none",
                [q(f"sum by (kind) ({in_region(sel('headroom_logging_disabled'))})", "{{kind}}", instant=True)],
                thresholds=ANY_IS_CRITICAL,
                color_mode=common.BigValueColorMode.BACKGROUND,
                text_mode=common.BigValueTextMode.VALUE_AND_NAME,
                w=24,
                h=5,
            ),
            state_timeline(
                "Logging on or off",
                "Each resource's logging over the time range (headroom_logging_enabled): on "
                "(green) or off (red), by kind and resource. A gap in a trail's or recorder's "
                "line is a time whose API calls or configuration changes were not recorded.",
                "none",
                [q(in_region(sel("headroom_logging_enabled")), "{{kind}} {{resource}} ({{target}})")],
                mappings=[ON_OFF],
                h=9,
            ),
        ],
    )


BOARD = Board(
    uid="headroom-posture",
    title="headroom / Posture",
    description="Security posture findings (IAM, public and unencrypted resources, ELB TLS policies) and whether logging is on (ELB, S3, CloudTrail, AWS Config).",
    sources=("posture",),
    rows=[findings_row, logging_row],
    time_from="now-7d",
    refresh="5m",
)
