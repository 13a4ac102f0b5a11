"""Every initialiser, one record each: its flags, gain, draw and the variance it gives.

A new initialiser is one `InitialiserRecord` in `INITIALISER_RECORDS` below
and nothing else: `--init` (through `registry.INITS`, which indexes the records
by name and alias), `nninit list`, `--gain` resolution, the dtype range check,
the model builder (`model.inits.init_weight`), the mean-field theory
(`theory.weight_variance_gain`) and init-hist's formula columns all read it
from here.  `tests/test_records.py` walks every record: the empirical variance
of its draws matches `variance_gain` over several fan shapes, a seed fixes the
draw, the flags exist, torch's default gain is torch's.

Weights are (fan_out, fan_in) tensors, as in `nn.Linear`.  A draw is a
function of the layer's *base* (`model.inits.LayerBase`): one standard Gaussian
matrix, one U(0, 1) matrix and the orthogonal matrix from the Gaussian's QR,
each drawn once per seed and layer.  Every initialiser is a transformation of
these (common random numbers): kaiming-normal and xavier-normal are scalings
of the same Gaussian, the uniform family of the same uniform, orthogonal and
LSUV start from the same Q.  Two inits then differ only by what they do, not
by which random numbers they happened to get, so comparing them over seeds is
a paired comparison.  No torch at import (see `nninit_cli.lazy`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nninit_cli.lazy import LazyModule

if TYPE_CHECKING:
    import torch as _torch

    from nninit_cli.model.inits import LayerBase
    from nninit_cli.specs import NetSpec

    Draw = Callable[[_torch.Tensor, NetSpec, LayerBase], _torch.Tensor]
    VarianceGain = Callable[[NetSpec, int, int], float | None]
    Moments = Callable[[NetSpec, int, int], tuple[float | None, float | None]]
    FitToData = Callable[[_torch.Tensor, _torch.Tensor | None, _torch.Tensor], _torch.Tensor]

torch: Any = LazyModule("torch")
tinit: Any = LazyModule("torch.nn.init")


_UNIFORM_KURTOSIS = -1.2  # U(-a, a): E w^4 / E[w^2]^2 - 3 = 9/5 - 3
# N(0, 1) cut at +-2: E z^4 / E[z^2]^2 - 3, with Z = 2 Phi(2) - 1
_Z2 = math.erf(2 / math.sqrt(2))
_PHI2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
_TRUNC_KURTOSIS = (3 - (2 * 8 + 6 * 2) * _PHI2 / _Z2) / (1 - 4 * _PHI2 / _Z2) ** 2 - 3


@dataclass(frozen=True)
class InitialiserRecord:
    """One initialiser.  Every field but the last two (which only the band's
    finite-width terms read, with defaults for i.i.d. Gaussian-like entries)
    is required, so a record that forgets one
    fails when this module is imported; `__post_init__` checks the pieces that
    can be checked without torch.

    name: the canonical name, as `--init` takes it and every output shows it.
    aliases: other spellings `--init` accepts.
    flags: the flags it reads (without --), in the order `nninit list` shows.
    value_flags: those of `flags` whose value is written into the weights as
        is (a constant, a mean, a bound): refused where they overflow --dtype.
    std_formula: the std of one weight, in words, for `nninit list`.
    torch_default_gain: the gain torch's own function uses when none is
        passed (`--gain torch`); None for initialisers that take no gain,
        which are exactly those without "gain" in `flags`.
    draw: fill a (fan_out, fan_in) weight in place from the layer's base
        (`LayerBase`: `normal()`, `uniform()`, `orthogonal()`) and return it;
        `net.gain` is the resolved gain.  Called under no_grad.
    variance_gain: v = fan_in * Var(w) for (net, fan_in, fan_out), the number
        the mean-field theory propagates (1 keeps a linear stack's variance);
        None where that theory does not apply (weights with a non-zero mean,
        or not random).
    moments: a weight's (mean, std) by formula, for init-hist's theory
        columns (None for what has none); None here means mean 0 and std
        sqrt(v / fan_in) from variance_gain.
    fit_to_data: the data-dependent step after the draw (LSUV): called with
        (weight, bias or None, the layer's input batch), rescales in place;
        None for initialisers that need no data.
    orthogonal_rows: W W^T is a fixed multiple of the identity (orthogonal
        draws), so W x keeps the batch's Gram matrix exactly and the
        finite-width band loses the noise a Gaussian W would add
        (`nninit_cli.band`).
    kurtosis: a weight's excess kurtosis for `net` (0 Gaussian, -1.2
        uniform): examples that share a unit's weights share their fourth
        cumulant, which the band's batch noise feels at 1 / width.
    """

    name: str
    aliases: tuple[str, ...]
    flags: tuple[str, ...]
    value_flags: tuple[str, ...]
    std_formula: str
    torch_default_gain: float | None
    draw: Draw
    variance_gain: VarianceGain
    moments: Moments | None
    fit_to_data: FitToData | None
    orthogonal_rows: bool = False
    kurtosis: Callable[[NetSpec], float] = lambda net: 0.0  # noqa: E731

    def __post_init__(self) -> None:
        if ("gain" in self.flags) != (self.torch_default_gain is not None):
            raise ValueError(f"initialiser {self.name!r}: a torch_default_gain exactly when it reads --gain")
        if not set(self.value_flags) <= set(self.flags):
            raise ValueError(f"initialiser {self.name!r}: value_flags must be among its flags")

    @property
    def uses_gain(self) -> bool:
        return self.torch_default_gain is not None

    def weight_moments(self, net: NetSpec, fan_in: int, fan_out: int) -> tuple[float | None, float | None]:
        """Mean and std of one weight by formula (see `moments`)."""
        if self.moments is not None:
            return self.moments(net, fan_in, fan_out)
        v = self.variance_gain(net, fan_in, fan_out)
        return 0.0, None if v is None else math.sqrt(v / fan_in)


# ---------------------------------------------------------------------------
# The draws and variances that take more than one line

TRUNC_SDS = 2.0  # trunc-normal cuts at mean +- 2 std


def _trunc_var_factor(a: float) -> float:
    """Var of N(0, 1) cut at +-a, relative to 1: 1 - 2a phi(a) / (2 Phi(a) - 1)."""
    return 1.0 - 2 * a * math.exp(-a * a / 2) / math.sqrt(2 * math.pi) / math.erf(a / math.sqrt(2))


TRUNC_VAR_FACTOR = _trunc_var_factor(TRUNC_SDS)
"""Var of N(0, 1) cut at +-2, relative to 1: 0.774 (std factor 0.880)."""


def _normal_cdf(x: float) -> float:
    return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0


def _draw_trunc_normal(w: _torch.Tensor, net: NetSpec, base: LayerBase) -> _torch.Tensor:
    """torch's trunc_normal_ (inverse CDF of the uniform), on the layer's
    uniform: the cut Gaussian is a monotone map of the same U every uniform
    init scales."""
    lo, hi = _normal_cdf(-TRUNC_SDS), _normal_cdf(TRUNC_SDS)
    w.copy_(base.uniform()).mul_(2 * (hi - lo)).add_(2 * lo - 1).erfinv_()
    w.mul_(net.std * math.sqrt(2.0)).add_(net.mean)
    return w.clamp_(net.mean - TRUNC_SDS * net.std, net.mean + TRUNC_SDS * net.std)


def _scaled_normal(w: _torch.Tensor, base: LayerBase, std: float, mean: float = 0.0) -> _torch.Tensor:
    """mean + std * the layer's Gaussian (what normal_(mean, std) draws)."""
    torch.mul(base.normal(), std, out=w)  # one pass, no copy first
    return w if mean == 0.0 else w.add_(mean)


def _scaled_uniform(w: _torch.Tensor, base: LayerBase, low: float, high: float) -> _torch.Tensor:
    """low + (high - low) * the layer's U(0, 1), rounded as torch's
    uniform_(low, high) rounds it (bounds in float32, one fused multiply-add):
    the same tensor torch draws from the same generator, bit for bit."""
    lo, hi = torch.tensor(low, dtype=w.dtype), torch.tensor(high, dtype=w.dtype)
    return torch.addcmul(lo, base.uniform(), hi - lo, out=w)


def _kaiming_std(w: _torch.Tensor, net: NetSpec) -> float:
    """He et al. 2015: gain / sqrt(fan), fan by --fan-mode, from the resolved
    --gain (a test checks `--gain torch` against kaiming_normal_ / kaiming_uniform_)."""
    fan = w.shape[1] if net.fan_mode == "fan_in" else w.shape[0]
    return net.gain / math.sqrt(fan)


def _bounds(bound: float) -> tuple[float, float]:
    return -bound, bound


_DEFAULT_GAIN = math.sqrt(2.0 / (1 + 5.0))
"""nn.Linear's default: kaiming_uniform_ with a = sqrt(5), so the bound
gain * sqrt(3 / fan_in) is 1 / sqrt(fan_in), computed as torch computes it."""


def _root3_over_fan_in(w: _torch.Tensor) -> float:
    return math.sqrt(3.0 / w.shape[1])


def _xavier_std(w: _torch.Tensor, net: NetSpec) -> float:
    return net.gain * math.sqrt(2.0 / (w.shape[0] + w.shape[1]))


def _draw_sparse(w: _torch.Tensor, net: NetSpec, base: LayerBase) -> _torch.Tensor:
    """torch.nn.init.sparse_ (Martens 2010): N(0, std^2), then in each column
    the ceil(sparsity * rows) entries with the smallest uniforms set to 0 (a
    random subset per column, as torch's randperm picks, but from the base)."""
    rows = w.shape[0]
    num_zeros = math.ceil(net.sparsity * rows)
    _scaled_normal(w, base, net.std)
    if num_zeros:
        zero = base.uniform().argsort(dim=0, stable=True)[:num_zeros]
        w.scatter_(0, zero, 0.0)
    return w


def _variance_normal(net: NetSpec, fan_in: int, fan_out: int) -> float | None:
    return None if net.mean != 0.0 else fan_in * net.std**2


def _variance_uniform(net: NetSpec, fan_in: int, fan_out: int) -> float | None:
    return None if net.low != -net.high else fan_in * (net.high - net.low) ** 2 / 12.0


def _variance_kaiming(net: NetSpec, fan_in: int, fan_out: int) -> float:
    fan = fan_in if net.fan_mode == "fan_in" else fan_out
    return fan_in * net.gain**2 / fan


def _variance_xavier(net: NetSpec, fan_in: int, fan_out: int) -> float:
    return fan_in * net.gain**2 * 2.0 / (fan_in + fan_out)


def _variance_sparse(net: NetSpec, fan_in: int, fan_out: int) -> float:
    zeros_per_column = math.ceil(net.sparsity * fan_out)
    return fan_in * net.std**2 * (1.0 - zeros_per_column / fan_out)


def _none(net: NetSpec, fan_in: int, fan_out: int) -> None:
    return None


LSUV_TOL = 1e-3  # stop when the pre-activation std is within 0.1% of 1
LSUV_MAX_ITER = 20


def lsuv_rescale(w: _torch.Tensor, b: _torch.Tensor | None, x: _torch.Tensor) -> _torch.Tensor:
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


# ---------------------------------------------------------------------------
# The records (n = fan_in, m = fan_out, g = the resolved gain)

INITIALISER_RECORDS = (
    InitialiserRecord(
        name="zeros",
        aliases=(),
        flags=(),
        value_flags=(),
        std_formula="0",
        torch_default_gain=None,
        draw=lambda w, net, base: w.zero_(),
        variance_gain=lambda net, n, m: 0.0,
        moments=None,
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: 0.0,
    ),
    InitialiserRecord(
        name="constant",
        aliases=(),
        flags=("value",),
        value_flags=("value",),
        std_formula="0 (every weight = value)",
        torch_default_gain=None,
        draw=lambda w, net, base: w.fill_(net.value),
        variance_gain=lambda net, n, m: 0.0 if net.value == 0.0 else None,
        moments=lambda net, n, m: (net.value, 0.0),
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: 0.0,
    ),
    InitialiserRecord(
        name="normal",
        aliases=(),
        flags=("mean", "std"),
        value_flags=("mean",),
        std_formula="std",
        torch_default_gain=None,
        draw=lambda w, net, base: _scaled_normal(w, base, net.std, net.mean),
        variance_gain=_variance_normal,
        moments=lambda net, n, m: (net.mean, net.std),
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: 0.0,
    ),
    InitialiserRecord(
        name="uniform",
        aliases=(),
        flags=("low", "high"),
        value_flags=("low", "high"),
        std_formula="(high - low) / sqrt(12)",
        torch_default_gain=None,
        draw=lambda w, net, base: _scaled_uniform(w, base, net.low, net.high),
        variance_gain=_variance_uniform,
        moments=lambda net, n, m: ((net.low + net.high) / 2, (net.high - net.low) / math.sqrt(12)),
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: _UNIFORM_KURTOSIS,
    ),
    InitialiserRecord(
        name="trunc-normal",
        aliases=(),
        flags=("mean", "std"),
        value_flags=("mean",),
        std_formula="0.880 * std (cut at mean +- 2 std)",
        torch_default_gain=None,
        draw=_draw_trunc_normal,
        variance_gain=lambda net, n, m: None if net.mean != 0.0 else n * net.std**2 * TRUNC_VAR_FACTOR,
        moments=lambda net, n, m: (net.mean, net.std * math.sqrt(TRUNC_VAR_FACTOR)),
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: _TRUNC_KURTOSIS,
    ),
    InitialiserRecord(  # Glorot & Bengio 2010
        name="xavier-uniform",
        aliases=("xavier",),
        flags=("gain",),
        value_flags=(),
        std_formula="gain * sqrt(2 / (fan_in + fan_out))",
        torch_default_gain=1.0,
        draw=lambda w, net, base: _scaled_uniform(w, base, *_bounds(math.sqrt(3.0) * _xavier_std(w, net))),
        variance_gain=_variance_xavier,
        moments=None,
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: _UNIFORM_KURTOSIS,
    ),
    InitialiserRecord(
        name="xavier-normal",
        aliases=(),
        flags=("gain",),
        value_flags=(),
        std_formula="gain * sqrt(2 / (fan_in + fan_out))",
        torch_default_gain=1.0,
        draw=lambda w, net, base: _scaled_normal(w, base, _xavier_std(w, net)),
        variance_gain=_variance_xavier,
        moments=None,
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: 0.0,
    ),
    InitialiserRecord(  # He et al. 2015; torch's default is leaky_relu with a=0
        name="kaiming-normal",
        aliases=("kaiming",),
        flags=("gain", "fan-mode"),
        value_flags=(),
        std_formula="gain / sqrt(fan)",
        torch_default_gain=math.sqrt(2.0),
        draw=lambda w, net, base: _scaled_normal(w, base, _kaiming_std(w, net)),
        variance_gain=_variance_kaiming,
        moments=None,
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: 0.0,
    ),
    InitialiserRecord(
        name="kaiming-uniform",
        aliases=(),
        flags=("gain", "fan-mode"),
        value_flags=(),
        std_formula="gain / sqrt(fan)",
        torch_default_gain=math.sqrt(2.0),
        draw=lambda w, net, base: _scaled_uniform(w, base, *_bounds(math.sqrt(3.0) * _kaiming_std(w, net))),
        variance_gain=_variance_kaiming,
        moments=None,
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: _UNIFORM_KURTOSIS,
    ),
    InitialiserRecord(  # Saxe et al. 2014: rows (or columns) orthonormal, times g
        name="orthogonal",
        aliases=(),
        flags=("gain",),
        value_flags=(),
        std_formula="gain / sqrt(fan_in) (rows orthonormal x gain)",
        torch_default_gain=1.0,
        draw=lambda w, net, base: w.copy_(base.orthogonal()).mul_(net.gain),
        variance_gain=lambda net, n, m: net.gain**2 * min(1.0, n / m),
        moments=None,
        fit_to_data=None,
        orthogonal_rows=True,
        kurtosis=lambda net: 0.0,
    ),
    InitialiserRecord(
        name="eye",
        aliases=("identity",),
        flags=(),
        value_flags=(),
        std_formula="identity matrix (not random)",
        torch_default_gain=None,
        draw=lambda w, net, base: tinit.eye_(w),
        variance_gain=_none,
        moments=lambda net, n, m: (None, None),
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: 0.0,
    ),
    InitialiserRecord(
        name="sparse",
        aliases=(),
        flags=("sparsity", "std"),
        value_flags=(),
        std_formula="std * sqrt(1 - sparsity)",
        torch_default_gain=None,
        draw=_draw_sparse,
        variance_gain=_variance_sparse,
        moments=None,
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: 3.0 / max(1.0 - net.sparsity, 1e-12) - 3.0,
    ),
    InitialiserRecord(  # nn.Linear.reset_parameters: U(-1/sqrt(n), 1/sqrt(n))
        name="default",
        aliases=(),
        flags=(),
        value_flags=(),
        std_formula="1 / sqrt(3 * fan_in) (nn.Linear's own init)",
        torch_default_gain=None,
        draw=lambda w, net, base: _scaled_uniform(w, base, *_bounds(_DEFAULT_GAIN * _root3_over_fan_in(w))),
        variance_gain=lambda net, n, m: 1.0 / 3.0,
        moments=None,
        fit_to_data=None,
        orthogonal_rows=False,
        kurtosis=lambda net: _UNIFORM_KURTOSIS,
    ),
    InitialiserRecord(  # Mishkin & Matas 2015: orthogonal, then fitted to the data
        name="lsuv",
        aliases=(),
        flags=(),
        value_flags=(),
        std_formula="orthogonal, then scaled until pre-activation std = 1 on the data",
        torch_default_gain=None,
        draw=lambda w, net, base: w.copy_(base.orthogonal()),
        variance_gain=_none,
        moments=None,
        fit_to_data=lsuv_rescale,
        orthogonal_rows=True,
        kurtosis=lambda net: 0.0,
    ),
)
