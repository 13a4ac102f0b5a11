"""Width parametrisations: how each layer's initial scale, forward multiplier
and learning rate change as the model widens (Yang & Hu 2021's abc-
parametrisations; the muP rules as in Yang et al. 2022, Table 3).

One record per parametrisation.  Each rule is a power of the width multiplier
m = width / base width, so that at the base width every parametrisation is the
same network trained the same way (the one `--init` and `--lr` describe), and
only the way it scales differs: a learning rate tuned at the base width means
the same thing at every width.  For a Linear layer of role `input` (reads the
data: fan-in fixed), `hidden` (width x width) or `output` (writes the outputs:
fan-out fixed):

    W = m^mult * w,   w = m^init * (a draw of --init at this width),
    learning rate of w = --lr * m^lr   (the SGD or the Adam exponent).

`--init`'s draw already scales as 1/sqrt(fan_in) (kaiming, xavier's fan-in
part), which is the standard parametrisation's initial variance; the init
exponents say how far a parametrisation departs from it.  Vectors (biases,
norm gains) follow `vector_in` (those of width-sized layers) or `vector_out`
(the output layer's bias); scalars (SkipInit gates) keep --lr.

Free of torch and numpy: --help and usage errors read these records.
"""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("input", "hidden", "output")


@dataclass(frozen=True)
class LayerRule:
    """Exponents of m for one Linear role."""

    init: float  # the initial std: x m^init on top of --init's draw at this width
    mult: float  # forward multiplier: the layer computes (m^mult W) x + b
    sgd_lr: float  # learning rate x m^sgd_lr under SGD
    adam_lr: float  # ... and under Adam


@dataclass(frozen=True)
class VectorRule:
    """Exponents of m for the learning rate of biases and norm gains."""

    sgd_lr: float
    adam_lr: float


@dataclass(frozen=True)
class Parametrisation:
    name: str
    title: str
    why: str  # one line: what it does to training as width grows
    rules: dict[str, LayerRule]  # by role: input, hidden, output
    vector_in: VectorRule  # biases and norm gains of width-sized layers
    vector_out: VectorRule  # the output layer's bias (fan-out fixed)
    zero_readout: bool  # --readout auto: start the output layer at zero

    def __post_init__(self) -> None:
        assert set(self.rules) == set(ROLES), f"{self.name}: rules for {ROLES}"

    def lr_exponent(self, role: str, optimizer: str) -> float:
        rule = self.rules[role]
        return rule.sgd_lr if optimizer == "sgd" else rule.adam_lr

    def vector_lr_exponent(self, fan_out_scales: bool, optimizer: str) -> float:
        rule = self.vector_in if fan_out_scales else self.vector_out
        return rule.sgd_lr if optimizer == "sgd" else rule.adam_lr


_FLAT = LayerRule(0.0, 0.0, 0.0, 0.0)
_NONE = VectorRule(0.0, 0.0)

PARAMETRISATION_RECORDS = (
    Parametrisation(
        name="sp",
        title="standard",
        why="what torch does: every layer drawn with variance ~1/fan_in, one learning rate",
        rules={"input": _FLAT, "hidden": _FLAT, "output": _FLAT},
        vector_in=_NONE,
        vector_out=_NONE,
        zero_readout=False,
    ),
    Parametrisation(
        name="ntk",
        title="neural tangent",
        why="w ~ N(0, 1) scaled by 1/sqrt(fan_in) in the forward pass: features barely move (lazy)",
        rules={
            "input": _FLAT,  # fan-in is the data's: nothing scales
            "hidden": LayerRule(0.5, -0.5, 0.0, 0.0),
            "output": LayerRule(0.5, -0.5, 0.0, 0.0),
        },
        vector_in=_NONE,
        vector_out=_NONE,
        zero_readout=False,
    ),
    Parametrisation(
        name="mup",
        title="maximal update",
        why="every layer's activations and their updates keep their size as width grows",
        rules={
            # input weights: variance 1/fan_in; SGD lr x fan_out, Adam lr x 1
            "input": LayerRule(0.0, 0.0, 1.0, 0.0),
            # hidden: variance 1/fan_in; SGD lr x 1, Adam lr / fan_in
            "hidden": LayerRule(0.0, 0.0, 0.0, -1.0),
            # output: variance 1/fan_in^2 (or zero); lr / fan_in under both
            "output": LayerRule(-0.5, 0.0, -1.0, -1.0),
        },
        vector_in=VectorRule(1.0, 0.0),  # biases: SGD lr x fan_out, Adam lr x 1
        vector_out=_NONE,
        zero_readout=True,
    ),
)

PARAMETRISATIONS: dict[str, Parametrisation] = {p.name: p for p in PARAMETRISATION_RECORDS}
