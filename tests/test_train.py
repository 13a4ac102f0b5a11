"""train must reproduce E1, E2, E8 and keep its artifacts safe (issue: train)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nninit_cli.data.datasets import load_dataset
from nninit_cli.data.idx import read_idx, write_idx
from nninit_cli.experiments.train import build_model, load_checkpoint, load_data, run_train
from nninit_cli.specs import train_spec


def train(tmp_path: Path, name: str = "run", **flags):
    return run_train(train_spec(flags), tmp_path / name)


def test_e1_zero_init_stays_symmetric(tmp_path):
    res = train(tmp_path, hidden="5", act="sigmoid", init="zeros", bias=0.0, lr=0.2, epochs=100)
    assert res.history[0].train_loss == pytest.approx(math.log(2), abs=1e-4)
    w = load_checkpoint(tmp_path / "run" / "last.pt")["model"]["fc1.weight"]
    assert w.abs().max() > 0  # it moved...
    assert (w - w[0]).abs().max() == 0  # ...but every row moved alike
    assert res.symmetric_layers == ["fc1"] and "symmetric" in res.verdicts
    assert res.history[-1].dev_metric <= 0.6


def test_e2_gaussian_init_learns(tmp_path):
    res = train(tmp_path, hidden="5", act="sigmoid", init="normal", std=1.0, lr=0.2, epochs=1000)
    assert res.history[-1].dev_metric >= 0.8
    assert res.symmetric_layers == [] and res.verdicts == ["ok"]


def test_weight_decay_on_linreg(tmp_path):
    runs = {
        wd: train(tmp_path, f"wd{wd}", dataset="linreg", weight_decay=wd, lr=0.003, epochs=100)
        for wd in (0, 3)
    }
    norm = {
        wd: load_checkpoint(tmp_path / f"wd{wd}" / "last.pt")["model"]["fc1.weight"].norm() for wd in runs
    }
    assert runs[3].test_loss < runs[0].test_loss and norm[3] < norm[0]
    assert runs[0].history[-1].train_loss < 0.01 * runs[0].test_loss  # 20 points, 200 features: overfit
    # decay on the weights only: the bias keeps its own value
    b0 = load_checkpoint(tmp_path / "wd3" / "last.pt")["model"]["fc1.bias"]
    assert abs(b0.item()) > 0.01


def test_digits_mlp_reaches_90_percent(tmp_path):
    res = train(
        tmp_path, dataset="digits", hidden="256", act="relu", init="kaiming", batch_size=64, lr=0.1, epochs=5
    )
    assert res.history[-1].dev_metric >= 0.9


def test_dropout_acts_in_training_only(tmp_path):
    spec = train_spec({"dataset": "digits", "hidden": "256,256", "dropout": "0.2,0.5", "act": "relu"})
    data = load_data(spec)
    model = build_model(spec, data)
    x = data.dev.x[:32]
    model.train()
    a, b = model(x), model(x)
    assert not torch.equal(a, b)  # a new mask each call
    model.eval()
    c, d = model(x), model(x)
    assert torch.equal(c, d) and not torch.equal(a, c)
    drop = model.drop2
    h = torch.ones(1000, 256)
    drop.train()
    kept = drop(h)
    assert set(kept.unique().tolist()) == {0.0, 2.0}  # inverted: survivors scaled by 1/(1-p)
    assert abs((kept == 0).double().mean().item() - 0.5) < 0.01


def test_idx_round_trip(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 4, 3), dtype=np.uint8)
    for compress in (False, True):
        path = tmp_path / f"x{compress}"
        write_idx(path, images, compress=compress)
        assert np.array_equal(read_idx(path), images)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x07")
    with pytest.raises(Exception, match="truncated|header"):
        read_idx(tmp_path / "bad")


def _tiny_mnist(folder: Path) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", 60), ("t10k", 20)):
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        images = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
        images[np.arange(n), labels * 2] = 255  # row 2 * label lit: the label is in the pixels
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", images, compress=True)
        write_idx(folder / f"{split}-labels-idx1-ubyte", labels)


def test_mnist_from_local_idx_files(tmp_path):
    _tiny_mnist(tmp_path)
    data = load_dataset("mnist", 0, sizes=(40, 20), data_dir=tmp_path)
    assert data.train.x.shape == (40, 784) and len(data.test) == 20 and data.n_classes == 10
    res = train(
        tmp_path,
        dataset="mnist",
        data_dir=str(tmp_path),
        train_size=40,
        dev_size=20,
        hidden="16",
        act="relu",
        init="kaiming",
        optimizer="adam",
        lr=0.01,
        epochs=60,
    )
    assert res.best_dev_metric > 0.5  # labels are written into the pixels: learnable


def test_interrupted_then_resumed_equals_uninterrupted(tmp_path):
    flags = dict(hidden="8,8", act="relu", init="kaiming", dropout="0.2", batch_size=64, lr=0.1, epochs=12)
    whole = run_train(train_spec(flags), tmp_path / "whole")
    asked = iter(range(100))
    part = run_train(train_spec(flags), tmp_path / "part", should_stop=lambda: next(asked) >= 4)
    assert part.stopped == "interrupted" and part.history[-1].epoch == 5
    resumed = run_train(train_spec(flags), tmp_path / "part", resume=True)
    a = (tmp_path / "whole" / "metrics.jsonl").read_text()
    b = (tmp_path / "part" / "metrics.jsonl").read_text()
    assert a == b
    assert resumed.test_metric == whole.test_metric and resumed.best_epoch == whole.best_epoch


def test_nonfinite_loss_stops_and_keeps_best(cli, tmp_path):
    r = cli(
        "train",
        "--dataset",
        "linreg",
        "--lr",
        "0.05",
        "--epochs",
        "50",
        "--out",
        str(tmp_path / "r"),
        "--fail-on",
        "nonfinite",
        "--json",
    )
    assert r.code == 1
    data = json.loads(r.out)
    assert data["stopped"] == "nonfinite" and data["verdict"] == "nonfinite"
    assert (tmp_path / "r" / "best.pt").exists()
    load_checkpoint(tmp_path / "r" / "best.pt")


def test_cli_run_folder_json_and_eval(cli, tmp_path):
    out = tmp_path / "run"
    r = cli("train", "--epochs", "30", "--out", str(out), "--json")
    assert r.code == 0
    data = json.loads(r.out)
    assert data["command"] == "train" and data["artifacts"]["best"] == str(out / "best.pt")
    assert data["config"]["hidden"] == [5] and data["config"]["seed"] == 0
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == list(range(1, 31))
    assert (out / "curves.png").read_bytes().startswith(b"\x89PNG")
    ev = cli("eval", str(out), "--json")
    assert ev.code == 0 and json.loads(ev.out)["test"]["metric"] == data["test"]["metric"]
    assert cli("train", "--out", str(out)).code == 2  # a folder that holds a run is not overwritten


def test_corrupt_or_foreign_checkpoint_is_a_clear_error(cli, tmp_path):
    out = tmp_path / "run"
    assert cli("train", "--epochs", "2", "--out", str(out)).code == 0
    (out / "best.pt").write_bytes(b"not a checkpoint")
    r = cli("eval", str(out))
    assert r.code == 1 and "best.pt" in r.err and "Traceback" not in r.err
    torch.save({"weights": torch.zeros(2)}, out / "best.pt")
    r = cli("eval", str(out))
    assert r.code == 1 and "not an nninit train checkpoint" in r.err


def test_sigint_stops_cleanly(tmp_path):
    out = tmp_path / "run"
    p = subprocess.Popen(
        [sys.executable, "-m", "nninit_cli", "train", "--epochs", "100000", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "metrics.jsonl").exists():
        time.sleep(0.2)
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows and [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert load_checkpoint(out / "best.pt")["epoch"] >= 1
    assert load_checkpoint(out / "last.pt")["epoch"] == rows[-1]["epoch"]
    assert not [f for f in os.listdir(out) if f.endswith(".tmp")]


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--hidden", "0"], "--hidden"),
        (["--hidden", "5,x"], "--hidden"),
        (["--dropout", "1.5"], "--dropout"),
        (["--epochs", "0"], "--epochs"),
        (["--dataset", "foo"], "--dataset"),
        (["--dataset", "mnist", "--data-dir", "."], "--data-dir"),
        (["--out", ""], "--out"),
        (["--resume", ""], "--resume"),
    ],
)
def test_cli_bad_input(cli, args, flag, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("train", *args)
    assert r.code == 2 and r.out == "", r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], r.err


def test_nll_equals_cross_entropy_and_adam_trains(tmp_path):
    flags = dict(dataset="digits", hidden="32", act="relu", init="kaiming", batch_size=64, lr=0.1, epochs=2)
    ce = train(tmp_path, "ce", **flags)
    nll = train(tmp_path, "nll", loss="nll", **flags)
    assert [r.train_loss for r in ce.history] == pytest.approx([r.train_loss for r in nll.history], rel=1e-5)
    adam = train(tmp_path, "adam", dataset="moons", optimizer="adam", lr=0.05, epochs=200)
    assert adam.best_dev_metric > 0.8


def test_watch_records_weights_and_gradients(tmp_path):
    train(tmp_path, watch="weights,grads", log_every=5, epochs=10)
    lines = [json.loads(x) for x in (tmp_path / "run" / "watch.jsonl").read_text().splitlines()]
    assert [x["epoch"] for x in lines] == [1, 5, 10]
    fc1 = lines[-1]["fc1.weight"]
    assert len(fc1["values"]) == 5 and fc1["grad_norm"] > 0
    assert fc1["norm"] == pytest.approx(np.linalg.norm(np.array(fc1["values"])))
