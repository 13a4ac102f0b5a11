"""Probes: hooks over a model's modules that reduce what they see to a few numbers.

A probe is given modules (chosen by their type or role, never by a name
pattern), hooks them, and keeps only the statistics it reduced each tensor to,
so memory stays flat however deep the model (fastai's `ActivationStats` and
timm's signal-propagation stats work the same way).  Hooks are removed on exit
from the `with` block, whatever happens.

Statistics are 0-d float64 tensors from `signal_stats`, computed the same way
for one model and for K stacked models under `torch.func.vmap` (init-compare),
so the two paths agree by construction; `as_floats` turns them into Python
numbers once the model has run.

Gradient norms keep "no gradient" (None: the parameter took no part in the
loss) apart from "zero gradient" (0.0: it took part and received exactly
nothing), because the dead-ReLU lesson is precisely that difference.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

Stats = dict[str, torch.Tensor]
Reduce = Callable[[torch.Tensor], Stats]


def spread(t: torch.Tensor) -> torch.Tensor:
    """Population std in float64 (the seed's float32 x.std() overflows to nan one
    layer before any activation does).  A tensor that overflowed to +-inf, with
    no nan, has an infinite spread: inf, not torch's nan.

    Computed on the tensor divided by the power of two nearest its largest
    magnitude: division by a power of two is exact, so this is bit for bit the
    plain std wherever that one is finite, and stays finite where values above
    ~1e154 would overflow their own squares."""
    if t.numel() <= 1:
        return t.new_zeros((), dtype=torch.float64)
    return spread_rows(t.reshape(-1))


def spread_rows(t: torch.Tensor) -> torch.Tensor:
    """`spread` of every row at once: over the last dimension (init-compare
    reduces all the layers of K stacked models in a few calls)."""
    t64 = t.double()
    _, exponent = torch.frexp(t64.abs().amax(dim=-1, keepdim=True))
    scale = torch.ldexp(torch.ones_like(t64[..., :1]), exponent)  # 1 for 0, inf or nan
    s = ((t64 / scale).std(dim=-1, correction=0, keepdim=True) * scale).squeeze(-1)
    overflowed = torch.isinf(t64).any(dim=-1) & ~torch.isnan(t64).any(dim=-1)
    return torch.where(torch.isnan(s) & overflowed, torch.full_like(s, float("inf")), s)


def signal_stats(y: torch.Tensor, saturated: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Stats:
    """What a signal probe keeps of a (batch x units) output: its mean, std,
    fraction of exact zeros, fraction of units zero for every example (dead
    units), the average over units of the squared batch mean (mean drift, as in
    Brock, De & Smith 2021), whether all of it is finite, and the saturated
    fraction where the activation saturates."""
    y = y.detach()
    y64 = y.double()
    zero = y64 == 0
    out = {
        "mean": y64.mean(),
        "std": spread(y64),
        "zero_frac": zero.double().mean(),
        "dead_units": zero.all(dim=0).double().mean(),
        "sq_mean": y64.mean(dim=0).pow(2).mean(),
        "finite": torch.isfinite(y64).all(),
    }
    if saturated is not None:
        out["saturated_frac"] = saturated(y64).double().mean()
    return out


def spread_only(y: torch.Tensor) -> Stats:
    return {"std": spread(y.detach())}


def mean_cosine(y: torch.Tensor) -> Stats:
    """{"corr": the mean cosine between the rows (examples) of a (batch x
    units) output over distinct pairs}: from the sum of the unit rows,
    (|sum|^2 - k) / (k (k - 1)) over the k non-zero rows, so it costs one pass
    whatever the batch.  nan with fewer than two non-zero rows or a value
    that is not finite.  Each row is first divided by its largest magnitude
    (cosines do not change), so rows near float64's limit do not overflow."""
    y64 = y.detach().double().reshape(len(y), -1)
    big = y64.abs().amax(dim=1, keepdim=True)
    rows = torch.nn.functional.normalize(y64 / torch.where(big > 0, big, 1.0), dim=1)
    k = (big.squeeze(1) > 0).sum()
    total = rows.sum(dim=0).pow(2).sum() - k
    corr = total / (k * (k - 1)).clamp(min=1)
    bad = (k < 2) | ~torch.isfinite(y64).all()
    return {"corr": torch.where(bad, torch.full_like(corr, float("nan")), corr)}


def as_floats(stats: Stats) -> dict[str, Any]:
    return {k: v.item() for k, v in stats.items()}


class StopForward(Exception):
    """Raised by a probe to end a forward pass early (a non-finite signal);
    `output` is the tensor that stopped it."""

    def __init__(self, output: torch.Tensor) -> None:
        super().__init__("non-finite output")
        self.output = output


class Hooks:
    """Hook handles that are removed on exit."""

    def __init__(self) -> None:
        self._handles: list[Any] = []

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class OutputStats(Hooks):
    """Forward hooks recording `reduce(output)` of each module, per module in
    the order given.  `stop_nonfinite`: end the forward pass (StopForward) at
    the first output holding inf or nan, once it is recorded.

    floats=True turns each statistic into a Python float at once.  A deep
    trace needs it: thousands of kept 0-d CPU tensors pin small blocks between
    the freed weight matrices and fragment the heap (a 400 x 1024 trace grew
    by 540 MB that way); `vmap` needs the tensors (floats=False)."""

    def __init__(
        self, modules: Sequence[nn.Module], reduce: Reduce, stop_nonfinite: bool = False, floats: bool = False
    ) -> None:
        super().__init__()
        self.stats: list[Any] = [None] * len(modules)
        self.reduce = reduce if not floats else lambda y: as_floats(reduce(y))
        self.stop_nonfinite = stop_nonfinite
        for i, m in enumerate(modules):
            self._handles.append(m.register_forward_hook(self._hook(i)))

    def _hook(self, i: int) -> Callable[..., None]:
        def record(_module: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
            self.stats[i] = s = self.reduce(out)
            if self.stop_nonfinite and not bool(s.get("finite", True)):
                raise StopForward(out)

        return record


class OutputGrads(Hooks):
    """Forward hooks that attach a gradient hook to each module's output:
    `reduce(gradient)` per module once backward has run (as floats)."""

    def __init__(self, modules: Sequence[nn.Module], reduce: Reduce) -> None:
        super().__init__()
        self.stats: list[Any] = [None] * len(modules)
        self.reduce = lambda g: as_floats(reduce(g))
        for i, m in enumerate(modules):
            self._handles.append(m.register_forward_hook(self._hook(i)))

    def _hook(self, i: int) -> Callable[..., None]:
        def attach(_module: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
            if out.requires_grad:

                def record(grad: torch.Tensor) -> None:
                    self.stats[i] = self.reduce(grad)

                self._handles.append(out.register_hook(record))

        return attach


def grad_norms(model: nn.Module, count: bool = True) -> tuple[list[float | None], list[int]]:
    """L2 norm of every parameter's gradient, in named_parameters() order, and
    how many of its entries are non-zero (0 for a missing gradient; all 0
    unless `count`: counting is a second pass over every gradient, a fifth of
    a step in a 64 x 512 residual MLP).

    One fused norm over all gradients (torch._foreach_norm) and one transfer to
    Python, so a 100-parameter model costs no more than a few small kernels.
    """
    params = list(model.parameters())
    present = [p.grad for p in params if p.grad is not None]
    norms_iter = iter(torch.stack(torch._foreach_norm(present)).double().tolist()) if present else iter(())
    counts = (
        [g.count_nonzero() for g in present] if count else [torch.zeros((), dtype=torch.long)] * len(present)
    )
    nonzero_iter = iter(torch.stack(counts).tolist()) if present else iter(())
    norms: list[float | None] = []
    nonzero: list[int] = []
    for p in params:
        if p.grad is None:
            norms.append(None)
            nonzero.append(0)
        else:
            norms.append(next(norms_iter))
            nonzero.append(next(nonzero_iter))
    return norms, nonzero


def dead_units(modules: Sequence[nn.Module]) -> OutputStats:
    """A probe of the fraction of units whose output is exactly 0 for every
    example of the batch, per (activation) module."""
    return OutputStats(modules, lambda y: {"dead_units": (y.detach() == 0).all(dim=0).double().mean()})
