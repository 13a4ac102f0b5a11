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
# coarse one (h = 0.05, and like the fine one no node at a kink at 0: 1e-4
# relative at a kink, spectral for smooth phi), five times cheaper, which is
# what keeps a 40 x 40 grid fast.
FINE = _trapezoid(10.0, 2000)
COARSE = _trapezoid(10.0, 400)
_Z, _W = FINE

# Two-dimensional rule for c_map_2d: the same trapezoid, coarser, on a square.
_Z2, _W2 = _trapezoid(9.0, 720)

HERMITE_TERMS = 160  # Mehler series length: tanh's terms are < 1e-12 by k = 60
CRITICAL_TOL = 1e-2  # |chi_1 - 1| within this: "critical" (xi_c above ~100 layers)
UNBOUNDED_Q = 1e12  # the q-map's iterates beyond this: q* is infinite
UNIT_TOL = 1e-8  # a slope this close to 1 is 1 (the quadrature's own error is ~1e-10)
_DERIV_H = 1e-5


def act_fn(act: str, negative_slope: float = 0.01) -> ActFn:
    """The activation's float64 numpy function (its record's `numpy_fn`)."""
    fn = ACTIVATIONS[act].numpy_fn
    return lambda x: fn(x, negative_slope)


def derivative(f: ActFn) -> ActFn:
    """phi' by a central difference: error O(h^2) = 1e-10 for smooth phi.

    The step shrinks near 0, where ReLU-like functions have their kink, so
    that a difference never straddles it (the rules have no node at 0), and
    grows with |x| where a fixed one would drown in rounding."""

    def fp(x: Array) -> Array:
        ax = np.abs(x)
        # relative to |x| far out (a fixed step is lost in x's rounding at
        # |x| = 1e10), and never across 0
        h = np.where(x == 0, _DERIV_H, np.minimum(_DERIV_H * np.maximum(ax, 1.0), 0.5 * ax))
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
    stein = np.asarray(sigma_w2) * (y @ w) / s
    # at q = 0 (a signal that dies: phi(0) = 0, no bias) the Stein quotient is
    # 0 / 0; the slope there is the q -> 0+ limit of sigma_w2 E[phi'^2] (both
    # sides of a kink at 0: ReLU's sigma_w2 / 2, not phi'(0)^2 = 1/4 of it)
    small = q <= 1e-12
    if np.any(small):
        tiny = np.where(small, 1e-200, 1.0)
        stein = np.where(small, np.asarray(sigma_w2) * slope_moment(f, tiny, rule), stein)
    return stein


def q_star(
    f: ActFn,
    sigma_w2: Array,
    sigma_b2: Array,
    q0: float = 1.0,
    iters: int = 4000,
    rule: tuple[Array, Array] = FINE,
) -> Array:
    """The fixed point the q-map reaches from q0, for every cell at once
    (inf where the iterates grow without limit, as ReLU's do from sigma_w2 = 2
    on when there is a bias).

    The q-map is increasing, so its iterates move monotonically to the first
    root of g(q) = q-map(q) - q on the side g(q0) points to; none there means
    q* is infinite (g > 0) or 0 (g < 0).  Finding that root directly, rather
    than iterating, also settles the cells where the iterates crawl (ReLU at
    sigma_w2 = 2 grows by sigma_b2 a step; tanh at sigma_w2 = 1, sigma_b2 = 0
    shrinks like 1/l): 4000 iterations left those at q = 401 and 6e-5.  The
    root is bracketed on a table of E[phi^2] (log-log interpolation, 2400
    points over 30 decades), bisected there, then polished with Newton steps
    of the exact quadrature.  `iters` bounds the bisection.
    """
    sw2, sb2 = np.broadcast_arrays(np.asarray(sigma_w2, float), np.asarray(sigma_b2, float))
    sw2, sb2 = sw2.ravel(), sb2.ravel()
    shape = np.broadcast(np.asarray(sigma_w2), np.asarray(sigma_b2)).shape
    grid = np.logspace(-15, 15, 2400)
    table = np.maximum(second_moment(f, grid, rule), 1e-300)  # the Newton steps' rule: they polish it
    lg, lt = np.log(grid), np.log(table)

    def m2(q: Array) -> Array:
        return np.exp(np.interp(np.log(np.clip(q, grid[0], grid[-1])), lg, lt))

    g0 = sw2 * float(second_moment(f, np.array(q0), rule)) + sb2 - q0
    still = np.abs(g0) <= 1e-9 * q0  # every q is fixed (linear, ReLU at sigma_w2 = 2 without bias)
    up = (g0 > 0) & ~still
    coarse = grid[::8]  # brackets on every 8th point (10 a decade), bisected on the full table
    g = sw2[:, None] * table[None, ::8] + sb2[:, None] - coarse[None, :]  # (cells, points)
    lo = np.zeros(len(sw2))
    hi = np.full(len(sw2), np.inf)
    grid = coarse
    above, below = grid >= q0, grid <= q0
    # rising: the first table point above q0 where g <= 0 brackets the root with the point before it
    hit = above & (g <= 0)
    first = np.argmax(hit, axis=1)
    rise = up & hit.any(axis=1)
    prev = grid[np.maximum(first - 1, 0)]
    lo[rise] = np.where(prev[rise] >= q0, prev[rise], q0)
    hi[rise] = grid[first[rise]]
    # falling: the last table point below q0 where g >= 0, with the point after it
    hit = below & (g >= 0)
    last = len(grid) - 1 - np.argmax(hit[:, ::-1], axis=1)
    fall = ~up & ~still
    found = fall & hit.any(axis=1)
    lo[found] = grid[last[found]]
    hi[found] = np.minimum(grid[np.minimum(last[found] + 1, len(grid) - 1)], q0)
    hi[fall & ~found] = 0.0  # g < 0 all the way down: the signal dies, q* = 0
    bracket = np.isfinite(hi) & (hi > 0) & ~still
    a, b = lo[bracket], hi[bracket]
    s_w, s_b = sw2[bracket], sb2[bracket]
    for _ in range(min(iters, 80)):  # log-bisection on the table: 80 halvings of 2e-3 decades
        mid = np.sqrt(np.maximum(a, 1e-300) * b)
        pos = s_w * m2(mid) + s_b - mid > 0
        a, b = np.where(pos, mid, a), np.where(pos, b, mid)
    q = np.where(still, q0, np.where(np.isinf(hi), np.inf, 0.0))
    q[bracket] = np.sqrt(np.maximum(a, 1e-300) * b)
    q = np.where(q > UNBOUNDED_Q, np.inf, q)
    fin = np.isfinite(q) & (q > 1e-14) & ~still
    for _ in range(2 if rule is FINE else 1):
        if not fin.any():
            break
        qf = q[fin]
        gq = sw2[fin] * second_moment(f, qf, rule) + sb2[fin] - qf
        dg = q_map_slope(f, qf, sw2[fin], rule) - 1.0
        step = np.where(np.abs(dg) > 1e-9, gq / np.where(dg == 0, 1.0, dg), 0.0)
        q[fin] = np.maximum(qf - step, 0.0)
    q = np.where(q <= 1e-14, 0.0, q)
    # Far out an unbounded phi is homogeneous to within the quadrature's
    # resolution (softplus^2 - relu^2 integrates to ~1/sqrt(q)), so a "root"
    # there with the q-map's slope 1 is rounding: the map still grows, and
    # q* is infinite (softplus at sigma_w2 = 2 read q* = 9e5)
    far = np.isfinite(q) & (q > 1e4 * np.maximum(1.0, np.maximum(sb2, q0)))
    if far.any():
        slope = q_map_slope(f, q[far], sw2[far], rule)
        q[np.flatnonzero(far)[np.abs(slope - 1.0) < 1e-6]] = np.inf
    return q.reshape(shape)


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
    return math.inf if chi >= 1.0 - UNIT_TOL else -1.0 / math.log(chi)


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
        # at q* = 0 the limit q -> 0+: phi' on both sides of a kink at 0
        # (ReLU's chi_1 is sigma_w2 / 2 there, not phi'(0)^2 = 1/4 of it)
        chi1[fin] = sw2[fin] * slope_moment(f, np.maximum(qs[fin], 1e-200), rule)
        chiq[fin] = q_map_slope(f, qs[fin], sw2[fin], rule)
        chic[fin] = chi1[fin]
    # chi_1 = 1 to the quadrature's accuracy (ReLU at sigma_w2 = 2, linear at
    # 1): c* = 1, approached as a power law, not the chaotic branch's c* < 1
    chaotic = fin & (chi1 > 1.0 + UNIT_TOL) & (qs > 0)
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
    (shared by every sigma_b2), then narrowed on the exact quadrature, every
    sigma_b2 at once, until the bracket is below `tol` relative (sigma_w2 to
    1e-9 and better).
    """
    sb2 = np.atleast_1d(np.asarray(sigma_b2, float))
    grid = np.concatenate([[0.0], np.logspace(-10, 8, 361)])  # 20 a decade: R is smooth in log q

    def r(q: Array) -> Array:
        d = slope_moment(f, q)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 0, second_moment(f, q) / d - q, np.nan)

    rg = r(grid)
    # homogeneous phi (linear, ReLU, leaky ReLU): R(q) = 0 for every q, so
    # sigma_b2 = 0 has chi_1 = 1 at one sigma_w2 whatever q is, and
    # sigma_b2 > 0 has no finite q* with chi_1 = 1
    flat = bool(np.all(np.abs(rg[1:]) <= 1e-7 * grid[1:]))
    out: list[CriticalPoint | None] = [None] * len(sb2)
    brackets: dict[int, tuple[float, float]] = {}
    for k, b in enumerate(sb2):
        if flat:
            sw2 = float(1.0 / slope_moment(f, np.array(1.0))) if b == 0.0 else None
            out[k] = CriticalPoint(float(b), sw2, None)
            continue
        h = rg + b
        if h[0] == 0.0:
            # q* = 0 (tanh without bias): chi_1 = sigma_w2 phi'(0)^2, but only
            # if the cells, whose q-map starts at q = 1, do not explode there
            # (GELU at sigma_w2 = 4 does: its q = 0 is unstable from q = 1)
            sw2_0 = float(1.0 / slope_moment(f, np.array(1e-12)))
            if np.isfinite(q_star(f, np.array([sw2_0]), np.array([0.0]))[0]):
                out[k] = CriticalPoint(float(b), sw2_0, 0.0)
                continue
            h = h.copy()
            h[0] = np.nan  # look for a root at q > 0 instead
        ok = np.isfinite(h[:-1]) & np.isfinite(h[1:])
        sign = np.flatnonzero(ok & (np.sign(h[:-1]) != np.sign(h[1:])))
        if len(sign) == 0:
            out[k] = CriticalPoint(float(b), None, None)
            continue
        brackets[k] = (grid[int(sign[0])], grid[int(sign[0]) + 1])
    if brackets:  # every sigma_b2's bisection at once: one quadrature per step for all of them
        idx = np.array(list(brackets))
        lo, hi = (np.array(v) for v in zip(*brackets.values(), strict=True))
        b = sb2[idx]
        hlo, hhi = r(lo) + b, r(hi) + b

        def keep(mid: Array, hm: Array) -> tuple[Array, ...]:
            left = np.sign(hm) == np.sign(hlo)  # the root lies in [mid, hi]
            return left, np.where(left, mid, lo), np.where(left, hm, hlo), np.where(left, hi, mid), np.where(
                left, hhi, hm
            )

        # bisection to 1e-4 relative, then false position with the Illinois
        # rule (an end kept twice has its value halved): superlinear on a
        # smooth R, ~12 + ~6 quadratures instead of ~40 bisections to `tol`
        while np.any(hi - lo > 1e-4 * hi):
            mid = 0.5 * (lo + hi)
            _, lo, hlo, hi, hhi = keep(mid, r(mid) + b)
        kept = np.zeros(len(lo))  # +1: hi was kept last step, -1: lo was
        for _ in range(40):
            if not np.any(hi - lo > tol * hi):
                break
            gap = np.where(hhi != hlo, hhi - hlo, 1.0)
            mid = np.clip((lo * hhi - hi * hlo) / gap, lo, hi)
            hm = r(mid) + b
            left = np.sign(hm) == np.sign(hlo)
            hhi = np.where(left & (kept == 1), 0.5 * hhi, hhi)
            hlo = np.where(~left & (kept == -1), 0.5 * hlo, hlo)
            _, lo, hlo, hi, hhi = keep(mid, hm)
            kept = np.where(left, 1.0, -1.0)
            done = hm == 0
            lo, hi = np.where(done, mid, lo), np.where(done, mid, hi)
        q = np.where(np.abs(hlo) <= np.abs(hhi), lo, hi)
        sw2s = 1.0 / slope_moment(f, q)
        # a root far out where phi is homogeneous to the quadrature's
        # resolution is rounding, as in q_star (softplus, GELU without bias)
        slope = q_map_slope(f, q, sw2s)
        far = (q > 1e4 * np.maximum(1.0, b)) & (np.abs(slope - 1.0) < 1e-6)
        # and a fixed point the q-map leaves (slope > 1) is not where a stack
        # settles: GELU's chi_1 = 1 points are unstable, its cells go from
        # ordered straight to unbounded as the stable q* disappears
        far |= slope > 1.0 + 1e-9
        for k, qk, wk, fk in zip(idx, q, sw2s, far, strict=True):
            out[int(k)] = CriticalPoint(float(sb2[k]), None if fk else float(wk), None if fk else float(qk))
    return [p for p in out if p is not None]


# ---------------------------------------------------------------------------
# Two inputs through a finite stack: the correlation map layer by layer.
#
# std-trace starts from a measured input (any variance, any correlation), so
# the pair is followed from there rather than from q*: per layer the
# pre-activations of two examples are Gaussian around the constant bias beta
# with variance q and covariance q_ab,
#
#     q_l = v m_{l-1} + var_b,   q_ab,l = v m_ab,{l-1} + var_b,
#     m = E[phi(beta + u_a)^2],  m_ab = E[phi(beta + u_a) phi(beta + u_b)],
#
# and the cosine of the two pre-activation vectors (over units, uncentred) is
# (q_ab + beta^2) / (q + beta^2).

# Product trapezoid rule for `pair_moments`: 300 x 300 nodes on [-9, 9]^2,
# 17 times fewer evaluations of phi than `c_map_2d`'s 720 x 720.
_PAIR_RULE = _trapezoid(9.0, 300)
TRACE_CONVERGED = 1e-14  # q and 1 - c both this still (relative): the rest of the trace is constant
TRACE_MAX_LAYERS = 5000  # quadrature steps at most; a trace still moving beyond has no prediction


def pair_moments(
    f: ActFn, q: float, c: float, mean: float = 0.0, one_minus_c: float | None = None
) -> tuple[float, float, float]:
    """(E[phi(u_a)^2], E[phi(u_a) phi(u_b)], E[(phi(u_a) - phi(u_b))^2] / 2) for
    u_a, u_b Gaussian with mean `mean`, variance q and correlation c.

    Written as u = mean + sqrt(q) (sqrt|c| w + sqrt(1 - |c|) z), w shared by
    the two and z their own, the cross moment is E_w[g(w) g(+-w)] with g(w) =
    E_z[phi(u)]: a product rule over (w, z) whose nodes serve all three
    moments.  For c >= 0 the last is E_w[Var_z phi], computed as a variance,
    so 1 - c' keeps its relative accuracy however close c is to 1, and the w
    nodes are refined around the kink at u = 0 (ReLU's, ELU's: every kinked
    activation nninit has), where that variance changes over a width
    sqrt((1 - c) / c) in w: ReLU's c-map deviates from the identity by
    exactly that kink's share, and correlations creep to 1 as 1 / depth^2.
    `one_minus_c` passes 1 - c where the caller holds it more precisely.
    On ReLU (against the arc-cosine kernel): 1 - c' to 2e-4 relative from
    c = 0.5 down to 1 - c = 1e-8, the cross moment to 1e-3 at c < 0; smooth
    phi to rounding.
    """
    omc = 1.0 - c if one_minus_c is None else one_minus_c
    omc = min(max(omc, 0.0), 2.0)
    c = 1.0 - omc
    shared, own = (c, omc) if c >= 0 else (-c, 1.0 - abs(c))  # |c|, 1 - |c|
    z, wz = _PAIR_RULE
    s = math.sqrt(max(q, 0.0))
    a, sd = s * math.sqrt(shared), s * math.sqrt(own)
    w, ww = _PAIR_RULE if c < 0 or a == 0.0 else _refined(-mean / a, sd / a)
    m = float(_expect(lambda x: f(mean + x) ** 2, np.array(q)))  # one variable: the fine 1-D rule
    with np.errstate(over="ignore", invalid="ignore"):
        y = f(mean + a * w[:, None] + sd * z[None, :])
        g = y @ wz
        if c >= 0:
            half_gap = float(ww @ (((y - g[:, None]) ** 2) @ wz))
            return m, m - half_gap, half_gap
        cross = float(ww @ (g * g[::-1]))
    return m, cross, m - cross


def _refined(kink: float, scale: float, nodes: int = 600) -> tuple[Array, Array]:
    """A rule for E_w over [-9, 9] with nodes dense around `kink` (spacing
    ~ scale / 40 there) where `scale` is below `_PAIR_RULE`'s spacing: w =
    kink + scale sinh(t), t on an even grid, so the nodes thin out smoothly
    (no seam between a fine and a coarse grid, where the trapezoid rule loses
    its accuracy)."""
    z = _PAIR_RULE[0]
    if scale >= z[1] - z[0] or not abs(kink) < z[-1]:
        return _PAIR_RULE
    t = np.linspace(math.asinh((z[0] - kink) / scale), math.asinh((z[-1] - kink) / scale), nodes)
    w = kink + scale * np.sinh(t)
    weights = np.exp(-0.5 * w**2) * np.cosh(t)
    weights[0] *= 0.5
    weights[-1] *= 0.5
    return w, weights / weights.sum()


def cosine_trace(
    f: ActFn,
    v: float,
    beta: float,
    var_b: float,
    m2_in: float,
    cos_in: float,
    layers: int,
) -> list[float | None]:
    """Predicted cosine between two examples' pre-activations at layers 1..L
    of a stack phi(W x + b) (W of variance v / fan_in, b = beta + N(0, var_b)),
    from two inputs of mean square m2_in at cosine cos_in.

    None from the layer where a variance leaves float64's range, and beyond
    TRACE_MAX_LAYERS quadrature steps unless the trace has converged by then
    (q and 1 - c still to TRACE_CONVERGED): then it is constant.
    """
    m, gap = m2_in, (1.0 - cos_in) * m2_in  # per-unit mean square and m - m_ab
    out: list[float | None] = []
    prev: tuple[float, float] | None = None
    for layer in range(layers):
        q = v * m + var_b
        dist = v * gap  # q - q_ab
        if not (math.isfinite(q) and math.isfinite(dist) and q + beta * beta > 0):
            return out + [None] * (layers - layer)
        out.append(1.0 - dist / (q + beta * beta))
        if q <= 0.0:  # every unit sees the bias alone; both examples the same value
            m, gap = float(f(np.array([beta]))[0]) ** 2, 0.0
            continue
        omc = dist / q
        if prev is not None and _still(prev, (q, omc)):
            return out + [out[-1]] * (layers - layer - 1)
        if layer >= TRACE_MAX_LAYERS:
            return out + [None] * (layers - layer - 1)
        prev = (q, omc)
        m, _, half_gap = pair_moments(f, q, 1.0 - omc, beta, one_minus_c=omc)
        gap = half_gap
    return out


def _still(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Both q and 1 - c unchanged to TRACE_CONVERGED, relative."""
    return all(abs(x - y) <= TRACE_CONVERGED * max(abs(x), abs(y), 1e-300) for x, y in zip(a, b, strict=True))


def correlation_trace(f: ActFn, cell: Cell, c0: float, layers: int) -> tuple[list[float], list[float]]:
    """The correlations c_1 .. c_layers of two inputs whose layer-0
    pre-activations have variance q* and correlation c0, and the c-map's
    slope at each of c_0 .. c_(layers-1): the infinite-width path a measured
    stack is compared with, and where along it the decay to c* has become
    exponential (the slope there is chi_c).  Needs a finite q* > 0."""
    assert cell.q_star is not None and cell.q_star > 0, "a correlation path needs a finite q* > 0"
    q = cell.q_star
    coef2 = hermite_coefficients(f, np.array(q), rule=FINE) ** 2
    cs, slopes, c = [], [], float(c0)
    for _ in range(layers):
        value, slope = c_map_series(coef2, np.array(c))
        slopes.append(float(cell.sigma_w2 * slope[0] / q))
        c = float(min(max((cell.sigma_w2 * value[0] + cell.sigma_b2) / q, -1.0), 1.0))
        cs.append(c)
    return cs, slopes
