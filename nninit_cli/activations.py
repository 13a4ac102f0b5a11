"""Every activation, one record each: formula, torch and numpy functions, gain, saturation.

A new activation is one `ActivationRecord` in `ACTIVATION_RECORDS` below and
nothing else: `--act` (through `registry.ACTIVATIONS`, which indexes the
records by name and alias), `nninit list`, the model builder
(`model.acts.torch_act`), the mean-field theory (`theory.numpy_act`), `--gain
auto` and the saturated fraction all read it from here.
`tests/test_records.py` walks every record and checks its pieces against each
other and against torch: the two functions agree on a grid, the gain is
`calculate_gain`'s, the flags exist.

No torch and no numpy at import (see `nninit_cli.lazy`): `torch` and `np` below
are imported the first time a record's function runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nninit_cli.lazy import LazyModule

if TYPE_CHECKING:
    import numpy
    import torch as _torch

np: Any = LazyModule("numpy")
torch: Any = LazyModule("torch")
F: Any = LazyModule("torch.nn.functional")


@dataclass(frozen=True)
class ActivationRecord:
    """One activation.  Every field is required, so a record that forgets one
    fails when this module is imported.

    name: the canonical name, as `--act` takes it and every output shows it.
    aliases: other spellings `--act` accepts (`_` and `-` are interchangeable).
    formula: f(x) in one line, for `nninit list`.
    torch_fn: f(x, negative_slope) on a tensor; the one the models run.
    numpy_fn: the same f on a float64 numpy array: the theory's quadrature
        (`theory.gaussian_moments`) integrates it.
    torch_gain_name: the `nonlinearity` that `torch.nn.init.calculate_gain`
        knows it by, or None where torch has no gain for it.
    torch_gain: calculate_gain's value as a function of negative_slope,
        written out so that `--gain auto` needs no torch; None exactly where
        torch_gain_name is (then `--gain auto` takes the fixed-point gain,
        `theory.fixed_point_gain`).
    saturated: which outputs sit in the flat tails, a boolean tensor of y's
        shape; None for activations that do not saturate both ways.
    flags: the flags besides `--act` it reads (without --).
    """

    name: str
    aliases: tuple[str, ...]
    formula: str
    torch_fn: Callable[[_torch.Tensor, float], _torch.Tensor]
    numpy_fn: Callable[[numpy.ndarray, float], numpy.ndarray]
    torch_gain_name: str | None
    torch_gain: Callable[[float], float] | None
    saturated: Callable[[_torch.Tensor], _torch.Tensor] | None
    flags: tuple[str, ...]

    def __post_init__(self) -> None:
        if (self.torch_gain_name is None) != (self.torch_gain is None):
            raise ValueError(f"activation {self.name!r}: give torch_gain_name and torch_gain, or neither")

    @property
    def saturates(self) -> bool:
        """Whether std-trace and init-compare report a saturated fraction."""
        return self.saturated is not None


def _np_sigmoid(x: numpy.ndarray) -> numpy.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow in e^-x for very negative x


def _np_elu(x: numpy.ndarray) -> numpy.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


def _np_gelu(x: numpy.ndarray) -> numpy.ndarray:
    # the exact erf, not torch's tanh approximation (F.gelu's default is exact too)
    erf = np.frompyfunc(math.erf, 1, 1)
    return x * 0.5 * (1.0 + erf(x / math.sqrt(2.0)).astype(np.float64))


SELU_ALPHA = 1.6732632423543772  # Klambauer et al. 2017, as torch's F.selu
SELU_SCALE = 1.0507009873554805


def _one(slope: float) -> float:
    return 1.0


ACTIVATION_RECORDS = (
    ActivationRecord(
        name="linear",
        aliases=("identity", "none"),
        formula="f(x) = x",
        torch_fn=lambda x, slope: x,
        numpy_fn=lambda x, slope: x,
        torch_gain_name="linear",
        torch_gain=_one,
        saturated=None,
        flags=(),
    ),
    ActivationRecord(
        name="sigmoid",
        aliases=(),
        formula="1 / (1 + e^-x)",
        torch_fn=lambda x, slope: torch.sigmoid(x),
        numpy_fn=lambda x, slope: _np_sigmoid(x),
        torch_gain_name="sigmoid",
        torch_gain=_one,
        saturated=lambda y: (y < 0.01) | (y > 0.99),
        flags=(),
    ),
    ActivationRecord(
        name="tanh",
        aliases=(),
        formula="tanh(x)",
        torch_fn=lambda x, slope: torch.tanh(x),
        numpy_fn=lambda x, slope: np.tanh(x),
        torch_gain_name="tanh",
        torch_gain=lambda slope: 5.0 / 3.0,
        saturated=lambda y: y.abs() > 0.99,
        flags=(),
    ),
    ActivationRecord(
        name="relu",
        aliases=(),
        formula="max(0, x)",
        torch_fn=lambda x, slope: F.relu(x),
        numpy_fn=lambda x, slope: np.maximum(x, 0.0),
        torch_gain_name="relu",
        torch_gain=lambda slope: math.sqrt(2.0),
        saturated=None,
        flags=(),
    ),
    ActivationRecord(
        name="lrelu",
        aliases=("leaky_relu", "leaky-relu"),
        formula="x>0 ? x : slope*x",
        torch_fn=lambda x, slope: F.leaky_relu(x, slope),
        numpy_fn=lambda x, slope: np.where(x > 0, x, slope * x),
        torch_gain_name="leaky_relu",
        torch_gain=lambda slope: math.sqrt(2.0 / (1.0 + slope**2)),
        saturated=None,
        flags=("negative-slope",),
    ),
    ActivationRecord(
        name="elu",
        aliases=(),
        formula="x>0 ? x : e^x-1",
        torch_fn=lambda x, slope: F.elu(x),
        numpy_fn=lambda x, slope: _np_elu(x),
        torch_gain_name=None,
        torch_gain=None,
        saturated=None,
        flags=(),
    ),
    ActivationRecord(
        name="selu",
        aliases=(),
        formula="1.0507*elu(x,1.6733)",
        torch_fn=lambda x, slope: F.selu(x),
        numpy_fn=lambda x, slope: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
        torch_gain_name="selu",
        torch_gain=lambda slope: 3.0 / 4.0,
        saturated=None,
        flags=(),
    ),
    ActivationRecord(
        name="gelu",
        aliases=(),
        formula="x * Phi(x)",
        torch_fn=lambda x, slope: F.gelu(x),
        numpy_fn=lambda x, slope: _np_gelu(x),
        torch_gain_name=None,
        torch_gain=None,
        saturated=None,
        flags=(),
    ),
    ActivationRecord(
        name="silu",
        aliases=("swish",),
        formula="x * sigmoid(x)",
        torch_fn=lambda x, slope: F.silu(x),
        numpy_fn=lambda x, slope: x * _np_sigmoid(x),
        torch_gain_name=None,
        torch_gain=None,
        saturated=None,
        flags=(),
    ),
    ActivationRecord(
        name="softplus",
        aliases=(),
        formula="log(1 + e^x)",
        torch_fn=lambda x, slope: F.softplus(x),
        numpy_fn=lambda x, slope: np.logaddexp(0.0, x),
        torch_gain_name=None,
        torch_gain=None,
        saturated=None,
        flags=(),
    ),
)
