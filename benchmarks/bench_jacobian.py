"""`nninit jacobian --layers 32 --width 256`, whole process, against a bare script.

    python benchmarks/bench_jacobian.py [--repeat 7]

Goal (issue: criticality):
  nninit jacobian --layers 32 --width 256   <= 2 x a bare script that imports torch,
  builds the same stack (32 Linear(256, 256, bias=False), N(0, 1/256) weights,
  the default linear activation), and takes torch.func.jacrev and svdvals at the
  same 4 inputs.
"""

from __future__ import annotations

import argparse
import sys

from _harness import NNINIT, PY, medians, report

BARE = """
import torch
from torch import nn
from torch.func import jacrev
layers = [nn.Linear(256, 256, bias=False) for _ in range(32)]
for fc in layers:
    nn.init.kaiming_normal_(fc.weight, nonlinearity="linear")
model = nn.Sequential(*layers).requires_grad_(False)
x = torch.randn(4, 256)
for xi in x:
    s = torch.linalg.svdvals(jacrev(model)(xi).double())
    print(float((s**2).mean()), float((s**2).var() / (s**2).mean() ** 2))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="repetitions per command (median taken)")
    args = ap.parse_args()
    t = medians(
        {
            "bare": [PY, "-c", BARE],
            "nninit": [*NNINIT, "jacobian", "--layers", "32", "--width", "256"],
        },
        args.repeat,
    )
    ratio = t["nninit"] / t["bare"]
    print(f"medians of {args.repeat}: bare jacrev script {t['bare']:.3f} s, nninit {t['nninit']:.3f} s")
    return report([("jacobian 32x256 / bare jacrev script", ratio, "<= 2", ratio <= 2.0)])


if __name__ == "__main__":
    sys.exit(main())
