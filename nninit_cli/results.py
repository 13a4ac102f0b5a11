"""Result records: plain dataclasses of Python floats, and their JSON form.

A result never holds a tensor.  Non-finite numbers stay as float nan/inf here;
the JSON renderer turns them into null and lists where they were, so a script
can tell "overflowed" from "not measured" (see `render.json_out`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STD_TRACE_VERDICTS = ("stable", "exploding", "vanishing", "nonfinite", "dead", "saturated")


@dataclass(frozen=True)
class LayerStats:
    """One Linear layer of a std trace (layer 1 is the first Linear).

    mean, std: of the layer's output, after the activation, over batch x units.
    pre_std: std of the pre-activation (W x + b).
    zero_frac: fraction of outputs exactly 0.0.
    saturated_frac: fraction in the flat tails (tanh, sigmoid), None elsewhere.
    predicted_std: infinite-width mean-field std; None where the theory does not apply.
    predicted_band: [lo, hi] holding 90% of finite-width runs at this width and batch.
    grad_std: std of the gradient reaching this layer's output (--backward).
    weight_grad_norm: L2 norm of this layer's weight gradient (--backward).
    corr: mean cosine between the batch's examples' pre-activations (over
    distinct pairs); None with one example.
    predicted_corr: the c-map's cosine from the input's (`correlations`).
    """

    layer: int
    mean: float
    std: float
    pre_std: float
    zero_frac: float
    saturated_frac: float | None
    predicted_std: float | None
    predicted_band: tuple[float, float] | None
    grad_std: float | None = None
    weight_grad_norm: float | None = None
    corr: float | None = None
    predicted_corr: float | None = None


@dataclass(frozen=True)
class BlockStats:
    """One residual block of a std trace (block 1 is the first).

    mean, std: of the stream after the block (after the post-norm, if any).
    branch_std: std of what the branch added (alpha * gate * branch(x)).
    branch_ratio: branch_std / the std of the stream the block received.
    sq_mean: the stream's average over units of the squared batch mean, the
    statistic that exposes mean drift (Brock, De & Smith 2021).
    zero_frac, saturated_frac: of the branch's activations (the worst one).
    predicted_std, predicted_band: the stream's infinite-width std and the band
    holding 90% of runs at this width and batch (None where theory has none).
    grad_std: std of the gradient reaching the stream after this block (--backward).
    weight_grad_norm: L2 norm of the branch's weight gradients together (--backward).
    corr, predicted_corr: mean cosine between the examples' streams after
    the block, measured and from the theory (None where it has none).
    """

    block: int
    mean: float
    std: float
    branch_std: float
    branch_ratio: float | None
    sq_mean: float
    zero_frac: float
    saturated_frac: float | None
    predicted_std: float | None
    predicted_band: tuple[float, float] | None
    grad_std: float | None = None
    weight_grad_norm: float | None = None
    corr: float | None = None
    predicted_corr: float | None = None


@dataclass(frozen=True)
class StdTraceResult:
    """Signal propagation through a stack, layer by layer.

    first_nonfinite_layer: the first layer whose outputs hold inf or nan; the
    trace stops there, as the seed experiment does.  std_ratio is final/input std.
    """

    config: dict[str, Any]
    input_std: float
    layers: list[LayerStats] | list[BlockStats]
    first_nonfinite_layer: int | None
    final_std: float
    std_ratio: float
    verdict: str
    verdicts: list[str]
    backward: bool = False
    # the theory's std for every layer of the stack, also past a non-finite stop
    predicted_all: list[float | None] = field(default_factory=list, repr=False)
    input_corr: float | None = None  # the input rows' mean pairwise cosine (None: one row)
    predicted_corr_note: str | None = None  # why predicted_corr is None, where it is

    def to_dict(self) -> dict[str, Any]:
        layers = []
        for row in self.layers:
            d = asdict(row)
            d["predicted_band"] = list(row.predicted_band) if row.predicted_band else None
            if not self.backward:
                del d["grad_std"], d["weight_grad_norm"]
            layers.append(d)
        rows = "blocks" if self.layers and isinstance(self.layers[0], BlockStats) else "layers"
        return {
            "input_std": self.input_std,
            "final_std": self.final_std,
            "std_ratio": self.std_ratio,
            "first_nonfinite_layer": self.first_nonfinite_layer,
            "layers_run": len(self.layers),
            "verdict": self.verdict,
            "verdicts": self.verdicts,
            "input_corr": self.input_corr,
            "predicted_corr_note": self.predicted_corr_note,
            rows: layers,
        }


@dataclass(frozen=True)
class ParamGrads:
    """One parameter's gradient over the recorded steps.

    grad_norm is the L2 norm at step 1; None means the parameter received no
    gradient at all (it took no part in the loss), which is not the same as 0.0.
    zero_frac: fraction of its entries that were exactly 0.0 at every step.
    """

    name: str
    shape: tuple[int, ...]
    grad_norm_per_step: list[float | None]
    zero_frac: float

    @property
    def grad_norm(self) -> float | None:
        return self.grad_norm_per_step[0]

    def _present(self) -> list[float]:
        return [g for g in self.grad_norm_per_step if g is not None]

    def to_dict(self) -> dict[str, Any]:
        seen = self._present()
        return {
            "name": self.name,
            "shape": list(self.shape),
            "has_grad": bool(seen),
            "grad_norm": self.grad_norm,
            "grad_norm_mean": sum(seen) / len(seen) if seen else None,
            "grad_norm_min": min(seen) if seen else None,
            "grad_norm_max": max(seen) if seen else None,
            "grad_norm_per_step": self.grad_norm_per_step,
            "zero_frac": self.zero_frac,
        }


@dataclass(frozen=True)
class GradRun:
    """One activation's run: per-parameter gradients, dead units per hidden
    layer (of the model whose last gradient was recorded, over the whole
    training set), dev accuracy of that model, and the verdicts."""

    act: str
    params: list[ParamGrads]
    dead_units: list[float]
    loss_per_step: list[float]
    dev_accuracy: float
    grad_ratio: float | None  # |g(fc1.weight)| / |g(fcN.weight)| at step 1
    verdict: str
    verdicts: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "act": self.act,
            "params": [p.to_dict() for p in self.params],
            "dead_units": [{"layer": i + 1, "frac": f} for i, f in enumerate(self.dead_units)],
            "loss_per_step": self.loss_per_step,
            "dev_accuracy": self.dev_accuracy,
            "grad_ratio": self.grad_ratio,
            "verdict": self.verdict,
            "verdicts": self.verdicts,
        }


@dataclass(frozen=True)
class GradNormsResult:
    config: dict[str, Any]
    runs: list[GradRun]

    @property
    def verdicts(self) -> list[str]:
        return sorted({v for r in self.runs for v in r.verdicts})

    def to_dict(self) -> dict[str, Any]:
        return {"runs": [r.to_dict() for r in self.runs], "verdicts": self.verdicts}


@dataclass(frozen=True)
class Spread:
    """Mean and (population) standard deviation over seeds."""

    mean: float
    std: float


@dataclass(frozen=True)
class CellResult:
    """One init x activation cell of init-compare, over its seeds.

    final_std / std_ratio: the last layer's output std and its ratio to the
    input's; first_nonfinite_layer: the earliest over seeds (nonfinite_seeds
    says how many overflowed); grad_ratio: |dL/dW_1| / |dL/dW_L|; dead_frac: the
    worst layer's fraction of units that are 0 for every example;
    saturated_frac: the last layer's (tanh, sigmoid only); train_loss and
    dev_accuracy only with a training probe.  scores: each seed's score, lower
    is better (see `experiments.init_compare.seed_score`), score their mean and
    spread; rank: 1 + the number of cells of this activation significantly
    better than this one, so equal ranks are ties (`tied`).
    """

    init: str
    act: str
    seeds: list[int]
    gain: float | None
    final_std: Spread
    std_ratio: Spread
    std_per_layer: list[float]
    first_nonfinite_layer: int | None
    nonfinite_seeds: int
    grad_ratio: Spread
    dead_frac: Spread
    saturated_frac: Spread | None
    train_loss: Spread | None
    dev_accuracy: Spread | None
    verdict: str
    verdicts: list[str]
    score: Spread
    scores: list[float]
    rank: int = 0
    tied: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Target:
    """What a healthy stack of one activation settles at (theory), and why."""

    std_ratio: float
    grad_ratio: float
    source: str


@dataclass(frozen=True)
class PairTest:
    """Two inits of one activation over the same seeds (see `pair_test`).

    wins_a / wins_b / ties: seeds on which a's score is lower / higher / equal;
    mean_diff: mean of a's score minus b's; p_value: the paired t-test's (0 or
    1 where it needs no test: different tiers, or no spread at all); sign_p:
    the exact two-sided sign test's, for reference; test: which rule decided;
    better: the init that is significantly better, None for a tie.
    """

    act: str
    a: str
    b: str
    wins_a: int
    wins_b: int
    ties: int
    mean_diff: float
    p_value: float
    sign_p: float
    test: str
    better: str | None


@dataclass(frozen=True)
class CompareResult:
    config: dict[str, Any]
    inits: list[str]
    acts: list[str]
    cells: list[CellResult]
    pairs: list[PairTest] = field(default_factory=list)
    targets: dict[str, Target] = field(default_factory=dict)
    complete: bool = True
    cells_total: int = 0

    def cell(self, init: str, act: str) -> CellResult:
        return next(c for c in self.cells if c.init == init and c.act == act)

    def find(self, init: str, act: str) -> CellResult | None:
        """The cell, or None where an interrupted grid did not finish it."""
        return next((c for c in self.cells if c.init == init and c.act == act), None)

    @property
    def verdicts(self) -> list[str]:
        return sorted({v for c in self.cells for v in c.verdicts}, key=STD_TRACE_VERDICTS.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "complete": self.complete,
            "cells_done": len(self.cells),
            "cells_total": self.cells_total,
            "targets": {act: asdict(t) for act, t in self.targets.items()},
            "cells": [c.to_dict() for c in self.cells],
            "pairs": [asdict(p) for p in self.pairs],
            "verdicts": self.verdicts,
        }


@dataclass(frozen=True)
class Slope:
    """The exponent p of size ~ width^p for one layer at one step.

    slope: the mean over seeds of each seed's least-squares slope of
    log(size) on log(width); ci: its 90% Student-t interval over seeds (None
    with one seed); per_seed: each seed's slope.  slope is None when `reason`
    says why: "zero" (zero at every width: nothing to scale, e.g. a readout
    started at zero, or the change at step 0), "nonfinite" (inf or nan at some
    width: counted as blowing up), "zero at some widths".
    """

    slope: float | None
    ci: tuple[float, float] | None
    per_seed: list[float | None]
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "slope": self.slope,
            "ci": list(self.ci) if self.ci else None,
            "per_seed": self.per_seed,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CoordStep:
    """One layer at one step (0: at initialisation; k: after k updates).

    size: mean |activation| over the measuring batch and the units, per width
    (mean over seeds); change: mean |activation - its step-0 value|, per width.
    """

    step: int
    size: list[float]
    change: list[float]
    size_by_seed: list[list[float]]  # [seed][width]
    change_by_seed: list[list[float]]
    size_slope: Slope
    change_slope: Slope

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["size_slope"] = self.size_slope.to_dict()
        d["change_slope"] = self.change_slope.to_dict()
        return d


@dataclass(frozen=True)
class CoordLayer:
    """A probed layer: its module name (fc1, block3, head), its role in the
    parametrisation (input, hidden, output), its steps and its verdict."""

    name: str
    role: str
    steps: list[CoordStep]
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "verdict": self.verdict,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class CoordCheckResult:
    """`nninit coord-check`: sizes per layer, step and width, their slopes
    against width, the rules applied, and the verdicts."""

    config: dict[str, Any]
    widths: list[int]
    base_width: int
    rules: list[dict[str, Any]]  # the parametrisation as applied: one row per parameter kind
    layers: list[CoordLayer]
    loss: list[list[float]]  # [step][width]: the measuring batch's loss, mean over seeds
    verdict: str
    verdicts: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "widths": self.widths,
            "base_width": self.base_width,
            "rules": self.rules,
            "verdict": self.verdict,
            "verdicts": self.verdicts,
            "loss": self.loss,
            "layers": [layer.to_dict() for layer in self.layers],
        }


@dataclass(frozen=True)
class Spectrum:
    """Statistics of singular values s (one input's Jacobian, or all pooled).

    mean_sq: mean of s^2 (1 for a map that keeps lengths on average); rms: its
    square root; spread: var(s^2) / mean(s^2)^2; min, max: of s; condition:
    max / min, None with `condition_reason` when min is at rounding level
    (below width x eps x max: numerically singular).  Every field is None
    with `reason` where the Jacobian held inf or nan.
    """

    mean_sq: float | None
    rms: float | None
    spread: float | None
    min: float | None
    max: float | None
    condition: float | None
    condition_reason: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class SampleSpectrum:
    """One input's Jacobian (sample 1 is the batch's first row)."""

    sample: int
    spectrum: Spectrum

    def to_dict(self) -> dict[str, Any]:
        return {"sample": self.sample, **asdict(self.spectrum)}


@dataclass(frozen=True)
class JacobianResult:
    """`nninit jacobian`: the singular values of the input-output Jacobian,
    per input and pooled, beside the infinite-width theory, and a histogram
    of log10 s (pooled; values at rounding level counted apart)."""

    config: dict[str, Any]
    pooled: Spectrum
    samples: list[SampleSpectrum]
    theory: dict[str, Any]  # jacobian_theory.JacobianTheory.to_dict()
    histogram: dict[str, Any]  # {log10_edges, counts, at_rounding}
    verdict: str
    verdicts: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "verdicts": self.verdicts,
            "pooled": asdict(self.pooled),
            "theory": self.theory,
            "samples": [s.to_dict() for s in self.samples],
            "histogram": self.histogram,
        }


# a measured xi_c this far from theory gets a fit_note (tanh's ordered cells at width 1024 come within it)
PHASE_FIT_TOL = 0.25
# q*'s reason at a homogeneous phi's marginal point (ReLU at sigma_w2 = 2 with no bias)
EVERY_Q_FIXED = "every q is a fixed point (homogeneous activation, no bias)"


@dataclass(frozen=True)
class PhaseCell:
    """One (sigma_w2, sigma_b2) of `nninit phase`: the infinite-width theory
    (meanfield.Cell) and, with --measure, the stack's own depth scale.

    phase: ordered (chi1 < 1 by more than 0.01), critical, chaotic, or
    unbounded (q* is infinite: the signal's variance grows without limit, as
    ReLU's does from sigma_w2 = 2 on with a bias; then every theory field is
    None).  A None never stands alone: `*_reason` says why (a depth scale
    that is infinite, as on the critical line; a q* that is infinite; a fit
    that was not possible).  measured_c, theory_c, noise_floor: per layer
    1..layers, the seeds' mean correlation, the c-map's, and the finite-width
    noise floor of that mean; fit_layers: the layers the fit used."""

    sigma_w2: float
    sigma_b2: float
    phase: str
    q_star: float | None
    chi1: float | None
    c_star: float | None
    chi_c: float | None
    xi_q: float | None
    xi_c: float | None
    measured_xi_c: float | None = None
    q_star_reason: str | None = None
    xi_q_reason: str | None = None
    xi_c_reason: str | None = None
    measured_xi_c_reason: str | None = None
    fit_note: str | None = None  # why to read a measured_xi_c more than PHASE_FIT_TOL from xi_c with care
    fit_first_layer: int | None = None
    fit_last_layer: int | None = None
    measured_c: list[float] | None = None
    theory_c: list[float] | None = None
    noise_floor: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)  # flat: asdict's deep copy was a fifth of a 40 x 40 grid's time


@dataclass(frozen=True)
class PhaseResult:
    """`nninit phase`: every cell, the critical line at each sigma_b2 of the
    grid ({sigma_b2, sigma_w2, q_star}, sigma_w2 None with `reason` where no
    finite q* has chi_1 = 1), and the trainability probe's rows."""

    config: dict[str, Any]
    cells: list[PhaseCell]
    critical: list[dict[str, Any]]
    training: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "act": self.config["act"],
            "cells": [c.to_dict() for c in self.cells],
            "critical": self.critical,
        }
        if self.config.get("train_depths"):
            d["training"] = self.training
        return d
