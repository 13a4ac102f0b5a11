"""gain, activations, init-hist, run and every preset (issue: every seed experiment)."""

from __future__ import annotations

import json
import math
import tomllib

import pytest

from nninit_cli.config import presets_dir
from nninit_cli.experiments.lessons import run_activations, run_gain, run_init_hist
from nninit_cli.specs import activations_spec, gain_spec, init_hist_spec


def test_gain_three_ways():
    rows = {r["act"]: r for r in run_gain(gain_spec({}))["acts"]}
    assert rows["tanh"]["torch_gain"] == pytest.approx(5 / 3)
    assert rows["tanh"]["empirical"]["mean"] == pytest.approx(1.59, abs=0.03)
    assert 0 < rows["tanh"]["empirical"]["se"] < 0.01
    assert rows["relu"]["fixed_point_gain"] == pytest.approx(math.sqrt(2), abs=1e-6)
    assert rows["linear"]["fixed_point_gain"] == pytest.approx(1.0, abs=1e-6)
    assert rows["selu"]["torch_gain"] == 0.75 and rows["selu"]["fixed_point_gain"] == pytest.approx(
        1.0, abs=1e-4
    )
    assert rows["gelu"]["torch_gain"] is None


def test_activation_derivatives():
    rows = {r["act"]: r for r in run_activations(activations_spec({}))["acts"]}
    assert rows["sigmoid"]["max_derivative"] == pytest.approx(0.25) and rows["sigmoid"]["argmax_x"] == 0
    assert rows["tanh"]["max_derivative"] == pytest.approx(1.0) and rows["tanh"]["argmax_x"] == 0
    assert rows["relu"]["max_derivative"] == 1.0
    assert set(rows["relu"]["dy"]) == {0.0, 1.0}
    (lo, hi), (lo2, hi2) = rows["sigmoid"]["saturated"]
    assert lo == -8.0 and -4.7 <= hi <= -4.5 and 4.5 <= lo2 <= 4.7
    assert len(rows["relu"]["x"]) == 160  # torch.arange(-8, 8, 0.1), as the seed


def test_init_hist_sample_std_matches_theory():
    rows = {r["init"]: r for r in run_init_hist(init_hist_spec({}))["inits"]}
    assert rows["normal"]["std"] == pytest.approx(1.0, rel=0.02)
    assert rows["uniform"]["std"] == pytest.approx(1 / math.sqrt(3), rel=0.02)
    assert rows["uniform"]["theory_std"] == pytest.approx(1 / math.sqrt(3))
    assert sum(rows["normal"]["histogram"]["counts"]) == 10_000
    assert len(rows["normal"]["histogram"]["counts"]) == 200


def test_cli_plots_and_bad_input(cli, tmp_path):
    for command in ("activations", "init-hist"):
        png = tmp_path / f"{command}.png"
        assert cli(command, "--plot", str(png)).code == 0
        assert png.read_bytes().startswith(b"\x89PNG")
    for args, flag in (
        (["gain", "--act", "foo"], "--act"),
        (["activations", "--min", "3", "--max", "1"], "--min"),
        (["init-hist", "--init", "lsuv"], "--init"),
        (["gain", "--samples", "1"], "--samples"),
        (["run", "no-such-preset"], "PRESET"),
    ):
        r = cli(*args)
        assert r.code == 2 and flag in r.err and len(r.err.strip().splitlines()) == 1, r.err


PRESETS = sorted(p.stem for p in presets_dir().glob("*.toml"))


def _phenomenon(name: str, data: dict) -> None:
    """What each preset must show."""
    runs = {r["act"]: r for r in data.get("runs", [])}
    checks = {
        "std-explode": lambda: 29 <= data["first_nonfinite_layer"] <= 35,
        "std-scaled-normal": lambda: data["verdict"] == "stable",
        "tanh-xavier": lambda: 0.55 <= data["final_std"] <= 0.75,
        "relu-kaiming": lambda: data["verdict"] == "stable",
        "dead-relu": lambda: runs["relu"]["verdict"] == "dead",
        "leaky-relu-fix": lambda: all(p["grad_norm"] > 0 for p in runs["lrelu"]["params"]),
        "vanishing-sigmoid-vs-relu": lambda: (
            runs["sigmoid"]["verdict"] == "vanishing"
            and runs["relu"]["params"][0]["grad_norm"] >= 100 * runs["sigmoid"]["params"][0]["grad_norm"]
        ),
        "zero-init-symmetry": lambda: (
            data["symmetric_layers"] == ["fc1"] and data["final"]["dev_metric"] <= 0.6
        ),
        "normal-init-train": lambda: data["final"]["dev_metric"] >= 0.8,
        "digits-mlp": lambda: data["final"]["dev_metric"] >= 0.9,
        "weight-decay": lambda: data["test"]["loss"] < 0.1,
        "dropout": lambda: data["best"]["dev_metric"] >= 0.9,
        "gain-tanh": lambda: abs(data["acts"][0]["empirical"]["mean"] - 1.59) < 0.03,
        "activations": lambda: {r["act"]: r["max_derivative"] for r in data["acts"]}["sigmoid"] == 0.25,
        "init-hist": lambda: abs(data["inits"][1]["std"] - 1 / math.sqrt(3)) < 0.02 / math.sqrt(3),
        "resmlp-plain": lambda: data["verdict"] == "exploding" and 0.1 < data["std_ratio"] ** 2 / 2**64 < 2,
        "resmlp-prenorm": lambda: data["verdict"] == "stable" and 45 < data["std_ratio"] ** 2 < 85,
        "resmlp-invsqrt": lambda: 2.2 < data["std_ratio"] ** 2 < math.e * 1.1,
        "resmlp-skipinit": lambda: data["final_std"] == data["input_std"],
        "resmlp-fixup": lambda: data["final_std"] == data["input_std"],
        "resmlp-digits": lambda: data["best"]["dev_metric"] >= 0.9,
        # Size slopes over seeds 0-2 (20 seeds: per-seed sd <= 0.061 for the input and hidden layers,
        # 0.07-0.13 for the output; a 3-seed mean has sd/sqrt(3)).  sp + Adam: the output's step-1 slope
        # is 0.90 over 20 seeds (sd 0.10), the Adam update summed over width (slope 1); 0.5 lies halfway
        # to muP's 0 and 6.9 sd of a 3-seed mean below 0.90.  The input layer's fan-in is the data's: its
        # slopes stay within 0.016 of 0 (sd 0.023), 0.1 being 6.3 sd of a 3-seed mean beyond.
        "coord-check-sp": lambda: (
            data["verdict"] == "blows-up"
            and next(la for la in data["layers"] if la["role"] == "output")["steps"][1]["size_slope"]["slope"]
            > 0.5
            and all(abs(s["size_slope"]["slope"]) < 0.1 for s in data["layers"][0]["steps"])
        ),
        # muP: the 20-seed mean slopes are within 0.006 of 0 for the input and hidden layers (sd <= 0.052:
        # 0.1 is 3.1 sd of a 3-seed mean beyond) and within 0.017 for the output, whose seed noise is
        # larger (sd 0.078; 0.2: 4.1 sd beyond); the output starts at exactly zero, so its step-0 slope
        # is none.
        "coord-check-mup": lambda: (
            data["verdict"] == "stable"
            and all(
                s["size_slope"]["reason"] == "zero"
                if (la["role"], s["step"]) == ("output", 0)
                else abs(s["size_slope"]["slope"]) < (0.2 if la["role"] == "output" else 0.1)
                for la in data["layers"]
                for s in la["steps"]
            )
        ),
        # Free probability: 32 Marchenko-Pastur layers spread by 32; width 256 adds L(L+1)/2n = 2.06
        # (the linear Gaussian test derives it); seed to seed the spread's sd is ~7 at this depth, so
        # the band is wide; the theory itself is exact.
        "jacobian-linear-gaussian": lambda: (
            data["verdicts"] == ["anisotropic"]
            and 20 < data["pooled"]["spread"] < 50
            and abs(data["theory"]["spread"] - 32) < 1e-9
        ),
        # tanh at chi_1 = 1 with orthogonal weights and q ~ 1e-4: theory spread 2.5e-6; measured 3.2e-6.
        "jacobian-tanh-isometry": lambda: (
            data["verdicts"] == ["isometric"]
            and data["pooled"]["max"] / data["pooled"]["min"] < 1.02
            and abs(data["pooled"]["mean_sq"] - data["theory"]["mean_sq"]) < 1e-3
        ),
        # tanh at sigma_b2 = 0.05: the critical sigma_w2 to 3 decimals (tests/test_phase.py checks it against
        # an independent quadrature); the ordered cells' xi_c fits are within 10% of theory on these seeds
        # (the test's 25% is the bound), the chaotic ones decay into the width-1024 noise floor.
        "phase-tanh": lambda: (
            round(data["critical"][0]["sigma_w2"], 3) == 1.761
            and all(
                abs(c["measured_xi_c"] / c["xi_c"] - 1) < 0.25
                for c in data["cells"]
                if c["phase"] == "ordered"
            )
            and next(c for c in data["cells"] if c["sigma_w2"] == 1.761)["phase"] == "critical"
        ),
    }
    assert name in checks, f"preset {name} has no phenomenon test"
    assert checks[name](), (name, {k: v for k, v in data.items() if k != "config"})


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_runs_and_shows_its_phenomenon(cli, tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)  # train presets write their run folder under ./runs
    command = tomllib.loads((presets_dir() / f"{name}.toml").read_text())["command"]
    r = cli("run", name, "--json")
    assert r.code in (0, 1), r.err  # some presets set --fail-on to show their verdict
    data = json.loads(r.out)
    assert data["command"] == command
    _phenomenon(name, data)
