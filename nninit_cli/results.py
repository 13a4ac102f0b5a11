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


@dataclass(frozen=True)
class StdTraceResult:
    """Signal propagation through a stack, layer by layer.

    first_nonfinite_layer: the first layer whose outputs hold inf or nan; the
    trace stops there, as the seed experiment does.  std_ratio is final/input std.
    """

    config: dict[str, Any]
    input_std: float
    layers: list[LayerStats]
    first_nonfinite_layer: int | None
    final_std: float
    std_ratio: float
    verdict: str
    verdicts: list[str]
    backward: bool = False
    # the theory's std for every layer of the stack, also past a non-finite stop
    predicted_all: list[float | None] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict[str, Any]:
        layers = []
        for row in self.layers:
            d = asdict(row)
            d["predicted_band"] = list(row.predicted_band) if row.predicted_band else None
            if not self.backward:
                del d["grad_std"], d["weight_grad_norm"]
            layers.append(d)
        return {
            "input_std": self.input_std,
            "final_std": self.final_std,
            "std_ratio": self.std_ratio,
            "first_nonfinite_layer": self.first_nonfinite_layer,
            "layers_run": len(self.layers),
            "verdict": self.verdict,
            "verdicts": self.verdicts,
            "layers": layers,
        }
