"""The one model builder: a `NetSpec` becomes one `torch.nn.Module`.

Two architectures, two forms each:

- mlp: Linear layers `fc1..fcN`, an activation module `act{i}` (and dropout
  `drop{i}`) after each.  The *stack* form (std-trace, init-compare's probe)
  is `layers` width x width layers with the activation after every one; the
  *task* form (grad-norms, train) maps the data's features to its outputs with
  the activation after every Linear but the last.
- resmlp: blocks `block1..blockK` on a stream of `width` units, each
  `x <- x + alpha * gate * branch(x)` with branch = [norm] Linear act ... Linear
  (`block{k}.branch.fc{j}`), and an optional `block{k}.norm` after the addition
  (post-norm).  The task form adds a `stem` Linear (features -> width) before
  the blocks and a `head` Linear (width -> outputs) after them.

Modules are registered in the order the forward pass reaches them.  Each
Linear's weights are drawn from its own base (`model.inits.LayerBase`: streams
keyed by the seed and the Linear's name), on the CPU in float32: so the same
seed gives the same weights in every command and on every device, whatever
order the layers are drawn in, and `materialise(lazy=True)` (draw a Linear when
the forward reaches it, free it after) gives exactly the weights of a full
build while keeping memory flat in depth.  Each Linear carries its resolved gain (`nninit_gain`): the branch's
first Linear reads the un-activated stream and the later ones activation
outputs, so `--gain auto` gives them different gains (He's derivation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import torch
from torch import nn

from nninit_cli.model.acts import torch_act
from nninit_cli.model.inits import LayerBase, init_bias, init_weight
from nninit_cli.model.torchenv import generator
from nninit_cli.probes import Hooks
from nninit_cli.registry import INITS
from nninit_cli.specs import NetSpec

NORM_EPS = 1e-5


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
    """Linear layers fc1..fcN with the activation (and dropout, if given) after
    each one but the last, or after every one (`final_act`, the stack form)."""

    def __init__(
        self,
        sizes: list[int],
        act: str,
        negative_slope: float,
        bias: bool,
        final_act: bool = False,
        dropout: tuple[float, ...] = (),
        dropout_gen: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.depth = len(sizes) - 1
        for i in range(1, self.depth + 1):
            # on the meta device: the weights are drawn by `materialise`
            setattr(self, f"fc{i}", _linear(sizes[i - 1], sizes[i], bias))
            if i < self.depth or final_act:
                setattr(self, f"act{i}", Activation(act, negative_slope))
                if i <= len(dropout) and dropout[i - 1] > 0:
                    setattr(self, f"drop{i}", Dropout(dropout[i - 1], dropout_gen or torch.Generator()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # modules were registered in the order they apply: fc1, act1, drop1, fc2, ...
        for module in self._modules.values():
            x = module(x)
        return x


class Gate(nn.Module):
    """SkipInit's trained scalar on a residual branch, starting at 0 (De & Smith
    2020; ReZero's alpha): at initialisation every block is the identity."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate * x


class Branch(nn.Module):
    """[norm] fc1 act1 ... fc_m, times alpha (and SkipInit's gate): what a
    residual block adds to the stream.  Its output is what probes call the
    branch."""

    def __init__(self, net: NetSpec, width: int, dropout: float, dropout_gen: torch.Generator | None) -> None:
        super().__init__()
        self.alpha = net.residual_scale
        if net.norm != "none" and net.norm_position == "pre":
            self.norm = _norm(net.norm, width)
        m = net.branch_depth
        for j in range(1, m + 1):
            setattr(self, f"fc{j}", _linear(width, width, net.bias != "none"))
            if j < m:
                setattr(self, f"act{j}", Activation(net.act, net.negative_slope))
                if dropout > 0:
                    setattr(self, f"drop{j}", Dropout(dropout, dropout_gen or torch.Generator()))
        if net.residual_init == "skipinit":
            self.skip = Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self._modules.values():
            x = module(x)
        return x if self.alpha == 1.0 else self.alpha * x

    def extra_repr(self) -> str:
        return f"alpha={self.alpha:g}"


class Block(nn.Module):
    """x <- x + branch(x), then the post-norm if there is one."""

    def __init__(self, net: NetSpec, width: int, dropout: float, dropout_gen: torch.Generator | None) -> None:
        super().__init__()
        self.branch = Branch(net, width, dropout, dropout_gen)
        if net.norm != "none" and net.norm_position == "post":
            self.norm = _norm(net.norm, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.branch(x)
        norm = self._modules.get("norm")
        return x if norm is None else norm(x)


class ResMLP(nn.Module):
    """[stem] block1 .. blockK [head]: `blocks` residual blocks on `width` units."""

    def __init__(
        self,
        net: NetSpec,
        in_features: int | None,
        out_features: int | None,
        dropout: float = 0.0,
        dropout_gen: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        width, bias = net.width, net.bias != "none"
        self.depth = net.layers
        if in_features is not None:
            self.stem = _linear(in_features, width, bias)
        for k in range(1, net.layers + 1):
            setattr(self, f"block{k}", Block(net, width, dropout, dropout_gen))
        if out_features is not None:
            self.head = _linear(width, out_features, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for module in self._modules.values():
            x = module(x)
        return x


def _linear(fan_in: int, fan_out: int, bias: bool) -> nn.Linear:
    return nn.Linear(fan_in, fan_out, bias=bias, device="meta")


def _norm(kind: str, width: int) -> nn.Module:
    if kind == "layer":
        return nn.LayerNorm(width, eps=NORM_EPS, device="meta")
    return nn.BatchNorm1d(width, eps=NORM_EPS, device="meta")


# ---------------------------------------------------------------------------
# Building and drawing


def build(
    net: NetSpec,
    in_features: int | None = None,
    out_features: int | None = None,
    hidden: tuple[int, ...] | None = None,
    dropout: tuple[float, ...] = (),
) -> nn.Module:
    """The network `net` describes, on the meta device (nothing drawn yet).

    Without `in_features`/`out_features`: the stack form, width x width all the
    way.  With them: the task form (mlp: hidden layers `hidden`, default
    `net.layers - 1` of `net.width`; resmlp: stem and head around the blocks).
    """
    gen = generator(net.seed, "dropout")
    if net.residual:
        model: nn.Module = ResMLP(net, in_features, out_features, dropout[0] if dropout else 0.0, gen)
    elif in_features is None:
        model = MLP([net.width] * (net.layers + 1), net.act, net.negative_slope, net.bias != "none", True)
    else:
        if hidden is None:
            hidden = (net.width,) * (net.layers - 1)
        sizes = [in_features, *hidden, out_features if out_features is not None else net.width]
        model = MLP(sizes, net.act, net.negative_slope, net.bias != "none", False, dropout, gen)
    _assign_gains(model, net)
    return model


def _assign_gains(model: nn.Module, net: NetSpec) -> None:
    """Give every Linear its gain (`linear_gain`)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            module.nninit_gain = linear_gain(name, net)


def linear_gain(name: str, net: NetSpec) -> float | None:
    """The gain of the Linear called `name` in `net`'s model.  An MLP uses the
    activation's gain for every layer (the course's convention); a residual
    branch follows what each Linear reads (`NetSpec.linear_gains`), and the
    stem and head, reading data and the stream, get the first branch Linear's
    gain."""
    if not net.residual:
        return net.gain
    gains = net.linear_gains()
    if ".branch.fc" in name:
        return gains[int(name.rsplit("fc", 1)[1]) - 1]
    return gains[0]


def linears(model: nn.Module) -> list[nn.Linear]:
    """Every Linear, in the order the forward pass reaches them."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def activations(model: nn.Module) -> list[Activation]:
    """Every activation module, in forward order (the probes of dead units)."""
    return [m for m in model.modules() if isinstance(m, Activation)]


def linear_spec(fc: nn.Linear, net: NetSpec) -> NetSpec:
    """`net` with the gain this Linear was given (`_assign_gains`)."""
    gain = getattr(fc, "nninit_gain", net.gain)
    return net if gain == net.gain else dataclasses.replace(net, gain=gain)


def draw_linear(fc: nn.Linear, net: NetSpec, base: LayerBase) -> None:
    """Draw one Linear's weight, then its bias, from its base, on the CPU in
    float32; then Fixup's rescaling where it applies (the draws are the same
    either way, so `--residual-init fixup` and `none` share every random number)."""
    with torch.no_grad():
        init_weight(fc.weight, linear_spec(fc, net), base)
        if fc.bias is not None:
            init_bias(fc.bias, net, base, fc.in_features)
        scale = getattr(fc, "nninit_scale", None)
        if scale is not None:
            fc.weight.mul_(scale)


def _fixup(model: nn.Module, net: NetSpec) -> None:
    """Fixup (Zhang, Dauphin & Ma 2019): each branch's last Linear starts at
    zero and the others are scaled by K^(-1/(2m-2)), K blocks of m Linears."""
    if net.residual_init != "fixup":
        return
    m = net.branch_depth
    factor = net.layers ** (-1.0 / (2 * m - 2))
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and ".branch.fc" in name:
            module.nninit_scale = 0.0 if name.endswith(f"fc{m}") else factor


def materialise(
    model: nn.Module,
    net: NetSpec,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    lazy: bool = False,
) -> nn.Module:
    """Draw the weights of a built model and move it to `device` and `dtype`.

    lazy=False draws everything now.  lazy=True leaves the Linears on the meta
    device and installs hooks that draw each one when the forward pass reaches
    it and free it once it has run (see `LazyLinears`); call the model inside
    `with LazyLinears(model, net, device, dtype):`.
    """
    _fixup(model, net)
    if lazy:
        for module in model.modules():  # norms and gates: small, drawn nothing
            if not isinstance(module, nn.Linear) and any(p.is_meta for p in module.parameters(recurse=False)):
                _empty(module, "cpu")
                _reset(module)
                module.to(device, dtype)
        return model
    for module in model.modules():
        _empty(module, "cpu")
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            draw_linear(module, net, layer_base(net.seed, name, module))
        else:
            _reset(module)
    return model.to(device, dtype)


def layer_base(seed: int, name: str, fc: nn.Linear) -> LayerBase:
    """The base draws of the Linear called `name` (its path in the model)."""
    return LayerBase(seed, name, (fc.out_features, fc.in_features))


def _empty(module: nn.Module, device: str) -> None:
    """Module.to_empty for one module's own tensors, in float32.  torch's
    to_empty goes through torch._refs.empty_like, whose first call imports
    torch._prims and torch._refs: 0.4 s of every std-trace's start-up."""
    for store in (module._parameters, module._buffers):
        for name, t in store.items():
            if t is None:
                continue
            fresh = torch.empty(t.shape, dtype=t.dtype, device=device)
            store[name] = nn.Parameter(fresh, t.requires_grad) if isinstance(t, nn.Parameter) else fresh


def _reset(module: nn.Module) -> None:
    """The non-random parameters: norms start as the identity map, gates at 0."""
    with torch.no_grad():
        if isinstance(module, nn.LayerNorm | nn.BatchNorm1d):
            module.reset_parameters()
        elif isinstance(module, Gate):
            module.gate.zero_()


def _fit_to_input(fc: nn.Linear, inputs: tuple[torch.Tensor, ...], net: NetSpec) -> None:
    """The initialiser's data-dependent step (LSUV's), on the very input the
    Linear is about to see; nothing for initialisers without one."""
    fit = INITS[net.init].fit_to_data
    if fit is not None:
        fit(fc.weight.data, None if fc.bias is None else fc.bias.data, inputs[0].detach())


class LazyLinears(Hooks):
    """Forward hooks that draw each Linear when the forward pass reaches it
    (from its own base, as a full build draws it) and, with
    keep=False, put it back on the meta device once it has run: a 10,000-layer
    trace holds one layer's weights at a time.

    With `net.init == 'lsuv'` the fresh weights are also rescaled on the very
    input they are about to see (LSUV's data-dependent step), so `fit_to_data` is
    this hook driven by one forward pass.
    """

    def __init__(
        self,
        model: nn.Module,
        net: NetSpec,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        keep: bool = False,
        requires_grad: bool = False,
    ) -> None:
        self.net, self.device, self.dtype, self.keep = net, device, dtype, keep
        self.requires_grad = requires_grad
        self.names = {fc: name for name, fc in named_linears(model)}
        super().__init__()
        for fc in linears(model):
            self._handles.append(fc.register_forward_pre_hook(self._draw))
            if not keep:
                self._handles.append(fc.register_forward_hook(self._free))

    def _draw(self, fc: nn.Linear, inputs: tuple[torch.Tensor, ...]) -> None:
        if not fc.weight.is_meta:
            return
        _empty(fc, "cpu")
        draw_linear(fc, self.net, layer_base(self.net.seed, self.names[fc], fc))
        fc.to(self.device, self.dtype)
        _fit_to_input(fc, inputs, self.net)
        fc.requires_grad_(self.requires_grad)

    def _free(self, fc: nn.Linear, _inputs: tuple, _out: torch.Tensor) -> None:
        _empty(fc, "meta")


def fit_to_data(
    model: nn.Module, net: NetSpec, x: torch.Tensor, tensors: dict[str, torch.Tensor] | None = None
) -> nn.Module:
    """The initialiser's data-dependent step for a drawn model, if it has one
    (LSUV: rescale each Linear in forward order so its output std on the batch
    `x` is 1, Linears already fitted feeding the next one).  With `tensors`
    (name -> tensor, as `torch.func.functional_call` takes them) the model runs
    on those instead of its own parameters, and they are the ones rescaled in
    place: one member of a stack of models, fitted through views."""
    if INITS[net.init].fit_to_data is None:
        return model

    hooks = Hooks()
    hooks._handles = [
        fc.register_forward_pre_hook(lambda fc, inputs: _fit_to_input(fc, inputs, net))
        for fc in linears(model)
    ]
    with hooks, torch.no_grad():
        if tensors is None:
            model(x)
        else:
            from torch.func import functional_call

            functional_call(model, tensors, (x,))
    return model


def build_model(
    net: NetSpec,
    in_features: int | None = None,
    out_features: int | None = None,
    hidden: tuple[int, ...] | None = None,
    dropout: tuple[float, ...] = (),
    data: torch.Tensor | None = None,
) -> nn.Module:
    """`build` and `materialise` in one, on the CPU in float32; LSUV is fitted
    on `data` when the init asks for it."""
    model = materialise(build(net, in_features, out_features, hidden, dropout), net)
    if data is not None:
        fit_to_data(model, net, data)
    return model


def named_linears(model: nn.Module) -> Iterator[tuple[str, nn.Linear]]:
    return ((n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear))
