r"""Mean-field theory of a random residual MLP: the stream's std block by block.

numpy and float64 only, like `theory`, whose quadrature it reuses.

The network.  A stream x of `width` n units runs through K blocks
``x <- Post(x + alpha * gate * r)``, where the branch
``r = W_m f(... f(W_1 Pre(x) + b_1) ...) + b_m`` has m Linears and no
activation after the last; Pre is the pre-norm (LayerNorm or BatchNorm, or
none), Post the post-norm.  W_j has i.i.d. zero-mean entries of variance
v_j / n.

Infinite width.  Write Q for one example's mean square over the units.  The
first Linear sees a Gaussian pre-activation of variance v_1 M + var_b, where
M is the mean square of its input: M = Q without a pre-norm, exactly
var / (var + eps) after a LayerNorm (a row is normalised to that), and the
same on average over the batch after a BatchNorm.  Each later Linear is
`theory.predict_stack`'s step, M_j = E[f(h)^2] with h ~ N(beta, v_j M_{j-1} +
var_b), so the branch's output units have variance S = v_m M_{m-1} + var_b.
The cross term 2 alpha <x, r> / n has mean zero at init (W_m is drawn
independently of x), so

    Q_k = Q_{k-1} + alpha^2 (S(Q_{k-1}) + beta^2)          (+ 2 alpha beta mu)

and the reported std is sqrt(Q_K - mu^2), mu the stream's mean (alpha * beta
per block; 0 unless the bias is a non-zero constant).  For ReLU with
`--gain auto` (gain 1 on W_1, sqrt(2) after) S = Q, so Q_K = 2^K Q_0; with a
pre-norm S = 1 and Q_K = Q_0 + K; with alpha = 1/sqrt(K), Q_K = (1 + 1/K)^K Q_0
-> e Q_0.  Post-norm resets the stream every block: after a LayerNorm each row
has mean 0 and variance V / (V + eps), V = Q + alpha^2 S (1 - 1/n) the row
variance before it, so the std is known up to eps.  Fixup (W_m = 0) and
SkipInit (gate 0) leave the stream exactly as it came in (bias aside).

Finite width.  Let e_a = log Q_a - log q_k for example a.  One block adds to it
a zero-mean relative fluctuation of variance

    N = (alpha^2 S / Q')^2 W + 4 alpha^2 Q S / (n Q'^2),

the first term the branch's own noise (W: the relative variance of the
branch output's mean square, built Linear by Linear as in `predict_stack`:
W <- chi_j^2 W + kappa_j / n, kappa_j = Var(f^2) / E[f^2]^2, and 2 / n for the
last, Gaussian, Linear), the second the cross term, which is Gaussian with
variance 4 alpha^2 Q S / n given x.  An earlier fluctuation is carried with
the slope chi = d log Q' / d log Q = (Q + alpha^2 S s_B) / Q', s_B = d log S /
d log Q (1 for a homogeneous branch, ~0 behind a LayerNorm).  So per example

    V_k = chi^2 V_{k-1} + N,    drift_k = chi drift_{k-1} + chi' V_{k-1} / 2 - N / 2,

the drift being Jensen's: log Q is low by half its variance when Q is unbiased
(chi' is the curvature of log Q' in log Q).  The examples of a batch share the
weights, so they share part of their noise: the same recursion with the
cross-example terms, C_k = chi^2 C_{k-1} + N_ab,

    N_ab = (alpha^2 S / Q')^2 W_ab + 4 alpha^2 Q_ab S_ab / (n Q'^2),

where Q_ab, S_ab are the kernels between two examples (stream and branch
output), and W_ab the branch noise's covariance (`theory._cross_moments` per
Linear, (S_ab / S)^2 * 2 / n for the last).  The batch's mean square is the
average of B such examples: log of it has variance V / B + (1 - 1/B) C and
lies above the examples' mean log by (1 - 1/B)(V - C) / 2.

The kernel Q_ab has a random part besides its mean-field value: the input's
cosines are random in sign (RMS rho_in), and each block adds to Q_ab the
zero-mean cross terms alpha (<x_a, r_b> + <x_b, r_a>) / n, of variance
2 alpha^2 (Q S + Q_ab S_ab) / n, and the noise of the branch's own kernel,
alpha^4 (W / 2)(S^2 + S_ab^2).  The cross-example terms are averaged over the
kernel's mean plus and minus the RMS of that random part.  It matters where
the mean-field kernel stays near 0 (linear, tanh): the examples' directions
grow correlated through the product of the blocks, so the batch shares more
of its noise than the mean field says (without it the band of a linear
network of width 64 held 49% of seeds after 64 blocks).

A BatchNorm divides each unit by the batch's own scale.  For the batch's
mean square, which is what is reported, it acts like a LayerNorm: the
branch's input has mean square ~1 on average over the batch whatever the
stream did, so a fluctuation of the batch is carried with slope Q / Q'.  (An
example's own deviation does reach its own branch input, but for a
homogeneous branch those shares average out of the batch mean exactly, so
they are left out.)  It adds its own noise to each example's branch input,
kappa_u / n with kappa_u = 2 (B - 2) / (B + 1) (a coordinate of a vector
uniform on the (B - 1)-sphere), correlated -1 / (B - 1) between examples so
that it cancels from the batch mean, and it decorrelates the examples it
passes on (correlation -1 / (B - 1)).

The std over all B x n entries subtracts the square of the all-entries mean,
whose variance grows by alpha^2 (S / B + (1 - 1/B) S_ab) / n per block; the
band's centre is moved by it.  After a post-LayerNorm the std is
sqrt(mean_a V_a / (V_a + eps)): its band is that of eps / V, about 1e-6 wide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from nninit_cli.theory import (
    BAND_Z,
    LayerPrediction,
    _cross_moments,
    bias_terms,
    gaussian_moments,
    numpy_act,
    weight_variance_gain,
)

NORM_EPS = 1e-5  # torch's LayerNorm and BatchNorm1d default
_H = 1e-3  # step of the numerical log-derivatives

# Where the finite-width band is not given (the infinite-width value still is):
# inits whose fluctuations are not those of i.i.d. entries, and float formats
# whose rounding is larger than the band.
_NO_BAND_INITS = ("orthogonal",)
# Largest std whose square a float32 LayerNorm / BatchNorm still computes.
_F32_NORM_LIMIT = 1e18
_F32_LIMIT = 1e37


@dataclass(frozen=True)
class _Branch:
    """One branch pass: the output units' variance S, its kernel S_ab between
    two examples, the relative variance W of one example's output mean square,
    its covariance W_ab between two examples, and s = d log S / d log M_in."""

    S: float
    S_ab: float
    W: float
    W_ab: float
    slope: float


def _log_slope(f, beta: float, q: float) -> float:
    """d log E[f(h)^2] / d log q for h ~ N(beta, q), by a central difference."""
    _, hi, _ = gaussian_moments(f, beta, q * math.exp(_H))
    _, lo, _ = gaussian_moments(f, beta, q * math.exp(-_H))
    if not (hi > 0 and lo > 0):
        return 0.0
    return (math.log(hi) - math.log(lo)) / (2 * _H)


def _branch(f, vs, beta, var_b, n, m_in, m_ab, w0, w0_ab, cross: bool = True) -> _Branch:
    """Push an input of mean square m_in (kernel m_ab) through the branch."""
    m, mab, w, wab, slope = m_in, m_ab, w0, w0_ab, 1.0
    for v in vs[:-1]:
        q, qab = v * m + var_b, v * mab + var_b
        if q <= 0.0:  # every unit sees the bias alone: no randomness left
            val = float(f(np.array([beta]))[0]) ** 2
            m, mab, w, wab, slope = val, val, 0.0, 0.0, 0.0
            continue
        _, m2, kappa = gaussian_moments(f, beta, q)
        chi = _log_slope(f, beta, q) * (v * m / q)
        ff, r = _cross_moments(f, beta, q, qab / q) if cross else (0.0, 0.0)
        w = chi * chi * w + kappa / n
        wab = chi * chi * wab + r * kappa / n
        slope *= chi
        m, mab = m2, ff
    v = vs[-1]
    s, s_ab = v * m + var_b, v * mab + var_b
    if s <= 0.0:
        return _Branch(0.0, 0.0, 0.0, 0.0, 0.0)
    chi = v * m / s
    c = min(max(s_ab / s, -1.0), 1.0)
    return _Branch(s, s_ab, chi * chi * w + 2.0 / n, chi * chi * wab + 2.0 * c * c / n, slope * chi)


def _linear_variances(net) -> list[float] | None:
    """n * Var(w) of each Linear in a branch, fixup's rescaling applied."""
    vs = []
    for g in net.linear_gains():
        v = weight_variance_gain(replace(net, gain=g), net.width, net.width)
        if v is None:
            return None
        vs.append(v)
    if net.residual_init == "fixup":
        shrink = net.layers ** (-1.0 / (net.branch_depth - 1))
        vs = [v * shrink for v in vs[:-1]] + [0.0]
    return vs


def _none(net) -> list[LayerPrediction]:
    return [LayerPrediction(k, None, None, None, None) for k in range(1, net.layers + 1)]


@dataclass
class _Pair:
    """What two examples of the batch share, for one sign of their input
    cosine: the stream's kernel q_ab (mean of x_a x_b over units), and of the
    log mean-square noise: one example's variance V, the covariance C between
    two, and the mean drift."""

    q_ab: float
    var: float
    cov: float
    drift: float

    def batch_log(self, batch: int) -> tuple[float, float]:
        """(mean, variance) of log(batch's mean square / infinite-width value)."""
        mean = self.drift + 0.5 * (1 - 1 / batch) * (self.var - self.cov)
        return mean, self.var / batch + (1 - 1 / batch) * self.cov


class _Resnet:
    """The block-by-block recursion of the module docstring for one NetSpec."""

    def __init__(self, net, vs: list[float]) -> None:
        self.net, self.vs = net, vs
        self.n, self.batch = net.width, net.batch_size
        self.f = numpy_act(net.act, net.negative_slope)
        self.beta, self.var_b = bias_terms(net, net.width)
        alpha = 0.0 if net.residual_init == "skipinit" else net.residual_scale
        self.a2 = alpha * alpha
        self.alpha = alpha
        self.pre = net.norm if net.norm != "none" and net.norm_position == "pre" else "none"

    def branch_input(self, q: float, mu: float, q_ab: float, q_ab_mean: float):
        """Mean square and kernel of the branch's input, and the pre-norm's own
        noise (variance, covariance between two examples)."""
        if self.pre == "layer":
            var = max(q - mu * mu, 0.0)
            return var / (var + NORM_EPS), (q_ab - mu * mu) / (var + NORM_EPS), 0.0, 0.0
        if self.pre == "batch":
            b = self.batch
            var = (1 - 1 / b) * max(q - q_ab_mean, 0.0)  # a unit's variance over the batch
            m = var / (var + NORM_EPS)
            c = -1.0 / (b - 1) + (q_ab - q_ab_mean) / max(var, 1e-300)
            kappa_u = 2.0 * (b - 2) / (b + 1)
            return m, m * c, kappa_u / self.n, -kappa_u / (self.n * (b - 1))
        return q, q_ab, 0.0, 0.0

    def branch(self, q: float, mu: float, q_ab: float, q_ab_mean: float, cross: bool = True) -> _Branch:
        m, m_ab, w0, w0_ab = self.branch_input(q, mu, q_ab, q_ab_mean)
        return _branch(self.f, self.vs, self.beta, self.var_b, self.n, m, m_ab, w0, w0_ab, cross)

    def added(self, q: float, mu: float, s: float) -> float:
        """Mean square after the addition, for a branch of unit variance s."""
        return q + self.a2 * (s + self.beta**2) + 2 * self.alpha * self.beta * mu

    def log_slopes(self, q: float, mu: float, q_ab_mean: float) -> tuple[float, float]:
        """chi = d log Q' / d log Q and its derivative, by central differences."""
        g = [
            math.log(self.added(q * math.exp(h), mu, self.branch(q * math.exp(h), mu, 0, q_ab_mean, False).S))
            for h in (-_H, 0.0, _H)
        ]
        return (g[2] - g[0]) / (2 * _H), (g[2] - 2 * g[1] + g[0]) / (_H * _H)

    def kernel_noise(self, q: float, pairs: list[_Pair], brs: list[_Branch]) -> float:
        """Variance that one block adds to the kernel Q_ab of two examples: the
        cross terms <x_a, r_b> + <x_b, r_a> and the branch kernel's own noise."""
        if len(pairs) < 2:
            return 0.0
        s, w = brs[0].S, brs[0].W
        qs = sum(p.q_ab * b.S_ab for p, b in zip(pairs, brs, strict=True)) / len(pairs)
        ss = sum(b.S_ab * b.S_ab for b in brs) / len(brs)
        # W / 2: the branch's relative noise per Gaussian factor (2 / n for one Linear)
        return 2 * self.a2 * (q * s + qs) / self.n + self.a2 * self.a2 * 0.5 * w * (s * s + ss)

    def noise(self, br: _Branch, q: float, q_ab: float, q_out: float) -> tuple[float, float]:
        """N and N_ab: what one block adds to the relative noise of Q_out."""
        share = (self.a2 * br.S / q_out) ** 2
        cross = 4 * self.a2 / (self.n * q_out * q_out)
        return share * br.W + cross * q * br.S, share * br.W_ab + cross * q_ab * br.S_ab


def predict_resmlp(net, m2_in: float, rho_in: float, mean_in: float | None = None) -> list[LayerPrediction]:
    """Predicted stream std and mean after each block, with a 90% band.

    Args:
        net: the NetSpec (arch resmlp; residual_scale already resolved).
        m2_in: the input batch's mean square, E[x^2].
        rho_in: the RMS cosine between the input's rows.
        mean_in: the input batch's mean, where known: then the std of a block
            that leaves the stream as it is (fixup, skipinit) is exactly the
            input's, with a band of zero width.

    `std` is the infinite-width value; `band` holds 90% of seeds at this width
    and batch size (centred on the finite-width median, which may lie off
    `std`), or is None where the theory does not cover the fluctuations (see
    `band_unsupported`).  `pre_std` is None.  See the module docstring for the
    maths.
    """
    vs = _linear_variances(net)
    if vs is None or not math.isfinite(m2_in) or (net.norm == "batch" and net.batch_size < 2):
        return _none(net)
    r = _Resnet(net, vs)
    n, batch = r.n, r.batch
    with_band = band_unsupported(net) is None
    post = net.norm if net.norm != "none" and net.norm_position == "post" else None
    limit = _F32_LIMIT if r.pre == "none" else _F32_NORM_LIMIT

    # one example's mean square q and the stream mean mu; per sign of the input
    # cosine, a _Pair; mvar: the variance of the all-entries mean.  The batch
    # mean of the input's mean square is measured, so it carries no noise:
    # each example only deviates from it.
    q, mu = m2_in, mean_in or 0.0
    signs = (1.0, -1.0) if batch > 1 else (1.0,)
    dev = 2.0 / n  # Var of log of one input row's mean square
    pairs = [
        _Pair(s * rho_in * m2_in, dev * (1 - 1 / batch), -dev / batch, -0.5 * dev * (1 - 1 / batch))
        for s in signs
    ]
    mvar = m2_in / (batch * n) if mean_in is None else 0.0
    out: list[LayerPrediction] = []
    try:
        for k in range(1, net.layers + 1):
            if not (math.isfinite(q) and q >= 0.0):
                out.extend(LayerPrediction(j, None, None, None, None) for j in range(k, net.layers + 1))
                break
            q_ab_mean = sum(p.q_ab for p in pairs) / len(pairs)
            brs = [r.branch(q, mu, p.q_ab, q_ab_mean) for p in pairs]
            s = brs[0].S
            if post is None and r.a2 * (s + r.beta**2) == 0.0:  # x_out = x exactly
                out.append(_identity(k, q, mu, mvar, with_band))
                continue
            if post == "batch":  # each unit normalised over the batch; band not given
                q_ab_out = sum(p.q_ab + r.a2 * b.S_ab for p, b in zip(pairs, brs, strict=True)) / len(pairs)
                var = (1 - 1 / batch) * max(q + r.a2 * s - q_ab_out, 0.0)
                out.append(LayerPrediction(k, None, 0.0, math.sqrt(var / (var + NORM_EPS)), None))
                for p, b in zip(pairs, brs, strict=True):
                    c = -1.0 / (batch - 1) + (p.q_ab + r.a2 * b.S_ab - q_ab_out) / max(var, 1e-300)
                    p.q_ab, p.var, p.cov, p.drift = c * var / (var + NORM_EPS), 0.0, 0.0, 0.0
                q, mu, mvar = var / (var + NORM_EPS), 0.0, 0.0
                continue
            if post == "layer":
                out.append(_post_layer_norm(r, k, q, mu, pairs, brs, with_band))
                v = out[-1].std ** 2
                fresh = r.kernel_noise(q, pairs, brs)
                for p, b in zip(pairs, brs, strict=True):
                    p.q_ab, p.var, p.cov, p.drift = p.q_ab + r.a2 * b.S_ab, 0.0, 0.0, 0.0
                _spread_kernel(pairs, fresh)
                for p in pairs:
                    p.q_ab *= v / (q + r.a2 * s)
                q, mu, mvar = v, 0.0, 0.0
                continue

            q_out = r.added(q, mu, s)
            if with_band and q > 0 and q_out > 0:
                chi, curv = r.log_slopes(q, mu, q_ab_mean)
                for p, b in zip(pairs, brs, strict=True):
                    noise, noise_ab = r.noise(b, q, p.q_ab, q_out)
                    p.drift = chi * p.drift + 0.5 * curv * p.var - noise / 2
                    p.var = chi * chi * p.var + noise
                    p.cov = chi * chi * p.cov + noise_ab
            mvar += r.a2 * (s / batch + (1 - 1 / batch) * sum(b.S_ab for b in brs) / len(brs)) / n
            fresh = r.kernel_noise(q, pairs, brs)
            for p, b in zip(pairs, brs, strict=True):
                p.q_ab = r.added(p.q_ab, mu, b.S_ab)
            _spread_kernel(pairs, fresh)
            q, mu = q_out, mu + r.alpha * r.beta

            var_inf = q - mu * mu
            if not (math.isfinite(var_inf) and var_inf >= 0):
                out.append(LayerPrediction(k, None, mu, None, None))
                continue
            band = None
            if with_band:
                logs = [p.batch_log(batch) for p in pairs]
                shift = sum(m for m, _ in logs) / len(logs)
                spread = max(sum(v for _, v in logs) / len(logs), 0.0)
                centre = q * math.exp(shift) - mu * mu - mvar
                if centre > 0:
                    half = 0.5 * BAND_Z * math.sqrt(spread) * q * math.exp(shift) / centre
                    band = (math.sqrt(centre) * math.exp(-half), math.sqrt(centre) * math.exp(half))
                    if net.dtype != "float64" and band[1] > limit:
                        band = None
            out.append(LayerPrediction(k, None, mu, math.sqrt(var_inf), band))
    except (OverflowError, ZeroDivisionError):
        # past float64's range (a huge --residual-scale, thousands of blocks):
        # no prediction from this block on, rather than a wrong one
        out.extend(LayerPrediction(j, None, None, None, None) for j in range(len(out) + 1, net.layers + 1))
    return out


def _spread_kernel(pairs: list[_Pair], fresh: float) -> None:
    """Add `fresh` to the variance of the random part of the kernel: the two
    pairs hold its mean plus and minus its RMS."""
    if len(pairs) < 2:
        return
    mean = 0.5 * (pairs[0].q_ab + pairs[1].q_ab)
    half = math.sqrt((0.5 * (pairs[0].q_ab - pairs[1].q_ab)) ** 2 + fresh)
    pairs[0].q_ab, pairs[1].q_ab = mean + half, mean - half


# 5% and 95% quantiles of chi-square with one degree of freedom
_CHI2_1 = (0.003932140000019522, 3.841458820694124)


def _identity(k: int, q: float, mu: float, mvar: float, with_band: bool) -> LayerPrediction:
    """A block that passes the stream on unchanged: the input's std, exactly
    when its mean is known (mvar 0), else up to the square of a mean of
    variance mvar, mvar * chi-square(1)."""
    std = math.sqrt(max(q - mu * mu, 0.0))
    if not with_band:
        return LayerPrediction(k, None, mu, std, None)
    if mvar == 0.0:  # exact, up to the rounding of two ways of computing a std
        return LayerPrediction(k, None, mu, std, (std * (1 - 1e-12), std * (1 + 1e-12)))
    lo, hi = (math.sqrt(max(q - mu * mu - mvar * c, 0.0)) for c in reversed(_CHI2_1))
    return LayerPrediction(k, None, mu, std, (lo, hi))


def _post_layer_norm(r: _Resnet, k: int, q, mu, pairs: list[_Pair], brs: list[_Branch], with_band: bool):
    """A block whose sum is LayerNormed: each row comes out with mean 0 and
    variance V / (V + eps), V its variance before the norm.  The std over the
    batch is sqrt(1 - mean_a eps / (V_a + eps)); its band is that of eps / V."""
    n, batch, s = r.n, r.batch, brs[0].S
    qc = q - mu * mu
    # the row's own mean comes off: for a raw input row, and for the branch's
    vy = (qc + r.a2 * s) * (1 - 1 / n) if k == 1 else qc + r.a2 * s * (1 - 1 / n)
    if not vy > 0:
        return LayerPrediction(k, None, 0.0, 0.0, (0.0, 0.0) if with_band else None)
    std = math.sqrt(vy / (vy + NORM_EPS))
    if not with_band:
        return LayerPrediction(k, None, 0.0, std, None)
    chi = (qc + r.a2 * s * brs[0].slope) / vy
    inverse = spread = 0.0  # E[mean_a V / V_a], Var(log V_a) averaged over the batch
    for p, b in zip(pairs, brs, strict=True):
        noise, noise_ab = r.noise(b, qc, p.q_ab, vy)
        var = chi * chi * p.var + noise
        cov = chi * chi * p.cov + noise_ab
        drift = chi * p.drift - noise / 2
        inverse += math.exp(-drift + var / 2) / len(pairs)
        spread += (var / batch + (1 - 1 / batch) * cov) / len(pairs)
    rel = NORM_EPS / (vy + NORM_EPS)
    mid = 1.0 - rel * inverse
    half = BAND_Z * rel * math.sqrt(max(spread, 0.0))
    return LayerPrediction(k, None, 0.0, std, (math.sqrt(max(mid - half, 0.0)), math.sqrt(mid + half)))


def band_unsupported(net) -> str | None:
    """Why the band is not given for `net` (None where it is)."""
    beta, var_b = bias_terms(net, net.width)
    if beta != 0.0:
        return "a constant bias moves every example alike (not modelled)"
    if net.init in _NO_BAND_INITS:
        return f"{net.init} weights are not i.i.d. (their chi-square terms differ)"
    if net.dtype == "bfloat16":
        return "bfloat16 rounding is wider than the band"
    if net.norm == "batch" and net.norm_position == "post":
        return "post-BatchNorm's band is not calibrated"
    if net.residual_init == "fixup" and var_b > 0:
        return "fixup with a random bias (not calibrated)"
    return None
