"""`grad-norms`: per-parameter gradient norms, vanishing gradients and dead ReLUs
(experiments E3 and E4).

Step k reads the gradient of the model as it is after k - 1 updates: the
gradient is recorded first, then the optimiser steps, and the last recorded
gradient needs no update after it.  So `--steps 1` builds no optimiser at all
(the first torch.optim optimiser of a process imports torch._dynamo, about 1.4 s),
and dev accuracy is that of the model whose last gradient was recorded.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nninit_cli.data.datasets import Dataset, Split, load_dataset
from nninit_cli.model.builder import Branch, activations, build_model, fit_to_data, named_linears
from nninit_cli.model.torchenv import resolve_device, resolve_dtype
from nninit_cli.probes import dead_units, grad_norms
from nninit_cli.results import GradNormsResult, GradRun, ParamGrads
from nninit_cli.specs import GradNormsSpec, NetSpec


def run_grad_norms(spec: GradNormsSpec) -> GradNormsResult:
    """One run per activation, all on the same data and the same seed."""
    data = load_dataset(spec.dataset, spec.nets[0].seed, noise=spec.noise)
    return GradNormsResult(config=spec.to_dict(), runs=[_run(spec, net, data) for net in spec.nets])


def _batch(train: Split, step: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Full batch by default; otherwise consecutive slices, wrapping around."""
    n = len(train)
    if size >= n:
        return train.x, train.y
    idx = torch.arange(step * size, (step + 1) * size, device=train.x.device) % n
    return train.x[idx], train.y[idx]


def _run(spec: GradNormsSpec, net: NetSpec, data: Dataset) -> GradRun:
    device = resolve_device(net.device)
    dtype = resolve_dtype(net.dtype, device)
    model = build_model(net, data.in_features, 1).to(device, dtype)
    train, dev = data.train.to(device, dtype), data.dev.to(device, dtype)
    fit_to_data(model, net, train.x)
    named = list(model.named_parameters())
    optimiser = torch.optim.SGD(model.parameters(), lr=spec.lr) if spec.steps > 1 else None

    per_step: list[list[float | None]] = []
    ever_nonzero = [torch.zeros_like(p, dtype=torch.bool) for _, p in named]
    losses: list[float] = []
    for step in range(spec.steps):
        model.zero_grad(set_to_none=True)
        x, y = _batch(train, step, net.batch_size)
        loss = F.binary_cross_entropy_with_logits(model(x), y)  # = sigmoid output + BCE
        loss.backward()
        norms, _ = grad_norms(model, count=False)
        per_step.append(norms)
        for seen, (_, p) in zip(ever_nonzero, named, strict=True):
            if p.grad is not None:
                seen |= p.grad != 0
        losses.append(loss.item())
        if optimiser is not None and step < spec.steps - 1:
            optimiser.step()

    params = [
        ParamGrads(
            name=name,
            shape=tuple(p.shape),
            grad_norm_per_step=[norms[i] for norms in per_step],
            zero_frac=1.0 - ever_nonzero[i].double().mean().item(),
        )
        for i, (name, p) in enumerate(named)
    ]
    dead, accuracy = _evaluate(model, train, dev)
    fcs = [name for name, _ in named_linears(model)]
    ends = (f"{fcs[0]}.weight", f"{fcs[-1]}.weight")
    return _judge(spec, net, params, dead, losses, accuracy, ends, _gated(model))


def _gated(model: nn.Module) -> frozenset[str]:
    """Parameters of residual branches whose SkipInit gate starts at 0."""
    out = set()
    for prefix, module in model.named_modules():
        if isinstance(module, Branch) and hasattr(module, "skip"):
            out |= {f"{prefix}.{n}" for n, _ in module.named_parameters() if not n.startswith("skip.")}
    return frozenset(out)


@torch.no_grad()
def _evaluate(model: nn.Module, train: Split, dev: Split) -> tuple[list[float], float]:
    with dead_units(activations(model)) as probe:
        model(train.x)
    accuracy = ((model(dev.x) >= 0).to(dev.y.dtype) == dev.y).double().mean().item()
    return [0.0 if s is None else s["dead_units"].item() for s in probe.stats], accuracy


def _judge(
    spec: GradNormsSpec,
    net: NetSpec,
    params: list[ParamGrads],
    dead: list[float],
    losses: list[float],
    accuracy: float,
    ends: tuple[str, str],
    gated: frozenset[str] = frozenset(),
) -> GradRun:
    by_name = {p.name: p for p in params}
    # the ratio is read at step 1, the model as initialised; later steps only add
    # the inf/nan check below (the table shows step 1 and step N side by side)
    first, last = by_name[ends[0]].grad_norm, by_name[ends[1]].grad_norm
    ratio = first / last if first is not None and last else None
    verdicts = []
    # a branch behind a closed SkipInit gate gets exactly no gradient by design
    weights = [p for p in params if p.name.endswith(".weight") and p.name not in gated]
    if any(p.zero_frac == 1.0 for p in weights) or any(f >= spec.dead_frac for f in dead):
        verdicts.append("dead")
    blew_up = not all(math.isfinite(v) for v in losses) or any(
        g is not None and not math.isfinite(g) for p in params for g in p.grad_norm_per_step
    )
    if blew_up or (ratio is not None and ratio > spec.explode_ratio):
        verdicts.append("exploding")  # a ratio above the threshold, or inf/nan on the way
    if ratio is not None and ratio < spec.vanish_ratio:
        verdicts.append("vanishing")
    if not verdicts:
        verdicts.append("healthy")
    return GradRun(
        act=net.act,
        params=params,
        dead_units=dead,
        loss_per_step=losses,
        dev_accuracy=accuracy,
        grad_ratio=ratio,
        verdict=verdicts[0],
        verdicts=verdicts,
    )
