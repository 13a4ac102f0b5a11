"""What the periodic last.pt costs `nninit train`, measured in the same run.

    python benchmarks/bench_checkpoint.py [--repeat 5] [--epochs 200]

A run rewrites best.pt and last.pt (model, optimiser, random streams, best
weights) every --log-every epochs, and last.pt at least every
CHECKPOINT_SECONDS, so a run killed outright (SIGKILL) loses at most that much;
a write waits until the run has trained SAVE_SPACING (50) times as long as the
previous write took.  Each figure is the time per epoch of a run with those
periodic writes over one without them (= throughput without / with), on the
digits MLP (64-256-10, batch 64, one thread): the mean epoch of each run
(epoch 1 left out; a mean, since a median would hide the epochs that write),
runs interleaved, the median of --repeat ratios.

Goal (issue: hostile use): under 5% of digits throughput, at the default
--log-every (50) and at 5 and 1 (where the spacing rule is what holds it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _harness import report


def epoch_seconds(log_every: int, periodic: bool, epochs: int) -> float:
    from nninit_cli.experiments.train import run_train
    from nninit_cli.specs import train_spec

    spec = train_spec(
        {
            "dataset": "digits",
            "hidden": "256",
            "act": "relu",
            "init": "kaiming",
            "lr": 0.1,
            "epochs": epochs,
            "log_every": log_every,
        }
    )
    stamps = [time.perf_counter()]
    with tempfile.TemporaryDirectory() as tmp:
        run_train(
            spec, Path(tmp) / "run", periodic=periodic, on_epoch=lambda _r: stamps.append(time.perf_counter())
        )
    return (stamps[-1] - stamps[1]) / (len(stamps) - 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="repetitions (median taken)")
    ap.add_argument("--epochs", type=int, default=200, help="epochs per run")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)  # small matmuls: a second thread only adds jitter
    rows = []
    for log_every in (50, 5, 1):
        ratios = []
        for _ in range(args.repeat):
            without = epoch_seconds(log_every, False, args.epochs)
            with_ckpt = epoch_seconds(log_every, True, args.epochs)
            ratios.append(with_ckpt / without)  # = throughput without / throughput with
        ratio = statistics.median(ratios)
        print(
            f"--log-every {log_every:>2}: periodic checkpoints cost {100 * (ratio - 1):+.1f}% of throughput"
        )
        rows.append((f"digits, --log-every {log_every}: with / without", ratio, "<= 1.05", ratio <= 1.05))
    return report(rows)


if __name__ == "__main__":
    sys.exit(main())
