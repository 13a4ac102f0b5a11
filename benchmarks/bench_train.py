"""Speed of `nninit train` against course-style baselines measured in the same run.

    python benchmarks/bench_train.py [--repeat 5]

Goals (issue: train):
  moons 2-5-1, 1000 epochs: whole process <= 1.0 x seed_style_train.py (which
      evaluates on dev every epoch and saves on every improvement), equal results
  digits MLP (64-256-10, batch 64): training throughput within 1.3 x of a bare
      PyTorch loop doing the same minibatch steps
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _harness import NNINIT, PY, report, wall

HERE = Path(__file__).resolve().parent


def moons(repeat: int) -> tuple[float, float, bool]:
    with tempfile.TemporaryDirectory() as tmp:
        ours, base = [], []
        for i in range(repeat + 1):
            cmd_ours = [*NNINIT, "train", "--epochs", "1000", "--out", f"{tmp}/n{i}", "--json"]
            cmd_base = [PY, str(HERE / "seed_style_train.py"), "1000", f"{tmp}/s{i}"]
            t_ours, t_base = wall(cmd_ours), wall(cmd_base)
            if i:  # the first pair warms the file cache
                ours.append(t_ours)
                base.append(t_base)
        result = json.loads(
            subprocess.run(
                cmd_ours[:-3] + ["--out", f"{tmp}/check", "--json"], capture_output=True, text=True
            ).stdout
        )
        text = subprocess.run(cmd_base[:-1] + [f"{tmp}/scheck"], capture_output=True, text=True).stdout
        score, epoch = re.search(r"best ([0-9.]+) at epoch (\d+)", text).groups()
        equal = (
            result["best"]["epoch"] == int(epoch) and abs(result["best"]["dev_metric"] - float(score)) < 1e-6
        )
        best = result["best"]
        print(f"moons 1000 epochs: nninit best {best['dev_metric']:.5f} at epoch {best['epoch']}, ", end="")
        print(f"baseline best {float(score):.5f} at epoch {epoch}")
    return statistics.median(ours), statistics.median(base), equal


def digits_throughput(epochs: int = 12) -> tuple[float, float]:
    """Samples per second over the median epoch (epoch 1 left out: it pays
    one-off costs), nninit's epochs including their dev evaluation, metrics line
    and checkpointing."""
    import torch
    import torch.nn.functional as F

    from nninit_cli.data.datasets import load_dataset
    from nninit_cli.experiments.train import run_train
    from nninit_cli.model.builder import build_model
    from nninit_cli.specs import train_spec

    spec = train_spec(
        {"dataset": "digits", "hidden": "256", "act": "relu", "init": "kaiming", "lr": 0.1, "epochs": epochs}
    )
    stamps = [time.perf_counter()]
    with tempfile.TemporaryDirectory() as tmp:
        run_train(spec, Path(tmp) / "run", on_epoch=lambda _r: stamps.append(time.perf_counter()))
    ours = statistics.median(b - a for a, b in zip(stamps[1:], stamps[2:], strict=False))

    data = load_dataset("digits", 0)
    model = build_model(spec.net, 64, 10, spec.hidden)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(0)
    laps = []
    for _ in range(epochs):
        t = time.perf_counter()
        order = torch.randperm(len(data.train), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            F.cross_entropy(model(data.train.x[idx]), data.train.y[idx]).backward()
            opt.step()
        laps.append(time.perf_counter() - t)
    bare = statistics.median(laps[1:])
    n = len(data.train)
    return n / ours, n / bare


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="repetitions (median taken)")
    args = ap.parse_args()
    ours, base, equal = moons(args.repeat)
    print(f"medians of {args.repeat}: nninit train {ours:.3f} s, seed-style loop {base:.3f} s")
    import torch

    torch.set_num_threads(1)  # small matmuls: two threads only add jitter to both sides
    runs = [digits_throughput(20) for _ in range(args.repeat)]
    ours_sps = statistics.median(r[0] for r in runs)
    bare_sps = statistics.median(r[1] for r in runs)
    print(f"digits: nninit {ours_sps:,.0f} samples/s (dev evaluated every epoch), bare loop {bare_sps:,.0f}")
    return report(
        [
            ("moons 1000 epochs / seed-style", ours / base, "<= 1.0", ours <= base),
            ("moons results equal (1 = yes)", float(equal), "1", equal),
            ("digits bare / nninit throughput", bare_sps / ours_sps, "<= 1.3", bare_sps / ours_sps <= 1.3),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
