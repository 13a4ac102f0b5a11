"""The MLP every training-style command builds: Linear layers named fc1..fcN.

Parameters are named as in the course code (fc1.weight, fc1.bias, ...); the
hidden activations are modules too (act1..act{N-1}) so probes can hook them.
Weights are drawn in parameter order from the seed's weight stream, on the CPU
in float32, then moved: the data, the device and the dtype never change them.
"""

from __future__ import annotations

import torch
from torch import nn

from nninit_cli.model.acts import torch_act
from nninit_cli.model.inits import init_bias, init_weight, lsuv_rescale
from nninit_cli.model.torchenv import generator
from nninit_cli.specs import NetSpec


class Activation(nn.Module):
    """A named, parameter-free activation, so forward hooks can find it."""

    def __init__(self, act: str, negative_slope: float) -> None:
        super().__init__()
        self.name = act
        self.fn = torch_act(act, negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)

    def extra_repr(self) -> str:
        return self.name


class Dropout(nn.Module):
    """Inverted dropout (drop with probability p, scale the rest by 1/(1-p)), in
    training mode only, drawing its masks from its own generator: a seeded run,
    and a resumed one, drops the same units."""

    def __init__(self, p: float, gen: torch.Generator) -> None:
        super().__init__()
        self.p = p
        self.gen = gen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape, generator=self.gen) >= self.p
        return x * keep.to(x.device, x.dtype) / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MLP(nn.Module):
    """in -> sizes[1] -> ... -> out: Linear layers fc1..fcN, the activation (and
    dropout, if given) after every one but the last.  Returns logits (the task's
    output function, e.g. sigmoid, is folded into its loss)."""

    def __init__(
        self,
        sizes: list[int],
        act: str,
        negative_slope: float,
        bias: bool,
        dropout: tuple[float, ...] = (),
        dropout_gen: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.depth = len(sizes) - 1
        for i in range(1, self.depth + 1):
            # on the meta device: torch's own init would only be overwritten
            setattr(self, f"fc{i}", nn.Linear(sizes[i - 1], sizes[i], bias=bias, device="meta"))
            if i < self.depth:
                setattr(self, f"act{i}", Activation(act, negative_slope))
                if i <= len(dropout) and dropout[i - 1] > 0:
                    setattr(self, f"drop{i}", Dropout(dropout[i - 1], dropout_gen or torch.Generator()))

    def linears(self) -> list[nn.Linear]:
        return [getattr(self, f"fc{i}") for i in range(1, self.depth + 1)]

    def activations(self) -> list[Activation]:
        return [getattr(self, f"act{i}") for i in range(1, self.depth)]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # modules were registered in the order they apply: fc1, act1, drop1, fc2, ...
        for module in self._modules.values():
            x = module(x)
        return x


def build_mlp(
    net: NetSpec,
    in_features: int,
    out_features: int,
    hidden: tuple[int, ...] | None = None,
    dropout: tuple[float, ...] = (),
) -> MLP:
    """An MLP with hidden layers `hidden` (default: `net.layers - 1` of
    `net.width`), initialised from `net` with the seed's weight stream; dropout
    masks come from the seed's dropout stream."""
    if hidden is None:
        hidden = (net.width,) * (net.layers - 1)
    sizes = [in_features, *hidden, out_features]
    model = MLP(
        sizes,
        net.act,
        net.negative_slope,
        bias=net.bias != "none",
        dropout=dropout,
        dropout_gen=generator(net.seed, "dropout"),
    ).to_empty(device="cpu")
    gen = generator(net.seed, "weights")
    with torch.no_grad():
        for fc in model.linears():
            init_weight(fc.weight, net, gen)
            if fc.bias is not None:
                init_bias(fc.bias, net, gen, fc.in_features)
    return model


def lsuv_fit(model: MLP, x: torch.Tensor) -> MLP:
    """LSUV's data-dependent step for a whole MLP: rescale each Linear in turn so
    its pre-activation std on the batch `x` is 1 (layers already fitted feed the
    next one)."""
    with torch.no_grad():
        h = x
        for i, fc in enumerate(model.linears(), start=1):
            lsuv_rescale(fc.weight, fc.bias, h)
            h = fc(h)
            if i < model.depth:
                h = getattr(model, f"act{i}")(h)
    return model
