"""Timing helpers shared by the benchmark scripts.

Machines here are noisy, so every figure is a ratio against a baseline measured
in the same run, each the median of several interleaved repetitions.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

PY = sys.executable
NNINIT = [PY, "-m", "nninit_cli"]

# A fresh wrapper process per measurement, so ru_maxrss is just that child's peak.
_RSS = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - t


def medians(cmds: dict[str, list[str]], repeat: int) -> dict[str, float]:
    """Median wall time of each command, runs interleaved so drift hits all alike."""
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for cmd in cmds.values():  # warm the file cache once
        wall(cmd)
    for _ in range(repeat):
        for name, cmd in cmds.items():
            times[name].append(wall(cmd))
    return {k: statistics.median(v) for k, v in times.items()}


def peak_rss_mb(cmd: list[str]) -> float:
    out = subprocess.run([PY, "-c", _RSS, *cmd], capture_output=True, text=True, check=True)
    return int(out.stdout.strip()) / 1024


def report(rows: list[tuple[str, float, str, bool]]) -> int:
    """Print name, measured figure, goal, verdict; return 1 if a goal was missed."""
    width = max(len(r[0]) for r in rows)
    for name, value, goal, ok in rows:
        print(f"{name:<{width}}  {value:8.3f}   goal {goal:<12} {'ok' if ok else 'MISSED'}")
    return 0 if all(r[3] for r in rows) else 1
