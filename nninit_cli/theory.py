"""Mean-field theory of a random MLP: what the std of each layer *should* be.

Everything here is numpy and float64, with no torch import, so that gains can be
resolved for `--help`, `nninit list` and usage errors in milliseconds.

The infinite-width recursion (Poole et al. 2016, Schoenholz et al. 2017): with
zero-mean weights of variance `Var(w)` and a layer of fan-in `n`, each
pre-activation is Gaussian with mean `beta` (a constant bias) and variance

    q_l = v * m2_{l-1} + var_b,     v = n * Var(w),     m2 = E[f(h)^2],

so the whole stack reduces to one-dimensional Gaussian integrals, which we do by
quadrature.  That works for any activation, not only the ones with closed forms.

Finite width adds noise: a layer's mean square is an average over `n` units,
so its log is off by a term of variance about `kappa / n` (kappa =
Var(f^2) / E[f^2]^2, 2 for linear, 5 for ReLU), less where a batch's examples
average it away, more where they share it.  For homogeneous activations
these errors add up layer after layer into a random walk (Hanin & Rolnick
2018), so the infinite-width value alone misleads at depth; `predict_stack`
also returns a 90% band for that walk, from `nninit_cli.band`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nninit_cli.band import MeanNoise, MomentTable, Pairs, chain_band, layer_noise
from nninit_cli.initialisers import TRUNC_VAR_FACTOR as TRUNC_VAR_FACTOR  # importable from here too
from nninit_cli.registry import ACTIVATIONS, INITS, torch_gain

Array = np.ndarray
ActFn = Callable[[Array], Array]

# Quadrature grid for E[g(z)], z ~ N(0, 1): the trapezoid rule on a fine uniform
# grid.  Gauss-Hermite converges slowly on kinked functions (ReLU's mean is off
# by 0.2% with 96 nodes); the trapezoid error at a kink is O(h^2) ~ 1e-5.
_Z = np.linspace(-10.0, 10.0, 2001)
_W = np.exp(-0.5 * _Z**2)
_W[0] *= 0.5
_W[-1] *= 0.5
_W /= _W.sum()

# Two-dimensional Gauss-Hermite rule, used only for the cross-example terms of
# the finite-width band, where a small error does not matter.
_gz, _gw = np.polynomial.hermite_e.hermegauss(48)
_gw = _gw / _gw.sum()
_Z1, _Z2 = np.meshgrid(_gz, _gz, indexing="ij")
_W2 = np.outer(_gw, _gw)

BAND_Z = 1.6448536269514722  # the 5% / 95% quantiles of N(0, 1)


def numpy_act(act: str, negative_slope: float = 0.01) -> ActFn:
    """The activation as a float64 numpy function: its record's `numpy_fn`
    (`nninit_cli.activations`; the torch one is `model.acts.torch_act`)."""
    fn = ACTIVATIONS[act].numpy_fn
    return lambda x: fn(x, negative_slope)


def gaussian_moments(f: ActFn, mean: float, var: float) -> tuple[float, float, float]:
    """E[f(h)], E[f(h)^2] and kappa = Var(f(h)^2) / E[f(h)^2]^2 for h ~ N(mean, var).

    kappa is computed on f / max|f| so that it stays finite where E[f^4] would
    overflow float64 (a linear stack of N(0, 1) weights gets there by layer 64).
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        y = f(mean + math.sqrt(var) * _Z)
        m1, m2 = float(_W @ y), float(_W @ (y * y))
        scale = float(np.max(np.abs(y)))
        if not (math.isfinite(scale) and scale > 0):
            return m1, m2, math.nan
        ys2 = (y / scale) ** 2
        s2, s4 = float(_W @ ys2), float(_W @ (ys2 * ys2))
        return m1, m2, max(s4 - s2 * s2, 0.0) / (s2 * s2)


def fixed_point_gain(act: str, negative_slope: float = 0.01) -> float:
    """1 / sqrt(E[f(z)^2]), z ~ N(0, 1): the gain that keeps the second moment.

    A layer with weight variance gain^2 / fan_in maps an input of unit second
    moment to a pre-activation of variance gain^2 * E[f(z)^2] = 1, so this is the
    gain under which a unit-variance signal is a fixed point.  It is sqrt(2) for
    ReLU and 1 for linear, like torch's; for tanh it is 1.593, a little below
    torch's 5/3, and for SELU it is 1.0 where torch says 3/4.

    The trapezoid rule of `gaussian_moments`, not Gauss-Hermite: at the kinks
    of ELU and SELU (in f^2's second derivative) 160 Hermite nodes are still off
    by 2e-5, SELU's gain coming out 0.99998 instead of 1.
    """
    _, m2, _ = gaussian_moments(numpy_act(act, negative_slope), 0.0, 1.0)
    return 1.0 / math.sqrt(m2)


def auto_gain(act: str, negative_slope: float = 0.01) -> tuple[float, str]:
    """The gain `--gain auto` uses, and where it comes from.

    torch's `calculate_gain` where torch knows the activation; otherwise the
    fixed-point gain, which agrees with torch wherever both are defined by the
    same second-moment argument (linear, ReLU, leaky ReLU).
    """
    gain = torch_gain(act, negative_slope)
    if gain is not None:
        return gain, "torch.nn.init.calculate_gain"
    return fixed_point_gain(act, negative_slope), "fixed point 1/sqrt(E[f(z)^2])"


# ---------------------------------------------------------------------------
# Variance propagation through a stack


@dataclass(frozen=True)
class LayerPrediction:
    """The theory's view of one layer (1-based); None where it has no answer."""

    layer: int
    pre_std: float | None
    mean: float | None
    std: float | None
    band: tuple[float, float] | None


def _cross_moments(f: ActFn, beta: float, q: float, c: float) -> tuple[float, float]:
    """For two pre-activations of variance q and correlation c (two examples seen
    by the same weights): E[f(ha) f(hb)], and the correlation of f(ha)^2 with
    f(hb)^2, i.e. how much of one example's finite-width noise the other shares."""
    c = min(max(c, -1.0), 1.0)
    s = math.sqrt(q)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        fa = f(beta + s * _Z1)
        fb = f(beta + s * (c * _Z1 + math.sqrt(1.0 - c * c) * _Z2))
        ff = float(np.sum(_W2 * fa * fb))
        scale = float(max(np.max(np.abs(fa)), np.max(np.abs(fb))))
        if not (math.isfinite(scale) and scale > 0):
            return ff, 1.0
        a2, b2 = (fa / scale) ** 2, (fb / scale) ** 2
        ea, eb = float(np.sum(_W2 * a2)), float(np.sum(_W2 * b2))
        cov = float(np.sum(_W2 * a2 * b2)) - ea * eb
        # each factor is a variance: clamp the rounding of a saturated f below 0
        va = max(float(np.sum(_W2 * a2 * a2)) - ea * ea, 0.0)
        vb = max(float(np.sum(_W2 * b2 * b2)) - eb * eb, 0.0)
        var = math.sqrt(va * vb)
        return ff, (cov / var if var > 0 else 1.0)


def predict_stack(
    act: str,
    negative_slope: float,
    v: float,
    beta: float,
    var_b: float,
    m2_in: float,
    pairs_in: Pairs,
    layers: int,
    width: int,
    batch: int,
    orthogonal: bool = False,
    with_band: bool = True,
    kurtosis: float = 0.0,
) -> list[LayerPrediction]:
    """Predicted pre-activation std, output mean/std and 90% band for each layer.

    Args:
        v: fan_in * Var(w), the variance gain of one layer (1 keeps a linear stack).
        beta: the constant bias added to every pre-activation.
        var_b: the variance of a random bias (nn.Linear's default bias).
        m2_in: the input's mean square, E[x^2] (measured on the actual batch).
        pairs_in: the input batch's pairwise cosines (mean and variance over
            pairs) and the spread of its rows' log mean squares, measured.
        width, batch: finite-width and batch size for the band.
        orthogonal: orthogonal weights, whose Gram matrix W^T W is fixed.
        with_band: False for the infinite-width values alone (cheaper).
        kurtosis: the weights' excess kurtosis (the init record's).

    The infinite-width recursion gives the value; `nninit_cli.band` gives the
    band (the noise each layer adds to the batch's mean square, with the
    pairwise correlations it depends on, carried through a Markov chain on
    the log variance).
    """
    f = numpy_act(act, negative_slope)
    out: list[LayerPrediction] = []
    m2_prev = m2_in
    pairs = pairs_in
    alive = math.isfinite(m2_in)
    qs: list[float] = []
    rel_noise: list[float] = []
    mean_noise: list[MeanNoise] = []
    for layer in range(1, layers + 1):
        q = v * m2_prev + var_b if alive else math.nan
        if not (alive and math.isfinite(q)) or q < 0:
            alive = False
            out.append(LayerPrediction(layer, None, None, None, None))
            continue
        m1, m2, kappa = gaussian_moments(f, beta, q)
        if not math.isfinite(m2):
            alive = False
            out.append(LayerPrediction(layer, math.sqrt(q), None, None, None))
            continue
        std = math.sqrt(max(m2 - m1 * m1, 0.0))
        out.append(LayerPrediction(layer, math.sqrt(q), m1, std, None))
        qs.append(q)
        if with_band and q > 0 and m2 > 0 and math.isfinite(kappa) and kappa > 0:
            chi = _log_slope(f, beta, q) * (v * m2_prev / q)
            noise = layer_noise(f, beta, q, v * m2_prev, pairs, width, batch, orthogonal, chi, kurtosis)
            inj, _, pairs, mean_var = noise
            rel_noise.append(inj / kappa)
            mean_noise.append(mean_var)
        else:
            rel_noise.append(0.0)
            mean_noise.append(MeanNoise())
        m2_prev = m2
    if not with_band:
        return out
    return _with_bands(out, (act, negative_slope), beta, v, var_b, qs, rel_noise, mean_noise)


def _log_slope(f: ActFn, beta: float, q: float, h: float = 1e-3) -> float:
    """d log E[f(h)^2] / d log q at h ~ N(beta, q), by a central difference."""
    _, hi, _ = gaussian_moments(f, beta, q * math.exp(h))
    _, lo, _ = gaussian_moments(f, beta, q * math.exp(-h))
    return (math.log(hi) - math.log(lo)) / (2 * h) if hi > 0 and lo > 0 else 1.0


def _with_bands(out, act_key, beta, v, var_b, qs, rel_noise, mean_noise) -> list[LayerPrediction]:
    """Fill in the band of every layer the mean field reached (see `band`)."""
    if not qs:
        return out
    if not all(q > 0 for q in qs):
        # a variance of 0 stays 0 (zero weights, no bias): every unit sees the
        # same value, so every seed gives the infinite-width std exactly
        return [
            p if p.std is None else LayerPrediction(p.layer, p.pre_std, p.mean, p.std, (p.std, p.std))
            for p in out
        ]
    logs = np.log(qs)
    table = MomentTable(*act_key, beta, float(np.min(logs)) - 30.0, float(np.max(logs)) + 15.0)
    bands = chain_band(table, v, var_b, float(logs[0]), rel_noise, mean_noise)
    return [
        LayerPrediction(
            p.layer, p.pre_std, p.mean, p.std, bands[i] if i < len(bands) and p.std is not None else None
        )
        for i, p in enumerate(out)
    ]


def weight_variance_gain(net, fan_in: int, fan_out: int) -> float | None:
    """v = fan_in * Var(w) for `net`'s initialiser (its record's
    `variance_gain`, `nninit_cli.initialisers`), or None where the mean-field
    theory does not apply (weights with a non-zero mean, or not random)."""
    return INITS[net.init].variance_gain(net, fan_in, fan_out)


def bias_terms(net, fan_in: int) -> tuple[float, float]:
    """(constant shift, variance) that the bias adds to every pre-activation:
    --bias B shifts it by B, --bias-std S adds S^2 (sigma_b^2), nn.Linear's
    default U(+-1/sqrt(n)) adds 1 / (3n)."""
    if net.bias == "none":
        return 0.0, 0.0
    if net.bias == "default":
        return 0.0, 1.0 / (3.0 * fan_in)
    return float(net.bias), float(getattr(net, "bias_std", 0.0)) ** 2
