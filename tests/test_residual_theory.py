"""The residual MLP's mean-field prediction and its 90% band, checked against
an exact simulation of the network over many seeds (the band claims 90%: it
must hold about 90% of seeds, in every regime shown, neither fewer nor many
more)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nninit_cli.experiments.std_trace import run_std_trace
from nninit_cli.model.acts import torch_act
from nninit_cli.model.inits import LayerBase, init_bias, init_weight
from nninit_cli.model.torchenv import generator
from nninit_cli.residual_theory import NORM_EPS, band_unsupported, predict_resmlp
from nninit_cli.specs import std_trace_spec
from nninit_cli.theory import weight_variance_gain


def resnet(**flags):
    """The NetSpec `std-trace --arch resmlp` builds from these flags."""
    given = {"arch": "resmlp", "act": "relu", "init": "kaiming-normal", "batch_size": 16, **flags}
    return std_trace_spec(given).net


def _norm(kind: str, x: torch.Tensor) -> torch.Tensor:
    """LayerNorm over the units; BatchNorm (train mode) over each seed's batch."""
    if kind == "layer":
        return F.layer_norm(x, (x.shape[-1],), eps=NORM_EPS)
    seeds, batch, n = x.shape
    y = F.batch_norm(x.transpose(0, 1).reshape(batch, seeds * n), None, None, training=True, eps=NORM_EPS)
    return y.reshape(batch, seeds, n).transpose(0, 1)


def simulate(net, seeds: int, seed: int = 0):
    """The stream's std after every block for `seeds` independent draws of the
    network (all at once: one generator, weights stacked over seeds), with each
    draw's input mean square, RMS row cosine and mean.  Normal-family inits."""
    assert net.init in ("kaiming-normal", "xavier-normal", "normal") and net.mean == 0.0
    gen = torch.Generator().manual_seed(seed)
    n, batch, m = net.width, net.batch_size, net.branch_depth
    f = torch_act(net.act, net.negative_slope)
    sds = [math.sqrt(weight_variance_gain(replace(net, gain=g), n, n) / n) for g in net.linear_gains()]
    pre = net.norm if net.norm != "none" and net.norm_position == "pre" else None
    post = net.norm if net.norm != "none" and net.norm_position == "post" else None
    x0 = torch.randn(seeds, batch, n, generator=gen)
    x, stds = x0, []
    for _ in range(net.layers):
        h = _norm(pre, x) if pre else x
        for j in range(m):
            h = h @ (torch.randn(seeds, n, n, generator=gen) * sds[j]).transpose(1, 2)
            if net.bias == "default":
                bound = 1 / math.sqrt(n)
                h = h + (torch.rand(seeds, 1, n, generator=gen) * 2 - 1) * bound
            if j < m - 1:
                h = f(h)
        x = x + net.residual_scale * h
        if post:
            x = _norm(post, x)
        stds.append(x.double().flatten(1).std(dim=1, correction=0))
    x0 = x0.double()
    xn = F.normalize(x0, dim=2)
    cos = (xn @ xn.transpose(1, 2))[:, ~torch.eye(batch, dtype=torch.bool)]
    rho = cos.pow(2).mean(dim=1).sqrt() if batch > 1 else torch.zeros(seeds)
    return torch.stack(stds, 1).numpy(), x0.pow(2).mean((1, 2)).numpy(), rho.numpy(), x0.mean((1, 2)).numpy()


def coverage(net, seeds: int, blocks: tuple[int, ...]) -> float:
    """Fraction of (seed, block) pairs whose measured std lies in the band."""
    std, m2, rho, mean = simulate(net, seeds)
    hits = []
    for s in range(seeds):
        pred = predict_resmlp(net, float(m2[s]), float(rho[s]), float(mean[s]))
        for k in blocks:
            lo, hi = pred[k - 1].band
            hits.append(lo <= std[s, k - 1] <= hi)
    return float(np.mean(hits))


# ---------------------------------------------------------------------------
# Infinite width: the cases against the recursion's closed forms


@pytest.mark.parametrize("blocks", [1, 4, 16, 64])
def test_infinite_width_closed_forms(blocks):
    """Width 512, ReLU, kaiming-normal, --gain auto (1 then sqrt(2): the branch
    keeps its input's second moment), unit input."""

    def var(**flags):
        pred = predict_resmlp(resnet(width=512, layers=blocks, **flags), 1.0, 0.04, 0.0)
        return [p.std**2 for p in pred]

    plain = var()
    assert plain[-1] == pytest.approx(2.0**blocks, rel=1e-4)  # S = Q: doubles every block
    q = 1.0
    for v in var(norm="layer"):
        q += q / (q + NORM_EPS)  # the LayerNorm hands the branch var / (var + eps)
        assert v == pytest.approx(q, rel=1e-6)
    assert q == pytest.approx(blocks + 1, rel=1e-4)
    assert var(residual_scale="invsqrt")[-1] == pytest.approx((1 + 1 / blocks) ** blocks, rel=1e-4)
    for scheme in ("fixup", "skipinit"):
        pred = predict_resmlp(resnet(width=512, layers=blocks, residual_init=scheme), 1.0, 0.04, 0.0)
        assert all(p.std == 1.0 and p.band == pytest.approx((1.0, 1.0), rel=2e-12) for p in pred)


def test_post_layer_norm_is_known_up_to_eps():
    pred = predict_resmlp(resnet(width=64, layers=8, norm="layer", norm_position="post"), 1.0, 0.1)
    for p in pred:
        assert p.mean == 0.0
        # each row has variance V / (V + eps) after the norm, V ~ 2 here
        assert p.std == pytest.approx(math.sqrt(2 / (2 + 1e-5)), abs=3e-6) and p.std < 1.0
        assert p.band[1] - p.band[0] < 1e-5


# ---------------------------------------------------------------------------
# Finite width: coverage of the band over a matrix of regimes

REGIMES = {
    "relu, no norm, alpha 1": dict(layers=16),
    "relu, pre-layernorm, alpha 1": dict(layers=16, norm="layer"),
    "relu, post-layernorm, alpha 1": dict(layers=16, norm="layer", norm_position="post"),
    "relu, pre-batchnorm, alpha 1": dict(layers=16, norm="batch"),
    "relu, no norm, invsqrt": dict(layers=16, residual_scale="invsqrt"),
    "tanh, no norm, alpha 0.5": dict(layers=16, act="tanh", residual_scale=0.5),
    "linear, xavier-normal, pre-layernorm": dict(layers=16, act="linear", init="xavier-normal", norm="layer"),
    "gelu, no norm, default bias": dict(layers=4, act="gelu", bias="default"),
    "relu, batch of 1": dict(layers=16, batch_size=1),
}


@pytest.mark.parametrize("regime", REGIMES)
def test_band_holds_about_90_percent_of_seeds(regime):
    net = resnet(width=64, **REGIMES[regime])
    blocks = tuple(k for k in (1, 4, 16) if k <= net.layers)
    assert 0.8 <= coverage(net, 80, blocks) <= 0.97


def test_band_at_width_512():
    assert 0.8 <= coverage(resnet(width=512, layers=4, residual_scale="invsqrt"), 60, (1, 2, 4)) <= 0.97


def test_an_infinite_width_std_alone_would_miss():
    """The band is needed: at width 64 and 16 plain blocks the seeds' median
    sits well below the infinite-width value (Jensen on a multiplicative walk),
    and the band's centre follows it."""
    net = resnet(width=64, layers=16)
    std, m2, rho, mean = simulate(net, 80)
    pred = predict_resmlp(net, 1.0, float(np.mean(rho)), 0.0)[-1]
    median = float(np.median(std[:, -1] / np.sqrt(m2)))
    assert median < 0.95 * pred.std
    assert pred.band[0] < median < pred.band[1]


# ---------------------------------------------------------------------------
# Where the theory has no answer


@pytest.mark.parametrize("flags", [{"init": "constant", "value": 0.1}, {"init": "normal", "mean": 0.1}])
def test_no_prediction_for_weights_with_a_mean(flags):
    pred = predict_resmlp(resnet(width=32, layers=3, **flags), 1.0, 0.1)
    assert [(p.std, p.band) for p in pred] == [(None, None)] * 3


def test_no_band_where_the_fluctuations_are_not_modelled():
    net = resnet(width=32, layers=3, init="orthogonal")
    assert "orthogonal weights are not i.i.d." in band_unsupported(net)
    pred = predict_resmlp(net, 1.0, 0.1)
    assert all(p.std is not None and p.band is None for p in pred)
    biased = resnet(width=32, layers=3, bias=0.5)
    assert "constant bias" in band_unsupported(biased)
    assert all(p.std is not None and p.band is None for p in predict_resmlp(biased, 1.0, 0.1))
    assert band_unsupported(resnet(width=32, layers=3)) is None
    assert all(p.band is not None for p in predict_resmlp(resnet(width=32, layers=3), 1.0, 0.1))


# ---------------------------------------------------------------------------
# The simulation is the real network


def exact_stream(net) -> list[float]:
    """One seed, drawn as the model builder draws it: the seed's data stream for
    the input, each Linear from its own base (`block{k}.branch.fc{j}`)."""
    x = torch.randn(net.batch_size, net.width, generator=generator(net.seed, "data"))
    f = torch_act(net.act, net.negative_slope)
    pre = net.norm if net.norm != "none" and net.norm_position == "pre" else None
    post = net.norm if net.norm != "none" and net.norm_position == "post" else None
    stds = []
    shape = (net.width, net.width)
    for k in range(1, net.layers + 1):
        h = _norm(pre, x[None])[0] if pre else x
        for j, g in enumerate(net.linear_gains(), 1):
            base = LayerBase(net.seed, f"block{k}.branch.fc{j}", shape)
            w = init_weight(torch.empty(shape), replace(net, gain=g), base)
            b = init_bias(torch.empty(net.width), net, base, net.width) if net.bias != "none" else None
            h = F.linear(h, w, b)
            if j < net.branch_depth:
                h = f(h)
        x = x + net.residual_scale * h
        if post:
            x = _norm(post, x[None])[0]
        stds.append(x.double().std(correction=0).item())
    return stds


@pytest.mark.parametrize(
    "flags",
    [
        {"norm": "layer", "bias": "default", "residual_scale": "invsqrt"},
        {"norm": "layer", "norm_position": "post", "act": "tanh", "branch_depth": 3},
        {"norm": "batch", "residual_scale": 0.5},
    ],
)
def test_simulation_is_the_network_std_trace_runs(flags):
    spec = std_trace_spec(
        {
            "arch": "resmlp",
            "init": "kaiming-normal",
            "layers": 4,
            "width": 32,
            "batch_size": 8,
            "seed": 3,
            **flags,
        }
    )
    measured = [row.std for row in run_std_trace(spec).layers]
    assert exact_stream(spec.net) == pytest.approx(measured, rel=1e-5)


def test_beyond_float64_the_theory_says_nothing_instead_of_failing():
    """A scale of 1e6 over 10 blocks, or thousands of blocks, leave float64:
    the prediction stops (None) where the numbers do, and the command runs."""
    from nninit_cli.experiments.std_trace import run_std_trace
    from nninit_cli.specs import std_trace_spec

    res = run_std_trace(std_trace_spec({"arch": "resmlp", "residual_scale": 1e6, "layers": 10}))
    assert res.first_nonfinite_layer == 5  # float32 gives out first; the theory goes on in float64
    pred = res.predicted_all
    lo, hi = res.layers[0].predicted_band
    assert lo <= res.layers[0].std <= hi  # where it speaks, it is right
    # a linear branch scaled by 1e6: the same growth factor every block, until
    # the fourth moments leave float64 (about 1e76 for the std)
    growth = [b / a for a, b in zip(pred[:-2], pred[1:-1], strict=True)]
    assert all(g == pytest.approx(growth[0], rel=1e-6) for g in growth) and growth[0] > 1e8
    assert pred[-2] > 1e70 and pred[-1] is None
    res = run_std_trace(std_trace_spec({"arch": "resmlp", "layers": 64, "width": 64, "act": "relu"}))
    pred = res.predicted_all
    first_none = pred.index(None)
    assert pred[first_none - 1] > 1e70 and all(p is None for p in pred[first_none:])
