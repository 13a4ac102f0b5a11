"""The initialisers on tensors: each Linear's base draw, and lookups into the
initialisers' records (`nninit_cli.initialisers`).

Weights are (fan_out, fan_in) tensors, as in `nn.Linear`.  Every weight nninit
draws is a transformation of its layer's `LayerBase`: a standard Gaussian and a
U(0, 1) matrix from streams keyed by (seed, layer name), and the orthogonal Q
of the Gaussian.  Keying by layer name, not by position in one long stream,
means a layer's numbers do not depend on which layers were drawn before it
(lazy drawing, a task form with a different first layer, a grid that shares
one base between ten initialisers all get the same layer from the same seed).
"""

from __future__ import annotations

import math

import torch

from nninit_cli.initialisers import LSUV_MAX_ITER, LSUV_TOL, TRUNC_SDS, lsuv_rescale
from nninit_cli.model.torchenv import generator, one_thread
from nninit_cli.registry import INITS
from nninit_cli.specs import NetSpec

__all__ = [
    "LayerBase",
    "init_weight",
    "init_bias",
    "lsuv_rescale",
    "LSUV_MAX_ITER",
    "LSUV_TOL",
    "TRUNC_SDS",
]


class LayerBase:
    """The random numbers one Linear of one seed is made from, each drawn on
    first use (float32, on the CPU) and kept: `normal()` N(0, 1), `uniform()`
    U(0, 1) (both fan_out x fan_in), `orthogonal()` Q of the Gaussian's QR
    exactly as torch.nn.init.orthogonal_ computes it, and `bias_uniform()`
    U(0, 1) of length fan_out for nn.Linear's default bias (`bias_normal()` N(0, 1)
    for --bias-std).

    Callers must not write into what these return (the draws copy them).
    """

    def __init__(self, seed: int, name: str, shape: tuple[int, int]) -> None:
        self.seed, self.name, self.shape = seed, name, (int(shape[0]), int(shape[1]))
        self._cache: dict[str, torch.Tensor] = {}

    def _stream(self, kind: str) -> torch.Generator:
        return generator(self.seed, f"weights:{self.name}:{kind}")

    def normal(self) -> torch.Tensor:
        if "normal" not in self._cache:
            self._cache["normal"] = torch.randn(self.shape, generator=self._stream("normal"))
        return self._cache["normal"]

    def uniform(self) -> torch.Tensor:
        if "uniform" not in self._cache:
            self._cache["uniform"] = torch.rand(self.shape, generator=self._stream("uniform"))
        return self._cache["uniform"]

    def bias_uniform(self) -> torch.Tensor:
        if "bias" not in self._cache:
            self._cache["bias"] = torch.rand(self.shape[0], generator=self._stream("bias"))
        return self._cache["bias"]

    def bias_normal(self) -> torch.Tensor:
        """N(0, 1) of length fan_out, for --bias-std: a stream of its own, so
        that adding random biases leaves every weight draw as it was."""
        if "bias_normal" not in self._cache:
            self._cache["bias_normal"] = torch.randn(self.shape[0], generator=self._stream("bias_normal"))
        return self._cache["bias_normal"]

    def orthogonal(self) -> torch.Tensor:
        """Saxe et al. 2014 via QR, with torch's sign fix (Q times sign(diag R)):
        rows orthonormal if fan_out <= fan_in, else columns.

        The QR runs on one thread: LAPACK's blocked QR rounds differently with
        two threads than with one, and a seed's Q must be the same bits in a
        worker that has one core as in a process that has all of them."""
        if "orthogonal" not in self._cache:
            rows, cols = self.shape
            g = self.normal() if rows >= cols else self.normal().t()
            with one_thread():
                q, r = torch.linalg.qr(g)
            q = q * torch.diag(r, 0).sign()
            self._cache["orthogonal"] = (q if rows >= cols else q.t()).contiguous()
        return self._cache["orthogonal"]

    def cached(self, kind: str) -> torch.Tensor | None:
        """The `kind` draw if it was made, else None (nothing is drawn)."""
        return self._cache.get(kind)

    def remember(self, kind: str, t: torch.Tensor) -> None:
        """Take `t` as the `kind` draw: one this base made before (the same
        seed, name and shape), kept elsewhere in the meantime."""
        self._cache[kind] = t

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self._cache.values())


def init_weight(w: torch.Tensor, net: NetSpec, base: LayerBase) -> torch.Tensor:
    """Fill `w` in place with `net.init`'s draw (its record's `draw`) from the
    layer's base and return it.

    lsuv draws an orthogonal matrix here; its data-dependent step,
    `lsuv_rescale`, runs where the data is (the model builder).
    """
    record = INITS.get(net.init)
    if record is None:
        raise ValueError(f"no initialiser named {net.init!r}")
    if tuple(w.shape) != base.shape:
        raise ValueError(f"weight of shape {tuple(w.shape)} from a base of shape {base.shape}")
    with torch.no_grad():
        return record.draw(w, net, base)


def init_bias(b: torch.Tensor, net: NetSpec, base: LayerBase, fan_in: int) -> torch.Tensor:
    """Fill a bias: a constant, nn.Linear's default U(-1/sqrt(n), 1/sqrt(n)),
    or (--bias-std S) N(constant, S^2) from the layer's own stream."""
    with torch.no_grad():
        if net.bias == "default":
            bound = 1.0 / math.sqrt(fan_in)
            return b.copy_(base.bias_uniform()).mul_(2 * bound).add_(-bound)
        if net.bias_std > 0:
            return b.copy_(base.bias_normal()).mul_(net.bias_std).add_(float(net.bias))
        return b.fill_(float(net.bias))
