"""`nninit jacobian`: the Jacobian's singular values against the theory.

The science on `run_jacobian` results; the contract (exit codes, one-line
errors, strict JSON) through the CLI.  Tolerances come from the seeds' own
scatter (standard errors) or from the finite-width terms derived below.
"""

from __future__ import annotations

import json
import math
import statistics

import pytest
import torch

from nninit_cli.experiments.jacobian import inputs, jacobian, run_jacobian, stack
from nninit_cli.jacobian_theory import predict_jacobian
from nninit_cli.model.torchenv import generator
from nninit_cli.specs import jacobian_spec, std_trace_spec

pytestmark = pytest.mark.usefixtures("one_thread")


def run(**flags):
    return run_jacobian(jacobian_spec(flags))


def test_a_linear_orthogonal_stack_has_every_singular_value_one():
    """Products of orthogonal matrices are orthogonal.  In float32 (the
    default; the weights are drawn in float32 whatever --dtype is, so float64
    would not tighten it) 32 layers of 256 stay within 4.2e-6 of 1."""
    res = run(init="orthogonal", layers=32, width=256)
    for s in [*(row.spectrum for row in res.samples), res.pooled]:
        assert abs(s.min - 1) < 1e-5 and abs(s.max - 1) < 1e-5, s
    assert res.verdicts == ["isometric"] and res.theory["spread"] == 0.0
    assert res.theory["mean_sq"] == pytest.approx(1.0, abs=1e-9)


def _ols_slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def test_a_linear_gaussian_stack_spreads_linearly_with_depth():
    """Free probability: L i.i.d. square Gaussian layers spread by 1 each
    (Marchenko-Pastur), so spread = L at infinite width.  At width n the
    second moment M2 = tr((J J^T)^2) / n obeys, for one more layer W with
    entries of variance 1/n (Wick's theorem on E tr(W A W^T W A W^T)),
    M2' = (tr A / n)^2 + (1 + 1/n) M2, so with tr A / n ~ 1:
    spread = (a^(L+1) - 1) / (a - 1) - 1 with a = 1 + 1/n, about L + L(L+1) / 2n.
    Each depth's mean over seeds must lie within 4 standard errors (from the
    seeds' scatter) of that, and so must the least-squares slope over depths."""
    n, depths, seeds = 128, (2, 4, 8, 16), range(32)
    a = 1 + 1 / n
    expect = [(a ** (d + 1) - 1) / (a - 1) - 1 for d in depths]
    means, errors = [], []
    for d in depths:
        got = [run(layers=d, width=n, samples=1, seed=s).pooled.spread for s in seeds]
        means.append(statistics.fmean(got))
        errors.append(statistics.stdev(got) / math.sqrt(len(got)))
    for d, m, se, e in zip(depths, means, errors, expect, strict=True):
        assert abs(m - e) < 4 * se, (d, m, e, se)
    # the slope's standard error from the depths' own: OLS weights (d - mean d) / Sxx
    md = statistics.fmean(depths)
    sxx = sum((d - md) ** 2 for d in depths)
    slope_se = math.sqrt(sum(((d - md) / sxx) ** 2 * se**2 for d, se in zip(depths, errors, strict=True)))
    slope, expected_slope = _ols_slope(list(depths), means), _ols_slope(list(depths), expect)
    assert abs(slope - expected_slope) < 4 * slope_se, (slope, expected_slope, slope_se)
    assert 0.9 < expected_slope < 1.15  # linear in depth: one unit of spread a layer, 1 + O(L/n)


def test_tanh_at_criticality_with_orthogonal_weights_spreads_far_less_than_gaussian():
    """tanh, sigma_b = 0, sigma_w2 = 1 (--gain 1): chi_1 = 1 as q -> 0, the
    critical point.  The D_l add sum(mu2/mu1^2 - 1) = 1.34 over 32 layers
    (most of it in the first layers, where q ~ 1); Gaussian weights add 1
    more per layer.  Measured at 256 wide: 1.32 against 36.8 (theory 33.3;
    the Gaussian's finite-width excess L(L+1)/2n = 2.1 is its share)."""
    ortho = run(act="tanh", init="orthogonal", gain=1.0, layers=32, width=256)
    gauss = run(act="tanh", init="kaiming-normal", gain=1.0, layers=32, width=256)
    assert ortho.theory["spread"] == pytest.approx(1.336, abs=0.01)
    assert gauss.theory["spread"] == pytest.approx(32 + 1.336, abs=0.01)
    assert ortho.pooled.spread < gauss.pooled.spread / 4
    assert ortho.pooled.spread == pytest.approx(ortho.theory["spread"], rel=0.1)
    gauss_finite = gauss.theory["spread"] + 32 * 33 / (2 * 256)
    assert gauss.pooled.spread == pytest.approx(gauss_finite, rel=0.15)


@pytest.mark.parametrize(
    "flags",
    [
        dict(act="linear", init="kaiming-normal"),
        dict(act="relu", init="kaiming-normal"),
        dict(act="lrelu", init="kaiming-uniform", negative_slope=0.2),
    ],
    ids=["linear", "relu", "lrelu"],
)
def test_mean_squared_singular_value_is_the_product_of_chi1(flags):
    """For a homogeneous phi (phi' depends on the sign of h only) and i.i.d.
    weights symmetric about 0, E[|D W u|^2 | u] = chi_1 |u|^2 exactly at any
    width (flip the sign of a row of W: h and W u change sign together), so
    the mean of s^2 averaged over seeds is unbiased for prod chi_1; it must lie
    within 4 standard errors of the seeds' scatter."""
    got = [run(**flags, layers=8, width=128, samples=2, seed=s) for s in range(16)]
    means = [r.pooled.mean_sq for r in got]
    se = statistics.stdev(means) / math.sqrt(len(means))
    theory = got[0].theory["mean_sq"]
    assert theory == pytest.approx(1.0, abs=1e-6)  # --gain auto: chi_1 = 1 a layer
    assert abs(statistics.fmean(means) - theory) < 4 * se, (statistics.fmean(means), theory, se)


def test_chi1_product_off_criticality():
    """Away from chi_1 = 1 the product moves by orders of magnitude: sigmoid
    with orthogonal weights (gain 1) loses a factor ~16 a layer; the measured
    mean s^2 follows the theory to within 15% at 256 wide while both fall by
    about 10^9, and the verdict says vanishing."""
    res = run(act="sigmoid", init="orthogonal", gain=1.0, layers=8, width=256)
    assert res.theory["mean_sq"] < 1e-8
    assert res.pooled.mean_sq == pytest.approx(res.theory["mean_sq"], rel=0.15)
    assert "vanishing" in res.verdicts


def test_same_weights_as_std_trace():
    """One linear layer's Jacobian is its weight matrix: the one std-trace draws."""
    from nninit_cli.model.builder import build, materialise

    spec = jacobian_spec({"layers": 1, "width": 8, "init": "normal"})
    net = std_trace_spec({"layers": 1, "width": 8, "init": "normal"}).net
    weight = materialise(build(net), net).fc1.weight
    x = inputs(spec)
    model = stack(spec, x, torch.device("cpu"), torch.float32)
    assert torch.equal(jacobian(model, x[0]), weight.detach())
    batch = torch.randn(16, 8, generator=generator(0, "data"))
    assert torch.equal(x, batch[:4])  # the first rows of std-trace's batch


def test_theory_says_why_it_has_no_answer():
    spec = jacobian_spec({"arch": "resmlp", "layers": 2, "width": 8})
    assert "resmlp" in predict_jacobian(spec.net, 1.0).spread_reason
    sparse = predict_jacobian(jacobian_spec({"init": "sparse", "layers": 2, "width": 8}).net, 1.0)
    assert sparse.spread is None and "i.i.d." in sparse.spread_reason and sparse.mean_sq is not None
    uniform = predict_jacobian(jacobian_spec({"init": "uniform", "layers": 3, "width": 8}).net, 1.0)
    assert uniform.weights == "gaussian" and uniform.spread == pytest.approx(3.0)


def test_overflow_is_nonfinite_and_strict_json(cli):
    """N(0, 1) weights multiply lengths by sqrt(256) = 16 a layer: 16^32 > float32's 3.4e38."""
    r = cli("jacobian", "--init", "normal", "--layers", "40", "--width", "256", "--samples", "1", "--json")
    data = json.loads(r.out, parse_constant=lambda t: pytest.fail(t))
    assert r.code == 0 and data["verdicts"] == ["nonfinite"]
    assert data["pooled"]["reason"] and data["theory"]["mean_sq"] == pytest.approx(256.0**40, rel=1e-6)


@pytest.mark.parametrize(
    "args,flag",
    [
        (["--samples", "0"], "--samples"),
        (["--input-std", "0"], "--input-std"),
        (["--spread-tol", "-1"], "--spread-tol"),
        (["--arch", "resmlp", "--norm", "batch"], "--norm"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(cli, args, flag):
    r = cli("jacobian", *args)
    assert r.code == 2 and flag in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_a_width_beyond_memory_is_refused_before_any_work(cli, monkeypatch):
    monkeypatch.setenv("NNINIT_MEMORY_LIMIT", "1G")
    r = cli("jacobian", "--width", "16384")
    assert r.code == 2 and "--width" in r.err and "memory" in r.err and r.out == ""
    assert len(r.err.strip().splitlines()) == 1


def test_fail_on_and_table(cli):
    r = cli("jacobian", "--init", "orthogonal", "--layers", "4", "--width", "16", "--fail-on", "isometric")
    assert r.code == 1 and "--fail-on: isometric held" in r.err
    assert "verdict: isometric" in r.out and "theory" in r.out


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_gives_the_cpu_spectrum():
    flags = dict(act="tanh", init="orthogonal", gain=1.0, layers=8, width=128, dtype="float64")
    cpu, gpu = run(**flags), run(**flags, device="cuda")
    assert gpu.pooled.spread == pytest.approx(cpu.pooled.spread, rel=1e-8)
    assert gpu.pooled.mean_sq == pytest.approx(cpu.pooled.mean_sq, rel=1e-10)
