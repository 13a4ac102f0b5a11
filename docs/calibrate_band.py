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
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict

from nninit_cli import calibration as cal


def _one(cell: cal.Cell) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    return [row.to_dict() for row in cal.run_cell(cell)]


_FIELDS = ("act", "family", "width", "batch", "bias", "arch", "depth", "layer", "seeds", "coverage")
_FIELDS += ("width_ratio", "below")


def _key(d: dict) -> tuple:
    return tuple(d[k] for k in ("act", "family", "width", "batch", "bias", "arch"))


def run(
    out: str, workers: int, archs: tuple[str, ...], widths: tuple[int, ...], first: list[cal.Cell]
) -> None:
    done = set()
    if os.path.exists(out):
        with open(out) as fh:
            done = {_key(json.loads(line)) for line in fh if line.strip()}
    todo = [c for c in cal.matrix(archs) if c.width in widths]
    todo = [c for c in dict.fromkeys([*first, *todo]) if tuple(asdict(c).values()) not in done]
    print(f"{len(todo)} cells to run ({len(done)} already in {out})", file=sys.stderr)
    with ProcessPoolExecutor(workers) as pool, open(out, "a") as fh:
        futures = {pool.submit(_one, c): c for c in todo}
        for i, fut in enumerate(as_completed(futures), 1):
            for row in fut.result():
                fh.write(json.dumps(row) + "\n")
            fh.flush()
            print(f"{i}/{len(todo)} {futures[fut]}", file=sys.stderr, flush=True)


def table(out: str) -> None:
    """Markdown: one row per (arch, activation, init family), pooled over
    every width, batch, bias, depth and layer in --out."""
    with open(out) as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    for r in rows:  # judged by today's rules, whatever the file says
        r.update(cal.Coverage(**{k: r[k] for k in _FIELDS}).to_dict())
    groups = cal.groups(rows)
    print(
        "| arch | act | init | checks | pooled coverage | lowest "
        "| band / seeds' range, median (max) | in window |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for g in groups:
        if g.coverage is None:
            print(f"| {g.arch} | {g.act} | {g.family} | {g.checks} | no band | - | - | 0 |")
            continue
        note = "" if g.banded == g.checks else f" ({g.checks - g.banded} without a band)"
        print(
            f"| {g.arch} | {g.act} | {g.family} | {g.checks}{note} | {g.coverage:.1%} | {g.min_coverage:.0%} "
            f"| {g.median_ratio:.2f} ({g.max_ratio:.2f}) | {g.in_window} | "
        )
    cells = {_key(r) for r in rows}
    widths = sorted({r["width"] for r in rows})
    ok = sum(g.ok for g in groups)
    banded = [r for r in rows if r["coverage"] is not None]
    inside = sum(r["in_window"] for r in banded)
    flagged = sum(not r["ok"] for r in banded)
    mean = sum(r["coverage"] for r in banded) / max(len(banded), 1)
    print(
        f"\n{len(cells)} cells at widths {widths}, {len(rows)} checks, {len(banded)} with a band: "
        f"mean coverage {mean:.1%}, {flagged} below 70%, {inside} ({inside / max(len(banded), 1):.0%}) "
        f"inside the per-check window (a band that is exactly right: about 83%); "
        f"{ok} of {len(groups)} groups pass."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="docs/calibration.jsonl")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--arch", default="mlp,resmlp")
    ap.add_argument("--widths", default="64,256,1024")
    ap.add_argument("--table", action="store_true", help="print the markdown table of --out and stop")
    ap.add_argument(
        "--first",
        default="",
        help="cells to run before the rest, act:family:width:batch:bias:arch, comma-separated",
    )
    args = ap.parse_args()
    if args.table:
        table(args.out)
        return
    first = []
    for spec in filter(None, args.first.split(",")):
        act, family, width, batch, bias, arch = spec.split(":")
        first.append(cal.Cell(act, family, int(width), int(batch), bias, arch))
    widths = tuple(int(w) for w in args.widths.split(","))
    run(args.out, args.workers, tuple(args.arch.split(",")), widths, first)


if __name__ == "__main__":
    main()
