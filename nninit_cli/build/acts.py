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


def saturation_fraction(act: str, y: torch.Tensor) -> float | None:
    """Fraction of outputs in the flat tails: |tanh| > 0.99, sigmoid outside
    [0.01, 0.99]; None for activations that do not saturate both ways."""
    if act == "tanh":
        hits = y.abs() > 0.99
    elif act == "sigmoid":
        hits = (y < 0.01) | (y > 0.99)
    else:
        return None
    return hits.double().mean().item()
