"""The per-layer table as CSV (every layer, full precision)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nninit_cli.io import atomic_open


def _cell(v: Any) -> Any:
    return "" if v is None else repr(v) if isinstance(v, float) else v


def write_rows(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write dict rows; a list value [lo, hi] becomes two columns name_lo, name_hi."""
    flat = []
    for row in rows:
        out: dict[str, Any] = {}
        for k, v in row.items():
            if isinstance(v, list | tuple):
                out[f"{k}_lo"], out[f"{k}_hi"] = v
            elif v is None and k.endswith("band"):
                out[f"{k}_lo"] = out[f"{k}_hi"] = None
            else:
                out[k] = v
        flat.append(out)
    with atomic_open(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(flat[0]) if flat else [], lineterminator="\n")
        writer.writeheader()
        for row in flat:
            writer.writerow({k: _cell(v) for k, v in row.items()})
