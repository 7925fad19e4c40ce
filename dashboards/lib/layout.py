"""A dashboard as rows of cells, laid out on Grafana's 24-column grid.

A `Board` names its uid, title, the sources its `target` variable lists and its rows; each
row is a function returning a `Row` (a title and cells). Cells fill a row left to right and
wrap at 24 columns; each line of cells is as tall as its tallest cell. Rows stay expanded, so
every panel sits at the top level of the dashboard's `panels` list. Panel ids are assigned in
reading order, starting at 1, so they only change when the layout does.

To add a row to a dashboard, write a function returning a Row and add it to that board's
`rows`; to add a dashboard, add a module under boards/ and list it in boards/__init__.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.models import dashboard as dm

from . import variables
from .panels import Cell

GRID_WIDTH = 24
TAG = "headroom"


@dataclass
class Row:
    title: str
    cells: Sequence[Cell]


@dataclass
class Board:
    uid: str
    title: str
    description: str
    # Sources whose targets the `target` variable lists (None: every source).
    sources: tuple[str, ...] | None
    rows: Sequence[Callable[[], Row]]
    # Variables after datasource, region and target (e.g. the Databases' `capacity`).
    extra_variables: Sequence[Callable[[], db.QueryVariable]] = field(default_factory=tuple)
    time_from: str = "now-6h"
    refresh: str = "1m"

    @property
    def filename(self) -> str:
        return f"{self.uid}.json"


def _links() -> list[db.DashboardLink]:
    return [
        db.DashboardLink("headroom dashboards")
        .type(dm.DashboardLinkType.DASHBOARDS)
        .tags([TAG])
        .as_dropdown(False)
        .include_vars(True)
        .keep_time(True)
        .tooltip("The other headroom dashboards, with this time range and these variables")
    ]


def build(board: Board) -> dm.Dashboard:
    d = (
        db.Dashboard(board.title)
        .uid(board.uid)
        .description(board.description)
        .tags([TAG])
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .timezone("browser")
        .time(board.time_from, "now")
        .refresh(board.refresh)
        .links(_links())
        .variables(
            [variables.datasource(), variables.region(), variables.target(board.sources)]
            + [v() for v in board.extra_variables]
        )
    )
    next_id = 1
    y = 0
    for make_row in board.rows:
        row = make_row()
        if not row.cells:
            raise ValueError(f"{board.uid}: row {row.title!r} has no panels")
        d.with_row(db.Row(row.title).id(next_id).grid_pos(dm.GridPos(h=1, w=GRID_WIDTH, x=0, y=y)))
        next_id += 1
        y += 1
        x = 0
        line_height = 0
        for c in row.cells:
            if x + c.w > GRID_WIDTH:
                y += line_height
                x, line_height = 0, 0
            c.builder.id(next_id)
            c.builder.grid_pos(dm.GridPos(h=c.h, w=c.w, x=x, y=y))
            d.with_panel(c.builder)
            next_id += 1
            x += c.w
            line_height = max(line_height, c.h)
        y += line_height
    return d.build()
