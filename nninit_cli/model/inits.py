"""The initialisers on tensors: lookups into their records (`nninit_cli.initialisers`).

Weights are (fan_out, fan_in) tensors, as in `nn.Linear`.  Every draw reads
the generator it is given and nothing else, so a seed fixes the weights.
"""

from __future__ import annotations

import math

import torch

from nninit_cli.initialisers import LSUV_MAX_ITER, LSUV_TOL, TRUNC_SDS, lsuv_rescale
from nninit_cli.registry import INITS
from nninit_cli.specs import NetSpec

__all__ = ["init_weight", "init_bias", "lsuv_rescale", "LSUV_MAX_ITER", "LSUV_TOL", "TRUNC_SDS"]


def init_weight(w: torch.Tensor, net: NetSpec, gen: torch.Generator) -> torch.Tensor:
    """Fill `w` in place with `net.init`'s draw (its record's `draw`) and return it.

    lsuv draws an orthogonal matrix here; its data-dependent step,
    `lsuv_rescale`, runs where the data is (the model builder).
    """
    record = INITS.get(net.init)
    if record is None:
        raise ValueError(f"no initialiser named {net.init!r}")
    with torch.no_grad():
        return record.draw(w, net, gen)


def init_bias(b: torch.Tensor, net: NetSpec, gen: torch.Generator, fan_in: int) -> torch.Tensor:
    """Fill a bias: a constant, or nn.Linear's default U(-1/sqrt(n), 1/sqrt(n))."""
    with torch.no_grad():
        if net.bias == "default":
            bound = 1.0 / math.sqrt(fan_in)
            return b.uniform_(-bound, bound, generator=gen)
        return b.fill_(float(net.bias))
