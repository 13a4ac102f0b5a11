"""Run time of `nninit phase` on a 40 x 40 theory grid against `import torch`.

    python benchmarks/bench_phase.py [--repeat 7]

Goal (issue: criticality):
  nninit phase --sigma-w2 1:4:40 --sigma-b2 0:2:40 --json (tanh, 1600 cells,
  no --measure), whole process   <= 0.5 x python -c "import torch"

The theory is numpy only and this path never imports torch (tests/test_phase.py
checks that with -X importtime); also printed, not a goal: `nninit list`, the
floor of any nninit process, and the same grid with --plot.
"""

from __future__ import annotations

import argparse
import os
import tempfile

from _harness import NNINIT, PY, medians, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="repetitions per command (median taken)")
    args = ap.parse_args()

    grid = [*NNINIT, "phase", "--sigma-w2", "1:4:40", "--sigma-b2", "0:2:40", "--json"]
    with tempfile.TemporaryDirectory() as tmp:
        t = medians(
            {
                "torch": [PY, "-c", "import torch"],
                "list": [*NNINIT, "list"],
                "grid": grid,
                "plot": [*grid, "--plot", os.path.join(tmp, "phase.png")],
            },
            args.repeat,
        )
    print(
        f"medians of {args.repeat}: import torch {t['torch']:.3f} s, nninit list {t['list']:.3f} s, "
        f"phase 40 x 40 {t['grid']:.3f} s, with --plot {t['plot']:.3f} s"
    )
    ratio = t["grid"] / t["torch"]
    return report(
        [
            ("phase 40 x 40 theory / import torch", ratio, "<= 0.5", ratio <= 0.5),
            ("phase 40 x 40 --plot / import torch", t["plot"] / t["torch"], "(info)", True),
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
