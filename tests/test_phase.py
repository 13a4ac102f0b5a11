"""`nninit phase`: the critical line, the depth scales measured at finite
width, strict JSON, no torch on the theory path, and bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from nninit_cli import meanfield
from nninit_cli.experiments.phase import noise_floor, one_minus_cos, run_phase, theory
from nninit_cli.specs import phase_spec

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------------------
# The critical line against an independent computation


def _independent_critical(sigma_b2: float) -> float:
    """sigma_w2 where chi_1 = 1 for tanh, computed another way than meanfield:
    Gauss-Hermite quadrature (200 nodes; tanh is entire, so it converges
    spectrally) instead of a trapezoid, q* by plain fixed-point iteration
    instead of a root of the q-map, and bisection on sigma_w2 instead of on q."""
    z, w = np.polynomial.hermite_e.hermegauss(200)
    w = w / w.sum()

    def chi1(sw2: float) -> float:
        q = 1.0
        for _ in range(100_000):
            nxt = sw2 * float(w @ np.tanh(math.sqrt(q) * z) ** 2) + sigma_b2
            if abs(nxt - q) < 1e-15:
                break
            q = nxt
        return sw2 * float(w @ (1 - np.tanh(math.sqrt(q) * z) ** 2) ** 2)

    lo, hi = 0.5, 10.0  # chi_1 grows with sigma_w2: below 1 at lo, above at hi
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if chi1(mid) < 1 else (lo, mid)
    return 0.5 * (lo + hi)


def test_tanh_critical_sigma_w2_at_sigma_b2_005_is_1761(cli):
    data = json.loads(cli("phase", "--sigma-b2", "0.05", "--json").out)
    (point,) = data["critical"]
    assert round(point["sigma_w2"], 3) == 1.761
    assert point["sigma_w2"] == pytest.approx(_independent_critical(0.05), abs=1e-4)


def test_critical_line_matches_an_independent_quadrature():
    """Schoenholz et al.'s critical line for tanh over sigma_b2 in (0, 2]
    (sigma_b2 = 0 is 1 exactly: q* = 0, chi_1 = sigma_w2 tanh'(0)^2)."""
    sb2 = (0.0, 0.01, 0.1, 0.3, 0.7, 1.2, 2.0)
    _, critical = theory(phase_spec({"sigma_b2": ",".join(map(str, sb2)), "sigma_w2": "1"}))
    got = {p["sigma_b2"]: p["sigma_w2"] for p in critical}
    assert got[0.0] == pytest.approx(1.0, abs=1e-6)
    for b in sb2[1:]:
        assert got[b] == pytest.approx(_independent_critical(b), abs=1e-4), b


def test_the_independent_check_can_fail():
    """The reference is sharp enough to tell the tanh line from a nearby one."""
    assert abs(_independent_critical(0.05) - 1.7610) < 1e-4
    assert abs(_independent_critical(0.06) - 1.7610) > 1e-3


# ---------------------------------------------------------------------------
# JSON: strict, every cell, reasons for every null


def test_json_has_every_cell_and_a_reason_for_every_null(cli):
    data = json.loads(
        cli("phase", "--act", "relu", "--sigma-w2", "1,2,3", "--sigma-b2", "0,0.1", "--json").out
    )
    assert data["nonfinite_values"] == []
    cells = {(c["sigma_w2"], c["sigma_b2"]): c for c in data["cells"]}
    assert len(cells) == 6
    assert set(data["cells"][0]) >= {"sigma_w2", "sigma_b2", "q_star", "chi1", "c_star", "xi_q", "xi_c"}
    assert {"phase", "measured_xi_c"} <= set(data["cells"][0])
    # ReLU: q' = sigma_w2 q / 2 + sigma_b2 grows without limit from sigma_w2 = 2 with a bias
    for key in ((2.0, 0.1), (3.0, 0.1), (3.0, 0.0)):
        c = cells[key]
        assert c["phase"] == "unbounded" and c["q_star"] is None and "infinite" in c["q_star_reason"]
    # at sigma_w2 = 2 without bias every q is fixed and chi_1 = 1: critical, infinite depth scales
    c = cells[(2.0, 0.0)]
    assert c["phase"] == "critical" and c["xi_c"] is None and c["xi_c_reason"].startswith("infinite")
    marginal = c["q_star_reason"]
    assert c["q_star"] is None and marginal.startswith("every q is a fixed point")
    # below: ordered, q* = sigma_b2 / (1 - sigma_w2 / 2), chi_1 = sigma_w2 / 2
    c = cells[(1.0, 0.1)]
    assert c["phase"] == "ordered" and c["q_star"] == pytest.approx(0.2) and c["chi1"] == pytest.approx(0.5)
    assert c["xi_c"] == pytest.approx(1 / math.log(2), rel=1e-6) and c["xi_c_reason"] is None
    assert all(c["measured_xi_c"] is None and "--measure" in c["measured_xi_c_reason"] for c in data["cells"])
    assert data["critical"] == [
        {"sigma_b2": 0.0, "sigma_w2": pytest.approx(2.0), "q_star": None, "reason": marginal},
        {"sigma_b2": 0.1, "sigma_w2": None, "q_star": None, "reason": data["critical"][1]["reason"]},
    ]
    assert "no finite q*" in data["critical"][1]["reason"]


# ---------------------------------------------------------------------------
# The theory path never imports torch


def test_theory_path_never_imports_torch(tmp_path):
    p = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nninit_cli", "phase", "--sigma-w2", "1:4:40",
         "--sigma-b2", "0:2:40", "--json", "--csv", str(tmp_path / "c.csv")],
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    assert len(json.loads(p.stdout)["cells"]) == 1600
    modules = {
        line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")
    }
    assert "numpy" in modules  # the check reads the imports at all
    assert not {m for m in modules if m == "torch" or m.startswith("torch.")}


# ---------------------------------------------------------------------------
# --measure


def test_measured_xi_c_at_width_1024_is_within_25_percent_in_the_ordered_phase():
    """tanh, sigma_b2 = 0.05: theory xi_c 5.9 and 10.7 at sigma_w2 1.2 and 1.4."""
    spec = phase_spec({"sigma_w2": "1.2,1.4", "measure": True, "width": 1024, "layers": 30, "seeds": 2})
    res = run_phase(spec)
    for cell in res.cells:
        assert cell.phase == "ordered"
        assert cell.measured_xi_c is not None, cell.measured_xi_c_reason
        assert cell.fit_last_layer - cell.fit_first_layer >= 10
        assert abs(cell.measured_xi_c / cell.xi_c - 1) < 0.25, (cell.sigma_w2, cell.measured_xi_c, cell.xi_c)


def test_measured_xi_c_across_the_ordered_phase():
    spec = phase_spec({"sigma_w2": "0.6,0.8,1,1.2,1.4,1.6", "measure": True})
    for cell in run_phase(spec).cells:
        assert abs(cell.measured_xi_c / cell.xi_c - 1) < 0.25, (cell.sigma_w2, cell.measured_xi_c, cell.xi_c)


def test_the_measurement_runs_the_builders_stack():
    """The grid's shared draws are the weights and biases the model builder
    gives an MLP stack with --init kaiming-normal --gain sqrt(sigma_w2)
    --bias 0 --bias-std sqrt(sigma_b2): the same correlations layer by layer."""
    import torch

    from nninit_cli.model.builder import build, linears, materialise
    from nninit_cli.specs import NetSpec

    sw2, sb2, width, layers, seed = 1.4, 0.05, 64, 6, 3
    spec = phase_spec({"sigma_w2": str(sw2), "width": width, "layers": layers, "seed": seed, "seeds": 1})
    (cell,), _ = theory(spec)
    mine = one_minus_cos(spec, [cell], seed)[0]
    net = NetSpec(act="tanh", init="kaiming-normal", gain=math.sqrt(sw2), bias=0.0, bias_std=math.sqrt(sb2),
                  layers=layers, width=width, seed=seed)  # fmt: skip
    model = materialise(build(net), net, dtype=torch.float64)
    seen = []
    for fc in linears(model):
        fc.register_forward_hook(lambda m, i, out: seen.append(out))
    from nninit_cli.model.torchenv import generator

    z = torch.randn(2, width, generator=generator(seed, "data")).double()
    s, c0 = math.sqrt(cell.q_star), spec.input_corr
    model(torch.tanh(torch.stack([s * z[0], s * (c0 * z[0] + math.sqrt(1 - c0 * c0) * z[1])])))
    theirs = [1 - torch.nn.functional.cosine_similarity(h[0], h[1], dim=0).item() for h in seen]
    assert mine == pytest.approx(theirs, rel=1e-4)


def test_the_noise_floor_is_the_seeds_spread_in_the_chaotic_phase():
    """Deep in a chaotic cell c_l only fluctuates about the c-map's path: its
    spread over seeds is the floor's stationary level (the floor with one
    seed), to the factor the linearised derivation allows, and its mean is
    the path's to within the floor."""
    spec = phase_spec({"sigma_w2": "3", "width": 256, "layers": 90, "seeds": 1})
    (cell,), _ = theory(spec)
    runs = np.array([1 - one_minus_cos(spec, [cell], seed)[0] for seed in range(24)])
    spread = runs[:, 60:].std(axis=0).mean()
    cs, slopes = meanfield.correlation_trace(meanfield.act_fn("tanh"), cell, spec.input_corr, spec.layers)
    stationary = math.sqrt(sum((1 - cell.c_star**2) ** 2 / 256 * cell.chi_c ** (2 * k) for k in range(200)))
    floor = noise_floor(cs, slopes, 256, 1)[-1]
    assert floor == pytest.approx(stationary, rel=0.15)
    assert 0.6 < spread / stationary < 1.6, (spread, stationary)
    # 24 seeds x 30 layers, about 3 independent stretches of xi_c = 9 layers each
    assert abs(runs[:, 60:].mean() - np.mean(cs[60:])) < 3 * floor / math.sqrt(24 * 3), runs[:, 60:].mean()


def test_cells_that_cannot_be_measured_say_why(cli):
    r = cli("phase", "--sigma-w2", "1.761,3", "--sigma-b2", "0.05", "--measure", "--width", "64",
            "--layers", "10", "--seeds", "1", "--json")  # fmt: skip
    cells = {c["sigma_w2"]: c for c in r.json()["cells"]}
    assert cells[1.761]["phase"] == "critical" and "power law" in cells[1.761]["measured_xi_c_reason"]
    assert cells[3.0]["measured_xi_c"] is None and "too little decay" in cells[3.0]["measured_xi_c_reason"]
    assert len(cells[3.0]["measured_c"]) == 10 and len(cells[3.0]["noise_floor"]) == 10


# ---------------------------------------------------------------------------
# The trainability probe


def test_training_probe_reports_accuracy_per_depth_and_sigma_w2(cli):
    r = cli("phase", "--sigma-w2", "0.5,2", "--train-depths", "3,6", "--train-epochs", "1", "--seeds", "2",
            "--train-width", "16", "--json")  # fmt: skip
    assert r.code == 0, r.err
    data = r.json()
    rows = {(t["depth"], t["sigma_w2"]): t for t in data["training"]}
    assert set(rows) == {(3, 0.5), (3, 2.0), (6, 0.5), (6, 2.0)}
    xi = {c["sigma_w2"]: c["xi_c"] for c in data["cells"]}
    for (_, sw2), t in rows.items():
        assert len(t["accuracy_per_seed"]) == 2 and t["accuracy"] == pytest.approx(
            np.mean(t["accuracy_per_seed"])
        )
        assert t["six_xi_c"] == pytest.approx(6 * xi[sw2])


# ---------------------------------------------------------------------------
# Tables and bad input


def test_tables_read_at_80_columns(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    small = cli("phase").out
    assert "critical sigma_w2 = 1.7610" in small and "ordered" in small and "chaotic" in small
    big = cli("phase", "--sigma-w2", "1:4:40", "--sigma-b2", "0:2:40").out
    assert "phase map" in big and "1600 cells" in big and len(big.splitlines()) < 90
    for text in (small, big):
        assert max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--sigma-w2", "4:1:5"], "--sigma-w2"),
        (["--sigma-w2", "1:4:0"], "--sigma-w2"),
        (["--sigma-w2", "0,1"], "--sigma-w2"),
        (["--sigma-b2", "-0.1"], "--sigma-b2"),
        (["--sigma-b2", "nan"], "--sigma-b2"),
        (["--act", "swish2"], "--act"),
        (["--sigma-w2", "1:4:10000", "--sigma-b2", "0:1:1000"], "--sigma-w2"),
        (["--train-depths", "1"], "--train-depths"),
        (["--input-corr", "1"], "--input-corr"),
    ],
)
def test_bad_input_is_one_line_naming_the_flag(cli, args, flag):
    r = cli("phase", *args)
    assert r.code == 2 and r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and "Traceback" not in r.err, r.err
