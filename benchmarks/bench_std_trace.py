"""Start-up, run time and memory of `nninit std-trace` against `import torch`.

    python benchmarks/bench_std_trace.py [--repeat 7]

Goals (issue: foundation and std-trace):
  nninit --help                       <= 0.25 x python -c "import torch"
  nninit std-trace (defaults)         <= 1.2  x python -c "import torch"
  std-trace --layers 1000 --width 1024: peak RSS <= 200 MB above import torch
"""

from __future__ import annotations

import argparse
import sys

from _harness import NNINIT, PY, medians, peak_rss_mb, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="repetitions per command (median taken)")
    args = ap.parse_args()

    base = [PY, "-c", "import torch"]
    t = medians(
        {"torch": base, "help": [*NNINIT, "--help"], "std-trace": [*NNINIT, "std-trace"]},
        args.repeat,
    )
    print(
        f"medians of {args.repeat}: import torch {t['torch']:.3f} s, "
        f"nninit --help {t['help']:.3f} s, nninit std-trace {t['std-trace']:.3f} s"
    )

    deep = [*NNINIT, "std-trace", "--layers", "1000", "--width", "1024"]
    deep_stable = [*deep, "--std", "0.03125"]  # 1/sqrt(1024): all 1000 layers run
    rss_base = peak_rss_mb(base)
    rss_deep = peak_rss_mb(deep)
    rss_stable = peak_rss_mb(deep_stable)
    print(
        f"peak RSS: import torch {rss_base:.0f} MB, --layers 1000 --width 1024 {rss_deep:.0f} MB "
        f"(stops at the overflow), same with --std 0.03125 {rss_stable:.0f} MB (all 1000 layers)"
    )

    return report(
        [
            ("help / import torch", t["help"] / t["torch"], "<= 0.25", t["help"] / t["torch"] <= 0.25),
            (
                "std-trace / import torch",
                t["std-trace"] / t["torch"],
                "<= 1.2",
                t["std-trace"] / t["torch"] <= 1.2,
            ),
            ("RSS above torch, 1000x1024 (MB)", rss_deep - rss_base, "<= 200", rss_deep - rss_base <= 200),
            (
                "RSS above torch, 1000x1024 all layers (MB)",
                rss_stable - rss_base,
                "<= 200",
                rss_stable - rss_base <= 200,
            ),
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
