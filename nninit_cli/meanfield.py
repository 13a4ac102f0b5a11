"""Signal propagation at infinite width: order, chaos and depth scales.

numpy only (no torch), so `nninit phase` answers a whole grid in a fraction of
the time torch takes to import.  Notation of Poole et al. (2016) and Schoenholz
et al. (2017): weights of variance sigma_w2 / fan_in, biases N(0, sigma_b2), a
pre-activation variance q and the correlation c between two inputs' signals.

    q-map   q' = sigma_w2 E[phi(sqrt(q) z)^2] + sigma_b2
    c-map   c' = (sigma_w2 E[phi(u_a) phi(u_b)] + sigma_b2) / q*,
            (u_a, u_b) Gaussian, variance q*, correlation c
    chi_1   = sigma_w2 E[phi'(sqrt(q*) z)^2]  (slope of the c-map at c = 1)

chi_1 < 1: ordered (every pair of inputs ends up aligned, c* = 1); chi_1 > 1:
chaotic (nearby inputs decorrelate to c* < 1); chi_1 = 1: the critical line.
The depth scales are how many layers a deviation survives:
xi_q = -1 / ln chi_q (chi_q the q-map's slope at q*) and xi_c = -1 / ln chi_c
(chi_c the c-map's slope at c*), infinite on the critical line.

The c-map is evaluated with Mehler's formula: with a_k the normalised Hermite
coefficients of phi(sqrt(q*) z), E[phi(u_a) phi(u_b)] = sum_k a_k^2 c^k.  That
turns a 2-D integral per c into one 1-D projection per cell, which is what
lets a 40 x 40 grid run in milliseconds; `c_map_2d` is the direct 2-D
quadrature the tests and std-trace's correlation column use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nninit_cli.registry import ACTIVATIONS

Array = np.ndarray
ActFn = Callable[[Array], Array]

# One-dimensional rule: trapezoid on [-10, 10] (see theory.py: it converges on
# kinked activations, where Gauss-Hermite does not).
def _trapezoid(half_width: float, nodes: int) -> tuple[Array, Array]:
    z = np.linspace(-half_width, half_width, nodes)
    w = np.exp(-0.5 * z**2)
    w[0] *= 0.5
    w[-1] *= 0.5
    return z, w / w.sum()


# The critical line and the tests use the fine rule; a grid of cells the
# coarse one (h = 0.05, and like the fine one no node at a kink at 0: 1e-4 relative at a kink, spectral for smooth phi),
# five times cheaper, which is what keeps a 40 x 40 grid fast.
FINE = _trapezoid(10.0, 2000)
COARSE = _trapezoid(10.0, 400)
_Z, _W = FINE

# Two-dimensional rule for c_map_2d: the same trapezoid, coarser, on a square.
_Z2, _W2 = _trapezoid(9.0, 720)

HERMITE_TERMS = 160  # Mehler series length: tanh's terms are < 1e-12 by k = 60
CRITICAL_TOL = 1e-2  # |chi_1 - 1| within this: "critical" (xi_c above ~100 layers)
UNBOUNDED_Q = 1e12  # the q-map's iterates beyond this: q* is infinite
_DERIV_H = 1e-5


def act_fn(act: str, negative_slope: float = 0.01) -> ActFn:
    """The activation's float64 numpy function (its record's `numpy_fn`)."""
    fn = ACTIVATIONS[act].numpy_fn
    return lambda x: fn(x, negative_slope)


def derivative(f: ActFn) -> ActFn:
    """phi' by a central difference: error O(h^2) = 1e-10 for smooth phi.

    The step shrinks near 0, where ReLU-like functions have their kink, so
    that a difference never straddles it (the rules have no node at 0)."""

    def fp(x: Array) -> Array:
        h = np.where(x == 0, _DERIV_H, np.minimum(_DERIV_H, 0.5 * np.abs(x)))
        return (f(x + h) - f(x - h)) / (2 * h)

    return fp


def _expect(g: ActFn, q: Array, rule: tuple[Array, Array] = FINE) -> Array:
    """E[g(sqrt(q) z)] for every q of an array, z ~ N(0, 1)."""
    z, w = rule
    q = np.asarray(q, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        y = g(np.sqrt(np.maximum(q, 0.0))[..., None] * z)
    return y @ w


def second_moment(f: ActFn, q: Array, rule: tuple[Array, Array] = FINE) -> Array:
    """E[phi(sqrt(q) z)^2]."""
    return _expect(lambda x: f(x) ** 2, q, rule)


def slope_moment(f: ActFn, q: Array, rule: tuple[Array, Array] = FINE) -> Array:
    """E[phi'(sqrt(q) z)^2]: chi_1 / sigma_w2 at variance q."""
    fp = derivative(f)
    return _expect(lambda x: fp(x) ** 2, q, rule)


def q_map_slope(f: ActFn, q: Array, sigma_w2: Array, rule: tuple[Array, Array] = FINE) -> Array:
    """d q' / d q at q: sigma_w2 E[phi'^2 + phi phi''], here as
    sigma_w2 E[phi(u) phi'(u) z] / sqrt(q) (Stein), which needs no phi''."""
    z, w = rule
    fp = derivative(f)
    q = np.asarray(q, dtype=float)
    s = np.sqrt(np.maximum(q, 1e-300))
    with np.errstate(over="ignore", invalid="ignore"):
        u = s[..., None] * z
        y = f(u) * fp(u) * z
    return np.asarray(sigma_w2) * (y @ w) / s


def q_star(
    f: ActFn,
    sigma_w2: Array,
    sigma_b2: Array,
    q0: float = 1.0,
    iters: int = 4000,
    rule: tuple[Array, Array] = FINE,
) -> Array:
    """The fixed point the q-map reaches from q0, for every cell at once
    (inf where the iterates grow without limit, as ReLU's do above sigma_w2 = 2).

    Iterates on a tabulated E[phi^2] (log-log interpolation, 2400 points over
    30 decades), then polishes with Newton steps of the exact quadrature.
    """
    sw2, sb2 = np.broadcast_arrays(np.asarray(sigma_w2, float), np.asarray(sigma_b2, float))
    grid = np.logspace(-15, 15, 2400)
    table = np.maximum(second_moment(f, grid), 1e-300)
    lg, lt = np.log(grid), np.log(table)

    def m2(q: Array) -> Array:
        return np.exp(np.interp(np.log(np.clip(q, grid[0], grid[-1])), lg, lt))

    q = np.full(sw2.shape, float(q0))
    for _ in range(iters):
        nxt = np.minimum(sw2 * m2(q) + sb2, 10 * UNBOUNDED_Q)
        done = np.abs(nxt - q) <= 1e-13 * np.maximum(q, 1e-300)
        q = nxt
        if done.all():
            break
    unbounded = q > UNBOUNDED_Q
    fin = ~unbounded & (q > 1e-14)
    for _ in range(2 if rule is FINE else 1):
        if not fin.any():
            break
        qf = q[fin]
        g = sw2[fin] * second_moment(f, qf, rule) + sb2[fin] - qf
        dg = q_map_slope(f, qf, sw2[fin], rule) - 1.0
        step = np.where(np.abs(dg) > 1e-9, g / np.where(dg == 0, 1.0, dg), 0.0)
        q[fin] = np.maximum(qf - step, 0.0)
    q = np.where(q <= 1e-14, 0.0, q)
    return np.where(unbounded, np.inf, q)


def hermite_coefficients(
    f: ActFn, q: Array, terms: int = HERMITE_TERMS, rule: tuple[Array, Array] = FINE
) -> Array:
    """a_k = E[phi(sqrt(q) z) He_k(z)] / sqrt(k!) for k < terms, per q (last axis k).

    The normalised probabilists' Hermite polynomials by their three-term
    recurrence, so that nothing overflows at k = 160."""
    z, w = rule
    q = np.atleast_1d(np.asarray(q, dtype=float))
    with np.errstate(over="ignore", invalid="ignore"):
        y = f(np.sqrt(np.maximum(q, 0.0))[:, None] * z) * w  # (cells, nodes)
    out = np.empty((len(q), terms))
    h_prev, h = np.zeros_like(z), np.ones_like(z)
    for k in range(terms):
        out[:, k] = y @ h
        h_prev, h = h, (z * h - math.sqrt(k) * h_prev) / math.sqrt(k + 1)
    return out


def c_map_series(coef2: Array, c: Array) -> tuple[Array, Array]:
    """(sum_k a_k^2 c^k, its derivative in c) per cell, coef2 = a_k^2 (cells, k)."""
    c = np.asarray(c, dtype=float)
    k = np.arange(coef2.shape[-1])
    powers = c[..., None] ** k
    value = np.sum(coef2 * powers, axis=-1)
    slope = np.sum(coef2[..., 1:] * k[1:] * powers[..., :-1], axis=-1)
    return value, slope


def c_map_2d(f: ActFn, q: float, c: float) -> float:
    """E[phi(u_a) phi(u_b)], (u_a, u_b) ~ N(0, q [[1, c], [c, 1]]), by direct
    2-D trapezoid quadrature: the independent check of the Mehler series, and
    the correlation map std-trace uses layer by layer."""
    c = min(max(c, -1.0), 1.0)
    s = math.sqrt(max(q, 0.0))
    with np.errstate(over="ignore", invalid="ignore"):
        fa = f(s * _Z2)
        fb = f(s * (c * _Z2[:, None] + math.sqrt(1.0 - c * c) * _Z2[None, :]))
    return float(_W2 @ ((fa[:, None] * fb) @ _W2))


@dataclass(frozen=True)
class Cell:
    """The infinite-width theory at one (sigma_w2, sigma_b2): None where a
    quantity does not exist (q* infinite; a depth scale that is infinite is
    math.inf)."""

    sigma_w2: float
    sigma_b2: float
    q_star: float | None
    chi1: float | None
    c_star: float | None
    chi_c: float | None
    xi_q: float | None
    xi_c: float | None
    phase: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _depth_scale(chi: float) -> float:
    """-1 / ln chi: layers for a deviation to shrink by e (inf at chi >= 1)."""
    if not math.isfinite(chi) or chi <= 0:
        return 0.0 if chi == 0 else math.inf
    return math.inf if chi >= 1.0 else -1.0 / math.log(chi)


def phase_of(chi1: float | None, tol: float = CRITICAL_TOL) -> str:
    """ordered / critical / chaotic by chi_1; unbounded where q* is infinite."""
    if chi1 is None:
        return "unbounded"
    if abs(chi1 - 1.0) <= tol:
        return "critical"
    return "ordered" if chi1 < 1.0 else "chaotic"


def phase_grid(f: ActFn, sigma_w2: Array, sigma_b2: Array, rule: tuple[Array, Array] = COARSE) -> list[Cell]:
    """The theory at every (sigma_w2, sigma_b2) pair of two equal-length arrays."""
    sw2 = np.asarray(sigma_w2, float).ravel()
    sb2 = np.asarray(sigma_b2, float).ravel()
    qs = q_star(f, sw2, sb2, rule=rule)
    fin = np.isfinite(qs)
    chi1 = np.full(len(sw2), np.nan)
    chiq = np.full(len(sw2), np.nan)
    cstar = np.ones(len(sw2))
    chic = np.full(len(sw2), np.nan)
    if fin.any():
        chi1[fin] = sw2[fin] * slope_moment(f, qs[fin], rule)
        chiq[fin] = q_map_slope(f, qs[fin], sw2[fin], rule)
        chic[fin] = chi1[fin]
    chaotic = fin & (chi1 > 1.0) & (qs > 0)
    if chaotic.any():
        idx = np.flatnonzero(chaotic)
        cstar[idx], chic[idx] = _stable_correlation(f, sw2[idx], sb2[idx], qs[idx], rule)
    cells = []
    for i in range(len(sw2)):
        if not fin[i]:
            cells.append(Cell(float(sw2[i]), float(sb2[i]), None, None, None, None, None, None, "unbounded"))
            continue
        c1 = float(chi1[i])
        cells.append(
            Cell(
                sigma_w2=float(sw2[i]),
                sigma_b2=float(sb2[i]),
                q_star=float(qs[i]),
                chi1=c1,
                c_star=float(cstar[i]),
                chi_c=float(chic[i]),
                xi_q=_depth_scale(float(chiq[i])),
                xi_c=_depth_scale(float(chic[i])),
                phase=phase_of(c1),
            )
        )
    return cells


def _stable_correlation(
    f: ActFn, sw2: Array, sb2: Array, qs: Array, rule: tuple[Array, Array]
) -> tuple[Array, Array]:
    """c* < 1 and the c-map's slope there, for chaotic cells (chi_1 > 1).

    F(c) = c-map(c) - c is >= 0 at c = 0 and < 0 just below c = 1 (c = 1 is an
    unstable fixed point: the slope there is chi_1 > 1), so bisection on
    [0, 1) brackets the stable root; iterating the map instead would crawl
    near the critical line, where the slope at c* approaches 1.
    """
    coef2 = hermite_coefficients(f, qs, rule=rule) ** 2

    def excess(c: Array) -> Array:
        value, _ = c_map_series(coef2, c)
        return (sw2 * value + sb2) / qs - c

    lo, hi = np.zeros(len(qs)), np.full(len(qs), 1.0 - 1e-9)
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        up = excess(mid) > 0
        lo, hi = np.where(up, mid, lo), np.where(up, hi, mid)
    c = 0.5 * (lo + hi)
    _, slope = c_map_series(coef2, c)
    return c, sw2 * slope / qs


@dataclass(frozen=True)
class CriticalPoint:
    """Where chi_1 = 1 at one sigma_b2; sigma_w2 None where no finite q* has
    chi_1 = 1 (ReLU with a random bias: its q* is infinite at sigma_w2 = 2)."""

    sigma_b2: float
    sigma_w2: float | None
    q_star: float | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def critical_line(f: ActFn, sigma_b2: Array, tol: float = 1e-12) -> list[CriticalPoint]:
    """sigma_w2(sigma_b2) on chi_1 = 1.

    On the line sigma_w2 = 1 / E[phi'^2](q*) and q* = sigma_w2 E[phi^2](q*) +
    sigma_b2, so q* is a root of R(q) + sigma_b2 with R(q) = E[phi^2] /
    E[phi'^2] - q, one equation in q alone: bracketed on a log grid of q
    (shared by every sigma_b2), then bisected on the exact quadrature until the
    bracket is below `tol` relative (sigma_w2 to 1e-9 and better).
    """
    sb2 = np.atleast_1d(np.asarray(sigma_b2, float))
    grid = np.concatenate([[0.0], np.logspace(-10, 8, 1800)])

    def r(q: Array) -> Array:
        d = slope_moment(f, q)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 0, second_moment(f, q) / d - q, np.nan)

    rg = r(grid)
    # homogeneous phi (linear, ReLU, leaky ReLU): R(q) = 0 for every q, so
    # sigma_b2 = 0 has chi_1 = 1 at one sigma_w2 whatever q is, and
    # sigma_b2 > 0 has no finite q* with chi_1 = 1
    flat = bool(np.all(np.abs(rg[1:]) <= 1e-7 * grid[1:]))
    out = []
    for b in sb2:
        if flat:
            sw2 = float(1.0 / slope_moment(f, np.array(1.0))) if b == 0.0 else None
            out.append(CriticalPoint(float(b), sw2, None))
            continue
        h = rg + b
        if h[0] == 0.0:  # q* = 0 (tanh without bias): chi_1 = sigma_w2 phi'(0)^2
            out.append(CriticalPoint(float(b), float(1.0 / slope_moment(f, np.array(1e-12))), 0.0))
            continue
        ok = np.isfinite(h[:-1]) & np.isfinite(h[1:])
        sign = np.flatnonzero(ok & (np.sign(h[:-1]) != np.sign(h[1:])))
        if len(sign) == 0:
            out.append(CriticalPoint(float(b), None, None))
            continue
        i = int(sign[0])
        lo, hi = grid[i], grid[i + 1]
        hlo = float(r(np.array(lo)) + b)
        while hi - lo > tol * max(hi, 1e-300):
            mid = 0.5 * (lo + hi)
            hm = float(r(np.array(mid)) + b)
            if (hm > 0) == (hlo > 0):
                lo, hlo = mid, hm
            else:
                hi = mid
        q = 0.5 * (lo + hi)
        out.append(CriticalPoint(float(b), float(1.0 / slope_moment(f, np.array(q))), float(q)))
    return out
