"""`nninit phase`: order, chaos and depth scales over (sigma_w2, sigma_b2).

The theory is `nninit_cli.meanfield` (numpy only): this module imports torch
only inside the functions of --measure and of the training probe, so a theory
grid never pays for it.

--measure follows two inputs through the stack std-trace builds: width x
width Linear layers with the activation after each, weights N(0, sigma_w2 /
width) (kaiming-normal with gain sqrt(sigma_w2), drawn from the layers' base
draws as the model builder draws them) and biases N(0, sigma_b2) (--bias 0
--bias-std sqrt(sigma_b2)).  Every cell of a seed shares those base draws
(common random numbers) and only scales them, so one matmul per layer serves
the whole grid.  The inputs' layer-0 pre-activations have variance q* and
correlation --input-corr, so the pair starts on the q-map's fixed point and
only the correlation moves.

The fit.  In the theory, c_l - c* ~ chi_c^l once c_l is near c*, so ln|c_l -
c*| falls by 1/xi_c a layer.  At finite width N each layer adds noise to the
measured correlation: the N units of a layer are N independent Gaussian pairs
given the layer below, whose sample correlation has variance (1 - c^2)^2 / N
and bias -c (1 - c^2) / (2N) (Fisher).  Both are carried to deeper layers by
the c-map's slope, so the mean over S seeds has the floor

    V_l = slope_l^2 V_(l-1) + (1 - c_l^2)^2 / N,   B_l = slope_l B_(l-1) + c_l (1 - c_l^2) / (2N),
    floor_l = sqrt(V_l / S) + |B_l|.

Near c* = 1 (ordered) both shrink with 1 - c_l: the noise is relative, never
a floor; near c* < 1 (chaotic) they settle at a stationary level that the
decay sinks into.  The fit is least squares of ln|mean c_l - c*| on l over the
first run of layers where the deviation is at least FLOOR_MARGIN floors (so
ln of it is within 1/3 of its value) and the theory's own decay is already
exponential (its ratio per layer within EXP_TOL of chi_c in log), at least
MIN_FIT_LAYERS of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from nninit_cli import meanfield
from nninit_cli.results import EVERY_Q_FIXED, PhaseCell, PhaseResult
from nninit_cli.results import PHASE_FIT_TOL as FIT_TOL
from nninit_cli.specs import PhaseSpec

FLOOR_MARGIN = 3.0  # a fitted deviation is at least this many noise floors
EXP_TOL = 0.05  # the theory's per-layer decay within 5% of ln chi_c: exponential
MIN_FIT_LAYERS = 4
PRECISION = 1e-12  # a deviation of a float64 correlation below this is rounding

Progress = Callable[[int, int], None]


# ---------------------------------------------------------------------------
# Theory


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


def _scale_reason(xi: float | None, chi: float | None, name: str) -> str | None:
    if xi is None:
        return "q* is infinite (unbounded): no fixed point to deviate from"
    if math.isinf(xi):
        return f"infinite: {name} = 1 (critical), the deviation decays as a power law"
    return None


# phi(a x) = a phi(x) for a > 0: with no bias the q-map is q -> sigma_w2 E[phi(z)^2] q
HOMOGENEOUS = ("linear", "relu", "lrelu")


def every_q_fixed(act: str, c: meanfield.Cell) -> bool:
    """A homogeneous phi without bias has the linear q-map q -> chi_1 q: a
    finite q* > 0 exists only where chi_1 = 1, and there every q is one, so
    the solver's q* (its starting q) means nothing."""
    return act in HOMOGENEOUS and c.sigma_b2 == 0 and c.q_star is not None and c.q_star > 0


def _q_star_reason(act: str, c: meanfield.Cell) -> str | None:
    if c.phase == "unbounded":
        return "infinite: the q-map grows without limit (phase unbounded)"
    return EVERY_Q_FIXED if every_q_fixed(act, c) else None


def theory_cell(c: meanfield.Cell, act: str) -> PhaseCell:
    """A meanfield cell as the JSON holds it: infinities are None with a
    reason, and so is the arbitrary q* of a homogeneous phi's marginal point."""
    why_q = _q_star_reason(act, c)
    return PhaseCell(
        sigma_w2=c.sigma_w2,
        sigma_b2=c.sigma_b2,
        phase=c.phase,
        q_star=None if why_q else c.q_star,
        chi1=c.chi1,
        c_star=c.c_star,
        chi_c=c.chi_c,
        xi_q=_finite(c.xi_q),
        xi_c=_finite(c.xi_c),
        measured_xi_c=None,
        q_star_reason=why_q,
        xi_q_reason=_scale_reason(c.xi_q, c.chi1, "the q-map's slope"),
        xi_c_reason=_scale_reason(c.xi_c, c.chi_c, "chi_c"),
        measured_xi_c_reason="not measured (add --measure)",
    )


def _critical_reason(act: str, p: meanfield.CriticalPoint) -> str | None:
    """Why a point of the critical line has a null (None: it has none)."""
    if p.sigma_w2 is None:
        return "no finite q* has chi_1 = 1 here (the variance grows without limit where chi_1 reaches 1)"
    if p.q_star is None:
        return EVERY_Q_FIXED if act in HOMOGENEOUS and p.sigma_b2 == 0 else "no single q* on the line here"
    return None


def theory(spec: PhaseSpec) -> tuple[list[meanfield.Cell], list[dict[str, Any]]]:
    """Every cell (sigma_b2 outer, sigma_w2 inner) and the critical line."""
    f = meanfield.act_fn(spec.act, spec.negative_slope)
    sw2 = np.tile(np.asarray(spec.sigma_w2, float), len(spec.sigma_b2))
    sb2 = np.repeat(np.asarray(spec.sigma_b2, float), len(spec.sigma_w2))
    cells = meanfield.phase_grid(f, sw2, sb2)
    critical = []
    for p in meanfield.critical_line(f, np.asarray(spec.sigma_b2, float)):
        row = p.to_dict()
        row["reason"] = _critical_reason(spec.act, p)
        critical.append(row)
    return cells, critical


def run_phase(
    spec: PhaseSpec, on_measure: Progress | None = None, on_unit: Progress | None = None
) -> PhaseResult:
    """The grid's theory, then what --measure and --train-depths ask for."""
    cells, critical = theory(spec)
    rows = [theory_cell(c, spec.act) for c in cells]
    if spec.measure:
        rows = measure(spec, cells, rows, on_measure)
    training = train_probe(spec, cells, on_unit) if spec.train_depths else []
    return PhaseResult(spec.to_dict(), rows, critical, training)


# ---------------------------------------------------------------------------
# --measure


def unmeasurable(c: meanfield.Cell) -> str | None:
    """Why a cell has no measured xi_c, before anything runs (None: it can)."""
    if c.phase == "unbounded":
        return "q* is infinite (unbounded): the stack's variance grows without limit"
    if c.q_star == 0:
        return "q* = 0: the signal dies out with depth, and the c-map has no fixed variance to act at"
    if c.phase == "critical":
        return "critical: the approach to c* is a power law, not an exponential with a depth scale"
    return None


def noise_floor(cs: list[float], slopes: list[float], width: int, seeds: int) -> list[float]:
    """The finite-width floor of the seeds' mean c_l (module docstring)."""
    v = b = 0.0
    out = []
    for c, s in zip(cs, slopes, strict=True):
        v = s * s * v + (1 - c * c) ** 2 / width
        b = s * b + c * (1 - c * c) / (2 * width)
        out.append(math.sqrt(v / seeds) + abs(b))
    return out


def fit_window(
    measured_dev: list[float], theory_dev: list[float], floor: list[float], chi_c: float
) -> list[int]:
    """0-based layers of the fit: the first run where the theory's decay is
    exponential and the measured deviation stands above the floor."""
    log_chi = math.log(chi_c)
    ok = []
    for i in range(len(measured_dev)):
        prev = theory_dev[i - 1] if i > 0 else None
        exponential = (
            prev is not None
            and prev > PRECISION
            and theory_dev[i] > PRECISION
            and abs(math.log(theory_dev[i] / prev) - log_chi) <= EXP_TOL * abs(log_chi)
        )
        ok.append(exponential and measured_dev[i] >= FLOOR_MARGIN * floor[i] and measured_dev[i] > PRECISION)
    start = next((i for i, good in enumerate(ok) if good), None)
    if start is None:
        return []
    end = start
    while end + 1 < len(ok) and ok[end + 1]:
        end += 1
    return list(range(start, end + 1))


def fit_note(fit: float | None, theory: float | None, layers: int, width: int) -> str | None:
    """Why a fit more than FIT_TOL from theory should be read with care (None:
    it is within).  The noise floor falls as 1 / sqrt(width), so a wider stack
    keeps more layers above it for the fit."""
    if fit is None or theory is None or not math.isfinite(theory) or abs(fit / theory - 1) <= FIT_TOL:
        return None
    return (
        f"{100 * abs(fit / theory - 1):.0f}% from theory (over {100 * FIT_TOL:.0f}%): fitted over "
        f"{layers} layers at width {width}; a wider --width keeps more layers above the noise floor"
    )


def fit_xi(dev: list[float], window: list[int]) -> float | None:
    """-1 / slope of ln(dev) on the layer over `window` (None: no decay)."""
    x = np.asarray(window, float)
    y = np.log(np.asarray([dev[i] for i in window]))
    slope = float(np.polyfit(x, y, 1)[0])
    return -1.0 / slope if slope < 0 else None


def measure(
    spec: PhaseSpec, cells: list[meanfield.Cell], rows: list[PhaseCell], on_progress: Progress | None = None
) -> list[PhaseCell]:
    """Every measurable cell run over the seeds; the fit beside the theory."""
    f = meanfield.act_fn(spec.act, spec.negative_slope)
    out = list(rows)
    todo = []
    for i, c in enumerate(cells):
        why = unmeasurable(c)
        if why is not None:
            out[i] = replace(out[i], measured_xi_c_reason=why)
        else:
            todo.append(i)
    if not todo:
        return out
    paths = {i: meanfield.correlation_trace(f, cells[i], spec.input_corr, spec.layers) for i in todo}
    total = np.zeros((len(todo), spec.layers))
    for k, seed in enumerate(spec.seeds):
        total += one_minus_cos(spec, [cells[i] for i in todo], seed)
        if on_progress is not None:
            on_progress(k + 1, len(spec.seeds))
    mean_gap = total / len(spec.seeds)  # mean over seeds of 1 - c_l
    for j, i in enumerate(todo):
        out[i] = _fit_cell(out[i], cells[i], mean_gap[j], paths[i], spec)
    return out


def _fit_cell(
    row: PhaseCell,
    cell: meanfield.Cell,
    gap: np.ndarray,
    path: tuple[list[float], list[float]],
    spec: PhaseSpec,
) -> PhaseCell:
    cs, slopes = path
    assert cell.c_star is not None and cell.chi_c is not None
    star_gap = 1.0 - cell.c_star
    measured_dev = [abs(float(g) - star_gap) for g in gap]  # |c_l - c*|, exact at c* = 1
    theory_dev = [abs(c - cell.c_star) for c in cs]
    floor = noise_floor(cs, slopes, spec.width, len(spec.seeds))
    window = fit_window(measured_dev, theory_dev, floor, cell.chi_c)
    detail = dict(
        measured_c=[1.0 - float(g) for g in gap],
        theory_c=cs,
        noise_floor=floor,
    )
    if len(window) < MIN_FIT_LAYERS:
        why = (
            f"too little decay to fit: {len(window)} layer(s) where |c_l - c*| is above "
            f"{FLOOR_MARGIN:g} x the noise floor and the decay is exponential ({MIN_FIT_LAYERS} needed)"
        )
        return replace(row, measured_xi_c_reason=why, **detail)
    xi = fit_xi(measured_dev, window)
    return replace(
        row,
        measured_xi_c=xi,
        measured_xi_c_reason=None if xi is not None else "no decay: |c_l - c*| does not shrink over the fit",
        fit_note=fit_note(xi, cell.xi_c, len(window), spec.width),
        fit_first_layer=window[0] + 1,
        fit_last_layer=window[-1] + 1,
        **detail,
    )


def one_minus_cos(spec: PhaseSpec, cells: list[meanfield.Cell], seed: int) -> np.ndarray:
    """1 - cos(h_a, h_b) of each cell's two pre-activation vectors at layers
    1..layers for one seed, (cells, layers), computed as |e_a - e_b|^2 / 2
    with e = h / |h| so that it keeps its relative precision near c = 1."""
    import torch

    from nninit_cli.model.acts import torch_act
    from nninit_cli.model.inits import LayerBase, init_bias, init_weight
    from nninit_cli.model.torchenv import generator
    from nninit_cli.specs import NetSpec

    n = spec.width
    act = torch_act(spec.act, spec.negative_slope)
    # kaiming-normal with gain 1 and biases N(0, 1): each cell scales them by sqrt(sigma^2)
    unit = NetSpec(act=spec.act, init="kaiming-normal", gain=1.0, bias=0.0, bias_std=1.0, width=n, seed=seed)
    f64 = torch.float64
    sw = torch.tensor([math.sqrt(c.sigma_w2) for c in cells], dtype=f64)[:, None, None]
    sb = torch.tensor([math.sqrt(c.sigma_b2) for c in cells], dtype=f64)[:, None, None]
    sq = torch.tensor([math.sqrt(c.q_star or 0.0) for c in cells], dtype=f64)[:, None]
    z = torch.randn(2, n, generator=generator(seed, "data")).to(f64)
    c0 = spec.input_corr
    h0 = torch.stack([sq * z[0], sq * (c0 * z[0] + math.sqrt(1 - c0 * c0) * z[1])], dim=1)  # (cells, 2, n)
    x = act(h0)
    gaps = torch.empty(len(cells), spec.layers, dtype=f64)
    w = torch.empty(n, n)
    b = torch.empty(n)
    for layer in range(1, spec.layers + 1):
        base = LayerBase(seed, f"fc{layer}", (n, n))
        init_weight(w, unit, base)
        init_bias(b, unit, base, n)
        h = sw * (x @ w.to(f64).T) + sb * b.to(f64)
        e = h / h.norm(dim=2, keepdim=True)
        gaps[:, layer - 1] = (e[:, 0] - e[:, 1]).pow(2).sum(dim=1) / 2
        x = act(h)
    return gaps.numpy()


# ---------------------------------------------------------------------------
# The trainability probe (Schoenholz et al. 2017, Fig. 5)


def plan_training(spec: PhaseSpec) -> list[dict[str, Any]]:
    """One unit per (depth, sigma_w2, seed), at the first sigma_b2: plain data."""
    return [
        {
            "act": spec.act,
            "negative_slope": spec.negative_slope,
            "depth": depth,
            "sigma_w2": sw2,
            "sigma_b2": spec.sigma_b2[0],
            "seed": seed,
            "width": spec.train_width,
            "epochs": spec.train_epochs,
            "lr": spec.train_lr,
            "dataset": spec.dataset,
        }
        for depth in spec.train_depths
        for sw2 in spec.sigma_w2
        for seed in spec.seeds
    ]


TRAIN_BATCH = 64


def train_unit(unit: dict[str, Any]) -> dict[str, float]:
    """Train one MLP (`depth` Linear layers, kaiming-normal with gain
    sqrt(sigma_w2), biases N(0, sigma_b2)) with minibatch SGD; its final
    training loss and its dev accuracy.  One intra-op thread, so the numbers
    are the same in any worker."""
    from nninit_cli.model.torchenv import one_thread

    with one_thread():
        return _train(unit)


def _train(unit: dict[str, Any]) -> dict[str, float]:
    import torch
    import torch.nn.functional as F

    from nninit_cli.data.datasets import load_dataset
    from nninit_cli.model.builder import build_model
    from nninit_cli.model.torchenv import generator
    from nninit_cli.optim import SGD
    from nninit_cli.specs import NetSpec

    seed = unit["seed"]
    net = NetSpec(
        act=unit["act"],
        negative_slope=unit["negative_slope"],
        init="kaiming-normal",
        gain=math.sqrt(unit["sigma_w2"]),
        bias=0.0,
        bias_std=math.sqrt(unit["sigma_b2"]),
        layers=unit["depth"],
        width=unit["width"],
        seed=seed,
    )
    data = load_dataset(unit["dataset"], seed)
    multiclass = data.task == "multiclass"
    model = build_model(net, data.in_features, data.out_features)

    def loss_of(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, y) if multiclass else F.binary_cross_entropy_with_logits(out, y)

    opt = SGD([{"params": list(model.parameters()), "lr": unit["lr"]}])
    shuffle = generator(seed, "shuffle")
    x, y = data.train.x, data.train.y
    loss = math.nan
    for _ in range(unit["epochs"]):
        order = torch.randperm(len(x), generator=shuffle)
        for start in range(0, len(x), TRAIN_BATCH):
            idx = order[start : start + TRAIN_BATCH]
            opt.zero_grad()
            step_loss = loss_of(model(x[idx]), y[idx])
            step_loss.backward()
            opt.step()
    with torch.no_grad():
        loss = loss_of(model(x), y).item()
        out = model(data.dev.x)
        guess = out.argmax(dim=1) if multiclass else (out >= 0).to(data.dev.y.dtype)
        accuracy = (guess == data.dev.y).double().mean().item()
    return {"loss": loss, "accuracy": accuracy}


def train_probe(
    spec: PhaseSpec, cells: list[meanfield.Cell], on_unit: Progress | None = None
) -> list[dict[str, Any]]:
    """Accuracy per (depth, sigma_w2), mean over seeds, beside 6 xi_c."""
    from nninit_cli.executors import Executor, run_units

    units = plan_training(spec)
    results: list[dict[str, float] | None] = [None] * len(units)
    for done, (i, res) in enumerate(run_units(train_unit, units, Executor("local", spec.workers)), start=1):
        results[i] = res
        if on_unit is not None:
            on_unit(done, len(units))
    at = {c.sigma_w2: c for c in cells if c.sigma_b2 == spec.sigma_b2[0]}
    rows = []
    per = len(spec.seeds)
    for k in range(0, len(units), per):
        u = units[k]
        got = [r for r in results[k : k + per] if r is not None]
        acc = [r["accuracy"] for r in got]
        cell = at[u["sigma_w2"]]
        six = _finite(None if cell.xi_c is None else 6 * cell.xi_c)
        rows.append(
            {
                "depth": u["depth"],
                "sigma_w2": u["sigma_w2"],
                "sigma_b2": u["sigma_b2"],
                "accuracy": float(np.mean(acc)),
                "accuracy_per_seed": acc,
                "loss": float(np.mean([r["loss"] for r in got])),
                "six_xi_c": six,
                "six_xi_c_reason": None if six is not None else _scale_reason(cell.xi_c, cell.chi_c, "chi_c"),
            }
        )
    return rows
