"""The finite-width band of an MLP stack: where 90% of seeds' layer stds fall.

numpy only.  Two parts.

**How much noise each layer adds to the batch's mean square.**  Given the
layer's input, a Gaussian layer's n units are independent: each sees the
batch as a b-vector h ~ N(beta, v G + var_b), so the batch's mean square S is
an average of n i.i.d. terms g = mean_a f(h_a)^2, with relative variance

    inj = Var(g) / (n E[g]^2),   Var(g) = V0 / b + (1 - 1/b) V1,

V0 = Var(f(h)^2) and V1 = Cov(f(h_a)^2, f(h_b)^2) for two examples.  V1
depends on the two examples' correlation, and that is where the old band
went wrong: at finite width the pairwise correlations are not fixed at their
mean-field value but diffuse (each layer adds (1 - c^2)^2 / n to a linear
stack's), so with depth the batch's Gram matrix loses rank and a batch of 64
averages away far less than 1/64 of the noise.  `_Pairs` carries the mean and
the spread of the pairwise cosines layer by layer (three-node Gauss-Hermite in
c, the 2-D quadrature at each node), and V1 is averaged over that spread.
Orthogonal weights fix the Gram matrix of W x exactly, so their units are
i.i.d. Gaussian *conditioned on* it: the noise is the Gaussian one less its
projection on the quadratic statistics that no longer move (linear
orthogonal stacks have no noise at all; ReLU's kappa drops from 5 to 3).

**How that noise travels.**  Not linearised: the batch's log pre-activation
variance is a Markov chain, propagated as a density on a grid, layer by layer:
log S_l given q_l is Gaussian with mean log E[f^2](q_l) - inj / 2 (Jensen) and
variance inj, and q_{l+1} = v S_l + var_b.  The chain follows nonlinear maps
and unstable fixed points (GELU at its fixed-point gain drifts off it one way
or the other at width 64), where a linearised walk is too narrow by 6x.  The
band is the 5% and 95% quantiles of the resulting std.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nninit_cli.registry import ACTIVATIONS

Array = np.ndarray
ActFn = Callable[[Array], Array]

QUANTILES = (0.05, 0.95)
_GRID = 200  # nodes of the chain's density (log q)

# 2-D Gauss-Hermite for the pair terms (smooth enough: only averages of f
# products enter, and a 1% error in a noise variance moves the band 0.5%)
_gz, _gw = np.polynomial.hermite_e.hermegauss(40)
_gw = _gw / _gw.sum()
_ZA, _ZB = np.meshgrid(_gz, _gz, indexing="ij")
_WAB = np.outer(_gw, _gw)
# nodes for the spread of the pairs' Fisher z (7-point Gauss-Hermite: a
# deep stack's z spreads to sd 1.5, where tanh(z)^2 needs more than 3)
_CN, _CW = np.polynomial.hermite_e.hermegauss(7)
_CW = _CW / _CW.sum()
_MID = 3  # the node at the mean
# 1-D trapezoid for the chain's moment table
_Z1 = np.linspace(-10.0, 10.0, 400)
_W1 = np.exp(-0.5 * _Z1**2)
_W1[[0, -1]] *= 0.5
_W1 /= _W1.sum()


def _erf(x: Array) -> Array:
    """Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), vectorised: numpy has none."""
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return s * (1.0 - poly * np.exp(-a * a))


def _ncdf(x: Array) -> Array:
    return 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))


@dataclass
class PairTerms:
    """What one pair of examples at pre-activation correlation c gives, each
    relative to E[f(h)^2] (so that pairs at different c share units)."""

    rho: float  # E[f_a f_b] / E[f^2]: the outputs' cosine
    k0: float  # Var(f(h)^2) / E[f^2]^2 (kappa)
    k1: float  # Cov(f(h_a)^2, f(h_b)^2) / E[f^2]^2
    d: float  # n x the variance of the outputs' sample cosine
    gamma: float  # Cov(f(h)^2, (h - beta)^2 / q) / E[f^2], for the orthogonal projection
    bias: float = 0.0  # n x (E[sample cosine] - rho), second-order delta method
    mean_frac: float = 0.0  # E[f]^2 / E[f^2]
    mean_slope: float = 0.0  # Cov(f, f^2) / Var(f^2) x E[f^2] / sqrt(E[f^2])
    mean_free: float = 1.0  # 1 - Corr(f, f^2)^2: the share of a mean's noise that S does not carry


def pair_terms(f: ActFn, beta: float, q: float, c: float, u_frac: float, c_u: float, orth: bool) -> PairTerms:
    """One pair's terms (see `pair_terms_at`)."""
    return pair_terms_at(f, beta, q, np.array([c]), u_frac, np.array([c_u]), orth)[0]


def pair_terms_at(
    f: ActFn, beta: float, q: float, c: Array, u_frac: float, c_u: Array, orth: bool
) -> list[PairTerms]:
    """Pairs at pre-activation correlations c (one 2-D quadrature for all),
    in units where f's largest value on the rule is 1 and q is 1 (a stack
    heading for overflow has q = 1e300, where f^4 would overflow): only
    ratios leave this function.  u_frac, c_u: the share of q and the
    correlation of the weights' part W x (the rest is the random bias)."""
    c = np.clip(np.asarray(c, dtype=float), -1.0, 1.0)[:, None, None]
    s = math.sqrt(q)
    eta_a = _ZA[None]
    eta_b = c * _ZA + np.sqrt(np.maximum(1.0 - c * c, 0.0)) * _ZB
    with np.errstate(over="ignore", invalid="ignore"):
        fa, fb = f(beta + s * eta_a), f(beta + s * eta_b)
        scale = float(max(np.max(np.abs(fa)), np.max(np.abs(fb))))
    if not (math.isfinite(scale) and scale > 0):
        return [PairTerms(1.0, 0.0, 0.0, 0.0, 0.0) for _ in range(len(c))]
    fa, fb = fa / scale, fb / scale

    def e(x: Array) -> Array:
        return np.sum(_WAB * x, axis=(-2, -1))

    fa2, fb2 = fa * fa, fb * fb
    m2 = float(e(fa2)[0])
    if not m2 > 0:
        return [PairTerms(1.0, 0.0, 0.0, 0.0, 0.0) for _ in range(len(c))]
    ab = e(fa * fb)
    k0 = max(float(e(fa2 * fa2)[0]) - m2 * m2, 0.0) / m2**2
    k1 = (e(fa2 * fb2) - m2 * m2) / m2**2
    gamma = (float(e(fa2 * eta_a * eta_a)[0]) - m2) / m2
    m1 = float(e(fa)[0])
    mean_frac = min(m1**2 / m2, 1.0)
    var_f = max(m2 - m1 * m1, 0.0)
    c3 = float(e(fa2 * fa)[0]) - m1 * m2
    v0_abs = k0 * m2 * m2
    mean_slope = c3 / v0_abs * math.sqrt(m2) if v0_abs > 0 else 0.0
    mean_free = max(1.0 - c3 * c3 / (var_f * v0_abs), 0.0) if var_f * v0_abs > 0 else 1.0
    rho = ab / m2
    z = (fa * fb - 0.5 * rho[:, None, None] * (fa2 + fb2)) / m2
    d = e(z * z) - e(z) ** 2
    # rho_hat = A / sqrt(B C) to second order in the relative fluctuations
    # (Fisher's -rho (1 - rho^2) / 2n for a linear layer)
    cross = (e(fa2 * fa * fb) + e(fa * fb2 * fb) - 2 * ab * m2) / m2**2
    bias = rho * (0.75 * k0 + 0.25 * k1) - 0.5 * cross
    out = []
    for i in range(len(c)):
        di, bi = max(float(d[i]), 0.0), float(bias[i])
        if orth and u_frac > 0:
            kept = max(
                di - _explained(z[i], eta_a[0], eta_b[i], e, float(c[i, 0, 0]), u_frac, float(c_u[i])), 0.0
            )
            bi *= kept / di if di > 0 else 0.0
            di = kept
        out.append(
            PairTerms(float(rho[i]), k0, float(k1[i]), di, gamma, bi, mean_frac, mean_slope, mean_free)
        )
    return out


def _explained(z, eta_a, eta_b, e, c, q_u, c_u) -> float:
    """The part of Var(z) that orthogonal weights remove: its projection on
    (u_a^2, u_b^2, u_a u_b), u = W x, whose sums over units they fix.

    For Gaussians E[u | h] = K (h - beta), K = S_u S_h^-1, so
    Cov(z, u_i u_j) = sum_kl K_ik K_jl Cov(z, eta_k eta_l)."""
    s_h = np.array([[1.0, c], [c, 1.0]])  # q = 1 in these units
    s_u = q_u * np.array([[1.0, c_u], [c_u, 1.0]])
    k = s_u @ np.linalg.pinv(s_h)
    eta = (eta_a, eta_b)
    ez = float(e(z))
    cz = np.array(
        [[float(e(z * eta[i] * eta[j])) - ez * float(e(eta[i] * eta[j])) for j in range(2)] for i in range(2)]
    )
    pairs = ((0, 0), (1, 1), (0, 1))
    cov = np.array([k[i] @ cz @ k[j] for i, j in pairs])
    var = np.array(
        [[s_u[i, kk] * s_u[j, ll] + s_u[i, ll] * s_u[j, kk] for kk, ll in pairs] for i, j in pairs]
    )
    return float(cov @ np.linalg.pinv(var) @ cov)


@dataclass
class Pairs:
    """The batch's pairwise cosines entering a layer, as the mean and variance
    of their Fisher z = atanh(c) across pairs (in z a layer's sampling noise
    is close to Gaussian, and a Gaussian closure in z follows the pairs that
    drift to c = +-1 as a deep stack's Gram matrix loses rank, which one in c
    cannot), and the spread `disp` of the examples' log mean squares."""

    z_mean: float
    z_var: float
    disp: float = 0.0
    k0_in: float = 2.0  # Var(x^2) / E[x^2]^2 of the layer's input entries (N(0, 1): 2)
    k1_in: float = 0.0  # Cov(x_a^2, x_b^2) / E[x^2]^2 between two examples' entries

    @classmethod
    def from_cosines(cls, mean: float, var: float, disp: float = 0.0) -> Pairs:
        """From the cosines' mean and variance across pairs (delta method)."""
        m = min(max(mean, -1 + 1e-9), 1 - 1e-9)
        return cls(math.atanh(m), var / (1 - m * m) ** 2, disp)

    @property
    def mean(self) -> float:
        """The mean cosine (by the same three nodes)."""
        return float(_CW @ np.tanh(self.z_mean + _CN * math.sqrt(max(self.z_var, 0.0))))


@dataclass(frozen=True)
class MeanNoise:
    """How the batch's measured mean moves: var, its variance over Var(f) (an
    average over units of b correlated values); slope, the part that moves
    with the mean square S (mean = m1 + slope sqrt(E f^2) (S / E f^2 - 1),
    a regression per unit: a layer whose scale is up has both up); free, the
    share of the variance left beside that."""

    var: float = 0.0
    slope: float = 0.0
    free: float = 1.0


def _z_after(t: PairTerms, width: int) -> tuple[float, float]:
    """Mean and variance of atanh(sample cosine) after a layer, for a pair
    whose outputs have cosine t.rho at infinite width."""
    r = min(max(t.rho, -1 + 1e-12), 1 - 1e-12)
    g = 1 - r * r
    var_c = t.d / width
    mean = math.atanh(r) + t.bias / (width * g) + r * var_c / (g * g)
    return mean, min(var_c / (g * g), 4.0)


def layer_noise(
    f: ActFn,
    beta: float,
    q: float,
    q_u: float,
    pairs: Pairs,
    width: int,
    batch: int,
    orth: bool,
    chi: float = 1.0,
    kurtosis: float = 0.0,
) -> tuple[float, float, Pairs, MeanNoise]:
    """(inj, per-example kappa / n, pairs after the layer, mean_noise) for one
    layer whose pre-activations have variance q (q_u of it from the weights).
    mean_noise says how the batch's measured mean moves (`MeanNoise`): the std
    a user sees is taken about that mean, which matters where nothing else
    moves (an orthogonal linear stack keeps the mean square exactly).  chi is the
    slope of log E[f^2] in log q_{l-1}, which carries the spread of the
    examples' log mean squares to the next layer.

    The examples' mean squares spread log-normally (variance `disp`), so the
    batch's mean square leans on its largest few: the diagonal's share of
    mean_ab Cov(f_a^2, f_b^2) is the Herfindahl index e^disp / b (at most 1),
    not 1 / b.

    Weights of excess kurtosis K (uniform: -1.2) give two examples that share
    a unit a joint fourth cumulant K sum_j x_aj^2 x_bj^2 / (|x_a| |x_b|)^2 ~ K
    (1 + k1_in) / n of their pre-activations (2nd-order Edgeworth: it adds K
    tau u^2 gamma^2 / 4 to Cov(f_a^2, f_b^2) / E[f^2]^2).  Negligible next to
    one example's own noise, it is not next to the cross terms a batch of
    weakly correlated examples has left: uniform weights' bands at batch 16
    were 10% too wide without it."""
    sd = math.sqrt(max(pairs.z_var, 0.0))
    u = q_u / q  # the weights' share of the variance, in units of q
    c_u = np.tanh(pairs.z_mean + _CN * sd)
    terms = pair_terms_at(f, beta, q, u * c_u + (1.0 - u), u, c_u, orth)
    mid = terms[_MID]
    edge = kurtosis * u * u * mid.gamma**2 / (4 * width)
    k0 = mid.k0 + edge * (1 + pairs.k0_in)
    k1 = float(sum(w * t.k1 for w, t in zip(_CW, terms, strict=True))) + edge * (1 + pairs.k1_in)
    share = min(math.exp(min(pairs.disp, 50.0)) / batch, 1.0)
    rel = k0 * share + (1 - share) * k1
    k0_single = k0
    if orth and u > 0 and k0 > 0:
        # a unit's f^2 loses the part that moves with its h^2 (fixed in sum
        # over units by W W^T = I): Cov(f^2, u^2)^2 / Var(u^2), u = W x; the
        # batch's terms lose the same share (exact for linear: all of it)
        k0_single = max(k0 - u**4 * mid.gamma**2 / (2 * u * u), 0.0)
        rel *= k0_single / k0
    inj = max(rel, 0.0) / width
    single = max(k0_single, 0.0) / width
    after = np.array([_z_after(t, width) for t in terms])
    z_mean = float(_CW @ after[:, 0])
    z_var = float(_CW @ (after[:, 0] - z_mean) ** 2 + _CW @ after[:, 1])
    disp_in = max(k0_single - k1, 0.0) / width if batch > 1 else 0.0
    # the batch's measured mean: an average over units of b correlated values
    rho = float(_CW @ np.array([t.rho for t in terms]))
    frac = mid.mean_frac
    centred = min(max((rho - frac) / (1 - frac), 0.0), 1.0) if frac < 1 else 1.0
    mean_noise = MeanNoise((1 / batch + (1 - 1 / batch) * centred) / width, mid.mean_slope, mid.mean_free)
    k1_out = float(sum(w * t.k1 for w, t in zip(_CW, terms, strict=True)))
    after_pairs = Pairs(z_mean, z_var, chi * chi * pairs.disp + disp_in, mid.k0, k1_out)
    return inj, single, after_pairs, mean_noise


_TABLE_STEP = 0.1  # in log q: linear interpolation is off by ~3e-4 in log E[f^2] (tanh; 0 for ReLU)


@functools.lru_cache(maxsize=4096)
def _table_chunk(act: str, negative_slope: float, beta: float, k: int) -> tuple[Array, Array, Array, Array]:
    """(log q, E[f], log E[f^2], kappa) for log q in [k, k + 1): the table is
    built from these unit chunks, each computed once per process (a
    calibration runs thousands of stacks over the same few ranges)."""
    fn = ACTIVATIONS[act].numpy_fn
    x = k + np.arange(int(round(1 / _TABLE_STEP))) * _TABLE_STEP
    s = np.exp(0.5 * x)[:, None]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        y = fn(beta + s * _Z1, negative_slope)
        scale = np.max(np.abs(y), axis=1, keepdims=True)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        ys = y / scale
        m2s = (ys * ys) @ _W1
        m4s = (ys**4) @ _W1
        log_m2 = np.log(m2s) + 2 * np.log(scale[:, 0])
        kappa = np.maximum(m4s - m2s * m2s, 0.0) / (m2s * m2s)
    return x, y @ _W1, log_m2, kappa


class MomentTable:
    """E[f], E[f^2] and kappa at h ~ N(beta, q) on a log-q grid, interpolated:
    the chain needs them at hundreds of q per layer."""

    def __init__(
        self, act: str, negative_slope: float, beta: float, log_q_lo: float, log_q_hi: float
    ) -> None:
        lo = max(int(math.floor(log_q_lo)), -745)
        hi = min(int(math.ceil(log_q_hi)), 1400)
        chunks = [_table_chunk(act, negative_slope, float(beta), k) for k in range(lo, max(hi, lo + 2))]
        self.x, self.m1, self.log_m2, self.kappa = (
            np.concatenate(parts) for parts in zip(*chunks, strict=True)
        )

    def at(self, log_q: Array) -> tuple[Array, Array, Array]:
        """Interpolated inside the table; outside it log E[f^2] goes on along
        the end's slope (a stack that contracts keeps contracting: clamping
        there would park the collapsing seeds at the table's floor)."""
        x = np.clip(log_q, self.x[0], self.x[-1])
        log_m2 = np.interp(x, self.x, self.log_m2)
        lo_slope = (self.log_m2[1] - self.log_m2[0]) / (self.x[1] - self.x[0])
        hi_slope = (self.log_m2[-1] - self.log_m2[-2]) / (self.x[-1] - self.x[-2])
        log_m2 = log_m2 + np.where(log_q < self.x[0], (log_q - self.x[0]) * lo_slope, 0.0)
        log_m2 = log_m2 + np.where(log_q > self.x[-1], (log_q - self.x[-1]) * hi_slope, 0.0)
        return np.interp(x, self.x, self.m1), log_m2, np.interp(x, self.x, self.kappa)


def chain_band(
    table: MomentTable,
    v: float,
    var_b: float,
    log_q1: float,
    rel_noise: list[float],
    mean_noise: list[MeanNoise],
) -> list[tuple[float, float] | None]:
    """The 5-95% band of each layer's output std.

    log_q1: the first layer's (deterministic) log pre-activation variance.
    rel_noise[l]: inj at layer l divided by kappa at the mean-field q of that
    layer, so that each node's noise is kappa(node) x that factor.
    mean_noise[l]: see `layer_noise`.
    """
    x = np.array([log_q1])
    w = np.array([1.0])
    extra = np.zeros(1)  # each node's own spread in log q, from the binning
    bands: list[tuple[float, float] | None] = []
    for factor, mean_var in zip(rel_noise, mean_noise, strict=True):
        m1, log_m2, kappa = table.at(x)
        # sd >= 1e-12: a stack with no noise stays a point; a node's spread in
        # log q moves log E[f^2] by the map's log-slope (1 for ReLU)
        var = np.maximum(kappa * factor + extra * _log_slope_at(table, x) ** 2, 1e-24)
        mu = log_m2 - 0.5 * var
        sd = np.sqrt(var)
        if not (np.all(np.isfinite(mu)) and np.all(np.isfinite(sd)) and np.all(np.isfinite(m1))):
            break  # overflowed: no band from here on, rather than a wrong one
        bands.append(_std_quantiles(w, mu, sd, m1, log_m2, mean_var))
        # next layer's log q = log(v e^s + var_b), s ~ N(mu, sd^2) per node
        lo_s = float(np.min((mu - 7 * sd)[w > 1e-14]))
        hi_s = float(np.max((mu + 7 * sd)[w > 1e-14]))
        if v <= 0:
            break
        edges_s = np.linspace(lo_s, hi_s, _GRID + 1)
        t = (edges_s[None, :] - mu[:, None]) / sd[:, None]
        p = _ncdf(t)
        dens = np.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
        mass = w @ np.diff(p, axis=1)
        if not (np.isfinite(mass.sum()) and mass.sum() > 0):
            break
        # each bin's mass sits at its own mean, not its centre (a truncated
        # Gaussian's first moment): bins that shift from layer to layer then
        # do not alias into the band's edges
        # and keeps its own spread, added to the next layer's noise: binning
        # neither narrows the band nor makes its edges step with depth
        dp = np.diff(p, axis=1)
        first = (w * mu) @ dp - (w * sd) @ np.diff(dens, axis=1)
        td = t * dens
        second = (w * (mu * mu + sd * sd)) @ dp - (w * 2 * mu * sd) @ np.diff(dens, axis=1)
        second -= (w * sd * sd) @ np.diff(td, axis=1)
        keep = mass > 1e-14 * mass.sum()
        centres_s = 0.5 * (edges_s[1:] + edges_s[:-1])
        safe = np.where(keep, mass, 1.0)
        at = np.clip(np.where(keep, first / safe, centres_s), edges_s[:-1], edges_s[1:])
        width = edges_s[1] - edges_s[0]
        spread = np.clip(np.where(keep, second / safe - at * at, 0.0), 0.0, width * width / 4)
        grow = v * np.exp(at[keep])
        x = np.log(grow + var_b)
        extra = spread[keep] * (grow / (grow + var_b)) ** 2
        w = mass[keep] / mass[keep].sum()
    bands.extend([None] * (len(rel_noise) - len(bands)))
    return bands


_SZ, _SW = np.polynomial.hermite_e.hermegauss(16)  # log S about each node's mean
_SW = _SW / _SW.sum()
_MIX = 128  # equal-mass points the std's mixture is reduced to
_EPS = 32  # equal-mass points of the measured mean's own noise


def _log_slope_at(table: MomentTable, x: Array) -> Array:
    """d log E[f^2] / d log q at the nodes, from the table."""
    return np.interp(x, table.x[1:], np.diff(table.log_m2) / np.diff(table.x))


def _std_quantiles(
    w: Array, mu: Array, sd: Array, m1: Array, log_m2: Array, mean: MeanNoise
) -> tuple[float, float] | None:
    """Quantiles of the measured std, sqrt(S - mean^2): log S ~ the mixture
    sum_i w_i N(mu_i, sd_i) (weighted Gauss-Hermite nodes), and the measured
    mean = m1 + its part that moves with S + eps, eps ~ N(0, var x free x
    (S - m1^2)) (`MeanNoise`).  The mixture is first reduced to 128 equal-mass
    points, then each is combined with 32 equal-mass points of eps: its tail
    matters (where only the mean moves, the 5% quantile sits at eps^2 =
    3.84 Var), and so does its middle (the 95% at eps near 0)."""
    s = mu[:, None] + sd[:, None] * _SZ[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        m2 = np.exp(log_m2)[:, None]
        big = np.exp(s)
        centre = m1[:, None] + mean.slope * np.sqrt(m2) * (big / m2 - 1.0)
        base = np.sqrt(np.maximum(big - centre * centre, 0.0))
        lean = np.where(base > 0, centre / np.where(base > 0, base, 1.0), 0.0)
    flat = base.ravel()
    if not np.all(np.isfinite(flat)):
        return None
    ww = (w[:, None] * _SW[None, :]).ravel()
    order = np.argsort(flat)
    cum = np.cumsum(ww[order])
    cum = (cum - 0.5 * ww[order]) / cum[-1]
    u = (np.arange(_MIX) + 0.5) / _MIX
    pts = np.interp(u, cum, flat[order])
    leans = np.interp(u, cum, lean.ravel()[order])
    z = (
        math.sqrt(max(mean.var * mean.free, 0.0))
        * math.sqrt(2.0)
        * _erfinv(2 * (np.arange(_EPS) + 0.5) / _EPS - 1)
    )
    factor = 1.0 - 2.0 * leans[:, None] * z[None, :] - z[None, :] ** 2
    std = np.sort((pts[:, None] * np.sqrt(np.maximum(factor, 0.0))).ravel())
    cum = (np.arange(std.size) + 0.5) / std.size
    return float(np.interp(QUANTILES[0], cum, std)), float(np.interp(QUANTILES[1], cum, std))


def _erfinv(y: Array) -> Array:
    """Inverse erf by Newton on `_erf` from Winitzki's start (to 1e-7)."""
    a = 0.147
    ln = np.log(np.maximum(1.0 - y * y, 1e-300))
    t = 2 / (math.pi * a) + ln / 2
    x = np.sign(y) * np.sqrt(np.sqrt(t * t - ln / a) - t)
    for _ in range(3):
        x = x - (_erf(x) - y) / (2 / math.sqrt(math.pi) * np.exp(-x * x))
    return x
