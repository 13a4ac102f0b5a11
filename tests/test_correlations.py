"""Random biases (--bias-std) and the correlation between examples (std-trace's c-map).

Tolerances on measurements come from the finite-width noise of a cosine:
given layer l-1, the n units of layer l's pre-activations are i.i.d.
Gaussian pairs (Gaussian weights and biases), so the cosine of one pair of
examples is a sample correlation of n pairs, variance (1 - c^2)^2 / n.  Each
layer adds that, and carries what came before with the c-map's slope
(dc_l / dc_k, from the trace itself).  The batch's mean over pairs varies
no more than one pair does, so 4 sigma of one pair bounds it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nninit_cli import meanfield as mf
from nninit_cli import specs
from nninit_cli.correlations import predict_correlations
from nninit_cli.experiments.std_trace import _input_batch, run_std_trace
from nninit_cli.model.inits import LayerBase

WIDTH = 1024


def _trace(**flags):
    return run_std_trace(specs.std_trace_spec({"width": WIDTH, "batch_size": 16, **flags}))


def _pair_sd(act: str, v: float, var_b: float, cos_in: float, layers: int) -> np.ndarray:
    """One pair's finite-width sd of the cosine at each layer (module docstring)."""
    f = mf.act_fn(act)
    h = 1e-4
    hi = np.array(mf.cosine_trace(f, v, 0.0, var_b, 1.0, cos_in + h, layers))
    lo = np.array(mf.cosine_trace(f, v, 0.0, var_b, 1.0, cos_in - h, layers))
    c = np.array(mf.cosine_trace(f, v, 0.0, var_b, 1.0, cos_in, layers))
    gain = (hi - lo) / (2 * h)  # dc_l / dc_0
    fresh = (1 - c**2) ** 2 / WIDTH
    var = [sum((gain[i] / gain[k]) ** 2 * fresh[k] for k in range(i + 1) if gain[k]) for i in range(layers)]
    return np.sqrt(np.array(var))


def _arccos_step(c: float) -> float:
    """ReLU's c-map at sigma_w2 = 2 (Cho & Saul's arc-cosine kernel), written
    with 1 - c so that it keeps its digits near c = 1."""
    theta = 2 * math.asin(math.sqrt(max(1 - c, 0.0) / 2))
    return (math.sin(theta) + (math.pi - theta) * c) / math.pi


# ---------------------------------------------------------------------------
# the quadrature against closed forms and against c_map_2d


@pytest.mark.parametrize("one_minus_c", [1.5, 0.5, 1e-2, 1e-4, 1e-6, 1e-8])
def test_pair_moments_match_the_arc_cosine_kernel(one_minus_c):
    c = 1 - one_minus_c
    m, cross, half_gap = mf.pair_moments(mf.act_fn("relu"), 1.0, c, one_minus_c=one_minus_c)
    exact = 0.5 * _arccos_step(c)
    assert m == pytest.approx(0.5, rel=1e-9)
    assert cross == pytest.approx(exact, rel=1e-3)  # the inner trapezoid's O(h^2) at the kink
    # the distance 1 - c' keeps its relative accuracy near c = 1
    assert half_gap == pytest.approx(0.5 - exact, rel=3e-4)


@pytest.mark.parametrize("act, rel", [("tanh", 1e-9), ("sigmoid", 1e-9), ("softplus", 1e-9), ("selu", 1e-4)])
def test_pair_moments_agree_with_c_map_2d_for_smooth_and_shifted_activations(act, rel):
    """Two different rules on the same integral: to rounding for smooth phi,
    to the trapezoid's O(h^2) at SELU's kink (its slope jumps from 1.76 to 1.05)."""
    f = mf.act_fn(act)
    for c in (-0.6, 0.2, 0.9, 0.999):
        for mean in (0.0, 0.7):
            _, cross, _ = mf.pair_moments(f, 1.7, c, mean)
            shifted = lambda x, mean=mean: f(x + mean)  # noqa: E731
            assert cross == pytest.approx(mf.c_map_2d(shifted, 1.7, c), rel=rel, abs=1e-12)


def test_relu_trace_follows_the_arc_cosine_map_for_2000_layers():
    trace = mf.cosine_trace(mf.act_fn("relu"), 2.0, 0.0, 0.0, 1.0, 0.3, 2000)
    c = 0.3
    for layer, predicted in enumerate(trace, 1):
        assert (1 - predicted) == pytest.approx(1 - c, rel=1e-4), layer
        c = _arccos_step(c)
    assert trace[-1] > 0.99998  # correlations rise to 1, as 1 / depth^2


def test_chaotic_tanh_settles_to_phase_grids_c_star():
    f = mf.act_fn("tanh")
    cell = mf.phase_grid(f, [4.0], [0.05])[0]
    assert cell.phase == "chaotic"
    trace = mf.cosine_trace(f, 4.0, 0.0, 0.05, 1.0, 0.9, 200)
    assert trace[-1] == pytest.approx(cell.c_star, abs=1e-6)


# ---------------------------------------------------------------------------
# measured against predicted, at width 1024


@pytest.mark.parametrize(
    "flags, v, var_b, layers",
    [
        ({"act": "tanh", "init": "xavier-normal", "input_corr": 0.5}, (5 / 3) ** 2, 0.0, 30),
        ({"act": "relu", "init": "kaiming-normal", "input_corr": 0.0}, 2.0, 0.0, 30),
        (
            {
                "act": "tanh",
                "init": "kaiming-normal",
                "gain": 2.0,
                "bias_std": math.sqrt(0.05),
                "input_corr": 0.9,
            },
            4.0,
            0.05,
            60,
        ),
    ],
    ids=["tanh-xavier", "relu-kaiming", "tanh-chaotic-bias-std"],
)
def test_measured_cosines_follow_the_c_map(flags, v, var_b, layers):
    res = _trace(layers=layers, **flags)
    measured = np.array([r.corr for r in res.layers])
    predicted = np.array([r.predicted_corr for r in res.layers])
    sd = _pair_sd(flags["act"], v, var_b, res.input_corr, layers)
    assert np.all(np.abs(measured - predicted) <= 4 * sd + 4 / WIDTH), np.abs(measured - predicted) / sd
    if flags["act"] == "relu":
        assert predicted[-1] > 0.97 and np.all(np.diff(predicted) > 0)  # rising towards 1
    if "bias_std" in flags:  # settling to c* = 0.165 (phase_grid), from 0.9
        c_star = mf.phase_grid(mf.act_fn("tanh"), [4.0], [0.05])[0].c_star
        assert predicted[-1] == pytest.approx(c_star, abs=1e-3)
        assert measured[-1] == pytest.approx(c_star, abs=4 * sd[-1] + 0.01)


def test_a_constant_bias_and_a_non_zero_mean_activation_are_in_the_uncentred_cosine():
    res = _trace(layers=6, act="softplus", init="kaiming-normal", bias=0.5, input_corr=0.3)
    for r in res.layers:
        assert r.corr == pytest.approx(r.predicted_corr, abs=0.06)
    # without beta^2 in the cosine the first layer would read (q_ab)/(q), about 0.29
    assert res.layers[0].predicted_corr > 0.4


def test_resmlp_streams_follow_the_kernel_recursion():
    res = _trace(layers=20, arch="resmlp", act="relu", init="kaiming-normal", residual_scale="invsqrt")
    for r in res.layers:
        assert r.corr == pytest.approx(r.predicted_corr, abs=0.05)
    assert res.layers[-1].predicted_corr > 0.05  # residual ReLU branches do correlate the stream


def test_batchnorm_resmlp_has_no_prediction_and_says_why():
    res = _trace(layers=3, arch="resmlp", act="relu", init="kaiming-normal", norm="batch", width=64)
    assert all(r.predicted_corr is None for r in res.layers)
    assert "BatchNorm" in res.predicted_corr_note


# ---------------------------------------------------------------------------
# --input-corr, --bias-std and batches of one


def test_input_corr_zero_is_todays_batch_and_c_makes_that_correlation():
    spec = specs.std_trace_spec({"width": WIDTH, "batch_size": 16})
    from nninit_cli.model.torchenv import generator

    plain = torch.randn(16, WIDTH, generator=generator(0, "data"))
    assert torch.equal(_input_batch(spec), plain)
    res = _trace(layers=1, input_corr=0.6)
    # mean of 120 pair cosines, each 0.6 +- (1 - 0.36) / sqrt(1024), sharing z_shared
    assert res.input_corr == pytest.approx(0.6, abs=4 * 0.64 / math.sqrt(WIDTH))


def test_a_batch_of_one_has_no_pairs(cli):
    res = run_std_trace(specs.std_trace_spec({"layers": 3, "batch_size": 1, "width": 32}))
    assert res.input_corr is None and all(r.corr is None and r.predicted_corr is None for r in res.layers)
    d = res.to_dict()
    assert d["input_corr"] is None and "one example" in d["predicted_corr_note"]


def test_bias_std_adds_sigma_b_squared_to_the_variance():
    """sigma_w2 = 1, linear: q_l = q_{l-1} + S^2, so q_L = 1 + L S^2."""
    s, layers = 0.5, 8
    res = _trace(layers=layers, init="normal", std=1 / math.sqrt(WIDTH), bias_std=s)
    q_in = res.layers[0].predicted_std ** 2 - s * s  # the input batch's mean square, as measured
    assert q_in == pytest.approx(1.0, abs=4 * math.sqrt(2 / (16 * WIDTH)))
    for r in res.layers:
        q = q_in + r.layer * s * s
        assert r.predicted_std == pytest.approx(math.sqrt(q), rel=1e-9)
        # log q walks by sqrt(2 / n) a layer (chi-square of the weights), at most L of them
        assert math.log(r.pre_std**2 / q) == pytest.approx(0.0, abs=4 * math.sqrt(2 * r.layer / WIDTH))
    assert res.config["bias_std"] == s and res.config["bias"] == 0.0


def test_bias_noise_comes_from_each_layers_own_stream():
    net = specs.std_trace_spec({"width": 8, "layers": 3, "bias_std": 2.0, "bias": 1.0}).net
    from nninit_cli.model.inits import init_bias

    first = init_bias(torch.empty(8), net, LayerBase(5, "fc2", (8, 8)), 8)
    base = LayerBase(5, "fc2", (8, 8))
    base.normal()  # drawing the weights first changes nothing
    again = init_bias(torch.empty(8), net, base, 8)
    assert torch.equal(first, again)
    assert not torch.equal(first, init_bias(torch.empty(8), net, LayerBase(5, "fc3", (8, 8)), 8))
    assert torch.equal(first, 1.0 + 2.0 * LayerBase(5, "fc2", (8, 8)).bias_normal())


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bias", "none", "--bias-std", "0.1"], "--bias-std"),
        (["--bias", "default", "--bias-std", "0.1"], "--bias-std"),
        (["--no-bias", "--bias-std", "0.1"], "--bias-std"),
        (["--bias-std", "-1"], "--bias-std"),
        (["--input-corr", "1"], "--input-corr"),
    ],
)
def test_bad_bias_std_and_input_corr_exit_2(cli, args, message):
    r = cli("std-trace", "--layers", "2", *args)
    assert r.code == 2 and message in r.err and len(r.err.strip().splitlines()) == 1


def test_predict_correlations_of_a_plain_mlp_needs_no_torch_objects():
    net = specs.std_trace_spec({"act": "relu", "init": "kaiming-normal", "layers": 5}).net
    pred = predict_correlations(net, 1.0, 0.0)
    assert pred.note is None and pred.values[1] == pytest.approx(1 / math.pi, rel=5e-4)
