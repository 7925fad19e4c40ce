"""PromQL building blocks shared by every dashboard, and the substitution contract the
integration test relies on.

Every query selects by `target` through a dashboard variable and is restricted to the
selected regions. Series that carry a `region` label themselves (CloudWatch's) filter on it;
the others are kept only where `headroom_target_info{region=~"$region"}` has their target:
`expr and on (job, target) headroom_target_info{region=~"$region"}`. The match is on
`(job, target)`, not `instance`, so the dashboards keep working when the mysqld/memcached
mixins' relabelling (docs/dashboards.md) rewrites `instance` on exporter-named series.
"""

from __future__ import annotations

import re

# The template variables and macros the panel queries use, and what the integration test
# substitutes for each before it sends the query to Prometheus (a regex matching all values,
# or a duration). generate.py exports it as SUBSTITUTIONS (`generate.py --variables` prints
# it as JSON); --check refuses a query that uses anything else.
SUBSTITUTIONS: dict[str, str] = {
    "$__rate_interval": "1m",
    "$agent": ".*",
    "$capacity": ".*",
    "$region": ".*",
    "$target": ".*",
    "$vantage": ".*",
}

# The only Grafana macros a query may use (the test substitutes these three).
ALLOWED_MACROS = ("$__rate_interval", "$__interval", "$__range")

TARGET = "target"  # the dashboard variable of the targets a dashboard shows
CAPACITY = "capacity"  # the Databases dashboard's variable of capacity targets
AGENT = "agent"  # the variable of headroom agents, for series an agent has once (D-day board)
VANTAGE = "vantage"  # the variable of the places probing agents sit (the WebDAV / HTTP board)

RATE = "$__rate_interval"


def sel(metric: str, *matchers: str, var: str = TARGET, region: bool = False, suffix: str = "") -> str:
    """`metric{target=~"$<var>", matchers...}`; `region=True` adds `region=~"$region"` for
    series that carry the label themselves. `suffix` selects the targets a selected target
    discovered under its own name (`suffix="/certificate"`: `target=~"$target/certificate"`,
    the tls target an https probe adds), so that choosing the parent shows them too."""
    if suffix and not re.fullmatch(r"/[\w.-]+", suffix):
        raise ValueError(f"suffix {suffix!r} is not /<name>")
    parts = [f'target=~"${var}{suffix}"']
    if region:
        parts.append('region=~"$region"')
    parts.extend(matchers)
    return f"{metric}{{{', '.join(parts)}}}"


def agent_sel(metric: str, *matchers: str) -> str:
    """`metric{instance=~"$agent", matchers...}`: for the series an agent exports once, not
    per target (the D-day board's), which have no `target` to select by."""
    parts = [f'instance=~"${AGENT}"', *matchers]
    return f"{metric}{{{', '.join(parts)}}}"


def in_region(expr: str) -> str:
    """Keeps the series of `expr` whose target is in the selected regions (for series
    without a region label of their own; they must keep `job` and `target`). Parenthesised,
    since `and` binds looser than any arithmetic a caller may put around it."""
    if re.search(r"\b(or|unless)\b", expr):
        expr = f"({expr})"
    return f'({expr} and on (job, target) headroom_target_info{{region=~"$region"}})'


def rate(selector: str, by: str | None = None) -> str:
    """`sum by (by) (rate(selector[$__rate_interval]))`, or the bare rate without `by`."""
    r = f"rate({selector}[{RATE}])"
    return f"sum by ({by}) ({r})" if by else r


def variables_used(expr: str) -> set[str]:
    """The `$name` / `${name}` template variables an expression uses."""
    found = set()
    for m in re.finditer(r"\$\{?(__[a-z_]+|[A-Za-z_][A-Za-z0-9_]*)\}?", expr):
        found.add("$" + m.group(1))
    return found
