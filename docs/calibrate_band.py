"""Run std-trace's band calibration matrix and write the README's table.

    python docs/calibrate_band.py --out docs/calibration.jsonl --workers 2
    python docs/calibrate_band.py --out docs/calibration.jsonl --table

The matrix (nninit_cli.calibration) is 10 activations x 3 init families x
3 widths x 3 batches x 2 biases x 2 architectures, 40 seeds per cell, two
depths per run: hours of CPU.  Results are appended one cell at a time, and a
rerun skips the cells already in --out, so it can be stopped and resumed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict

from nninit_cli import calibration as cal


def _one(cell: cal.Cell) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    return [row.to_dict() for row in cal.run_cell(cell)]


def _key(d: dict) -> tuple:
    return tuple(d[k] for k in ("act", "family", "width", "batch", "bias", "arch"))


def run(out: str, workers: int, archs: tuple[str, ...], widths: tuple[int, ...]) -> None:
    done = set()
    if os.path.exists(out):
        with open(out) as fh:
            done = {_key(json.loads(line)) for line in fh if line.strip()}
    todo = [c for c in cal.matrix(archs) if c.width in widths and tuple(asdict(c).values()) not in done]
    print(f"{len(todo)} cells to run ({len(done)} already in {out})", file=sys.stderr)
    with ProcessPoolExecutor(workers) as pool, open(out, "a") as fh:
        futures = {pool.submit(_one, c): c for c in todo}
        for i, fut in enumerate(as_completed(futures), 1):
            for row in fut.result():
                fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(f"{i}/{len(todo)} {futures[fut]}", file=sys.stderr, flush=True)


def table(out: str) -> None:
    """Markdown: per (arch, activation, family) the cells within range, the
    lowest and highest coverage and the widest band ratio, over widths,
    batches, biases, depths and both layers."""
    with open(out) as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["arch"], r["act"], r["family"])].append(r)
    print("| arch | activation | init | checks in range | coverage min-max | widest band / range |")
    print("|---|---|---|---|---|---|")
    for (arch, act, fam), rs in sorted(groups.items()):
        banded = [r for r in rs if r["coverage"] is not None]
        ok = sum(r["ok"] for r in rs)
        if not banded:
            print(f"| {arch} | {act} | {fam} | 0 / {len(rs)} | no band | - |")
            continue
        cov = [r["coverage"] for r in banded]
        ratio = max((r["width_ratio"] for r in banded if r["width_ratio"] is not None), default=float("nan"))
        print(f"| {arch} | {act} | {fam} | {ok} / {len(rs)} | {min(cov):.0%}-{max(cov):.0%} | {ratio:.2f} |")
    total = sum(r["ok"] for r in rows)
    print(f"\n{total} of {len(rows)} checks in range ({len({_key(r) for r in rows})} cells).")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/calibration.jsonl")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--arch", default="mlp,resmlp")
    ap.add_argument("--widths", default="64,256,1024")
    ap.add_argument("--table", action="store_true", help="print the markdown table of --out and stop")
    args = ap.parse_args()
    if args.table:
        table(args.out)
        return
    run(args.out, args.workers, tuple(args.arch.split(",")), tuple(int(w) for w in args.widths.split(",")))


if __name__ == "__main__":
    main()
