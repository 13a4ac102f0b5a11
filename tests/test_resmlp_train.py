"""A 32-block residual MLP on digits: it trains with SkipInit, Fixup or alpha =
1/sqrt(K), and not with plain alpha = 1; its run folders resume and evaluate
like an MLP's (issue: one network, one probe).

Why plain alpha = 1 fails: each block adds a branch of the stream's own
variance, so 32 blocks multiply it by 2^32 and the logits start near 2e4; the
first step at any usable learning rate overflows.  With a learning rate small
enough to stay finite (1e-6) it fits the training set with huge logits but
reaches only 0.6-0.74 dev accuracy in 50 epochs, where the others reach 0.93-0.99
in 10 at lr 0.1 (the seeds and numbers are in the development notes).
"""

from __future__ import annotations

import json

import pytest
import torch

from nninit_cli.experiments.train import load_checkpoint, run_train
from nninit_cli.specs import train_spec

# 64-unit stream, 32 blocks; digits' default 1200 training examples, batches of 64
RESMLP = {
    "dataset": "digits",
    "arch": "resmlp",
    "hidden": "64x32",
    "act": "relu",
    "init": "kaiming-normal",
    "log_every": 1000,
}
SCHEMES = {
    "skipinit": {"residual_init": "skipinit"},
    "invsqrt": {"residual_scale": "invsqrt"},
    "fixup": {"residual_init": "fixup"},
    "plain": {},
}


pytestmark = pytest.mark.usefixtures("one_thread")


def train(tmp_path, scheme: str, name: str | None = None, **flags):
    spec = train_spec({**RESMLP, **SCHEMES[scheme], **flags})
    return run_train(spec, tmp_path / (name or scheme))


def test_skipinit_and_invsqrt_train_where_scale_1_diverges(tmp_path):
    # seed 0, 5 epochs at lr 0.1: skipinit 0.94, invsqrt 0.937 dev accuracy
    for scheme in ("skipinit", "invsqrt"):
        res = train(tmp_path, scheme, lr=0.1, epochs=5)
        assert res.stopped == "completed" and res.verdicts == ["ok"], scheme
        assert res.best_dev_metric >= 0.88, (scheme, [r.dev_metric for r in res.history])
    # the same run with alpha = 1: the stream's variance is 2^32 times the
    # input's, and the first epoch's updates overflow to nan
    plain = train(tmp_path, "plain", lr=0.1, epochs=5)
    assert plain.stopped == "nonfinite" and plain.verdicts == ["nonfinite"]
    assert len(plain.history) == 1 and plain.best_epoch is None and plain.best_dev_metric is None
    assert not (tmp_path / "plain" / "best.pt").exists()
    assert plain.test_loss is None and plain.test_metric is None  # no best model to test


def test_scale_1_stays_finite_only_at_a_tiny_rate_and_learns_little(tmp_path):
    # initial loss ~3e4 (logits ~2e4); at lr 1e-6 seed 0 reaches ~0.5 in 5 epochs
    res = train(tmp_path, "plain", lr=1e-6, epochs=5)
    assert res.stopped == "completed"
    assert res.history[0].train_loss > 1000
    assert res.best_dev_metric <= 0.75, [r.dev_metric for r in res.history]


def test_fixup_trains(tmp_path):
    # seed 0, 5 epochs at lr 0.1: 0.89 dev accuracy
    res = train(tmp_path, "fixup", lr=0.1, epochs=5)
    assert res.stopped == "completed" and res.verdicts == ["ok"]
    assert res.best_dev_metric >= 0.8, [r.dev_metric for r in res.history]
    # Fixup's zeroed last Linear of each branch has moved off zero
    weights = load_checkpoint(tmp_path / "fixup" / "last.pt")["model"]
    assert weights["block32.branch.fc2.weight"].abs().max() > 0


# batch norm (running statistics in the state) and SkipInit's gates (a
# parameter outside every Linear) must come back from last.pt for a resumed
# run to match an uninterrupted one
RESUMABLE = {"norm": "batch", "lr": 0.05, "train_size": 400, "log_every": 2}


def test_resume_of_a_resmlp_run_gives_the_bytes_of_a_whole_run(cli, tmp_path):
    train(tmp_path, "skipinit", "whole", epochs=4, **RESUMABLE)
    train(tmp_path, "skipinit", "part", epochs=2, **RESUMABLE)
    config = json.loads((tmp_path / "part" / "config.json").read_text())["config"]
    assert config["arch"] == "resmlp" and config["residual_init"] == "skipinit" and config["norm"] == "batch"

    r = cli("train", "--resume", str(tmp_path / "part"), "--epochs", "4", "--json")
    assert r.code == 0, r.err
    assert r.json()["epochs_run"] == 4
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert (whole / "metrics.jsonl").read_bytes() == (part / "metrics.jsonl").read_bytes()
    a, b = load_checkpoint(whole / "last.pt")["model"], load_checkpoint(part / "last.pt")["model"]
    assert set(a) == set(b) and "block1.branch.skip.gate" in a and "block1.branch.norm.running_mean" in a
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["block1.branch.skip.gate"].item() != 0  # the gates trained


def test_resume_of_a_resmlp_run_with_dropout(cli, tmp_path):
    # the branches' dropout masks come from their own stream, saved in last.pt
    flags = {**RESUMABLE, "dropout": "0.1"}
    train(tmp_path, "skipinit", "whole", epochs=4, **flags)
    train(tmp_path, "skipinit", "part", epochs=2, **flags)
    r = cli("train", "--resume", str(tmp_path / "part"), "--epochs", "4")
    assert r.code == 0, r.err
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert (whole / "metrics.jsonl").read_bytes() == (part / "metrics.jsonl").read_bytes()


def test_resume_refuses_other_architecture_settings(cli, tmp_path):
    train(tmp_path, "skipinit", "run", epochs=1, train_size=200)
    run = tmp_path / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    for flag, value in (("--residual-init", "fixup"), ("--norm", "layer"), ("--arch", "mlp")):
        r = cli("train", "--resume", str(run), flag, value)
        lines = r.err.strip().splitlines()
        assert r.code == 2 and len(lines) == 1 and "Traceback" not in r.err, r.err
        assert lines[0].startswith("nninit: error: ") and flag in lines[0], lines[0]
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before


@pytest.mark.parametrize("scheme", ["skipinit", "invsqrt"])
def test_eval_of_a_resmlp_run_gives_its_test_accuracy(cli, tmp_path, scheme):
    res = train(tmp_path, scheme, lr=0.1, epochs=2, train_size=400)
    r = cli("eval", str(tmp_path / scheme), "--json")
    assert r.code == 0, r.err
    data = r.json()
    assert data["best_epoch"] == res.best_epoch
    assert data["test"]["metric"] == res.test_metric and data["test"]["loss"] == res.test_loss
