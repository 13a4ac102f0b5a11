"""Names, aliases, parameters and gains of every activation and initialiser.

This module is deliberately free of torch: `nninit --help`, `nninit list` and every
usage error are answered from here, so they cost milliseconds instead of the
second and a half that `import torch` takes.  The torch implementations live in
`nninit_cli.model`; a test checks that both sides agree name for name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ActInfo:
    """One activation: its canonical name, aliases and what PyTorch calls it.

    `torch_gain_name` is the `nonlinearity` argument that
    `torch.nn.init.calculate_gain` understands, or None where torch has no gain
    for it (then `--gain auto` uses the fixed-point gain, see `theory.fixed_point_gain`).
    """

    name: str
    aliases: tuple[str, ...]
    torch_gain_name: str | None
    summary: str
    saturates: bool = False  # a saturated fraction is reported for these


ACTIVATIONS: dict[str, ActInfo] = {
    a.name: a
    for a in (
        ActInfo("linear", ("identity", "none"), "linear", "f(x) = x"),
        ActInfo("sigmoid", (), "sigmoid", "1 / (1 + e^-x)", saturates=True),
        ActInfo("tanh", (), "tanh", "tanh(x)", saturates=True),
        ActInfo("relu", (), "relu", "max(0, x)"),
        ActInfo("lrelu", ("leaky_relu", "leaky-relu"), "leaky_relu", "x>0 ? x : slope*x"),
        ActInfo("elu", (), None, "x>0 ? x : e^x-1"),
        ActInfo("selu", (), "selu", "1.0507*elu(x,1.6733)"),
        ActInfo("gelu", (), None, "x * Phi(x)"),
        ActInfo("silu", ("swish",), None, "x * sigmoid(x)"),
        ActInfo("softplus", (), None, "log(1 + e^x)"),
    )
}


@dataclass(frozen=True)
class InitInfo:
    """One initialiser: the flags it reads and the std it gives a weight."""

    name: str
    aliases: tuple[str, ...]
    params: tuple[str, ...]  # flag names (without --) the initialiser reads
    std_formula: str
    uses_gain: bool = False
    zero_mean: bool = True  # False where the weights' mean depends on flags


INITS: dict[str, InitInfo] = {
    i.name: i
    for i in (
        InitInfo("zeros", (), (), "0"),
        InitInfo("constant", (), ("value",), "0 (every weight = value)", zero_mean=False),
        InitInfo("normal", (), ("mean", "std"), "std", zero_mean=False),
        InitInfo("uniform", (), ("low", "high"), "(high - low) / sqrt(12)", zero_mean=False),
        InitInfo("trunc-normal", (), ("mean", "std"), "0.880 * std (cut at mean +- 2 std)", zero_mean=False),
        InitInfo("xavier-uniform", ("xavier",), ("gain",), "gain * sqrt(2 / (fan_in + fan_out))", True),
        InitInfo("xavier-normal", (), ("gain",), "gain * sqrt(2 / (fan_in + fan_out))", True),
        InitInfo("kaiming-normal", ("kaiming",), ("gain", "fan-mode"), "gain / sqrt(fan)", True),
        InitInfo("kaiming-uniform", (), ("gain", "fan-mode"), "gain / sqrt(fan)", True),
        InitInfo("orthogonal", (), ("gain",), "gain / sqrt(fan_in) (rows orthonormal x gain)", True),
        InitInfo("eye", ("identity",), (), "identity matrix (not random)"),
        InitInfo("sparse", (), ("sparsity", "std"), "std * sqrt(1 - sparsity)"),
        InitInfo("default", (), (), "1 / sqrt(3 * fan_in) (nn.Linear's own init)"),
        InitInfo("lsuv", (), (), "orthogonal, then scaled until pre-activation std = 1 on the data"),
    )
}

# PyTorch's gains (torch.nn.init.calculate_gain), written out so that no torch
# import is needed to resolve `--gain auto`; tests compare them with torch.
_TORCH_GAINS = {
    "linear": 1.0,
    "sigmoid": 1.0,
    "tanh": 5.0 / 3.0,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4.0,
}


def torch_gain(act: str, negative_slope: float = 0.01) -> float | None:
    """`torch.nn.init.calculate_gain` for `act`, or None where torch has none."""
    info = ACTIVATIONS[act]
    if info.torch_gain_name is None:
        return None
    if info.torch_gain_name == "leaky_relu":
        return math.sqrt(2.0 / (1.0 + negative_slope**2))
    return _TORCH_GAINS[info.torch_gain_name]


# What torch's functions use when no gain is passed: xavier_* and orthogonal_
# default to 1, kaiming_* to leaky_relu with a=0, i.e. sqrt(2).
TORCH_DEFAULT_GAINS = {
    "xavier-uniform": 1.0,
    "xavier-normal": 1.0,
    "kaiming-normal": math.sqrt(2.0),
    "kaiming-uniform": math.sqrt(2.0),
    "orthogonal": 1.0,
}


def _lookup(table: dict, name: str) -> str | None:
    key = name.strip().lower().replace("_", "-")
    if key in table:
        return key
    for canonical, info in table.items():
        if key in (a.replace("_", "-") for a in info.aliases):
            return canonical
    return None


def canonical_act(name: str) -> str | None:
    """The canonical activation name for `name` or an alias, None if unknown."""
    return _lookup(ACTIVATIONS, name)


def canonical_init(name: str) -> str | None:
    """The canonical initialiser name for `name` or an alias, None if unknown."""
    return _lookup(INITS, name)


def act_choices() -> str:
    return ", ".join(ACTIVATIONS)


def init_choices() -> str:
    return ", ".join(INITS)
