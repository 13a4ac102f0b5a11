"""`init-compare`: which initialiser for this activation and depth?

A grid of cells (one initialiser x one activation, over several seeds).  Each
cell probes the same stack std-trace builds (width x width layers, the seed's
N(0, 1) input batch, a random N(0, 1) gradient fed in at the top: the very
streams std-trace --backward uses) and, with train_epochs > 0, trains the MLP
on a toy task.

Batching: all (cell, seed) pairs that share a shape go through the stack
together, as K stacked weight matrices and batched matmuls; the K slices never
mix, so `run_cell` on one cell and `run_cells` on a whole grid give the same
numbers (to float rounding).  A cell is plain data in and out (`CellSpec`,
`CellResult`), so a grid can be spread over any engine that maps a function
over items; nothing here schedules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nninit_cli.data.datasets import load_dataset
from nninit_cli.experiments.std_trace import signal_verdicts
from nninit_cli.model.acts import saturated
from nninit_cli.model.builder import (
    Block,
    activations,
    build,
    build_model,
    fit_to_data,
    materialise,
    named_linears,
)
from nninit_cli.model.torchenv import generator, resolve_device, resolve_dtype
from nninit_cli.probes import OutputStats, signal_stats
from nninit_cli.registry import ACTIVATIONS
from nninit_cli.results import STD_TRACE_VERDICTS, CellResult, CompareResult, Spread
from nninit_cli.specs import CellSpec, CompareSpec, NetSpec


@dataclass
class _SeedProbe:
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


def _per_slice_std(t: torch.Tensor) -> torch.Tensor:
    return t.double().flatten(1).std(dim=1, correction=0)


def member_model(net: NetSpec, x0: torch.Tensor, device: torch.device, dtype: torch.dtype) -> nn.Module:
    """One (cell, seed) stack exactly as std-trace builds it: the builder's
    stack form, drawn from the seed's weight stream, LSUV fitted on its own
    input batch."""
    model = materialise(build(net), net, device, dtype)
    fit_to_data(model, net, x0.to(device, dtype))
    return model


def _stacked(
    nets: list[NetSpec], x0: torch.Tensor, device: torch.device, dtype: torch.dtype
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The parameters and buffers of K member models, stacked along a new first
    dimension (`torch.func.stack_module_state`'s layout), filled one member at
    a time so that only one whole model exists besides the stack."""
    params: dict[str, torch.Tensor] = {}
    buffers: dict[str, torch.Tensor] = {}
    for i, net in enumerate(nets):
        model = member_model(net, x0[i], device, dtype)
        for store, named in ((params, model.named_parameters()), (buffers, model.named_buffers())):
            for name, t in named:
                if name not in store:
                    store[name] = torch.empty((len(nets), *t.shape), device=t.device, dtype=t.dtype)
                store[name][i] = t.detach()
    return params, buffers


class _Collect:
    """Probes for the batched forward: each hooked module's `signal_stats`,
    kept as tensors so that `torch.func.vmap` hands them back per slice."""

    def __init__(self, rows: list[nn.Module], acts: list[nn.Module], act: str) -> None:
        sat = (lambda y: saturated(act, y)) if ACTIVATIONS[act].saturates else None
        self.rows = OutputStats(rows, signal_stats)
        self.acts = OutputStats(acts, lambda y: signal_stats(y, sat))

    def take(self) -> dict[str, torch.Tensor]:
        rows, acts = self.rows.stats, self.acts.stats
        last = acts[-1]
        out = {
            "std": torch.stack([s["std"] for s in rows]),
            "finite": torch.stack([s["finite"] for s in rows]),
            "zero_frac": torch.stack([s["zero_frac"] for s in acts]).max(),
            "dead_units": torch.stack([s["dead_units"] for s in acts]).max(),
        }
        if "saturated_frac" in last:
            out["saturated_frac"] = last["saturated_frac"]
        return out

    def remove(self) -> None:
        self.rows.remove()
        self.acts.remove()


def _probe(cells: list[CellSpec]) -> list[list[_SeedProbe]]:
    """Forward and backward through K = sum(len(cell.seeds)) stacks at once:
    K models from the builder, their parameters stacked, and one model's
    forward mapped over them with `torch.func.vmap`, the probes' hooks
    included.  Every cell must share `shape_key`."""
    from torch.func import functional_call, vmap

    net0 = cells[0].net
    device = resolve_device(net0.device)
    dtype = resolve_dtype(net0.dtype, device)
    members = [(c, s) for c, cell in enumerate(cells) for s in cell.seeds]
    nets = [replace(cells[c].net, seed=s) for c, s in members]
    x0 = torch.stack([input_batch(n.seed, n.batch_size, n.width) for n in nets])
    params, buffers = _stacked(nets, x0, device, dtype)
    base = build(net0)  # on the meta device: the shape the stacked tensors fill
    fcs = [name for name, _ in named_linears(base)]
    ends = (f"{fcs[0]}.weight", f"{fcs[-1]}.weight")  # only these gradients are read
    for key in ends:
        params[key].requires_grad_(True)
    rows = [m for m in base.modules() if isinstance(m, Block)] if net0.residual else activations(base)
    probe = _Collect(rows, activations(base), net0.act)

    def forward(p: dict, b: dict, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return functional_call(base, (p, b), (x,)), probe.take()

    try:
        top, stats = vmap(forward, randomness="error")(params, buffers, x0.to(device, dtype))
    finally:
        probe.remove()
    cot = torch.stack([cotangent(n.seed, (n.batch_size, n.width)) for n in nets]).to(device, dtype)
    top.backward(cot)
    g_first = params[ends[0]].grad.double().flatten(1).norm(dim=1)
    g_last = params[ends[1]].grad.double().flatten(1).norm(dim=1)

    bad = ~stats["finite"]
    first_bad = torch.where(bad.any(dim=1), bad.double().argmax(dim=1) + 1, torch.zeros(len(nets))).long()
    in_std = _per_slice_std(x0).tolist()
    std_rows = stats["std"].tolist()
    zero_max = stats["zero_frac"].tolist()
    dead_max = stats["dead_units"].tolist()
    final_sat = stats["saturated_frac"].tolist() if "saturated_frac" in stats else None
    first = first_bad.tolist()
    ratio = (g_first / g_last).tolist()
    out: list[list[_SeedProbe]] = [[] for _ in cells]
    for i, (c, _) in enumerate(members):
        out[c].append(
            _SeedProbe(
                input_std=in_std[i],
                stds=std_rows[i],
                first_nonfinite=first[i] or None,
                grad_ratio=ratio[i],
                dead_units=dead_max[i],
                max_zero_frac=zero_max[i],
                final_saturated=None if final_sat is None else final_sat[i],
            )
        )
    return out


def _train(cell: CellSpec, seed: int) -> tuple[float, float]:
    """Full-batch SGD on the toy task: (final train loss, dev accuracy)."""
    net = replace(cell.net, seed=seed)
    device = resolve_device(net.device)
    dtype = resolve_dtype(net.dtype, device)
    data = load_dataset(cell.dataset, seed)
    train, dev = data.train.to(device, dtype), data.dev.to(device, dtype)
    model = build_model(net, data.in_features, 1).to(device, dtype)
    fit_to_data(model, net, train.x)
    opt = torch.optim.SGD(model.parameters(), lr=cell.lr)
    for _ in range(cell.train_epochs):
        opt.zero_grad(set_to_none=True)
        F.binary_cross_entropy_with_logits(model(train.x), train.y).backward()
        opt.step()
    with torch.no_grad():
        loss = F.binary_cross_entropy_with_logits(model(train.x), train.y).item()
        accuracy = ((model(dev.x) >= 0).to(dev.y.dtype) == dev.y).double().mean().item()
    return loss, accuracy


def _spread(values: list[float]) -> Spread:
    """Mean and population std; nan and inf propagate (JSON then says where)."""
    with np.errstate(invalid="ignore", over="ignore"):
        a = np.asarray(values, dtype=np.float64)
        return Spread(float(a.mean()), float(a.std()) if len(a) > 1 else 0.0)


def _conclude(cell: CellSpec, probes: list[_SeedProbe]) -> CellResult:
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
    )


def run_cells(cells: list[CellSpec], batched: bool = True) -> list[CellResult]:
    """Results for `cells`, in order.  Batched: cells sharing a shape go through
    one stacked probe; otherwise every (cell, seed) runs alone."""
    probes: dict[int, list[_SeedProbe]] = {}
    if batched:
        groups: dict[tuple, list[int]] = {}
        for i, cell in enumerate(cells):
            groups.setdefault(cell.shape_key, []).append(i)
        for idx in groups.values():
            for i, p in zip(idx, _probe([cells[i] for i in idx]), strict=True):
                probes[i] = p
    else:
        for i, cell in enumerate(cells):
            probes[i] = [_probe([replace(cell, seeds=(s,))])[0][0] for s in cell.seeds]
    for i, cell in enumerate(cells):
        if cell.train_epochs > 0:
            for p, seed in zip(probes[i], cell.seeds, strict=True):
                p.train_loss, p.dev_accuracy = _train(cell, seed)
    return [_conclude(cell, probes[i]) for i, cell in enumerate(cells)]


def run_cell(cell: CellSpec) -> CellResult:
    """One cell: a function from plain data to plain data."""
    return run_cells([cell])[0]


def _rank_key(cell: CellResult) -> tuple[float, ...]:
    if cell.dev_accuracy is not None:
        return (-cell.dev_accuracy.mean, cell.train_loss.mean)
    tier = 0 if cell.verdict == "stable" else 2 if cell.verdict in ("nonfinite", "dead") else 1
    return (tier, _log_distance(cell.std_ratio.mean) + _log_distance(cell.grad_ratio.mean))


def _log_distance(ratio: float) -> float:
    """|log10 ratio|: how many orders of magnitude from 1 (inf if 0 or not finite)."""
    return abs(math.log10(ratio)) if math.isfinite(ratio) and ratio > 0 else math.inf


def rank(cells: list[CellResult]) -> list[CellResult]:
    """Rank the cells of each activation: by dev accuracy when trained; else
    stable cells first, then vanishing / exploding / saturated ones, non-finite
    and dead ones last, and within each tier by how far final/input std and
    first/last gradient norm are from 1 (orders of magnitude, summed)."""
    ranks: dict[int, int] = {}
    for act in dict.fromkeys(c.act for c in cells):
        idx = [i for i, c in enumerate(cells) if c.act == act]
        for r, i in enumerate(sorted(idx, key=lambda i: _rank_key(cells[i])), start=1):
            ranks[i] = r
    return [replace(c, rank=ranks[i]) for i, c in enumerate(cells)]


def run_init_compare(spec: CompareSpec) -> CompareResult:
    cells = rank(run_cells(list(spec.cells), spec.batched))
    return CompareResult(config=spec.to_dict(), inits=list(spec.inits), acts=list(spec.acts), cells=cells)
