"""`nninit coord-check` as the issue states it: under the standard
parametrisation a few steps of Adam or SGD make the output layer's activations
grow with width (a clear positive log-log slope, verdict blows-up); under muP
every layer keeps its size (every slope near 0, verdict stable), for a plain
MLP and a residual one; under NTK with SGD the sizes hold but the features
barely move, less the wider the model (lazy).  Then the mechanics those
claims rest on: one model at the base width, the rules as Yang et al. 2022
(Table 3) give them, applied in torch as stated, the statistics, the verdict
rule, the refusals and a run that overflows."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest
import torch

from nninit_cli.data.datasets import load_dataset
from nninit_cli.experiments import coord_check as cc
from nninit_cli.experiments.coord_check import beyond, run_coord_check
from nninit_cli.render.table import coord_check_summary
from nninit_cli.results import CoordCheckResult, CoordStep, Slope
from nninit_cli.specs import coord_check_spec
from nninit_cli.stats import loglog_slope, mean_ci, pooled_intervals, t_cdf_two_sided, t_quantile
from tests.conftest import run_subprocess

TOL = 0.1  # --slope-tol's default: the "near 0"
WIDTHS = [64, 128, 256, 512, 1024]  # the issue's widths (--widths' default)


pytestmark = pytest.mark.usefixtures("one_thread")


def check(**flags) -> CoordCheckResult:
    return run_coord_check(coord_check_spec(flags))


@pytest.fixture(scope="module")
def runs() -> Callable[..., CoordCheckResult]:
    """The issue's configurations at the defaults, each run once for the module."""
    done: dict[tuple, CoordCheckResult] = {}

    def get(arch: str, param: str, optimizer: str, seeds: int = 3) -> CoordCheckResult:
        key = (arch, param, optimizer, seeds)
        if key not in done:
            done[key] = check(arch=arch, param=param, optimizer=optimizer, seeds=seeds)
        return done[key]

    return get


CONFIGS = [("mlp", "adam"), ("mlp", "sgd"), ("resmlp", "adam"), ("resmlp", "sgd")]


# ---------------------------------------------------------------------------
# the claims


@pytest.mark.parametrize("arch,optimizer", CONFIGS)
def test_standard_parametrisation_output_grows_with_width_after_a_step(runs, arch, optimizer):
    """SP's output moves by ~width^1 per update (see the next test), so a step
    or two in, its size grows with width at more than half that rate, with the
    90% interval over 3 seeds clear of tol (measured at the steeper of steps 1
    and 2: mlp adam +0.94, sgd +0.75; resmlp adam +1.77, sgd +5.1)."""
    res = runs(arch, "sp", optimizer)
    assert res.widths == WIDTHS and res.config["seeds"] == [0, 1, 2]
    out = res.layers[-1]
    assert out.role == "output"
    # at initialisation every size is width-free (variance 1/fan_in): no slope counts
    assert all(beyond(layer.steps[0].size_slope, TOL) == 0 for layer in res.layers)
    # after one or two updates the output grows with width, clear of the seeds' noise
    best = max((out.steps[1].size_slope, out.steps[2].size_slope), key=lambda s: s.slope)
    assert best.slope > 0.5 and best.ci[0] > 0.1, best
    assert out.verdict == "blows-up" and res.verdict == "blows-up" and "blows-up" in res.verdicts


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_standard_mlp_output_grows_at_most_like_width(runs, optimizer):
    """An update's effect on the output is at most ~width^1 in SP (Adam: every
    entry of dW is ~lr, so dW x sums width terms; SGD: dW x = lr g |x|^2), on
    top of a width-free start: the slope approaches 1 from below, never
    clearly above it."""
    out = runs("mlp", "sp", optimizer).layers[-1]
    for s in out.steps[1:3]:
        assert s.size_slope.ci[0] < 1.0, s.size_slope


def test_standard_resmlp_with_sgd_overflows(runs):
    """Each block adds its branch's growth to the stream: the widest model's
    sizes run away step on step until they overflow."""
    res = runs("resmlp", "sp", "sgd")
    head = res.layers[-1]
    assert head.name == "head" and head.steps[2].size_slope.slope > 1.0
    overflowed = [s.step for s in head.steps if s.size_slope.reason == "nonfinite"]
    assert overflowed and overflowed == list(range(overflowed[0], 6))  # and stays overflowed
    assert head.steps[1].size_slope.slope < head.steps[2].size_slope.slope and head.verdict == "blows-up"
    assert "head overflows at step" in coord_check_summary(res)


@pytest.mark.parametrize("arch,optimizer", CONFIGS)
def test_mup_is_stable_at_three_seeds(runs, arch, optimizer):
    res = runs(arch, "mup", optimizer)
    assert res.verdict == "stable" and res.verdicts == ["stable"]
    assert all(layer.verdict == "stable" for layer in res.layers)
    assert coord_check_summary(res).startswith("verdict: stable")


@pytest.mark.parametrize("arch,optimizer", CONFIGS)
def test_mup_every_slope_is_below_a_tenth_at_eight_seeds(runs, arch, optimizer):
    """The output layer's slope carries ~0.1 of seed noise per seed; over 8
    seeds the mean's is ~0.04 and every |slope| sits below 0.1 (measured at
    most 0.042, 0.056, 0.046, 0.082 for these four)."""
    res = runs(arch, "mup", optimizer, seeds=8)
    assert res.verdict == "stable"
    for layer in res.layers:
        for s in layer.steps:
            if layer.role == "output" and s.step == 0:
                assert s.size_slope.reason == "zero"  # the readout starts at 0
                continue
            assert abs(s.size_slope.slope) < TOL, (layer.name, s.step, s.size_slope)


def test_mup_readout_starts_at_zero_and_moves_alone_at_the_first_step(runs):
    out = runs("mlp", "mup", "adam").layers[-1]
    zero = out.steps[0]
    assert zero.size == [0.0] * len(WIDTHS) and all(v == 0.0 for row in zero.size_by_seed for v in row)
    assert zero.size_slope == Slope(None, None, [None, None, None], "zero")
    assert beyond(zero.size_slope, TOL) == 0
    # with a zero readout no gradient reaches the layers below it at step 0
    for layer in runs("mlp", "mup", "adam").layers[:-1]:
        assert layer.steps[1].change_slope.reason == "zero", layer.name
        assert layer.steps[2].change_slope.reason is None, layer.name
    assert all(c > 0 for c in out.steps[1].change)


def test_same_seed_gives_byte_identical_json(cli):
    args = ("coord-check", "--widths", "16,32", "--seeds", "2", "--steps", "2", "--param", "mup", "--json")
    first, second = cli(*args), cli(*args)
    assert first.code == 0, first.err
    assert first.out == second.out
    other = run_subprocess(*args, env={"OMP_NUM_THREADS": "1"})
    assert other.code == 0 and other.out.encode() == first.out.encode()
    assert cli(*args[:-1], "--seed", "1", "--json").out != first.out  # the seed is what fixes it


# ---------------------------------------------------------------------------
# NTK: sizes hold, features barely move


def test_ntk_with_sgd_is_lazy():
    """With the NTK multipliers each weight's effect on the features moves by
    ~1/sqrt(width) per step: the change since step 0 scales like width^-1/2
    (measured -0.45 to -0.57 at these widths) while the sizes hold."""
    res = check(param="ntk", optimizer="sgd")
    assert res.verdict == "stable"
    for layer in res.layers:
        moved = [s.change_slope for s in layer.steps[1:]]
        if layer.role == "output":  # the function itself learns at every width
            assert all(beyond(s, TOL) == 0 for s in moved), layer.name
        else:
            assert all(-0.65 < s.slope < -0.35 and s.ci[1] < 0 for s in moved), (layer.name, moved)
    assert "lazy" in coord_check_summary(res) and "fc1, fc2, fc3" in coord_check_summary(res)


# ---------------------------------------------------------------------------
# one model at the base width


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_every_parametrisation_is_the_same_model_at_the_base_width(optimizer):
    """All exponents act through m = width / base width, so at m = 1 sp, ntk
    and mup (readout drawn) draw and train the same network, number for number;
    at half and twice the base they differ."""
    res = {
        p: check(
            param=p, optimizer=optimizer, readout="drawn", widths="16,32,64", base_width=32, seeds=2, steps=3
        )
        for p in ("sp", "ntk", "mup")
    }
    sp = res["sp"]

    def at(rows: list[list[float]], i: int) -> list[float]:
        return [row[i] for row in rows]

    for p in ("ntk", "mup"):
        assert at(res[p].loss, 1) == at(sp.loss, 1)
        for mine, theirs in zip(res[p].layers, sp.layers, strict=True):
            for a, b in zip(mine.steps, theirs.steps, strict=True):
                assert at(a.size_by_seed, 1) == at(b.size_by_seed, 1)
                assert at(a.change_by_seed, 1) == at(b.change_by_seed, 1)
        for off_base in (0, 2):
            assert at(res[p].loss[1:], off_base) != at(sp.loss[1:], off_base)
    # NTK's multiplier undoes its larger draw: the same forward at every width at init
    for mine, theirs in zip(res["ntk"].layers, sp.layers, strict=True):
        flat = [v for row in theirs.steps[0].size_by_seed for v in row]
        assert [v for row in mine.steps[0].size_by_seed for v in row] == pytest.approx(flat, rel=1e-6)


# ---------------------------------------------------------------------------
# the rules (Yang et al. 2022, Table 3), as recorded and as applied

# exponents of m: (init, multiplier, lr) per weight role; lr per vector kind
TABLE = {
    ("sp", "sgd"): {"input": (0, 0, 0), "hidden": (0, 0, 0), "output": (0, 0, 0), "vec": 0},
    ("sp", "adam"): {"input": (0, 0, 0), "hidden": (0, 0, 0), "output": (0, 0, 0), "vec": 0},
    ("ntk", "sgd"): {"input": (0, 0, 0), "hidden": (0.5, -0.5, 0), "output": (0.5, -0.5, 0), "vec": 0},
    ("ntk", "adam"): {"input": (0, 0, 0), "hidden": (0.5, -0.5, 0), "output": (0.5, -0.5, 0), "vec": 0},
    # SGD: input and biases lr x fan_out, hidden x 1, output lr / fan_in, init std / sqrt(fan_in)
    ("mup", "sgd"): {"input": (0, 0, 1), "hidden": (0, 0, 0), "output": (-0.5, 0, -1), "vec": 1},
    # Adam: input and biases lr x 1, hidden and output lr / fan_in
    ("mup", "adam"): {"input": (0, 0, 0), "hidden": (0, 0, -1), "output": (-0.5, 0, -1), "vec": 0},
}


@pytest.mark.parametrize("param,optimizer", sorted(TABLE))
@pytest.mark.parametrize("readout", ["drawn", "auto"])
def test_rules_in_the_json_are_table_3(cli, param, optimizer, readout):
    lr = {"sgd": 0.1, "adam": 0.003}[optimizer]
    r = cli(
        "coord-check", "--widths", "16,64", "--seeds", "1", "--steps", "1", "--param", param,
        "--optimizer", optimizer, "--readout", readout, "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    data = r.json()
    assert data["config"]["lr"] == lr and data["base_width"] == 16  # m = 4 at the widest
    rules = {row["kind"]: row for row in data["rules"]}
    want = TABLE[param, optimizer]
    zero = readout == "auto" and param == "mup"
    for role in ("input", "hidden", "output"):
        init, mult, lr_e = want[role]
        row = rules[f"{role} weights"]
        if role == "output" and zero:
            assert row["init_exponent"] is None and row["init_factor_at_widest"] == 0.0
        else:
            assert row["init_exponent"] == init and row["init_factor_at_widest"] == 4.0**init
        assert row["multiplier_exponent"] == mult and row["multiplier_at_widest"] == 4.0**mult
        assert row["lr_exponent"] == lr_e and row["lr_at_widest"] == pytest.approx(lr * 4.0**lr_e, rel=1e-15)
    vec = rules["biases and norm gains"]
    assert vec["lr_exponent"] == want["vec"] and vec["lr_at_widest"] == pytest.approx(lr * 4.0 ** want["vec"])
    assert rules["output bias"]["lr_exponent"] == 0 and rules["output bias"]["lr_at_widest"] == lr
    assert len(data["rules"]) == 5


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", 0)


def model_at(digits, width: int = 64, **flags):
    """The model at `width` (base 16: m = 4) with its optimiser and its multipliers."""
    spec = coord_check_spec({"widths": f"16,{width}", "readout": "drawn", **flags})
    return cc._model(spec, digits, width, 0, torch.device("cpu"), torch.float32)


def lrs(opt, model: torch.nn.Module) -> dict[str, float]:
    by_id = {id(g["params"][0]): g["lr"] for g in opt.param_groups}
    assert all(len(g["params"]) == 1 for g in opt.param_groups)
    return {name: by_id[id(p)] for name, p in model.named_parameters()}


@pytest.mark.parametrize("param,optimizer", sorted(TABLE))
def test_the_optimiser_gets_the_tables_learning_rates(digits, param, optimizer):
    model, opt, hooks = model_at(digits, param=param, optimizer=optimizer)
    hooks.remove()
    lr = {"sgd": 0.1, "adam": 0.003}[optimizer]
    want = TABLE[param, optimizer]
    got = lrs(opt, model)
    assert set(got) == {f"fc{i}.{w}" for i in range(1, 5) for w in ("weight", "bias")}
    for name, role in {"fc1": "input", "fc2": "hidden", "fc3": "hidden", "fc4": "output"}.items():
        assert got[f"{name}.weight"] == pytest.approx(lr * 4.0 ** want[role][2], rel=1e-15), name
        bias = 0 if role == "output" else want["vec"]  # the output's bias: fan-out fixed
        assert got[f"{name}.bias"] == pytest.approx(lr * 4.0**bias, rel=1e-15), name
    assert type(opt).__name__ == {"sgd": "SGD", "adam": "Adam"}[optimizer]


def test_a_resmlps_norm_gains_and_gates_get_their_rates(digits):
    model, opt, hooks = model_at(
        digits, arch="resmlp", norm="layer", residual_init="skipinit", param="mup", optimizer="sgd"
    )
    hooks.remove()
    got = lrs(opt, model)
    assert got["stem.weight"] == pytest.approx(0.4) and got["head.weight"] == pytest.approx(0.025)
    assert got["head.bias"] == pytest.approx(0.1)
    for k in range(1, 5):
        branch = f"block{k}.branch"
        assert got[f"{branch}.fc1.weight"] == got[f"{branch}.fc2.weight"] == pytest.approx(0.1)
        for vec in ("norm.weight", "norm.bias", "fc1.bias", "fc2.bias"):
            assert got[f"{branch}.{vec}"] == pytest.approx(0.4), vec
        assert got[f"{branch}.skip.gate"] == pytest.approx(0.1)  # a scalar: nothing scales


def test_init_exponents_rescale_the_same_draw(digits):
    sp, *_ = model_at(digits, param="sp")
    ntk, *_ = model_at(digits, param="ntk")
    mup, *_ = model_at(digits, param="mup")
    zero, *_ = model_at(digits, param="mup", readout="auto")
    w = {name: dict(m.named_parameters()) for name, m in (("sp", sp), ("ntk", ntk), ("mup", mup))}
    for name in ("fc1.weight", "fc2.weight", "fc3.weight"):
        assert torch.equal(w["mup"][name], w["sp"][name])
    assert torch.equal(w["mup"]["fc4.weight"], w["sp"]["fc4.weight"] * 0.5)  # m^-1/2, exact at m = 4
    assert torch.equal(w["ntk"]["fc1.weight"], w["sp"]["fc1.weight"])  # fan-in is the data's
    for name in ("fc2.weight", "fc3.weight", "fc4.weight"):
        assert torch.equal(w["ntk"][name], w["sp"][name] * 2)  # m^1/2
    assert not zero.fc4.weight.any()


def test_ntk_multipliers_give_sps_forward_and_scale_its_gradient(digits):
    """NTK: W = m^-1/2 w with w drawn m^1/2 larger, so the forward is SP's while
    dL/dw = m^-1/2 dL/dW: each width-fed weight learns m^1/2 times slower."""
    train = digits.train.to(torch.device("cpu"), torch.float32)
    x, y = train.x[:64], train.y[:64]
    loss = cc._loss(digits)
    sp, _, sp_hooks = model_at(digits, param="sp")
    ntk, _, ntk_hooks = model_at(digits, param="ntk")
    with sp_hooks, ntk_hooks:
        assert not sp_hooks._handles and len(ntk_hooks._handles) == 3  # fc2, fc3, fc4
        torch.testing.assert_close(ntk(x), sp(x), rtol=1e-6, atol=0)
        loss(sp(x), y).backward()
        loss(ntk(x), y).backward()
    for name in ("fc2", "fc3", "fc4"):
        torch.testing.assert_close(
            getattr(ntk, name).weight.grad, 0.5 * getattr(sp, name).weight.grad, rtol=1e-5, atol=1e-9
        )
        torch.testing.assert_close(getattr(ntk, name).bias.grad, getattr(sp, name).bias.grad)
    torch.testing.assert_close(ntk.fc1.weight.grad, sp.fc1.weight.grad)
    # without its multipliers NTK's larger draw shows: three relu layers at 2x, zero biases
    with torch.no_grad():
        torch.testing.assert_close(ntk(x), 8 * sp(x), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# --readout drawn


def test_a_drawn_mup_readout_shrinks_like_width_to_the_minus_half(runs):
    """mup draws the output layer m^-1/2 times SP's draw, the rest alike: at
    step 0 its size is SP's times (width/64)^-1/2 and every seed's slope is
    SP's minus 1/2; SP's is flat, so mup's is about -1/2."""
    sp = runs("mlp", "sp", "adam").layers[-1].steps[0]
    res = check(param="mup", readout="drawn", steps=1)
    mup = res.layers[-1].steps[0]
    for mine, theirs in zip(mup.size_by_seed, sp.size_by_seed, strict=True):
        want = [v * (w / 64) ** -0.5 for v, w in zip(theirs, WIDTHS, strict=True)]
        assert mine == pytest.approx(want, rel=1e-6)
    for mine, theirs in zip(mup.size_slope.per_seed, sp.size_slope.per_seed, strict=True):
        assert mine == pytest.approx(theirs - 0.5, abs=1e-6)
    assert beyond(sp.size_slope, TOL) == 0 and sp.size_slope.ci[0] < 0 < sp.size_slope.ci[1]
    assert -0.65 < mup.size_slope.slope < -0.35 and mup.size_slope.ci[1] < 0
    assert beyond(mup.size_slope, TOL) == -1 and res.layers[-1].verdict == "vanishes"
    assert "vanishes" in res.verdicts


# ---------------------------------------------------------------------------
# statistics

T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 10: 2.228, 30: 2.042}


@pytest.mark.parametrize("df,t", sorted(T_TABLE.items()))
def test_t_quantile_matches_the_table(df, t):
    assert t_quantile(0.95, df) == pytest.approx(t, abs=1e-3)
    assert t_cdf_two_sided(t_quantile(0.95, df), df) == pytest.approx(0.95, abs=1e-12)


def test_t_cdf_is_exact_symmetric_and_monotone():
    for t in (0.1, 0.7, 1.0, 3.0, 40.0):
        assert t_cdf_two_sided(t, 1) == pytest.approx(2 / math.pi * math.atan(t), rel=1e-14)  # Cauchy
        assert t_cdf_two_sided(t, 2) == pytest.approx(t / math.sqrt(2 + t * t), rel=1e-14)
    assert t_quantile(0.95, 10_000) == pytest.approx(1.95996, abs=1e-3)  # the normal's
    grid = [k / 8 for k in range(0, 120)]
    for df in (1, 2, 3, 7, 8, 50):
        values = [t_cdf_two_sided(t, df) for t in grid]
        pairs = list(zip(values, values[1:], strict=False))
        assert values[0] == 0.0 and all(a < b for a, b in pairs if b < 1 - 1e-12)
        assert all(a <= b + 1e-15 for a, b in pairs)  # at 1, up to rounding
        assert all(t_cdf_two_sided(-t, df) == v for t, v in zip(grid, values, strict=True))
        assert 1 - 1e-5 < t_cdf_two_sided(1e6, df) <= 1.0


def test_loglog_slope_recovers_a_power_law():
    widths = [64, 128, 256, 512, 1024]
    for p in (-0.5, 0.0, 0.5, 1.0, 2.7):
        assert loglog_slope(widths, [3.7 * w**p for w in widths]) == pytest.approx(p, abs=1e-12)
    assert loglog_slope([16, 64], [1.0, 2.0]) == pytest.approx(0.5, abs=1e-15)
    for bad in ([1.0, 0.0], [1.0, math.inf], [math.nan, 1.0], [-1.0, 1.0]):
        assert loglog_slope([16, 64], bad) is None


def test_mean_ci():
    assert mean_ci([0.3]) == (0.3, None, None)
    mean, lo, hi = mean_ci([0.0, 2.0])  # sd sqrt(2), n = 2: half-width t(1) exactly
    assert mean == 1.0 and (lo, hi) == pytest.approx((1 - 12.7062, 1 + 12.7062), abs=1e-3)
    assert mean_ci([0.5] * 4) == (0.5, 0.5, 0.5)


# ---------------------------------------------------------------------------
# the verdict rule


def test_beyond_counts_a_slope_only_when_its_whole_interval_is_beyond_tol():
    assert beyond(Slope(0.5, (0.2, 0.8), [0.4, 0.5, 0.6]), TOL) == 1
    assert beyond(Slope(-0.5, (-0.8, -0.2), [-0.4, -0.5, -0.6]), TOL) == -1
    assert beyond(Slope(0.5, (-0.1, 1.1), [0.0, 0.5, 1.0]), TOL) == 0  # within the seeds' noise
    assert beyond(Slope(0.5, (0.1, 0.9), [0.2, 0.5, 0.8]), TOL) == 0  # an end at tol: not beyond it
    assert beyond(Slope(0.15, (0.05, 0.25), [0.1, 0.15, 0.2]), TOL) == 0  # clear of 0, not of tol
    assert beyond(Slope(0.05, (0.04, 0.06), [0.05] * 3), TOL) == 0  # within tol
    assert beyond(Slope(0.11, (0.105, 0.115), [0.11] * 3), TOL) == 1
    assert beyond(Slope(0.5, None, [0.5]), TOL) == 1  # one seed: the point estimate
    assert beyond(Slope(-0.11, None, [-0.11]), TOL) == -1
    assert beyond(Slope(0.1, None, [0.1]), TOL) == 0  # at tol: within
    assert beyond(Slope(None, None, [None], "nonfinite"), TOL) == 1  # overflow is blowing up
    assert beyond(Slope(None, None, [None, 2.0], "nonfinite"), TOL) == 1
    assert beyond(Slope(None, None, [None, None], "zero"), TOL) == 0
    assert beyond(Slope(None, None, [None, 0.3], "zero at some widths"), TOL) == 0


def test_steep_but_scattered_seeds_count_and_mup_like_noise_does_not():
    """The interval is a 90% t-interval, each end a one-sided 95% bound.
    Three seeds at +8.7, +4.5, +3.2 (a diverging run) clearly grow: mean 5.47,
    se 1.660, lower end 5.467 - 2.920 * 1.660 = 0.62 > tol, so they count, where a
    95% interval (t = 4.303) would reach below 0.  Three seeds of muP's output
    noise (sd ~0.13 about -0.05) stay within: the interval spans zero."""
    widths = [64, 128, 256, 512, 1024]
    steep = cc._slopes(widths, [[[w**p for w in widths] for p in (8.7, 4.5, 3.2)]])[0]
    assert steep.ci[0] == pytest.approx(5.4667 - 2.91999 * 1.6597, abs=1e-3)
    assert beyond(steep, TOL) == 1
    noisy = cc._slopes(widths, [[[w**p for w in widths] for p in (-0.21, -0.02, 0.05)]])[0]
    assert beyond(noisy, TOL) == 0


def test_pooling_over_steps_lets_two_seeds_judge_a_diverging_layer():
    """Two seeds give a t-interval on 1 degree of freedom (t = 6.31 at 90%),
    which no slope can clear; pooling the seeds' spread over a layer's steps
    gives (2 - 1) x steps degrees of freedom.  A layer diverging over three
    steps (seed slopes +1/+1.2, +10/+12, +46/+25: pooled s = 8.61 on 3 df,
    t = 2.353, half-width 14.3) counts at its last step (35.5 - 14.3 > tol),
    while a flat layer (+-0.05 per seed) stays within tol."""
    widths = [8, 16]

    def table(rows):
        return [[[w**p for w in widths] for p in seeds] for seeds in rows]

    diverging = cc._slopes(widths, table([(1.0, 1.2), (10.0, 12.0), (46.0, 25.0)]))
    assert [beyond(s, TOL) for s in diverging] == [0, 0, 1]
    assert diverging[2].ci[0] == pytest.approx(35.5 - 2.3534 * math.sqrt(222.52 / 3 / 2), abs=1e-3)
    alone = cc._slopes(widths, table([(46.0, 25.0)]))[0]  # that step on its own
    assert beyond(alone, TOL) == 0 and alone.ci[0] < 0
    flat = cc._slopes(widths, table([(0.05, -0.05), (0.04, -0.03), (-0.05, 0.02)]))
    assert all(beyond(s, TOL) == 0 for s in flat)


def test_pooled_intervals_match_the_textbook():
    """Two groups (1, 2, 3) and (10, 14): pooled variance (2 + 8) / (2 + 1) = 10/3
    on 3 degrees of freedom; t(0.95, 3) = 3.1824."""
    (m1, lo1, hi1), (m2, lo2, hi2) = pooled_intervals([[1.0, 2.0, 3.0], [10.0, 14.0]], 0.95)
    s = math.sqrt(10 / 3)
    assert (m1, m2) == (2.0, 12.0)
    assert hi1 - m1 == pytest.approx(3.18245 * s / math.sqrt(3), abs=1e-4)
    assert m2 - lo2 == pytest.approx(3.18245 * s / math.sqrt(2), abs=1e-4)
    assert pooled_intervals([[1.0], [2.0]]) == [(1.0, None, None), (2.0, None, None)]


def _step(k: int, slope: float | None, reason: str | None = None) -> CoordStep:
    sl = Slope(slope, None, [slope], reason)
    return CoordStep(k, [1.0, 1.0], [0.0, 0.0], [[1.0, 1.0]], [[0.0, 0.0]], sl, sl)


def test_a_layer_that_both_shrinks_and_grows_reports_both():
    """One layer whose size shrinks with width at step 0 and grows later: its
    own verdict names the growth, and the run's verdicts hold both, so
    --fail-on vanishes still trips."""
    steps = [_step(0, -0.4), _step(1, 0.02), _step(2, 0.6)]
    assert cc.signs(steps, TOL) == {1, -1}
    assert cc._verdict(steps, TOL) == "blows-up"


def test_slope_reasons():
    widths = [16, 32, 64]
    assert cc._slopes(widths, [[[0.0] * 3, [0.0] * 3]])[0] == Slope(None, None, [None, None], "zero")
    assert cc._slopes(widths, [[[1.0, 0.0, 2.0]]])[0].reason == "zero at some widths"
    assert cc._slopes(widths, [[[1.0, math.inf, 2.0], [1.0, 1.0, 1.0]]])[0].reason == "nonfinite"
    assert cc._slopes(widths, [[[1.0, 2.0, math.nan]]])[0].reason == "nonfinite"
    one = cc._slopes(widths, [[[w**0.5 for w in widths]]])[0]
    assert one.slope == pytest.approx(0.5, abs=1e-12) and one.ci is None and one.reason is None
    two = cc._slopes(widths, [[[w**0.4 for w in widths], [w**0.6 for w in widths]]])[0]
    assert two.slope == pytest.approx(0.5) and two.ci == pytest.approx(  # 90%: t(1) = 6.3138
        (0.5 - 6.3138 * 0.1, 0.5 + 6.3138 * 0.1), abs=1e-3
    )


# ---------------------------------------------------------------------------
# bad input: one line naming the flag, nothing run


def one_line(r, *words: str) -> None:
    lines = r.err.strip().splitlines()
    assert r.code == 2 and r.out == "", (r.code, r.err)
    assert len(lines) == 1 and "Traceback" not in r.err, r.err
    assert all(w in lines[0] for w in words), lines[0]


BAD = [
    (["--widths", "64"], "--widths", "two"),
    (["--widths", "64,64"], "--widths", "two"),
    (["--widths", "0,64"], "--widths", "got 0"),
    (["--widths", "abc"], "--widths", "'abc'"),
    (["--widths", "64.5,128"], "--widths", "64.5"),
    (["--widths", "65537,64"], "--widths", "65537"),
    (["--init", "lsuv"], "--init", "lsuv"),
    (["--layers", "1"], "--layers", "at least 2"),
    (["--param", "foo"], "--param", "foo"),
    (["--optimizer", "rmsprop"], "--optimizer", "rmsprop"),
    (["--slope-tol", "0"], "--slope-tol", "got 0"),
    (["--lr", "0"], "--lr", "got 0"),
    (["--lr", "-1"], "--lr", "got -1"),
    (["--readout", "x"], "--readout", "'x'"),
    (["--steps", "0"], "--steps", "got 0"),
    (["--seeds", "0"], "--seeds", "got 0"),
    (["--base-width", "0"], "--base-width", "got 0"),
    (["--dataset", "mnist"], "--dataset", "mnist"),
    (["--widths", "65536,32768", "--layers", "1000"], "--widths", "needs about"),
]


@pytest.fixture
def no_work(monkeypatch):
    def refuse(*_args):
        raise AssertionError("a refused run must do no work")

    monkeypatch.setattr(cc, "run_coord_check", refuse)


@pytest.mark.parametrize("args,flag,word", BAD, ids=[" ".join(a) for a, _, _ in BAD])
def test_bad_input_is_one_line_naming_the_flag(cli, no_work, args, flag, word):
    one_line(cli("coord-check", *args), flag, word)


def test_a_run_beyond_the_memory_limit_is_refused_before_work(cli, no_work, monkeypatch):
    monkeypatch.setenv("NNINIT_MEMORY_LIMIT", "1M")
    one_line(cli("coord-check"), "--widths", "1024-wide", "NNINIT_MEMORY_LIMIT")
    monkeypatch.setenv("NNINIT_MEMORY_LIMIT", "1G")
    with pytest.raises(AssertionError, match="no work"):  # within it: the run goes ahead
        cli("coord-check", "--widths", "8,16", "--steps", "1", "--seeds", "1")


# ---------------------------------------------------------------------------
# a run that overflows


def test_an_overflowing_run_is_strict_json_and_blows_up(cli):
    r = cli(
        "coord-check", "--optimizer", "sgd", "--lr", "1000", "--widths", "16,64", "--seeds", "1",
        "--steps", "3", "--seed", "4", "--json",
    )  # fmt: skip  (a seed whose two widths both overflow at step 3, finite before)
    assert r.code == 0, r.err
    assert "NaN" not in r.out and "Infinity" not in r.out

    def refuse(token: str):
        raise AssertionError(f"non-strict JSON token {token}")

    data = json.loads(r.out, parse_constant=refuse)
    assert data["verdict"] == "blows-up"
    out = data["layers"][-1]
    last = out["steps"][3]
    assert last["size"] == [None, None] and last["size_slope"]["slope"] is None
    assert last["size_slope"]["reason"] == "nonfinite" and out["verdict"] == "blows-up"
    assert data["loss"][3] == [None, None] and all(math.isfinite(v) for v in data["loss"][0])
    paths = {v["path"] for v in data["nonfinite_values"]}
    assert ".layers[3].steps[3].size[0]" in paths and ".loss[3][0]" in paths
    # before it overflowed every step was measured
    assert all(v is not None and math.isfinite(v) for s in out["steps"][:3] for v in s["size"])
    text = cli(
        "coord-check",
        "--optimizer",
        "sgd",
        "--lr",
        "1000",
        "--widths",
        "16,64",
        "--seeds",
        "1",
        "--steps",
        "3",
        "--seed",
        "4",
    )
    assert "fc4 overflows at step 3" in text.out


# ---------------------------------------------------------------------------
# initialisers the rules cannot rescale; figures byte for byte


@pytest.mark.parametrize(
    "init,word",
    [
        (["--init", "normal"], "hidden layer: fan_in x Var(w) = 8 at width 8, 16 at width 16"),
        (["--init", "xavier-normal"], "input layer"),  # 2/(64 + width): shrinks with width
        (["--init", "kaiming-normal", "--fan-mode", "fan_out"], "--fan-mode fan_in"),
        (["--init", "eye"], "no variance"),
        (["--init", "orthogonal", "--widths", "64,128"], "input layer"),  # semi-orthogonal 64 -> width
    ],
)
@pytest.mark.parametrize("param", ["mup", "ntk"])
def test_an_init_whose_variance_is_not_c_over_fan_in_is_refused_under_ntk_and_mup(
    cli, no_work, init, word, param
):
    """The rules are factors on a draw of variance c / fan_in, c the same at
    every width: fan_in x Var(w) must not change with width in any role."""
    args = ["--widths", "8,16", *init] if "--widths" not in init else init
    one_line(cli("coord-check", "--param", param, *args), "--init", word)


def test_the_same_init_runs_as_it_is_under_sp(cli):
    r = cli("coord-check", "--widths", "8,16", "--seeds", "1", "--steps", "1", "--init", "normal", "--json")
    assert r.code == 0, r.err
    # normal's fixed std makes the hidden sizes grow as sqrt(width) from the start
    hidden = json.loads(r.out)["layers"][1]
    assert hidden["steps"][0]["size_slope"]["slope"] > 0.3


@pytest.mark.parametrize("suffix", ["svg", "pdf", "png"])
def test_the_same_run_draws_the_same_figure_bytes(cli, tmp_path, suffix):
    """No creation dates, no random SVG ids: a figure is as reproducible as the JSON."""
    paths = [tmp_path / f"a.{suffix}", tmp_path / f"b.{suffix}"]
    for path in paths:
        r = cli("coord-check", "--widths", "8,16", "--seeds", "1", "--steps", "1", "--plot", str(path))
        assert r.code == 0, r.err
    assert paths[0].read_bytes() == paths[1].read_bytes()
