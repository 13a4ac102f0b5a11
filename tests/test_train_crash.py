"""train under signals, hard kills and closed pipes: nothing lost, nothing
printed twice, and a resumed run ends with the bytes of an uninterrupted one."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nninit_cli.experiments.train import load_checkpoint

# dropout and shuffled minibatches: both random streams must resume exactly
FLAGS = [
    "--hidden", "8,8", "--act", "relu", "--init", "kaiming", "--dropout", "0.2", "--batch-size", "64",
    "--lr", "0.1", "--epochs", "200", "--log-every", "5", "--watch", "weights,grads",
]  # fmt: skip
EPOCHS = 200
# one thread: tiny matmuls gain nothing from two, and two threads on a busy
# machine spin-wait ten times slower
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def nninit(*args: object) -> list[str]:
    return [sys.executable, "-m", "nninit_cli", *map(str, args)]


def lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for_lines(p: subprocess.Popen, path: Path, n: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        if (have := lines(path)) >= n:
            return have
        time.sleep(0.002)
    return lines(path)


def test_killed_at_random_and_resumed_equals_uninterrupted(cli, one_thread, tmp_path):
    whole, run = tmp_path / "whole", tmp_path / "run"
    ref = subprocess.run(
        nninit("train", *FLAGS, "--out", whole, "--json"), capture_output=True, text=True, env=ENV
    )
    assert ref.returncode == 0, ref.stderr
    rng = random.Random(20261124)
    landed = []  # metrics lines on disk at each kill
    for attempt in range(4):
        resume = (run / "config.json").exists()
        args = ("--resume", run) if resume else (*FLAGS, "--out", run)
        p = subprocess.Popen(
            nninit("train", *args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV
        )
        if attempt == 0:  # anywhere in start-up or the first epochs
            time.sleep(rng.uniform(0.1, 2.0))
        else:
            wait_for_lines(p, run / "metrics.jsonl", lines(run / "metrics.jsonl") + rng.randint(1, 50))
            time.sleep(rng.uniform(0, 0.01))
        p.kill()
        p.wait()
        landed.append(lines(run / "metrics.jsonl"))
    assert sum(0 < n < EPOCHS for n in landed) >= 3, landed  # the kills hit a running loop
    args = ("--resume", run) if (run / "config.json").exists() else (*FLAGS, "--out", run)
    final = subprocess.run(nninit("train", *args, "--json"), capture_output=True, text=True, env=ENV)
    assert final.returncode == 0, final.stderr
    for name in ("metrics.jsonl", "watch.jsonl"):
        assert (run / name).read_bytes() == (whole / name).read_bytes(), name
    assert json.loads(final.stdout.replace(str(run), str(whole))) == json.loads(ref.stdout)
    evals = [
        subprocess.run(nninit("eval", f, "--json"), capture_output=True, text=True) for f in (whole, run)
    ]
    a, b = (json.loads(e.stdout) for e in evals)
    assert a.pop("run") == str(whole) and b.pop("run") == str(run) and a == b
    assert sorted(p.name for p in run.iterdir()) == sorted(
        p.name for p in whole.iterdir()
    )  # no .tmp, no .lock


@pytest.mark.parametrize(
    "signals",
    [[signal.SIGINT], [signal.SIGTERM], [signal.SIGINT, signal.SIGINT]],
    ids=["ctrl-c", "sigterm", "ctrl-c-twice"],
)
def test_signals_stop_cleanly_and_say_so_once(cli, one_thread, tmp_path, signals):
    out = tmp_path / "run"
    p = subprocess.Popen(
        nninit("train", *FLAGS[:-6], "--epochs", "100000", "--out", out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    wait_for_lines(p, out / "metrics.jsonl", 20)
    for sig in signals:
        p.send_signal(sig)
        time.sleep(0.001)
    stdout, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and err.count("interrupted") == 1, err
    if len(signals) == 1:  # stopped at an epoch's end: everything written, the results printed
        assert "--resume" in err and stdout.strip()  # the results were printed
        rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
        assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
        assert load_checkpoint(out / "last.pt")["epoch"] == rows[-1]["epoch"]
    # either way the run resumes, with whatever last.pt holds
    n = lines(out / "metrics.jsonl") + 2
    r = cli("train", "--resume", str(out), "--epochs", str(n))
    assert r.code == 0, r.err
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()] == list(
        range(1, n + 1)
    )


def test_a_closed_stdout_costs_no_checkpoint(tmp_path):
    out = tmp_path / "run"
    p = subprocess.Popen(
        nninit("train", "--epochs", "60", "--out", out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ENV,
    )
    p.stdout.close()  # the reader is gone before anything is printed
    err = p.stderr.read().decode()
    p.wait(timeout=60)
    assert "Traceback" not in err
    assert load_checkpoint(out / "last.pt")["epoch"] == 60 and lines(out / "metrics.jsonl") == 60
    assert (out / "curves.png").exists() and load_checkpoint(out / "best.pt")["epoch"] >= 1
