"""Dashboard JSON as it is written to disk: the SDK model's own serialisation, keys sorted,
two-space indent, a trailing newline."""

from __future__ import annotations

import json
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder


def to_data(obj: Any) -> Any:
    """The plain JSON value (dicts, lists, numbers, strings) of an SDK model."""
    return json.loads(json.dumps(obj, cls=JSONEncoder))


def dumps(obj: Any) -> str:
    return json.dumps(obj, cls=JSONEncoder, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
