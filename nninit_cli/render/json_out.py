"""Strict JSON: one object, no NaN or Infinity tokens.

Non-finite floats become null, and `nonfinite_values` lists each one with its
path (jq syntax) and what it was, so "overflowed" never reads as "missing".
`allow_nan=False` makes any number that slipped through fail loudly.
"""

from __future__ import annotations

import json
import math
from typing import Any

from nninit_cli import __version__


def strict_copy(obj: Any, path: str, found: list[dict[str, str]]) -> Any:
    """`obj` with every non-finite float replaced by None and recorded in
    `found` with its jq path (also metrics.jsonl's and watch.jsonl's lines)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        found.append(
            {"path": path or ".", "value": "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")}
        )
        return None
    if isinstance(obj, dict):
        return {
            k: strict_copy(v, f"{path}.{k}" if str(k).isidentifier() else f'{path}["{k}"]', found)
            for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [strict_copy(v, f"{path}[{i}]", found) for i, v in enumerate(obj)]
    return obj


def payload(command: str, config: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
    """The JSON contract: command, nninit_version, config, the results, then
    nonfinite_values."""
    found: list[dict[str, str]] = []
    body = {"command": command, "nninit_version": __version__, "config": config, **results}
    clean = strict_copy(body, "", found)
    clean["nonfinite_values"] = found
    return clean


def dumps(command: str, config: dict[str, Any], results: dict[str, Any]) -> str:
    return json.dumps(payload(command, config, results), allow_nan=False, indent=2) + "\n"
