"""Speed of `nninit grad-norms --arch resmlp` against a bare PyTorch loop
measured in the same run.

    python benchmarks/bench_resmlp.py [--repeat 3] [--steps 6] [--batch-size 640]

Goal (issue: one network, one probe):
  --arch resmlp --layers 64 --width 512   time per step <= 1.3 x a bare PyTorch loop
                                          on the same model shape (stem, 64 blocks
                                          x + alpha * fc2(relu(fc1(x))), head) and
                                          the same batch: forward, backward, every
                                          parameter's gradient norm, SGD step

A step is timed from one training forward pass to the next (a forward pre-hook
on the whole model stamps each), so building the model, drawing its 33 M
weights and the final evaluation stay out of it; the figure is the median
step of --repeat interleaved runs of each.  The batch is grad-norms' default,
the whole training set (640); --batch-size 64 shows the per-step work that
does not grow with the batch.  Both sides run on one thread (a shared
machine's second core only adds jitter).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable

from _harness import report

BLOCKS, WIDTH = 64, 512
FLAGS = {
    "arch": "resmlp",
    "layers": BLOCKS,
    "width": WIDTH,
    "act": "relu",
    "init": "kaiming-normal",
    "bias": 0.0,
    "residual_scale": "invsqrt",  # finite all the way: alpha 1 overflows after a step
}


def _step_times(run: Callable[[], None]) -> list[float]:
    """Seconds between consecutive training forward passes of the whole model
    while `run` runs: one step each (forward, backward, norms, update)."""
    import torch
    from torch import nn

    from nninit_cli.model.builder import ResMLP

    stamps: list[float] = []

    def stamp(module: nn.Module, _args: tuple) -> None:
        if isinstance(module, ResMLP | nn.Sequential) and torch.is_grad_enabled():
            stamps.append(time.perf_counter())

    handle = nn.modules.module.register_module_forward_pre_hook(stamp)
    try:
        run()
    finally:
        handle.remove()
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def _steps_nninit(steps: int, batch: int) -> list[float]:
    from nninit_cli.experiments.grad_norms import run_grad_norms
    from nninit_cli.specs import grad_norms_spec

    spec = grad_norms_spec({**FLAGS, "batch_size": batch, "steps": steps + 1})
    return _step_times(lambda: run_grad_norms(spec))


def _steps_bare(steps: int, batch: int) -> list[float]:
    import torch
    import torch.nn.functional as F
    from torch import nn

    from nninit_cli.data.datasets import load_dataset

    data = load_dataset("moons", 0)
    alpha = 1 / math.sqrt(BLOCKS)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc1, self.fc2 = nn.Linear(WIDTH, WIDTH), nn.Linear(WIDTH, WIDTH)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + alpha * self.fc2(F.relu(self.fc1(x)))

    model = nn.Sequential(nn.Linear(2, WIDTH), *(Block() for _ in range(BLOCKS)), nn.Linear(WIDTH, 1))
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def run() -> None:
        for step in range(steps + 1):
            idx = torch.arange(step * batch, (step + 1) * batch) % len(data.train)
            x, y = data.train.x[idx], data.train.y[idx]
            opt.zero_grad()
            loss = F.binary_cross_entropy_with_logits(model(x), y)
            loss.backward()
            torch.stack([p.grad.norm() for p in model.parameters()]).tolist()
            loss.item()
            opt.step()

    return _step_times(run)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of each (median step taken)")
    ap.add_argument("--steps", type=int, default=6, help="steps timed per run")
    ap.add_argument("--batch-size", type=int, default=640, help="examples per step (grad-norms: 640)")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    ours: list[float] = []
    bare: list[float] = []
    for _ in range(args.repeat):  # interleaved, so drift hits both alike
        ours += _steps_nninit(args.steps, args.batch_size)
        bare += _steps_bare(args.steps, args.batch_size)
    a, b = statistics.median(ours), statistics.median(bare)
    print(
        f"resmlp {BLOCKS} x {WIDTH}, batch {args.batch_size}, median step of {len(ours)}: "
        f"nninit grad-norms {1e3 * a:.1f} ms, bare loop {1e3 * b:.1f} ms"
    )
    return report([(f"resmlp {BLOCKS}x{WIDTH} per step / bare loop", a / b, "<= 1.3", a / b <= 1.3)])


if __name__ == "__main__":
    sys.exit(main())
