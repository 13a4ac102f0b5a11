"""Rich tables, sized for an 80-column terminal, and one-line summaries."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from nninit_cli.results import CompareResult, GradNormsResult, StdTraceResult


def console() -> Console:
    """stdout console: rich drops colour itself when stdout is not a TTY or
    NO_COLOR is set, and uses 80 columns when it cannot ask the terminal."""
    return Console(highlight=False, markup=False, emoji=False)


def num(x: float | None) -> str:
    """A number in at most 8 characters: 3 significant digits, short exponent."""
    if x is None:
        return "-"
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        text = f"{x:.3g}"
        return f"{x:.0f}" if "e" in text else text
    mant, exp = f"{x:.2e}".split("e")
    return f"{mant}e{int(exp)}"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%" if x in (0.0, 1.0) else f"{100 * x:.1f}%"


def pick_rows(n: int, depth: int, nonfinite: int | None, every: int | None, show_all: bool) -> list[int]:
    """1-based layers to show of the `n` run in a stack `depth` deep: all up to
    30; beyond, the first 5, every k-th (about 10 rows), the last 5 and the
    non-finite one."""
    if show_all or n <= 30:
        return list(range(1, n + 1))
    k = every or max(1, round(depth / 10))
    keep = set(range(1, 6)) | set(range(k, n + 1, k)) | set(range(n - 4, n + 1))
    if nonfinite is not None:
        keep.add(nonfinite)
    return sorted(keep)


def std_trace_tables(res: StdTraceResult, every: int | None, show_all: bool) -> list[Any]:
    """A title line and the per-layer table (and the gradient table with --backward)."""
    net = res.config
    saturating = any(r.saturated_frac is not None for r in res.layers)
    title = (
        f"std-trace: {net['layers']} x {net['width']}, act {net['act']}, init {net['init']}"
        + (f" (gain {net['gain']:.4g})" if net["gain"] is not None else "")
        + f", seed {net['seed']}"
    )
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("layer", justify="right")
    t.add_column("mean", justify="right")
    t.add_column("std", justify="right")
    t.add_column("pre std", justify="right")
    t.add_column("zeros", justify="right")
    if saturating:
        t.add_column("sat", justify="right")
    t.add_column("theory", justify="right")
    t.add_column("90% band", justify="right")
    shown = pick_rows(len(res.layers), net["layers"], res.first_nonfinite_layer, every, show_all)
    prev = 0
    for i in shown:
        r = res.layers[i - 1]
        if i != prev + 1:
            t.add_row("...", *([""] * (len(t.columns) - 1)))
        band = f"{num(r.predicted_band[0])}-{num(r.predicted_band[1])}" if r.predicted_band else "-"
        cells = [str(r.layer), num(r.mean), num(r.std), num(r.pre_std), pct(r.zero_frac)]
        if saturating:
            cells.append(pct(r.saturated_frac))
        cells += [num(r.predicted_std), band]
        style = "bold red" if r.layer == res.first_nonfinite_layer else None
        t.add_row(*cells, style=style)
        prev = i
    tables: list[Any] = [title, t]
    if res.backward:
        tables.append("backward: a random N(0,1) gradient fed in at the top")
        g = Table(box=box.SIMPLE_HEAD, pad_edge=False)
        g.add_column("layer", justify="right")
        g.add_column("grad std (output)", justify="right")
        g.add_column("|dL/dW| (L2)", justify="right")
        for i in shown:
            r = res.layers[i - 1]
            g.add_row(str(r.layer), num(r.grad_std), num(r.weight_grad_norm))
        tables.append(g)
    return tables


def std_trace_summary(res: StdTraceResult) -> str:
    n = len(res.layers)
    head = f"verdict: {res.verdict}"
    if len(res.verdicts) > 1:
        head += f" (also {', '.join(res.verdicts[1:])})"
    if res.first_nonfinite_layer is not None:
        k = min(10, n - 1)
        growth = (res.layers[k - 1].std / res.input_std) ** (1 / k) if k >= 1 else math.nan
        return (
            f"{head} (inf/nan at layer {res.first_nonfinite_layer}, {res.config['dtype']} "
            f"overflow); std x{num(growth)} per layer"
        )
    return (
        f"{head}; std {num(res.input_std)} in -> {num(res.final_std)} after {n} layers "
        f"(x{num(res.std_ratio)})"
    )


def catalog_tables(data: dict) -> list[Table]:
    a = Table(title="activations (--act)", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for col in ("name", "f(x)", "torch gain", "fixed-pt", "auto"):
        a.add_column(col, justify="left" if col in ("name", "f(x)") else "right")
    for act in data["activations"]:
        name = act["name"] + (f" ({', '.join(act['aliases'])})" if act["aliases"] else "")
        a.add_row(
            name,
            act["formula"],
            num(act["torch_gain"]) if act["torch_gain"] else "n/a",
            f"{act['fixed_point_gain']:.4f}",
            f"{act['auto_gain']:.4f}",
        )
    a.caption = "auto = torch's calculate_gain where torch has one, else fixed-pt = 1/sqrt(E[f(z)^2])"
    i = Table(title="initialisers (--init)", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for col in ("name", "flags", "std of a weight"):
        i.add_column(col)
    for init in data["inits"]:
        name = init["name"] + (f" ({', '.join(init['aliases'])})" if init["aliases"] else "")
        i.add_row(name, " ".join(init["flags"]), init["std"])
    p = Table(
        title="presets (--config NAME, configs/)", box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left"
    )
    for col in ("name", "command", "what it shows"):
        p.add_column(col)
    for preset in data["presets"]:
        p.add_row(preset["name"], preset["command"], preset["description"])
    return [a, i, p]


def grad_norms_tables(res: GradNormsResult, show_all: bool) -> list[Any]:
    """Per-parameter gradient norms, one column per activation, then a table of
    dead units, gradient ratio, dev accuracy and verdict per activation."""
    c = res.config
    steps = c["steps"]
    hidden = c["layers"] - 1
    ins = res.runs[0].params[0].shape[1]
    sizes = (
        f"{ins}-" + ("-".join([str(c["width"])] * hidden) if hidden <= 5 else f"{c['width']}x{hidden}") + "-1"
    )
    bias = "no bias" if c["bias"] == "none" else f"bias {c['bias']}"
    title = (
        f"{sizes} MLP, {c['dataset']}, init {c['init']}, {bias}, "
        f"lr {c['lr']:g}, {steps} step{'s' if steps > 1 else ''}, seed {c['seed']}"
    )
    head = "|grad| at step 1" if steps == 1 else f"mean |grad| over {steps} steps"
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("parameter")
    t.add_column("shape", justify="right")
    for run in res.runs:
        t.add_column(run.act, justify="right")
    params = res.runs[0].params
    # choose layers, not parameters, so a shown layer has its weight and its bias
    layer_of = [int(p.name.split(".")[0][2:]) for p in params]
    keep = set(pick_rows(c["layers"], c["layers"], None, None, show_all))
    prev_layer = 0
    for i, p in enumerate(params):
        if layer_of[i] not in keep:
            continue
        if layer_of[i] > prev_layer + 1:
            t.add_row("...", *([""] * (len(t.columns) - 1)))
        prev_layer = layer_of[i]
        cells = []
        for run in res.runs:
            d = run.params[i].to_dict()
            value = d["grad_norm"] if steps == 1 else d["grad_norm_mean"]
            cells.append("no grad" if not d["has_grad"] else "0 exactly" if value == 0 else num(value))
        t.add_row(p.name, "x".join(map(str, p.shape)), *cells)
    v = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col, just in (
        ("act", "left"),
        ("most dead units", "right"),
        ("|g1|/|gN|", "right"),
        ("dev acc", "right"),
        ("verdict", "left"),
    ):
        v.add_column(col, justify=just)
    for run in res.runs:
        worst = max(range(len(run.dead_units)), key=lambda k: run.dead_units[k], default=None)
        if worst is None or run.dead_units[worst] == 0:
            dead = "none"
        else:
            dead = f"{pct(run.dead_units[worst])} (layer {worst + 1})"
        v.add_row(run.act, dead, num(run.grad_ratio), f"{run.dev_accuracy:.3f}", ", ".join(run.verdicts))
    return [title, f"{head} (L2 norm; '0 exactly' is an exact zero)", t, v]


def grad_norms_summary(res: GradNormsResult) -> str:
    parts = []
    for run in res.runs:
        if "dead" in run.verdicts:
            zero = [p.name for p in run.params if p.grad_norm == 0.0]
            parts.append(f"{run.act} dead ({len(zero)} of {len(run.params)} gradients exactly 0)")
        else:
            parts.append(f"{run.act} {run.verdict}")
    return "verdict: " + "; ".join(parts)


SHORT_VERDICT = {
    "stable": "ok",
    "nonfinite": "inf",
    "dead": "dead",
    "exploding": "expl",
    "vanishing": "vani",
    "saturated": "sat",
}


def compare_tables(res: CompareResult) -> list[Any]:
    """Rows inits, one column per activation: final/input std (or dev accuracy
    with a training probe), the verdict in short, and the rank."""
    c = res.config
    trained = c["train_epochs"] > 0
    title = (
        f"init-compare: {c['layers']} x {c['width']}, batch {c['batch_size']}, "
        f"{len(c['seeds'])} seed{'s' if len(c['seeds']) > 1 else ''} from {c['seed']}"
        + (f", {c['train_epochs']} epochs on {c['dataset']}" if trained else "")
    )
    what = "dev accuracy" if trained else "final/input std"
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("init")
    for act in res.acts:
        t.add_column(act, justify="right")
    for init in res.inits:
        cells = []
        for act in res.acts:
            cell = res.cell(init, act)
            value = cell.dev_accuracy.mean if trained else cell.std_ratio.mean
            cells.append(f"{num(value)} {SHORT_VERDICT[cell.verdict]:>4} #{cell.rank}")
        t.add_row(init, *cells)
    legend = (
        f"each cell: mean {what} over seeds, verdict, rank (#1 best); "
        "ok stable, inf non-finite, vani vanishing, expl exploding, sat saturated"
    )
    return [title, t, legend]


def compare_summary(res: CompareResult) -> str:
    best = [f"{act}: {next(c.init for c in res.cells if c.act == act and c.rank == 1)}" for act in res.acts]
    return "best: " + "; ".join(best)


def train_tables(res: Any) -> list[Any]:
    """A few rows of the epoch history and the run's outcome."""
    c = res.config
    hidden = "-".join(map(str, c["hidden"])) or "none"
    title = (
        f"train: {c['dataset']}, hidden {hidden}, act {c['act']}, init {c['init']}, "
        f"{c['optimizer']} lr {c['lr']:g}, seed {c['seed']}"
    )
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col in ("epoch", "train loss", f"train {res.metric}", "dev loss", f"dev {res.metric}", "best"):
        t.add_column(col, justify="right")
    n = len(res.history)
    prev = 0
    for i in pick_rows(n, n, None, None, False):
        if i != prev + 1:
            t.add_row("...", *([""] * 5))
        prev = i
        r = res.history[i - 1]
        t.add_row(
            str(r.epoch),
            num(r.train_loss),
            num(r.train_metric),
            num(r.dev_loss),
            num(r.dev_metric),
            "*" if r.best else "",
        )
    lines: list[Any] = [title, t]
    if res.symmetric_layers:
        lines.append(
            f"warning: symmetric layers {', '.join(res.symmetric_layers)}: every unit has the same incoming "
            "weights, so they can never learn different features (use a random init)"
        )
    if res.stopped == "nonfinite":
        lines.append("stopped: the loss became inf or nan; the best checkpoint is kept")
    return lines


def train_summary(res: Any) -> str:
    best = "-" if res.best_epoch is None else f"{num(res.best_dev_metric)} at epoch {res.best_epoch}"
    return f"best dev {res.metric} {best}; test {res.metric} {num(res.test_metric)}; run in {res.out}"


def gain_tables(data: dict) -> list[Any]:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col, just in (
        ("act", "left"),
        ("torch gain", "right"),
        ("std(x)/std(f(x))", "right"),
        ("+- se", "right"),
        ("fixed point", "right"),
    ):
        t.add_column(col, justify=just)
    for r in data["acts"]:
        torch_gain = "n/a" if r["torch_gain"] is None else f"{r['torch_gain']:.4f}"
        t.add_row(
            r["act"],
            torch_gain,
            f"{r['empirical']['mean']:.4f}",
            f"{r['empirical']['se']:.4f}",
            f"{r['fixed_point_gain']:.4f}",
        )
    note = (
        "torch: calculate_gain's number; std ratio: the course's estimate on N(0,1) samples; fixed point: "
        "1/sqrt(E[f(z)^2]), the gain that keeps a unit second moment through f"
    )
    return [t, note]


def activations_tables(data: dict) -> list[Any]:
    out: list[Any] = []
    for r in data["acts"]:
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_header=True)
        t.add_column(r["act"])
        for p in r["points"]:
            t.add_column(f"{p['x']:g}", justify="right")
        t.add_row("f(x)", *(num(p["y"]) for p in r["points"]))
        t.add_row("f'(x)", *(num(p["dy"]) for p in r["points"]))
        sat = ", ".join(f"[{a:g}, {b:g}]" for a, b in r["saturated"]) or "nowhere"
        out += [t, f"max f' = {num(r['max_derivative'])} at x = {r['argmax_x']:g}; |f'| < 0.01 on {sat}"]
    return out


def init_hist_tables(data: dict) -> list[Any]:
    t = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for col, just in (
        ("init", "left"),
        ("samples", "right"),
        ("mean", "right"),
        ("theory", "right"),
        ("std", "right"),
        ("theory", "right"),
        ("std/theory", "right"),
    ):
        t.add_column(col, justify=just)
    for r in data["inits"]:
        ratio = r["std"] / r["theory_std"] if r["theory_std"] else None
        t.add_row(
            r["init"],
            str(r["samples"]),
            num(r["mean"]),
            num(r["theory_mean"]),
            num(r["std"]),
            num(r["theory_std"]),
            "-" if ratio is None else f"{ratio:.3f}",
        )
    return [t]
