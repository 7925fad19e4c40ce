"""Checks every dashboard JSON must pass, on disk and freshly generated:

1. Round trip through the SDK's model. The JSON is loaded with
   `grafana_foundation_sdk.models.dashboard.Dashboard.from_json` (with the SDK's panel and
   query plugin variants registered, so options, field config and Prometheus queries decode
   into their typed models) and serialised back; the result must equal the file exactly. Any
   key the model does not know, any value it would rewrite, is reported with its path.
2. Typed decoding: every panel type is one the SDK has a model for, and every query decodes
   as a Prometheus query (not the SDK's catch-all `UnknownDataquery`).
3. The house rules: a description and a unit on every panel; `${datasource}` as every data
   source; every query selects `target` through a dashboard variable; only the template
   variables of the substitution contract (lib/promql.py) and the macros `$__rate_interval`,
   `$__interval`, `$__range`; panel ids unique; grid positions inside 24 columns and not
   overlapping; the `headroom` tag and the link to the other headroom dashboards.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as prometheus_model

from . import promql
from .render import to_data

_registered = False


def register_plugins() -> None:
    """The SDK decodes panel options, custom field config and queries into typed models only
    for the plugin variants registered with its runtime."""
    global _registered
    if not _registered:
        plugins.register_default_plugins()
        _registered = True


def first_difference(a: Any, b: Any, path: str = "$") -> str | None:
    """The path of the first place where `b` differs from `a`, with what differs."""
    if type(a) is not type(b) and not (isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool)):
        return f"{path}: {json.dumps(a)} became {json.dumps(b)}"
    if isinstance(a, dict):
        for key in sorted(set(a) | set(b)):
            if key not in b:
                return f"{path}.{key}: lost (was {json.dumps(a[key])[:80]})"
            if key not in a:
                return f"{path}.{key}: added ({json.dumps(b[key])[:80]})"
            d = first_difference(a[key], b[key], f"{path}.{key}")
            if d:
                return d
        return None
    if isinstance(a, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        if len(a) != len(b):
            return f"{path}: {len(a)} items became {len(b)}"
        return None
    if a != b or type(a) is not type(b):
        return f"{path}: {json.dumps(a)} became {json.dumps(b)}"
    return None


def round_trip(data: dict) -> tuple[dm.Dashboard, str | None]:
    """Loads `data` into the SDK model and serialises it back; the first difference, if any."""
    register_plugins()
    model = dm.Dashboard.from_json(data)
    return model, first_difference(data, to_data(model))


def _panels(data: dict) -> Iterator[tuple[str, dict]]:
    for i, p in enumerate(data.get("panels") or []):
        yield f"panels[{i}]", p
        for j, inner in enumerate(p.get("panels") or []):
            yield f"panels[{i}].panels[{j}]", inner


# `target=~"$target"`, or the targets the selected ones discovered under their own name
# (`target=~"$target/certificate"`: the tls target of an https probe).
TARGET_FILTER = re.compile(r'target=~"\$(\w+)(?:/[\w.-]+)?"')
# Series an agent exports once (the D-day board's) select by agent instead.
AGENT_FILTER = re.compile(r'instance=~"\$agent"')


def house_rules(data: dict, model: dm.Dashboard, expected_uid: str | None = None) -> list[str]:
    problems: list[str] = []
    uid = data.get("uid")
    if expected_uid is not None and uid != expected_uid:
        problems.append(f"uid {uid!r}, expected {expected_uid!r} (the file name)")
    if "headroom" not in (data.get("tags") or []):
        problems.append("no `headroom` tag")
    if not any(l.get("type") == "dashboards" and "headroom" in (l.get("tags") or []) for l in data.get("links") or []):
        problems.append("no link to the dashboards tagged headroom")
    names = [v.get("name") for v in (data.get("templating") or {}).get("list") or []]
    var_types = {v.get("name"): v.get("type") for v in (data.get("templating") or {}).get("list") or []}
    if var_types.get("datasource") != "datasource":
        problems.append("no `datasource` variable")
    for required in ("region", "target"):
        if required not in names:
            problems.append(f"no `{required}` variable")
    ids: dict[int, str] = {}
    occupied: dict[tuple[int, int], str] = {}
    runtime = cogruntime.Runtime()
    for path, p in _panels(data):
        title = p.get("title", "?")
        where = f"{path} ({title!r})"
        pid = p.get("id")
        if pid in ids:
            problems.append(f"{where}: id {pid} already used by {ids[pid]}")
        ids[pid] = where
        g = p.get("gridPos") or {}
        x, y, w, h = g.get("x", -1), g.get("y", -1), g.get("w", 0), g.get("h", 0)
        if x < 0 or y < 0 or w < 1 or h < 1 or x + w > 24:
            problems.append(f"{where}: gridPos {g} is outside the 24-column grid")
        for cx in range(max(x, 0), min(x + w, 24)):
            for cy in range(max(y, 0), y + h):
                if (cx, cy) in occupied:
                    problems.append(f"{where}: overlaps {occupied[(cx, cy)]} at x={cx} y={cy}")
                    break
                occupied[(cx, cy)] = where
            else:
                continue
            break
        if p.get("type") == "row":
            continue
        if runtime.panelcfg_config(p.get("type", "")) is None:
            problems.append(f"{where}: panel type {p.get('type')!r} has no model in the SDK")
        if not (p.get("description") or "").strip():
            problems.append(f"{where}: no description")
        if not ((p.get("fieldConfig") or {}).get("defaults") or {}).get("unit"):
            problems.append(f"{where}: no unit")
        if (p.get("datasource") or {}).get("uid") != "${datasource}":
            problems.append(f"{where}: data source is not ${{datasource}}")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"{where}: no query")
        for t in targets:
            tw = f"{where} query {t.get('refId')}"
            if (t.get("datasource") or {}).get("uid") != "${datasource}":
                problems.append(f"{tw}: data source is not ${{datasource}}")
            expr = t.get("expr") or ""
            filters = set(TARGET_FILTER.findall(expr))
            if not filters and not AGENT_FILTER.search(expr):
                problems.append(f'{tw}: does not select target=~"$<variable>" (or instance=~"$agent" for an agent\'s own series): {expr}')
            for used in sorted(promql.variables_used(expr)):
                if used.startswith("$__"):
                    if used not in promql.ALLOWED_MACROS:
                        problems.append(f"{tw}: macro {used} is not one of {', '.join(promql.ALLOWED_MACROS)}")
                    continue
                if used not in promql.SUBSTITUTIONS:
                    problems.append(f"{tw}: variable {used} is not in the substitution contract (lib/promql.py)")
                if used[1:] not in names:
                    problems.append(f"{tw}: variable {used} is not defined by the dashboard")
    # The typed decoding the round trip relied on.
    for i, p in enumerate(model.panels or []):
        if isinstance(p, dm.RowPanel):
            continue
        for t in p.targets or []:
            if not isinstance(t, prometheus_model.Dataquery):
                problems.append(f"panels[{i}] ({p.title!r}): a query did not decode as a Prometheus query")
    return problems


def validate(data: dict, expected_uid: str | None = None) -> list[str]:
    """Every problem of one dashboard's JSON, the round trip's first."""
    try:
        model, diff = round_trip(data)
    except Exception as e:  # the model refused the JSON outright
        return [f"does not load into the SDK model: {type(e).__name__}: {e}"]
    problems = []
    if diff:
        problems.append(f"not preserved by the SDK model round trip, first difference at {diff}")
    problems.extend(house_rules(data, model, expected_uid))
    return problems
