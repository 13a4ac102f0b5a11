"""grad-norms must show vanishing gradients and dead ReLUs (experiments E3, E4)."""

from __future__ import annotations

import json
import math

import pytest
import torch

from nninit_cli.data.datasets import load_dataset
from nninit_cli.experiments.grad_norms import run_grad_norms
from nninit_cli.probes import grad_norms
from nninit_cli.specs import grad_norms_spec


def run(**flags):
    res = run_grad_norms(grad_norms_spec(flags))
    return res.runs[0] if len(res.runs) == 1 else res


def norms(r) -> dict[str, float | None]:
    return {p.name: p.grad_norm for p in r.params}


def test_dead_relu_has_exact_zero_gradients_except_the_output_bias():
    r = run(act="relu", bias=-8.0)
    g = norms(r)
    for i in range(1, 6):
        assert g[f"fc{i}.weight"] == 0.0  # exactly zero, not small
    for i in range(1, 5):
        assert g[f"fc{i}.bias"] == 0.0
    assert g["fc5.bias"] > 0.1
    assert r.dead_units == [1.0, 1.0, 1.0, 1.0]
    assert r.verdict == "dead"
    # zero gradient is not "no gradient": every parameter did receive one
    assert all(p.to_dict()["has_grad"] for p in r.params)


def test_leaky_relu_keeps_every_gradient_alive():
    r = run(act="lrelu", bias=-8.0)
    g = norms(r)
    assert all(v is not None and math.isfinite(v) and v > 0 for v in g.values())
    assert g["fc1.weight"] < 1e-10
    assert r.dead_units == [0.0, 0.0, 0.0, 0.0]


def test_sigmoid_gradients_vanish_layer_by_layer():
    r = run()
    g = norms(r)
    assert g["fc1.weight"] < 1e-6 * g["fc5.weight"]
    weights = [g[f"fc{i}.weight"] for i in range(1, 6)]
    assert all(a < b for a, b in zip(weights, weights[1:], strict=False))
    assert r.verdict == "vanishing"


def test_relu_gradient_reaches_fc1_far_better_than_sigmoid():
    res = run(act="sigmoid,relu")
    sig, relu = (norms(r)["fc1.weight"] for r in res.runs)
    assert [r.act for r in res.runs] == ["sigmoid", "relu"]
    assert relu >= 100 * sig


def test_runs_share_weights_and_data_across_activations():
    res = run(act="relu,lrelu")
    # with bias 1.0 every pre-activation is positive: relu and lrelu are the same map
    a, b = (norms(r) for r in res.runs)
    assert a == b


def test_steps_record_every_gradient_and_update_between_them():
    r = run(act="relu", steps=5, lr=0.5)
    p = {q.name: q for q in r.params}["fc5.weight"]
    assert len(p.grad_norm_per_step) == 5 and len(r.loss_per_step) == 5
    assert len(set(p.grad_norm_per_step)) == 5  # the model moved between steps
    d = p.to_dict()
    assert d["grad_norm_min"] <= d["grad_norm_mean"] <= d["grad_norm_max"]
    assert d["grad_norm"] == p.grad_norm_per_step[0]


def test_one_step_builds_no_optimiser(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("--steps 1 must not build an optimiser")

    monkeypatch.setattr(torch.optim, "SGD", refuse)
    assert run().verdict == "vanishing"


def test_deep_wide_model_runs_and_kaiming_keeps_gradients_balanced():
    r = run(layers=50, width=256, init="kaiming", act="relu", bias=0.0)
    g = norms(r)
    assert len(g) == 100
    assert 1e-2 < g["fc1.weight"] / g["fc50.weight"] < 1e2
    assert r.verdict == "healthy"


def test_no_gradient_is_kept_apart_from_zero_gradient():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    model[1](torch.ones(1, 2)).sum().backward()  # model[0] takes no part
    values, nonzero = grad_norms(model)
    assert values[:2] == [None, None] and nonzero[:2] == [0, 0]
    assert values[2] > 0


def test_moons_split_and_labels():
    data = load_dataset("moons", 0)
    assert (len(data.train), len(data.dev), len(data.test)) == (640, 160, 200)
    assert data.train.y.shape == (640, 1)
    assert set(data.train.y.flatten().tolist()) == {0.0, 1.0}
    assert 0.4 < data.train.y.mean().item() < 0.6
    again = load_dataset("moons", 0)
    assert torch.equal(data.train.x, again.train.x)
    assert not torch.equal(data.train.x, load_dataset("moons", 1).train.x)


def test_cli_dead_relu_fail_on_and_strict_json(cli):
    r = cli("grad-norms", "--act", "relu", "--bias", "-8", "--fail-on", "dead", "--json")
    assert r.code == 1
    data = json.loads(r.out)
    assert data["command"] == "grad-norms" and data["config"]["bias"] == -8.0
    run0 = data["runs"][0]
    assert run0["verdict"] == "dead" and run0["dead_units"][0] == {"layer": 1, "frac": 1.0}
    p = {q["name"]: q for q in run0["params"]}
    assert p["fc1.weight"]["grad_norm"] == 0.0 and p["fc1.weight"]["zero_frac"] == 1.0
    assert p["fc1.weight"]["shape"] == [3, 2]
    assert cli("grad-norms", "--act", "relu", "--bias", "-8").code == 0


def test_cli_thresholds_reach_the_verdict(cli):
    assert cli("grad-norms", "--json").json()["runs"][0]["verdict"] == "vanishing"
    assert cli("grad-norms", "--vanish-ratio", "1e-12", "--json").json()["runs"][0]["verdict"] == "healthy"


def test_cli_same_seed_byte_identical_json(cli):
    args = ("grad-norms", "--act", "sigmoid,relu", "--steps", "3", "--json")
    assert cli(*args).out == cli(*args).out


def test_cli_table_csv_and_plot(cli, tmp_path):
    csv_path, png = tmp_path / "g.csv", tmp_path / "g.png"
    r = cli(
        "grad-norms",
        "--act",
        "sigmoid,relu,lrelu",
        "--bias",
        "-8",
        "--csv",
        str(csv_path),
        "--plot",
        str(png),
    )
    assert r.code == 0
    assert max(len(line) for line in r.out.splitlines()) <= 80
    assert "0 exactly" in r.out and "relu dead" in r.out
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("act,name,shape,has_grad,grad_norm") and len(rows) == 31
    assert png.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--steps", "0"], "--steps"),
        (["--lr", "-1"], "--lr"),
        (["--act", "relu,foo"], "--act"),
        (["--dead-frac", "2"], "--dead-frac"),
        (["--layers", "0"], "--layers"),
        (["--layers", "1"], "--layers"),
        (["--width", "-3"], "--width"),
        (["--gain", "-1"], "--gain"),
        (["--std", "nan"], "--std"),
        (["--batch-size", "641"], "--batch-size"),
        (["--dataset", "mnist"], "--dataset"),
        (["--fail-on", "stable"], "--fail-on"),
    ],
)
def test_cli_bad_input(cli, args, flag):
    r = cli("grad-norms", *args)
    assert r.code == 2 and r.out == ""
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], r.err


def test_lsuv_in_an_mlp_fits_on_the_training_batch():
    from nninit_cli.model.builder import build_model, linears
    from nninit_cli.specs import net_flags, net_spec, resolve

    net = net_spec(resolve("t", net_flags(), {"init": "lsuv", "act": "tanh", "layers": 6, "width": 32}))
    data = load_dataset("moons", 0)
    model = build_model(net, 2, 1, data=data.train.x)
    h = data.train.x
    for i, fc in enumerate(linears(model), start=1):
        pre = fc(h)
        assert abs(pre.double().std(correction=0).item() - 1) < 0.01, i
        h = torch.tanh(pre)
