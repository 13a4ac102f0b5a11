"""Validated, frozen experiment specs built from flags and TOML config files.

Flow: each command declares its settings once, as a list of `Flag`s (name,
parser, default, help text, value type, help section).  The CLI's options
(cli/_options.py), the config keys, the --help text and the checks all come
from that list.  The CLI hands over only the flags the user typed; `resolve`
fills the rest from the `--config` file, then from the defaults, and parses
every value through the same function whichever source it came from, so a
config file is checked as strictly as the command line.  Errors name the flag
(or the config key and file) and what is allowed.  Nothing here imports torch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from nninit_cli import registry, resources
from nninit_cli.errors import SpecError
from nninit_cli.executors import EXECUTORS

Parser = Callable[[Any], Any]


MODEL = "Model"  # --help sections: what is built and run ...
OUTPUT = "Output"  # ... and what is reported (verdict thresholds, --fail-on, files)
RUN = "Execution"  # ... and where it runs (never part of the results: same bytes wherever)
KINDS = ("int", "float", "str", "bool", "path")  # what the command line hands to `parse`


@dataclass(frozen=True)
class Flag:
    """One setting, declared once.  Its option on the command line, its key in
    a config file, its --help line and its checks all come from here."""

    name: str  # as typed, without the leading --; also the config file's key
    parse: Parser  # raw value -> checked value; raises ValueError with the rule
    default: Any  # shown in --help as [default: ...] unless None, () or False
    help: str = ""
    kind: str = "str"  # the command line's type: int, float, str, bool (an on/off switch), path
    panel: str = MODEL  # the --help section
    metavar: str | None = None  # the value's name in --help (typer's own when None)

    def __post_init__(self) -> None:
        assert self.kind in KINDS, f"--{self.name}: kind {self.kind!r} is not one of {KINDS}"
        assert self.help.endswith("."), f"--{self.name}: help must be a sentence"

    @property
    def key(self) -> str:
        """The python name (`batch_size`): the spec's field, the JSON config's key."""
        return self.name.replace("-", "_")


def reworded(flags: list[Flag], **texts: str) -> list[Flag]:
    """`flags` with some help texts replaced (keyed by python name), for a
    command that gives a shared flag a meaning of its own."""
    unknown = set(texts) - {f.key for f in flags}
    assert not unknown, f"no such flags: {unknown}"
    return [replace(f, help=texts[f.key]) if f.key in texts else f for f in flags]


# ---------------------------------------------------------------------------
# Parsers: each raises ValueError("must be ...") naming what is allowed.


def _number(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError("must be a number")
    try:
        x = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number, got {raw!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"must be a finite number, got {raw}")
    return x


def finite() -> Parser:
    return _number


def float_range(lo: float, hi: float, lo_open: bool = False, hi_open: bool = False) -> Parser:
    left, right = ("(" if lo_open else "["), (")" if hi_open else "]")

    def parse(raw: Any) -> float:
        x = _number(raw)
        if (x < lo or (lo_open and x == lo)) or (x > hi or (hi_open and x == hi)):
            raise ValueError(f"must be a number in {left}{lo:g}, {hi:g}{right}, got {x:g}")
        return x

    return parse


def int_range(lo: int, hi: int) -> Parser:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
            raise ValueError(f"must be a whole number from {lo} to {hi}, got {raw!r}")
        try:
            x = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"must be a whole number from {lo} to {hi}, got {raw!r}") from None
        if not lo <= x <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi}, got {x}")
        return x

    return parse


def choice(*options: str) -> Parser:
    def parse(raw: Any) -> str:
        if not isinstance(raw, str) or raw.strip().lower() not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {raw!r}")
        return raw.strip().lower()

    return parse


def boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    raise ValueError(f"must be true or false, got {raw!r}")


def _act(raw: Any) -> str:
    name = registry.canonical_act(raw) if isinstance(raw, str) else None
    if name is None:
        raise ValueError(f"{raw!r} is not one of {registry.act_choices()}")
    return name


def act_list(raw: Any) -> tuple[str, ...]:
    """A comma list of activations (or one); duplicates are dropped, order kept."""
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    names = [_act(str(item)) for item in items if str(item).strip()]
    if not names:
        raise ValueError(f"needs at least one of {registry.act_choices()}")
    return tuple(dict.fromkeys(names))


def _init(raw: Any) -> str:
    name = registry.canonical_init(raw) if isinstance(raw, str) else None
    if name is None:
        raise ValueError(f"{raw!r} is not one of {registry.init_choices()}")
    return name


def _gain(raw: Any) -> str | float:
    if isinstance(raw, str) and raw.strip().lower() in ("auto", "torch"):
        return raw.strip().lower()
    try:
        x = _number(raw)
    except ValueError:
        raise ValueError(f"must be auto, torch or a number > 0, got {raw!r}") from None
    if x <= 0:
        raise ValueError(f"must be auto, torch or a number > 0, got {x:g}")
    return x


def _bias(raw: Any) -> str | float:
    if isinstance(raw, str) and raw.strip().lower() in ("none", "default"):
        return raw.strip().lower()
    try:
        return _number(raw)
    except ValueError:
        raise ValueError(
            f"must be a number (every bias set to it), none or default (nn.Linear's), got {raw!r}"
        ) from None


def has_empty_item(raw: Any) -> bool:
    """A typed comma list with an empty item (`1,,2`, `a,`, ''): refused, not
    skipped, since it is most often a value that went missing (an unset shell
    variable).  A config file's list (`[]` included) is taken as it is."""
    return not isinstance(raw, list | tuple) and any(not t.strip() for t in str(raw).split(","))


def verdict_list(allowed: Iterable[str]) -> Parser:
    allowed = tuple(allowed)

    def parse(raw: Any) -> tuple[str, ...]:
        if has_empty_item(raw):
            raise ValueError(f"an empty item in {raw!r}: give a comma list of {', '.join(allowed)}")
        items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        out = []
        for item in items:
            word = str(item).strip().lower()
            if word not in allowed:
                raise ValueError(f"{word!r} is not one of {', '.join(allowed)}")
            out.append(word)
        return tuple(dict.fromkeys(out))

    return parse


# ---------------------------------------------------------------------------
# The flags every model-building command shares.


def net_flags(**defaults: Any) -> list[Flag]:
    """The shared model flags; a command passes its own defaults by keyword
    (python names: `batch_size=16`)."""
    d = {
        "act": "linear",
        "negative_slope": 0.01,
        "init": "normal",
        "value": 0.0,
        "mean": 0.0,
        "std": 1.0,
        "low": -1.0,
        "high": 1.0,
        "fan_mode": "fan_in",
        "sparsity": 0.1,
        "gain": "auto",
        "bias": "none",
        "no_bias": False,
        "bias_std": 0.0,
        "layers": 100,
        "width": 256,
        "batch_size": 16,
        "seed": 0,
        "device": "cpu",
        "dtype": "float32",
        "arch": "mlp",
        "branch_depth": 2,
        "residual_scale": 1.0,
        "norm": "none",
        "norm_position": "pre",
        "residual_init": "none",
    }
    unknown = set(defaults) - set(d)
    assert not unknown, f"unknown net flag defaults: {unknown}"
    d.update(defaults)
    return [
        Flag(
            "act",
            _act,
            d["act"],
            f"Activation after every hidden Linear: {registry.act_choices()} "
            "(aliases: identity/none = linear).",
        ),
        Flag(
            "negative-slope",
            float_range(0.0, 1.0),
            d["negative_slope"],
            "lrelu's slope for x < 0, in [0, 1].",
            kind="float",
        ),
        Flag(
            "init",
            _init,
            d["init"],
            f"Weight initialiser: {registry.init_choices()} "
            "(aliases: xavier = xavier-uniform, kaiming = kaiming-normal).",
        ),
        Flag("value", finite(), d["value"], "constant: the value of every weight.", kind="float"),
        Flag("mean", finite(), d["mean"], "normal, trunc-normal: mean of the weights.", kind="float"),
        Flag(
            "std",
            float_range(0.0, 1e6),
            d["std"],
            "normal, trunc-normal, sparse: std of the weights (>= 0).",
            kind="float",
        ),
        Flag("low", finite(), d["low"], "uniform: lower end.", kind="float"),
        Flag("high", finite(), d["high"], "uniform: upper end.", kind="float"),
        Flag(
            "fan-mode",
            choice("fan_in", "fan_out"),
            d["fan_mode"],
            "kaiming-*: scale by fan_in (forward) or fan_out (backward).",
        ),
        Flag(
            "sparsity",
            float_range(0.0, 1.0, hi_open=True),
            d["sparsity"],
            "sparse: fraction of each column set to zero, in [0, 1).",
            kind="float",
        ),
        Flag(
            "gain",
            _gain,
            d["gain"],
            "xavier, kaiming, orthogonal: a number > 0, 'auto' (the activation's gain: "
            "torch's calculate_gain, else the fixed-point gain 1/sqrt(E[f(z)^2])) or 'torch' "
            "(torch's own default: xavier 1, kaiming sqrt(2), orthogonal 1). kaiming-normal draws "
            "N(0, gain^2/fan_in): the gain is the papers' sigma_w.",
        ),
        Flag(
            "bias",
            _bias,
            d["bias"],
            "Every bias set to this number, 'none' (no bias) or 'default' (nn.Linear's U(+-1/sqrt(fan_in))).",
        ),
        Flag("no-bias", boolean, d["no_bias"], "Layers without bias (same as --bias none).", kind="bool"),
        Flag(
            "bias-std",
            float_range(0.0, 1e6),
            d["bias_std"],
            "Biases drawn N(--bias, S^2), sigma_b of the mean-field papers (>= 0; --bias defaults to 0 "
            "with it; not with --bias none or default).",
            kind="float",
        ),
        Flag(
            "layers",
            int_range(1, 100_000),
            d["layers"],
            "Number of Linear layers (resmlp: residual blocks).",
            kind="int",
        ),
        Flag("width", int_range(1, 65_536), d["width"], "Units per hidden layer.", kind="int"),
        Flag(
            "batch-size", int_range(1, 1_000_000), d["batch_size"], "Examples in the input batch.", kind="int"
        ),
        Flag(
            "seed",
            int_range(0, 2**63 - 1),
            d["seed"],
            "Seed of the separate weight and data streams.",
            kind="int",
        ),
        Flag(
            "device",
            choice("cpu", "cuda", "mps", "auto"),
            d["device"],
            "cpu, cuda, mps or auto (the best one present).",
        ),
        Flag(
            "dtype",
            choice("float32", "float64", "bfloat16"),
            d["dtype"],
            "float32, float64 or bfloat16 (statistics are always computed in float64).",
        ),
        *arch_flags(d),
    ]


ARCHS = ("mlp", "resmlp")
NORMS = ("none", "layer", "batch")
RESIDUAL_INITS = ("none", "fixup", "skipinit")


def _residual_scale(raw: Any) -> str | float:
    if isinstance(raw, str) and raw.strip().lower() == "invsqrt":
        return "invsqrt"
    try:
        x = _number(raw)
    except ValueError:
        raise ValueError(f"must be a number in (0, 1e6] or invsqrt (1/sqrt(blocks)), got {raw!r}") from None
    if not 0 < x <= 1e6:
        raise ValueError(f"must be a number in (0, 1e6] or invsqrt (1/sqrt(blocks)), got {x:g}")
    return x


def arch_flags(d: Mapping[str, Any]) -> list[Flag]:
    """The architecture: a plain MLP, or a residual MLP and its knobs."""
    return [
        Flag(
            "arch",
            choice(*ARCHS),
            d["arch"],
            "mlp (a plain stack of Linear layers) or resmlp (--layers residual blocks "
            "x <- x + alpha * branch(x) on a stream of --width units).",
        ),
        Flag(
            "branch-depth",
            int_range(2, 16),
            d["branch_depth"],
            "resmlp: Linear layers per branch, [norm] Linear act ... Linear (2 to 16).",
            kind="int",
        ),
        Flag(
            "residual-scale",
            _residual_scale,
            d["residual_scale"],
            "resmlp: alpha, a number > 0 or 'invsqrt' (1/sqrt(blocks)).",
        ),
        Flag(
            "norm",
            choice(*NORMS),
            d["norm"],
            "resmlp: none, layer (LayerNorm) or batch (BatchNorm, batch statistics).",
        ),
        Flag(
            "norm-position",
            choice("pre", "post"),
            d["norm_position"],
            "resmlp: pre (first thing in each branch) or post (after each addition).",
        ),
        Flag(
            "residual-init",
            choice(*RESIDUAL_INITS),
            d["residual_init"],
            "resmlp: none; fixup (each branch's last Linear zero, the others scaled by "
            "blocks^(-1/(2m-2))); skipinit (a trained scalar per branch, starting at 0).",
        ),
    ]


RESMLP_ONLY = ("branch_depth", "residual_scale", "norm", "norm_position", "residual_init")


def fail_on_flag(verdicts: tuple[str, ...]) -> Flag:
    """--fail-on: offered by exactly the commands that give verdicts."""
    return Flag(
        "fail-on",
        verdict_list(verdicts),
        (),
        f"Exit 1 if any of these verdicts (comma list) holds: {', '.join(verdicts)}.",
        panel=OUTPUT,
    )


def verdict_flags(
    verdicts: tuple[str, ...],
    explode: tuple[float, str],
    vanish: tuple[float, str],
    dead: tuple[float, str],
) -> list[Flag]:
    """The thresholds behind the exploding / vanishing / dead verdicts (each a
    default and what it means to this command), and --fail-on."""
    return [
        Flag("explode-ratio", float_range(1.0, 1e300, lo_open=True), *explode, kind="float", panel=OUTPUT),
        Flag(
            "vanish-ratio",
            float_range(0.0, 1.0, lo_open=True, hi_open=True),
            *vanish,
            kind="float",
            panel=OUTPUT,
        ),
        Flag("dead-frac", float_range(0.0, 1.0, lo_open=True), *dead, kind="float", panel=OUTPUT),
        fail_on_flag(verdicts),
    ]


# ---------------------------------------------------------------------------
# Resolution: command line > config file > defaults.

META_KEYS = ("command", "description")  # allowed in a config file besides flags


def resolve(
    command: str,
    flags: list[Flag],
    given: Mapping[str, Any],
    config: Path | None = None,
) -> dict[str, Any]:
    """Checked values for every flag, keyed by python name (`batch_size`).

    `given` holds what the user typed, keyed by flag or python name; None means
    "not typed".  A config file's keys are the flag names (underscores accepted).
    """
    from nninit_cli.config import find_preset, load_config  # tomllib only when a file is given

    by_name = {f.name: f for f in flags}
    typed = {k.replace("_", "-"): v for k, v in given.items() if v is not None}
    file_values: dict[str, Any] = {}
    if config is not None:
        config = find_preset(str(config))  # a path, or a preset's name in configs/
        file_values = load_config(config, command, list(by_name), META_KEYS)
    out: dict[str, Any] = {}
    wheres: dict[str, str] = {}
    for flag in flags:
        if flag.name in typed:
            raw, where = typed[flag.name], f"--{flag.name}"
        elif flag.name in file_values:
            raw, where = file_values[flag.name], f"--config {config}: key '{flag.name}'"
        else:
            raw, where = flag.default, f"--{flag.name} (default)"
        try:
            out[flag.key] = flag.parse(raw)
        except ValueError as e:
            raise SpecError(where, str(e)) from None
        wheres[flag.key] = where
    if "no-bias" in typed and typed["no-bias"] and "bias" in typed:
        raise SpecError("--no-bias", "cannot be combined with --bias; use one of them")
    if out.get("bias_std", 0.0) > 0:
        _random_bias_mean(out, wheres)
    if out.get("arch") == "mlp":  # named where it was set: the command line or a config file
        for key in RESMLP_ONLY:
            if key in out and out[key] != NetSpec.__dataclass_fields__[key].default:
                raise SpecError(wheres[key], "applies to --arch resmlp only (add --arch resmlp)")
    return out


def _random_bias_mean(out: dict[str, Any], wheres: Mapping[str, str]) -> None:
    """--bias-std S draws biases N(B, S^2) around a numeric --bias B: 0 where
    --bias was left at its default none; an explicit none (or --no-bias) or
    default (nn.Linear's uniform draw) leaves no number to centre them on."""
    bias = "none" if out.get("no_bias") else out["bias"]
    if isinstance(bias, float):
        return
    if bias == "none" and not out.get("no_bias") and wheres["bias"].endswith("(default)"):
        out["bias"] = 0.0
        return
    given = "--no-bias" if out.get("no_bias") else f"--bias {bias}"
    rule = "draws biases N(--bias, S^2) and needs a numeric --bias (0 if left out)"
    raise SpecError(wheres["bias_std"], f"{rule}, not {given}")


# ---------------------------------------------------------------------------
# The model spec shared by every command.


@dataclass(frozen=True)
class NetSpec:
    """A stack of `layers` Linear layers of `width` units and its random input.

    `gain` is the resolved number (None where the initialiser takes no gain);
    `gain_mode` records how it was chosen (auto, torch or a number).
    """

    act: str = "linear"
    negative_slope: float = 0.01  # lrelu only
    init: str = "normal"
    value: float = 0.0  # constant
    mean: float = 0.0  # normal, trunc-normal
    std: float = 1.0  # normal, trunc-normal, sparse
    low: float = -1.0  # uniform
    high: float = 1.0  # uniform
    fan_mode: str = "fan_in"  # kaiming-*
    sparsity: float = 0.1  # sparse: fraction of zeros per column
    gain_mode: str = "auto"
    gain: float | None = None
    gain_source: str | None = None
    bias: str | float = "none"  # a number, "none" or "default"
    bias_std: float = 0.0  # > 0: biases drawn N(bias, bias_std^2) (bias then a number)
    layers: int = 100
    width: int = 256
    batch_size: int = 16
    seed: int = 0
    device: str = "cpu"
    dtype: str = "float32"
    # the architecture: mlp, or resmlp (`layers` residual blocks on a stream of `width`)
    arch: str = "mlp"
    branch_depth: int = 2  # Linear layers per residual branch
    residual_scale: float = 1.0  # alpha in x <- x + alpha * branch(x), resolved
    residual_scale_mode: str = "number"  # number or invsqrt
    norm: str = "none"  # none, layer or batch
    norm_position: str = "pre"  # pre: first in the branch; post: after the addition
    residual_init: str = "none"  # none, fixup or skipinit

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if self.arch == "mlp":  # the residual knobs mean nothing to a plain MLP
            for k in (*RESMLP_ONLY, "residual_scale_mode"):
                del d[k]
        return d

    @property
    def residual(self) -> bool:
        return self.arch == "resmlp"

    def linear_gains(self) -> tuple[float | None, ...]:
        """The gain of each Linear in a residual branch, first to last.

        He's derivation, Linear by Linear: the gain undoes what the Linear's
        input went through.  With --gain auto the branch's first Linear reads
        the stream (not activated: gain 1, or whatever `--act linear` gives) and
        every later one reads the activation's outputs (its gain); a number or
        `torch` applies to every Linear alike.  None where the init has no gain.
        """
        if self.gain is None:
            return (None,) * self.branch_depth
        if self.gain_mode != "auto":
            return (self.gain,) * self.branch_depth
        from nninit_cli.theory import auto_gain

        first, _ = auto_gain("linear")
        return (first,) + (self.gain,) * (self.branch_depth - 1)


def resolve_gain(
    act: str, negative_slope: float, init: str, mode: str | float
) -> tuple[float | None, str | None]:
    """The number behind `--gain` for `init`, and a word on where it came from."""
    record = registry.INITS[init]
    if record.torch_default_gain is None:  # the init takes no gain
        return None, None
    if mode == "torch":
        return record.torch_default_gain, f"torch's default for {init}"
    if mode == "auto":
        from nninit_cli.theory import auto_gain

        gain, source = auto_gain(act, negative_slope)
        return gain, f"{source} for {act}"
    return float(mode), "--gain"


def _check_dtype_range(values: Mapping[str, Any], bias: str | float, gain: float | None) -> None:
    """Refuse finite numbers that overflow the dtype before anything is drawn.

    Weights and biases are drawn in float32 and then cast, so float32's range
    bounds them whatever --dtype is (and bfloat16's, slightly narrower, too)."""
    from nninit_cli.resources import DTYPE_MAX

    dtype = values["dtype"]
    limit = min(DTYPE_MAX[dtype], DTYPE_MAX["float32"])
    where = dtype if dtype != "float64" else "float32, in which weights are drawn"
    init = values["init"]
    checks = [("--bias", bias if isinstance(bias, float) else 0.0)]
    # the init's flags whose values are written into the weights as they are
    checks += [(f"--{f}", values[f.replace("-", "_")]) for f in registry.INITS[init].value_flags]
    if gain is not None:
        checks.append(("--gain", gain))
    for flag, x in checks:
        if not abs(x) <= limit:
            raise SpecError(
                flag, f"{x:g} overflows {where} (finite values are within +-{limit:.4g}); use a smaller value"
            )
    if init == "uniform" and not values["high"] - values["low"] <= limit:  # uniform_: low + (high-low) u
        raise SpecError(
            "--high",
            f"--high - --low = {values['high'] - values['low']:g} overflows {where} "
            f"(at most {limit:.4g}); narrow the interval",
        )


def net_spec(values: Mapping[str, Any], act: str | None = None) -> NetSpec:
    """A NetSpec from resolved values; `act` overrides for commands that sweep it."""
    act = act or values["act"]
    if values["init"] == "trunc-normal" and values["std"] == 0:
        raise SpecError("--std", "trunc-normal needs a std above 0 (it cuts at mean +- 2 std)")
    if values["init"] == "uniform" and values["low"] >= values["high"]:
        raise SpecError("--low", f"must be below --high ({values['low']:g} >= {values['high']:g})")
    gain, source = resolve_gain(act, values["negative_slope"], values["init"], values["gain"])
    bias = "none" if values.get("no_bias") else values["bias"]
    _check_dtype_range(values, bias, gain)
    return NetSpec(
        act=act,
        negative_slope=values["negative_slope"],
        init=values["init"],
        value=values["value"],
        mean=values["mean"],
        std=values["std"],
        low=values["low"],
        high=values["high"],
        fan_mode=values["fan_mode"],
        sparsity=values["sparsity"],
        gain_mode=values["gain"] if isinstance(values["gain"], str) else "number",
        gain=gain,
        gain_source=source,
        bias=bias,
        bias_std=values.get("bias_std", 0.0),
        layers=values["layers"],
        width=values["width"],
        batch_size=values["batch_size"],
        seed=values["seed"],
        device=values["device"],
        dtype=values["dtype"],
        **_arch_values(values),
    )


def check_batch_norm(net: NetSpec) -> NetSpec:
    """BatchNorm normalises over the batch: one example has no statistics."""
    if net.norm == "batch" and net.batch_size < 2:
        raise SpecError("--norm", "batch normalises over the batch: it needs --batch-size 2 or more")
    return net


def _arch_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The NetSpec fields of the architecture (none for a plain MLP)."""
    arch = values.get("arch", "mlp")
    if arch == "mlp":  # resolve() has refused resmlp knobs set on an MLP
        return {}
    scale = values["residual_scale"]
    return dict(
        arch=arch,
        branch_depth=values["branch_depth"],
        residual_scale=1.0 / math.sqrt(values["layers"]) if scale == "invsqrt" else float(scale),
        residual_scale_mode="invsqrt" if scale == "invsqrt" else "number",
        norm=values["norm"],
        norm_position=values["norm_position"],
        residual_init=values["residual_init"],
    )


# ---------------------------------------------------------------------------
# std-trace


@dataclass(frozen=True)
class StdTraceSpec:
    """`nninit std-trace`: a stack of `layers` width x width Linear layers fed
    N(0, 1) input; the seed experiment's defaults (100 x 256, batch 16, linear,
    N(0, 1) weights, no bias)."""

    net: NetSpec
    backward: bool = False  # also trace gradients (keeps the graph in memory)
    explode_ratio: float = 1e3  # final/input std above this: exploding
    vanish_ratio: float = 1e-3  # below this: vanishing
    dead_frac: float = 0.99  # a layer with this fraction of exact zeros: dead
    fail_on: tuple[str, ...] = ()
    input_corr: float = 0.0  # the input rows' pairwise correlation (0: independent rows)

    def to_dict(self) -> dict[str, Any]:
        d = self.net.to_dict()
        d.update(
            input_corr=self.input_corr,
            backward=self.backward,
            explode_ratio=self.explode_ratio,
            vanish_ratio=self.vanish_ratio,
            dead_frac=self.dead_frac,
            fail_on=list(self.fail_on),
        )
        return d


def std_trace_flags() -> list[Flag]:
    from nninit_cli.results import STD_TRACE_VERDICTS

    return [
        *net_flags(),
        Flag(
            "backward",
            boolean,
            False,
            "Also backpropagate a random N(0,1) gradient and report its std and each weight's gradient norm.",
            kind="bool",
        ),
        Flag(
            "input-corr",
            float_range(0.0, 1.0, hi_open=True),
            0.0,
            "Correlation C between the input rows, in [0, 1): x = sqrt(C) z_shared + sqrt(1-C) z_own.",
            kind="float",
        ),
        *verdict_flags(
            STD_TRACE_VERDICTS,
            explode=(1e3, "Verdict exploding when final/input std is above this (> 1)."),
            vanish=(1e-3, "Verdict vanishing when final/input std is below this, in (0, 1)."),
            dead=(0.99, "Verdict dead when a layer has at least this fraction of exact zeros."),
        ),
    ]


def std_trace_spec(given: Mapping[str, Any], config: Path | None = None) -> StdTraceSpec:
    values = resolve("std-trace", std_trace_flags(), given, config)
    spec = StdTraceSpec(
        net=check_batch_norm(net_spec(values)),
        backward=values["backward"],
        explode_ratio=values["explode_ratio"],
        vanish_ratio=values["vanish_ratio"],
        dead_frac=values["dead_frac"],
        fail_on=values["fail_on"],
        input_corr=values["input_corr"],
    )
    if spec.input_corr > 0 and spec.net.batch_size < 2:
        raise SpecError("--input-corr", "needs --batch-size 2 or more (pairs of examples)")
    resources.require(resources.std_trace(spec.net, spec.backward))
    return spec


# ---------------------------------------------------------------------------
# grad-norms

GRAD_NORMS_VERDICTS = ("healthy", "dead", "vanishing", "exploding")
DATASET_NAMES = ("moons", "circles")


@dataclass(frozen=True)
class GradNormsSpec:
    """`nninit grad-norms`: per-parameter gradient norms of an MLP on a 2-D toy
    task, one run per activation in `acts`; defaults are the course's
    Model_MLP_L5 (2-3-3-3-3-1, N(0, 0.01) weights, biases 1.0, SGD lr 0.01)."""

    nets: tuple[NetSpec, ...]  # one per activation, same seed and data
    dataset: str = "moons"
    noise: float = 0.2
    lr: float = 0.01
    steps: int = 1  # gradients recorded; updates happen between them (steps - 1)
    dead_frac: float = 0.99  # a layer with this fraction of dead units: dead
    vanish_ratio: float = 1e-4  # |g(fc1.weight)| / |g(fcN.weight)| below: vanishing
    explode_ratio: float = 1e4  # above: exploding
    fail_on: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = self.nets[0].to_dict()
        d["act"] = [n.act for n in self.nets]
        d["gain"] = [n.gain for n in self.nets]
        d["gain_source"] = [n.gain_source for n in self.nets]
        d.update(
            dataset=self.dataset,
            noise=self.noise,
            lr=self.lr,
            steps=self.steps,
            dead_frac=self.dead_frac,
            vanish_ratio=self.vanish_ratio,
            explode_ratio=self.explode_ratio,
            fail_on=list(self.fail_on),
        )
        return d


TRAIN_SIZE = 640  # moons and circles: 1000 points split 640 / 160 / 200


def grad_norms_flags() -> list[Flag]:
    base = net_flags(act="sigmoid", std=0.01, bias=1.0, layers=5, width=3, batch_size=TRAIN_SIZE)
    base[0] = Flag(  # a comma list: one run per activation
        "act",
        act_list,
        "sigmoid",
        "Hidden activation, or a comma list (sigmoid,relu,lrelu): one run per activation, "
        "same seed and data, shown side by side.",
    )
    base = reworded(
        base,
        batch_size="Examples per step (default: the whole training set, as the course does).",
        layers="Number of Linear layers, the sigmoid output layer included.",
    )
    return [
        *base,
        Flag(
            "dataset",
            choice(*DATASET_NAMES),
            "moons",
            "moons or circles: 1000 points split 640 train / 160 dev / 200 test.",
        ),
        Flag("noise", float_range(0.0, 10.0), 0.2, "Std of the data's Gaussian jitter.", kind="float"),
        Flag("lr", float_range(0.0, 1e6, lo_open=True), 0.01, "SGD learning rate (> 0).", kind="float"),
        Flag(
            "steps",
            int_range(1, 1_000_000),
            1,
            "Gradients recorded; the optimiser updates between them (steps - 1 updates). "
            "The table shows step 1 and step N; JSON has every step.",
            kind="int",
        ),
        *verdict_flags(
            GRAD_NORMS_VERDICTS,
            explode=(
                1e4,
                "Verdict exploding when that ratio is above this, or a step's loss or norm is inf/nan.",
            ),
            vanish=(
                1e-4,
                "Verdict vanishing when |grad fc1.weight| / |grad fcN.weight| at step 1 is below this.",
            ),
            dead=(
                0.99,
                "Verdict dead when a hidden layer has at least this fraction of dead units, in (0, 1].",
            ),
        ),
    ]


def grad_norms_spec(given: Mapping[str, Any], config: Path | None = None) -> GradNormsSpec:
    values = resolve("grad-norms", grad_norms_flags(), given, config)
    if values["layers"] < 2:
        raise SpecError("--layers", "must be at least 2 (a hidden layer and the output), got 1")
    if values["batch_size"] > TRAIN_SIZE:
        raise SpecError("--batch-size", f"must be at most the training set's {TRAIN_SIZE} examples")
    nets = tuple(check_batch_norm(net_spec(values, act=a)) for a in values["act"])
    resources.require(resources.grad_norms(nets))
    return GradNormsSpec(
        nets=nets,
        dataset=values["dataset"],
        noise=values["noise"],
        lr=values["lr"],
        steps=values["steps"],
        dead_frac=values["dead_frac"],
        vanish_ratio=values["vanish_ratio"],
        explode_ratio=values["explode_ratio"],
        fail_on=values["fail_on"],
    )


# ---------------------------------------------------------------------------
# init-compare

COMPARE_INITS = (
    "zeros",
    "normal",
    "uniform",
    "xavier-uniform",
    "xavier-normal",
    "kaiming-normal",
    "kaiming-uniform",
    "orthogonal",
    "lsuv",
    "default",
)


def init_list(raw: Any) -> tuple[str, ...]:
    """A comma list of initialisers; duplicates dropped, order kept."""
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    names = [_init(str(item)) for item in items if str(item).strip()]
    if not names:
        raise ValueError(f"needs at least one of {registry.init_choices()}")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class CellSpec:
    """One cell of the grid: one initialiser and one activation over several
    seeds.  Plain data: `to_dict` / `from_dict` round-trip through JSON, so
    the units of work that carry cells (`experiments.init_compare.plan_units`)
    can be shipped to any worker and run there with `run_unit`."""

    net: NetSpec  # init, act and shape; its seed is the first of `seeds`
    seeds: tuple[int, ...]
    train_epochs: int = 0
    lr: float = 0.2
    dataset: str = "moons"
    explode_ratio: float = 1e3
    vanish_ratio: float = 1e-3
    dead_frac: float = 0.99

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["seeds"] = list(self.seeds)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CellSpec:
        return cls(**{**d, "net": NetSpec(**d["net"]), "seeds": tuple(d["seeds"])})

    @property
    def shape_key(self) -> tuple[Any, ...]:
        """Cells with equal keys can share stacked weights and batched matmuls."""
        n = self.net
        return (n.act, n.negative_slope, n.layers, n.width, n.batch_size, n.device, n.dtype, n.bias == "none")


@dataclass(frozen=True)
class CompareSpec:
    """`nninit init-compare`: the grid inits x acts x seeds."""

    cells: tuple[CellSpec, ...]
    inits: tuple[str, ...]
    acts: tuple[str, ...]
    batched: bool = True
    fail_on: tuple[str, ...] = ()
    config: dict[str, Any] | None = None
    alpha: float = 0.05
    workers: int = 1
    executor: str = "local"
    ray_address: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.config or {}, batched=self.batched, fail_on=list(self.fail_on))


def init_compare_flags() -> list[Flag]:
    from nninit_cli.results import STD_TRACE_VERDICTS

    base = [f for f in net_flags(layers=50) if f.name != "init"]  # --inits sweeps it
    base = reworded(
        base,
        act="The activation when --acts is not given.",
        seed="First seed; the cells use --seeds consecutive seeds from it.",
    )
    return [
        *base,
        Flag("inits", init_list, COMPARE_INITS, "Initialisers to compare (comma list)."),
        Flag(
            "acts",
            lambda raw: act_list(raw) if raw not in ((), "", []) else (),  # () = --act
            (),
            "Activations (comma list; default: --act).",
        ),
        Flag("seeds", int_range(1, 1000), 3, "Seeds per cell (mean and spread over them).", kind="int"),
        Flag(
            "train-epochs",
            int_range(0, 100_000),
            0,
            "Also train each cell's MLP this many full-batch epochs.",
            kind="int",
        ),
        Flag(
            "lr",
            float_range(0.0, 1e6, lo_open=True),
            0.2,
            "SGD learning rate of the training probe.",
            kind="float",
        ),
        Flag("dataset", choice(*DATASET_NAMES), "moons", "Data of the training probe: moons or circles."),
        Flag(
            "no-batch",
            boolean,
            False,
            "Run every model on its own instead of stacked (same numbers to rounding, slower).",
            kind="bool",
        ),
        Flag(
            "alpha",
            float_range(0.0, 0.5, lo_open=True, hi_open=True),
            0.05,
            "Significance level of the paired test between two inits; a pair that "
            "is not significant shares a rank.",
            kind="float",
            panel=OUTPUT,
        ),
        Flag(
            "workers",
            int_range(1, 256),
            1,
            "Run the grid's units in this many local processes (1: in this one). Same numbers.",
            kind="int",
            panel=RUN,
        ),
        Flag(
            "executor",
            choice(*EXECUTORS),
            "local",
            "local (this machine, --workers processes) or ray (pip install 'nninit[ray]').",
            panel=RUN,
        ),
        Flag(
            "ray-address",
            lambda raw: None if raw is None else _ray_address(raw),
            None,
            "The Ray cluster to use with --executor ray (default: a local Ray with --workers CPUs).",
            panel=RUN,
            metavar="ADDRESS",
        ),
        *verdict_flags(
            STD_TRACE_VERDICTS,
            explode=(1e3, "A cell is exploding when final/input std is above this (> 1)."),
            vanish=(1e-3, "A cell is vanishing when final/input std is below this, in (0, 1)."),
            dead=(0.99, "A cell is dead when a layer has at least this fraction of exact zeros."),
        ),
    ]


def init_compare_spec(given: Mapping[str, Any], config: Path | None = None) -> CompareSpec:
    values = resolve("init-compare", init_compare_flags(), given, config)
    acts = values["acts"] or (values["act"],)
    if values["seed"] + values["seeds"] - 1 > 2**63 - 1:
        raise SpecError("--seed", f"--seed + --seeds - 1 must be at most {2**63 - 1} (seeds are consecutive)")
    seeds = tuple(range(values["seed"], values["seed"] + values["seeds"]))
    cells = tuple(
        CellSpec(
            net=check_batch_norm(net_spec({**values, "init": init}, act=act)),
            seeds=seeds,
            train_epochs=values["train_epochs"],
            lr=values["lr"],
            dataset=values["dataset"],
            explode_ratio=values["explode_ratio"],
            vanish_ratio=values["vanish_ratio"],
            dead_frac=values["dead_frac"],
        )
        for act in acts
        for init in values["inits"]
    )
    if values["ray_address"] is not None and values["executor"] != "ray":
        raise SpecError("--ray-address", "needs --executor ray")
    # where the grid runs is not what it computes: the JSON is the same bytes whatever these say
    skip = ("fail_on", "act", "init", "no_batch", "workers", "executor", "ray_address")
    if values["arch"] == "mlp":
        skip += RESMLP_ONLY
    config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in values.items() if k not in skip}
    gains = {f"{c.net.init}/{c.net.act}": c.net.gain for c in cells}
    config.update(acts=list(acts), seeds=list(seeds), gains=gains)
    resources.require(resources.init_compare(cells, not values["no_batch"], values["workers"]))
    return CompareSpec(
        cells,
        values["inits"],
        acts,
        not values["no_batch"],
        values["fail_on"],
        config,
        alpha=values["alpha"],
        workers=values["workers"],
        executor=values["executor"],
        ray_address=values["ray_address"],
    )


def _ray_address(raw: Any) -> str:
    """auto, host:port or ray://host:port, as ray.init takes it."""
    text = str(raw).strip()
    match = re.fullmatch(r"(ray://)?[A-Za-z0-9_.\-\[\]:]+:(\d{1,5})", text)
    if text != "auto" and not (match and 1 <= int(match.group(2)) <= 65535):
        raise ValueError(f"must be auto, HOST:PORT (port 1 to 65535) or ray://HOST:PORT, got {raw!r}")
    return text


# ---------------------------------------------------------------------------
# train

# per data set: (examples in all, train, dev); the test set is the rest
DATA_SIZES = {
    "moons": (1000, 640, 160),
    "circles": (1000, 640, 160),
    "linreg": (220, 20, 100),  # seed 001: 20 training points for 200 features
    "digits": (1797, 1200, 300),
    "mnist": (70000, 55000, 5000),
    "fashion-mnist": (70000, 55000, 5000),
}
TRAIN_DATASETS = ("moons", "circles", "linreg", "digits", "mnist", "fashion-mnist")
TRAIN_VERDICTS = ("ok", "nonfinite", "symmetric")
# per data set: hidden layers, batch size (None: full batch, as the course does)
TRAIN_DEFAULTS = {
    "moons": ((5,), None),
    "circles": ((5,), None),
    "linreg": ((), 1),  # seed 001: a linear model, one example per step
    "digits": ((256,), 64),
    "mnist": ((256,), 256),
    "fashion-mnist": ((256,), 256),
}


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def hidden_list(raw: Any) -> tuple[int, ...] | None:
    """--hidden 5 or 256,256 or 64x32 (32 layers of 64); 'none' for no hidden
    layer (a linear model)."""
    if raw is None:
        return None
    if isinstance(raw, str) and raw.strip().lower() in ("none", ""):
        return ()
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    rule = "must be a comma list of widths from 1 to 65536 (WxK: K layers of W), or none"
    out: list[int] = []
    for item in items:
        width, cross, times = str(item).strip().lower().partition("x")
        if not _digits(width) or (cross and not _digits(times)):
            raise ValueError(f"{rule}, got {raw!r}")
        n, k = int(width), int(times) if cross else 1
        if not 1 <= n <= 65_536:
            raise ValueError(f"every width must be from 1 to 65536, got {n}")
        if not 1 <= k <= 10_000 or len(out) + k > 10_000:
            raise ValueError(f"WxK needs K from 1 to 10000 (10000 hidden layers at most), got {raw!r}")
        out += [n] * k
    return tuple(out)


def dropout_list(raw: Any) -> tuple[float, ...]:
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    parse = float_range(0.0, 1.0, hi_open=True)
    try:
        return tuple(parse(str(i).strip()) for i in items if str(i).strip())
    except ValueError:
        raise ValueError(f"must be drop probabilities in [0, 1), one per hidden layer, got {raw!r}") from None


@dataclass(frozen=True)
class TrainSpec:
    """`nninit train`: an MLP trained on one data set, with the course's
    RunnerV2_2 habits (evaluate on dev every epoch, keep the best model)."""

    net: NetSpec
    dataset: str = "moons"
    data_dir: str | None = None
    train_size: int | None = None
    dev_size: int | None = None
    noise: float = 0.2
    hidden: tuple[int, ...] = (5,)
    dropout: tuple[float, ...] = ()
    loss: str = "auto"  # auto (by task) or nll (multi-class: log-softmax + NLL)
    optimizer: str = "sgd"
    lr: float = 0.2
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    decay_bias: bool = False
    epochs: int = 100
    batch_size: int | None = None  # None: the whole training set
    log_every: int = 50
    watch: tuple[str, ...] = ()
    fail_on: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = self.net.to_dict()
        for k in ("layers", "width", "batch_size"):
            d.pop(k)
        d.update({k: v for k, v in asdict(self).items() if k != "net"})
        d.update(
            hidden=list(self.hidden),
            dropout=list(self.dropout),
            watch=list(self.watch),
            fail_on=list(self.fail_on),
        )
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainSpec:
        """Rebuild the spec a run recorded in its config.json."""
        own = {f.name for f in fields(cls)} - {"net"}
        net_keys = {f.name for f in fields(NetSpec)}
        hidden = d["hidden"]
        layers = len(hidden) if d.get("arch") == "resmlp" else len(hidden) + 1
        shape = {"layers": layers, "width": hidden[0] if hidden else 1, "batch_size": 1}
        net = NetSpec(**{k: v for k, v in d.items() if k in net_keys and k not in shape}, **shape)
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in own}
        return cls(net=net, **values)


def train_flags() -> list[Flag]:
    base = [
        f
        for f in net_flags(act="sigmoid", std=1.0, bias=0.0)
        if f.name not in ("layers", "width", "batch-size")
    ]
    base = reworded(
        base,
        arch="mlp (Linear layers of --hidden widths) or resmlp (a stem Linear, residual blocks "
        "x <- x + alpha * branch(x) on a stream, a head Linear: --hidden WxK gives K blocks of W).",
    )
    size = int_range(1, 10**7)
    return [
        *base,
        Flag(
            "dataset",
            choice(*TRAIN_DATASETS),
            "moons",
            "moons, circles, linreg, digits (8x8, ships with scikit-learn), mnist, fashion-mnist "
            "(IDX files in --data-dir).",
        ),
        Flag(
            "hidden",
            hidden_list,
            None,
            "Hidden widths: 5 or 256,256, WxK for K layers of W (64x32); 'none' for a linear model "
            "(default by data set: moons 5, linreg none, digits 256). With --arch resmlp: WxK, "
            "K residual blocks on a stream of W units.",
        ),
        Flag(
            "dropout",
            dropout_list,
            (),
            "Drop probability after each hidden layer (one, or one per layer), training only; "
            "resmlp: one, after every activation in every branch.",
        ),
        Flag(
            "data-dir",
            lambda raw: None if raw is None else str(raw),
            None,
            "Folder with the four MNIST-style IDX files (gzipped or raw).",
        ),
        Flag(
            "train-size",
            lambda raw: None if raw is None else size(raw),
            None,
            "Training examples (default by data set: moons 640, digits 1200, ...).",
            kind="int",
        ),
        Flag(
            "dev-size",
            lambda raw: None if raw is None else size(raw),
            None,
            "Dev examples; the test set is the rest.",
            kind="int",
        ),
        Flag("noise", float_range(0.0, 10.0), 0.2, "moons, circles: std of the jitter.", kind="float"),
        Flag(
            "loss", choice("auto", "nll"), "auto", "auto (by task) or nll (multi-class: log-softmax + NLL)."
        ),
        Flag("optimizer", choice("sgd", "adam", "adamw"), "sgd", "sgd, adam or adamw."),
        Flag("lr", float_range(0.0, 1e6, lo_open=True), 0.2, "Learning rate.", kind="float"),
        Flag("momentum", float_range(0.0, 1.0, hi_open=True), 0.0, "SGD momentum, in [0, 1).", kind="float"),
        Flag("nesterov", boolean, False, "Nesterov momentum (SGD with --momentum).", kind="bool"),
        Flag(
            "weight-decay",
            float_range(0.0, 1e6),
            0.0,
            "L2 weight decay, on the weights only unless --decay-bias.",
            kind="float",
        ),
        Flag("decay-bias", boolean, False, "Decay the biases too.", kind="bool"),
        Flag("epochs", int_range(1, 10**7), 100, "Passes over the training set.", kind="int"),
        Flag(
            "batch-size",
            lambda raw: None if raw is None else size(raw),
            None,
            "Examples per step (default by data set: whole set for moons, 1 for linreg, 64 for digits).",
            kind="int",
        ),
        Flag("log-every", int_range(1, 10**7), 50, "Print a line (and watch) every N epochs.", kind="int"),
        Flag(
            "watch",
            verdict_list(("weights", "grads")),
            (),
            "weights and/or grads: record per-layer snapshots every --log-every epochs to watch.jsonl.",
        ),
        fail_on_flag(TRAIN_VERDICTS),
    ]


def _check_batches(spec: TrainSpec) -> None:
    """BatchNorm cannot normalise a minibatch of one example: refuse a
    --batch-size that leaves one (the last minibatch of an epoch included)."""
    if spec.net.norm != "batch":
        return
    n = spec.train_size or DATA_SIZES[spec.dataset][1]
    size = spec.batch_size or n
    if min(size, n) < 2 or n % size == 1:
        raise SpecError(
            "--batch-size",
            f"with --norm batch every minibatch needs 2 or more examples; {n} training examples "
            f"in batches of {size} leave one alone",
        )


def train_spec(given: Mapping[str, Any], config: Path | None = None) -> TrainSpec:
    values = resolve("train", train_flags(), given, config)
    hidden_default, batch_default = TRAIN_DEFAULTS[values["dataset"]]
    hidden = values["hidden"] if values["hidden"] is not None else hidden_default
    if values["dropout"] and len(values["dropout"]) not in (1, len(hidden)):
        raise SpecError(
            "--dropout",
            f"give one probability or one per hidden layer ({len(hidden)}), got {len(values['dropout'])}",
        )
    dropout = values["dropout"]
    if len(dropout) == 1 and values["arch"] == "mlp":  # one per hidden layer; resmlp's is per branch
        dropout = dropout * len(hidden)
    if values["nesterov"] and (values["optimizer"] != "sgd" or values["momentum"] == 0):
        raise SpecError("--nesterov", "needs --optimizer sgd and a --momentum above 0")
    if values["loss"] == "nll" and values["dataset"] not in ("digits", "mnist", "fashion-mnist"):
        raise SpecError("--loss", "nll is for multi-class data sets (digits, mnist, fashion-mnist)")
    width = hidden[0] if hidden else 1
    layers = len(hidden) + 1
    if values["arch"] == "resmlp":
        if not hidden or len(set(hidden)) > 1:
            raise SpecError("--hidden", "resmlp needs one stream width: WxK, K blocks of W (e.g. 64x32)")
        if len(values["dropout"]) > 1:
            raise SpecError("--dropout", "resmlp takes one probability, applied in every branch")
        layers = len(hidden)
    net = net_spec({**values, "layers": layers, "width": width, "batch_size": 1})
    spec = TrainSpec(
        net=net,
        dataset=values["dataset"],
        data_dir=values["data_dir"],
        train_size=values["train_size"],
        dev_size=values["dev_size"],
        noise=values["noise"],
        hidden=hidden,
        dropout=dropout,
        loss=values["loss"],
        optimizer=values["optimizer"],
        lr=values["lr"],
        momentum=values["momentum"],
        nesterov=values["nesterov"],
        weight_decay=values["weight_decay"],
        decay_bias=values["decay_bias"],
        epochs=values["epochs"],
        batch_size=values["batch_size"] if values["batch_size"] is not None else batch_default,
        log_every=values["log_every"],
        watch=values["watch"],
        fail_on=values["fail_on"],
    )
    _check_batches(spec)
    resources.require(resources.train(spec, DATA_SIZES))
    return spec


# ---------------------------------------------------------------------------
# gain, activations, init-hist: the small lessons

ALL_ACTS = tuple(registry.ACTIVATIONS)


@dataclass(frozen=True)
class GainSpec:
    """`nninit gain`: three gains per activation (torch's, empirical, fixed point)."""

    acts: tuple[str, ...] = ALL_ACTS
    negative_slope: float = 0.01
    samples: int = 10_000
    repeats: int = 10
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "acts": list(self.acts)}


def _shared(*names: str, **defaults: Any) -> list[Flag]:
    """Some of the model flags, in `names`' order, for a command that builds no model."""
    by_name = {f.name: f for f in net_flags(**defaults)}
    return [by_name[n] for n in names]


def gain_flags() -> list[Flag]:
    return [
        Flag("act", act_list, ALL_ACTS, "Activations (comma list)."),
        *_shared("negative-slope"),
        Flag("samples", int_range(2, 100_000_000), 10_000, "N(0,1) draws per estimate.", kind="int"),
        Flag(
            "repeats",
            int_range(1, 10_000),
            10,
            "Independent estimates (mean and standard error).",
            kind="int",
        ),
        *_shared("seed"),
    ]


def gain_spec(given: Mapping[str, Any], config: Path | None = None) -> GainSpec:
    v = resolve("gain", gain_flags(), given, config)
    resources.require(resources.gain(v["samples"]))
    return GainSpec(v["act"], v["negative_slope"], v["samples"], v["repeats"], v["seed"])


@dataclass(frozen=True)
class ActivationsSpec:
    """`nninit activations`: values and derivatives on a grid (seed 001's xyplot)."""

    acts: tuple[str, ...] = ("relu", "sigmoid", "tanh")
    negative_slope: float = 0.01
    min: float = -8.0
    max: float = 8.0
    step: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "acts": list(self.acts)}


def activations_flags() -> list[Flag]:
    return [
        Flag("act", act_list, ("relu", "sigmoid", "tanh"), "Activations (comma list)."),
        *_shared("negative-slope"),
        Flag("min", float_range(-1e6, 1e6), -8.0, "Grid start.", kind="float"),
        Flag("max", float_range(-1e6, 1e6), 8.0, "Grid end (excluded).", kind="float"),
        Flag("step", float_range(0.0, 1e6, lo_open=True), 0.1, "Grid step.", kind="float"),
    ]


def activations_spec(given: Mapping[str, Any], config: Path | None = None) -> ActivationsSpec:
    v = resolve("activations", activations_flags(), given, config)
    if v["min"] >= v["max"]:
        raise SpecError("--min", f"must be below --max ({v['min']:g} >= {v['max']:g})")
    if (v["max"] - v["min"]) / v["step"] > 1_000_000:
        raise SpecError("--step", "gives more than 1,000,000 points; use a larger step")
    return ActivationsSpec(v["act"], v["negative_slope"], v["min"], v["max"], v["step"])


@dataclass(frozen=True)
class InitHistSpec:
    """`nninit init-hist`: samples of each initialiser against its theory (E1's figure)."""

    nets: tuple[NetSpec, ...]
    samples: int = 10_000
    bins: int = 200
    fan_in: int = 100
    fan_out: int = 100

    def to_dict(self) -> dict[str, Any]:
        d = self.nets[0].to_dict()
        for k in ("layers", "width", "batch_size", "device", "dtype"):
            d.pop(k)
        d.update(
            init=[n.init for n in self.nets],
            gain=[n.gain for n in self.nets],
            samples=self.samples,
            bins=self.bins,
            fan_in=self.fan_in,
            fan_out=self.fan_out,
        )
        return d


def init_hist_flags() -> list[Flag]:
    keep = (
        "act",
        "negative-slope",
        "value",
        "mean",
        "std",
        "low",
        "high",
        "fan-mode",
        "sparsity",
        "gain",
        "seed",
    )
    flags = [f for f in net_flags(act="linear") if f.name in keep]
    return [
        Flag("init", init_list, ("normal", "uniform"), "Initialisers (comma list)."),
        *reworded(flags, act="Activation whose gain --gain auto uses."),
        Flag("samples", int_range(1, 100_000_000), 10_000, "Weights drawn per init.", kind="int"),
        Flag("bins", int_range(1, 100_000), 200, "Histogram bins.", kind="int"),
        Flag("fan-in", int_range(1, 1_000_000), 100, "Fan-in of the drawn matrices.", kind="int"),
        Flag("fan-out", int_range(1, 1_000_000), 100, "Fan-out of the drawn matrices.", kind="int"),
    ]


def init_hist_spec(given: Mapping[str, Any], config: Path | None = None) -> InitHistSpec:
    v = resolve("init-hist", init_hist_flags(), given, config)
    if "lsuv" in v["init"]:
        raise SpecError("--init", "lsuv depends on data; init-hist draws weights alone (try orthogonal)")
    base = {
        **v,
        "bias": "none",
        "no_bias": False,
        "layers": 2,
        "width": v["fan_in"],
        "batch_size": 1,
        "device": "cpu",
        "dtype": "float32",
    }
    nets = tuple(net_spec({**base, "init": init}) for init in v["init"])
    resources.require(resources.init_hist(v["samples"], v["fan_in"], v["fan_out"], len(nets)))
    return InitHistSpec(nets, v["samples"], v["bins"], v["fan_in"], v["fan_out"])


# ---------------------------------------------------------------------------
# coord-check

COORD_CHECK_VERDICTS = ("stable", "blows-up", "vanishes")
COORD_DATASETS = ("digits", "moons", "circles")
COORD_OPTIMIZERS = ("sgd", "adam")
COORD_LR = {"sgd": 0.1, "adam": 0.003}  # --lr's default by optimizer


def width_list(raw: Any) -> tuple[int, ...]:
    """--widths 64,128,256: at least two distinct widths, sorted, duplicates dropped."""
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    rule = "must be a comma list of at least two widths from 1 to 65536"
    out = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        if isinstance(item, bool) or not (isinstance(item, int) or _digits(text)):
            raise ValueError(f"{rule}, got {raw!r}")
        n = int(text)
        if not 1 <= n <= 65_536:
            raise ValueError(f"every width must be from 1 to 65536, got {n}")
        out.append(n)
    widths = tuple(sorted(set(out)))
    if len(widths) < 2:
        raise ValueError(f"{rule} (a slope needs two), got {raw!r}")
    return widths


@dataclass(frozen=True)
class CoordCheckSpec:
    """`nninit coord-check`: the same model at several widths, trained a few
    steps on the same data stream under one parametrisation; `net` is the
    model at the base width (its `width`), the others differ only in width."""

    net: NetSpec
    widths: tuple[int, ...]
    base_width: int
    param: str = "sp"
    optimizer: str = "adam"
    lr: float = 0.01
    steps: int = 5
    seeds: tuple[int, ...] = (0, 1, 2)
    dataset: str = "digits"
    readout: str = "auto"  # auto, zero or drawn
    slope_tol: float = 0.1
    fail_on: tuple[str, ...] = ()

    @property
    def zero_readout(self) -> bool:
        from nninit_cli.parametrisations import PARAMETRISATIONS

        if self.readout == "auto":
            return PARAMETRISATIONS[self.param].zero_readout
        return self.readout == "zero"

    def at_width(self, width: int, seed: int) -> NetSpec:
        return replace(self.net, width=width, seed=seed)

    def to_dict(self) -> dict[str, Any]:
        d = self.net.to_dict()
        del d["width"]  # the seed stays: the first of `seeds`
        d.update(
            widths=list(self.widths),
            base_width=self.base_width,
            param=self.param,
            optimizer=self.optimizer,
            lr=self.lr,
            steps=self.steps,
            seeds=list(self.seeds),
            dataset=self.dataset,
            readout=self.readout,
            zero_readout=self.zero_readout,
            slope_tol=self.slope_tol,
            fail_on=list(self.fail_on),
        )
        return d


def coord_check_flags() -> list[Flag]:
    base = [
        f
        for f in net_flags(act="relu", init="kaiming-normal", bias=0.0, layers=4, batch_size=64)
        if f.name != "width"  # --widths sweeps it
    ]
    base = reworded(
        base,
        layers="Linear layers, input and output included (resmlp: residual blocks between a stem "
        "and a head).",
        batch_size="Examples per training step; the first batch is also where sizes are measured.",
        seed="First seed; the run uses --seeds consecutive seeds from it.",
        arch="mlp (a stack of Linear layers) or resmlp (--layers residual blocks x <- x + alpha * "
        "branch(x) on a stream as wide as each of --widths, between a stem and a head).",
        init="Weight initialiser at the base width: the standard parametrisation's draw, which "
        f"--param rescales as width grows: {', '.join(n for n in registry.INITS if n != 'lsuv')}.",
    )
    from nninit_cli.parametrisations import PARAMETRISATIONS

    params = ", ".join(f"{p.name} ({p.title})" for p in PARAMETRISATIONS.values())
    return [
        *base,
        Flag(
            "widths",
            width_list,
            "64,128,256,512,1024",
            "Widths to compare (comma list, at least two): every hidden layer (resmlp: the stream).",
        ),
        Flag(
            "base-width",
            lambda raw: None if raw is None else int_range(1, 65_536)(raw),
            None,
            "Width at which every --param is the same model with the same learning rates "
            "(default: the smallest of --widths).",
            kind="int",
        ),
        Flag("param", choice(*PARAMETRISATIONS), "sp", f"Parametrisation: {params}."),
        Flag("optimizer", choice(*COORD_OPTIMIZERS), "adam", "sgd or adam (the learning-rate rules differ)."),
        Flag(
            "lr",
            lambda raw: None if raw is None else float_range(0.0, 1e6, lo_open=True)(raw),
            None,
            "Learning rate at the base width (default: 0.1 for sgd, 0.003 for adam).",
            kind="float",
        ),
        Flag(
            "steps",
            int_range(1, 1000),
            5,
            "Training steps; sizes are measured before each and after the last.",
            kind="int",
        ),
        Flag(
            "seeds",
            int_range(1, 1000),
            3,
            "Seeds (the slopes' confidence intervals are over them).",
            kind="int",
        ),
        Flag(
            "dataset",
            choice(*COORD_DATASETS),
            "digits",
            "digits (64 features, 10 classes, ships with scikit-learn), moons or circles (2 features).",
        ),
        Flag(
            "readout",
            choice("auto", "zero", "drawn"),
            "auto",
            "The output layer's start: zero, drawn (by --init and --param's rule) or auto "
            "(zero under mup, as its authors recommend; drawn otherwise).",
        ),
        Flag(
            "slope-tol",
            float_range(0.0, 10.0, lo_open=True),
            0.1,
            "Verdict blows-up (vanishes) when some slope of log size against log width has its "
            "whole 90% interval over seeds above + this (below - this); else stable.",
            kind="float",
            panel=OUTPUT,
        ),
        fail_on_flag(COORD_CHECK_VERDICTS),
    ]


def _check_fan_in_scaling(net: NetSpec, param: str, dataset: str, widths: tuple[int, ...]) -> None:
    """ntk's and mup's rules are factors on a draw whose variance is c / fan_in
    with c the same at every width (kaiming's, nn.Linear's default): refuse an
    initialiser whose fan_in x Var(w) changes with width, for any of the input
    (features x width), hidden (width x width) and output (width x classes)
    shapes, since the run would not be the parametrisation it names."""
    from nninit_cli.resources import DATA_FEATURES, DATA_OUTPUTS

    variance = registry.INITS[net.init].variance_gain
    d, k = DATA_FEATURES[dataset], DATA_OUTPUTS[dataset]
    if net.init.startswith("kaiming") and net.fan_mode != "fan_in":
        fix = f"use --fan-mode fan_in, or --param sp to see {net.init} by fan_out as it is"
    else:
        fix = f"use kaiming-normal, kaiming-uniform or default, or --param sp to see {net.init} as it is"
    for role, shape in (
        ("input", lambda w: (d, w)),
        ("hidden", lambda w: (w, w)),
        ("output", lambda w: (w, k)),
    ):
        got = [variance(net, *shape(w)) for w in widths]
        if any(v is None for v in got):
            why = f"{net.init} has no variance that scales as 1/fan_in, which --param {param} rescales"
            raise SpecError("--init", f"{why}; {fix}")
        lo, hi = min(got), max(got)
        if hi - lo > 1e-9 * max(abs(hi), abs(lo)):
            raise SpecError(
                "--init",
                f"{net.init}'s variance does not scale as 1/fan_in ({role} layer: fan_in x Var(w) = "
                f"{got[0]:.3g} at width {widths[0]}, {got[-1]:.3g} at width {widths[-1]}), which --param "
                f"{param}'s rules assume; {fix}",
            )


def coord_check_spec(given: Mapping[str, Any], config: Path | None = None) -> CoordCheckSpec:
    values = resolve("coord-check", coord_check_flags(), given, config)
    widths = values["widths"]
    if values["init"] == "lsuv":
        raise SpecError(
            "--init", "lsuv fits every layer to the data, overriding --param's scales; use kaiming-normal"
        )
    if values["arch"] == "mlp" and values["layers"] < 2:
        raise SpecError("--layers", "must be at least 2 for an MLP (an input and an output layer), got 1")
    if values["seed"] + values["seeds"] - 1 > 2**63 - 1:
        raise SpecError("--seed", f"--seed + --seeds - 1 must be at most {2**63 - 1} (seeds are consecutive)")
    base = values["base_width"] if values["base_width"] is not None else widths[0]
    lr = values["lr"] if values["lr"] is not None else COORD_LR[values["optimizer"]]
    net = check_batch_norm(net_spec({**values, "width": base}))
    if values["param"] != "sp":
        _check_fan_in_scaling(net, values["param"], values["dataset"], widths)
    spec = CoordCheckSpec(
        net=net,
        widths=widths,
        base_width=base,
        param=values["param"],
        optimizer=values["optimizer"],
        lr=lr,
        steps=values["steps"],
        seeds=tuple(range(values["seed"], values["seed"] + values["seeds"])),
        dataset=values["dataset"],
        readout=values["readout"],
        slope_tol=values["slope_tol"],
        fail_on=values["fail_on"],
    )
    resources.require(resources.coord_check(spec))
    return spec


# ---------------------------------------------------------------------------
# jacobian

JACOBIAN_VERDICTS = ("isometric", "anisotropic", "exploding", "vanishing", "nonfinite")


@dataclass(frozen=True)
class JacobianSpec:
    """`nninit jacobian`: the input-output Jacobian of std-trace's stack (the
    same weights for the same flags and seed) at `samples` N(0, input_std^2)
    inputs; `net.batch_size` is `samples` (LSUV fits on those inputs)."""

    net: NetSpec
    samples: int = 4
    input_std: float = 1.0
    spread_tol: float = 0.1  # var / mean^2 of the squared singular values below this: isometric
    explode_ratio: float = 1e3  # rms singular value above this: exploding
    vanish_ratio: float = 1e-3  # below this: vanishing
    fail_on: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = self.net.to_dict()
        del d["batch_size"]  # the inputs are --samples
        d.update(
            samples=self.samples,
            input_std=self.input_std,
            spread_tol=self.spread_tol,
            explode_ratio=self.explode_ratio,
            vanish_ratio=self.vanish_ratio,
            fail_on=list(self.fail_on),
        )
        return d


def jacobian_flags() -> list[Flag]:
    base = [
        f
        for f in net_flags(act="linear", init="kaiming-normal", layers=32, width=256)
        if f.name != "batch-size"  # --samples
    ]
    return [
        *base,
        Flag(
            "samples",
            int_range(1, 10_000),
            4,
            "Inputs at which the Jacobian is taken (the first rows of std-trace's batch).",
            kind="int",
        ),
        Flag(
            "input-std",
            float_range(0.0, 1e6, lo_open=True),
            1.0,
            "Std of the N(0, S^2) inputs: sets the first layer's pre-activation variance q.",
            kind="float",
        ),
        Flag(
            "spread-tol",
            float_range(0.0, 1e6, lo_open=True),
            0.1,
            "Verdict isometric when the spread (var / mean^2 of the squared singular values, all "
            "samples pooled) is below this, else anisotropic; one Gaussian layer's is 1.",
            kind="float",
            panel=OUTPUT,
        ),
        Flag(
            "explode-ratio",
            float_range(1.0, 1e300, lo_open=True),
            1e3,
            "Verdict exploding when the rms singular value is above this (> 1).",
            kind="float",
            panel=OUTPUT,
        ),
        Flag(
            "vanish-ratio",
            float_range(0.0, 1.0, lo_open=True, hi_open=True),
            1e-3,
            "Verdict vanishing when the rms singular value is below this, in (0, 1).",
            kind="float",
            panel=OUTPUT,
        ),
        fail_on_flag(JACOBIAN_VERDICTS),
    ]


def _jacobian_memory(spec: JacobianSpec) -> resources.Estimate:
    """Every Linear kept (drawn in float32, then cast), the Jacobian's forward
    tangents (width x width, a few alive at once) and the float64 copy and
    work space of the SVD; the samples run one at a time."""
    net, w = spec.net, spec.net.width
    e = resources.DTYPE_BYTES[net.dtype]
    per_layer = net.branch_depth if net.residual else 1
    weights = net.layers * per_layer * w * w * (4 + e)
    jac = 4 * w * w * e + 3 * w * w * 8
    drivers = (
        ("--width", w, (max(w, 1) / 256) ** 2),
        ("--layers", net.layers, max(net.layers, 1) / 32),
    )
    what = f"{net.layers * per_layer} Linears of {w} x {w} and a {w} x {w} Jacobian"
    return resources.Estimate(weights + jac, what, drivers)


def jacobian_spec(given: Mapping[str, Any], config: Path | None = None) -> JacobianSpec:
    values = resolve("jacobian", jacobian_flags(), given, config)
    net = net_spec({**values, "batch_size": values["samples"]})
    if net.norm == "batch":
        raise SpecError("--norm", "batch couples a batch's inputs: one input's Jacobian needs none or layer")
    spec = JacobianSpec(
        net=net,
        samples=values["samples"],
        input_std=values["input_std"],
        spread_tol=values["spread_tol"],
        explode_ratio=values["explode_ratio"],
        vanish_ratio=values["vanish_ratio"],
        fail_on=values["fail_on"],
    )
    resources.require(_jacobian_memory(spec))
    _check_jacobian_work(spec)
    return spec


JACOBIAN_MAX_FLOP = 2e12  # about a minute or two on one core


def _check_jacobian_work(spec: JacobianSpec) -> None:
    """Refuse runs that fit in memory but would compute for many minutes:
    per sample, forward-mode J costs 2 w^3 a Linear and the SVD about 10 w^3,
    and neither call can be interrupted halfway (one C call each)."""
    net, w = spec.net, spec.net.width
    per_layer = net.branch_depth if net.residual else 1
    flop = spec.samples * (2 * net.layers * per_layer + 10) * float(w) ** 3
    if flop > JACOBIAN_MAX_FLOP:
        raise SpecError(
            "--width",
            f"{net.layers} layers x {w} units x {spec.samples} samples is about {flop / 1e9:,.0f} GFLOP, "
            f"over the {JACOBIAN_MAX_FLOP / 1e9:,.0f} GFLOP limit (minutes that Ctrl-C cannot cut short): "
            "lower --width, --layers or --samples",
        )


# ---------------------------------------------------------------------------
# phase

PHASE_MAX_CELLS = 100_000  # theory: ~0.1 ms a cell, so 10 s at most
PHASE_MAX_AXIS = 10_000


def variance_axis(positive: bool) -> Parser:
    """--sigma-w2 / --sigma-b2: a comma list of variances or lo:hi:n (n
    evenly spaced values from lo to hi, both included); sorted, duplicates
    dropped.  `positive`: every value > 0 (sigma_w2), else >= 0 (sigma_b2)."""
    bound = "> 0" if positive else ">= 0"
    rule = f"must be a comma list of numbers {bound} (at most 1e6) or lo:hi:n (lo <= hi, n from 1 to 10000)"

    def check(x: float) -> float:
        if (x <= 0 if positive else x < 0) or x > 1e6:
            raise ValueError(f"{rule}; got {x:g}")
        return x

    def parse(raw: Any) -> tuple[float, ...]:
        if isinstance(raw, str) and raw.count(":") == 2:
            lo_t, hi_t, n_t = (t.strip() for t in raw.split(":"))
            try:
                lo, hi, n = check(_number(lo_t)), check(_number(hi_t)), int(n_t)
            except ValueError as e:
                raise ValueError(str(e) if rule in str(e) else f"{rule}, got {raw!r}") from None
            fault = _range_fault(lo, hi, n)
            if fault:
                raise ValueError(f"lo:hi:n {fault} (in {raw!r})")
            values = [lo + (hi - lo) * k / (n - 1) for k in range(n)] if n > 1 else [lo]
        else:
            if has_empty_item(raw):
                raise ValueError(f"{rule}, got {raw!r} (an empty item)")
            items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
            try:
                values = [check(_number(str(i).strip())) for i in items if str(i).strip()]
            except ValueError as e:
                raise ValueError(str(e) if rule in str(e) else f"{rule}, got {raw!r}") from None
        if not values:
            raise ValueError(f"{rule}, got {raw!r}")
        return tuple(sorted(set(values)))

    return parse


def _range_fault(lo: float, hi: float, n: int) -> str | None:
    """What is wrong with lo:hi:n, in words (None: nothing)."""
    if not 1 <= n <= PHASE_MAX_AXIS:
        return f"needs n from 1 to {PHASE_MAX_AXIS}, got n = {n}"
    if lo > hi:
        return f"needs lo <= hi, got lo {lo:g} > hi {hi:g}"
    if n == 1 and lo != hi:
        return "with n = 1 needs lo = hi"
    return None


def depth_list(raw: Any) -> tuple[int, ...]:
    """--train-depths 4,8,16: Linear layers per trained MLP (2 to 1000); () for none
    (the default, or [] in a config file)."""
    items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    rule = "must be a comma list of depths from 2 to 1000 (Linear layers per MLP)"
    if has_empty_item(raw):
        raise ValueError(f"{rule}, got {raw!r} (an empty item)")
    out = []
    for item in items:
        text = str(item).strip()
        if not text:
            continue
        whole = not isinstance(item, bool) and (isinstance(item, int) or _digits(text))
        if not whole or not 2 <= int(text) <= 1000:
            raise ValueError(f"{rule}, got {raw!r}")
        out.append(int(text))
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class PhaseSpec:
    """`nninit phase`: the infinite-width theory over a grid of (sigma_w2,
    sigma_b2) for one activation; optionally each cell measured in a stack of
    `width` x `layers` over `seeds`, and a trainability probe over
    `train_depths` x sigma_w2 at the first sigma_b2."""

    act: str = "tanh"
    negative_slope: float = 0.01
    sigma_w2: tuple[float, ...] = ()
    sigma_b2: tuple[float, ...] = ()
    measure: bool = False
    width: int = 1024
    layers: int = 40
    input_corr: float = 0.99
    seeds: tuple[int, ...] = (0, 1, 2)
    train_depths: tuple[int, ...] = ()
    train_epochs: int = 5
    train_width: int = 64
    train_lr: float = 0.01
    dataset: str = "digits"
    workers: int = 1

    @property
    def cells(self) -> int:
        return len(self.sigma_w2) * len(self.sigma_b2)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["workers"]  # where the units run, not what they compute
        for k in ("sigma_w2", "sigma_b2", "seeds", "train_depths"):
            d[k] = list(d[k])
        d["seed"] = self.seeds[0]
        return d


PHASE_DATASETS = ("digits", "moons", "circles")


def phase_flags() -> list[Flag]:
    shared = reworded(
        _shared("act", "negative-slope", "seed", act="tanh"),
        act=f"The activation: {registry.act_choices()}.",
        seed="First seed; --measure and the training probe use --seeds consecutive seeds from it.",
    )
    return [
        *shared[:2],
        Flag(
            "sigma-w2",
            variance_axis(positive=True),
            "1:4:13",
            "Weight variances sigma_w^2 (weights N(0, sigma_w^2 / fan_in)): a comma list or lo:hi:n "
            "(n values from lo to hi, both included).",
        ),
        Flag(
            "sigma-b2",
            variance_axis(positive=False),
            "0.05",
            "Bias variances sigma_b^2 (biases N(0, sigma_b^2)): a comma list or lo:hi:n.",
        ),
        Flag(
            "measure",
            boolean,
            False,
            "Also run every cell's stack (--layers x --width, --seeds) and fit the measured xi_c.",
            kind="bool",
        ),
        Flag("width", int_range(2, 16_384), 1024, "--measure: units per layer.", kind="int"),
        Flag("layers", int_range(2, 10_000), 40, "--measure: Linear layers in the stack.", kind="int"),
        Flag(
            "input-corr",
            float_range(-1.0, 1.0, lo_open=True, hi_open=True),
            0.99,
            "--measure: the correlation of the two inputs' layer-0 pre-activations (variance q*), "
            "in (-1, 1).",
            kind="float",
        ),
        Flag("seeds", int_range(1, 1000), 3, "Seeds (--measure averages c_l over them).", kind="int"),
        shared[2],
        Flag(
            "train-depths",
            depth_list,
            (),
            "Trainability probe: train MLPs of these depths (comma list) at every --sigma-w2 "
            "(at the first --sigma-b2) and report their accuracy.",
        ),
        Flag("train-epochs", int_range(1, 10_000), 5, "Training probe: epochs per MLP.", kind="int"),
        Flag("train-width", int_range(1, 4096), 64, "Training probe: units per hidden layer.", kind="int"),
        Flag(
            "train-lr",
            float_range(0.0, 1e6, lo_open=True),
            0.01,
            "Training probe: SGD learning rate (minibatches of 64).",
            kind="float",
        ),
        Flag(
            "dataset",
            choice(*PHASE_DATASETS),
            "digits",
            "Training probe's data: digits (8x8, 10 classes, ships with scikit-learn), moons or circles.",
        ),
        Flag(
            "workers",
            int_range(1, 256),
            1,
            "Run the training probe's units in this many local processes (1: in this one). Same numbers.",
            kind="int",
            panel=RUN,
        ),
    ]


def phase_spec(given: Mapping[str, Any], config: Path | None = None) -> PhaseSpec:
    v = resolve("phase", phase_flags(), given, config)
    cells = len(v["sigma_w2"]) * len(v["sigma_b2"])
    if cells > PHASE_MAX_CELLS:
        flag = "--sigma-w2" if len(v["sigma_w2"]) >= len(v["sigma_b2"]) else "--sigma-b2"
        raise SpecError(
            flag,
            f"--sigma-w2 x --sigma-b2 make {len(v['sigma_w2'])} x {len(v['sigma_b2'])} = {cells} cells; "
            f"at most {PHASE_MAX_CELLS}",
        )
    if v["seed"] + v["seeds"] - 1 > 2**63 - 1:
        raise SpecError("--seed", f"--seed + --seeds - 1 must be at most {2**63 - 1} (seeds are consecutive)")
    spec = PhaseSpec(
        act=v["act"],
        negative_slope=v["negative_slope"],
        sigma_w2=v["sigma_w2"],
        sigma_b2=v["sigma_b2"],
        measure=v["measure"],
        width=v["width"],
        layers=v["layers"],
        input_corr=v["input_corr"],
        seeds=tuple(range(v["seed"], v["seed"] + v["seeds"])),
        train_depths=v["train_depths"],
        train_epochs=v["train_epochs"],
        train_width=v["train_width"],
        train_lr=v["train_lr"],
        dataset=v["dataset"],
        workers=v["workers"],
    )
    if spec.measure:
        n = spec.width
        # one layer's N(0, 1) draw in float32 and its float64 copy, beside every cell's pair of signals
        need = 12 * n * n + 2 * cells * 2 * n * 8 * 3
        resources.require(
            resources.Estimate(
                need, f"a {n} x {n} layer and {cells} cells' signals", (("--width", n, (n / 1024) ** 2),)
            )
        )
    return spec
