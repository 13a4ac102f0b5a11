"""Rich tables that never cut a number, and one-line summaries.

Every table is a `Grid`: at render time it asks the console how wide it may be
and, when the whole table does not fit, splits its columns into several tables
that each repeat the key columns (layer, parameter, init, ...).  Number columns
never wrap and never shrink, so at 80 columns a number is shown whole or the
table is split; only text columns (formulas, descriptions) wrap at spaces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table

from nninit_cli.resources import widths_text
from nninit_cli.results import EVERY_Q_FIXED, BlockStats, CompareResult, GradNormsResult, StdTraceResult
from nninit_cli.results import PHASE_FIT_TOL as FIT_TOL


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """rich's own answer to a closed pipe is exit 1; nninit's entry point
        treats a reader that left as a clean end (exit 0), so hand it the error."""
        raise BrokenPipeError


def console() -> Console:
    """stdout console: rich drops colour itself when stdout is not a TTY or
    NO_COLOR is set, and uses 80 columns when it cannot ask the terminal."""
    return _Console(highlight=False, markup=False, emoji=False)


@dataclass(frozen=True)
class Col:
    """A column: numbers are right-justified and never wrap; `wrap` marks text
    that may wrap at spaces (formulas, descriptions)."""

    header: str
    justify: str = "right"
    wrap: bool = False


@dataclass
class Grid:
    """A table whose first `keep` columns label the rows.  Rendered whole when
    it fits; otherwise the other columns are shared out, in order and as evenly
    as possible, over the fewest tables that fit, each with the key columns."""

    cols: list[Col]
    keep: int = 1
    title: str | None = None
    caption: str | None = None
    rows: list[tuple[list[str], str | None]] = field(default_factory=list)

    def add_row(self, *cells: str, style: str | None = None) -> None:
        assert len(cells) == len(self.cols), (cells, self.cols)
        self.rows.append((list(cells), style))

    def add_gap(self) -> None:
        """The '...' row that stands for skipped rows."""
        self.add_row("...", *([""] * (len(self.cols) - 1)))

    def column(self, j: int) -> list[str]:
        return [self.cols[j].header, *(cells[j] for cells, _ in self.rows)]

    def _need(self, j: int) -> int:
        """Width column j needs: its widest line, or its longest word if it may wrap."""
        texts = self.column(j)
        if self.cols[j].wrap:
            return max((cell_len(w) for t in texts for w in t.split()), default=1)
        return max((cell_len(line) for t in texts for line in t.split("\n")), default=1)

    def table(self, picked: list[int], first: bool = True, last: bool = True) -> Table:
        t = Table(
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            title=self.title if first else None,
            caption=self.caption if last else None,
            title_justify="left",
            caption_justify="left",
        )
        for j in picked:
            c = self.cols[j]
            if c.wrap:
                t.add_column(c.header, justify=c.justify)
            else:
                t.add_column(c.header, justify=c.justify, no_wrap=True, min_width=self._need(j))
        for cells, style in self.rows:
            t.add_row(*(cells[j] for j in picked), style=style)
        return t

    def width(self, console: Console, options: ConsoleOptions, picked: list[int]) -> int:
        """The narrowest this selection of columns renders without cutting a number."""
        wide = options.update_width(10_000)
        return Measurement.get(console, wide, self.table(picked)).minimum

    def parts(self, console: Console, options: ConsoleOptions) -> list[list[int]]:
        """Column indices of each table to print."""
        keys = list(range(min(self.keep, len(self.cols))))
        rest = list(range(len(keys), len(self.cols)))
        for k in range(1, len(rest) + 1):
            size = -(-len(rest) // k)
            chunks = [rest[i : i + size] for i in range(0, len(rest), size)]
            if all(self.width(console, options, keys + c) <= options.max_width for c in chunks):
                return [keys + c for c in chunks]
        return [keys + [j] for j in rest] or [keys]

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts = self.parts(console, options)
        for i, picked in enumerate(parts):
            yield self.table(picked, first=i == 0, last=i == len(parts) - 1)


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


def pick_rows(
    n: int,
    depth: int,
    nonfinite: int | None,
    every: int | None,
    show_all: bool,
    also: tuple[int, ...] = (),
) -> list[int]:
    """1-based rows to show of the `n` run in a stack `depth` deep: all up to
    30; beyond, the first 5, every k-th (about 10 rows), the last 5, the
    non-finite one and any in `also` (a best epoch)."""
    if show_all or n <= 30:
        return list(range(1, n + 1))
    k = every or max(1, round(depth / 10))
    keep = set(range(1, 6)) | set(range(k, n + 1, k)) | set(range(n - 4, n + 1))
    if nonfinite is not None:
        keep.add(nonfinite)
    keep |= {i for i in also if 1 <= i <= n}
    return sorted(keep)


def _count(n: int, what: str) -> str:
    """'1 block', '16 blocks'."""
    return f"{n} {what}{'' if n == 1 else 's'}"


def _band(band: tuple[float, float] | None) -> str:
    return f"{num(band[0])}-{num(band[1])}" if band else "-"


def resmlp_block(c: dict[str, Any]) -> str:
    """A residual block in one line, from a config: the update, the branch, its
    gains and the residual init, e.g. 'x <- x + branch(x)/sqrt(16), branch =
    LayerNorm Linear relu Linear (gains 1, 1.414)'."""
    norm = {"layer": "LayerNorm", "batch": "BatchNorm"}.get(c["norm"])
    m = c["branch_depth"]
    alpha = c["residual_scale"]
    # resolved (a number and its mode), or as given in init-compare's config
    invsqrt = alpha == "invsqrt" or c.get("residual_scale_mode") == "invsqrt"
    scale = "" if invsqrt or alpha == 1 else f"{num(alpha)} * "
    gate = "gate * " if c["residual_init"] == "skipinit" else ""
    update = f"x + {scale}{gate}branch(x)"
    if invsqrt:
        update += f"/sqrt({c['layers']})"
    if norm and c["norm_position"] == "post":
        update = f"{norm}({update})"
    branch = " ".join(["Linear", _one(c.get("act")) or "act"] * (m - 1) + ["Linear"])
    if norm and c["norm_position"] == "pre":
        branch = f"{norm} {branch}"
    text = f"x <- {update}, branch = {branch}{_branch_gains(c)}"
    if c["residual_init"] == "skipinit":
        text += "; skipinit: gate starts at 0"
    elif c["residual_init"] == "fixup":
        text += "; fixup: last Linear zeroed"
        if m > 1:
            text += f", others x {c['layers']}^(-1/{2 * m - 2})"
    return text


def _one(value: Any) -> Any:
    """A config value that a sweep over activations holds as a list: the one
    value, or None when the list holds several."""
    if not isinstance(value, list):
        return value
    return value[0] if len(value) == 1 else None


def _branch_gains(c: dict[str, Any]) -> str:
    """The branch's gains, Linear by Linear: with --gain auto the first Linear
    reads the un-activated stream and gets gain 1 (He's derivation).  Nothing
    when several activations each have their own."""
    gain = _one(c.get("gain"))
    if not isinstance(gain, float | int):  # a sweep of inits and acts: each cell has its own
        return ""
    m = c["branch_depth"]
    if c.get("gain_mode") != "auto" or m == 1:
        return f" (gain {gain:.4g})"
    gains = ["1"] + [f"{gain:.4g}"] * (m - 1)
    return f" (gains {', '.join(gains)})"


def _resmlp_trace_tables(res: StdTraceResult, every: int | None, show_all: bool) -> list[Any]:
    """Per block: the stream's std, the branch's and their ratio, the stream's
    average squared mean, the branch's zeros (and saturation), the theory."""
    c = res.config
    rows: list[BlockStats] = res.layers  # type: ignore[assignment]
    saturating = any(r.saturated_frac is not None for r in rows)
    title = (
        f"std-trace: resmlp, {_count(c['layers'], 'block')} x {c['width']}, act {c['act']}, "
        f"init {c['init']}, seed {c['seed']}"
    )
    cols = [Col("block"), Col("stream\nstd"), Col("branch\nstd"), Col("ratio"), Col("avg sq\nmean")]
    cols.append(Col("zeros"))
    if saturating:
        cols.append(Col("sat"))
    cols += [Col("theory"), Col("90% band")]
    t = Grid(cols)
    shown = pick_rows(len(rows), c["layers"], res.first_nonfinite_layer, every, show_all)
    prev = 0
    for i in shown:
        r = rows[i - 1]
        if i != prev + 1:
            t.add_gap()
        cells = [str(r.block), num(r.std), num(r.branch_std), num(r.branch_ratio), num(r.sq_mean)]
        cells.append(pct(r.zero_frac))
        if saturating:
            cells.append(pct(r.saturated_frac))
        cells += [num(r.predicted_std), _band(r.predicted_band)]
        t.add_row(*cells, style="bold red" if r.block == res.first_nonfinite_layer else None)
        prev = i
    legend = (
        "stream: x after the block; branch: what the block adds to it; ratio: branch std / std of the "
        "stream coming in; avg sq mean: the stream's squared batch mean, averaged over units (mean "
        f"drift); zeros{', sat' if saturating else ''}: of the branch's activations; theory: the "
        "stream's infinite-width std"
    )
    tables: list[Any] = [title, resmlp_block(c), t, legend]
    if res.backward:
        tables += _backward_table(rows, shown, ("block", "grad std (stream)", "|dL/dW| branch (L2)"))
    return tables + _correlation_table(res, shown, "block", "streams")


def _correlation_table(res: StdTraceResult, shown: list[int], unit: str, what: str) -> list[Any]:
    """Per shown row, the mean cosine between the batch's examples and the
    c-map's; nothing for a batch of one."""
    if res.input_corr is None:
        return []
    g = Grid([Col(unit), Col("cosine"), Col("c-map")])
    prev = 0
    for i in shown:
        if i != prev + 1:
            g.add_gap()
        r = res.layers[i - 1]
        g.add_row(str(i), num(r.corr), num(r.predicted_corr))
        prev = i
    head = (
        f"cosine between examples: mean over pairs, of their {what}; c-map: theory from the "
        f"input's {num(res.input_corr)}"
    )
    if res.predicted_corr_note:
        head += f" (c-map: {res.predicted_corr_note})"
    return [head, g]


def _backward_table(rows: list[Any], shown: list[int], headers: tuple[str, str, str]) -> list[Any]:
    """--backward's table: per shown row (layer or block, 1-based), the std of
    the gradient reaching it and its weights' gradient norm."""
    g = Grid([Col(h) for h in headers])
    prev = 0
    for i in shown:
        if i != prev + 1:
            g.add_gap()
        r = rows[i - 1]
        g.add_row(str(i), num(r.grad_std), num(r.weight_grad_norm))
        prev = i
    return ["backward: a random N(0,1) gradient fed in at the top", g]


def std_trace_tables(res: StdTraceResult, every: int | None, show_all: bool) -> list[Any]:
    """A title line and the per-layer table (and the gradient table with --backward)."""
    if res.layers and isinstance(res.layers[0], BlockStats):
        return _resmlp_trace_tables(res, every, show_all)
    net = res.config
    saturating = any(r.saturated_frac is not None for r in res.layers)
    title = (
        f"std-trace: {net['layers']} x {net['width']}, act {net['act']}, init {net['init']}"
        + (f" (gain {net['gain']:.4g})" if net["gain"] is not None else "")
        + f", seed {net['seed']}"
    )
    cols = [Col("layer"), Col("mean"), Col("std"), Col("pre std"), Col("zeros")]
    if saturating:
        cols.append(Col("sat"))
    cols += [Col("theory"), Col("90% band")]
    t = Grid(cols)
    shown = pick_rows(len(res.layers), net["layers"], res.first_nonfinite_layer, every, show_all)
    prev = 0
    for i in shown:
        r = res.layers[i - 1]
        if i != prev + 1:
            t.add_gap()
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
        tables += _backward_table(res.layers, shown, ("layer", "grad std (output)", "|dL/dW| (L2)"))
    return tables + _correlation_table(res, shown, "layer", "pre-activations")


def std_trace_summary(res: StdTraceResult) -> str:
    """The verdict and the std in and out; a resmlp's says blocks and the stream."""
    n = len(res.layers)
    blocks = bool(res.layers) and isinstance(res.layers[0], BlockStats)
    unit, std = ("block", "stream std") if blocks else ("layer", "std")
    head = f"verdict: {res.verdict}"
    if len(res.verdicts) > 1:
        head += f" (also {', '.join(res.verdicts[1:])})"
    if res.first_nonfinite_layer is not None:
        k = min(10, n - 1)
        growth = (res.layers[k - 1].std / res.input_std) ** (1 / k) if k >= 1 else math.nan
        return (
            f"{head} (inf/nan at {unit} {res.first_nonfinite_layer}, {res.config['dtype']} "
            f"overflow); {std} x{num(growth)} per {unit}"
        )
    return (
        f"{head}; {std} {num(res.input_std)} in -> {num(res.final_std)} after {_count(n, unit)} "
        f"(x{num(res.std_ratio)})"
    )


def catalog_tables(data: dict) -> list[Grid]:
    a = Grid(
        [
            Col("name", "left", wrap=True),
            Col("f(x)", "left", wrap=True),
            Col("torch gain"),
            Col("fixed-pt"),
            Col("auto"),
        ],
        title="activations (--act)",
        caption="auto = torch's calculate_gain where torch has one, else fixed-pt = 1/sqrt(E[f(z)^2])",
    )
    for act in data["activations"]:
        name = act["name"] + (f" ({', '.join(act['aliases'])})" if act["aliases"] else "")
        a.add_row(
            name,
            act["formula"],
            f"{act['torch_gain']:.4f}" if act["torch_gain"] else "n/a",
            f"{act['fixed_point_gain']:.4f}",
            f"{act['auto_gain']:.4f}",
        )
    i = Grid(
        [
            Col("name", "left", wrap=True),
            Col("flags", "left", wrap=True),
            Col("std of a weight", "left", wrap=True),
        ],
        title="initialisers (--init)",
    )
    for init in data["inits"]:
        name = init["name"] + (f" ({', '.join(init['aliases'])})" if init["aliases"] else "")
        i.add_row(name, " ".join(init["flags"]), init["std"])
    p = Grid(
        [Col("name", "left", wrap=True), Col("command", "left"), Col("what it shows", "left", wrap=True)],
        title="presets (--config NAME, configs/)",
    )
    for preset in data["presets"]:
        p.add_row(preset["name"], preset["command"], preset["description"])
    return [a, i, p]


def _first_nonfinite_step(run: Any) -> int | None:
    """1-based step whose loss or some gradient norm is inf or nan."""
    for k, loss in enumerate(run.loss_per_step):
        norms = [p.grad_norm_per_step[k] for p in run.params]
        if not math.isfinite(loss) or any(g is not None and not math.isfinite(g) for g in norms):
            return k + 1
    return None


def linear_weights(params: list[Any]) -> list[Any]:
    """The Linear layers' weights in forward order: the 2-D `.weight`s (a
    norm's weight is 1-D, a SkipInit gate is a scalar)."""
    return [p for p in params if p.name.endswith(".weight") and len(p.shape) == 2]


def _ratio_at(run: Any, layers: int, step: int) -> float | None:
    """|grad of the first Linear's weight| / |the last one's| at a 1-based step
    (fc1 and fcN in an MLP, stem and head in a resmlp)."""
    weights = [p.grad_norm_per_step[step - 1] for p in linear_weights(run.params)]
    first, last = weights[0], weights[-1]
    if first is None or not last:
        return None
    return first / last


def _grad_cell(value: float | None, has_grad: bool) -> str:
    return "no grad" if not has_grad else "0 exactly" if value == 0 else num(value)


def _group_index(name: str, n: int) -> int:
    """Where a parameter's layer or block sits in forward order: fc{k} and
    block{k} are k, a resmlp's stem 0 and its head n + 1."""
    group = name.split(".")[0]
    if group == "stem":
        return 0
    if group == "head":
        return n + 1
    return int(group.lstrip("abcdefghijklmnopqrstuvwxyz"))


def _grad_title(res: GradNormsResult) -> list[str]:
    """The network and the run in a line (a resmlp adds its block in a second)."""
    c = res.config
    steps = c["steps"]
    ins = res.runs[0].params[0].shape[1]
    bias = "no bias" if c["bias"] == "none" else f"bias {c['bias']}"
    run = f"lr {c['lr']:g}, {steps} step{'s' if steps > 1 else ''}, seed {c['seed']}"
    if c.get("arch") == "resmlp":
        net = f"resmlp, {ins} in, {_count(c['layers'], 'block')} x {c['width']}, 1 out"
        return [f"{net}, {c['dataset']}, init {c['init']}, {bias}, {run}", resmlp_block(c)]
    hidden = c["layers"] - 1
    sizes = (
        f"{ins}-" + ("-".join([str(c["width"])] * hidden) if hidden <= 5 else f"{c['width']}x{hidden}") + "-1"
    )
    return [f"{sizes} MLP, {c['dataset']}, init {c['init']}, {bias}, {run}"]


def grad_norms_tables(res: GradNormsResult, show_all: bool) -> list[Any]:
    """Per-parameter gradient norms, one column per activation (two with
    --steps N: step 1 and step N), then a table of the gradient ratio, dead
    units, dev accuracy and verdict per activation, each headed with the step
    it describes."""
    c = res.config
    steps = c["steps"]
    at = [1] if steps == 1 else [1, steps]
    if steps == 1:
        head = "|grad| at step 1 (L2 norm; '0 exactly' is an exact zero)"
    else:
        head = (
            f"|grad| at step 1 and at step {steps}, after {steps - 1} SGD update{'s' if steps > 2 else ''} "
            "(L2 norm; '0 exactly' is an exact zero; JSON has every step)"
        )
    cols = [Col("parameter", "left"), Col("shape")]
    for run in res.runs:
        cols += [Col(run.act if steps == 1 else f"{run.act}\nstep {k}") for k in at]
    t = Grid(cols, keep=2)
    params = res.runs[0].params
    # choose layers (blocks), not parameters, so a shown layer has all its parameters
    layer_of = [_group_index(p.name, c["layers"]) for p in params]
    keep = set(pick_rows(c["layers"], c["layers"], None, None, show_all)) | {0, c["layers"] + 1}
    prev_layer = layer_of[0] - 1
    for i, p in enumerate(params):
        if layer_of[i] not in keep:
            continue
        if layer_of[i] > prev_layer + 1:
            t.add_gap()
        prev_layer = layer_of[i]
        cells = []
        for run in res.runs:
            q = run.params[i]
            has_grad = any(g is not None for g in q.grad_norm_per_step)
            cells += [_grad_cell(q.grad_norm_per_step[k - 1], has_grad) for k in at]
        t.add_row(p.name, "x".join(map(str, p.shape)) or "scalar", *cells)

    def label(text: str, k: int) -> str:
        return text if steps == 1 else f"{text}\nstep {k}"

    ratio_cols = [Col(label("|g1|/|gN|", k)) for k in at]
    v = Grid(
        [
            Col("act", "left"),
            *ratio_cols,
            Col(label("most dead units", steps)),
            Col(label("dev acc", steps)),
            Col("verdict", "left"),
        ]
    )
    for run in res.runs:
        worst = max(range(len(run.dead_units)), key=lambda k: run.dead_units[k], default=None)
        if worst is None or run.dead_units[worst] == 0:
            dead = "none"
        else:
            dead = f"{pct(run.dead_units[worst])} ({_act_place(c, worst)})"
        ratios = [num(_ratio_at(run, c["layers"], k)) for k in at]
        v.add_row(run.act, *ratios, dead, f"{run.dev_accuracy:.3f}", ", ".join(run.verdicts))
    out: list[Any] = [*_grad_title(res), head, t, v]
    if steps > 1:
        ends = linear_weights(params)
        out.append(
            f"|g1|/|gN| = |grad {ends[0].name}| / |grad {ends[-1].name}|; vanishing and exploding are "
            f"judged on step 1's ratio, exploding also on an inf/nan loss or gradient at any step; dead "
            f"units and dev acc are the model at step {steps}"
        )
    return out


def _act_place(c: dict[str, Any], k: int) -> str:
    """Where the k-th (0-based) activation of the network sits: 'layer 3', or
    in a resmlp 'block 3' (with m - 1 activations a block, 'block 3, act 2')."""
    if c.get("arch") != "resmlp":
        return f"layer {k + 1}"
    per = c["branch_depth"] - 1
    if per == 1:
        return f"block {k + 1}"
    return f"block {k // per + 1}, act {k % per + 1}"


def grad_norms_summary(res: GradNormsResult) -> str:
    """One verdict per activation, saying which step it rests on."""
    steps = res.config["steps"]
    parts = []
    for run in res.runs:
        if "dead" in run.verdicts:
            zero = [
                p.name
                for p in run.params
                if p.grad_norm_per_step and all(g == 0.0 for g in p.grad_norm_per_step)
            ]
            when = "" if steps == 1 else " at every step"
            parts.append(f"{run.act} dead ({len(zero)} of {len(run.params)} gradients exactly 0{when})")
            continue
        bad = _first_nonfinite_step(run)
        if run.verdict == "exploding" and bad is not None:
            parts.append(f"{run.act} exploding (inf/nan at step {bad})")
        elif steps > 1 and run.verdict in ("exploding", "vanishing"):
            parts.append(f"{run.act} {run.verdict} (ratio at step 1)")
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
    with a training probe), the verdict in short, and the rank (= where tied);
    the theory's targets and the ties under it."""
    c = res.config
    trained = c["train_epochs"] > 0
    resmlp = c.get("arch") == "resmlp"
    title = (
        f"init-compare: {'resmlp, ' if resmlp else ''}{c['layers']}{' blocks' if resmlp else ''} "
        f"x {c['width']}, batch {c['batch_size']}, "
        f"{len(c['seeds'])} seed{'s' if len(c['seeds']) > 1 else ''} from {c['seed']}"
        + (f", {c['train_epochs']} epochs on {c['dataset']}" if trained else "")
    )
    what = "dev accuracy" if trained else "final/input stream std" if resmlp else "final/input std"
    t = Grid([Col("init", "left"), *(Col(act) for act in res.acts)])
    for init in res.inits:
        cells = []
        for act in res.acts:
            cell = res.find(init, act)
            if cell is None:
                cells.append("not run")
                continue
            value = cell.dev_accuracy.mean if trained else cell.std_ratio.mean
            rank = f"#{cell.rank}{'=' if cell.tied else ''}"
            cells.append(f"{num(value)} {SHORT_VERDICT[cell.verdict]:>4} {rank}")
        t.add_row(init, *cells)
    legend = (
        f"each cell: mean {what} over seeds, verdict, rank (#1 best; = tied: the paired test over seeds "
        f"at alpha {c['alpha']:g} cannot separate it from another cell of that rank); "
        "ok stable, inf non-finite, vani vanishing, expl exploding, sat saturated"
    )
    if not trained:
        targets = ", ".join(f"{act} {num(res.targets[act].std_ratio)}" for act in res.acts)
        legend += (
            f"\nranked by distance from theory's healthy-stack std ratio ({targets}) "
            "and from a gradient ratio of 1"
        )
    out: list[Any] = [title]
    if resmlp:
        out.append(resmlp_block(c))
    out += [t, legend]
    if not res.complete:
        out.append(
            f"interrupted: {len(res.cells)} of {res.cells_total} cells finished; "
            "ranks are among the finished cells"
        )
    return out


def compare_summary(res: CompareResult) -> str:
    best = []
    for act in res.acts:
        top = [c.init for c in res.cells if c.act == act and c.rank == 1]
        if top:
            best.append(f"{act}: {' = '.join(top)}")
    return ("best: " + "; ".join(best)) if best else "no cell finished"


def train_title(c: dict[str, Any]) -> str:
    """The run in one line.  A model with no hidden layer has no hidden
    activation, so none is named (config.json keeps the flag's value)."""
    hidden = widths_text(c["hidden"])
    model = f"hidden {hidden}, act {c['act']}" if hidden else "no hidden layer (a linear model)"
    block = ""
    if c.get("arch") == "resmlp":
        k, w = len(c["hidden"]), c["hidden"][0]
        model = f"resmlp {_count(k, 'block')} x {w}, act {c['act']}"
        block = "\n" + resmlp_block({**c, "layers": k})
    extras = ""
    if c.get("weight_decay"):
        extras += f", weight decay {c['weight_decay']:g}"
    if c.get("dropout"):
        extras += f", dropout {','.join(f'{p:g}' for p in c['dropout'])}"
    return (
        f"train: {c['dataset']}, {model}, init {c['init']}, "
        f"{c['optimizer']} lr {c['lr']:g}{extras}, seed {c['seed']}{block}"
    )


def train_tables(res: Any) -> list[Any]:
    """A few rows of the epoch history, always with the best epoch's row, and
    the run's outcome."""
    t = Grid(
        [
            Col("epoch"),
            Col("train loss"),
            Col(f"train {res.metric}"),
            Col("dev loss"),
            Col(f"dev {res.metric}"),
            Col("best"),
        ]
    )
    n = len(res.history)
    by_epoch = {r.epoch: k + 1 for k, r in enumerate(res.history)}
    best_row = by_epoch.get(res.best_epoch) if res.best_epoch is not None else None
    prev = 0
    for i in pick_rows(n, n, None, None, False, also=(best_row,) if best_row else ()):
        if i != prev + 1:
            t.add_gap()
        prev = i
        r = res.history[i - 1]
        is_best = r.epoch == res.best_epoch
        t.add_row(
            str(r.epoch),
            num(r.train_loss),
            num(r.train_metric),
            num(r.dev_loss),
            num(r.dev_metric),
            "best" if is_best else "*" if r.best else "",
            style="bold" if is_best else None,
        )
    lines: list[Any] = [
        train_title(res.config),
        t,
        f"*: dev {res.metric} improved; best: the epoch whose weights best.pt holds",
    ]
    if res.symmetric_layers:
        lines.append(
            f"warning: symmetric layers {', '.join(res.symmetric_layers)}: every unit has the same incoming "
            "weights, so they can never learn different features (use a random init)"
        )
    if res.stopped == "nonfinite":
        lines.append(
            "stopped: the loss became inf or nan; the best checkpoint is kept"
            if res.best_epoch is not None
            else "stopped: the loss became inf or nan in the first epoch; no checkpoint, nothing to test"
        )
    return lines


def train_summary(res: Any) -> str:
    if res.best_epoch is None:
        return f"no finite epoch, so no best model and no test {res.metric}; run in {res.out}"
    best = f"{num(res.best_dev_metric)} at epoch {res.best_epoch}"
    return f"best dev {res.metric} {best}; test {res.metric} {num(res.test_metric)}; run in {res.out}"


def gain_tables(data: dict) -> list[Any]:
    t = Grid(
        [
            Col("act", "left"),
            Col("torch gain"),
            Col("std(x)/std(f(x))"),
            Col("+- se"),
            Col("fixed point"),
        ]
    )
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
        t = Grid([Col(r["act"], "left"), *(Col(f"{p['x']:g}") for p in r["points"])])
        t.add_row("f(x)", *(num(p["y"]) for p in r["points"]))
        t.add_row("f'(x)", *(num(p["dy"]) for p in r["points"]))
        sat = ", ".join(f"[{a:g}, {b:g}]" for a, b in r["saturated"]) or "nowhere"
        out += [t, f"max f' = {num(r['max_derivative'])} at x = {r['argmax_x']:g}; |f'| < 0.01 on {sat}"]
    return out


def init_hist_tables(data: dict) -> list[Any]:
    t = Grid(
        [
            Col("init", "left"),
            Col("samples"),
            Col("mean"),
            Col("theory\nmean"),
            Col("std"),
            Col("theory\nstd"),
            Col("std/theory"),
        ]
    )
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


# ---------------------------------------------------------------------------
# coord-check


def _slope_cell(sl: Any, tol: float) -> str:
    """+0.02; +0.42! counts (its whole interval beyond the tolerance); +0.12?
    beyond the tolerance, its interval not; or why there is no slope: 0 (zero
    at every width), inf (overflowed)."""
    from nninit_cli.experiments.coord_check import beyond

    if sl.slope is None:
        return {"zero": "0", "nonfinite": "inf"}.get(sl.reason or "", "n/a")
    mark = "!" if beyond(sl, tol) else "?" if abs(sl.slope) > tol else ""
    return f"{sl.slope:+.2f}{mark}"


def _ci_cell(sl: Any) -> str:
    return "" if sl.ci is None else f"[{sl.ci[0]:+.2f}, {sl.ci[1]:+.2f}]"


def _power(p: float) -> str:
    """An exponent of m as a factor: 1, m, 1/m, m^0.5, m^-0.5."""
    return {0.0: "1", 1.0: "m", -1.0: "1/m"}.get(p, f"m^{p:g}")


def _shown_steps(n: int) -> list[int]:
    """Steps 0..n-1 to show as columns: all up to 8, else the first four, every
    k-th and the last."""
    if n <= 8:
        return list(range(n))
    k = max(1, round(n / 6))
    return sorted({0, 1, 2, 3, *range(k, n, k), n - 1})


def coord_check_title(c: dict[str, Any], widths: list[int]) -> str:
    arch = f"resmlp, {_count(c['layers'], 'block')}" if c.get("arch") == "resmlp" else f"{c['layers']} layers"
    gain = f" (gain {c['gain']:.4g})" if c.get("gain") is not None else ""
    readout = ", readout starts at 0" if c.get("zero_readout") else ""
    return (
        f"coord-check: {c['param']} + {c['optimizer']} lr {c['lr']:g} (at width {c['base_width']}){readout}\n"
        f"{arch}, act {c['act']}, init {c['init']}{gain}, widths {','.join(map(str, widths))}\n"
        f"{_count(c['steps'], 'step')} on {c['dataset']} (batch {c['batch_size']}), "
        f"{_count(len(c['seeds']), 'seed')} from {c['seeds'][0]}"
    )


def coord_check_tables(res: Any) -> list[Any]:
    """The parametrisation's factors, the sizes at the last step by width,
    then the slopes of size and of change against width, layer by step.
    Titles are lines of their own, wrapped to the terminal, not to a table."""
    c = res.config
    tol = c["slope_tol"]
    last = c["steps"]
    m = max(res.widths) / res.base_width
    rules = Grid([Col("parameters", "left"), Col("init std"), Col("multiplier"), Col(f"{c['optimizer']} lr")])
    for r in res.rules:
        init = "0" if r["init_exponent"] is None else _power(r["init_exponent"])
        rules.add_row(r["kind"], init, _power(r["multiplier_exponent"]), _power(r["lr_exponent"]))
    sizes = Grid([Col("layer", "left"), *(Col(str(w)) for w in res.widths), Col("slope"), Col("90% CI")])
    for layer in res.layers:
        s = layer.steps[last]
        sizes.add_row(
            layer.name, *(num(x) for x in s.size), _slope_cell(s.size_slope, tol), _ci_cell(s.size_slope)
        )
    out: list[Any] = [
        coord_check_title(c, res.widths),
        f"\n{c['param']}'s factors on --init's std, on W in the forward pass and on --lr, as powers of "
        f"m = width / {res.base_width} (m = {m:g} at width {max(res.widths)}):",
        rules,
        f"mean |activation| after {_count(last, 'step')}, by width:",
        sizes,
    ]
    one_seed = len(c["seeds"]) == 1
    for what, first, title in (
        ("size", 0, "slope of log size against log width, by step (0: at init):"),
        ("change", 1, "slope of the change since step 0 against width, by step:"),
    ):
        shown = [k for k in _shown_steps(last + 1) if k >= first]
        cols = [Col("layer", "left"), Col("role", "left"), *(Col(str(k)) for k in shown)]
        t = Grid(cols + ([Col("verdict", "left")] if what == "size" else []), keep=2)
        for layer in res.layers:
            cells = [_slope_cell(getattr(layer.steps[k], f"{what}_slope"), tol) for k in shown]
            t.add_row(layer.name, layer.role, *cells, *([layer.verdict] if what == "size" else []))
        out += [title, t]
    counts = (
        f"! counts: beyond +-{tol:g} (--slope-tol; one seed gives no interval)"
        if one_seed
        else f"! counts: the whole interval beyond +-{tol:g} (--slope-tol); ? beyond it, its interval not"
    )
    out.append(
        "size: mean |activation| on the first batch; change: mean |activation - its step-0 value|; "
        "both averaged over seeds. slope p: size ~ width^p, the mean of each seed's slope, with a 90% "
        f"t-interval (the seeds' spread pooled over steps); {counts}; 0: zero at every width; "
        "inf: overflowed. The verdict reads the size slopes."
    )
    return out


def coord_check_summary(res: Any) -> str:
    """The verdict and, for each layer that fails it, its clearest slope; and
    a note when the layers' changes shrink with width while their sizes hold
    (features that barely move: the lazy, kernel regime)."""
    from nninit_cli.experiments.coord_check import beyond

    tol = res.config["slope_tol"]
    if res.verdicts == ["stable"]:
        noisy = sum(abs(s.size_slope.slope or 0.0) > tol for layer in res.layers for s in layer.steps)
        caveat = f" ({noisy} beyond it, but not their intervals: ?)" if noisy else ""
        line = f"verdict: stable: no size slope lies clearly beyond +-{tol:g} at any step{caveat}"
    else:
        worst = []
        for layer in res.layers:
            flagged = [s for s in layer.steps if beyond(s.size_slope, tol)]
            if not flagged:
                continue
            s = max(
                flagged, key=lambda s: math.inf if s.size_slope.slope is None else abs(s.size_slope.slope)
            )
            what = "overflows" if s.size_slope.slope is None else f"{s.size_slope.slope:+.2f}"
            worst.append(f"{layer.name} {what} at step {s.step}")
        line = f"verdict: {', '.join(res.verdicts)}: " + "; ".join(worst)
    last = res.config["steps"]
    lazy = [
        layer.name
        for layer in res.layers
        if layer.role != "output" and beyond(layer.steps[last].change_slope, tol) < 0
    ]
    zero = [layer.name for layer in res.layers if layer.steps[last].size_slope.reason == "zero"]
    if zero:
        line += (
            f"\nnote: {', '.join(zero)} {'is' if len(zero) == 1 else 'are'} exactly 0 at every width "
            f"after {_count(last, 'step')}: nothing there to scale (a zero init?)"
        )
    if lazy:
        line += (
            f"\nnote: the change since step 0 shrinks with width in {', '.join(lazy)}: "
            "features barely move in wide models (lazy training)"
        )
    return line


# ---------------------------------------------------------------------------
# jacobian

JACOBIAN_ROWS = 20  # inputs shown one by one; beyond, the first 20 and the pooled row


def jacobian_title(c: dict[str, Any]) -> str:
    arch = f"resmlp, {_count(c['layers'], 'block')}" if c.get("arch") == "resmlp" else f"{c['layers']} layers"
    gain = f" (gain {c['gain']:.4g})" if c.get("gain") is not None else ""
    return (
        f"jacobian: {arch} x {c['width']}, act {c['act']}, init {c['init']}{gain}, "
        f"{_count(c['samples'], 'input')} N(0, {c['input_std']:g}^2), seed {c['seed']}, {c['dtype']}"
    )


def _spectrum_cells(s: Any) -> list[str]:
    cond = "singular" if s.condition is None and s.condition_reason else num(s.condition)
    return [num(s.mean_sq), num(s.spread), num(s.min), num(s.max), cond]


def jacobian_tables(res: Any) -> list[Any]:
    """Per input and pooled: mean s^2, spread, min and max s, condition
    number; then the theory's row and what it assumes."""
    t = Grid([Col("input", "left"), Col("mean s^2"), Col("spread"), Col("min s"), Col("max s"), Col("cond")])
    for row in res.samples[:JACOBIAN_ROWS]:
        t.add_row(str(row.sample), *_spectrum_cells(row.spectrum))
    if len(res.samples) > JACOBIAN_ROWS:
        t.add_gap()
    t.add_row("all", *_spectrum_cells(res.pooled), style="bold")
    th = res.theory
    t.add_row("theory", num(th["mean_sq"]), num(th["spread"]), "-", "-", "-")
    notes = [
        "s: singular values of J = d output / d input; spread: var(s^2) / mean(s^2)^2; "
        "cond: max s / min s (singular: min s at rounding level)."
    ]
    if th["mean_sq_reason"] is None:
        notes.append("theory, infinite width: mean s^2 = product over layers of chi_1 = v E[phi'(h)^2];")
    else:
        notes.append(f"theory: no mean s^2 ({th['mean_sq_reason']});")
    if th["spread"] is not None:
        v_w = "1 (Marchenko-Pastur)" if th["weights"] == "gaussian" else "0"
        notes.append(
            f"spread = sum over layers of v_W + E[phi'^4] / E[phi'^2]^2 - 1, v_W = {v_w} for "
            f"{th['weights']} weights (free probability; Pennington et al. 2017)."
        )
    else:
        notes.append(f"no spread ({th['spread_reason']}).")
    return [jacobian_title(res.config), t, " ".join(notes)]


def jacobian_summary(res: Any) -> str:
    """The verdict, the spread against --spread-tol and the theory, the rms s."""
    c, p = res.config, res.pooled
    head = f"verdict: {', '.join(res.verdicts)}"
    if p.reason is not None:
        return f"{head}: {p.reason} ({c['dtype']} overflow; try --dtype float64)"
    parts = []
    if p.spread is not None:
        op = "<" if p.spread < c["spread_tol"] else ">="
        theory = res.theory["spread"]
        parts.append(
            f"spread {num(p.spread)} {op} {c['spread_tol']:g} (--spread-tol)"
            + ("" if theory is None else f", theory {num(theory)}")
        )
    parts.append(f"rms singular value {num(p.rms)}")
    return f"{head}: " + "; ".join(parts)


# ---------------------------------------------------------------------------
# phase

PHASE_ROWS = 40  # a grid of more cells is summarised unless --all
PHASE_MARKS = {"ordered": ".", "critical": "|", "chaotic": "#", "unbounded": "^"}


def _evenly(n: int, most: int) -> list[int]:
    """At most `most` of 0..n-1, evenly spaced, the first and the last included."""
    if n <= most:
        return list(range(n))
    return sorted({round(k * (n - 1) / (most - 1)) for k in range(most)})


def phase_title(c: dict[str, Any], cells: int) -> str:
    def axis(values: list[float]) -> str:
        if len(values) <= 4:
            return ",".join(f"{v:g}" for v in values)
        return f"{values[0]:g} to {values[-1]:g} ({len(values)})"

    act = c["act"] + (f" (slope {c['negative_slope']:g})" if c["act"] == "lrelu" else "")
    grid = f"sigma_w2 {axis(c['sigma_w2'])}, sigma_b2 {axis(c['sigma_b2'])}"
    return f"phase: {act}, {grid}: {_count(cells, 'cell')}"


def _xi(x: float | None, reason: str | None) -> str:
    if x is not None:
        return num(x)
    return "inf" if reason and reason.startswith("infinite") else "-"


def _phase_cells(res: Any) -> Grid:
    measured = bool(res.config["measure"])
    cols = [Col("sw2"), Col("sb2"), Col("phase", "left"), Col("q*"), Col("chi1"), Col("c*")]
    cols += [Col("xi_q"), Col("xi_c")]
    if measured:
        cols += [Col("xi_c fit"), Col("fit layers")]
    t = Grid(cols, keep=2)
    for cell in res.cells:
        row = [f"{cell.sigma_w2:.4g}", f"{cell.sigma_b2:.4g}", cell.phase, num(cell.q_star), num(cell.chi1)]
        row += [num(cell.c_star), _xi(cell.xi_q, cell.xi_q_reason), _xi(cell.xi_c, cell.xi_c_reason)]
        if measured:
            span = "-" if cell.fit_first_layer is None else f"{cell.fit_first_layer}-{cell.fit_last_layer}"
            row += [num(cell.measured_xi_c) + ("*" if cell.fit_note else ""), span]
        t.add_row(*row)
    return t


def _phase_map(res: Any) -> list[Any]:
    """One line per sigma_b2, one mark per sigma_w2: the phases at a glance."""
    c = res.config
    sw, sb = c["sigma_w2"], c["sigma_b2"]
    cols, rows = _evenly(len(sw), 60), _evenly(len(sb), 40)
    by = {(cell.sigma_w2, cell.sigma_b2): cell.phase for cell in res.cells}
    t = Grid([Col("sb2"), Col(f"sw2 {sw[cols[0]]:g} -> {sw[cols[-1]]:g}", "left")])
    for j in reversed(rows):
        t.add_row(num(sb[j]), "".join(PHASE_MARKS[by[(sw[i], sb[j])]] for i in cols))
    marks = ", ".join(f"{m} {p}" for p, m in PHASE_MARKS.items())
    shown = f"{len(cols)} of {len(sw)} sigma_w2, {len(rows)} of {len(sb)} sigma_b2"
    return [f"phase map ({shown}; {marks}):", t]


def _critical_table(res: Any) -> Grid:
    t = Grid([Col("sb2"), Col("sw2 (chi1 = 1)"), Col("q*")])
    for i in _evenly(len(res.critical), 12):
        p = res.critical[i]
        sw2 = "none" if p["sigma_w2"] is None else f"{p['sigma_w2']:.4f}"
        t.add_row(num(p["sigma_b2"]), sw2, num(p["q_star"]))
    return t


def _training_table(res: Any) -> list[Any]:
    c = res.config
    sw = c["sigma_w2"]
    picked = _evenly(len(sw), 9)
    cols = [Col("depth")] + [Col(f"{sw[i]:g}") for i in picked]
    t = Grid(cols)
    acc = {(r["depth"], r["sigma_w2"]): r for r in res.training}
    for depth in c["train_depths"]:
        t.add_row(str(depth), *(f"{100 * acc[(depth, sw[i])]['accuracy']:.0f}%" for i in picked))
    six = {r["sigma_w2"]: r for r in res.training}
    t.add_row("6 xi_c", *(_xi(six[sw[i]]["six_xi_c"], six[sw[i]].get("six_xi_c_reason")) for i in picked))
    title = (
        f"trainability: dev accuracy on {c['dataset']} after {_count(c['train_epochs'], 'epoch')} of SGD "
        f"(lr {c['train_lr']:g}, width {c['train_width']}, sigma_b2 {c['sigma_b2'][0]:g}, "
        f"mean of {_count(len(c['seeds']), 'seed')}), by depth (rows) and sigma_w2 (columns):"
    )
    return [title, t]


def phase_tables(res: Any, show_all: bool) -> list[Any]:
    """Every cell (or, for a big grid, the phase map), the critical line, and
    the trainability probe's accuracies."""
    c = res.config
    out: list[Any] = [phase_title(c, len(res.cells))]
    if show_all or len(res.cells) <= PHASE_ROWS:
        out.append(_phase_cells(res))
        caption = (
            "sw2, sb2: sigma_w^2, sigma_b^2; q*: the fixed variance; chi1: the c-map's slope at c = 1; "
            "c*: the correlation two inputs settle at; xi_q, xi_c: layers for a deviation of q or c to "
            "shrink by e (inf: critical)"
        )
        if c["measure"]:
            caption += (
                f"; xi_c fit: from the seeds' mean c_l at width {c['width']} over the fit layers "
                "(-: no fit, --json says why"
                + (f"; *: over {100 * FIT_TOL:.0f}% from theory, --json fit_note)" if _flagged(res) else ")")
            )
        if any(cell.q_star_reason == EVERY_Q_FIXED for cell in res.cells):
            caption += f"; q* - in a critical row: {EVERY_Q_FIXED}"
        out.append(caption)
    else:
        out += _phase_map(res)
        out.append(f"{len(res.cells)} cells: --all for a row each, --json for every number")
    n = len(res.critical)
    which = "each sigma_b2" if n <= 12 else f"12 of the {n} sigma_b2 (--json: every one)"
    out += [f"critical line (chi1 = 1) at {which}:", _critical_table(res)]
    if res.training:
        out += _training_table(res)
    return out


def _flagged(res: Any) -> int:
    """Cells whose fit is more than FIT_TOL from theory."""
    return sum(cell.fit_note is not None for cell in res.cells)


def phase_summary(res: Any) -> str:
    """The critical sigma_w2, how many cells in each phase, and the fits."""
    counts = {p: sum(cell.phase == p for cell in res.cells) for p in PHASE_MARKS}
    found = [p for p in res.critical if p["sigma_w2"] is not None]
    if len(found) == 1:
        line = f"critical sigma_w2 = {found[0]['sigma_w2']:.4f} at sigma_b2 = {found[0]['sigma_b2']:g}"
        if len(res.critical) > 1:
            others = len(res.critical) - 1
            line += f" (none at the other {others} sigma_b2: q* is infinite where chi1 reaches 1)"
    elif found:
        line = (
            f"critical sigma_w2 from {found[0]['sigma_w2']:.4f} (sigma_b2 {found[0]['sigma_b2']:g}) "
            f"to {found[-1]['sigma_w2']:.4f} (sigma_b2 {found[-1]['sigma_b2']:g})"
        )
    else:
        line = "no critical line: no finite q* has chi1 = 1 at these sigma_b2"
    line += "; " + ", ".join(f"{n} {p}" for p, n in counts.items() if n)
    fits = [cell for cell in res.cells if cell.measured_xi_c is not None and cell.xi_c is not None]
    if res.config["measure"]:
        if fits:
            worst = max(abs(cell.measured_xi_c / cell.xi_c - 1) for cell in fits)
            within = f"within {100 * worst:.0f}% of theory (worst cell)"
            line += f"\nmeasured xi_c in {_count(len(fits), 'cell')}: {within}"
            if _flagged(res):
                line += f"; {_count(_flagged(res), 'cell')} over {100 * FIT_TOL:.0f}%, marked * in the table"
        else:
            line += "\nno cell's xi_c could be fitted (--json says why, per cell)"
    return line
