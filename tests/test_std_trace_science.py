"""The physics std-trace must show (experiments E5 and E6, seeds 002 and 004)."""

from __future__ import annotations

import math
import statistics
import subprocess
import sys

import numpy as np
import pytest

from nninit_cli.experiments.std_trace import run_std_trace
from nninit_cli.specs import std_trace_spec


def trace(**flags):
    return run_std_trace(std_trace_spec(flags))


def test_defaults_overflow_float32_near_layer_32():
    res = trace()
    stds = [r.std for r in res.layers]
    assert 14 <= stds[0] <= 18  # sqrt(256) = 16
    growth = [stds[i] / stds[i - 1] for i in range(1, 10)]
    assert all(12 <= g <= 20 for g in growth), growth
    assert 29 <= res.first_nonfinite_layer <= 35
    # the trace stops at the first non-finite layer, and only there
    assert len(res.layers) == res.first_nonfinite_layer
    assert all(math.isfinite(r.std) for r in res.layers[:-1])
    assert res.verdict == "nonfinite"


def test_defaults_float64_survive_past_float32_overflow():
    res = trace(dtype="float64", layers=60)
    assert res.first_nonfinite_layer is None
    assert res.layers[-1].std > 1e60  # 16^60 = 1.3e72, far past float32's 3.4e38
    assert "exploding" in res.verdicts


def test_scaled_normal_is_stable():
    res = trace(std=0.0625)  # 1 / sqrt(256)
    assert all(0.5 <= r.std <= 2.0 for r in res.layers)
    assert res.verdict == "stable"


def test_tanh_xavier_settles_near_064():
    res = trace(act="tanh", init="xavier-uniform")
    assert res.config["gain"] == pytest.approx(5 / 3)
    assert 0.55 <= res.final_std <= 0.75


@pytest.mark.parametrize("seed", range(10))
def test_relu_kaiming_is_stable(seed):
    res = trace(act="relu", init="kaiming", seed=seed)
    assert 0.1 <= res.final_std <= 10
    assert res.verdict == "stable"


def test_relu_with_linear_scaling_vanishes():
    res = trace(act="relu", std=0.0625)
    assert res.verdict == "vanishing"
    assert res.std_ratio < 1e-3


def test_relu_xavier_with_torch_gain_vanishes_but_auto_gain_does_not():
    # --gain torch is what xavier_uniform_(w) does with no gain: 1, too small for ReLU
    assert trace(act="relu", init="xavier", gain="torch").verdict == "vanishing"
    assert trace(act="relu", init="xavier").verdict == "stable"  # auto: sqrt(2)


def test_zero_init_is_dead():
    res = trace(init="zeros", layers=5)
    assert res.layers[0].zero_frac == 1.0
    assert res.verdict == "dead"


def test_tanh_with_unit_normal_weights_saturates():
    res = trace(act="tanh", layers=10)
    assert res.layers[-1].saturated_frac > 0.5
    assert "saturated" in res.verdicts
    assert trace(act="relu", layers=3).layers[0].saturated_frac is None


def test_prediction_tracks_tanh_xavier_within_5_percent():
    res = trace(act="tanh", init="xavier-uniform", width=1024)
    for r in res.layers:
        assert r.predicted_std == pytest.approx(r.std, rel=0.05), r.layer


def test_prediction_tracks_scaled_linear_within_10_percent():
    res = trace(std=1 / 32, width=1024, layers=20)
    for r in res.layers:
        assert r.predicted_std == pytest.approx(r.std, rel=0.10), r.layer


def test_prediction_for_relu_kaiming_median_over_seeds():
    ratios = []
    for seed in range(8):
        last = trace(act="relu", init="kaiming", width=1024, layers=20, seed=seed).layers[-1]
        ratios.append(last.std / last.predicted_std)
    assert 0.8 <= statistics.median(ratios) <= 1.2


def test_band_holds_finite_width_runs_and_is_not_too_wide():
    finals, inside, widths = [], 0, []
    for seed in range(20):
        last = trace(act="relu", init="kaiming", seed=seed).layers[-1]
        lo, hi = last.predicted_band  # depends a little on each seed's measured input
        finals.append(last.std)
        inside += lo <= last.std <= hi
        widths.append(math.log(hi / lo))
    assert inside >= 16, (inside, sorted(finals))
    p5, p95 = np.percentile(finals, [5, 95])
    assert max(widths) <= 2 * math.log(p95 / p5)
    # the infinite-width value alone would mislead: most runs end below it
    assert statistics.median(finals) < 0.8 * last.predicted_std


def test_band_is_narrow_where_tanh_contracts():
    # tanh's variance map contracts, so finite-width errors do not accumulate
    last = trace(act="tanh", init="xavier").layers[-1]
    lo, hi = last.predicted_band
    assert math.log(hi / lo) < 0.1


def test_prediction_is_none_for_nonzero_mean_weights():
    res = trace(mean=0.1, std=0.0625, layers=3)
    assert all(r.predicted_std is None and r.predicted_band is None for r in res.layers)


def test_backward_reports_gradient_flow():
    # Glorot's backward condition: square xavier layers keep the gradient's std
    res = run_std_trace(std_trace_spec({"init": "xavier-normal", "layers": 30, "backward": True}))
    assert all(r.grad_std > 0 and r.weight_grad_norm > 0 for r in res.layers)
    assert 0.3 < res.layers[0].grad_std / res.layers[-1].grad_std < 3
    # tanh with torch's gain 5/3 sits past the edge of chaos: gradients grow downwards
    tanh = run_std_trace(std_trace_spec({"act": "tanh", "init": "xavier", "layers": 30, "backward": True}))
    assert tanh.layers[0].grad_std > 3 * tanh.layers[-1].grad_std
    vanishing = run_std_trace(std_trace_spec({"act": "relu", "std": 0.0625, "layers": 30, "backward": True}))
    assert vanishing.layers[0].grad_std < 1e-3 * vanishing.layers[-1].grad_std


def test_weights_do_not_depend_on_batch_size(monkeypatch):
    from nninit_cli.model import builder as module

    seen: dict[int, list] = {}
    real = module.init_weight

    def spy(w, net, gen):
        out = real(w, net, gen)
        seen.setdefault(net.batch_size, []).append(out.clone())
        return out

    monkeypatch.setattr(module, "init_weight", spy)
    trace(layers=3, batch_size=16)
    trace(layers=3, batch_size=4)
    assert all((a == b).all() for a, b in zip(seen[16], seen[4], strict=True))
    # ...while another seed gives other weights
    trace(layers=1, batch_size=5, seed=1)
    assert not (seen[5][0] == seen[16][0]).all()


def _peak_rss_mb(layers: int, flags: dict) -> float:
    code = (
        "import resource; from nninit_cli.specs import std_trace_spec; "
        "from nninit_cli.experiments.std_trace import run_std_trace; "
        f"run_std_trace(std_trace_spec({{**{flags!r}, 'layers': {layers}, 'width': 1024}})); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout)


@pytest.mark.parametrize(
    "flags",
    [
        {"std": 1 / 32},
        {"act": "relu", "init": "kaiming"},  # kept 0-d statistics once fragmented the heap here
        {"arch": "resmlp", "act": "relu", "init": "kaiming", "residual_scale": "invsqrt"},
    ],
)
def test_forward_trace_memory_is_flat_in_depth(flags):
    # 400 layers of 1024 x 1024 float32 weights would be 1.6 GB if any were kept
    # (a resmlp block holds two of them: 200 blocks)
    deep = 200 if flags.get("arch") == "resmlp" else 400
    shallow, deep = _peak_rss_mb(10, flags), _peak_rss_mb(deep, flags)
    assert deep - shallow < 100, (shallow, deep)


@pytest.mark.parametrize("act", ["linear", "relu", "tanh"])
def test_lsuv_fits_every_pre_activation_std_to_one(act):
    res = trace(init="lsuv", act=act)
    assert all(abs(r.pre_std - 1) < 0.01 for r in res.layers), act
    assert res.verdict == "stable"
    with_bias = trace(init="lsuv", act=act, bias=0.5, layers=20)
    assert all(abs(r.pre_std - 1) < 0.01 for r in with_bias.layers)
