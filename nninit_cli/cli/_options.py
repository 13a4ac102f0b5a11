"""Shared flags, declared once so every command spells and explains them alike.

Every experiment flag defaults to None here, meaning "not typed": the spec
builder then takes the value from `--config`, else from the command's default,
which `option` shows in the help text.  No torch import happens in this package.
"""

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from nninit_cli import registry
from nninit_cli.specs import Flag

MODEL = "Model"
OUTPUT = "Output"

HELP = {
    "act": f"Activation after every hidden Linear: {registry.act_choices()} "
    "(aliases: identity/none = linear).",
    "negative-slope": "lrelu's slope for x < 0, in [0, 1].",
    "init": f"Weight initialiser: {registry.init_choices()} "
    "(aliases: xavier = xavier-uniform, kaiming = kaiming-normal).",
    "value": "constant: the value of every weight.",
    "mean": "normal, trunc-normal: mean of the weights.",
    "std": "normal, trunc-normal, sparse: std of the weights (>= 0).",
    "low": "uniform: lower end.",
    "high": "uniform: upper end.",
    "fan-mode": "kaiming-*: scale by fan_in (forward) or fan_out (backward).",
    "sparsity": "sparse: fraction of each column set to zero, in [0, 1).",
    "gain": "xavier, kaiming, orthogonal: a number > 0, 'auto' (the activation's gain: "
    "torch's calculate_gain, else the fixed-point gain 1/sqrt(E[f(z)^2])) or 'torch' "
    "(torch's own default: xavier 1, kaiming sqrt(2), orthogonal 1).",
    "bias": "Every bias set to this number, 'none' (no bias) or 'default' (nn.Linear's U(+-1/sqrt(fan_in))).",
    "no-bias": "Layers without bias (same as --bias none).",
    "layers": "Number of Linear layers.",
    "width": "Units per hidden layer.",
    "batch-size": "Examples in the input batch.",
    "seed": "Seed of the separate weight and data streams.",
    "device": "cpu, cuda, mps or auto (the best one present).",
    "dtype": "float32, float64 or bfloat16 (statistics are always computed in float64).",
    "arch": "mlp (a plain stack of Linear layers) or resmlp (--layers residual blocks "
    "x <- x + alpha * branch(x) on a stream of --width units).",
    "branch-depth": "resmlp: Linear layers per branch, [norm] Linear act ... Linear (2 to 16).",
    "residual-scale": "resmlp: alpha, a number > 0 or 'invsqrt' (1/sqrt(blocks)).",
    "norm": "resmlp: none, layer (LayerNorm) or batch (BatchNorm, batch statistics).",
    "norm-position": "resmlp: pre (first thing in each branch) or post (after each addition).",
    "residual-init": "resmlp: none; fixup (each branch's last Linear zero, the others scaled by "
    "blocks^(-1/(2m-2))); skipinit (a trained scalar per branch, starting at 0).",
    "config": "TOML file whose keys are flag names, or a preset's name from configs/; "
    "flags typed on the command line win.",
    "json": "Print one strict JSON object on stdout instead of tables.",
    "csv": "Also write the table (every row, full precision) to this CSV file.",
    "plot": "Also draw a figure to this .png, .svg or .pdf file.",
    "fail-on": "Exit 1 if any of these verdicts (comma list) holds.",
}


def defaults(flags: list[Flag]) -> dict[str, Any]:
    return {f.name: f.default for f in flags}


def _shown(value: Any) -> str | bool:
    if value is None or value == () or value is False:
        return False
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def option(name: str, shown: dict[str, Any], help: str | None = None, panel: str = MODEL, **kw: Any) -> Any:
    """A typer.Option for flag `name`, its default taken from the command's flags."""
    text = help or HELP[name]
    default = _shown(shown.get(name))
    if default:
        text += f" [default: {default}]"
    return typer.Option(f"--{name}", help=text, show_default=False, rich_help_panel=panel, **kw)


# The model flags, in the order --help lists them: (flag, type).
_MODEL_FLAGS: list[tuple[str, Any]] = [
    ("act", Optional[str]),
    ("init", Optional[str]),
    ("gain", Optional[str]),
    ("std", Optional[float]),
    ("mean", Optional[float]),
    ("low", Optional[float]),
    ("high", Optional[float]),
    ("value", Optional[float]),
    ("fan-mode", Optional[str]),
    ("sparsity", Optional[float]),
    ("negative-slope", Optional[float]),
    ("bias", Optional[str]),
    ("no-bias", bool),
    ("layers", Optional[int]),
    ("width", Optional[int]),
    ("batch-size", Optional[int]),
    ("seed", Optional[int]),
    ("device", Optional[str]),
    ("dtype", Optional[str]),
    ("arch", Optional[str]),
    ("branch-depth", Optional[int]),
    ("residual-scale", Optional[str]),
    ("norm", Optional[str]),
    ("norm-position", Optional[str]),
    ("residual-init", Optional[str]),
]


def _param(flag: str, kind: Any, option_info: Any) -> inspect.Parameter:
    default = False if kind is bool else None
    return inspect.Parameter(
        flag.replace("-", "_"),
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[kind, option_info],
    )


def model_params(
    shown: dict[str, Any], help: dict[str, str] | None = None, skip: tuple[str, ...] = ()
) -> list[inspect.Parameter]:
    """The shared model flags as parameters; `help` overrides a flag's text and
    `skip` leaves out flags a command replaces with its own."""
    help = help or {}
    return [
        _param(flag, kind, option(flag, shown, help.get(flag)))
        for flag, kind in _MODEL_FLAGS
        if flag not in skip
    ]


def output_params(
    shown: dict[str, Any], verdicts: tuple[str, ...], thresholds: dict[str, str]
) -> list[inspect.Parameter]:
    """The verdict thresholds (flag -> help text: explode-ratio, vanish-ratio,
    dead-frac), --fail-on with this command's verdicts, then --config, --json,
    --csv and --plot."""
    fail_help = f"Exit 1 if any of these verdicts (comma list) holds: {', '.join(verdicts)}."
    return [
        *(
            _param(flag, Optional[float], option(flag, shown, text, panel=OUTPUT))
            for flag, text in thresholds.items()
        ),
        _param("fail-on", Optional[str], option("fail-on", shown, fail_help, panel=OUTPUT)),
        _param(
            "config",
            Optional[Path],
            typer.Option("--config", help=HELP["config"], rich_help_panel=OUTPUT, metavar="FILE.toml"),
        ),
        _param("json", bool, typer.Option("--json", help=HELP["json"], rich_help_panel=OUTPUT)),
        _param(
            "csv",
            Optional[Path],
            typer.Option("--csv", help=HELP["csv"], rich_help_panel=OUTPUT, metavar="FILE", dir_okay=False),
        ),
        _param(
            "plot",
            Optional[Path],
            typer.Option("--plot", help=HELP["plot"], rich_help_panel=OUTPUT, metavar="FILE", dir_okay=False),
        ),
    ]


OUTPUT_NAMES = ("config", "json", "csv", "plot")


@dataclass(frozen=True)
class Shared:
    """What the shared flags carried: the typed experiment flags (None and False
    dropped, ready for the spec builder) and the output destinations."""

    flags: dict[str, Any]
    config: Path | None
    as_json: bool
    csv: Path | None
    plot: Path | None


def with_shared(
    before: list[inspect.Parameter], after: list[inspect.Parameter]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Put `before` (the model flags) and `after` (the output flags) around a
    command's own flags and hand them to it as one `shared: Shared` argument, so
    every command declares the shared flags once."""
    params = before + after

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(fn).parameters.values() if p.name != "shared"]
        names = [p.name for p in params]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            mine = {n: kwargs.pop(n) for n in names}
            outputs = {n: mine.pop(n, None) for n in OUTPUT_NAMES}
            shared = Shared(
                given(**mine), outputs["config"], bool(outputs["json"]), outputs["csv"], outputs["plot"]
            )
            return fn(shared=shared, **kwargs)

        wrapper.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            before + [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + after,
            return_annotation=None,
        )
        wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
        del wrapper.__wrapped__  # typer must see the new signature, not fn's
        return wrapper

    return decorate


def given(**values: Any) -> dict[str, Any]:
    """The typed flags, None dropped (and False for on/off flags that were not set)."""
    return {k: v for k, v in values.items() if v is not None and v is not False}
