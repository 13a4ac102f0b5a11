"""The small lessons: gains (E6), activations and their derivatives (E7), and
the distributions initialisers draw from (E1's histograms).  Each is a
function from a spec to plain data."""

from __future__ import annotations

import math
from typing import Any

import torch

from nninit_cli import registry
from nninit_cli.model.acts import torch_act
from nninit_cli.model.inits import LayerBase, init_weight
from nninit_cli.model.torchenv import generator
from nninit_cli.specs import ActivationsSpec, GainSpec, InitHistSpec, NetSpec
from nninit_cli.theory import fixed_point_gain

SATURATION_SLOPE = 0.01  # |f'(x)| below this: the activation is saturated at x


def run_gain(spec: GainSpec) -> dict[str, Any]:
    """Per activation: torch's calculate_gain (None where torch has none); the
    seed's estimate std(x) / std(f(x)) on `samples` N(0, 1) draws, as mean and
    standard error over `repeats` independent batches; and the fixed-point gain
    1 / sqrt(E[f(z)^2])."""
    rows = []
    for act in spec.acts:
        f = torch_act(act, spec.negative_slope)
        gen = generator(spec.seed, f"gain:{act}")
        estimates = []
        for _ in range(spec.repeats):
            x = torch.randn(spec.samples, generator=gen, dtype=torch.float64)
            estimates.append((x.std() / f(x).std()).item())
        mean = sum(estimates) / len(estimates)
        spread = (
            math.sqrt(sum((e - mean) ** 2 for e in estimates) / (len(estimates) - 1))
            if len(estimates) > 1
            else 0.0
        )
        rows.append(
            {
                "act": act,
                "torch_gain": registry.torch_gain(act, spec.negative_slope),
                "empirical": {"mean": mean, "se": spread / math.sqrt(len(estimates))},
                "fixed_point_gain": fixed_point_gain(act, spec.negative_slope),
            }
        )
    return {"acts": rows}


def _intervals(x: list[float], flags: list[bool], step: float) -> list[list[float]]:
    """Runs of True in `flags` as [first x, last x] intervals."""
    out: list[list[float]] = []
    for xi, on in zip(x, flags, strict=True):
        if on and out and abs(xi - out[-1][1] - step) < step / 2:
            out[-1][1] = xi
        elif on:
            out.append([xi, xi])
    return out


def run_activations(spec: ActivationsSpec) -> dict[str, Any]:
    """Values and autograd derivatives on the grid [min, max) by step (the
    seed's torch.arange(-8.0, 8.0, 0.1)), the largest derivative and where it
    occurs, and where the activation saturates (|f'| < 0.01)."""
    x = torch.arange(spec.min, spec.max, spec.step, dtype=torch.float64)
    points = [p for p in (-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0) if spec.min <= p < spec.max]
    rows = []
    for act in spec.acts:
        xs = x.clone().requires_grad_(True)
        y = torch_act(act, spec.negative_slope)(xs)
        y.sum().backward()
        dy = xs.grad
        at = torch.tensor(points, dtype=torch.float64, requires_grad=True)
        ya = torch_act(act, spec.negative_slope)(at)
        ya.sum().backward()
        k = int(torch.argmax(dy))
        grid = [round(v, 12) for v in x.tolist()]
        rows.append(
            {
                "act": act,
                "points": [
                    {"x": p, "y": v, "dy": d}
                    for p, v, d in zip(points, ya.tolist(), at.grad.tolist(), strict=True)
                ],
                "max_derivative": dy[k].item(),
                "argmax_x": 0.0 if abs(grid[k]) < spec.step / 2 else grid[k],
                "saturated": _intervals(grid, (dy.abs() < SATURATION_SLOPE).tolist(), spec.step),
                "x": grid,
                "y": y.detach().tolist(),
                "dy": dy.tolist(),
            }
        )
    return {"acts": rows}


def theory_moments(net: NetSpec, fan_in: int, fan_out: int) -> tuple[float | None, float | None]:
    """Mean and std a weight of this initialiser has, from its formula (its record)."""
    return registry.INITS[net.init].weight_moments(net, fan_in, fan_out)


def run_init_hist(spec: InitHistSpec) -> dict[str, Any]:
    """`samples` weights from each initialiser, drawn as (fan_out, fan_in)
    matrices (bases `sample0`, `sample1`, ... of the seed), with their histogram."""
    rows = []
    per = spec.fan_in * spec.fan_out
    for net in spec.nets:
        shape = (spec.fan_out, spec.fan_in)
        mats = [
            init_weight(torch.empty(shape), net, LayerBase(net.seed, f"sample{i}", shape))
            for i in range(-(-spec.samples // per))
        ]
        w = torch.cat([m.flatten() for m in mats])[: spec.samples].double()
        lo, hi = w.min().item(), w.max().item()
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        counts = torch.histc(w, bins=spec.bins, min=lo, max=hi)
        mean, std = theory_moments(net, spec.fan_in, spec.fan_out)
        rows.append(
            {
                "init": net.init,
                "gain": net.gain,
                "samples": spec.samples,
                "mean": w.mean().item(),
                "std": w.std(correction=0).item(),
                "theory_mean": mean,
                "theory_std": std,
                "histogram": {"min": lo, "max": hi, "counts": [int(c) for c in counts.tolist()]},
            }
        )
    return {"inits": rows}


__all__ = ["run_gain", "run_activations", "run_init_hist"]
