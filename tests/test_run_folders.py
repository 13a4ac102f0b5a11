"""Run folders: claimed by one process, refused in one line when they are not
usable, reconciled on --resume, strict JSON in every log (issue: hostile use)."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nninit_cli.experiments import run_folder, train
from nninit_cli.experiments.train import load_checkpoint, run_train
from nninit_cli.specs import train_spec

FAST = ["--epochs", "6", "--log-every", "2"]


def strict(text: str) -> list[dict]:
    """Each line parsed as strict JSON: NaN / Infinity tokens fail."""

    def refuse(token: str) -> None:
        raise AssertionError(f"non-strict JSON token {token}")

    return [json.loads(line, parse_constant=refuse) for line in text.splitlines()]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def one_line_error(r, code: int, *words: str) -> str:
    lines = r.err.strip().splitlines()
    assert r.code == code, r.err
    assert len(lines) == 1 and "Traceback" not in r.err, r.err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def done_run(tmp_path_factory) -> Path:
    """A finished 6-epoch moons run with --watch, to copy and damage."""
    out = tmp_path_factory.mktemp("runs") / "done"
    run_train(train_spec({"epochs": 6, "log_every": 2, "watch": "weights,grads"}), out)
    return out


def copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name, data in snapshot(src).items():
        (dst / name).write_bytes(data)
    return dst


# --------------------------------------------------------------------------
# Claiming


def test_default_folders_are_unique_within_one_second(tmp_path):
    folders = [run_folder.new_run_folder(tmp_path / "runs") for _ in range(5)]
    assert len(set(folders)) == 5 and all(f.is_dir() for f in folders)


def test_out_refuses_a_run_a_busy_folder_and_a_foreign_one(cli, tmp_path, done_run):
    run = copy_run(done_run, tmp_path / "run")
    before = snapshot(run)
    one_line_error(cli("train", *FAST, "--out", str(run)), 2, "--out", "already holds a run", "--resume")
    assert snapshot(run) == before
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "cat.jpg").write_bytes(b"meow")
    one_line_error(cli("train", *FAST, "--out", str(foreign)), 2, "--out", "not empty")
    assert sorted(os.listdir(foreign)) == ["cat.jpg"]  # no .lock left in a folder we refused
    one_line_error(cli("train", *FAST, "--out", str(foreign / "cat.jpg")), 2, "--out", "is a file")
    one_line_error(cli("train", *FAST, "--out", str(tmp_path / "no" / "such")), 2, "--out", "does not exist")
    assert not (tmp_path / "no").exists()


def test_a_folder_held_by_another_process_is_refused(cli, tmp_path, done_run):
    busy = tmp_path / "busy"
    busy.mkdir()
    run = copy_run(done_run, tmp_path / "run")
    holders = []
    for folder in (busy, run):  # flock is per open file: this fd is "another process" to the CLI
        fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        holders.append(fd)
    before = snapshot(run)
    try:
        one_line_error(cli("train", *FAST, "--out", str(busy)), 2, "--out", "another nninit process")
        one_line_error(cli("train", "--resume", str(run)), 2, "--resume", "another nninit process")
        one_line_error(cli("train", *FAST, "--out", str(run)), 2, "--out")
    finally:
        for fd in holders:
            os.close(fd)
    assert snapshot(run) == before and not (busy / "config.json").exists()
    assert cli("train", *FAST, "--out", str(busy)).code == 0  # a stale .lock does not block
    assert not (busy / ".lock").exists()


def test_a_failed_start_leaves_no_folder_behind(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = cli("train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--epochs", "1")
    one_line_error(r, 2, "--data-dir")
    assert os.listdir(tmp_path) == []  # neither runs/train-... nor runs/
    r = cli("train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--out", "mine")
    one_line_error(r, 2, "--data-dir")
    assert os.listdir(tmp_path) == []


def test_two_trains_on_one_out_exactly_one_wins(tmp_path):
    out = tmp_path / "same"
    cmd = [
        sys.executable,
        "-m",
        "nninit_cli",
        "train",
        "--epochs",
        "300",
        "--log-every",
        "50",
        "--out",
        str(out),
    ]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(r[0] for r in results)
    assert codes == [0, 2], results
    loser = next(r for r in results if r[0] == 2)
    lines = loser[2].strip().splitlines()
    assert len(lines) == 1 and "--out" in lines[0] and "Traceback" not in loser[2], loser[2]
    assert loser[1] == ""
    rows = strict((out / "metrics.jsonl").read_text())
    assert [r["epoch"] for r in rows] == list(range(1, 301))
    assert load_checkpoint(out / "last.pt")["epoch"] == 300
    best = max(r["epoch"] for r in rows if r["best"])  # the last improvement is what best.pt holds
    assert load_checkpoint(out / "best.pt")["epoch"] == best
    assert sorted(os.listdir(out)) == ["best.pt", "config.json", "curves.png", "last.pt", "metrics.jsonl"]


# --------------------------------------------------------------------------
# Corrupt or foreign folders: exit 1, one line, nothing changed


def _damage(kind: str, run: Path, other: Path) -> None:
    cfg = run / "config.json"
    data = json.loads(cfg.read_text())
    if kind == "config not json":
        cfg.write_text("{not json")
    elif kind == "config empty":
        cfg.write_bytes(b"")
    elif kind == "config not utf-8":
        cfg.write_bytes(b"\xff\xfe{}")
    elif kind == "config nested":
        cfg.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "config a list":
        cfg.write_text("[1, 2]")
    elif kind == "config other command":
        cfg.write_text(json.dumps({"command": "std-trace", "config": data["config"]}))
    elif kind == "config missing key":
        del data["config"]["hidden"]
        cfg.write_text(json.dumps(data))
    elif kind == "config unknown key":
        data["config"]["colour"] = "red"
        cfg.write_text(json.dumps(data))
    elif kind == "config wrong type":
        data["config"]["epochs"] = "6"
        cfg.write_text(json.dumps(data))
    elif kind == "config unknown dataset":
        data["config"]["dataset"] = "imagenet"
        cfg.write_text(json.dumps(data))
    elif kind == "config bad hidden":
        data["config"]["hidden"] = [0]
        cfg.write_text(json.dumps(data))
    elif kind == "config a folder":
        cfg.unlink()
        cfg.mkdir()
    elif kind == "no config":
        cfg.unlink()
    elif kind == "checkpoints empty":
        for name in ("best.pt", "last.pt"):
            (run / name).write_bytes(b"")
    elif kind == "checkpoints garbage":
        for name in ("best.pt", "last.pt"):
            (run / name).write_bytes(os.urandom(3000))
    elif kind == "checkpoints plain tensor":
        for name in ("best.pt", "last.pt"):
            torch.save(torch.zeros(3), run / name)
    elif kind == "checkpoints wrong keys":
        for name in ("best.pt", "last.pt"):
            torch.save({"format": train.FORMAT, "model": {"w": torch.zeros(2)}, "epoch": 3}, run / name)
    elif kind == "checkpoints wrong shapes":
        for name in ("best.pt", "last.pt"):
            ckpt = torch.load(run / name, weights_only=True)
            ckpt["model"] = {k: torch.zeros(v.shape[0] + 1, *v.shape[1:]) for k, v in ckpt["model"].items()}
            torch.save(ckpt, run / name)
    elif kind == "checkpoints of another run":
        for name in ("best.pt", "last.pt"):
            (run / name).write_bytes((other / name).read_bytes())
    elif kind == "checkpoints a folder":
        for name in ("best.pt", "last.pt"):
            (run / name).unlink()
            (run / name).mkdir()
    else:
        raise AssertionError(kind)


CONFIG_DAMAGE = [
    "config not json",
    "config empty",
    "config not utf-8",
    "config nested",
    "config a list",
    "config other command",
    "config missing key",
    "config unknown key",
    "config wrong type",
    "config unknown dataset",
    "config bad hidden",
    "config a folder",
    "no config",
]
CKPT_DAMAGE = [
    "checkpoints empty",
    "checkpoints garbage",
    "checkpoints plain tensor",
    "checkpoints wrong keys",
    "checkpoints wrong shapes",
    "checkpoints of another run",
    "checkpoints a folder",
]


@pytest.fixture(scope="module")
def other_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "other"
    run_train(train_spec({"epochs": 3, "hidden": "7"}), out)
    return out


@pytest.mark.parametrize("command", ["eval", "resume"])
@pytest.mark.parametrize("kind", CONFIG_DAMAGE + CKPT_DAMAGE)
def test_corrupt_or_foreign_run_is_one_line_exit_1(cli, tmp_path, done_run, other_run, kind, command):
    run = copy_run(done_run, tmp_path / "run")
    _damage(kind, run, other_run)
    before = {p: (run / p).read_bytes() if (run / p).is_file() else None for p in os.listdir(run)}
    args = ("eval", str(run)) if command == "eval" else ("train", "--resume", str(run))
    one_line_error(cli(*args), 1, str(run))
    assert {p: (run / p).read_bytes() if (run / p).is_file() else None for p in os.listdir(run)} == before


@pytest.mark.parametrize("command", ["eval", "resume"])
def test_not_a_run_folder_is_one_line_exit_1(cli, tmp_path, command):
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    for target in ("nosuch", "file", "empty"):
        path = str(tmp_path / target)
        args = ("eval", path) if command == "eval" else ("train", "--resume", path)
        line = one_line_error(cli(*args), 1, path)
        assert "Errno" not in line


def test_optimizer_of_another_setting_is_refused(cli, tmp_path, done_run):
    run = copy_run(done_run, tmp_path / "run")
    ckpt = torch.load(run / "last.pt", weights_only=True)
    for group in ckpt["optimizer"]["param_groups"]:
        group["lr"] = 0.5
    torch.save(ckpt, run / "last.pt")
    one_line_error(cli("train", "--resume", str(run)), 1, "last.pt", "lr")


# --------------------------------------------------------------------------
# --resume: its flags


def test_resume_flags(cli, tmp_path, done_run):
    run = copy_run(done_run, tmp_path / "run")
    before = snapshot(run)
    one_line_error(cli("train", "--resume", str(run), "--lr", "0.3"), 2, "--lr", "0.2")
    one_line_error(cli("train", "--resume", str(run), "--hidden", "6"), 2, "--hidden")
    one_line_error(cli("train", "--resume", str(run), "--dataset", "circles"), 2, "--dataset", "moons")
    one_line_error(cli("train", "--resume", str(run), "--no-bias"), 2, "--no-bias")
    one_line_error(cli("train", "--resume", str(run), "--epochs", "5"), 2, "--epochs", "6")
    one_line_error(cli("train", "--resume", str(run), "--out", str(tmp_path / "x")), 2, "--out")
    one_line_error(cli("train", "--resume", str(run), "--config", "digits-mlp"), 2, "--config")
    one_line_error(cli("train", "--resume", str(run), "--lr", "abc"), 2, "--lr")
    assert snapshot(run) == before
    # the same values are fine; --epochs extends, and config.json records it
    r = cli("train", "--resume", str(run), "--lr", "0.2", "--hidden", "5", "--epochs", "8", "--json")
    assert r.code == 0, r.err
    assert (
        r.json()["epochs_run"] == 8 and json.loads((run / "config.json").read_text())["config"]["epochs"] == 8
    )
    assert [x["epoch"] for x in strict((run / "metrics.jsonl").read_text())] == list(range(1, 9))
    assert [x["epoch"] for x in strict((run / "watch.jsonl").read_text())] == [1, 2, 4, 6, 8]
    r = cli("train", "--resume", str(run), "--fail-on", "ok")
    assert r.code == 1 and "--fail-on" in r.err


def test_resume_extends_to_the_bytes_of_a_longer_run(tmp_path):
    flags = {
        "epochs": 8,
        "log_every": 3,
        "watch": "weights",
        "hidden": "6,4",
        "dropout": "0.3",
        "batch_size": 64,
    }
    run_train(train_spec(flags), tmp_path / "whole")
    run_train(train_spec({**flags, "epochs": 5}), tmp_path / "part")
    run_train(train_spec(flags), tmp_path / "part", resume=True)
    for name in ("metrics.jsonl", "watch.jsonl"):
        assert (tmp_path / "whole" / name).read_bytes() == (tmp_path / "part" / name).read_bytes()


# --------------------------------------------------------------------------
# --resume: reconciling the logs with last.pt


def _rewind(run: Path, epoch_lines: int) -> None:
    """last.pt back to an earlier checkpoint: as after a kill between saves."""
    spec = train_spec({"epochs": epoch_lines, "log_every": 2, "watch": "weights,grads"})
    tmp = run.parent / f"{run.name}-short"
    run_train(spec, tmp)
    (run / "last.pt").write_bytes((tmp / "last.pt").read_bytes())


def test_lines_past_the_checkpoint_are_dropped_and_rewritten(cli, tmp_path, done_run):
    whole = (done_run / "metrics.jsonl").read_bytes()
    watch = (done_run / "watch.jsonl").read_bytes()
    run = copy_run(done_run, tmp_path / "run")
    _rewind(run, 4)
    with open(run / "metrics.jsonl", "ab") as fh:
        fh.write(b'{"epoch": 7, "train_lo')  # torn by a kill mid-write
    r = cli("train", "--resume", str(run))
    assert r.code == 0, r.err
    assert (run / "metrics.jsonl").read_bytes() == whole
    assert (run / "watch.jsonl").read_bytes() == watch


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda t: t.replace(b'{"epoch": 2,', b'{"epoch": 2', 1), ["metrics.jsonl", "line 2"]),
        (lambda t: b"\n" + t, ["metrics.jsonl", "line 1"]),
        (lambda t: t.replace(b"\n", b"\n\xff\n", 1), ["metrics.jsonl", "line 2"]),
        (lambda t: b"[1]\n" + t, ["metrics.jsonl", "line 1"]),
        (lambda t: b"\n".join(t.split(b"\n")[:2] + t.split(b"\n")[3:]), ["metrics.jsonl", "epochs"]),
        (lambda t: t.split(b"\n")[0] + b"\n" + t, ["metrics.jsonl", "epochs"]),  # a duplicate
        (
            lambda t: t.replace(b'"train_loss": ', b'"train_loss": "x", "y": ', 1),
            ["metrics.jsonl", "epoch 1"],
        ),
    ],
)
def test_a_corrupt_line_is_exit_1_and_nothing_is_deleted(cli, tmp_path, done_run, damage, words):
    run = copy_run(done_run, tmp_path / "run")
    (run / "metrics.jsonl").write_bytes(damage((run / "metrics.jsonl").read_bytes()))
    before = snapshot(run)
    one_line_error(cli("train", "--resume", str(run)), 1, *words)
    assert snapshot(run) == before


def test_a_corrupt_watch_line_is_exit_1(cli, tmp_path, done_run):
    run = copy_run(done_run, tmp_path / "run")
    text = (run / "watch.jsonl").read_bytes()
    (run / "watch.jsonl").write_bytes(text[1:])  # line 1 loses its opening brace
    before = snapshot(run)
    one_line_error(cli("train", "--resume", str(run)), 1, "watch.jsonl", "line 1")
    assert snapshot(run) == before


def test_best_pt_follows_the_checkpoint_on_resume(cli, tmp_path):
    flags = {"epochs": 40, "log_every": 10}
    run_train(train_spec(flags), tmp_path / "whole")
    run = tmp_path / "run"
    run_train(train_spec({**flags, "epochs": 20}), run)
    (run / "config.json").write_text((tmp_path / "whole" / "config.json").read_text())
    # a kill after best.pt of a later epoch was written but before last.pt was
    (run / "best.pt").write_bytes((tmp_path / "whole" / "best.pt").read_bytes())
    r = cli("train", "--resume", str(run), "--epochs", "20")
    assert r.code == 0, r.err
    assert load_checkpoint(run / "best.pt")["epoch"] == load_checkpoint(run / "last.pt")["best_epoch"] <= 20
    assert cli("train", "--resume", str(run), "--epochs", "40").code == 0
    a = cli("eval", str(run), "--json").json()
    b = cli("eval", str(tmp_path / "whole"), "--json").json()
    assert {**a, "run": ""} == {**b, "run": ""}


def test_resume_before_the_first_epoch_starts_over(cli, tmp_path):
    whole = tmp_path / "whole"
    run_train(train_spec({"epochs": 5}), whole)
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_bytes((whole / "config.json").read_bytes())
    assert cli("train", "--resume", str(run)).code == 0
    assert (run / "metrics.jsonl").read_bytes() == (whole / "metrics.jsonl").read_bytes()


# --------------------------------------------------------------------------
# Strict JSON in metrics.jsonl; a non-finite epoch is never the best


def test_diverging_run_writes_strict_metrics(cli, tmp_path):
    out = tmp_path / "r"
    r = cli("train", "--dataset", "linreg", "--lr", "1e6", "--epochs", "5", "--out", str(out), "--json")
    assert r.code == 0, r.err
    rows = strict((out / "metrics.jsonl").read_text())
    assert len(rows) == 1 and rows[0]["train_loss"] is None and rows[0]["best"] is False
    assert {"path": ".train_loss", "value": "nan"} in rows[0]["nonfinite_values"]
    assert r.json()["stopped"] == "nonfinite" and r.json()["best"]["epoch"] is None
    assert not (out / "best.pt").exists()
    one_line_error(cli("eval", str(out)), 1, "no best.pt")


def test_nonfinite_dev_loss_is_never_best(tmp_path, monkeypatch):
    real = train.evaluate
    calls = {"n": 0}

    def evaluate(model, split, loss, metric):
        calls["n"] += 1
        loss_value, metric_value = real(model, split, loss, metric)
        return (float("inf"), 1.0) if calls["n"] == 3 else (loss_value, metric_value)

    monkeypatch.setattr(train, "evaluate", evaluate)
    res = run_train(train_spec({"epochs": 5}), tmp_path / "r")
    rows = strict((tmp_path / "r" / "metrics.jsonl").read_text())
    assert res.stopped == "nonfinite" and len(rows) == 3
    assert rows[2]["dev_loss"] is None and rows[2]["best"] is False
    assert rows[2]["nonfinite_values"] == [{"path": ".dev_loss", "value": "inf"}]
    assert res.best_epoch in (1, 2) and load_checkpoint(tmp_path / "r" / "best.pt")["epoch"] == res.best_epoch
    # and the line reads back as the record it was written from
    assert train._record(tmp_path / "m", rows[2]).dev_loss == float("inf")


def test_progress_goes_to_stderr_and_stdout_keeps_results(cli, tmp_path):
    r = cli("train", "--epochs", "10", "--log-every", "5", "--out", str(tmp_path / "r"))
    assert r.code == 0
    assert "epoch 5/10" in r.err and "epoch 5/10" not in r.out
    r = cli("train", "--epochs", "10", "--log-every", "5", "--out", str(tmp_path / "j"), "--json")
    assert json.loads(r.out)["epochs_run"] == 10 and "epoch 10/10" in r.err
