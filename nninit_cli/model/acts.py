"""The activations as torch functions: lookups into their records (`nninit_cli.activations`)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from nninit_cli.registry import ACTIVATIONS

TorchAct = Callable[[torch.Tensor], torch.Tensor]


def torch_act(act: str, negative_slope: float = 0.01) -> TorchAct:
    """The torch function for `act`; `negative_slope` is lrelu's."""
    fn = ACTIVATIONS[act].torch_fn
    return lambda x: fn(x, negative_slope)


def saturated(act: str, y: torch.Tensor) -> torch.Tensor | None:
    """Which outputs sit in the flat tails (|tanh| > 0.99, sigmoid outside
    [0.01, 0.99]); None for activations that do not saturate both ways."""
    test = ACTIVATIONS[act].saturated
    return None if test is None else test(y)


def saturation_fraction(act: str, y: torch.Tensor) -> float | None:
    """Fraction of `y` in the flat tails (see `saturated`), None where n/a."""
    hits = saturated(act, y)
    return None if hits is None else hits.double().mean().item()
