"""`nninit coord-check`: does a parametrisation keep every layer's activations
the same size as the model widens (Yang & Hu 2021; mup's coordinate check)?

For each seed and width: the model (`build`, task form) is drawn from the
seed's weight stream, rescaled by the parametrisation's rules for its width
(`nninit_cli.parametrisations`) and trained `steps` steps on batches from the
seed's batch stream, the same batches at every width.  Before each step and
after the last, forward hooks on the probed layers (each Linear of an MLP; the
stem, every block and the head of a resmlp) take the mean |activation| on the
first batch, and its mean distance from the step-0 activation.  The slope of
log size against log width, per seed, says how each size scales with width.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nninit_cli.data.datasets import Dataset, load_dataset
from nninit_cli.model.builder import Block, build, materialise
from nninit_cli.model.torchenv import generator, resolve_device, resolve_dtype
from nninit_cli.optim import SGD, Adam
from nninit_cli.parametrisations import PARAMETRISATIONS, Parametrisation
from nninit_cli.probes import Hooks
from nninit_cli.results import CoordCheckResult, CoordLayer, CoordStep, Slope
from nninit_cli.specs import CoordCheckSpec
from nninit_cli.stats import loglog_slope, pooled_intervals

CI_LEVEL = 0.90  # two-sided; each end is a one-sided 95% bound


def probed(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The layers whose outputs are measured, in forward order: the model's own
    Linear and Block children (an MLP's fc1..fcN; a resmlp's stem, blocks, head)."""
    return [(n, m) for n, m in model.named_children() if isinstance(m, nn.Linear | Block)]


def linear_roles(model: nn.Module) -> dict[str, str]:
    """Each Linear's role in the parametrisation, by module name: the first
    reads the data (input), the last writes the outputs (output), every one
    between maps width to width (hidden; a resmlp's branch Linears)."""
    return roles([n for n, m in model.named_modules() if isinstance(m, nn.Linear)])


def roles(names: list[str]) -> dict[str, str]:
    """First, last and the rest of `names` in forward order: input, output, hidden."""
    return {
        n: "input" if i == 0 else "output" if i == len(names) - 1 else "hidden" for i, n in enumerate(names)
    }


class Multipliers(Hooks):
    """The forward multipliers: a Linear with multiplier c computes (c W) x + b,
    done as W (c x) + b by scaling its input, so the bias is left alone and the
    gradient of W carries the factor as the parametrisation defines it."""

    def __init__(self, model: nn.Module, factors: dict[str, float]) -> None:
        super().__init__()
        modules = dict(model.named_modules())
        for name, c in factors.items():
            if c != 1.0:
                self._handles.append(modules[name].register_forward_pre_hook(_scale_input(c)))


def _scale_input(c: float) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], tuple[torch.Tensor, ...]]:
    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return (inputs[0] * c, *inputs[1:])

    return hook


class Sizes(Hooks):
    """Forward hooks that keep each probed layer's output of the last pass."""

    def __init__(self, layers: list[tuple[str, nn.Module]]) -> None:
        super().__init__()
        self.out: dict[str, torch.Tensor] = {}
        for name, module in layers:
            self._handles.append(module.register_forward_hook(self._keeper(name)))

    def _keeper(self, name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
            self.out[name] = output.detach()

        return hook


def rules_applied(spec: CoordCheckSpec) -> list[dict[str, object]]:
    """The parametrisation as this run applies it: per kind of parameter, the
    exponents of m = width / base width and the factors at the widest width."""
    p = PARAMETRISATIONS[spec.param]
    m = max(spec.widths) / spec.base_width
    rows: list[dict[str, object]] = []
    for role in ("input", "hidden", "output"):
        r = p.rules[role]
        lr = p.lr_exponent(role, spec.optimizer)
        zero = role == "output" and spec.zero_readout
        rows.append(
            {
                "kind": f"{role} weights",
                "init_exponent": None if zero else r.init,
                "multiplier_exponent": r.mult,
                "lr_exponent": lr,
                "init_factor_at_widest": 0.0 if zero else m**r.init,
                "multiplier_at_widest": m**r.mult,
                "lr_at_widest": spec.lr * m**lr,
            }
        )
    for kind, scales in (("biases and norm gains", True), ("output bias", False)):
        lr = p.vector_lr_exponent(scales, spec.optimizer)
        rows.append(
            {
                "kind": kind,
                "init_exponent": 0.0,
                "multiplier_exponent": 0.0,
                "lr_exponent": lr,
                "init_factor_at_widest": 1.0,
                "multiplier_at_widest": 1.0,
                "lr_at_widest": spec.lr * m**lr,
            }
        )
    return rows


def _param_groups(model: nn.Module, p: Parametrisation, m: float, spec: CoordCheckSpec) -> list[dict]:
    """One optimiser group per parameter, with its learning rate for this width."""
    kinds = linear_roles(model)
    groups = []
    for name, module in model.named_modules():
        for pname, param in module.named_parameters(recurse=False):
            if isinstance(module, nn.Linear) and pname == "weight":
                e = p.lr_exponent(kinds[name], spec.optimizer)
            elif isinstance(module, nn.Linear):  # its bias: fan-out is the width unless it is the output
                e = p.vector_lr_exponent(kinds[name] != "output", spec.optimizer)
            elif param.dim() == 0:  # SkipInit's gate: a scalar, nothing scales
                e = 0.0
            else:  # norm gains and shifts: vectors of the width
                e = p.vector_lr_exponent(True, spec.optimizer)
            groups.append({"params": [param], "lr": spec.lr * m**e})
    return groups


def _model(spec: CoordCheckSpec, data: Dataset, width: int, seed: int, device, dtype):
    """The model at `width` for `seed`, rescaled by the parametrisation, with
    its optimiser and its forward multipliers (a Hooks to enter)."""
    net = spec.at_width(width, seed)
    p = PARAMETRISATIONS[spec.param]
    m = width / spec.base_width
    model = materialise(build(net, data.in_features, data.out_features), net)
    kinds = linear_roles(model)
    modules = dict(model.named_modules())
    with torch.no_grad():
        for name, role in kinds.items():
            weight = modules[name].weight
            if role == "output" and spec.zero_readout:
                weight.zero_()
            elif p.rules[role].init != 0:
                weight.mul_(m ** p.rules[role].init)
    model = model.to(device, dtype)
    factors = {name: m ** p.rules[role].mult for name, role in kinds.items()}
    groups = _param_groups(model, p, m, spec)
    opt = SGD(groups) if spec.optimizer == "sgd" else Adam(groups)
    return model, opt, Multipliers(model, factors)


def _loss(data: Dataset) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return F.cross_entropy if data.task == "multiclass" else F.binary_cross_entropy_with_logits


def _one_run(spec: CoordCheckSpec, data: Dataset, width: int, seed: int, device, dtype):
    """sizes[layer][step], changes[layer][step] and the measuring batch's loss per step."""
    model, opt, multipliers = _model(spec, data, width, seed, device, dtype)
    layers = probed(model)
    train = data.train.to(device, dtype)
    gen = generator(seed, "batches")
    batches = [torch.randint(len(train), (spec.net.batch_size,), generator=gen) for _ in range(spec.steps)]
    probe_x, probe_y = train.x[batches[0]], train.y[batches[0]]
    loss_fn = _loss(data)
    sizes = [[0.0] * (spec.steps + 1) for _ in layers]
    changes = [[0.0] * (spec.steps + 1) for _ in layers]
    losses = [0.0] * (spec.steps + 1)
    first: dict[str, torch.Tensor] = {}
    with multipliers, Sizes(layers) as seen:
        for step in range(spec.steps + 1):
            with torch.no_grad():
                losses[step] = float(loss_fn(model(probe_x), probe_y).double())
            for i, (name, _) in enumerate(layers):
                out = seen.out[name].double()
                if step == 0:
                    first[name] = out
                sizes[i][step] = float(out.abs().mean())
                changes[i][step] = float((out - first[name]).abs().mean())
            if step == spec.steps:
                break
            idx = batches[step]
            opt.zero_grad()
            loss_fn(model(train.x[idx]), train.y[idx]).backward()
            opt.step()
    return [n for n, _ in layers], sizes, changes, losses


def _slopes(widths: list[int], steps: list[list[list[float]]]) -> list[Slope]:
    """One layer's slope at each step (`steps[step][seed][width]` sizes): each
    seed's log-log slope, their mean, and its 90% interval (each end a
    one-sided 95% bound, the verdict's test) with the seeds' spread pooled
    over the layer's steps (`stats.pooled_intervals`)."""
    slopes: list[Slope | None] = []
    per_seed_all = []
    for by_seed in steps:
        per_seed = [loglog_slope(widths, sizes) for sizes in by_seed]
        per_seed_all.append(per_seed)
        flat = [s for sizes in by_seed for s in sizes]
        if any(not math.isfinite(s) for s in flat):
            slopes.append(Slope(None, None, per_seed, "nonfinite"))
        elif all(s == 0 for s in flat):
            slopes.append(Slope(None, None, per_seed, "zero"))
        elif any(p is None for p in per_seed):
            slopes.append(Slope(None, None, per_seed, "zero at some widths"))
        else:
            slopes.append(None)  # a slope to fit
    fitted = [k for k, sl in enumerate(slopes) if sl is None]
    intervals = pooled_intervals([per_seed_all[k] for k in fitted], CI_LEVEL)
    for k, (mean, lo, hi) in zip(fitted, intervals, strict=True):
        slopes[k] = Slope(mean, None if lo is None else (lo, hi), per_seed_all[k])
    return slopes


def beyond(sl: Slope, tol: float) -> int:
    """+1 if this slope says the size grows with width by more than the
    tolerance, -1 if it shrinks by more, 0 if neither.  With two seeds or more
    the whole 90% interval must lie beyond +-tol: a one-sided t-test at the 5%
    level that the slope exceeds tol (or is below -tol), so seed noise alone
    rarely trips it.  With one seed there is no interval: the slope itself.
    A size that overflowed counts as growing: a run that diverges fails."""
    if sl.reason == "nonfinite":
        return 1
    if sl.slope is None:
        return 0
    lo, hi = sl.ci if sl.ci is not None else (sl.slope, sl.slope)
    return 1 if lo > tol else -1 if hi < -tol else 0


def signs(steps: list[CoordStep], tol: float) -> set[int]:
    """The directions in which a layer's size slopes count, over its steps."""
    return {beyond(s.size_slope, tol) for s in steps} - {0}


def _verdict(steps: list[CoordStep], tol: float) -> str:
    found = signs(steps, tol)
    return "blows-up" if 1 in found else "vanishes" if -1 in found else "stable"


def _mean(rows: list[list[float]]) -> list[float]:
    """Column means over seeds (nan where any seed is not finite)."""
    return [sum(col) / len(col) for col in zip(*rows, strict=True)]


def run_coord_check(
    spec: CoordCheckSpec, on_run: Callable[[int, int], None] | None = None
) -> CoordCheckResult:
    """Every (seed, width) run, then the slopes; `on_run(done, total)` after each run."""
    device = resolve_device(spec.net.device)
    dtype = resolve_dtype(spec.net.dtype, device)
    data = load_dataset(spec.dataset, spec.seeds[0])
    widths = list(spec.widths)
    total = len(spec.seeds) * len(widths)
    names: list[str] = []
    # runs[seed][width] = (sizes[layer][step], changes[layer][step], losses[step])
    runs = []
    for seed in spec.seeds:
        row = []
        for width in widths:
            names, sizes, changes, losses = _one_run(spec, data, width, seed, device, dtype)
            row.append((sizes, changes, losses))
            if on_run is not None:
                on_run(len(runs) * len(widths) + len(row), total)
        runs.append(row)
    kinds = roles(names)
    seeds, steps = range(len(spec.seeds)), range(spec.steps + 1)

    def table(what: int, i: int) -> list[list[list[float]]]:
        """Layer i's sizes (what=0) or changes (1) as [step][seed][width]."""
        return [[[runs[s][w][what][i][t] for w in range(len(widths))] for s in seeds] for t in steps]

    layers = []
    for i, name in enumerate(names):
        size, change = table(0, i), table(1, i)
        size_slopes, change_slopes = _slopes(widths, size), _slopes(widths, change)
        rows = [
            CoordStep(
                t, _mean(size[t]), _mean(change[t]), size[t], change[t], size_slopes[t], change_slopes[t]
            )
            for t in steps
        ]
        layers.append(CoordLayer(name, kinds[name], rows, _verdict(rows, spec.slope_tol)))
    loss = [_mean([[runs[s][w][2][t] for w in range(len(widths))] for s in seeds]) for t in steps]
    found = set().union(*(signs(layer.steps, spec.slope_tol) for layer in layers))
    verdicts = [v for sign, v in ((1, "blows-up"), (-1, "vanishes")) if sign in found] or ["stable"]
    return CoordCheckResult(
        config=spec.to_dict(),
        widths=widths,
        base_width=spec.base_width,
        rules=rules_applied(spec),
        layers=layers,
        loss=loss,
        verdict=verdicts[0],
        verdicts=verdicts,
    )
