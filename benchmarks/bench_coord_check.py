"""Run time of `nninit coord-check` against `import torch`, and what the
hand-written optimisers save.

    python benchmarks/bench_coord_check.py [--repeat 5]

Goal (issue: coord-check):
  nninit coord-check --widths 64,128,256,512,1024 --steps 5 --seeds 3 (a 4-layer
  MLP, the defaults), whole process   <= 3 x python -c "import torch"

Also printed, not a goal: the same run with --param mup, and the cost of the
first torch.optim optimiser of a process (it imports torch._dynamo), which is
why coord-check steps with nninit_cli.optim instead.
"""

from __future__ import annotations

import argparse

from _harness import NNINIT, PY, medians, report

OPTIM = "import torch; p = torch.zeros(1, requires_grad=True); torch.optim.Adam([p])"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="repetitions per command (median taken)")
    args = ap.parse_args()

    run = [*NNINIT, "coord-check", "--widths", "64,128,256,512,1024", "--steps", "5", "--seeds", "3"]
    t = medians(
        {
            "torch": [PY, "-c", "import torch"],
            "optim": [PY, "-c", OPTIM],
            "sp": run,
            "mup": [*run, "--param", "mup"],
        },
        args.repeat,
    )
    print(
        f"medians of {args.repeat}: import torch {t['torch']:.3f} s, import torch + one torch.optim.Adam "
        f"{t['optim']:.3f} s, coord-check sp {t['sp']:.3f} s, mup {t['mup']:.3f} s"
    )
    print(f"the first torch.optim optimiser costs {t['optim'] - t['torch']:.3f} s (avoided)")
    ratio = t["sp"] / t["torch"]
    return report(
        [
            ("coord-check (defaults) / import torch", ratio, "<= 3", ratio <= 3),
            ("coord-check --param mup / import torch", t["mup"] / t["torch"], "(info)", True),
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
