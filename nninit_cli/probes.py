"""Probes that reduce a model's state to plain floats as soon as they read it.

Gradient norms keep "no gradient" (None: the parameter took no part in the
loss) apart from "zero gradient" (0.0: it took part and received exactly
nothing), because the dead-ReLU lesson is precisely that difference.
"""

from __future__ import annotations

import torch
from torch import nn


def grad_norms(model: nn.Module) -> tuple[list[float | None], list[int]]:
    """L2 norm of every parameter's gradient, in named_parameters() order, and
    how many of its entries are non-zero (0 for a missing gradient).

    One fused norm over all gradients (torch._foreach_norm) and one transfer to
    Python, so a 100-parameter model costs no more than a few small kernels.
    """
    params = list(model.parameters())
    present = [p.grad for p in params if p.grad is not None]
    norms_iter = iter(torch.stack(torch._foreach_norm(present)).double().tolist()) if present else iter(())
    nonzero_iter = iter(torch.stack([g.count_nonzero() for g in present]).tolist()) if present else iter(())
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


class DeadUnits:
    """Forward hooks on activation modules recording, per layer, the fraction of
    units whose output is exactly 0 for every example of the batch.

    Use as a context manager; the hooks are removed on exit whatever happens."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.fracs: list[float | None] = [None] * len(modules)
        self._handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(modules)]

    def _hook(self, i: int):
        def record(_module: nn.Module, _inputs: tuple, out: torch.Tensor) -> None:
            dead = (out.detach() == 0).all(dim=0)
            self.fracs[i] = dead.double().mean().item()

        return record

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __enter__(self) -> DeadUnits:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()
