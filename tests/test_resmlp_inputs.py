"""Inputs a residual MLP meets that once crashed or misled (a hostile pass)."""

from __future__ import annotations

import math

import pytest
import torch

from nninit_cli.experiments.std_trace import _row_correlation


def test_a_saturated_tanh_branch_has_a_theory_not_a_crash(cli):
    # E[f^4] - E[f^2]^2 rounded below zero for a fully saturated tanh
    inside = []
    for seed in range(10):
        r = cli(
            "std-trace", "--arch", "resmlp", "--layers", "3", "--width", "64", "--act", "tanh",
            "--seed", str(seed), "--json",
        )  # fmt: skip
        assert r.code == 0, r.err
        blocks = r.json()["blocks"]
        assert all(b["predicted_std"] is not None and math.isfinite(b["predicted_std"]) for b in blocks)
        inside += [b["predicted_band"][0] <= b["std"] <= b["predicted_band"][1] for b in blocks]
    # and it still agrees with the measurement: the 90% band holds 27 of 30 here
    assert sum(inside) >= 0.8 * len(inside), inside


def test_row_correlation_of_a_tall_batch_needs_no_batch_by_batch_matrix():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(300, 20, generator=gen) + 0.3  # correlated rows, batch > width
    x[7] = 0.0  # a zero row has no direction: it takes part in no pair
    xn = torch.nn.functional.normalize(x.double(), dim=1)
    g = xn @ xn.T
    direct = math.sqrt(g[~torch.eye(300, dtype=torch.bool)].pow(2).mean().item())
    assert _row_correlation(x) == pytest.approx(direct, rel=1e-9)


def test_a_huge_batch_is_planned_not_allocated(cli, monkeypatch):
    monkeypatch.setenv("NNINIT_MEMORY_LIMIT", "2G")
    r = cli("std-trace", "--layers", "2", "--width", "16", "--batch-size", "1000000")
    assert r.code == 0, r.err  # 16 units: the Gram matrix is 16 x 16, not a million squared


@pytest.mark.parametrize("value", ["8x", "8x+3", "x3", "8x0", "+8", "８", "8x3x2", "8.5"])
def test_hidden_refuses_what_is_not_widths(cli, value):
    r = cli("train", "--hidden", value, "--epochs", "1")
    assert r.code == 2 and "--hidden" in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_a_memory_refusal_echoes_hidden_as_typed(cli, tmp_path):
    r = cli("train", "--hidden", "65536x10000", "--out", str(tmp_path / "big"))
    assert r.code == 2 and "65536x10000 needs about" in r.err and len(r.err) < 300, r.err
    assert not (tmp_path / "big").exists()


def test_a_resmlp_knob_in_a_config_file_is_refused_naming_the_file(cli, tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('norm = "layer"\n')
    r = cli("std-trace", "--config", str(config))
    assert r.code == 2 and f"--config {config}: key 'norm'" in r.err and "--arch resmlp" in r.err, r.err
    ok = cli("std-trace", "--config", str(config), "--arch", "resmlp", "--layers", "2", "--width", "8")
    assert ok.code == 0, ok.err


def test_float64_stds_stay_finite_until_the_data_overflows(cli):
    """Values above ~1e154 overflow their own squares; the std must not."""
    r = cli(
        "std-trace", "--arch", "resmlp", "--layers", "64", "--width", "64",
        "--residual-scale", "1e6", "--dtype", "float64", "--json",
    )  # fmt: skip
    data = r.json()
    first = data["first_nonfinite_layer"]
    stds = [b["std"] for b in data["blocks"]]
    assert first is not None and max(s for s in stds[: first - 1]) > 1e200
    assert all(s is not None and math.isfinite(s) for s in stds[: first - 1])
