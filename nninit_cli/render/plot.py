"""Figures, drawn with matplotlib's Agg backend (never a window) and written
atomically.  matplotlib is imported only when a plot is asked for."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from nninit_cli.errors import SpecError
from nninit_cli.io import atomic_write_with, check_output_path
from nninit_cli.results import BlockStats, CompareResult, GradNormsResult, StdTraceResult

PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot_path(path: Path | None, flag: str = "--plot") -> None:
    """Refuse a bad --plot path before any work is done."""
    if path is None:
        return
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise SpecError(flag, f"must end in {', '.join(PLOT_SUFFIXES)}, got {path.name!r}")
    check_output_path(path, flag)


def figure(**kw: Any) -> Any:
    """A matplotlib Figure drawn by the Agg canvas: no pyplot, no global state,
    never a window (and 0.1 s less to import than pyplot)."""
    from matplotlib.figure import Figure

    return Figure(**kw)


# No dates in the files and SVG ids from a fixed salt, not random: the same run
# writes the same bytes in every format.
_NO_DATE = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


def save(fig: Any, path: Path) -> None:
    from matplotlib import rc_context

    fmt = path.suffix.lower().lstrip(".")

    def write(fh: Any) -> None:
        with rc_context({"svg.hashsalt": "nninit"}):
            fig.savefig(fh, format=fmt, bbox_inches="tight", metadata=_NO_DATE[fmt])

    atomic_write_with(path, write)


def _finite(values: list[float | None]) -> list[float]:
    return [v if v is not None and math.isfinite(v) and v > 0 else math.nan for v in values]


def _positive(values: list[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v) and v > 0]


def _short(x: float) -> str:
    """A number for a label: 1e+38 as 1e38."""
    text = f"{x:.3g}"
    if "e" in text:
        mant, exp = text.split("e")
        return f"{mant}e{int(exp)}"
    return text


def _value_axis(ax: Any, lo: float, hi: float, label: str, axis: str = "y") -> None:
    """Limits from the values that must be seen.  A span of less than 10x is
    drawn on a linear axis with plain tick labels (a log axis would label it
    6x10^-1, 7x10^-1, ...); wider spans on a log axis, labelled as such."""
    setlim = ax.set_ylim if axis == "y" else ax.set_xlim
    setlabel = ax.set_ylabel if axis == "y" else ax.set_xlabel
    if hi / lo < 10:
        pad = (hi - lo) * 0.08 or hi * 0.05
        setlim(max(0.0, lo - pad), hi + pad)
        setlabel(label)
        return
    (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
    span = math.log10(hi / lo)
    setlim(lo / 10 ** (0.05 * span), hi * 10 ** (0.05 * span))
    setlabel(f"{label} (log scale)")


def _legend_below(fig: Any, ax: Any, ncol: int) -> None:
    """One legend for the figure, under the axes, never over a curve."""
    handles, labels = [], []
    for a in fig.axes:
        for h, lab in zip(*a.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize="small", frameon=False)


def std_trace_figure(res: StdTraceResult) -> Any:
    """Std per layer: measured, the infinite-width theory with its 90%
    finite-width band, and the first non-finite layer marked.  The y-limits
    follow the measurement: theory beyond them is clipped and its extreme said
    in the legend (in the explode default the theory runs on to layer 100
    while the measurement stops at layer 32)."""
    if res.layers and isinstance(res.layers[0], BlockStats):
        return resmlp_trace_figure(res)
    panels = 2 if res.backward else 1
    fig = figure(figsize=(6.0 * panels, 4.6), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    ax = axes[0]
    c = res.config
    layers = [r.layer for r in res.layers]
    measured = [r.std for r in res.layers]
    ax.plot(layers, _finite(measured), "o-", ms=3, label="measured std", zorder=3)
    seen = _positive(measured)
    if not seen:
        seen = [1.0]
    lo, hi = min(seen), max(seen)
    # theory and band count towards the limits only at measured layers and within 10x
    in_run = _positive([r.predicted_std for r in res.layers])
    in_run += _positive([b for r in res.layers if r.predicted_band for b in r.predicted_band])
    lo = min([lo, *(v for v in in_run if v >= lo / 10)])
    hi = max([hi, *(v for v in in_run if v <= hi * 10)])
    _value_axis(ax, lo, hi, "std of layer output")
    bottom, top = ax.get_ylim()
    theory = res.predicted_all
    label = "theory (infinite width)"
    off = [
        (k + 1, v)
        for k, v in enumerate(theory)
        if v is not None and 0 < v < math.inf and not bottom <= v <= top
    ]
    if off:
        k, v = max(off, key=lambda kv: abs(math.log10(kv[1])))
        label += f"; off the chart, {_short(v)} at layer {k}"
    ax.plot(range(1, len(theory) + 1), _finite(theory), "--", color="gray", label=label, zorder=2)
    bands = [r.predicted_band for r in res.layers]
    if any(b is not None for b in bands):
        band_lo = _finite([b[0] if b else None for b in bands])
        band_hi = _finite([b[1] if b else None for b in bands])
        ax.fill_between(layers, band_lo, band_hi, color="gray", alpha=0.2, label="90% band at this width")
    ax.set_ylim(bottom, top)
    ax.set_xlim(0, c["layers"] + 1)
    if res.first_nonfinite_layer is not None:
        k = res.first_nonfinite_layer
        ax.axvline(k, color="red", lw=1, label=f"inf/nan at layer {k}: the trace stops")
    ax.set_xlabel("layer (Linear + activation)")
    gain = f", gain {c['gain']:.4g}" if c.get("gain") is not None else ""
    ax.set_title(f"{c['act']} / {c['init']}{gain}, {c['layers']} x {c['width']}: {res.verdict}")
    ax.grid(True, which="major", alpha=0.3)
    if res.backward:
        g = axes[1]
        grads = [r.grad_std for r in res.layers]
        weights = [r.weight_grad_norm for r in res.layers]
        drawn = _positive(grads) + _positive(weights)
        for values, style, colour, name in (
            (grads, "o-", "C2", "grad std at the output"),
            (weights, "s-", "C1", "|dL/dW| (L2)"),
        ):
            shown = name if _positive(values) else f"{name}: inf/nan, not drawn"
            g.plot(layers, _finite(values), style, ms=3, color=colour, label=shown)
        if drawn:
            _value_axis(g, min(drawn), max(drawn), "gradient")
        if res.first_nonfinite_layer is not None:
            g.axvline(res.first_nonfinite_layer, color="red", lw=1)
        g.set_xlim(0, c["layers"] + 1)
        g.set_xlabel("layer (Linear + activation)")
        g.set_title("backward: N(0,1) gradient fed in at the top")
        g.grid(True, alpha=0.3)
    _legend_below(fig, ax, ncol=3 if res.backward else 2)
    return fig


def _theory_line(ax: Any, xs: list[int], theory: list[float | None], unit: str) -> None:
    """The infinite-width theory as a dashed line; where it leaves the y-limits
    the legend says how far it goes."""
    bottom, top = ax.get_ylim()
    label = "theory (infinite width)"
    off = [(k, v) for k, v in zip(xs, theory, strict=True) if v is not None and 0 < v < math.inf]
    off = [(k, v) for k, v in off if not bottom <= v <= top]
    if off:
        k, v = max(off, key=lambda kv: abs(math.log10(kv[1])))
        label += f"; off the chart, {_short(v)} at {unit} {k}"
    ax.plot(xs, _finite(theory), "--", color="gray", label=label, zorder=2)


def _unless_zero(name: str, values: list[float | None]) -> str:
    """A legend entry; a curve with nothing to draw on a log axis says why."""
    if _positive(values):
        return name
    if values and all(v == 0 for v in values):
        return f"{name}: exactly 0, not drawn"
    return f"{name}: not drawn (inf, nan or 0)"


def _steady_axis(ax: Any, lo: float, hi: float, label: str) -> None:
    """`_value_axis` for values that may hold still: a span under 10% is shown
    as +-5% around it, so a constant stream is a flat line, not noise blown
    up; a log axis of a few decades gets plain labels (0.2, 0.5, 1, 2)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    if hi < lo * 1.1:
        mid = (lo + hi) / 2
        lo, hi = min(lo, mid / 1.05), max(hi, mid * 1.05)
    _value_axis(ax, lo, hi, label)
    if ax.get_yscale() == "log" and hi / lo < 1e3:
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v)))
        ax.yaxis.set_minor_formatter(NullFormatter())


def resmlp_trace_figure(res: StdTraceResult) -> Any:
    """A residual MLP, block by block: (a) the stream's std (block 0 is the
    input) against the theory and its 90% band, with the branch's std beside
    it; (b) mean drift: the stream's average squared mean against its
    variance (Brock, De & Smith 2021's signal-propagation plot); (c) with
    --backward, the gradient on the stream and the branch's weight gradient."""
    from nninit_cli.render.table import resmlp_block

    rows: list[BlockStats] = res.layers  # type: ignore[assignment]
    c = res.config
    k_all = c["layers"]
    panels = 3 if res.backward else 2
    fig = figure(figsize=(5.2 * panels, 4.6), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    blocks = [r.block for r in rows]
    stop = res.first_nonfinite_layer

    ax = axes[0]
    stream = [res.input_std, *(r.std for r in rows)]
    branch = [r.branch_std for r in rows]
    ax.plot([0, *blocks], _finite(stream), "o-", ms=3, label="stream std (block 0: the input)", zorder=3)
    ax.plot(blocks, _finite(branch), "s-", ms=3, color="C1", label=_unless_zero("branch std", branch))
    seen = _positive(stream) + _positive(branch) or [1.0]
    lo, hi = min(seen), max(seen)
    # theory and band count towards the limits only at measured blocks and within 10x
    near = _positive([r.predicted_std for r in rows])
    near += _positive([b for r in rows if r.predicted_band for b in r.predicted_band])
    lo = min([lo, *(v for v in near if v >= lo / 10)])
    hi = max([hi, *(v for v in near if v <= hi * 10)])
    _steady_axis(ax, lo, hi, "std")
    bottom, top = ax.get_ylim()
    _theory_line(ax, list(range(1, len(res.predicted_all) + 1)), res.predicted_all, "block")
    bands = [r.predicted_band for r in rows]
    if any(b is not None for b in bands):
        band_lo = _finite([b[0] if b else None for b in bands])
        band_hi = _finite([b[1] if b else None for b in bands])
        ax.fill_between(blocks, band_lo, band_hi, color="gray", alpha=0.2, label="90% band at this width")
    ax.set_ylim(bottom, top)
    ax.set_title("the stream and the branch")

    drift = axes[1]
    sq_mean = [r.sq_mean for r in rows]
    variance = [r.std * r.std for r in rows]  # inf past float64's range, where ** would raise
    drift.plot(blocks, _finite(variance), "D-", ms=3, color="C4", label="stream variance (std^2)")
    drifting = _unless_zero("avg squared mean", sq_mean)
    drift.plot(blocks, _finite(sq_mean), "^-", ms=3, color="C3", label=drifting)
    drawn = _positive(variance) + _positive(sq_mean)
    if drawn:
        _steady_axis(drift, min(drawn), max(drawn), "averaged over units")
    else:
        drift.set_ylabel("averaged over units")
    drift.set_title("mean drift: squared mean vs variance")

    if res.backward:
        g = axes[2]
        grads = [r.grad_std for r in rows]
        weights = [r.weight_grad_norm for r in rows]
        for values, style, colour, name in (
            (grads, "o-", "C2", "grad std on the stream"),
            (weights, "s-", "C1", "|dL/dW| of the branch (L2)"),
        ):
            g.plot(blocks, _finite(values), style, ms=3, color=colour, label=_unless_zero(name, values))
        drawn = _positive(grads) + _positive(weights)
        if drawn:
            _steady_axis(g, min(drawn), max(drawn), "gradient")
        else:
            g.set_ylabel("gradient")
        g.set_title("backward: N(0,1) gradient fed in at the top")

    for a in axes:
        a.set_xlim(-0.5 if a is ax else 0, k_all + 1)
        a.set_xlabel("block")
        a.grid(True, which="major", alpha=0.3)
        if stop is not None:
            a.axvline(stop, color="red", lw=1, label=f"inf/nan at block {stop}: the trace stops")
    fig.suptitle(
        f"resmlp {k_all} x {c['width']}, {c['act']} / {c['init']}: {res.verdict}\n{resmlp_block(c)}",
        fontsize="medium",
    )
    _legend_below(fig, ax, ncol=3)
    return fig


def std_trace_plot(res: StdTraceResult, path: Path) -> None:
    save(std_trace_figure(res), path)


def linear_labels(names: list[str]) -> list[str]:
    """Short x labels for the Linear layers, given their module names in
    forward order: fc3 stays fc3; a resmlp's block2.branch.fc1 becomes b2.fc1
    (stem and head stay)."""
    out = []
    for name in names:
        parts = name.split(".")
        if parts[0].startswith("block"):
            out.append(f"b{parts[0][5:]}.{parts[-1]}")
        else:
            out.append(name)
    return out


def _linear_axis(ax: Any, labels: list[str]) -> None:
    """x ticks for Linear layers named in `labels`: each labelled up to 12;
    beyond, the stem, the head and the first Linear of about 8 blocks."""
    n = len(labels)
    ax.set_xlim(0.5, n + 0.5)
    if n <= 12:
        ax.set_xticks(range(1, n + 1), labels, rotation=45 if n > 6 else 0, ha="right" if n > 6 else "center")
        ax.set_xlabel("Linear layer, forward order (bK.fcJ: block K's J-th Linear)")
        return
    starts = [k for k, label in enumerate(labels, 1) if label.startswith("b") and label.endswith(".fc1")]
    every = -(-len(starts) // 8)
    # no block tick so close to the stem's or the head's that their labels touch
    inner = [k for k in starts[every - 1 :: every] if 1 + n / 10 <= k <= n - n / 10]
    ticks = [1, *inner, n]
    ax.set_xticks(ticks, [labels[k - 1].removesuffix(".fc1") for k in ticks])
    ax.set_xlabel("Linear layer, forward order (bK: block K's first Linear)")


def _layer_axis(ax: Any, n: int) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlim(0.5, n + 0.5)
    if n <= 12:
        ax.set_xticks(range(1, n + 1), [f"fc{k}" for k in range(1, n + 1)])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("layer" if n <= 12 else "layer k (parameters fck.*)")


MARKERS = ("o", "s", "^", "D", "P", "*", "h", "<")


def _coinciding(res: GradNormsResult) -> list[list[str]]:
    """Groups of activations whose gradient norms agree to 1e-6 at every
    plotted step (ReLU, leaky ReLU and ELU where no unit is negative)."""

    def key(run: Any) -> tuple:
        return tuple(
            None if g is None or not math.isfinite(g) else float(f"{g:.6e}")
            for p in run.params
            for g in (p.grad_norm_per_step[0], p.grad_norm_per_step[-1])
        )

    groups: dict[tuple, list[str]] = {}
    for run in res.runs:
        groups.setdefault(key(run), []).append(run.act)
    return [g for g in groups.values() if len(g) > 1]


def grad_norms_figure(res: GradNormsResult) -> Any:
    """Gradient L2 norm per layer on a log axis, weights and biases in their own
    panels, one colour per activation; with --steps N, step 1 solid and step N
    dashed.  Exact zeros cannot sit on a log axis: they are drawn on the bottom
    edge with their own marker, inf/nan on the top edge; neither is dropped."""
    c = res.config
    steps = c["steps"]
    at = [1] if steps == 1 else [1, steps]
    # the Linear layers' weights and biases, by module, in forward order (a
    # resmlp's norm weights and SkipInit gates are in the table, not here)
    from nninit_cli.render.table import linear_weights

    modules = [p.name.removesuffix(".weight") for p in linear_weights(res.runs[0].params)]
    position = {m: k for k, m in enumerate(modules, 1)}
    names = [p.name for p in res.runs[0].params if p.name.rsplit(".", 1)[0] in position]
    kinds = [k for k in ("weight", "bias") if any(n.endswith("." + k) for n in names)]
    values = [g for r in res.runs for p in r.params for g in (p.grad_norm_per_step[s - 1] for s in at)]
    positive = _positive(values)
    floor = min(positive) / 10 if positive else 1e-12
    ceiling = max(positive) * 10 if positive else 1.0
    resmlp = c.get("arch") == "resmlp"
    size = 3 if resmlp and len(modules) > 40 else 5  # a deep resmlp has over a hundred Linears
    fig = figure(figsize=(5.2 * len(kinds), 4.4), layout="constrained")
    axes = fig.subplots(1, len(kinds), squeeze=False)[0]
    colours = [f"C{k % 10}" for k in range(len(res.runs))]
    for ax, kind in zip(axes, kinds, strict=True):
        for run, colour in zip(res.runs, colours, strict=True):
            params = [p for p in run.params if p.name in names and p.name.endswith("." + kind)]
            xs = [position[p.name.rsplit(".", 1)[0]] for p in params]
            for s in at:
                norms = [p.grad_norm_per_step[s - 1] for p in params]
                # own marker per activation, so identical curves (relu, lrelu, elu at bias 1) all show
                marker = MARKERS[res.runs.index(run) % len(MARKERS)]
                style, fill = ("-", colour) if s == 1 else ("--", "none")
                label = run.act if steps == 1 else f"{run.act}, step {s}"
                ax.plot(xs, _finite(norms), style, marker=marker, ms=size, color=colour, mfc=fill,
                        label=label)  # fmt: skip
                zeros = [x for x, g in zip(xs, norms, strict=True) if g == 0.0]
                if zeros:
                    ax.plot(zeros, [floor] * len(zeros), "v", ms=9, color=colour, mfc="none",
                            label="exactly 0 (drawn at the bottom)")  # fmt: skip
                bad = [x for x, g in zip(xs, norms, strict=True) if g is not None and not math.isfinite(g)]
                if bad:
                    ax.plot(bad, [ceiling] * len(bad), "x", ms=8, color=colour,
                            label="inf or nan (drawn at the top)")  # fmt: skip
        ax.set_yscale("log")
        ax.set_ylim(floor / 3, ceiling * 3)  # the edge markers sit inside the axes
        ax.set_ylabel("gradient L2 norm (log scale)")
        if resmlp:
            _linear_axis(ax, linear_labels(modules))
            ax.set_title(f"Linear {'weights' if kind == 'weight' else 'biases'}")
        else:
            _layer_axis(ax, c["layers"])
            ax.set_title(f"{'weights' if kind == 'weight' else 'biases'} (fck.{kind})")
        ax.grid(True, which="major", alpha=0.3)
    when = "step 1" if steps == 1 else f"steps 1 and {steps}"
    title = f"gradient norms at {when}: init {c['init']}, bias {c['bias']}, lr {c['lr']:g}"
    if resmlp:
        from nninit_cli.render.table import resmlp_block

        title = f"resmlp {c['layers']} blocks x {c['width']}, {title}\n{resmlp_block(c)}"
        if len(names) < len(res.runs[0].params):
            title += "\n(norm and gate gradients: in the table and the JSON)"
    same = _coinciding(res)
    if same:
        title += "\n" + "; ".join(" = ".join(group) for group in same) + ": the curves coincide"
    fig.suptitle(title)
    _legend_below(fig, axes[0], ncol=min(6, len(res.runs) * len(at) + 2))
    return fig


def grad_norms_plot(res: GradNormsResult, path: Path) -> None:
    save(grad_norms_figure(res), path)


LINESTYLES = ("-", "--", "-.", ":")


def compare_figure(res: CompareResult) -> Any:
    """(a) std per layer, one line per init, one panel per activation;
    (b) a heatmap init x activation of log10(final std / input std), each cell
    with its verdict, rank and ratio."""
    import numpy as np

    from nninit_cli.render.table import num

    n = len(res.acts)
    resmlp = res.config.get("arch") == "resmlp"
    unit, what = ("block", "stream std") if resmlp else ("layer", "std")
    top_h, heat_h = 3.4, 0.34 * len(res.inits) + 0.9
    fig = figure(figsize=(max(7.5, 3.8 * n + 2.2), top_h + heat_h + 0.6), layout="constrained")
    grid = fig.add_gridspec(2, n, height_ratios=[top_h, heat_h])
    # an init whose std is never a positive finite number has no line to draw: say so
    labels = {
        init: init
        if any(_positive(c.std_per_layer) for act in res.acts if (c := res.find(init, act)) is not None)
        else f"{init} (std 0: no line)"
        for init in res.inits
    }
    for j, act in enumerate(res.acts):
        ax = fig.add_subplot(grid[0, j])
        seen: list[float] = []
        for k, init in enumerate(res.inits):
            cell = res.find(init, act)
            stds = cell.std_per_layer if cell is not None else []
            seen += _positive(stds)
            ax.plot(range(1, len(stds) + 1), _finite(stds), LINESTYLES[k // 10 % 4], color=f"C{k % 10}",
                    label=labels[init], lw=1.3)  # fmt: skip
        if seen:
            name = what if resmlp else "std of layer output" if j == 0 else "std"
            _value_axis(ax, min(seen), max(seen), name)
        ax.set_title(act)
        ax.set_xlabel(unit)
        ax.grid(True, alpha=0.3)
    fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside right upper", fontsize="small",
               title="init (mean over seeds)", frameon=False)  # fmt: skip
    heat = fig.add_subplot(grid[1, :])
    values = np.full((len(res.inits), n), np.nan)
    for r, init in enumerate(res.inits):
        for col, act in enumerate(res.acts):
            cell = res.find(init, act)
            if cell is not None:
                values[r, col] = cell.std_ratio.mean / res.targets[act].std_ratio
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(values)
    shown = np.where(np.isfinite(logs), logs, np.nan)
    span = float(np.nanmax(np.abs(shown))) if np.isfinite(shown).any() else 1.0
    image = heat.imshow(shown, cmap="coolwarm", vmin=-max(span, 1), vmax=max(span, 1), aspect="auto")
    for r, init in enumerate(res.inits):
        for col, act in enumerate(res.acts):
            cell = res.find(init, act)
            if cell is None:
                heat.text(col, r, "not run (interrupted)", ha="center", va="center", fontsize="small")
                continue
            ratio = cell.std_ratio.mean
            text = f"{cell.verdict} #{cell.rank}{'=' if cell.tied else ''}"
            text += f", x{num(ratio)}" if math.isfinite(ratio) else ""
            heat.text(col, r, text, ha="center", va="center", fontsize="small")
    heat.set_xticks(range(n), [f"{act} (target x{num(res.targets[act].std_ratio)})" for act in res.acts])
    heat.set_yticks(range(len(res.inits)), res.inits)
    heat.set_title(
        f"final {what} / input std against theory's target, verdict and rank (#1 best, = tied); "
        "white: inf, nan or exactly 0",
        fontsize="medium",
    )
    bar = fig.colorbar(image, ax=heat, fraction=0.03)
    bar.set_label("log10(ratio / target)")
    if resmlp:
        from nninit_cli.render.table import resmlp_block

        c = res.config
        fig.suptitle(f"resmlp, {c['layers']} blocks x {c['width']}: {resmlp_block(c)}", fontsize="medium")
    return fig


def compare_plot(res: CompareResult, path: Path) -> None:
    save(compare_figure(res), path)


def activations_figure(data: dict) -> Any:
    """The seed's xyplot figures: f(x) above f'(x), one column per activation
    (four to a row), the saturated stretches (|f'| < 0.01) shaded."""
    acts = data["acts"]
    cols = min(4, len(acts))
    blocks = -(-len(acts) // cols)
    fig = figure(figsize=(3.6 * cols, 5.4 * blocks), layout="constrained")
    axes = fig.subplots(2 * blocks, cols, squeeze=False)
    for j, r in enumerate(acts):
        top, bottom = axes[2 * (j // cols)][j % cols], axes[2 * (j // cols) + 1][j % cols]
        top.plot(r["x"], r["y"], label="f(x)")
        top.set_title(r["act"])
        top.set_ylabel(f"{r['act']}(x)")
        bottom.plot(r["x"], r["dy"], color="#e4007f", label="f'(x)")
        bottom.set_ylabel(f"{r['act']}'(x)")
        for ax in (top, bottom):
            ax.set_xlabel("x")
        for a, b in r["saturated"]:
            for ax in (top, bottom):
                ax.axvspan(a, b, color="gray", alpha=0.15, lw=0, label="saturated: |f'(x)| < 0.01")
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
    for j in range(len(acts), blocks * cols):
        axes[2 * (j // cols)][j % cols].set_visible(False)
        axes[2 * (j // cols) + 1][j % cols].set_visible(False)
    _legend_below(fig, axes[0][0], ncol=3)
    return fig


def activations_plot(data: dict, path: Path) -> None:
    save(activations_figure(data), path)


def init_hist_figure(data: dict) -> Any:
    """Density histograms, one panel per initialiser (E1's figure), three to a
    row, with the formula's mean +- std marked."""
    from matplotlib.ticker import MaxNLocator

    rows = data["inits"]
    cols = min(3, len(rows))
    lines = -(-len(rows) // cols)
    fig = figure(figsize=(4.4 * cols, 3.6 * lines + 0.4), layout="constrained")
    axes = fig.subplots(lines, cols, squeeze=False)
    colours = ("#f19ec2", "#e4007f")
    for k, r in enumerate(rows):
        ax = axes[k // cols][k % cols]
        h = r["histogram"]
        n = len(h["counts"])
        width = (h["max"] - h["min"]) / n
        total = sum(h["counts"]) * width
        lefts = [h["min"] + i * width for i in range(n)]
        ax.bar(lefts, [c / total for c in h["counts"]], width=width, align="edge", color=colours[k % 2],
               label="drawn weights")  # fmt: skip
        theory = "" if r["theory_std"] is None else f" (formula {r['theory_std']:.3g})"
        if r["theory_mean"] is not None and r["theory_std"] is not None:
            m, s = r["theory_mean"], r["theory_std"]
            for x in (m - s, m + s):
                ax.axvline(x, color="black", ls="--", lw=1, label="formula's mean +- std")
        ax.set_title(f"{r['init']}: std {r['std']:.3g}{theory}", fontsize="medium")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=6))  # room for labels such as -0.75
        ax.set_xlabel("weight value")
        ax.set_ylabel("density")
        ax.grid(True, alpha=0.3)
    for k in range(len(rows), lines * cols):
        axes[k // cols][k % cols].set_visible(False)
    fig.suptitle(f"{rows[0]['samples']} weights drawn per initialiser")
    _legend_below(fig, axes[0][0], ncol=2)
    return fig


def init_hist_plot(data: dict, path: Path) -> None:
    save(init_hist_figure(data), path)


def _plot_steps(n: int, most: int = 6) -> list[int]:
    """At most `most` of the steps 0..n-1: the first ones, then evenly to the last."""
    if n <= most:
        return list(range(n))
    picks = {0, 1, n - 1}
    picks |= {round(1 + k * (n - 2) / (most - 2)) for k in range(most - 2)}
    return sorted(picks)[:most] if len(picks) > most else sorted(picks)


def coord_check_figure(res: Any) -> Any:
    """mup's coordinate-check figure: one panel per step, width on a log axis,
    one line per layer (mean |activation|, mean over seeds, the seeds' range
    shaded); a second row for the change since step 0.  Panels of a row share
    one log scale spanning at least 10x, so a flat line looks flat and a
    growing one grows alike in every panel."""
    from nninit_cli.render.table import coord_check_title

    c = res.config
    steps = _plot_steps(c["steps"] + 1)
    fig = figure(figsize=(2.4 * len(steps) + 1.0, 5.4), layout="constrained")
    axes = fig.subplots(2, len(steps), squeeze=False, sharex=True)
    for row, what in enumerate(("size", "change")):
        seen: list[float] = []
        for col, k in enumerate(steps):
            ax = axes[row][col]
            for j, layer in enumerate(res.layers):
                s = layer.steps[k]
                values, by_seed = getattr(s, what), getattr(s, f"{what}_by_seed")
                seen += _positive(values) + _positive([v for seed in by_seed for v in seed])
                ax.plot(res.widths, _finite(values), "o-", color=f"C{j % 10}", ms=3, lw=1.3,
                        label=f"{layer.name} ({layer.role})")  # fmt: skip
                lo = [min(v[i] for v in by_seed) for i in range(len(res.widths))]
                hi = [max(v[i] for v in by_seed) for i in range(len(res.widths))]
                ax.fill_between(res.widths, _finite(lo), _finite(hi), color=f"C{j % 10}", alpha=0.12, lw=0)
            if not _positive([v for layer in res.layers for v in getattr(layer.steps[k], what)]):
                ax.text(0.5, 0.5, "0 at every width", ha="center", va="center", transform=ax.transAxes,
                        fontsize="small", color="0.4")  # fmt: skip
            ax.set_xscale("log", base=2)
            ax.set_xticks(res.widths, [str(w) for w in res.widths], fontsize="small")
            ax.minorticks_off()
            ax.set_title(f"step {k}" + (" (init)" if k == 0 else ""), fontsize="small")
            ax.grid(True, alpha=0.3)
            if row == 1:
                ax.set_xlabel("width")
        if seen:
            lo_, hi_ = min(seen), max(seen)
            mid, half = math.sqrt(lo_ * hi_), max(math.sqrt(hi_ / lo_), math.sqrt(10)) * 1.1
            for ax in axes[row]:
                ax.set_yscale("log")
                ax.set_ylim(mid / half, mid * half)
        for col, ax in enumerate(axes[row]):
            if col > 0:
                ax.tick_params(which="both", labelleft=False)
        axes[row][0].set_ylabel("mean |activation|" if what == "size" else "mean |change since step 0|")
    _legend_below(fig, axes[0][0], ncol=min(len(res.layers), 6))
    fig.suptitle(coord_check_title(c, res.widths) + f"\nverdict: {', '.join(res.verdicts)}", fontsize="small")
    return fig


def coord_check_plot(res: Any, path: Path) -> None:
    save(coord_check_figure(res), path)


def jacobian_figure(res: Any) -> Any:
    """The histogram of the singular values (all inputs pooled) on a log axis,
    s = 1 and the rms s marked; the spread beside the theory's in the title."""
    from nninit_cli.render.table import jacobian_title

    h = res.histogram
    fig = figure(figsize=(7.0, 4.2), layout="constrained")
    ax = fig.subplots()
    if h["counts"]:
        edges = [10**e for e in h["log10_edges"]]
        widths = [b - a for a, b in zip(edges, edges[1:], strict=False)]
        ax.bar(edges[:-1], h["counts"], width=widths, align="edge", color="#e4007f", label="singular values")
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", ls="--", lw=1, label="s = 1 (isometry)")
        if res.pooled.rms is not None and res.pooled.rms > 0:
            ax.axvline(res.pooled.rms, color="0.4", ls=":", lw=1.5, label=f"rms s = {_short(res.pooled.rms)}")
    else:
        ax.text(0.5, 0.5, "no finite singular values", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("singular value s of d output / d input (log scale)")
    ax.set_ylabel("count (all inputs)")
    ax.grid(True, alpha=0.3)
    spread = "-" if res.pooled.spread is None else _short(res.pooled.spread)
    theory = res.theory["spread"]
    line = f"spread var(s^2)/mean(s^2)^2 = {spread}"
    line += "" if theory is None else f" (theory {_short(theory)})"
    hidden = f"; {h['at_rounding']} more at rounding level, not shown" if h["at_rounding"] else ""
    fig.suptitle(
        f"{jacobian_title(res.config)}\n{line}; verdict: {', '.join(res.verdicts)}{hidden}", fontsize="small"
    )
    _legend_below(fig, ax, ncol=3)
    return fig


def jacobian_plot(res: Any, path: Path) -> None:
    save(jacobian_figure(res), path)


UNBOUNDED_GREY = "0.6"  # cells whose q* is infinite, in both the heatmap and its key


def _mark_top(ax: Any, xs: list[float], marker: str, color: str, label: str) -> None:
    """Marks just under the top of the axes at these x (a value that is not
    on the y axis: infinite, off-scale, or no value at all)."""
    if xs:
        ax.plot(xs, [0.96] * len(xs), marker, color=color, ls="none", clip_on=False, label=label,
                transform=ax.get_xaxis_transform())  # fmt: skip


def _phase_curves(ax: Any, res: Any) -> None:
    """One sigma_b2: xi_c and xi_q against sigma_w2 on a log axis, the fits;
    critical cells (infinite xi) and unbounded ones (q* infinite) marked at
    the top, so a grid with no finite depth scale still draws."""
    c = res.config
    sw, sb = c["sigma_w2"], c["sigma_b2"]
    drawn = False
    for key, label, style in (("xi_c", "xi_c (theory)", "-"), ("xi_q", "xi_q (theory)", "--")):
        ys = _finite([getattr(cell, key) for cell in res.cells])
        if any(not math.isnan(y) for y in ys):
            ax.plot(sw, ys, style, marker="." if len(sw) < 3 else None, label=label)
            drawn = True
    fits = [(cell.sigma_w2, cell.measured_xi_c) for cell in res.cells if _positive([cell.measured_xi_c])]
    if fits:
        ax.plot(*zip(*fits, strict=True), "o", color="C3", label=f"xi_c measured (width {c['width']})")
        drawn = True
    infinite = [cell.sigma_w2 for cell in res.cells if cell.phase != "unbounded" and cell.xi_c is None]
    _mark_top(ax, infinite, "^", "C2", "xi_c infinite (critical)")
    _mark_top(ax, [cell.sigma_w2 for cell in res.cells if cell.phase == "unbounded"], "x", UNBOUNDED_GREY,
              "unbounded (q* infinite)")  # fmt: skip
    for p in res.critical:
        if p["sigma_w2"] is not None:
            label = f"critical sigma_w2 = {p['sigma_w2']:.4f}"
            ax.axvline(p["sigma_w2"], color="0.3", lw=0.8, ls=":", label=label)
    if drawn:
        ax.set_yscale("log")
    else:
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no finite depth scale", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("sigma_w^2")
    ax.set_ylabel("depth scale (layers)")
    ax.set_title(f"sigma_b^2 = {sb[0]:g}", fontsize="small")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)


def _phase_xi_panel(ax: Any, res: Any) -> None:
    """xi_c over (sigma_w2, sigma_b2) on a log colour scale (grey: q* infinite,
    the top colour: xi_c of 1000 layers or more, critical cells' infinite one
    included) with the critical line; with one sigma_b2, `_phase_curves`."""
    import numpy as np
    from matplotlib.colors import ListedColormap, LogNorm
    from matplotlib.patches import Patch

    c = res.config
    sw, sb = c["sigma_w2"], c["sigma_b2"]
    if len(sb) == 1:
        _phase_curves(ax, res)
        return
    xi = np.full((len(sb), len(sw)), np.nan)
    col, row = {v: i for i, v in enumerate(sw)}, {v: j for j, v in enumerate(sb)}
    unbounded = np.zeros_like(xi)
    for cell in res.cells:
        j, i = row[cell.sigma_b2], col[cell.sigma_w2]
        if cell.phase == "unbounded":
            unbounded[j, i] = 1
        else:
            xi[j, i] = 1e4 if cell.xi_c is None else max(cell.xi_c, 0.1)
    mesh = ax.pcolormesh(sw, sb, np.ma.masked_invalid(xi), shading="nearest", cmap="viridis",
                         norm=LogNorm(vmin=0.5, vmax=1e3, clip=True))  # fmt: skip
    handles = []
    if unbounded.any():
        grey = np.ma.masked_equal(unbounded, 0)
        ax.pcolormesh(sw, sb, grey, shading="nearest", cmap=ListedColormap([UNBOUNDED_GREY]))
        handles.append(Patch(facecolor=UNBOUNDED_GREY, label="unbounded (q* infinite)"))
    pad = (sw[-1] - sw[0]) / max(2 * (len(sw) - 1), 1)
    lo, hi = sw[0] - pad, sw[-1] + pad
    line = [(p["sigma_w2"], p["sigma_b2"]) for p in res.critical if p["sigma_w2"] is not None]
    if any(lo <= x <= hi for x, _ in line):  # a line wholly off the grid gets no empty legend entry
        dots = "." if len(line) < 3 else None
        (drawn,) = ax.plot(*zip(*line, strict=True), color="white", lw=1.5, marker=dots,
                           label="critical line (chi_1 = 1)")  # fmt: skip
        handles.insert(0, drawn)
    if handles:
        ax.legend(handles=handles, fontsize="small", loc="upper left")
    ax.figure.colorbar(mesh, ax=ax, extend="max", label="xi_c (layers; top: 1000+ or infinite, critical)")
    ax.set_xlim(lo, hi)  # the line may leave the grid: the grid is what was asked
    ax.set_xlabel("sigma_w^2")
    ax.set_ylabel("sigma_b^2")


def _log_edges(values: list[float]) -> list[float]:
    """Bin edges on a log axis with each value at its bin's (geometric) centre."""
    if len(values) == 1:
        return [values[0] / math.sqrt(2), values[0] * math.sqrt(2)]
    inner = [math.sqrt(a * b) for a, b in zip(values, values[1:], strict=False)]
    return [values[0] ** 2 / inner[0], *inner, values[-1] ** 2 / inner[-1]]


def _lin_edges(values: list[float]) -> list[float]:
    """Bin edges with each value at its bin's centre (one value: +-5%)."""
    if len(values) == 1:
        half = 0.05 * abs(values[0]) or 0.5
        return [values[0] - half, values[0] + half]
    inner = [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]
    return [2 * values[0] - inner[0], *inner, 2 * values[-1] - inner[-1]]


SIX_XI_HEADROOM = 10.0  # the y axis reaches at most this far above the deepest bin for the 6 xi_c curve


def _phase_training_panel(ax: Any, res: Any) -> None:
    """Dev accuracy over (sigma_w2, depth), each depth's row centred on it on
    a log depth axis, with 6 xi_c drawn over it: the axis stretches to show
    the curve, up to SIX_XI_HEADROOM x the deepest row; beyond that, and where
    xi_c is infinite, the curve is marked at the top."""
    import numpy as np

    c = res.config
    sw, depths = c["sigma_w2"], c["train_depths"]
    acc = np.full((len(depths), len(sw)), np.nan)
    for r in res.training:
        acc[depths.index(r["depth"]), sw.index(r["sigma_w2"])] = r["accuracy"]
    d_edges = _log_edges([float(d) for d in depths])
    mesh = ax.pcolormesh(_lin_edges(sw), d_edges, acc, shading="flat", cmap="magma", vmin=0, vmax=1)
    rows = [r for r in res.training if r["depth"] == depths[0]]
    six = [r["six_xi_c"] for r in rows]
    finite = _positive(six)
    lo = min([d_edges[0], *(x / 1.15 for x in finite)])
    hi = min(max([d_edges[-1], *finite]) * 1.15, d_edges[-1] * SIX_XI_HEADROOM)
    shown = [x if x is not None and x <= hi else math.nan for x in six]
    if any(not math.isnan(x) for x in shown):
        ax.plot([r["sigma_w2"] for r in rows], shown, color="cyan", lw=1.5, marker=".", label="6 xi_c")
    why = {r["sigma_w2"]: r.get("six_xi_c_reason") or "" for r in rows}
    _mark_top(ax, [r["sigma_w2"] for r in rows if (r["six_xi_c"] or 0) > hi], "^", "cyan",
              f"6 xi_c off-scale (above {_short(hi)})")  # fmt: skip
    critical = [x for x, w in why.items() if w.startswith("infinite")]
    _mark_top(ax, critical, "^", "C2", "6 xi_c infinite (critical)")
    _mark_top(ax, [x for x, w in why.items() if w.startswith("q* is infinite")], "x", UNBOUNDED_GREY,
              "unbounded (q* infinite)")  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ticks = [float(d) for d in depths]  # the rows' depths, and decades where the axis runs past them
    ticks += [10.0**k for k in range(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1)
              if not d_edges[0] <= 10.0**k <= d_edges[-1]]  # fmt: skip
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.figure.colorbar(mesh, ax=ax, label="dev accuracy")
    ax.set_xlabel("sigma_w^2")
    ax.set_ylabel("depth (Linear layers, log scale)")
    ax.set_title(f"trained {c['train_epochs']} epochs on {c['dataset']}, sigma_b^2 = {c['sigma_b2'][0]:g}",
                 fontsize="small")  # fmt: skip
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="best")


def phase_figure(res: Any) -> Any:
    from nninit_cli.render.table import phase_title

    panels = 2 if res.training else 1
    fig = figure(figsize=(5.6 * panels, 4.4), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    _phase_xi_panel(axes[0], res)
    if res.training:
        _phase_training_panel(axes[1], res)
    fig.suptitle(phase_title(res.config, len(res.cells)), fontsize="small")
    return fig


def phase_plot(res: Any, path: Path) -> None:
    save(phase_figure(res), path)
