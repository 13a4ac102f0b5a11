"""init-compare's default grid against `import torch`, and --workers 2 against 1.

    python benchmarks/bench_init_compare.py [--repeat 3] [--skip-workers]

Goals (issue: init-compare at scale), each process timed whole:
  10 inits x 3 acts x 5 seeds at 50 x 256          <= 2.5 x python -c "import torch"
  the same grid: peak RSS                          <= 300 MB above import torch
  --train-epochs 200, 10 inits x 2 acts x 3 seeds: --workers 2 at least 1.7 x faster
                                                   than --workers 1 (on 2 cores)
"""

from __future__ import annotations

import argparse
import os
import sys

from _harness import NNINIT, PY, medians, peak_rss_mb, report

GRID = ["init-compare", "--acts", "linear,relu,tanh", "--seeds", "5", "--layers", "50", "--width", "256"]
GRID += ["--json"]
TRAIN = ["init-compare", "--acts", "relu,tanh", "--seeds", "3", "--train-epochs", "200", "--json"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="repetitions (median taken)")
    ap.add_argument("--skip-workers", action="store_true", help="leave out the --workers comparison")
    ap.add_argument(
        "--train-shape",
        default="50x256",
        help="LAYERSxWIDTH of the training grid (the goal's 50x256 trains ~20 s a unit, 20 min in all)",
    )
    args = ap.parse_args()
    base = [PY, "-c", "import torch"]
    t = medians({"torch": base, "grid": [*NNINIT, *GRID]}, args.repeat)
    rss_base, rss_grid = peak_rss_mb(base), peak_rss_mb([*NNINIT, *GRID])
    print(
        f"medians of {args.repeat}: import torch {t['torch']:.2f} s, default grid {t['grid']:.2f} s; "
        f"peak RSS {rss_base:.0f} MB and {rss_grid:.0f} MB; {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    rows = [
        ("grid / import torch", t["grid"] / t["torch"], "<= 2.5", t["grid"] / t["torch"] <= 2.5),
        ("grid RSS over torch, MB", rss_grid - rss_base, "<= 300", rss_grid - rss_base <= 300),
    ]
    if not args.skip_workers:
        layers, width = args.train_shape.split("x")
        train = [*NNINIT, *TRAIN, "--layers", layers, "--width", width]
        w = medians(
            {"one": [*train, "--workers", "1"], "two": [*train, "--workers", "2"]},
            max(1, args.repeat - 1),
        )
        print(
            f"--train-epochs 200 grid at {args.train_shape}: --workers 1 {w['one']:.2f} s, "
            f"--workers 2 {w['two']:.2f} s"
        )
        rows.append(("workers 1 / workers 2", w["one"] / w["two"], ">= 1.7", w["one"] / w["two"] >= 1.7))
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
