"""Plain SGD and Adam with a learning rate per parameter group, for the short
runs of coord-check.

Why not torch.optim: the first torch.optim optimiser of a process imports
torch._dynamo (about 1.1 s, as long as importing torch itself), for a command
that trains a few steps and is meant to answer in seconds.  These follow
torch.optim.SGD (no momentum) and torch.optim.Adam (betas 0.9 and 0.999, eps
1e-8, no weight decay, no amsgrad) step for step; the tests hold them to
torch's to float rounding.
"""

from __future__ import annotations

import math
from typing import Any

import torch


class SGD:
    """p <- p - lr * grad, per group."""

    def __init__(self, param_groups: list[dict[str, Any]]) -> None:
        self.param_groups = param_groups

    def zero_grad(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])


class Adam(SGD):
    """Adam (Kingma & Ba 2015) as torch.optim.Adam computes it:
    m <- b1 m + (1 - b1) g, v <- b2 v + (1 - b2) g^2, and
    p <- p - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""

    def __init__(
        self, param_groups: list[dict[str, Any]], betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        super().__init__(param_groups)
        self.betas, self.eps = betas, eps
        self.t = 0
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def step(self) -> None:
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, math.sqrt(1 - b2**self.t)
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                m, v = self.state.setdefault(id(p), (torch.zeros_like(p), torch.zeros_like(p)))
                m.lerp_(p.grad, 1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (v.sqrt() / c2).add_(self.eps)
                p.addcdiv_(m, denom, value=-group["lr"] / c1)
