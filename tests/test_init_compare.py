"""init-compare must rank inits the way the physics says, on paired seeds, with
ties where seed noise cannot separate them; any executor gives the same bytes."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import replace

import pytest

from nninit_cli.executors import Executor
from nninit_cli.experiments import init_compare as ic
from nninit_cli.experiments.init_compare import plan_units, run_grid, run_init_compare, run_unit
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
    assert ortho.rank == 1
    # both broken: ranked below the two healthy cells, and tied with each other
    assert [res.cell(i, "linear").rank for i in ("normal", "zeros")] == [3, 3]
    assert res.cell("zeros", "linear").tied


def test_relu_torch_gain_kaiming_beats_xavier_and_tanh_saturates_with_normal():
    res = compare(acts="relu,tanh", gain="torch", inits="kaiming-normal,xavier-uniform,normal", seeds=2)
    kaiming, xavier = res.cell("kaiming-normal", "relu"), res.cell("xavier-uniform", "relu")
    assert abs(math.log(kaiming.std_ratio.mean)) < abs(math.log(xavier.std_ratio.mean))
    assert xavier.verdict == "vanishing" and kaiming.rank < xavier.rank
    assert res.cell("normal", "tanh").saturated_frac.mean > 0.5
    assert res.cell("normal", "tanh").verdict == "saturated"
    assert res.cell("xavier-uniform", "tanh").saturated_frac.mean < 0.5


def test_a_cell_matches_std_trace_backward_for_the_same_seed():
    for init in ("kaiming", "orthogonal"):  # a scaled Gaussian, and the Gaussian's Q
        res = compare(inits=init, acts="relu", seeds=1, layers=12)
        got = res.cells[0]
        trace = run_std_trace(std_trace_spec({"init": init, "act": "relu", "layers": 12, "backward": True}))
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


def test_units_are_plain_data_whose_results_do_not_depend_on_where_they_run():
    flags = {"inits": "lsuv,default,orthogonal", "acts": "tanh,relu", "layers": 5, "width": 32, "seeds": 2}
    spec = init_compare_spec({**flags, "train_epochs": 3})
    cells = [CellSpec.from_dict(json.loads(json.dumps(c.to_dict()))) for c in spec.cells]
    assert cells == list(spec.cells)
    units = plan_units(cells)
    assert [u["kind"] for u in units] == ["probe"] * 4 + ["train"] * 12  # 2 acts x 2 seeds, then 6 cells x 2
    first = [json.dumps(run_unit(json.loads(json.dumps(u)))) for u in units]
    ic._BASES.__init__()  # a fresh worker: no bases kept from the units before
    again = [json.dumps(run_unit(u)) for u in reversed(units)][::-1]
    assert first == again


def test_the_plan_depends_on_the_grid_alone():
    spec = init_compare_spec({"acts": "linear,relu", "seeds": 3})
    units = plan_units(list(spec.cells))
    # 10 inits of 50 x 256 (13.1 MB of weights each) stack in chunks of 3 under 48 MiB
    assert [len(u["index"]) for u in units] == [3, 3, 3, 1] * 6
    assert [u["seed"] for u in units] == [s for s in (0, 1, 2) for _ in range(4)] * 2
    # a unit carries its one seed, not the grid's: planning is linear in --seeds
    assert all(c["seeds"] == [u["seed"]] for u in units for c in u["cells"])
    assert len(plan_units(list(spec.cells), batched=False)) == 20 * 3


def test_training_probe_ranks_zero_init_last():
    res = compare(acts="sigmoid", layers=2, width=5, train_epochs=300,
                  inits="zeros,normal,xavier-uniform,kaiming-normal")  # fmt: skip
    zeros = res.cell("zeros", "sigmoid")
    assert zeros.dev_accuracy.mean <= 0.6
    assert all(res.cell(i, "sigmoid").dev_accuracy.mean > zeros.dev_accuracy.mean for i in res.inits[1:])
    assert zeros.rank == max(c.rank for c in res.cells) > 1


# ---------------------------------------------------------------------------
# paired seeds and the tests between inits


def _log_ratios(**flags) -> list[list[float]]:
    run, complete = run_grid(list(init_compare_spec(flags).cells))
    assert complete
    return [[math.log(p.stds[-1] / p.input_std) for p in cell] for cell in run.probes]


@pytest.mark.parametrize("act, spread_ratio", [("relu", 1e-4), ("tanh", 0.7)])
def test_paired_seeds_shrink_the_spread_of_a_difference(act, spread_ratio):
    """normal (std 0.08) against kaiming-normal: both scale the same Gaussian,
    so on one seed their difference is what the scale does.  Under ReLU (1-
    homogeneous) the paired difference is the constant 50 log(ratio of stds);
    under tanh it still has half the spread of independent draws (8 seeds:
    0.0097 against 0.020)."""
    flags = {"acts": act, "seeds": 8, "inits": "normal,kaiming-normal", "std": 0.08}
    same = _log_ratios(**flags)
    other = _log_ratios(**flags, seed=100)  # kaiming-normal on seeds no normal cell saw
    paired = [a - b for a, b in zip(same[0], same[1], strict=True)]
    independent = [a - b for a, b in zip(same[0], other[1], strict=True)]
    assert statistics.stdev(paired) < spread_ratio * statistics.stdev(independent)


@pytest.fixture(scope="module")
def tanh_5_seeds():
    return compare(acts="tanh", seeds=5)


def test_inits_within_seed_noise_tie_and_clear_differences_do_not(tanh_5_seeds):
    res = tanh_5_seeds
    pair = next(p for p in res.pairs if {p.a, p.b} == {"xavier-uniform", "xavier-normal"})
    assert pair.better is None and pair.p_value > 0.05 and pair.test == "paired t"
    assert res.cell("xavier-uniform", "tanh").rank == res.cell("xavier-normal", "tanh").rank
    assert res.cell("xavier-normal", "tanh").tied
    # a saturating N(0, 1) stack against xavier: same tier, a clear paired difference
    clear = next(p for p in res.pairs if {p.a, p.b} == {"normal", "uniform"})
    assert clear.test == "paired t" and clear.p_value < 1e-3 and clear.better == "uniform"
    assert res.cell("uniform", "tanh").rank < res.cell("normal", "tanh").rank
    # every pair of the column is tested once
    assert len(res.pairs) == 10 * 9 // 2
    assert all(p.wins_a + p.wins_b + p.ties == 5 for p in res.pairs)


def test_rank_is_one_plus_the_cells_significantly_better(tanh_5_seeds):
    res = tanh_5_seeds
    for cell in res.cells:
        better = [
            p for p in res.pairs if p.better is not None and cell.init in (p.a, p.b) and p.better != cell.init
        ]
        assert cell.rank == 1 + len(better)


def test_the_target_is_what_theory_says_a_healthy_stack_settles_at(tanh_5_seeds):
    from nninit_cli.experiments.init_compare import settle_target
    from nninit_cli.specs import net_flags, net_spec, resolve

    net = lambda **f: net_spec(resolve("test", net_flags(layers=50), {"width": 256, **f}))  # noqa: E731
    assert settle_target(net(act="linear")).std_ratio == pytest.approx(1.0, abs=1e-6)
    # ReLU's outputs have a mean: a pre-activation of variance 2 gives relu outputs of std sqrt(1 - 1/pi)
    assert settle_target(net(act="relu")).std_ratio == pytest.approx(math.sqrt(1 - 1 / math.pi), abs=1e-3)
    assert settle_target(net(act="tanh")).std_ratio == pytest.approx(0.628, abs=2e-3)
    assert settle_target(net(act="sigmoid")).std_ratio < 0.3
    # and the healthy stacks measure close to it: LSUV fits exactly the fixed point
    assert res_cell_ratio(tanh_5_seeds, "lsuv") == pytest.approx(0.628, rel=0.03)


def res_cell_ratio(res, init):
    return res.cell(init, res.acts[0]).std_ratio.mean


# ---------------------------------------------------------------------------
# executors, progress and Ctrl-C


GRID = ("init-compare", "--acts", "relu,tanh", "--inits", "orthogonal,kaiming,xavier-normal,lsuv",
        "--layers", "6", "--width", "32", "--seeds", "3", "--json")  # fmt: skip


def test_workers_give_the_same_bytes(cli):
    serial = cli(*GRID)
    assert serial.code == 0, serial.err
    two = cli(*GRID, "--workers", "2")
    assert two.code == 0, two.err
    assert two.out == serial.out
    assert "workers" not in json.loads(two.out)["config"]


def test_ray_gives_the_same_bytes(cli):
    pytest.importorskip("ray")
    serial = cli(*GRID)
    on_ray = cli(*GRID, "--executor", "ray", "--workers", "2")  # a local Ray with 2 CPUs
    assert on_ray.code == 0, on_ray.err
    assert on_ray.out == serial.out


def test_an_interrupted_grid_keeps_its_finished_cells():
    spec = init_compare_spec({"acts": "relu,tanh", "inits": "kaiming,orthogonal", "layers": 6, "width": 32,
                              "seeds": 2})  # fmt: skip
    # the relu units are the first two: stop after them, as a deferred Ctrl-C does
    res = run_init_compare(spec, Executor(), should_stop=lambda: True)
    assert not res.complete and res.cells == [] and res.cells_total == 4
    done: list[int] = []
    res = run_init_compare(
        spec, Executor(), on_unit=lambda d, t: done.append(d), should_stop=lambda: len(done) >= 2
    )
    assert not res.complete and [c.act for c in res.cells] == ["relu", "relu"]
    full = run_init_compare(spec)
    assert full.complete and res.cells[0].std_per_layer == full.cell("kaiming-normal", "relu").std_per_layer


def test_cli_json_is_strict_and_reproducible(cli):
    args = ("init-compare", "--inits", "normal,orthogonal", "--layers", "40", "--seeds", "2", "--json")
    first = cli(*args)
    assert first.code == 0 and first.out == cli(*args).out
    data = json.loads(first.out)
    cells = {c["init"]: c for c in data["cells"]}
    contract = "init act seeds final_std std_ratio first_nonfinite_layer grad_ratio dead_frac"
    contract += " saturated_frac dev_accuracy verdict rank tied score scores"
    assert set(cells["orthogonal"]) >= set(contract.split())
    assert data["complete"] is True and data["cells_done"] == data["cells_total"] == 2
    assert set(data["targets"]["linear"]) == {"std_ratio", "grad_ratio", "source"}
    (pair,) = data["pairs"]
    assert {pair["a"], pair["b"]} == {"normal", "orthogonal"} and pair["better"] == "orthogonal"
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


def test_ctrl_c_on_a_terminal_writes_the_finished_cells_and_exits_130(tmp_path):
    """A user's terminal: the progress bar counts units on stderr; Ctrl-C once
    a few training units are done stops at once, prints the finished cells as
    strict JSON with complete: false, writes the --csv, and exits 130."""
    import os
    import pty
    import re
    import select
    import signal
    import subprocess
    import sys
    import time

    csv_path = tmp_path / "cells.csv"
    args = [sys.executable, "-m", "nninit_cli", "init-compare", "--acts", "sigmoid,tanh", "--layers", "2",
            "--width", "5", "--train-epochs", "3000", "--seeds", "2", "--csv", str(csv_path),
            "--inits", "zeros,normal,xavier-uniform,kaiming-normal", "--json"]  # fmt: skip
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    seen, done = b"", 0
    deadline = time.monotonic() + 240
    while done < 8 and time.monotonic() < deadline and proc.poll() is None:
        if select.select([master], [], [], 0.5)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:
                break
        counts = re.findall(rb"(\d+)/20\b", seen)  # 2 acts x 2 seeds of probes, 8 cells x 2 seeds of training
        done = int(counts[-1]) if counts else 0
    assert 8 <= done < 20, seen[-500:]
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 130

    def refuse(token: str):
        raise AssertionError(f"non-strict JSON token {token}")

    data = json.loads(out, parse_constant=refuse)
    assert data["complete"] is False and data["cells_total"] == 8
    assert 2 <= data["cells_done"] < 8 == data["cells_total"]
    assert all(c["dev_accuracy"]["mean"] is not None and c["seeds"] == [0, 1] for c in data["cells"])
    assert len(csv_path.read_text().splitlines()) == 1 + data["cells_done"]


@pytest.mark.parametrize(
    "args, flag, words",
    [
        (["--alpha", "0"], "--alpha", "0"),
        (["--alpha", "0.5"], "--alpha", "0.5"),
        (["--workers", "0"], "--workers", "1"),
        (["--executor", "dask"], "--executor", "ray"),
        (["--ray-address", "auto"], "--ray-address", "needs --executor ray"),
        (["--executor", "ray", "--ray-address", "not an address"], "--ray-address", "HOST:PORT"),
    ],
)
def test_cli_bad_execution_flags(cli, args, flag, words):
    r = cli("init-compare", "--layers", "2", *args)
    assert r.code == 2 and r.out == "" and flag in r.err and words in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_ray_missing_is_one_line_naming_the_extra(cli, monkeypatch):
    from nninit_cli import executors

    monkeypatch.setattr(executors, "ray_available", lambda: False)
    r = cli("init-compare", "--layers", "2", "--executor", "ray")
    assert r.code == 2 and "--executor" in r.err and "nninit[ray]" in r.err


def test_ctrl_c_before_any_cell_finished_leaves_earlier_files_alone(cli, tmp_path, monkeypatch):
    csv_path = tmp_path / "cells.csv"
    args = ("init-compare", "--inits", "kaiming,orthogonal", "--layers", "4", "--width", "16", "--seeds", "2")
    assert cli(*args, "--csv", str(csv_path)).code == 0
    before = csv_path.read_bytes()

    def interrupted(fn, units, executor):
        raise KeyboardInterrupt
        yield  # a generator, as run_units is

    monkeypatch.setattr(ic, "run_units", interrupted)
    r = cli(*args, "--csv", str(csv_path), "--json")
    assert r.code == 130 and "no files written" in r.err
    assert r.json()["complete"] is False and r.json()["cells"] == []
    assert csv_path.read_bytes() == before


def test_training_gives_the_same_bytes_on_any_number_of_threads(cli):
    import torch

    # 50 epochs: normal and kaiming-normal on seed 0 round differently on two threads than on one
    args = ("init-compare", "--train-epochs", "50", "--layers", "2", "--width", "5", "--acts", "sigmoid",
            "--inits", "normal,kaiming", "--seeds", "1", "--json")  # fmt: skip
    threads = torch.get_num_threads()
    outs = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            outs.append(cli(*args).out)
    finally:
        torch.set_num_threads(threads)
    assert outs[0] == outs[1]


def test_a_residual_stacks_target_is_to_keep_its_scale():
    res = compare(arch="resmlp", layers=6, width=16, acts="relu", inits="kaiming,zeros", seeds=2)
    assert res.targets["relu"].std_ratio == 1.0 and "residual" in res.targets["relu"].source


def test_the_same_difference_on_every_seed_is_left_to_the_sign_test(tanh_5_seeds):
    from nninit_cli.experiments.init_compare import pair_test

    a = replace(tanh_5_seeds.cell("xavier-normal", "tanh"), scores=[0.5] * 5)
    b = replace(a, init="other", scores=[0.5125] * 5)  # a step of accuracy, on all five seeds
    test = pair_test(a, b, 0.05)
    assert test.test == "no spread: sign test" and test.p_value == test.sign_p == 0.0625
    assert test.better is None  # five seeds cannot reach 0.05 this way: 2 / 2^5
    assert pair_test(a, b, 0.1).better == "xavier-normal"
    assert pair_test(a, replace(a, init="same"), 0.05).p_value == 1.0
