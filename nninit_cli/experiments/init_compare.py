"""`init-compare`: which initialiser for this activation and depth?

A grid of cells (one initialiser x one activation, over several seeds).  Each
cell probes the same stack std-trace builds (width x width layers, the seed's
N(0, 1) input batch, a random N(0, 1) gradient fed in at the top: the very
streams std-trace --backward uses) and, with train_epochs > 0, trains the MLP
on a toy task.

Paired seeds: every init of a seed is drawn from the same base draws (see
`model.inits.LayerBase`) and sees the same input and the same top gradient, so
the difference between two inits on one seed is what the inits do, not seed
noise; `rank` tests those paired differences over seeds.

Units of work: the grid is cut into units that are plain data in and out
(`plan_units`, `run_unit`): a probe unit runs every cell of one shape group
for one seed as K stacked models through one batched forward and backward
(`torch.func.vmap`), at most `resources.INIT_COMPARE_STACK_BYTES` of
weights at once; a training unit
trains one (cell, seed).  Which units there are depends on the grid alone, and
each unit's numbers on that unit alone, so any executor that maps `run_unit`
over the units (`nninit_cli.executors`) gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nninit_cli import stats
from nninit_cli.data.datasets import load_dataset
from nninit_cli.executors import Executor, run_units
from nninit_cli.experiments.std_trace import signal_verdicts
from nninit_cli.model.acts import saturated
from nninit_cli.model.builder import (
    Block,
    activations,
    build,
    build_model,
    fit_to_data,
    layer_base,
    linear_gain,
    materialise,
    named_linears,
)
from nninit_cli.model.inits import LayerBase, init_bias, init_weight
from nninit_cli.model.torchenv import generator, one_thread, resolve_device, resolve_dtype
from nninit_cli.optim import SGD
from nninit_cli.probes import OutputStats, spread_rows
from nninit_cli.registry import ACTIVATIONS, INITS
from nninit_cli.resources import init_compare_chunk
from nninit_cli.results import STD_TRACE_VERDICTS, CellResult, CompareResult, PairTest, Spread, Target
from nninit_cli.specs import CellSpec, CompareSpec, NetSpec

DISTANCE_CAP = 45.0
"""|log10 ratio| of a ratio that is 0, inf or nan: beyond anything float32 can
hold (its range spans 76 orders of magnitude, 38 either side of 1)."""


@dataclass
class SeedProbe:
    """One (cell, seed) slice of a probe: plain floats."""

    input_std: float
    stds: list[float]  # output std per layer
    first_nonfinite: int | None
    grad_ratio: float  # |dL/dW_1| / |dL/dW_L|
    dead_units: float  # worst layer's fraction of units 0 for every example
    max_zero_frac: float  # worst layer's fraction of exact zeros
    final_saturated: float | None
    train_loss: float | None = None
    dev_accuracy: float | None = None


def input_batch(seed: int, batch: int, width: int) -> torch.Tensor:
    """The N(0, 1) input std-trace feeds a stack: the seed's data stream."""
    return torch.randn(batch, width, generator=generator(seed, "data"))


def cotangent(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """The random gradient std-trace --backward feeds in at the top."""
    return torch.randn(shape, generator=generator(seed, "probe"))


class SeedBases:
    """The bases (`LayerBase`) of one seed's Linears, kept while units of that
    seed run: every initialiser of a unit is drawn from them, so a layer's
    Gaussian and uniform are drawn once per unit, not once per init.  The QRs,
    six times dearer than a draw, are also kept across seeds, up to
    `QR_CACHE_BYTES` (oldest forgotten first), for the units of another
    activation that need them again.  What is kept changes what is computed
    again, never a number."""

    QR_CACHE_BYTES = 64 * 2**20

    def __init__(self) -> None:
        self.seed: int | None = None
        self.bases: dict[tuple[str, tuple[int, int]], LayerBase] = {}
        self.qrs: dict[tuple[int, str, tuple[int, int]], torch.Tensor] = {}

    def get(self, seed: int, name: str, fc: nn.Linear) -> LayerBase:
        if seed != self.seed:
            self._keep_qrs()
            self.seed, self.bases = seed, {}
        shape = (fc.out_features, fc.in_features)
        if (name, shape) not in self.bases:
            base = layer_base(seed, name, fc)
            q = self.qrs.get((seed, name, shape))
            if q is not None:
                base.remember("orthogonal", q)
            self.bases[(name, shape)] = base
        return self.bases[(name, shape)]

    def _keep_qrs(self) -> None:
        for (name, shape), base in self.bases.items():
            q = base.cached("orthogonal")
            if q is not None:
                self.qrs.pop((self.seed, name, shape), None)
                self.qrs[(self.seed, name, shape)] = q  # newest last
        total = sum(q.numel() * q.element_size() for q in self.qrs.values())
        while self.qrs and total > self.QR_CACHE_BYTES:
            oldest = next(iter(self.qrs))
            q = self.qrs.pop(oldest)
            total -= q.numel() * q.element_size()


_BASES = SeedBases()
_STACK: list[torch.Tensor] = []


def _stack_buffer(numel: int) -> torch.Tensor:
    """`numel` float32 numbers for a unit's stacked weights, from one buffer
    that the units of a process share (every value is written before it is
    read).  One block, not a few hundred 2.6 MB ones: those stay in the heap,
    fragmented, between units, and a fresh block per unit pays its page
    faults again (a third of a default grid's time)."""
    if not _STACK or _STACK[0].numel() < numel:
        _STACK[:] = [torch.empty(0)]  # free the old one first
        _STACK[0] = torch.empty(numel)
    return _STACK[0][:numel]


def _stacked(
    nets: list[NetSpec], x0: torch.Tensor, device: torch.device, dtype: torch.dtype
) -> tuple[nn.Module, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The meta model of `nets[0]` and the parameters and buffers of K member
    models of one seed, stacked along a new first dimension
    (`torch.func.stack_module_state`'s layout).  Each member's Linears are drawn
    straight into the stack from the seed's shared bases, with the member's
    own init and gain; norms and gates are the same for every member; LSUV
    members are then fitted on their own input through views of the stack."""
    net0 = nets[0]
    k = len(nets)
    model = materialise(build(net0), net0, lazy=True)  # Linears stay on meta; norms and gates are real
    fcs = list(named_linears(model))
    flat = _stack_buffer(sum(k * fc.out_features * (fc.in_features + (fc.bias is not None)) for _, fc in fcs))
    start = 0

    def carve(*shape: int) -> torch.Tensor:
        nonlocal start
        n = math.prod(shape)
        start += n
        return flat[start - n : start].view(shape)

    params: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, fc in fcs:
            base = _BASES.get(net0.seed, name, fc)
            w = carve(k, fc.out_features, fc.in_features)
            b = carve(k, fc.out_features) if fc.bias is not None else None
            scale = getattr(fc, "nninit_scale", None)  # Fixup's, the same for every member
            for i, net in enumerate(nets):
                gain = linear_gain(name, net)
                init_weight(w[i], net if gain == net.gain else replace(net, gain=gain), base)
                if scale is not None:
                    w[i].mul_(scale)
                if b is not None:
                    init_bias(b[i], net, base, fc.in_features)
            params[f"{name}.weight"] = w.to(device, dtype).detach()
            if b is not None:
                params[f"{name}.bias"] = b.to(device, dtype).detach()
        for name, t in model.named_parameters():
            if not t.is_meta:
                params[name] = t.detach().to(device, dtype).expand(k, *t.shape).clone()
        buffers = {name: t.to(device).expand(k, *t.shape).clone() for name, t in model.named_buffers()}
    for i, net in enumerate(nets):
        if INITS[net.init].fit_to_data is not None:
            views = {name: t[i] for name, t in {**params, **buffers}.items()}
            fit_to_data(model, net, x0[i].to(device, dtype), views)
    return model, params, buffers


class _Collect:
    """Forward hooks for the batched forward that keep each hooked module's
    output (detached; `rows`: an MLP's activations, a resmlp's blocks; and
    every activation), stacked by `take` so that `torch.func.vmap` hands them
    back per slice.  `reduce` then turns all of them into the probe's
    statistics in a few calls over every layer of every member at once: one
    reduction per layer per statistic under vmap was most of a unit's time."""

    def __init__(self, rows: list[nn.Module], acts: list[nn.Module]) -> None:
        self.same = rows == acts
        self.rows = OutputStats(rows, lambda y: y.detach())
        self.acts = self.rows if self.same else OutputStats(acts, lambda y: y.detach())

    def take(self) -> dict[str, torch.Tensor]:
        out = {"rows": torch.stack(self.rows.stats)}
        if not self.same:
            out["acts"] = torch.stack(self.acts.stats)
        return out

    def remove(self) -> None:
        self.rows.remove()
        self.acts.remove()


def _reduce(out: dict[str, torch.Tensor], act: str) -> dict[str, torch.Tensor]:
    """The statistics `probes.signal_stats` gives std-trace, for (K, layers,
    batch, units) outputs: per member and row, the std and whether it is
    finite; per member, the worst layer's fraction of exact zeros and of dead
    units, and the last activation's saturated fraction where it saturates."""
    rows = out["rows"]
    acts = out.get("acts", rows)
    # eight layers at a time: the float64 temporaries of all of them at once
    # would be the largest thing a unit holds after its weights
    step = 8
    parts = [rows[:, j : j + step].flatten(2) for j in range(0, rows.shape[1], step)]
    zeros = [acts[:, j : j + step] == 0 for j in range(0, acts.shape[1], step)]
    stats = {
        "std": torch.cat([spread_rows(p) for p in parts], dim=1),
        "finite": torch.cat([torch.isfinite(p).all(dim=-1) for p in parts], dim=1),
        "zero_frac": torch.cat([z.flatten(2).double().mean(dim=-1) for z in zeros], dim=1).amax(dim=1),
        "dead_units": torch.cat([z.all(dim=2).double().mean(dim=-1) for z in zeros], dim=1).amax(dim=1),
    }
    if ACTIVATIONS[act].saturates:
        stats["saturated_frac"] = saturated(act, acts[:, -1]).flatten(1).double().mean(dim=-1)
    return stats


def _probe(nets: list[NetSpec]) -> list[SeedProbe]:
    """Forward and backward through K stacks of one seed and one shape at once:
    their parameters stacked (`_stacked`) and one model's forward mapped over
    them with `torch.func.vmap`, the probes' hooks included."""
    from torch.func import functional_call, vmap

    net0 = nets[0]
    device = resolve_device(net0.device)
    dtype = resolve_dtype(net0.dtype, device)
    x1 = input_batch(net0.seed, net0.batch_size, net0.width)
    x0 = x1.expand(len(nets), *x1.shape)
    model, params, buffers = _stacked(nets, x0, device, dtype)
    fcs = [name for name, _ in named_linears(model)]
    ends = (f"{fcs[0]}.weight", f"{fcs[-1]}.weight")  # only these gradients are read
    for key in ends:
        params[key].requires_grad_(True)
    rows = [m for m in model.modules() if isinstance(m, Block)] if net0.residual else activations(model)
    probe = _Collect(rows, activations(model))

    def forward(p: dict, b: dict, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return functional_call(model, (p, b), (x,)), probe.take()

    try:
        top, kept = vmap(forward, randomness="error")(params, buffers, x0.to(device, dtype))
    finally:
        probe.remove()
    out = _reduce(kept, net0.act)
    del kept
    cot = cotangent(net0.seed, (net0.batch_size, net0.width)).to(device, dtype)
    top.backward(cot.expand_as(top))
    g_first = params[ends[0]].grad.double().flatten(1).norm(dim=1)
    g_last = params[ends[1]].grad.double().flatten(1).norm(dim=1)

    bad = ~out["finite"]
    first_bad = torch.where(bad.any(dim=1), bad.double().argmax(dim=1) + 1, torch.zeros(len(nets))).long()
    in_std = x1.double().std(correction=0).item()
    final_sat = out["saturated_frac"].tolist() if "saturated_frac" in out else None
    std_rows, zero_max, dead_max = out["std"].tolist(), out["zero_frac"].tolist(), out["dead_units"].tolist()
    first, ratio = first_bad.tolist(), (g_first / g_last).tolist()
    return [
        SeedProbe(
            input_std=in_std,
            stds=std_rows[i],
            first_nonfinite=first[i] or None,
            grad_ratio=ratio[i],
            dead_units=dead_max[i],
            max_zero_frac=zero_max[i],
            final_saturated=None if final_sat is None else final_sat[i],
        )
        for i in range(len(nets))
    ]


def _train(cell: CellSpec, seed: int) -> tuple[float, float]:
    """Full-batch SGD on the toy task: (final train loss, dev accuracy), on one
    intra-op thread: a training's sums round differently with two threads than
    with one, and a unit must give the same bytes in a worker with one core as
    in a process with all of them (--workers spreads units over the cores)."""
    with one_thread():
        return _train_here(cell, seed)


def _train_here(cell: CellSpec, seed: int) -> tuple[float, float]:
    net = replace(cell.net, seed=seed)
    device = resolve_device(net.device)
    dtype = resolve_dtype(net.dtype, device)
    data = load_dataset(cell.dataset, seed)
    train, dev = data.train.to(device, dtype), data.dev.to(device, dtype)
    model = build_model(net, data.in_features, 1).to(device, dtype)
    fit_to_data(model, net, train.x)
    opt = SGD([{"params": list(model.parameters()), "lr": cell.lr}])
    for _ in range(cell.train_epochs):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(model(train.x), train.y).backward()
        opt.step()
    with torch.no_grad():
        loss = F.binary_cross_entropy_with_logits(model(train.x), train.y).item()
        accuracy = ((model(dev.x) >= 0).to(dev.y.dtype) == dev.y).double().mean().item()
    return loss, accuracy


# ---------------------------------------------------------------------------
# Units of work


def plan_units(cells: list[CellSpec], batched: bool = True) -> list[dict[str, Any]]:
    """The grid's units.  First the probes: per shape group (one activation),
    per seed, a unit per chunk of the group's cells (at most
    `init_compare_chunk` members stacked; one cell per unit without
    batching), so the chunks of a seed share its bases and an activation's
    cells finish together.  Then the training units, cell by cell and seed by
    seed, so that cells finish one after another during the long part and an
    interrupted grid keeps them.  The plan depends on the grid alone, never on
    the machine."""
    groups: dict[tuple, list[int]] = {}
    for i, cell in enumerate(cells):
        groups.setdefault(cell.shape_key if batched else ("alone", i), []).append(i)
    units = []
    for idx in groups.values():
        size = init_compare_chunk(cells[idx[0]].net)
        chunks = [idx[j : j + size] for j in range(0, len(idx), size)]
        for seed in dict.fromkeys(s for i in idx for s in cells[i].seeds):
            for chunk in chunks:
                mine = [i for i in chunk if seed in cells[i].seeds]
                if mine:
                    units.append(_unit("probe", seed, mine, cells))
    for i, cell in enumerate(cells):
        if cell.train_epochs > 0:
            units += [_unit("train", seed, [i], cells) for seed in cell.seeds]
    return units


def _unit(kind: str, seed: int, index: list[int], cells: list[CellSpec]) -> dict[str, Any]:
    """A unit carries its cells with its one seed only: the whole seed list in
    every unit made planning and shipping grow with the square of --seeds."""
    one = [replace(cells[i], seeds=(seed,), net=replace(cells[i].net, seed=seed)) for i in index]
    return {"kind": kind, "seed": seed, "index": index, "cells": [c.to_dict() for c in one]}


def run_unit(unit: dict[str, Any]) -> list[dict[str, Any]]:
    """One unit: plain data in, one plain dict per cell out (a probe's
    `SeedProbe` fields, or a training's loss and accuracy)."""
    cells = [CellSpec.from_dict(d) for d in unit["cells"]]
    seed = unit["seed"]
    if unit["kind"] == "probe":
        return [asdict(p) for p in _probe([replace(c.net, seed=seed) for c in cells])]
    loss, accuracy = _train(cells[0], seed)
    return [{"train_loss": loss, "dev_accuracy": accuracy}]


@dataclass
class GridRun:
    """What a (possibly interrupted) grid produced: per cell, its seeds' probes
    (None where not finished); `units_done` of `units`."""

    probes: list[list[SeedProbe | None]]
    units_done: int
    units: int

    def finished(self, i: int, cell: CellSpec) -> bool:
        return all(
            p is not None and (cell.train_epochs == 0 or p.dev_accuracy is not None) for p in self.probes[i]
        )


def run_grid(
    cells: list[CellSpec],
    batched: bool = True,
    executor: Executor = Executor(),
    on_unit: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> tuple[GridRun, bool]:
    """Run every unit of the grid on `executor`; (what finished, complete).
    Ctrl-C (KeyboardInterrupt) or `should_stop()` between units ends it early:
    nothing more runs, and what finished is kept."""
    units = plan_units(cells, batched)
    pos = {(i, s): j for i, cell in enumerate(cells) for j, s in enumerate(cell.seeds)}
    run = GridRun([[None] * len(c.seeds) for c in cells], 0, len(units))
    train_results: dict[tuple[int, int], dict[str, float]] = {}
    complete = True
    try:
        for u, out in run_units(run_unit, units, executor):
            unit = units[u]
            for i, res in zip(unit["index"], out, strict=True):
                key = (i, pos[(i, unit["seed"])])
                if unit["kind"] == "probe":
                    run.probes[i][key[1]] = SeedProbe(**res)
                else:
                    train_results[key] = res
            run.units_done += 1
            if on_unit is not None:
                on_unit(run.units_done, run.units)
            if should_stop() and run.units_done < run.units:
                complete = False
                break
    except KeyboardInterrupt:
        complete = False
    for (i, j), res in train_results.items():
        probe = run.probes[i][j]
        if probe is not None:
            probe.train_loss, probe.dev_accuracy = res["train_loss"], res["dev_accuracy"]
    return run, complete and run.units_done == run.units


def _spread(values: list[float]) -> Spread:
    """Mean and population std; nan and inf propagate (JSON then says where)."""
    with np.errstate(invalid="ignore", over="ignore"):
        a = np.asarray(values, dtype=np.float64)
        return Spread(float(a.mean()), float(a.std()) if len(a) > 1 else 0.0)


def _log_distance(ratio: float, target: float) -> float:
    """|log10(ratio / target)|: orders of magnitude from the target
    (DISTANCE_CAP where the ratio is 0 or not finite)."""
    if not (math.isfinite(ratio) and ratio > 0):
        return DISTANCE_CAP
    return min(abs(math.log10(ratio / target)), DISTANCE_CAP)


def seed_score(p: SeedProbe, target: Target) -> float:
    """One seed's score, lower is better: 1 - dev accuracy when trained; else
    how far final/input std is from the target the theory gives a healthy
    stack of this activation, plus how far the first/last weight-gradient
    ratio is from 1 (orders of magnitude each)."""
    if p.dev_accuracy is not None:
        return 1.0 - p.dev_accuracy
    ratio = p.stds[-1] / p.input_std if p.input_std > 0 else math.nan
    return _log_distance(ratio, target.std_ratio) + _log_distance(p.grad_ratio, target.grad_ratio)


def _conclude(cell: CellSpec, probes: list[SeedProbe], target: Target) -> CellResult:
    per_seed = []
    for p in probes:
        ratio = p.stds[-1] / p.input_std if p.input_std > 0 else math.nan
        per_seed.append(
            signal_verdicts(
                ratio, p.first_nonfinite is not None, p.max_zero_frac, p.final_saturated,
                cell.explode_ratio, cell.vanish_ratio, cell.dead_frac,
            )
        )  # fmt: skip
    # the cell's verdict: the most severe one that holds for at least half the seeds
    half = len(probes) / 2
    held = [v for v in STD_TRACE_VERDICTS if sum(v in vs for vs in per_seed) >= half and v != "stable"]
    order = ("nonfinite", "dead", "exploding", "vanishing", "saturated")
    verdict = min(held, key=order.index) if held else "stable"
    nonfinite = [p.first_nonfinite for p in probes if p.first_nonfinite is not None]
    sats = [p.final_saturated for p in probes]
    trained = probes[0].dev_accuracy is not None
    scores = [seed_score(p, target) for p in probes]
    return CellResult(
        init=cell.net.init,
        act=cell.net.act,
        seeds=list(cell.seeds),
        gain=cell.net.gain,
        final_std=_spread([p.stds[-1] for p in probes]),
        std_ratio=_spread([p.stds[-1] / p.input_std for p in probes]),
        std_per_layer=np.asarray([p.stds for p in probes]).mean(axis=0).tolist(),
        first_nonfinite_layer=min(nonfinite) if nonfinite else None,
        nonfinite_seeds=len(nonfinite),
        grad_ratio=_spread([p.grad_ratio for p in probes]),
        dead_frac=_spread([p.dead_units for p in probes]),
        saturated_frac=None if sats[0] is None else _spread(sats),
        train_loss=_spread([p.train_loss for p in probes]) if trained else None,
        dev_accuracy=_spread([p.dev_accuracy for p in probes]) if trained else None,
        verdict=verdict,
        verdicts=sorted({v for vs in per_seed for v in vs}, key=STD_TRACE_VERDICTS.index),
        score=_spread(scores),
        scores=scores,
    )


# ---------------------------------------------------------------------------
# The target and the ranking


def settle_target(net: NetSpec) -> Target:
    """What final/input std a healthy stack of this activation settles at, by
    the mean-field theory: the stack with kaiming-normal weights at the
    activation's fixed-point gain (1 / sqrt(E[f(z)^2]), the gain that keeps a
    unit pre-activation variance), this cell's bias, depth and width, fed the
    N(0, 1) input.  ReLU's is 0.83 (half-rectified outputs have a mean), tanh's
    0.63, sigmoid's 0.21: the std ratio of 1 is a linear stack's target, not
    theirs.  A residual stack's target is 1.  The gradient target stays 1:
    equal weight-gradient norms at the first and the last layer (for tanh the
    reference stack itself, at gain 1.59 in the chaotic phase, has a gradient
    ratio near 13 at 50 layers, so the two targets are not one stack's)."""
    from nninit_cli.band import Pairs
    from nninit_cli.theory import bias_terms, fixed_point_gain, predict_stack

    if net.residual:
        # a plain residual stream's variance grows with every block (x2 per
        # block for relu): no stack of blocks "settles"; a healthy one keeps
        # the scale it was given
        return Target(1.0, 1.0, "a residual stream keeps its scale: 1")
    gain = fixed_point_gain(net.act, net.negative_slope)
    ref = replace(net, init="kaiming-normal", gain=gain, fan_mode="fan_in")
    beta, var_b = bias_terms(ref, net.width)
    preds = predict_stack(
        net.act,
        net.negative_slope,
        gain * gain,
        beta,
        var_b,
        1.0,
        Pairs(0.0, 0.0),
        net.layers,
        net.width,
        net.batch_size,
        with_band=False,
    )
    std = preds[-1].std if preds else None
    if std is None or not math.isfinite(std) or std <= 0:
        return Target(1.0, 1.0, "none: the theory has no finite value here, so the target is 1")
    return Target(std, 1.0, f"mean field, kaiming-normal at the fixed-point gain {gain:.3f}")


def _tier(cell: CellResult) -> int:
    """Stable cells first, then vanishing / exploding / saturated, broken last."""
    return 0 if cell.verdict == "stable" else 2 if cell.verdict in ("nonfinite", "dead") else 1


def pair_test(a: CellResult, b: CellResult, alpha: float) -> PairTest:
    """a against b on the same seeds: a's wins, b's wins and ties per seed, the
    mean paired difference of scores (a - b; below 0: a is better) with its
    two-sided paired t-test, and the exact sign test beside it (which decides
    where every seed gives the same difference: a t-test needs a spread, and
    two seeds agreeing on a stepped score such as accuracy prove little).  Different
    tiers are ordered by tier, without a test."""
    d = [x - y for x, y in zip(a.scores, b.scores, strict=True)]
    wins_a, wins_b = sum(v < 0 for v in d), sum(v > 0 for v in d)
    mean = sum(d) / len(d)
    sign_p = stats.sign_test(wins_a, wins_b)
    if _tier(a) != _tier(b):
        p, reason = 0.0, "tier"
    elif len(d) < 2:
        p, reason = 1.0, "one seed"
    else:
        sd = math.sqrt(sum((v - mean) ** 2 for v in d) / (len(d) - 1))
        if sd == 0.0:  # the same difference on every seed: no t; the sign test decides
            p, reason = (1.0 if mean == 0.0 else sign_p), "no spread: sign test"
        else:
            t = mean / (sd / math.sqrt(len(d)))
            p, reason = 1.0 - stats.t_cdf_two_sided(abs(t), len(d) - 1), "paired t"
    better = None
    if p < alpha or reason == "tier":
        better = a.init if (_tier(a), mean) < (_tier(b), 0.0) else b.init
    return PairTest(
        act=a.act,
        a=a.init,
        b=b.init,
        wins_a=wins_a,
        wins_b=wins_b,
        ties=len(d) - wins_a - wins_b,
        mean_diff=mean,
        p_value=p,
        sign_p=sign_p,
        test=reason,
        better=better,
    )


def rank(cells: list[CellResult], alpha: float = 0.05) -> tuple[list[CellResult], list[PairTest]]:
    """Rank the cells of each activation: a cell's rank is 1 + the number of
    cells of its activation that are significantly better (`pair_test` at
    `alpha`), so cells no test can tell apart share a rank.  Every pair of an
    activation's cells is tested; no correction for the number of pairs."""
    ranks: dict[int, int] = {}
    pairs: list[PairTest] = []
    for act in dict.fromkeys(c.act for c in cells):
        idx = [i for i, c in enumerate(cells) if c.act == act]
        beaten = {i: 0 for i in idx}
        for n, i in enumerate(idx):
            for j in idx[n + 1 :]:
                test = pair_test(cells[i], cells[j], alpha)
                pairs.append(test)
                if test.better is not None:
                    beaten[j if test.better == cells[i].init else i] += 1
        for i in idx:
            ranks[i] = 1 + beaten[i]
    shared = {(c.act, ranks[i]) for i, c in enumerate(cells)}
    counts = {key: sum((c.act, ranks[i]) == key for i, c in enumerate(cells)) for key in shared}
    out = [replace(c, rank=ranks[i], tied=counts[(c.act, ranks[i])] > 1) for i, c in enumerate(cells)]
    return out, pairs


def run_init_compare(
    spec: CompareSpec,
    executor: Executor = Executor(),
    on_unit: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> CompareResult:
    """The grid of `spec`, ranked.  Interrupted, it holds the cells whose every
    seed finished, ranked among themselves, and `complete` is False."""
    cells = list(spec.cells)
    run, complete = run_grid(cells, spec.batched, executor, on_unit, should_stop)
    targets = {act: settle_target(c.net) for act, c in {c.net.act: c for c in cells}.items()}
    done = [
        _conclude(cell, run.probes[i], targets[cell.net.act])  # type: ignore[arg-type]
        for i, cell in enumerate(cells)
        if run.finished(i, cell)
    ]
    ranked, pairs = rank(done, spec.alpha)
    return CompareResult(
        config=spec.to_dict(),
        inits=list(spec.inits),
        acts=list(spec.acts),
        cells=ranked,
        pairs=pairs,
        targets=targets,
        complete=complete,
        cells_total=len(cells),
    )
