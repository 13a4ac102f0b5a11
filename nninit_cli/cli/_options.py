"""Every command's options, generated from its `Flag` declarations (specs.py).

A command names its settings (a list of `Flag`s) and the outputs it can write;
`options` turns them into the typer signature, in this order: the Model flags,
the command's own presentation switches (typed in its file, never settings),
the verdict thresholds and --fail-on, then --config, --json, --csv and --plot.
Every setting defaults to None here, meaning "not typed": the spec builder then
takes the value from `--config`, else from the flag's default, which the help
line shows.  No torch import happens in this package.
"""

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from nninit_cli.specs import OUTPUT, Flag, boolean


def _path(raw: Any) -> Path | None:
    return None if raw is None else Path(raw)


# The output options, declared once for every command.  Not settings: a config
# file cannot set them, and they are not part of the JSON's config.
OUTPUT_FLAGS = {
    "config": Flag(
        "config",
        _path,
        None,
        "TOML file whose keys are flag names, or a preset's name from configs/; "
        "flags typed on the command line win.",
        kind="path",
        panel=OUTPUT,
        metavar="FILE.toml",
    ),
    "json": Flag(
        "json",
        boolean,
        False,
        "Print one strict JSON object on stdout instead of tables.",
        kind="bool",
        panel=OUTPUT,
    ),
    "csv": Flag(
        "csv",
        _path,
        None,
        "Also write the table (every row, full precision) to this CSV file.",
        kind="path",
        panel=OUTPUT,
        metavar="FILE",
    ),
    "plot": Flag(
        "plot",
        _path,
        None,
        "Also draw a figure to this .png, .svg or .pdf file.",
        kind="path",
        panel=OUTPUT,
        metavar="FILE",
    ),
}

_TYPES = {
    "int": Optional[int],
    "float": Optional[float],
    "str": Optional[str],
    "bool": bool,
    "path": Optional[Path],
}


def shown_default(value: Any) -> str | None:
    """A default as --help shows it; None for "no default worth showing"."""
    if value is None or value == () or value is False:
        return None
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _parameter(flag: Flag) -> inspect.Parameter:
    text = flag.help
    default = shown_default(flag.default)
    if default is not None:
        text += f" [default: {default}]"
    info = typer.Option(
        f"--{flag.name}", help=text, show_default=False, rich_help_panel=flag.panel, metavar=flag.metavar
    )
    return inspect.Parameter(
        flag.key,
        inspect.Parameter.KEYWORD_ONLY,
        default=False if flag.kind == "bool" else None,
        annotation=Annotated[_TYPES[flag.kind], info],
    )


@dataclass(frozen=True)
class Shared:
    """What the generated options carried: the typed settings (None and False
    dropped, keyed by python name, ready for the spec builder) and the outputs."""

    flags: dict[str, Any]
    config: Path | None
    as_json: bool
    csv: Path | None
    plot: Path | None


@dataclass(frozen=True)
class Declared:
    """What a command declares, kept on its function for the tests and the docs."""

    flags: tuple[Flag, ...]  # its settings
    outputs: tuple[Flag, ...]  # the output options it offers
    switches: tuple[str, ...]  # its own presentation options (python names)


def options(
    flags: Sequence[Flag] = (), *, csv: bool = True, plot: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a command the options of its settings `flags` and the outputs it
    offers (--config where it has settings, --json always, --csv where it has
    table rows, --plot where it has a figure), around its own switches, and
    hand them to it as one `shared: Shared` argument.  --fail-on comes with the
    settings of a command that gives verdicts (specs.fail_on_flag)."""
    settings = tuple(flags)
    outputs = tuple(
        OUTPUT_FLAGS[name]
        for name, offered in (("config", bool(settings)), ("json", True), ("csv", csv), ("plot", plot))
        if offered
    )
    first = [_parameter(f) for f in settings if f.panel != OUTPUT]
    last = [_parameter(f) for f in settings if f.panel == OUTPUT] + [_parameter(f) for f in outputs]

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [p for p in inspect.signature(fn).parameters.values() if p.name != "shared"]
        twice = {p.name for p in own} & {f.key for f in settings + outputs}
        assert not twice, f"{fn.__module__}: {sorted(twice)} declared twice (as Flags and in the command)"

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            typed = given(**{f.key: kwargs.pop(f.key) for f in settings})
            out = {f.name: kwargs.pop(f.key) for f in outputs}
            shared = Shared(typed, out.get("config"), bool(out.get("json")), out.get("csv"), out.get("plot"))
            return fn(shared=shared, **kwargs)

        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]
        wrapper.__signature__ = inspect.Signature(first + own + last, return_annotation=None)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in wrapper.__signature__.parameters.values()}
        del wrapper.__wrapped__  # typer must see the new signature, not fn's
        wrapper.declared = Declared(settings, outputs, tuple(p.name for p in own))  # type: ignore[attr-defined]
        return wrapper

    return decorate


def given(**values: Any) -> dict[str, Any]:
    """The typed flags, None dropped (and False for on/off flags that were not set)."""
    return {k: v for k, v in values.items() if v is not None and v is not False}
