"""init-compare batched against --no-batch and against drawing the weights alone.

    python benchmarks/bench_init_compare.py [--repeat 3]

Goals (issue: init-compare), 9 inits x 3 acts x 5 seeds, 50 layers x 256,
forward and backward:
  batched run          at least 2 x faster than --no-batch
  batched run          <= 1.5 x generating the same weights alone (the irreducible part)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace

from _harness import report

from nninit_cli.experiments.init_compare import run_cells
from nninit_cli.model.builder import build, materialise
from nninit_cli.specs import init_compare_spec

INITS = "zeros,normal,uniform,xavier-uniform,xavier-normal,kaiming-normal,kaiming-uniform,orthogonal,lsuv"


def draw_only(cells) -> None:
    """Every weight the grid uses, drawn exactly as the probe draws them."""
    for net in (replace(c.net, seed=s) for c in cells for s in c.seeds):
        materialise(build(net), net)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="repetitions (median taken)")
    args = ap.parse_args()
    spec = init_compare_spec(
        {"inits": INITS, "acts": "linear,relu,tanh", "seeds": 5, "layers": 50, "width": 256}
    )
    cells = list(spec.cells)
    run_cells(cells, True)  # warm up: first touch of the large buffers
    times: dict[str, list[float]] = {"batched": [], "plain": [], "draw": []}
    for _ in range(args.repeat):
        times["batched"].append(timed(lambda: run_cells(cells, True)))
        times["plain"].append(timed(lambda: run_cells(cells, False)))
        times["draw"].append(timed(lambda: draw_only(cells)))
    t = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"medians of {args.repeat}, {len(cells)} cells x 5 seeds: batched {t['batched']:.2f} s, "
        f"--no-batch {t['plain']:.2f} s, drawing the weights alone {t['draw']:.2f} s"
    )
    return report(
        [
            ("--no-batch / batched", t["plain"] / t["batched"], ">= 2", t["plain"] / t["batched"] >= 2),
            (
                "batched / drawing weights",
                t["batched"] / t["draw"],
                "<= 1.5",
                t["batched"] / t["draw"] <= 1.5,
            ),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
