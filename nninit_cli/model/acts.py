"""The activations as torch functions, by canonical name (see `registry.ACTIVATIONS`)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

TorchAct = Callable[[torch.Tensor], torch.Tensor]


def torch_act(act: str, negative_slope: float = 0.01) -> TorchAct:
    """The torch function for `act`; `negative_slope` is lrelu's."""
    table: dict[str, TorchAct] = {
        "linear": lambda x: x,
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "relu": F.relu,
        "lrelu": lambda x: F.leaky_relu(x, negative_slope),
        "elu": F.elu,
        "selu": F.selu,
        "gelu": F.gelu,
        "silu": F.silu,
        "softplus": F.softplus,
    }
    return table[act]


def saturated(act: str, y: torch.Tensor) -> torch.Tensor | None:
    """Which outputs sit in the flat tails: |tanh| > 0.99, sigmoid outside
    [0.01, 0.99]; None for activations that do not saturate both ways."""
    if act == "tanh":
        return y.abs() > 0.99
    if act == "sigmoid":
        return (y < 0.01) | (y > 0.99)
    return None


def saturation_fraction(act: str, y: torch.Tensor) -> float | None:
    """Fraction of `y` in the flat tails (see `saturated`), None where n/a."""
    hits = saturated(act, y)
    return None if hits is None else hits.double().mean().item()
