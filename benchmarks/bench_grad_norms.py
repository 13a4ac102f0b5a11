"""Speed of `nninit grad-norms` against baselines measured in the same run.

    python benchmarks/bench_grad_norms.py [--repeat 7]

Goals (issue: grad-norms):
  nninit grad-norms (defaults)            whole process <= 1.2 x python -c "import torch"
  nninit grad-norms --steps 20            whole process <= 1.0 x seed_style_grad_norms.py 20
  --layers 50 --width 256 --steps 20      time per step <= 1.5 x a bare PyTorch loop
                                          doing the same forward / backward / step
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _harness import NNINIT, PY, medians, report

HERE = Path(__file__).resolve().parent


def _per_step_nninit(layers: int, width: int, steps: int) -> float:
    from nninit_cli.experiments.grad_norms import run_grad_norms
    from nninit_cli.specs import grad_norms_spec

    def timed(n: int) -> float:
        spec = grad_norms_spec({"layers": layers, "width": width, "steps": n})
        t = time.perf_counter()
        run_grad_norms(spec)
        return time.perf_counter() - t

    # the difference cancels the fixed costs (data, building, the final evaluation)
    return (timed(steps + 2) - timed(2)) / steps


def _per_step_bare(layers: int, width: int, steps: int) -> float:
    import torch
    import torch.nn.functional as F
    from torch import nn

    from nninit_cli.data.datasets import load_dataset

    data = load_dataset("moons", 0)

    def timed(n: int) -> float:
        sizes = [2] + [width] * (layers - 1) + [1]
        mods: list[nn.Module] = []
        for i in range(layers):
            fc = nn.Linear(sizes[i], sizes[i + 1])
            nn.init.normal_(fc.weight, 0.0, 0.01)
            nn.init.constant_(fc.bias, 1.0)
            mods += [fc, nn.Sigmoid()] if i < layers - 1 else [fc]
        model = nn.Sequential(*mods)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        t = time.perf_counter()
        for _ in range(n):
            opt.zero_grad()
            F.binary_cross_entropy_with_logits(model(data.train.x), data.train.y).backward()
            opt.step()
        return time.perf_counter() - t

    return (timed(steps + 2) - timed(2)) / steps


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="repetitions (median taken)")
    args = ap.parse_args()

    t = medians(
        {
            "torch": [PY, "-c", "import torch"],
            "defaults": [*NNINIT, "grad-norms"],
            "steps20": [*NNINIT, "grad-norms", "--steps", "20"],
            "seed20": [PY, str(HERE / "seed_style_grad_norms.py"), "20"],
        },
        args.repeat,
    )
    print(
        f"medians of {args.repeat}: import torch {t['torch']:.3f} s, grad-norms {t['defaults']:.3f} s, "
        f"grad-norms --steps 20 {t['steps20']:.3f} s, seed-style script 20 steps {t['seed20']:.3f} s"
    )
    ours = statistics.median(_per_step_nninit(50, 256, 20) for _ in range(args.repeat))
    bare = statistics.median(_per_step_bare(50, 256, 20) for _ in range(args.repeat))
    print(f"50 x 256, per step: nninit {1e3 * ours:.1f} ms, bare loop {1e3 * bare:.1f} ms")
    return report(
        [
            (
                "grad-norms / import torch",
                t["defaults"] / t["torch"],
                "<= 1.2",
                t["defaults"] / t["torch"] <= 1.2,
            ),
            (
                "--steps 20 / seed-style script",
                t["steps20"] / t["seed20"],
                "<= 1.0",
                t["steps20"] <= t["seed20"],
            ),
            ("50x256 per step / bare loop", ours / bare, "<= 1.5", ours / bare <= 1.5),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
