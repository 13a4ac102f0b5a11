"""The initialisers, each a thin call into `torch.nn.init` with resolved arguments.

Weights are (fan_out, fan_in) tensors, as in `nn.Linear`.  Every function draws
from the generator it is given and nothing else, so a seed fixes the weights.
Where torch computes a std from a gain (kaiming), we compute it ourselves from
the resolved `--gain` and draw exactly as torch does: a test checks that
`kaiming-normal --gain torch` gives the same tensor as `kaiming_normal_`.
"""

from __future__ import annotations

import math

import torch
from torch.nn import init as tinit

from nninit_cli.specs import NetSpec

TRUNC_SDS = 2.0  # trunc-normal cuts at mean +- 2 std


def init_weight(w: torch.Tensor, net: NetSpec, gen: torch.Generator) -> torch.Tensor:
    """Fill `w` in place according to `net.init` and return it.

    Formulas (n = fan_in, m = fan_out, g = the resolved gain):
      normal N(mean, std^2); uniform U(low, high); constant value; zeros;
      trunc-normal N(mean, std^2) cut at mean +- 2 std;
      xavier-*: std = g * sqrt(2 / (n + m))  (Glorot & Bengio 2010);
      kaiming-*: std = g / sqrt(fan)  (He et al. 2015), fan by --fan-mode;
      orthogonal: rows (or columns) orthonormal, times g (Saxe et al. 2014);
      eye: identity; sparse: a fraction of each column zero, the rest N(0, std^2)
      (Martens 2010); default: nn.Linear's kaiming_uniform_(a=sqrt(5)),
      i.e. U(-1/sqrt(n), 1/sqrt(n)); lsuv: orthogonal here, then `lsuv_rescale`
      on a data batch (Mishkin & Matas 2015).
    """
    name = net.init
    with torch.no_grad():
        if name == "zeros":
            return tinit.zeros_(w)
        if name == "constant":
            return tinit.constant_(w, net.value)
        if name == "normal":
            return tinit.normal_(w, net.mean, net.std, generator=gen)
        if name == "uniform":
            return tinit.uniform_(w, net.low, net.high, generator=gen)
        if name == "trunc-normal":
            lo, hi = net.mean - TRUNC_SDS * net.std, net.mean + TRUNC_SDS * net.std
            return tinit.trunc_normal_(w, net.mean, net.std, lo, hi, generator=gen)
        if name == "xavier-uniform":
            return tinit.xavier_uniform_(w, gain=net.gain, generator=gen)
        if name == "xavier-normal":
            return tinit.xavier_normal_(w, gain=net.gain, generator=gen)
        if name in ("kaiming-normal", "kaiming-uniform"):
            fan = w.shape[1] if net.fan_mode == "fan_in" else w.shape[0]
            std = net.gain / math.sqrt(fan)
            if name == "kaiming-normal":
                return w.normal_(0.0, std, generator=gen)
            bound = math.sqrt(3.0) * std
            return w.uniform_(-bound, bound, generator=gen)
        if name == "orthogonal":
            return tinit.orthogonal_(w, gain=net.gain, generator=gen)
        if name == "eye":
            return tinit.eye_(w)
        if name == "sparse":
            return _sparse(w, net.sparsity, net.std, gen)
        if name == "default":
            return tinit.kaiming_uniform_(w, a=math.sqrt(5.0), generator=gen)
        if name == "lsuv":  # the data-dependent part is lsuv_rescale, where the data is
            return tinit.orthogonal_(w, gain=1.0, generator=gen)
    raise ValueError(f"no initialiser named {name!r}")


def _sparse(w: torch.Tensor, sparsity: float, std: float, gen: torch.Generator) -> torch.Tensor:
    """torch.nn.init.sparse_, but drawing the zeroed rows from `gen` too: torch's
    own version (2.13) permutes with the global RNG, so a seed would not fix it."""
    rows, cols = w.shape
    num_zeros = math.ceil(sparsity * rows)
    w.normal_(0.0, std, generator=gen)
    for col in range(cols):
        w[torch.randperm(rows, generator=gen)[:num_zeros], col] = 0.0
    return w


LSUV_TOL = 1e-3  # stop when the pre-activation std is within 0.1% of 1
LSUV_MAX_ITER = 20


def lsuv_rescale(w: torch.Tensor, b: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """Scale `w` in place until std(x w^T + b) = 1 on the batch `x` (the layer's
    input), as LSUV does layer after layer (Mishkin & Matas 2015, "All you need
    is a good init").  Without a bias one division is exact; a bias makes the
    std an affine function of the scale, hence the few iterations.  A layer whose
    output has no spread at all (std 0) is left as it is.

    Works on one layer (w: out x in, x: batch x in) or on a stack of K
    independent ones (w: K x out x in, b: K x out, x: K x batch x in), each
    fitted to its own slice.
    """
    single = w.dim() == 2
    ws, xs = (w.unsqueeze(0), x.unsqueeze(0)) if single else (w, x)
    bs = None if b is None else (b.unsqueeze(0) if single else b).unsqueeze(1)
    with torch.no_grad():
        for _ in range(LSUV_MAX_ITER):
            pre = xs @ ws.transpose(1, 2)
            if bs is not None:
                pre = pre + bs
            std = pre.double().flatten(1).std(dim=1, correction=0)
            todo = torch.isfinite(std) & (std > 0) & ((std - 1).abs() >= LSUV_TOL)
            if not todo.any():
                break
            scale = torch.where(todo, std, torch.ones_like(std)).to(ws.dtype)
            ws.div_(scale[:, None, None])
    return w


def init_bias(b: torch.Tensor, net: NetSpec, gen: torch.Generator, fan_in: int) -> torch.Tensor:
    """Fill a bias: a constant, or nn.Linear's default U(-1/sqrt(n), 1/sqrt(n))."""
    with torch.no_grad():
        if net.bias == "default":
            bound = 1.0 / math.sqrt(fan_in)
            return b.uniform_(-bound, bound, generator=gen)
        return b.fill_(float(net.bias))
