"""Is std-trace's 90% band calibrated?  Coverage over seeds, cell by cell.

A cell is one (activation, init family, width, batch, bias, architecture);
each seed is one `run_std_trace` of 100 layers (blocks), exactly as the
command runs it, so the band checked is the band users see.  One run gives
two depths: layers 10 and 20 are the middle and last of a 20-layer stack
(every layer's weights are drawn from streams keyed by its name, so the first
20 layers of a 100-layer stack *are* the 20-layer stack), 50 and 100 those of
the 100-layer one.

Per (cell, depth, layer) it reports the fraction of seeds whose std lies in
their own band (the band is predicted from each seed's input batch), and the
band's width against the seeds' own spread: the median band width in log
std over the 5-95% range, across seeds, of log(std / predicted std).  The
ratio is taken to the predicted value rather than raw because each seed's
band moves with its input batch's norm; where neither the band nor the seeds
spread (orthogonal linear stacks: float rounding only) the ratio is 1.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

ACTS = ("linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "gelu", "silu", "softplus")
FAMILIES = {"gaussian": "kaiming-normal", "uniform": "kaiming-uniform", "orthogonal": "orthogonal"}
BIASES = {"none": {"bias": "none"}, "random": {"bias-std": 0.3}}
WIDTHS = (64, 256, 1024)
BATCHES = (1, 16, 64)
ARCHS = ("mlp", "resmlp")
DEPTHS = (20, 100)
SEEDS = 40
COVERAGE_RANGE = (0.80, 0.97)
MAX_WIDTH_RATIO = 1.3
_TINY = 1e-6  # log-width below which a band (or a spread) is float rounding


@dataclass(frozen=True)
class Cell:
    act: str
    family: str
    width: int
    batch: int
    bias: str
    arch: str

    def flags(self, seed: int) -> dict:
        flags = {
            "act": self.act,
            "init": FAMILIES[self.family],
            "width": self.width,
            "batch-size": self.batch,
            "layers": max(DEPTHS),
            "seed": seed,
            **BIASES[self.bias],
        }
        if self.arch == "resmlp":
            flags["arch"] = "resmlp"
        return flags


@dataclass(frozen=True)
class Coverage:
    """One row of the calibration table."""

    act: str
    family: str
    width: int
    batch: int
    bias: str
    arch: str
    depth: int
    layer: str  # "mid" or "last"
    seeds: int
    coverage: float | None  # None where the theory gives no band
    width_ratio: float | None
    below: float | None  # fraction of seeds under the band (the rest outside are above)

    @property
    def ok(self) -> bool:
        lo, hi = COVERAGE_RANGE
        return (
            self.coverage is not None
            and lo <= self.coverage <= hi
            and self.width_ratio is not None
            and self.width_ratio <= MAX_WIDTH_RATIO
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def matrix(archs=ARCHS) -> Iterator[Cell]:
    """Every cell of the issue's matrix, cheapest widths first."""
    for width, arch, act, family, bias, batch in itertools.product(
        WIDTHS, archs, ACTS, FAMILIES, BIASES, BATCHES
    ):
        yield Cell(act, family, width, batch, bias, arch)


def run_cell(cell: Cell, seeds: int = SEEDS) -> list[Coverage]:
    """Run the cell's seeds and score both depths' middle and last layers."""
    from nninit_cli.experiments.std_trace import run_std_trace
    from nninit_cli.specs import std_trace_spec

    rows = [run_std_trace(std_trace_spec(cell.flags(seed))).layers for seed in range(seeds)]
    out = []
    for depth in DEPTHS:
        for name, layer in (("mid", depth // 2), ("last", depth)):
            out.append(_score(cell, depth, name, [r[layer - 1] if len(r) >= layer else None for r in rows]))
    return out


def _score(cell: Cell, depth: int, name: str, layers: list) -> Coverage:
    stds, bands, centres = [], [], []
    for row in layers:
        stds.append(row.std if row is not None else math.nan)
        bands.append(row.predicted_band if row is not None else None)
        centres.append(row.predicted_std if row is not None else None)
    base = {**asdict(cell), "depth": depth, "layer": name, "seeds": len(layers)}
    if any(b is None for b in bands):
        return Coverage(**base, coverage=None, width_ratio=None, below=None)
    inside = [math.isfinite(s) and lo <= s <= hi for s, (lo, hi) in zip(stds, bands, strict=True)]
    below = [math.isfinite(s) and s < lo for s, (lo, _) in zip(stds, bands, strict=True)]
    return Coverage(
        **base,
        coverage=float(np.mean(inside)),
        width_ratio=_width_ratio(stds, bands, centres),
        below=float(np.mean(below)),
    )


def _width_ratio(
    stds: list[float], bands: list[tuple[float, float]], centres: list[float | None]
) -> float | None:
    widths = [math.log(hi / lo) for lo, hi in bands if lo > 0 and hi > 0]
    rel = [
        math.log(s / c)
        for s, c in zip(stds, centres, strict=True)
        if c is not None and c > 0 and math.isfinite(s) and s > 0
    ]
    if len(widths) < len(bands) or len(rel) < len(stds):
        return None  # a band or a std at 0 (a dead stack): no log width
    spread = float(np.percentile(rel, 95) - np.percentile(rel, 5))
    band = float(np.median(widths))
    if spread < _TINY:
        return 1.0 if band < _TINY else math.inf
    return band / spread
