"""Panel helpers. Each returns a `Cell`: an SDK panel builder and its size in grid units; the
layout (lib/layout.py) places cells in rows and numbers them. Every helper goes through
`panel()`, which refuses a panel without a description or a unit and gives every query the
`${datasource}` data source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from grafana_foundation_sdk.builders import bargauge as bargauge_builder
from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus
from grafana_foundation_sdk.builders import stat as stat_builder
from grafana_foundation_sdk.builders import statetimeline as statetimeline_builder
from grafana_foundation_sdk.builders import table as table_builder
from grafana_foundation_sdk.builders import timeseries as timeseries_builder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as prometheus_model

from . import checks
from .variables import DATASOURCE


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = "{{target}}"
    instant: bool = False
    table: bool = False  # format=table: one column per label, `Value #<refId>` per query


def q(expr: str, legend: str = "{{target}}", *, instant: bool = False, table: bool = False) -> Query:
    return Query(expr=expr, legend=legend, instant=instant, table=table)


@dataclass
class Cell:
    """A panel and its size: w out of 24 columns, h in grid rows (30 px)."""

    builder: Any
    w: int
    h: int


@dataclass(frozen=True)
class Override:
    """Field properties for the fields named `name` (or matching the regex `regexp`)."""

    properties: dict[str, Any]
    name: str | None = None
    regexp: str | None = None


def by_name(name: str, **properties: Any) -> Override:
    return Override(properties=_props(properties), name=name)


def by_regexp(regexp: str, **properties: Any) -> Override:
    return Override(properties=_props(properties), regexp=regexp)


def _props(properties: dict[str, Any]) -> dict[str, Any]:
    # Python names for Grafana's dotted property ids: custom_lineStyle -> custom.lineStyle.
    return {k.replace("custom_", "custom.").replace("color_", "color."): v for k, v in properties.items()}


# Series that are a limit rather than a reading (a budget, a maximum): a dashed red line.
LIMIT_LINE = {
    "color": {"mode": "fixed", "fixedColor": "red"},
    "custom.lineStyle": {"fill": "dash", "dash": [10, 10]},
    "custom.fillOpacity": 0,
}


def limit_line(regexp: str) -> Override:
    return Override(properties=dict(LIMIT_LINE), regexp=regexp)


# Value mappings ------------------------------------------------------------------------

def value_map(entries: Sequence[tuple[Any, str, str | None]]) -> dm.ValueMap:
    """value -> (text, colour or None for the default), in order."""
    return dm.ValueMap(
        options={
            str(value): dm.ValueMappingResult(text=text, color=color, index=i)
            for i, (value, text, color) in enumerate(entries)
        }
    )


def special_map(match: dm.SpecialValueMatch, text: str, color: str, index: int = 0) -> dm.SpecialValueMap:
    return dm.SpecialValueMap(
        options=dm.DashboardSpecialValueMapOptions(
            match=match, result=dm.ValueMappingResult(text=text, color=color, index=index)
        )
    )


CHECK_STATES = value_map(
    [
        (0, "OK", checks.OK),
        (1, "WARNING", checks.WARNING),
        (2, "CRITICAL", checks.CRITICAL),
        (3, "UNKNOWN", checks.UNKNOWN),
    ]
)
STATE_TYPES = value_map([(0, "SOFT", None), (1, "HARD", None)])
UP_DOWN = value_map([(0, "DOWN", checks.CRITICAL), (1, "UP", checks.OK)])


# The shared part of every panel ----------------------------------------------------------

def panel(
    builder: Any,
    *,
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    w: int,
    h: int,
    decimals: int | None = None,
    min: float | None = None,
    max: float | None = None,
    thresholds: db.ThresholdsConfig | None = None,
    mappings: Sequence[Any] = (),
    overrides: Sequence[Override] = (),
    links: Sequence[db.DashboardLink] = (),
    no_value: str | None = None,
    color: dm.FieldColorModeId | None = None,
) -> Cell:
    if not title.strip():
        raise ValueError("a panel needs a title")
    if not description.strip():
        raise ValueError(f"panel {title!r} has no description: say what it shows and how to read it")
    if not unit:
        raise ValueError(f"panel {title!r} has no unit")
    if not queries:
        raise ValueError(f"panel {title!r} has no query")
    if not 1 <= w <= 24 or h < 1:
        raise ValueError(f"panel {title!r}: size {w}x{h} does not fit the 24-column grid")
    builder.title(title).description(" ".join(description.split())).datasource(DATASOURCE).unit(unit)
    for i, query in enumerate(queries):
        target = (
            prometheus.Dataquery()
            .ref_id(chr(ord("A") + i))
            .datasource(DATASOURCE)
            .editor_mode(prometheus_model.QueryEditorMode.CODE)
            .expr(" ".join(query.expr.split()))
            .legend_format(query.legend)
        )
        target = target.instant() if query.instant else target.range()
        if query.table:
            target = target.format(prometheus_model.PromQueryFormat.TABLE)
        builder.with_target(target)
    if decimals is not None:
        builder.decimals(decimals)
    if min is not None:
        builder.min(min)
    if max is not None:
        builder.max(max)
    builder.thresholds(thresholds or checks.thresholds([(None, "green")]))
    if mappings:
        builder.mappings(list(mappings))
    if no_value is not None:
        builder.no_value(no_value)
    if color is not None:
        builder.color_scheme(db.FieldColor().mode(color))
    if links:
        builder.data_links(list(links))
    for o in overrides:
        props = [dm.DynamicConfigValue(id_val=k, value=v) for k, v in o.properties.items()]
        if o.name is not None:
            builder.override_by_name(o.name, props)
        else:
            builder.override_by_regexp(o.regexp, props)
    return Cell(builder=builder, w=w, h=h)


def _legend(calcs: Iterable[str], table: bool) -> common_builder.VizLegendOptions:
    return (
        common_builder.VizLegendOptions()
        .show_legend(True)
        .display_mode(common.LegendDisplayMode.TABLE if table else common.LegendDisplayMode.LIST)
        .placement(common.LegendPlacement.BOTTOM)
        .calcs(list(calcs))
    )


def _tooltip() -> common_builder.VizTooltipOptions:
    return common_builder.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING)


def _reduce(calcs: Sequence[str] = ("lastNotNull",)) -> common_builder.ReduceDataOptions:
    return common_builder.ReduceDataOptions().values(False).calcs(list(calcs)).fields("")


# Visualisations ---------------------------------------------------------------------------

def timeseries(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    w: int = 12,
    h: int = 8,
    stack: bool = False,
    fill: int = 10,
    legend_calcs: Sequence[str] = ("lastNotNull", "max"),
    legend_table: bool = True,
    **common_args: Any,
) -> Cell:
    b = (
        timeseries_builder.Panel()
        .legend(_legend(legend_calcs, legend_table))
        .tooltip(_tooltip())
        .draw_style(common.GraphDrawStyle.LINE)
        .line_interpolation(common.LineInterpolation.LINEAR)
        .line_width(1)
        .fill_opacity(fill)
        .show_points(common.VisibilityMode.NEVER)
        .span_nulls(False)
        .axis_soft_min(0)
    )
    if stack:
        b.stacking(common_builder.StackingConfig().mode(common.StackingMode.NORMAL).group("A"))
    if common_args.get("thresholds") is not None:
        b.thresholds_style(common_builder.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED))
    return panel(b, title=title, description=description, unit=unit, queries=queries, w=w, h=h, **common_args)


def stat(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    w: int = 6,
    h: int = 4,
    text_mode: common.BigValueTextMode = common.BigValueTextMode.AUTO,
    color_mode: common.BigValueColorMode = common.BigValueColorMode.VALUE,
    graph_mode: common.BigValueGraphMode = common.BigValueGraphMode.NONE,
    calcs: Sequence[str] = ("lastNotNull",),
    **common_args: Any,
) -> Cell:
    b = (
        stat_builder.Panel()
        .reduce_options(_reduce(calcs))
        .text_mode(text_mode)
        .color_mode(color_mode)
        .graph_mode(graph_mode)
        .justify_mode(common.BigValueJustifyMode.AUTO)
        .orientation(common.VizOrientation.AUTO)
    )
    return panel(b, title=title, description=description, unit=unit, queries=queries, w=w, h=h, **common_args)


def bargauge(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    w: int = 12,
    h: int = 8,
    **common_args: Any,
) -> Cell:
    b = (
        bargauge_builder.Panel()
        .reduce_options(_reduce())
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .value_mode(common.BarGaugeValueMode.COLOR)
        .orientation(common.VizOrientation.HORIZONTAL)
        .show_unfilled(True)
    )
    return panel(b, title=title, description=description, unit=unit, queries=queries, w=w, h=h, **common_args)


def state_timeline(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    w: int = 24,
    h: int = 8,
    **common_args: Any,
) -> Cell:
    b = (
        statetimeline_builder.Panel()
        .show_value(common.VisibilityMode.NEVER)
        .merge_values(True)
        .row_height(0.9)
        .align_value(common.TimelineValueAlignment.LEFT)
        .legend(_legend((), False))
        .tooltip(_tooltip())
        .line_width(0)
        .fill_opacity(80)
    )
    return panel(b, title=title, description=description, unit=unit, queries=queries, w=w, h=h, **common_args)


def table(
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    transformations: Sequence[dict[str, Any]] = (),
    sort_by: Sequence[tuple[str, bool]] = (),
    w: int = 24,
    h: int = 10,
    **common_args: Any,
) -> Cell:
    b = (
        table_builder.Panel()
        .show_header(True)
        .cell_height(common.TableCellHeight.SM)
        .footer(common_builder.TableFooterOptions().show(False).reducer(["sum"]).count_rows(False))
    )
    if sort_by:
        b.sort_by([common_builder.TableSortByFieldState().display_name(n).desc(d) for n, d in sort_by])
    for t in transformations:
        b.with_transformation(dm.DataTransformerConfig(id_val=t["id"], options=t.get("options", {})))
    return panel(b, title=title, description=description, unit=unit, queries=queries, w=w, h=h, **common_args)


# Table transformations ---------------------------------------------------------------------

def merge() -> dict[str, Any]:
    """One row per label set out of several instant queries (format=table)."""
    return {"id": "merge", "options": {}}


def organize(columns: Sequence[tuple[str, str]], exclude: Sequence[str] = ()) -> dict[str, Any]:
    """Keep `columns` (field, header) in that order; hide `exclude`."""
    return {
        "id": "organize",
        "options": {
            "excludeByName": {name: True for name in exclude},
            "indexByName": {name: i for i, (name, _) in enumerate(columns)},
            "renameByName": {name: header for name, header in columns if header != name},
        },
    }


def filter_equal(field_name: str, value: float) -> dict[str, Any]:
    """Keep only the rows whose `field_name` equals `value`."""
    return {
        "id": "filterByValue",
        "options": {
            "type": "include",
            "match": "any",
            "filters": [{"fieldName": field_name, "config": {"id": "equal", "options": {"value": value}}}],
        },
    }


def cell(type_: str, **extra: Any) -> dict[str, Any]:
    """A table cell display (custom.cellOptions)."""
    return {"type": type_, **extra}


def data_link(title: str, url: str) -> db.DashboardLink:
    return db.DashboardLink(title).url(url).target_blank(True)
