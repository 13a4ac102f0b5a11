"""Shared helpers: run the CLI in-process or as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest

from nninit_cli.cli import main


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def json(self) -> dict:
        return json.loads(self.out)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module: small matmuls gain nothing from two, and
    two threads on a busy machine spin-wait tens of times slower.  Restored
    afterwards.  A module asks for it with
    `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def cli(capsys):
    """Run `nninit ARGS...` in this process; returns exit code, stdout, stderr."""

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 0
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def run_subprocess(*args: str, env: dict | None = None, timeout: float = 120) -> CliResult:
    """`python -m nninit_cli ARGS...` as a separate process."""
    full_env = {**os.environ, **(env or {})}
    p = subprocess.run(
        [sys.executable, "-m", "nninit_cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    return CliResult(p.returncode, p.stdout, p.stderr)


def pytest_addoption(parser):
    parser.addoption(
        "--calibration",
        action="store_true",
        help="also run the whole band calibration matrix (hours; see docs/calibrate_band.py)",
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--calibration"):
        return
    skip = pytest.mark.skip(reason="the full calibration matrix takes hours: pytest --calibration")
    for item in items:
        if "calibration" in item.keywords:
            item.add_marker(skip)
