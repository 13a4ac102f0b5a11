"""Shared flags, declared once so every command spells and explains them alike.

Every experiment flag defaults to None here, meaning "not typed": the spec
builder then takes the value from `--config`, else from the command's default,
which `option` shows in the help text.  No torch import happens in this package.
"""

from pathlib import Path
from typing import Any

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
    "config": "TOML file whose keys are flag names; flags typed on the command line win.",
    "json": "Print one strict JSON object on stdout instead of tables.",
    "csv": "Also write the per-layer table to this CSV file.",
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
    return str(value)


def option(name: str, shown: dict[str, Any], help: str | None = None, panel: str = MODEL, **kw: Any) -> Any:
    """A typer.Option for flag `name`, its default taken from the command's flags."""
    text = help or HELP[name]
    default = _shown(shown.get(name))
    if default:
        text += f" [default: {default}]"
    return typer.Option(f"--{name}", help=text, show_default=False, rich_help_panel=panel, **kw)


def config_option() -> Any:
    return typer.Option("--config", help=HELP["config"], rich_help_panel=OUTPUT, metavar="FILE.toml")


def json_option() -> Any:
    return typer.Option("--json", help=HELP["json"], rich_help_panel=OUTPUT)


def csv_option() -> Any:
    return typer.Option("--csv", help=HELP["csv"], rich_help_panel=OUTPUT, metavar="FILE", dir_okay=False)


def plot_option() -> Any:
    return typer.Option("--plot", help=HELP["plot"], rich_help_panel=OUTPUT, metavar="FILE", dir_okay=False)


def given(**values: Any) -> dict[str, Any]:
    """The typed flags, None dropped (and False for on/off flags that were not set)."""
    return {k: v for k, v in values.items() if v is not None and v is not False}


__all__ = ["Path", "option", "defaults", "given", "config_option", "json_option", "csv_option", "plot_option"]
