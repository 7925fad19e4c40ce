"""Panel thresholds read from the shipped checks (checks/*.yaml), so a panel colours a value
exactly where the check that judges it changes state: change a check's `warning` or
`critical` and `generate.py --check` fails until the dashboards are regenerated.

A check's ranges use the Nagios plugin guideline syntax (docs/checks.md#check-fields):
`10` alerts above 10, `10:` below 10, `~:10` above 10; ends are inclusive. Grafana colours a
value with the highest step whose value it reaches (value >= step), so:

* "below" ranges (`N:`) map exactly: N itself is OK, and is the step where OK begins;
* "above" ranges (`N`, `~:N`) start the problem colour at N for continuous values (N itself
  shows in the problem colour, where the check still says OK: a boundary no reading sits on
  in practice), and at N + 1 for whole counts (`integer=True`), where it is exact.

`scale` converts the check's units back to the series' own: MEMCACHE_HITRATE judges
`headroom_memcached_hit_ratio` x 100 against 90 and 80, so a panel of the ratio gets 0.9 and
0.8 (its unit is percentunit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from grafana_foundation_sdk.builders import dashboard as dashboard_builder
from grafana_foundation_sdk.models import dashboard as dashboard_model

CHECKS_DIR = Path(__file__).resolve().parents[2] / "checks"

# Nagios' colours, as Grafana names them.
OK = "green"
WARNING = "yellow"
CRITICAL = "red"
UNKNOWN = "gray"


@dataclass(frozen=True)
class Bound:
    """One side of a Nagios range that a problem lies beyond."""

    value: float
    below: bool  # True: values below `value` are a problem; False: values above it


def parse_range(text: str) -> Bound:
    """The problem side of a plugin-guideline range. Only the one-sided forms the shipped
    checks use are accepted; anything else is an error rather than a guess."""
    text = str(text).strip()
    if text.startswith("@"):
        raise ValueError(f"inside ranges ({text!r}) have no single threshold to draw")
    if ":" not in text:
        return Bound(float(text), below=False)  # 0..N: a problem above N
    low, high = text.split(":", 1)
    if high == "" and low not in ("", "~"):
        return Bound(float(low), below=True)  # N: a problem below N
    if low in ("", "~") and high != "":
        return Bound(float(high), below=False)  # ~:N: a problem above N
    if low == "0" and high != "":
        return Bound(float(high), below=False)
    raise ValueError(f"two-sided range {text!r} has no single threshold to draw")


@lru_cache(maxsize=None)
def shipped_checks() -> dict[str, dict]:
    """Every shipped check by name."""
    checks: dict[str, dict] = {}
    for path in sorted(CHECKS_DIR.glob("*.yaml")):
        for check in yaml.safe_load(path.read_text()) or []:
            checks[check["name"]] = check
    return checks


def check(name: str) -> dict:
    try:
        return shipped_checks()[name]
    except KeyError:
        raise KeyError(f"no shipped check named {name} in {CHECKS_DIR}") from None


def _num(value: float) -> float | int:
    """Whole numbers as ints, so the JSON reads 2 rather than 2.0."""
    if math.isfinite(value) and value == int(value):
        return int(value)
    return round(value, 12)


def steps_for(name: str, *, integer: bool = False, scale: float | None = None) -> list[tuple[float | None, str]]:
    """Threshold steps (value, colour) in the series' own units for the shipped check `name`.
    `scale` overrides the check's own `scale` (e.g. 1 when a panel plots the scaled value)."""
    c = check(name)
    factor = float(c.get("scale", 1) if scale is None else scale)
    bounds = {
        state: parse_range(c[key])
        for state, key in ((WARNING, "warning"), (CRITICAL, "critical"))
        if key in c
    }
    if not bounds:
        raise ValueError(f"check {name} has no thresholds to draw")
    sides = {b.below for b in bounds.values()}
    if len(sides) != 1:
        raise ValueError(f"check {name} mixes 'below' and 'above' ranges")
    below = sides.pop()

    def at(bound: Bound) -> float | int:
        value = bound.value / factor
        if not below and integer:
            value = math.floor(value) + 1
        return _num(value)

    if below:
        # Lowest first: the base colour is the worst state any bound gives.
        ordered = sorted(bounds.items(), key=lambda kv: kv[1].value)
        steps: list[tuple[float | None, str]] = [(None, ordered[0][0])]
        for i, (state, bound) in enumerate(ordered):
            nxt = ordered[i + 1][0] if i + 1 < len(ordered) else OK
            steps.append((at(bound), nxt))
        return steps
    ordered = sorted(bounds.items(), key=lambda kv: kv[1].value)
    steps = [(None, OK)]
    for state, bound in ordered:
        steps.append((at(bound), state))
    return steps


def thresholds(steps: list[tuple[float | None, str]]) -> dashboard_builder.ThresholdsConfig:
    """An absolute ThresholdsConfig from (value, colour) steps, the first value None (-inf)."""
    if not steps or steps[0][0] is not None:
        raise ValueError("the first threshold step must have no value (it is -Infinity)")
    return (
        dashboard_builder.ThresholdsConfig()
        .mode(dashboard_model.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_model.Threshold(value=v, color=c) for v, c in steps])
    )


def check_thresholds(name: str, *, integer: bool = False, scale: float | None = None) -> dashboard_builder.ThresholdsConfig:
    """The thresholds of the shipped check `name`, for a panel of the series it judges."""
    return thresholds(steps_for(name, integer=integer, scale=scale))
