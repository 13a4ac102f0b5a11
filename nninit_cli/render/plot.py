"""Figures, drawn with matplotlib's Agg backend (never a window) and written
atomically.  matplotlib is imported only when a plot is asked for."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nninit_cli.errors import SpecError
from nninit_cli.io import atomic_write_with
from nninit_cli.results import CompareResult, GradNormsResult, StdTraceResult

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot_path(path: Path | None, flag: str = "--plot") -> None:
    """Refuse a bad --plot path before any work is done."""
    if path is None:
        return
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise SpecError(flag, f"must end in {', '.join(PLOT_SUFFIXES)}, got {path.name!r}")
    check_out_path(path, flag)


def check_out_path(path: Path | None, flag: str) -> None:
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise SpecError(flag, f"folder {str(parent)!r} does not exist")
    if path.is_dir():
        raise SpecError(flag, f"{str(path)!r} is a folder; give a file name")


def figure(**kw: Any) -> Any:
    """A matplotlib Figure drawn by the Agg canvas: no pyplot, no global state,
    never a window (and 0.1 s less to import than pyplot)."""
    from matplotlib.figure import Figure

    return Figure(**kw)


def save(fig: Any, path: Path) -> None:
    fmt = path.suffix.lower().lstrip(".")
    atomic_write_with(path, lambda fh: fig.savefig(fh, format=fmt, bbox_inches="tight"))


def _finite(values: list[float | None]) -> list[float]:
    return [v if v is not None and math.isfinite(v) and v > 0 else math.nan for v in values]


def std_trace_plot(res: StdTraceResult, path: Path) -> None:
    """Std per layer on a log axis: measured, the infinite-width theory with its
    90% finite-width band, and the first non-finite layer marked."""
    panels = 2 if res.backward else 1
    fig = figure(figsize=(6.5 * panels, 4.2))
    axes = fig.subplots(1, panels, squeeze=False)
    ax = axes[0][0]
    layers = [r.layer for r in res.layers]
    ax.plot(layers, _finite([r.std for r in res.layers]), "o-", ms=3, label="measured std")
    all_layers = list(range(1, len(res.predicted_all) + 1))
    ax.plot(all_layers, _finite(res.predicted_all), "--", color="gray", label="theory (infinite width)")
    bands = [r.predicted_band for r in res.layers]
    if any(b is not None for b in bands):
        lo = _finite([b[0] if b else None for b in bands])
        hi = _finite([b[1] if b else None for b in bands])
        ax.fill_between(layers, lo, hi, color="gray", alpha=0.2, label="90% band at this width")
    if res.first_nonfinite_layer is not None:
        ax.axvline(res.first_nonfinite_layer, color="red", lw=1)
        ax.annotate(
            f" inf/nan at layer {res.first_nonfinite_layer}",
            (res.first_nonfinite_layer, 0.5),
            xycoords=("data", "axes fraction"),
            color="red",
        )
    ax.set_yscale("log")
    ax.set_xlabel("layer")
    ax.set_ylabel("std of layer output")
    c = res.config
    ax.set_title(f"{c['act']} / {c['init']}, {c['layers']} x {c['width']}, verdict {res.verdict}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    if res.backward:
        g = axes[0][1]
        g.plot(layers, _finite([r.grad_std for r in res.layers]), "o-", ms=3, label="grad std (output)")
        g.plot(layers, _finite([r.weight_grad_norm for r in res.layers]), "s-", ms=3, label="|dL/dW|")
        g.set_yscale("log")
        g.set_xlabel("layer")
        g.set_title("backward pass")
        g.grid(True, alpha=0.3)
        g.legend(fontsize="small")
    save(fig, path)


def grad_norms_plot(res: GradNormsResult, path: Path) -> None:
    """Gradient L2 norm per parameter on a log axis, one line per activation
    (the seed's comparison plot).  Exact zeros cannot sit on a log axis: they are
    drawn at the bottom edge with their own marker and labelled, not dropped."""
    params = [p.name for p in res.runs[0].params]
    positive = [g for r in res.runs for p in r.params for g in [p.grad_norm] if g and math.isfinite(g)]
    floor = min(positive) / 10 if positive else 1e-12
    fig = figure(figsize=(max(6.5, 0.45 * len(params)), 4.5))
    ax = fig.subplots()
    xs = list(range(len(params)))
    zero_label_done = False
    for run in res.runs:
        norms = [p.grad_norm for p in run.params]
        ys = [g if g is not None and g > 0 and math.isfinite(g) else math.nan for g in norms]
        (line,) = ax.plot(xs, ys, "o-", ms=4, label=run.act)
        zeros = [x for x, g in zip(xs, norms, strict=True) if g == 0.0]
        if zeros:
            ax.plot(
                zeros,
                [floor] * len(zeros),
                "v",
                ms=9,
                color=line.get_color(),
                mfc="none",
                label=None if zero_label_done else "exactly 0 (drawn at the bottom)",
            )
            zero_label_done = True
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor / 2)
    ax.set_xticks(xs)
    ax.set_xticklabels(
        params,
        rotation=60 if len(params) > 10 else 0,
        ha="right" if len(params) > 10 else "center",
        fontsize="small",
    )
    ax.set_ylabel("gradient L2 norm at step 1")
    ax.set_title(f"gradient norms per parameter, init {res.config['init']}, bias {res.config['bias']}")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize="small")
    save(fig, path)


def compare_plot(res: CompareResult, path: Path) -> None:
    """(a) std per layer, one line per init, one panel per activation, log axis;
    (b) a heatmap init x activation of log10(final std / input std), each cell
    marked with its verdict."""
    import numpy as np

    n = len(res.acts)
    fig = figure(figsize=(max(7.0, 4.2 * n), 4.0 + 0.35 * len(res.inits) + 1.5), layout="constrained")
    grid = fig.add_gridspec(2, n, height_ratios=[1.0, 0.25 * len(res.inits) + 0.5])
    for j, act in enumerate(res.acts):
        ax = fig.add_subplot(grid[0, j])
        for init in res.inits:
            stds = res.cell(init, act).std_per_layer
            ax.plot(range(1, len(stds) + 1), _finite(stds), label=init, lw=1.2)
        ax.set_yscale("log")
        ax.set_title(act)
        ax.set_xlabel("layer")
        if j == 0:
            ax.set_ylabel("std of layer output (mean over seeds)")
        ax.grid(True, alpha=0.3)
    fig.axes[0].legend(fontsize="x-small", ncol=2)
    heat = fig.add_subplot(grid[1, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.array([[res.cell(i, a).std_ratio.mean for a in res.acts] for i in res.inits], dtype=float)
        logs = np.log10(values)
    shown = np.where(np.isfinite(logs), logs, np.nan)
    span = float(np.nanmax(np.abs(shown))) if np.isfinite(shown).any() else 1.0
    image = heat.imshow(shown, cmap="coolwarm", vmin=-max(span, 1), vmax=max(span, 1), aspect="auto")
    for r, init in enumerate(res.inits):
        for col, act in enumerate(res.acts):
            cell = res.cell(init, act)
            heat.text(col, r, f"{cell.verdict} #{cell.rank}", ha="center", va="center", fontsize="x-small")
    heat.set_xticks(range(n), res.acts)
    heat.set_yticks(range(len(res.inits)), res.inits)
    heat.set_title("log10(final std / input std); blank: inf or nan, or exactly 0")
    fig.colorbar(image, ax=heat, fraction=0.03)
    save(fig, path)


def activations_plot(data: dict, path: Path) -> None:
    """The seed's xyplot figures: f(x) and f'(x), one panel each per activation."""
    acts = data["acts"]
    fig = figure(figsize=(4.0 * len(acts), 6.0), layout="constrained")
    axes = fig.subplots(2, len(acts), squeeze=False)
    for j, r in enumerate(acts):
        axes[0][j].plot(r["x"], r["y"])
        axes[0][j].set_title(r["act"])
        axes[1][j].plot(r["x"], r["dy"], color="#e4007f")
        axes[1][j].set_xlabel("x")
        for ax, label in ((axes[0][j], f"{r['act']}(x)"), (axes[1][j], f"grad of {r['act']}")):
            ax.set_ylabel(label)
            ax.grid(True, alpha=0.3)
    save(fig, path)


def init_hist_plot(data: dict, path: Path) -> None:
    """Side-by-side density histograms, one panel per initialiser (E1's figure)."""
    rows = data["inits"]
    fig = figure(figsize=(4.5 * len(rows), 4.0), layout="constrained")
    axes = fig.subplots(1, len(rows), squeeze=False)[0]
    colours = ("#f19ec2", "#e4007f")
    for k, (ax, r) in enumerate(zip(axes, rows, strict=True)):
        h = r["histogram"]
        n = len(h["counts"])
        width = (h["max"] - h["min"]) / n
        total = sum(h["counts"]) * width
        lefts = [h["min"] + i * width for i in range(n)]
        ax.bar(lefts, [c / total for c in h["counts"]], width=width, align="edge", color=colours[k % 2])
        ax.set_title(f"{r['init']}: std {r['std']:.3g}")
    save(fig, path)
