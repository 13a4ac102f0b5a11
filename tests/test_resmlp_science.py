"""The residual MLP as the issue states it: width 512, ReLU, kaiming-normal,
`--gain auto`.  The stream's variance after K blocks grows like 2^K without
normalisation, like K + 1 with a pre-norm branch, stays near e with alpha =
1/sqrt(K), and stays exactly the input's with SkipInit or Fixup; the theory
column agrees with each measurement within its 90% band."""

from __future__ import annotations

import math

import pytest
import torch

from nninit_cli.experiments.std_trace import run_std_trace
from nninit_cli.model.builder import LazyLinears, build, build_model, linears, materialise
from nninit_cli.specs import std_trace_spec

BLOCKS = (1, 4, 16, 64)
BASE = {"arch": "resmlp", "width": 512, "act": "relu", "init": "kaiming-normal"}


def trace(**flags):
    return run_std_trace(std_trace_spec({**BASE, **flags}))


def variance_gain(res) -> float:
    """The stream's variance after the last block over the input's."""
    return (res.final_std / res.input_std) ** 2


def _expected(scheme: str, k: int) -> float:
    return {
        "plain": 2.0**k,
        "prenorm": k + 1.0,
        "invsqrt": (1 + 1 / k) ** k,
    }[scheme]


SCHEMES = {
    "plain": {},
    "prenorm": {"norm": "layer", "norm_position": "pre"},
    "invsqrt": {"residual_scale": "invsqrt"},
}


SEEDS = range(6)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("k", BLOCKS)
def test_stream_variance_follows_the_residual_recursion(scheme, k):
    runs = [trace(layers=k, seed=seed, **SCHEMES[scheme]) for seed in SEEDS]
    expected = _expected(scheme, k)
    for res in runs:
        # theory: the infinite-width stream variance is the closed form (the
        # input's second moment is measured, so compare the prediction's ratio)
        predicted = (res.layers[-1].predicted_std / res.input_std) ** 2
        assert predicted == pytest.approx(expected, rel=0.05)
    # measurement: inside the 90% band at width 512, batch 16, for most seeds
    # (6 seeds at 90% coverage: 4 or more inside with probability 0.98)
    inside = [lo <= r.final_std <= hi for r in runs for lo, hi in [r.layers[-1].predicted_band]]
    assert sum(inside) >= 4, (scheme, k, inside)
    # and the measured growth itself, median over seeds, near the closed form
    gains = sorted(variance_gain(r) for r in runs)
    assert gains[len(gains) // 2] == pytest.approx(expected, rel=0.5 if k == 64 else 0.3)


def test_invsqrt_stays_bounded_near_e():
    gains = [variance_gain(trace(layers=k, residual_scale="invsqrt")) for k in BLOCKS]
    assert all(g < math.e * 1.15 for g in gains), gains
    assert gains[-1] > 2.3  # (1 + 1/64)^64 = 2.70: it does grow, towards e


@pytest.mark.parametrize("scheme", [{"residual_init": "skipinit"}, {"residual_init": "fixup"}])
@pytest.mark.parametrize("k", BLOCKS)
def test_skipinit_and_fixup_keep_the_input_exactly(scheme, k):
    res = trace(layers=k, **scheme)
    assert res.final_std == res.input_std  # the stream is the input, bit for bit
    assert all(row.branch_std == 0.0 for row in res.layers)
    assert res.layers[-1].predicted_std == pytest.approx(res.input_std, rel=1e-4)


def test_gains_follow_what_each_linear_reads():
    """He's derivation per Linear: the branch's first Linear reads the stream
    (gain 1), the second reads ReLU outputs (gain sqrt 2), so a branch keeps
    its input's variance."""
    spec = std_trace_spec({**BASE, "layers": 4})
    model = materialise(build(spec.net), spec.net)
    fcs = linears(model)
    assert [fc.nninit_gain for fc in fcs[:2]] == [1.0, pytest.approx(math.sqrt(2))]
    n = spec.net.width
    var1 = torch.stack([fc.weight for fc in fcs[0::2]]).double().var().item() * n
    var2 = torch.stack([fc.weight for fc in fcs[1::2]]).double().var().item() * n
    assert var1 == pytest.approx(1.0, rel=0.01) and var2 == pytest.approx(2.0, rel=0.01)
    res = trace(layers=16)
    ratios = [row.branch_ratio for row in res.layers]
    assert all(0.85 < r < 1.15 for r in ratios), ratios  # branch std = incoming stream std


def test_lazy_trace_draws_the_weights_of_a_full_build():
    spec = std_trace_spec({**BASE, "layers": 3, "width": 32, "norm": "layer", "residual_init": "fixup"})
    full = [fc.weight.clone() for fc in linears(build_model(spec.net))]
    model = materialise(build(spec.net), spec.net, lazy=True)
    seen = []
    with LazyLinears(model, spec.net, keep=True):
        model(torch.randn(4, 32))
    seen = [fc.weight for fc in linears(model)]
    assert len(seen) == len(full) == 6
    assert all(torch.equal(a, b) for a, b in zip(full, seen, strict=True))
    assert torch.count_nonzero(full[1]) == 0  # fixup: each branch's last Linear starts at zero


def test_post_norm_resets_the_stream_every_block():
    res = trace(layers=16, norm="layer", norm_position="post")
    assert all(row.std == pytest.approx(1.0, abs=1e-4) for row in res.layers)
    assert all(abs(row.mean) < 1e-6 for row in res.layers)


def test_mean_drift_grows_without_normalisation():
    """ReLU branches add a shared positive mean that W2 turns into a per-unit
    offset common to the batch: the average squared batch mean grows with the
    stream (Brock, De & Smith 2021's signal-propagation plot)."""
    plain = trace(layers=16)
    sq = [row.sq_mean / row.std**2 for row in plain.layers]
    assert sq[-1] > 0.3 and sq[-1] > 3 * sq[0]
