"""--csv: a command's table as CSV, every row at full precision.

Each command's rows come from its JSON results (`*_rows` below; train's from
its epoch history), so a CSV and the JSON of one run never disagree.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from nninit_cli.io import atomic_open


def _cell(v: Any) -> Any:
    return "" if v is None else repr(v) if isinstance(v, float) else v


def _flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict {k: {a, b}} becomes columns k_a, k_b; a list [lo, hi]
    becomes k_lo, k_hi (and a missing band two empty cells)."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, f"{name}_"))
        elif isinstance(v, list | tuple):
            out[f"{name}_lo"], out[f"{name}_hi"] = v
        elif v is None and k.endswith("band"):
            out[f"{name}_lo"] = out[f"{name}_hi"] = None
        else:
            out[name] = v
    return out


def write_rows(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    """Write dict rows; the columns are every key met, in the order first met."""
    flat = [_flatten(row) for row in rows]
    columns = list(dict.fromkeys(k for row in flat for k in row))
    with atomic_open(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in flat:
            writer.writerow({k: _cell(v) for k, v in row.items()})


# ---------------------------------------------------------------------------
# Which rows each command writes: the rows of its table, from its JSON results.


def std_trace_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per layer (a residual network: per block)."""
    return list(results["blocks"] if "blocks" in results else results["layers"])


def grad_norms_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (activation, parameter); the per-step list is left to JSON."""
    rows = []
    for run in results["runs"]:
        for p in run["params"]:
            row = {"act": run["act"], **{k: v for k, v in p.items() if k != "grad_norm_per_step"}}
            row["shape"] = "x".join(map(str, p["shape"]))
            rows.append(row)
    return rows


def compare_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per cell; {mean, std} pairs become two columns, the per-layer
    and per-seed lists are left to JSON."""
    rows = []
    for cell in results["cells"]:
        row: dict[str, Any] = {}
        for k, v in cell.items():
            if k in ("std_per_layer", "verdicts", "seeds", "scores"):
                continue
            if isinstance(v, dict):
                row[f"{k}_mean"], row[f"{k}_std"] = v["mean"], v["std"]
            elif v is None and k in ("saturated_frac", "train_loss", "dev_accuracy"):
                row[f"{k}_mean"] = row[f"{k}_std"] = None
            else:
                row[k] = v
        rows.append(row)
    return rows


def eval_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The one line eval prints: run, metric, best epoch, test loss and metric."""
    return [dict(results)]


def gain_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per activation (the estimate's mean and se as two columns)."""
    return list(results["acts"])


def activations_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (activation, point of the table): x, f(x), f'(x)."""
    return [{"act": r["act"], **p} for r in results["acts"] for p in r["points"]]


def init_hist_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per initialiser; the histogram's counts are left to JSON (and --plot)."""
    return [
        {**r, "histogram": {"min": r["histogram"]["min"], "max": r["histogram"]["max"]}}
        for r in results["inits"]
    ]


def catalog_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per activation, initialiser and preset, `kind` saying which."""
    rows = []
    for kind, key in (("activation", "activations"), ("init", "inits"), ("preset", "presets")):
        for item in results[key]:
            rows.append(
                {"kind": kind, **{k: " ".join(v) if isinstance(v, list) else v for k, v in item.items()}}
            )
    return rows


def coord_check_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per (layer, step, width): the sizes (mean over seeds) and the
    layer's slopes at that step with their 90% intervals."""
    rows = []
    for layer in results["layers"]:
        for s in layer["steps"]:
            slopes = {}
            for what in ("size", "change"):
                sl = s[f"{what}_slope"]
                ci = sl["ci"] or [None, None]
                slopes.update(
                    {
                        f"{what}_slope": sl["slope"],
                        f"{what}_slope_lo": ci[0],
                        f"{what}_slope_hi": ci[1],
                        f"{what}_slope_reason": sl["reason"],
                    }
                )
            for i, width in enumerate(results["widths"]):
                rows.append(
                    {
                        "layer": layer["name"],
                        "role": layer["role"],
                        "step": s["step"],
                        "width": width,
                        "size": s["size"][i],
                        "change": s["change"][i],
                        **slopes,
                    }
                )
    return rows


def jacobian_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The table's rows: one per input (its Jacobian's spectrum), "all" (every
    input's singular values pooled) and "theory" (mean s^2 and spread, the
    only two it predicts; `reason` says why one is missing)."""
    th = results["theory"]
    mean_sq = th["mean_sq"]
    theory = {
        "sample": "theory",
        "mean_sq": mean_sq,
        "rms": mean_sq**0.5 if mean_sq is not None else None,
        "spread": th["spread"],
        "reason": th["mean_sq_reason"] or th["spread_reason"],
    }
    return [*results["samples"], {"sample": "all", **results["pooled"]}, theory]


def phase_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per cell; the per-layer lists (measured_c, theory_c, noise_floor) are left to JSON."""
    return [{k: v for k, v in cell.items() if not isinstance(v, list)} for cell in results["cells"]]
