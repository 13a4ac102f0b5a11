"""The theory's cosine between two examples, layer by layer (std-trace's c-map column).

numpy only.  Two inputs of mean square m2_in at cosine c_0 (what std-trace
measures on its batch: the mean over distinct pairs) are followed through the
stack at infinite width; the equal-norm pair stands for every pair of the
batch, which is exact to O(1/width) when the pairs' cosines are close to
their mean (independent inputs: within 1/sqrt(width) of 0; --input-corr C: of C).

- mlp: the cosine of the pre-activations (each Linear's output, bias
  included), `meanfield.cosine_trace`: the c of Poole et al. (2016), whose
  fixed point c* `meanfield.phase_grid` gives.
- resmlp: the cosine of the stream after each block.  The kernel K = <x_a,
  x_b> / n follows the same steps as the mean square Q of
  `residual_theory` (K <- K + alpha^2 (S_ab + beta^2) + 2 alpha beta mu, S_ab
  the branch output's kernel, through a pre- or post-LayerNorm as Q goes); a
  BatchNorm mixes the examples of the batch and has no two-example theory here.

A constant bias beta is part of every vector, so the cosines are uncentred:
beta^2 is in both the kernel and the mean square.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nninit_cli.meanfield import act_fn, cosine_trace, pair_moments
from nninit_cli.residual_theory import NORM_EPS, _linear_variances
from nninit_cli.theory import bias_terms, weight_variance_gain


@dataclass(frozen=True)
class CorrelationPrediction:
    """Per layer (or block), the predicted mean cosine between examples;
    `note` says why they are None where they are."""

    values: list[float | None]
    note: str | None = None


def predict_correlations(net, m2_in: float, cos_in: float | None) -> CorrelationPrediction:
    """The c-map's cosine at every layer of `net` (a NetSpec), from an input
    batch of mean square m2_in whose rows have mean pairwise cosine cos_in
    (None: a batch of one, no pairs)."""
    none = [None] * net.layers
    if cos_in is None:
        return CorrelationPrediction(none, "one example: no pairs to correlate")
    if not (math.isfinite(m2_in) and math.isfinite(cos_in)):
        return CorrelationPrediction(none, "the input is not finite")
    if net.residual:
        return _resmlp(net, m2_in, cos_in)
    v = weight_variance_gain(net, net.width, net.width)
    if v is None:
        return CorrelationPrediction(none, f"{net.init} weights have no mean-field map")
    beta, var_b = bias_terms(net, net.width)
    f = act_fn(net.act, net.negative_slope)
    values = cosine_trace(f, v, beta, var_b, m2_in, cos_in, net.layers)
    return CorrelationPrediction(values, _note(values))


def _note(values: list[float | None]) -> str | None:
    if all(x is not None for x in values):
        return None
    return "past float64's range, or a trace still moving after meanfield.TRACE_MAX_LAYERS layers"


def _resmlp(net, m2_in: float, cos_in: float) -> CorrelationPrediction:
    none = [None] * net.layers
    if net.norm == "batch":
        return CorrelationPrediction(none, "BatchNorm mixes the batch's examples (no two-example theory)")
    vs = _linear_variances(net)
    if vs is None:
        return CorrelationPrediction(none, f"{net.init} weights have no mean-field map")
    f = act_fn(net.act, net.negative_slope)
    beta, var_b = bias_terms(net, net.width)
    alpha = 0.0 if net.residual_init == "skipinit" else net.residual_scale
    pre = net.norm == "layer" and net.norm_position == "pre"
    post = net.norm == "layer" and net.norm_position == "post"
    q, gap, mu = m2_in, (1.0 - cos_in) * m2_in, 0.0  # mean square, Q - K, stream mean
    out: list[float | None] = []
    for _ in range(net.layers):
        m, m_gap = q, gap
        if pre:  # each row to mean 0, variance 1 (up to eps)
            var = max(q - mu * mu, 0.0)
            m, m_gap = var / (var + NORM_EPS), gap / (var + NORM_EPS)
        s, s_gap = _branch(f, vs, beta, var_b, m, m_gap)
        q = q + alpha * alpha * (s + beta * beta) + 2 * alpha * beta * mu
        gap = gap + alpha * alpha * s_gap
        mu = mu + alpha * beta
        if post:
            var = max(q - mu * mu, 0.0)
            q, gap, mu = var / (var + NORM_EPS), gap / (var + NORM_EPS), 0.0
        if not (math.isfinite(q) and math.isfinite(gap) and q > 0):
            out.extend([None] * (net.layers - len(out)))
            return CorrelationPrediction(out, "past float64's range")
        out.append(1.0 - gap / q)
    return CorrelationPrediction(out)


def _branch(f, vs: list[float], beta: float, var_b: float, m: float, gap: float) -> tuple[float, float]:
    """(S, S - S_ab) of the branch's output units for an input of mean square
    m whose two rows' kernel is m - gap."""
    for v in vs[:-1]:
        q, dist = v * m + var_b, v * gap
        if q <= 0.0:  # every unit sees the bias alone
            m, gap = float(f(np.array([beta]))[0]) ** 2, 0.0
            continue
        omc = min(dist / q, 2.0)
        m, _, gap = pair_moments(f, q, 1.0 - omc, beta, one_minus_c=omc)
    return vs[-1] * m + var_b, vs[-1] * gap
