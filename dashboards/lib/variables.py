"""The template variables of the dashboards: the Prometheus data source, the regions and the
targets (headroom_target_info: one series per configured or discovered target, with its
`source` and `region`). Queries use `${datasource}` as their data source, so no dashboard
depends on a data source uid."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")


def datasource() -> db.DatasourceVariable:
    return (
        db.DatasourceVariable("datasource")
        .id("datasource")
        .label("Data source")
        .description("The Prometheus that scrapes headroom.")
        .type("prometheus")
    )


def _query_var(name: str, label: str, query: str, description: str) -> db.QueryVariable:
    return (
        db.QueryVariable(name)
        .id(name)  # Grafana keys variables by id: keep each one its own
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dm.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        .multi(True)
        .include_all(True)
        # `.*` rather than a list of the values: a target whose region is "" (a configured
        # target without `region:`) has no region value to list, and "All" must keep it.
        .all_value(".*")
    )


def region() -> db.QueryVariable:
    return _query_var(
        "region",
        "Region",
        "label_values(headroom_target_info, region)",
        "AWS region of AWS targets (and of the memcached nodes ElastiCache discovers); "
        "the `region:` of other targets. All also keeps targets without a region.",
    )


def _source_matcher(sources: tuple[str, ...] | None) -> str:
    if not sources:
        return ""
    if len(sources) == 1:
        return f'source="{sources[0]}", '
    return f'source=~"{"|".join(sources)}", '


def agent() -> db.QueryVariable:
    """The headroom agents (their scrape `instance`), for the series an agent has once rather
    than per target: the D-day board's."""
    return _query_var(
        "agent",
        "Agent",
        "label_values(headroom_build_info, instance)",
        "headroom agents, by the address Prometheus scrapes them at: for what each agent "
        "judges as a whole (its D-day board).",
    )


def vantage() -> db.QueryVariable:
    """The places the probing agents sit (each agent's `vantage`, on every series it
    exports), for the probe dashboards: one panel compares what users in each place see."""
    return _query_var(
        "vantage",
        "Vantage",
        "label_values(probe_success, vantage)",
        "Where the headroom agent that probes sits (its configured vantage, e.g. us-west-2 or "
        "eu-central-1): the same endpoint measured from several places. All also keeps "
        "series without a vantage.",
    )


def target(sources: tuple[str, ...] | None, name: str = "target", label: str = "Target") -> db.QueryVariable:
    """The targets of `sources` (all sources when None) in the selected regions."""
    query = f'label_values(headroom_target_info{{{_source_matcher(sources)}region=~"$region"}}, target)'
    what = ", ".join(sources) if sources else "every source"
    return _query_var(name, label, query, f"headroom targets of {what} in the selected regions.")
