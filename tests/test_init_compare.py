"""init-compare must rank inits the way the physics says (issue: init-compare)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from nninit_cli.experiments.init_compare import run_cell, run_cells, run_init_compare
from nninit_cli.experiments.std_trace import run_std_trace
from nninit_cli.specs import CellSpec, init_compare_spec, std_trace_spec


def compare(**flags):
    return run_init_compare(init_compare_spec(flags))


@pytest.fixture(scope="module")
def linear_8_seeds():
    return compare(seeds=8, inits="orthogonal,xavier-normal,normal,zeros")


def test_linear_orthogonal_and_xavier_keep_the_std(linear_8_seeds):
    res = linear_8_seeds
    assert res.config["seeds"] == list(range(8))
    ortho, xav = res.cell("orthogonal", "linear"), res.cell("xavier-normal", "linear")
    lo, hi = ortho.std_ratio.mean - ortho.std_ratio.std, ortho.std_ratio.mean + ortho.std_ratio.std
    assert lo >= 0.95 and hi <= 1.05
    lo, hi = xav.std_ratio.mean - xav.std_ratio.std, xav.std_ratio.mean + xav.std_ratio.std
    assert lo >= 0.6 and hi <= 1.6
    assert res.cell("normal", "linear").verdict == "nonfinite"
    assert 29 <= res.cell("normal", "linear").first_nonfinite_layer <= 35
    assert res.cell("zeros", "linear").verdict == "dead"
    assert res.cell("zeros", "linear").dead_frac.mean == 1.0
    assert ortho.rank == 1 and {res.cell(i, "linear").rank for i in ("normal", "zeros")} == {3, 4}


def test_relu_torch_gain_kaiming_beats_xavier_and_tanh_saturates_with_normal():
    res = compare(acts="relu,tanh", gain="torch", inits="kaiming-normal,xavier-uniform,normal", seeds=2)
    kaiming, xavier = res.cell("kaiming-normal", "relu"), res.cell("xavier-uniform", "relu")
    assert abs(math.log(kaiming.std_ratio.mean)) < abs(math.log(xavier.std_ratio.mean))
    assert xavier.verdict == "vanishing" and kaiming.rank < xavier.rank
    assert res.cell("normal", "tanh").saturated_frac.mean > 0.5
    assert res.cell("normal", "tanh").verdict == "saturated"
    assert res.cell("xavier-uniform", "tanh").saturated_frac.mean < 0.5


def test_a_cell_matches_std_trace_backward_for_the_same_seed():
    cell = init_compare_spec({"inits": "kaiming", "acts": "relu", "seeds": 1, "layers": 12}).cells[0]
    got = run_cell(cell)
    trace = run_std_trace(std_trace_spec({"init": "kaiming", "act": "relu", "layers": 12, "backward": True}))
    assert got.std_per_layer == pytest.approx([r.std for r in trace.layers], rel=1e-9)
    ratio = trace.layers[0].weight_grad_norm / trace.layers[-1].weight_grad_norm
    assert got.grad_ratio.mean == pytest.approx(ratio, rel=1e-6)


def test_batched_and_plain_loop_agree():
    spec = init_compare_spec({"acts": "relu,tanh", "seeds": 2, "layers": 15, "width": 64})
    batched = run_init_compare(spec)
    plain = run_init_compare(replace(spec, batched=False))
    for a, b in zip(batched.cells, plain.cells, strict=True):
        assert (a.init, a.act, a.verdict, a.rank) == (b.init, b.act, b.verdict, b.rank)
        assert a.std_per_layer == pytest.approx(b.std_per_layer, rel=1e-6, nan_ok=True)
        assert a.grad_ratio.mean == pytest.approx(b.grad_ratio.mean, rel=1e-6, nan_ok=True)


def test_cells_are_plain_data_that_round_trip_through_json():
    spec = init_compare_spec({"inits": "lsuv,default", "acts": "tanh", "layers": 5, "width": 32, "seeds": 2})
    cells = [CellSpec.from_dict(json.loads(json.dumps(c.to_dict()))) for c in spec.cells]
    assert cells == list(spec.cells)
    results = run_cells(cells)
    again = [run_cell(c) for c in cells]  # one at a time, as a remote worker would
    for a, b in zip(results, again, strict=True):
        assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())


def test_training_probe_ranks_zero_init_last():
    res = compare(acts="sigmoid", layers=2, width=5, train_epochs=300,
                  inits="zeros,normal,xavier-uniform,kaiming-normal")  # fmt: skip
    zeros = res.cell("zeros", "sigmoid")
    assert zeros.rank == 4 and zeros.dev_accuracy.mean <= 0.6
    assert all(res.cell(i, "sigmoid").dev_accuracy.mean > zeros.dev_accuracy.mean for i in res.inits[1:])


def test_cli_json_is_strict_and_reproducible(cli):
    args = ("init-compare", "--inits", "normal,orthogonal", "--layers", "40", "--seeds", "2", "--json")
    first = cli(*args)
    assert first.code == 0 and first.out == cli(*args).out
    data = json.loads(first.out)
    cells = {c["init"]: c for c in data["cells"]}
    contract = "init act seeds final_std std_ratio first_nonfinite_layer grad_ratio dead_frac"
    contract += " saturated_frac dev_accuracy verdict rank"
    assert set(cells["orthogonal"]) >= set(contract.split())
    assert cells["normal"]["final_std"]["mean"] is None
    assert any(v["path"].startswith(".cells[0].final_std") for v in data["nonfinite_values"])


def test_cli_table_plot_and_csv(cli, tmp_path):
    png, csv_path = tmp_path / "c.png", tmp_path / "c.csv"
    r = cli("init-compare", "--acts", "relu,tanh,sigmoid", "--layers", "10", "--width", "64", "--seeds", "2",
            "--plot", str(png), "--csv", str(csv_path))  # fmt: skip
    assert r.code == 0
    assert max(len(line) for line in r.out.splitlines()) <= 80
    assert "kaiming-normal" in r.out and "best:" in r.out
    assert png.read_bytes().startswith(b"\x89PNG")
    assert len(csv_path.read_text().splitlines()) == 1 + 30


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--inits", "orthogonal,foo"], "--inits"),
        (["--acts", "relu,bar"], "--acts"),
        (["--seeds", "0"], "--seeds"),
    ],
)
def test_cli_bad_input(cli, args, flag):
    r = cli("init-compare", *args)
    assert r.code == 2 and r.out == "" and flag in r.err and len(r.err.strip().splitlines()) == 1
