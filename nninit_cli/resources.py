"""Memory a command's flags need, estimated before anything is allocated.

Each experiment's estimate is a few products of its sizes (the tensors it keeps
alive at its peak), made from the validated spec without importing torch.  When
the estimate exceeds what the machine has free, the command stops with exit 2
naming the flag that grew the most beyond its default, instead of swapping for
minutes or being killed by the kernel halfway through writing its files.

The estimates are deliberately on the generous side of what torch really
allocates (they count a float64 copy where statistics are taken, both weight
matrices alive while one layer replaces the next, and so on), and the refusal
leaves a fifth of the free memory as headroom.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

from nninit_cli.errors import SpecError

HEADROOM = 0.8  # plan to use at most this share of the free memory
LIMIT_ENV = "NNINIT_MEMORY_LIMIT"  # e.g. "2G": plan within this much, whatever is free
DTYPE_BYTES = {"float32": 4, "float64": 8, "bfloat16": 2}

# The largest finite value of each dtype nninit offers: a flag whose value (or
# the weights it leads to) lies beyond it overflows to inf before anything runs.
DTYPE_MAX = {
    "float32": 3.4028234663852886e38,
    "float64": 1.7976931348623157e308,
    "bfloat16": 3.3895313892515355e38,
}


@dataclass(frozen=True)
class Estimate:
    """Peak bytes, what they hold (for the message), and the flags that drive
    them as (flag, value as typed, growth beyond the default)."""

    bytes: float
    what: str
    drivers: tuple[tuple[str, object, float], ...]


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available() -> int | None:
    """Room left under a cgroup v2 memory limit (a container's), if any."""
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            limit = fh.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as fh:
            used = int(fh.read().strip())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def parse_size(text: str) -> int:
    """'512M', '2G', '1.5GiB' or a byte count -> bytes."""
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}.get(t[-1:], 1)
    number = t[:-1] if t[-1:] in "KMGT" and t[-1:] else t
    value = float(number) * scale
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return int(value)


def available_bytes() -> int:
    """What this process can plan to allocate: the free memory of the machine
    (or of its container), or NNINIT_MEMORY_LIMIT where that is set."""
    limit = os.environ.get(LIMIT_ENV)
    if limit:
        try:
            return parse_size(limit)
        except ValueError:
            raise SpecError(LIMIT_ENV, f"must be a size such as 512M or 2G, got {limit!r}") from None
    found = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    if not found:
        try:
            found = [os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
        except (ValueError, OSError):  # pragma: no cover - no way to ask: do not refuse
            return 2**62
    return min(found)


def human(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def require(estimate: Estimate) -> None:
    """Refuse (SpecError, exit 2) an estimate beyond the free memory, naming
    the flag that drives it most."""
    have = available_bytes()
    where = f"is allowed by {LIMIT_ENV}" if os.environ.get(LIMIT_ENV) else "is free on this machine"
    if estimate.bytes <= HEADROOM * have:
        return
    flag, value, _ = max(estimate.drivers, key=lambda d: d[2])
    others = [d[0] for d in estimate.drivers if d[0] != flag]
    lower = f"lower {flag}" + (f" (or {', '.join(others)})" if others else "")
    raise SpecError(
        flag,
        f"{value} needs about {human(estimate.bytes)} of memory for {estimate.what}; "
        f"{human(have)} {where}: {lower}",
    )


def _growth(value: float, default: float, power: float = 1.0) -> float:
    return (max(value, 1) / max(default, 1)) ** power


# ---------------------------------------------------------------------------
# The estimates, one per experiment


def widths_text(hidden) -> str:
    """Hidden widths as 256-256 or, for long runs of one width, 64x32."""
    parts: list[str] = []
    i = 0
    while i < len(hidden):
        j = i
        while j < len(hidden) and hidden[j] == hidden[i]:
            j += 1
        n = j - i
        parts.append(f"{hidden[i]}x{n}" if n > 3 else "-".join([str(hidden[i])] * n))
        i = j
    return "-".join(parts)


def _per_layer(net) -> int:
    """Linears per layer: a residual block has `branch_depth` of them."""
    return net.branch_depth if getattr(net, "arch", "mlp") == "resmlp" else 1


def std_trace(net, backward: bool) -> Estimate:
    """Forward-only: the current and the next layer's weights (drawn in
    float32, then cast), QR work for orthogonal-style inits, and the batch's
    activations with their float64 copies.  --backward keeps every layer's
    weights, gradients and activations."""
    w, b, depth = net.width, net.batch_size, net.layers
    e = DTYPE_BYTES[net.dtype]
    cast = 0 if (net.dtype == "float32" and net.device == "cpu") else e
    layer = w * w * (4 + cast)
    qr = 3 * w * w * 4 if net.init in ("orthogonal", "lsuv") else 0
    acts = b * w * (3 * e + 3 * 8) + 3 * 8 * min(b, w) ** 2  # and the input's Gram matrix
    drivers = [("--width", w, _growth(w, 256, 2)), ("--batch-size", b, _growth(b, 16))]
    if not backward:
        return Estimate(2 * layer + qr + acts, f"{w} x {w} weights and a batch of {b}", tuple(drivers))
    kept = depth * _per_layer(net) * (2 * w * w * e + 4 * b * w * e)
    drivers += [("--layers", depth, _growth(depth, 100)), ("--backward", "--backward", 0.0)]
    what = f"{depth} layers of {w} x {w} weights kept for --backward"
    return Estimate(kept + layer + qr + acts, what, tuple(drivers))


def mlp(
    net, in_features: int, hidden: Iterable[int], out_features: int, rows: int, states: int = 2
) -> tuple[float, float]:
    """(parameter bytes, activation bytes) of an MLP: each weight drawn in
    float32 and cast, its gradient and `states` optimiser buffers; the
    activations of `rows` examples through every layer, kept for backward."""
    sizes = [in_features, *hidden, out_features]
    e = DTYPE_BYTES[net.dtype]
    params = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))
    return params * (4 + e * (2 + states)), rows * sum(sizes) * e * 3


def grad_norms(nets) -> Estimate:
    net = nets[0]
    hidden = [net.width] * (net.layers * _per_layer(net) - 1)
    params, acts = mlp(net, 2, hidden, 1, net.batch_size, states=1)
    params += sum(net.width * net.width for _ in hidden)  # ever-nonzero masks, one byte a weight
    drivers = (
        ("--width", net.width, _growth(net.width, 3, 2)),
        ("--layers", net.layers, _growth(net.layers, 5)),
        ("--batch-size", net.batch_size, _growth(net.batch_size, 640)),
    )
    what = f"{net.layers} layers of {net.width} units"
    return Estimate(params + acts, what, drivers)


INIT_COMPARE_STACK_BYTES = 48 * 2**20
"""init-compare stacks at most this much float32 weight in one unit of work.
A constant, not a reading of free memory, so that the units, and with them
every number, are the same on every machine."""


def init_compare_chunk(net) -> int:
    """How many member models of `net`'s shape one init-compare unit stacks."""
    linears = net.layers * _per_layer(net)
    return max(1, INIT_COMPARE_STACK_BYTES // (linears * (net.width**2 + net.width) * 4))


def init_compare(cells, batched: bool, workers: int = 1) -> Estimate:
    """A unit stacks up to `init_compare_chunk` member models of one seed (the
    cells of one activation), drawn into the stack from the seed's bases (a
    Gaussian, a uniform and a Q per layer, kept while the seed's units run),
    and keeps them in the autograd graph of the backward probe.  Each of the
    `workers` processes holds one unit."""
    net = cells[0].net
    w, b, depth = net.width, net.batch_size, net.layers * _per_layer(net)
    e = DTYPE_BYTES[net.dtype]
    group = max(sum(c.shape_key == cells[0].shape_key for c in cells) if batched else 1, 1)
    k = min(group, init_compare_chunk(net))
    kept = depth * k * (w * w * (4 + e) + 3 * b * w * e)
    bases = depth * 3 * w * w * 4  # while a unit draws; only the QRs are kept after
    train = 0.0
    if cells[0].train_epochs:
        params, acts = mlp(net, 2, [w] * (depth - 1), 1, 1000, states=0)
        train = params + acts
    drivers = (
        ("--width", w, _growth(w, 256, 2)),
        ("--layers", net.layers, _growth(depth, 50)),
        ("--workers", workers, _growth(workers, 1)),
        ("--batch-size", b, _growth(b, 16)),
        ("--inits", group, _growth(k, 10) if batched else 0.0),
    )
    what = f"{workers} x {k} stacks of {depth} x {w} x {w} weights at once"
    # each worker process also loads torch and nninit: about 280 MB before any unit
    processes = WORKER_PROCESS_BYTES * workers if workers > 1 else 0
    return Estimate(workers * (kept + bases + train) + processes, what, drivers)


WORKER_PROCESS_BYTES = 280 * 2**20
"""What one spawned worker holds once torch and nninit are imported (measured
275 MB on Linux, torch 2.13 CPU)."""


# features of each training data set (mnist-style: 28 x 28 images, read as bytes then cast)
DATA_FEATURES = {"moons": 2, "circles": 2, "linreg": 200, "digits": 64, "mnist": 784, "fashion-mnist": 784}
DATA_OUTPUTS = {"moons": 1, "circles": 1, "linreg": 1, "digits": 10, "mnist": 10, "fashion-mnist": 10}


def train(spec, totals: dict[str, tuple[int, int, int]]) -> Estimate:
    """The data set in float (and its file's bytes for mnist), the model with
    its optimiser state, and the activations of a batch (the whole training
    set without --batch-size) and of the dev set, evaluated at once."""
    total, train_n, dev_n = totals[spec.dataset]
    train_n = spec.train_size or train_n
    dev_n = spec.dev_size or dev_n
    rows = max(total, train_n + dev_n) + total  # generated or read, then split (test <= total)
    feats = DATA_FEATURES[spec.dataset]
    e = DTYPE_BYTES[spec.net.dtype]
    data = rows * (feats + 1) * (4 + e + 1)
    batch = spec.batch_size or train_n
    params, acts = mlp(spec.net, feats, spec.hidden, DATA_OUTPUTS[spec.dataset], batch)
    widest = max([feats, *spec.hidden, DATA_OUTPUTS[spec.dataset]])
    evaluate = max(dev_n, total) * widest * e * 2
    train_growth = _growth(train_n, totals[spec.dataset][1])
    drivers = [
        ("--hidden", widths_text(spec.hidden) or "none", _growth(max(spec.hidden or (1,)), 256, 2)),
        ("--train-size", train_n, train_growth if spec.batch_size else train_growth**2),
        ("--dev-size", dev_n, _growth(dev_n, totals[spec.dataset][2])),
    ]
    if spec.batch_size:  # else the whole training set is one batch: --train-size drives it
        drivers.append(("--batch-size", batch, _growth(batch, 64)))
    return Estimate(data + params + acts + evaluate, "the data, the model and a batch", tuple(drivers))


def init_hist(samples: int, fan_in: int, fan_out: int, n_inits: int) -> Estimate:
    per = fan_in * fan_out
    drawn = math.ceil(samples / per) * per
    peak = drawn * 4 * 2 + samples * 8 * 2
    drivers = (
        ("--samples", samples, _growth(samples, 10_000)),
        ("--fan-in", fan_in, _growth(fan_in, 100)),
        ("--fan-out", fan_out, _growth(fan_out, 100)),
    )
    return Estimate(peak, f"{max(samples, per)} weights per init", drivers)


def gain(samples: int) -> Estimate:
    return Estimate(samples * 8 * 4, f"{samples} float64 samples", (("--samples", samples, 1.0),))


def coord_check(spec) -> Estimate:
    """One model at a time, the widest: its weights with their gradients,
    Adam's two buffers and the multiplied copies the forward pass makes; the
    activations of a batch kept for backward, and each probed layer's output
    at step 0 (for the change) beside the current one."""
    net, w = spec.net, max(spec.widths)
    feats, outs = DATA_FEATURES[spec.dataset], DATA_OUTPUTS[spec.dataset]
    inner = net.layers * _per_layer(net) if getattr(net, "arch", "mlp") == "resmlp" else net.layers - 2
    params, acts = mlp(net, feats, [w] * (inner + 1), outs, net.batch_size, states=3)
    probes = 2 * (net.layers + 2) * net.batch_size * w * 8
    drivers = (
        ("--widths", ",".join(map(str, spec.widths)), _growth(w, 1024, 2)),
        ("--layers", net.layers, _growth(net.layers, 4)),
        ("--batch-size", net.batch_size, _growth(net.batch_size, 64)),
    )
    return Estimate(params + acts + probes, f"the {w}-wide model and a batch", drivers)
