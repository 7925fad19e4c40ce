#!/usr/bin/env python3
"""Generates headroom's Grafana dashboards (dashboards/*.json) from the code in
dashboards/boards/ and dashboards/lib/, with grafana-foundation-sdk's builders.

    dashboards/generate.py               write dashboards/*.json
    dashboards/generate.py --check       write nothing; exit 1 naming every file that differs
                                         from what the code generates (or should not be
                                         there), and every dashboard on disk that fails
                                         validation
    dashboards/generate.py --variables   print SUBSTITUTIONS (below) as JSON

Validation loads each JSON into the SDK's model (Dashboard.from_json, plugin variants
registered) and serialises it back: the result must equal the file exactly; then the house
rules of lib/validate.py (descriptions, units, `${datasource}`, target selectors, template
variables, ids, grid). docs/dashboards.md says more.

Needs grafana-foundation-sdk and PyYAML (dashboards/requirements.txt). Run with another
interpreter, it re-executes itself with the repository's .venv/bin/python when that has them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

try:
    import grafana_foundation_sdk  # noqa: F401
    import yaml  # noqa: F401
except ImportError:
    venv = ROOT / ".venv"
    venv_python = venv / "bin" / "python"
    in_venv = Path(sys.prefix).resolve() == venv.resolve()
    if venv_python.exists() and not in_venv and not os.environ.get("HEADROOM_DASHBOARDS_REEXEC"):
        os.environ["HEADROOM_DASHBOARDS_REEXEC"] = "1"
        os.execv(str(venv_python), [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]])
    sys.exit(
        "dashboards/generate.py needs grafana-foundation-sdk and PyYAML: "
        f"pip install -r {HERE / 'requirements.txt'}"
    )

sys.dont_write_bytecode = True  # no __pycache__ beside the dashboards
sys.path.insert(0, str(HERE))

import json  # noqa: E402

from boards import BOARDS  # noqa: E402
from lib import layout, promql, render, validate  # noqa: E402

# The template variables and macros the panels' queries use, each with the value the
# integration test substitutes for it before sending the query to Prometheus: a regex that
# matches every value, or a duration. `--variables` prints it as JSON for tests that do not
# run Python (no JSON file of it sits beside the dashboards: Grafana's file provisioning
# would try to load it as a dashboard). --check fails on a query that uses anything else,
# and on an entry no query uses. $__interval (15s) and $__range (5m) are the only other
# macros a query may use.
SUBSTITUTIONS = promql.SUBSTITUTIONS


def generated() -> dict[str, str]:
    """file name -> content of every file the generator owns."""
    files: dict[str, str] = {}
    uids = set()
    for board in BOARDS:
        if board.uid in uids:
            raise SystemExit(f"two dashboards have the uid {board.uid}")
        uids.add(board.uid)
        files[board.filename] = render.dumps(layout.build(board))
    return files


def unused_substitutions(files: dict[str, str]) -> list[str]:
    used: set[str] = set()
    for text in files.values():
        for panel in json.loads(text).get("panels") or []:
            for target in panel.get("targets") or []:
                used |= promql.variables_used(target.get("expr") or "")
    return [f"SUBSTITUTIONS lists {name}, which no query uses" for name in sorted(set(SUBSTITUTIONS) - used)]


def on_disk() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(HERE.glob("*.json"))}


def validation_problems(files: dict[str, str], label: str) -> list[str]:
    problems = []
    for name, text in sorted(files.items()):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            problems.append(f"{label}{name}: not JSON: {e}")
            continue
        uid = data.get("uid", name)
        for p in validate.validate(data, expected_uid=name.removesuffix(".json")):
            problems.append(f"{label}{name} (dashboard {uid}): {p}")
    return problems


def provisioning_problems() -> list[str]:
    """The provisioning examples must stay loadable by a stock Grafana."""
    import yaml

    problems = []
    dash = HERE / "provisioning" / "dashboards" / "headroom.yaml"
    ds = HERE / "provisioning" / "datasources" / "prometheus.yaml"
    try:
        d = yaml.safe_load(dash.read_text())
        p = d["providers"][0]
        if d.get("apiVersion") != 1 or p.get("type") != "file" or p.get("folder") != "headroom" or not p["options"].get("path"):
            problems.append(f"{dash.relative_to(ROOT)}: not an apiVersion 1 file provider into folder headroom with a path")
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError) as e:
        problems.append(f"{dash.relative_to(ROOT)}: {e}")
    try:
        d = yaml.safe_load(ds.read_text())
        if d.get("apiVersion") != 1 or d["datasources"][0].get("type") != "prometheus":
            problems.append(f"{ds.relative_to(ROOT)}: not an apiVersion 1 Prometheus data source")
    except (OSError, yaml.YAMLError, KeyError, IndexError, TypeError) as e:
        problems.append(f"{ds.relative_to(ROOT)}: {e}")
    return problems


def main(argv: list[str]) -> int:
    if argv == ["--variables"]:
        print(json.dumps(SUBSTITUTIONS, indent=2, sort_keys=True))
        return 0
    if argv not in ([], ["--check"]):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    want = generated()
    problems = validation_problems(want, "generated ") + unused_substitutions(want)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    have = on_disk()
    if argv == ["--check"]:
        stale = []
        for name in sorted(set(want) | set(have)):
            if name not in have:
                stale.append(f"dashboards/{name}: missing (run dashboards/generate.py)")
            elif name not in want:
                stale.append(f"dashboards/{name}: not generated by any board (remove it, or add its board to boards/__init__.py)")
            elif have[name] != want[name]:
                stale.append(f"dashboards/{name}: differs from what the code generates (run dashboards/generate.py)")
        problems = stale + validation_problems(have, "dashboards/") + provisioning_problems()
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return 1
        print(f"dashboards: {len(want)} dashboards up to date and valid")
        return 0
    for name in sorted(set(have) - set(want)):
        (HERE / name).unlink()
        print(f"removed dashboards/{name}")
    for name, text in sorted(want.items()):
        if have.get(name) != text:
            (HERE / name).write_text(text, encoding="utf-8")
            print(f"wrote dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
