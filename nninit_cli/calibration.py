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
# What 40 seeds can tell.  For a band that is exactly right (90% coverage, the
# true 5-95% width), 40 seeds put one check's coverage outside [80%, 97%] 9.5%
# of the time (39 or 40 of 40 inside: 8.0%; 31 or fewer: 1.5%), and its width
# ratio above 1.3 9.7% of the time (np.percentile's 5-95% range of 40 normal
# draws is short: the ratio's median is 1.08), 31% for a skewed spread.  So a
# check is judged against what chance allows over the whole matrix (coverage
# at least 70%: 27 or fewer of 40 has probability 9e-5 at 90%, 0.13 false
# alarms expected over its 1440 checks), and the window applies to a
# group's pooled coverage (all checks of one activation, init family and
# architecture) and its median width ratio.
CHECK_MIN_COVERAGE = 0.70
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
class Coverage(Cell):
    """One row of the calibration table: a cell, a depth and a layer."""

    depth: int
    layer: str  # "mid" or "last"
    seeds: int
    coverage: float | None  # None where the theory gives no band
    width_ratio: float | None
    below: float | None  # fraction of seeds under the band (the rest outside are above)

    @property
    def in_window(self) -> bool:
        """The issue's criterion for one check (see COVERAGE_RANGE's note)."""
        lo, hi = COVERAGE_RANGE
        return (
            self.coverage is not None
            and lo <= self.coverage <= hi
            and self.width_ratio is not None
            and self.width_ratio <= MAX_WIDTH_RATIO
        )

    @property
    def ok(self) -> bool:
        """Plausible for a calibrated band at 40 seeds."""
        return self.coverage is not None and self.coverage >= CHECK_MIN_COVERAGE

    def to_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok, "in_window": self.in_window}


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


@dataclass(frozen=True)
class Group:
    """Pooled over one (arch, act, family): every width, batch, bias, depth
    and layer that was run."""

    arch: str
    act: str
    family: str
    checks: int
    banded: int  # checks where the theory gives a band
    coverage: float | None  # mean over the banded checks
    min_coverage: float | None
    median_ratio: float | None
    max_ratio: float | None
    in_window: int  # checks inside the per-check window

    @property
    def ok(self) -> bool:
        lo, hi = COVERAGE_RANGE
        return (
            self.banded == self.checks
            and self.coverage is not None
            and lo <= self.coverage <= hi
            and self.min_coverage >= CHECK_MIN_COVERAGE
            and self.median_ratio is not None
            and self.median_ratio <= MAX_WIDTH_RATIO
        )


def groups(rows: list[dict]) -> list[Group]:
    """The README's table: rows (Coverage.to_dict()) pooled per group."""
    by: dict[tuple, list[dict]] = {}
    for r in rows:
        by.setdefault((r["arch"], r["act"], r["family"]), []).append(r)
    out = []
    for (arch, act, family), rs in sorted(
        by.items(), key=lambda kv: (kv[0][0], ACTS.index(kv[0][1]), kv[0][2])
    ):
        banded = [r for r in rs if r["coverage"] is not None]
        ratios = [r["width_ratio"] for r in banded if r["width_ratio"] is not None]
        cov = [r["coverage"] for r in banded]
        out.append(
            Group(
                arch=arch,
                act=act,
                family=family,
                checks=len(rs),
                banded=len(banded),
                coverage=float(np.mean(cov)) if cov else None,
                min_coverage=min(cov) if cov else None,
                median_ratio=float(np.median(ratios)) if ratios else None,
                max_ratio=max(ratios) if ratios else None,
                in_window=sum(r["in_window"] for r in rs),
            )
        )
    return out
