"""Small, exact statistics in plain Python: least-squares slopes and Student-t
intervals over seeds.  No numpy or scipy, so that every number is the same on
every machine and these stay importable without torch."""

from __future__ import annotations

import math
from collections.abc import Sequence


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The least-squares slope of ys on xs (at least two distinct xs)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx


def loglog_slope(widths: Sequence[int], sizes: Sequence[float]) -> float | None:
    """The slope of log(size) on log(width): the exponent p in size ~ width^p.
    None unless every size is finite and above zero."""
    if not all(math.isfinite(s) and s > 0 for s in sizes):
        return None
    return slope([math.log(w) for w in widths], [math.log(s) for s in sizes])


def t_cdf_two_sided(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with `df` degrees of freedom, exactly
    (Abramowitz & Stegun 26.7.3 and 26.7.4: finite sums for whole df)."""
    t = abs(t)
    theta = math.atan(t / math.sqrt(df))
    c2 = math.cos(theta) ** 2
    if df % 2 == 1:
        total, term = 0.0, math.cos(theta)
        for k in range(1, (df - 1) // 2 + 1):
            total += term
            term *= c2 * (2 * k) / (2 * k + 1)
        value = (2 / math.pi) * (theta + math.sin(theta) * total) if df > 1 else 2 * theta / math.pi
        return min(value, 1.0)  # rounding can pass 1 by an ulp in the far tail
    total, term = 0.0, 1.0
    for k in range(1, df // 2 + 1):
        total += term
        term *= c2 * (2 * k - 1) / (2 * k)
    return min(math.sin(theta) * total, 1.0)


def t_quantile(level: float, df: int) -> float:
    """The t with P(|T| <= t) = level (0.95 gives the 97.5% quantile), by
    bisection on the exact distribution function."""
    lo, hi = 0.0, 1.0
    while t_cdf_two_sided(hi, df) < level:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf_two_sided(mid, df) < level:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * hi:
            break
    return (lo + hi) / 2


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """The mean of `values` and its Student-t confidence interval at `level`
    (the interval is None with fewer than two values)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = t_quantile(level, n - 1) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def pooled_intervals(
    groups: list[list[float]], level: float = 0.95
) -> list[tuple[float, float | None, float | None]]:
    """Each group's mean and its Student-t interval at `level`, with the spread
    pooled over all the groups: s^2 = sum of squared deviations from each
    group's own mean / sum of (n - 1), on that many degrees of freedom.  Where
    the groups share one noise (the seeds of one layer at successive steps),
    pooling turns 2 or 3 values per group into an interval worth reading.
    The intervals are None when no group has two values."""
    df = sum(len(g) - 1 for g in groups if g)
    means = [sum(g) / len(g) for g in groups]
    if df == 0:
        return [(m, None, None) for m in means]
    ss = sum((x - m) ** 2 for g, m in zip(groups, means, strict=True) for x in g)
    s = math.sqrt(ss / df)
    t = t_quantile(level, df)
    return [
        (m, m - t * s / math.sqrt(len(g)), m + t * s / math.sqrt(len(g)))
        for g, m in zip(groups, means, strict=True)
    ]


def sign_test(wins: int, losses: int) -> float:
    """The exact two-sided sign test's p-value for `wins` against `losses`
    (ties dropped): P(a split at least this uneven | a fair coin).  With n
    seeds it cannot go below 2 / 2^n: 0.25 at 3 seeds, 0.0625 at 5."""
    n = wins + losses
    if n == 0:
        return 1.0
    k = min(wins, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
