"""Hostile use of every command: bad output paths, numbers that overflow the
dtype, sizes beyond the machine's memory, closed and broken stdout, signals.

Each case asserts the exit code, exactly one line on stderr (none for a reader
that left early), no traceback, and that no file other than the named outputs
changed.  Input files (configs, IDX folders) are in test_hostile_inputs.py and
run folders in test_run_folders.py.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

LONG = "x" * 300 + ".csv"
ROOT = os.geteuid() == 0


def snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under `folder`: file bytes, a link's target, or its kind."""
    out: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            out[rel] = "link->" + os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            out[rel] = path.read_bytes()
        else:
            out[rel] = stat.filemode(st.st_mode)[0]
    return out


def setup_folder(tmp: Path) -> None:
    """What a user's folder holds before each case."""
    (tmp / "keep.csv").write_text("precious\n")
    (tmp / "dir").mkdir()
    (tmp / "folder.png").mkdir()
    (tmp / "link.csv").symlink_to("keep.csv")
    (tmp / "loop.csv").symlink_to("loop.csv")
    (tmp / "my.toml").write_text('act = "relu"\n')


# (argv, expected exit code, a word the stderr line must hold, env)
CASES: list[tuple[list[str], int, str, dict[str, str]]] = [
    # -- output paths: refused before any work, nothing written
    (["std-trace", "--layers", "2", "--csv", "nodir/a.csv"], 2, "--csv", {}),
    (["std-trace", "--layers", "2", "--csv", ""], 2, "--csv", {}),
    (["std-trace", "--layers", "2", "--csv", "dir"], 2, "--csv", {}),
    (["std-trace", "--layers", "2", "--csv", LONG], 2, "too long", {}),
    (["std-trace", "--layers", "2", "--csv", "loop.csv"], 2, "--csv", {}),
    (["std-trace", "--layers", "2", "--csv", "t.png", "--plot", "t.png"], 2, "same file", {}),
    (["std-trace", "--layers", "2", "--csv", "keep.csv", "--plot", "dir/../keep.csv"], 2, "--plot", {}),
    (["std-trace", "--layers", "2", "--csv", "/proc/nninit.csv"], 2, "not writable", {}),
    (["std-trace", "--layers", "2", "--plot", "folder.png"], 2, "--plot", {}),
    (["std-trace", "--layers", "2", "--plot", "out.txt"], 2, "--plot", {}),
    (["grad-norms", "--csv", "nodir/g.csv"], 2, "--csv", {}),
    (["grad-norms", "--plot", "g.csv"], 2, "--plot", {}),
    (["grad-norms", "--csv", "g.png", "--plot", "g.png"], 2, "same file", {}),
    (["init-compare", "--layers", "2", "--csv", "dir"], 2, "--csv", {}),
    (["init-compare", "--layers", "2", "--plot", LONG[:-4] + ".png"], 2, "too long", {}),
    (["train", "--epochs", "1", "--csv", "nodir/t.csv", "--out", "run"], 2, "--csv", {}),
    (["train", "--epochs", "1", "--plot", "folder.png", "--out", "run"], 2, "--plot", {}),
    (["train", "--epochs", "1", "--out", ""], 2, "--out", {}),
    (["train", "--epochs", "1", "--out", "keep.csv"], 2, "--out", {}),
    (["activations", "--plot", "nodir/a.png"], 2, "--plot", {}),
    (["activations", "--plot", "folder.png"], 2, "--plot", {}),
    (["init-hist", "--plot", "h.svgz"], 2, "--plot", {}),
    (["init-hist", "--plot", "/proc/h.png"], 2, "not writable", {}),
    (["std-trace", "--layers", "2", "--config", "my.toml", "--csv", "my.toml"], 2, "same file", {}),
    (["train", "--epochs", "1", "--out", "dir", "--csv", "dir/config.json"], 2, "inside the run folder", {}),
    (["train", "--epochs", "1", "--out", "dir", "--plot", "dir/curves.png"], 2, "inside the run folder", {}),
    (["run", "relu-kaiming", "--config", "std-explode"], 2, "--config", {}),
    # -- finite numbers beyond the dtype
    (["std-trace", "--layers", "2", "--bias", "1e308"], 2, "--bias", {}),
    (["std-trace", "--layers", "2", "--bias", "1e308", "--dtype", "float64"], 2, "float32", {}),
    (["std-trace", "--layers", "2", "--bias", "-1e39", "--dtype", "bfloat16"], 2, "bfloat16", {}),
    (["std-trace", "--layers", "2", "--init", "normal", "--mean", "1e39"], 2, "--mean", {}),
    (["std-trace", "--layers", "2", "--init", "xavier", "--gain", "1e300"], 2, "--gain", {}),
    (["std-trace", "--layers", "2", "--init", "constant", "--value", "-4e38"], 2, "--value", {}),
    (["init-hist", "--init", "uniform", "--high", "1e300"], 2, "--high", {}),
    (["init-hist", "--init", "uniform", "--low", "-1e300"], 2, "--low", {}),
    (["init-hist", "--init", "uniform", "--low", "-3e38", "--high", "3e38"], 2, "--high", {}),
    (["init-hist", "--init", "constant", "--value", "1e300"], 2, "--value", {}),
    (["grad-norms", "--bias", "-1e39"], 2, "--bias", {}),
    (["init-compare", "--layers", "2", "--bias", "1e39"], 2, "--bias", {}),
    (["train", "--epochs", "1", "--bias", "1e39", "--out", "run"], 2, "--bias", {}),
    # -- sizes beyond the machine's memory, refused before allocating
    (["std-trace", "--width", "65536"], 2, "--width", {}),
    (["std-trace", "--width", "20000", "--layers", "1000", "--backward"], 2, "memory", {}),
    (["std-trace", "--width", "8192", "--batch-size", "1000000"], 2, "memory", {}),
    (["std-trace", "--width", "4096", "--layers", "2"], 2, "--width", {"NNINIT_MEMORY_LIMIT": "10M"}),
    (["std-trace", "--layers", "2"], 2, "NNINIT_MEMORY_LIMIT", {"NNINIT_MEMORY_LIMIT": "lots"}),
    (["grad-norms", "--width", "65536", "--layers", "10"], 2, "--width", {}),
    (["init-compare", "--workers", "256"], 2, "--workers", {}),  # memory is flat in --seeds, not in workers
    (["init-compare", "--width", "65536"], 2, "--width", {}),
    (["train", "--hidden", "65536,65536,65536", "--out", "run"], 2, "--hidden", {}),
    (["train", "--train-size", "10000000", "--hidden", "4096", "--out", "run"], 2, "--train-size", {}),
    (["init-hist", "--fan-in", "1000000", "--fan-out", "1000000"], 2, "--fan-", {}),
    (["init-hist", "--samples", "100000000"], 2, "--samples", {"NNINIT_MEMORY_LIMIT": "100M"}),
    (["gain", "--samples", "100000000"], 2, "--samples", {"NNINIT_MEMORY_LIMIT": "100M"}),
    # -- usage errors of every command: one line, exit 2
    ([], 2, "", {}),
    (["--bogus"], 2, "--bogus", {}),
    (["list", "--bogus"], 2, "--bogus", {}),
    (["eval"], 2, "RUN", {}),
    (["eval", ""], 2, "", {}),
    (["run", "nosuch"], 2, "presets", {}),
    (["gain", "--act", "relux"], 2, "--act", {}),
    (["gain", "--samples", "1"], 2, "--samples", {}),
    (["gain", "--repeats", "0"], 2, "--repeats", {}),
    (["activations", "--min", "5", "--max", "1"], 2, "--min", {}),
    (["activations", "--step", "0"], 2, "--step", {}),
    (["activations", "--step", "1e-9"], 2, "--step", {}),
    (["init-hist", "--init", "lsuv"], 2, "--init", {}),
    (["init-hist", "--bins", "0"], 2, "--bins", {}),
    (["grad-norms", "--layers", "1"], 2, "--layers", {}),
    (["grad-norms", "--batch-size", "100000"], 2, "--batch-size", {}),
    (["grad-norms", "--steps", "0"], 2, "--steps", {}),
    (["grad-norms", "--act", ","], 2, "--act", {}),
    (["init-compare", "--inits", "nope"], 2, "--inits", {}),
    (["init-compare", "--seeds", "0"], 2, "--seeds", {}),
    (["std-trace", "--layers", "0"], 2, "--layers", {}),
    (["std-trace", "--layers", "2", "--init", "trunc-normal", "--std", "0"], 2, "--std", {}),
    (["init-compare", "--layers", "2", "--seeds", "2", "--seed", str(2**63 - 1)], 2, "--seed", {}),
    (["std-trace", "--seed", "-1"], 2, "--seed", {}),
    (["std-trace", "--width", "1e3"], 2, "--width", {}),
    (["std-trace", "--std", "nan"], 2, "--std", {}),
    (["std-trace", "--bias", "inf"], 2, "--bias", {}),
    (["std-trace", "--fail-on", "bogus"], 2, "--fail-on", {}),
    (["std-trace", "--no-bias", "--bias", "1"], 2, "--no-bias", {}),
    (["std-trace", "--every", "0"], 2, "--every", {}),
    (["std-trace", "--device", "tpu"], 2, "--device", {}),
    (["std-trace", "--config", "/dev/zero"], 2, "--config", {}),
    (["train", "--epochs", "0", "--out", "run"], 2, "--epochs", {}),
    (["train", "--dataset", "imagenet", "--out", "run"], 2, "--dataset", {}),
    (["train", "--dropout", "1.5", "--out", "run"], 2, "--dropout", {}),
    (["train", "--resume", ""], 2, "--resume", {}),
    # -- a run folder that is not one: exit 1, one line
    (["eval", "nosuch"], 1, "nosuch", {}),
    (["eval", "keep.csv"], 1, "keep.csv", {}),
    (["eval", "dir"], 1, "dir", {}),
    (["train", "--resume", "nosuch"], 1, "nosuch", {}),
]


def _ids() -> list[str]:
    return [" ".join(a)[:60] or "(no args)" for a, *_ in CASES]


@pytest.mark.parametrize(("argv", "code", "word", "env"), CASES, ids=_ids())
def test_hostile_case(cli, tmp_path, monkeypatch, argv, code, word, env):
    setup_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    before = snapshot(tmp_path)
    res = cli(*argv)
    assert res.code == code, res.err
    lines = [line for line in res.err.splitlines() if line.strip()]
    assert len(lines) == 1 or (not argv and "Usage" in res.err), res.err
    assert "Traceback" not in res.err + res.out
    if argv:
        assert lines[0].startswith("nninit: error:"), lines
        assert word in lines[0], lines[0]
    assert res.out == ""
    assert snapshot(tmp_path) == before  # nothing written, nothing replaced


def test_there_are_enough_cases():
    commands = {a[0] for a, *_ in CASES if a and not a[0].startswith("-")}
    assert len(CASES) >= 80
    assert commands >= {
        "std-trace",
        "grad-norms",
        "init-compare",
        "train",
        "eval",
        "gain",
        "activations",
        "init-hist",
        "run",
        "list",
    }


# ---------------------------------------------------------------------------
# What a command may write through, and what it must keep as it is


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="no /dev/null")
def test_a_device_is_written_through_never_replaced(cli):
    res = cli("std-trace", "--layers", "2", "--csv", "/dev/null")
    assert res.code == 0, res.err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_symlink_stays_a_symlink_and_its_target_is_replaced(cli, tmp_path):
    setup_folder(tmp_path)
    res = cli("std-trace", "--layers", "2", "--csv", str(tmp_path / "link.csv"))
    assert res.code == 0, res.err
    assert (tmp_path / "link.csv").is_symlink()
    assert (tmp_path / "keep.csv").read_text().startswith("layer,")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_a_dangling_symlink_creates_its_target(cli, tmp_path):
    (tmp_path / "new.csv").symlink_to("made.csv")
    assert cli("std-trace", "--layers", "2", "--csv", str(tmp_path / "new.csv")).code == 0
    assert (tmp_path / "new.csv").is_symlink() and (tmp_path / "made.csv").is_file()


def test_a_fifo_is_written_through(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    res = run_cli("std-trace", "--layers", "2", "--csv", str(fifo))
    got = reader.communicate(timeout=60)[0]
    assert res.returncode == 0, res.stderr
    assert got.startswith(b"layer,") and stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_socket_is_refused(cli, tmp_path):
    path = tmp_path / "s.csv"
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(path))
        res = cli("std-trace", "--layers", "2", "--csv", str(path))
    finally:
        s.close()
    assert res.code == 2 and "not a regular file" in res.err


@pytest.mark.skipif(ROOT, reason="root may write a read-only file")
def test_a_read_only_file_is_not_replaced(cli, tmp_path):
    path = tmp_path / "ro.csv"
    path.write_text("mine\n")
    path.chmod(0o444)
    res = cli("std-trace", "--layers", "2", "--csv", str(path))
    assert res.code == 2 and path.read_text() == "mine\n"


# ---------------------------------------------------------------------------
# stdout: closed, full, or a reader that leaves; signals at any moment


def run_cli(*args: str, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "nninit_cli", *args], capture_output=True, env=env, timeout=120, **kw
    )


@pytest.mark.parametrize(
    "argv",
    [["std-trace", "--all"], ["std-trace", "--json"], ["list"], ["init-compare", "--layers", "5", "--json"]],
)
def test_a_reader_that_leaves_is_a_clean_end(argv):
    """`nninit ... | head -1`: exit 0, nothing on stderr."""
    p = subprocess.Popen(
        [sys.executable, "-m", "nninit_cli", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=120) == 0, err
    assert err == b""


@pytest.mark.parametrize(
    "argv",
    [
        ["std-trace", "--all", "--fail-on", "nonfinite"],  # tables: the reader leaves mid-way
        ["coord-check", "--widths", "8,16", "--seeds", "1", "--steps", "2", "--fail-on", "vanishes"],
    ],
)
def test_a_reader_that_leaves_does_not_undo_a_held_verdict(argv):
    """`nninit ... --fail-on V | head -1` with V holding: exit 1 and the one
    --fail-on line, as when the whole table is read (a script's pipefail sees it)."""
    p = subprocess.Popen(
        [sys.executable, "-m", "nninit_cli", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 1, err
    assert err.count("\n") == 1 and err.startswith("--fail-on: ") and "held" in err, err


def test_a_closed_stdout_is_one_line_before_any_work(tmp_path):
    csv = tmp_path / "t.csv"
    p = subprocess.run(
        [sys.executable, "-m", "nninit_cli", "std-trace", "--layers", "2", "--csv", str(csv)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=60,
        preexec_fn=lambda: os.close(1),
    )
    assert p.returncode == 2
    assert p.stderr.decode().count("\n") == 1 and b"stdout is closed" in p.stderr
    assert not csv.exists()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("argv", [["std-trace", "--json"], ["std-trace", "--all"], ["list", "--json"]])
def test_a_full_disk_on_stdout_is_one_line(argv):
    with open("/dev/full", "w") as full:
        p = subprocess.run(
            [sys.executable, "-m", "nninit_cli", *argv], stdout=full, stderr=subprocess.PIPE, timeout=60
        )
    err = p.stderr.decode()
    assert p.returncode == 1 and err.count("\n") == 1 and "No space left" in err, err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_a_full_disk_on_a_file_is_one_line():
    p = run_cli("std-trace", "--layers", "2", "--csv", "/dev/full")
    err = p.stderr.decode()
    assert p.returncode == 1 and err.count("\n") == 1 and "/dev/full" in err, err


# std-trace that runs for minutes: 1/sqrt(512) keeps it finite
LONG_RUN = ["std-trace", "--layers", "100000", "--width", "512", "--std", "0.0442"]


@pytest.mark.parametrize(
    ("delay", "sig"),
    [
        (0.05, signal.SIGINT),
        (0.2, signal.SIGTERM),
        (0.35, signal.SIGINT),
        (0.5, signal.SIGTERM),
        (0.7, signal.SIGINT),
        (0.9, signal.SIGTERM),
        (1.2, signal.SIGINT),
        (2.5, signal.SIGTERM),
    ],
)
def test_a_signal_at_any_moment_is_exit_130_in_one_line(tmp_path, delay, sig):
    """From the first import to the middle of the work: never swallowed (the
    run would go on), never an abort, never a traceback; the named output that
    existed keeps its bytes."""
    keep = tmp_path / "keep.csv"
    keep.write_text("precious\n")
    p = subprocess.Popen(
        [sys.executable, "-m", "nninit_cli", *LONG_RUN, "--csv", str(keep)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    time.sleep(delay)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert err.decode().strip() == "nninit: interrupted"
    assert keep.read_text() == "precious\n"
    assert sorted(os.listdir(tmp_path)) == ["keep.csv"]


def test_json_keeps_stdout_for_the_json_alone(tmp_path):
    p = run_cli("std-trace", "--layers", "2", "--json", "--csv", "/dev/stdout")
    assert p.returncode == 2 and b"--json keeps" in p.stderr and p.stdout == b""
    p = run_cli("std-trace", "--layers", "2", "--csv", "/dev/stdout")  # without --json: written through
    assert p.returncode == 0 and p.stdout.startswith(b"layer,")


def test_resume_refuses_a_log_that_is_a_fifo(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "--epochs", "2", "--out", str(run)).returncode == 0
    (run / "metrics.jsonl").unlink()
    os.mkfifo(run / "metrics.jsonl")
    p = run_cli("train", "--resume", str(run), "--epochs", "3")
    err = p.stderr.decode()
    assert p.returncode == 1 and err.count("\n") == 1 and "not a regular file" in err, err
