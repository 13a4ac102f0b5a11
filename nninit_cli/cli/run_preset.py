"""`nninit run PRESET`: run the command a preset names, with the preset as --config."""

from typing import Annotated

import typer


def _complete_preset(incomplete: str) -> list[str]:
    """Tab completion of PRESET: the presets' names (a path falls back to the shell's own)."""
    from nninit_cli.config import presets_dir

    return sorted(p.stem for p in presets_dir().glob("*.toml") if p.stem.startswith(incomplete))


def command(
    ctx: typer.Context,
    preset: Annotated[
        str,
        typer.Argument(
            help="A preset's name from configs/ (see nninit list) or a TOML path.",
            autocompletion=_complete_preset,
        ),
    ],
) -> None:
    """Run a course experiment by its preset's name.

    Any further flags go to that command and win over the preset's values.

    \b
    Example:
      nninit run dead-relu
      nninit run std-explode --plot explode.png
      nninit run zero-init-symmetry --epochs 20 --json | jq .symmetric_layers
    """
    from nninit_cli.config import find_preset, presets_dir, read_toml
    from nninit_cli.errors import SpecError

    if any(a == "--config" or a.startswith("--config=") for a in ctx.args):
        raise SpecError("--config", f"cannot be combined with a preset: {preset!r} is already the config")
    path = find_preset(preset)
    if not path.exists() and path.suffix != ".toml" and len(path.parts) == 1:  # a name, not a path
        names = ", ".join(sorted(p.stem for p in presets_dir().glob("*.toml")))
        raise SpecError("PRESET", f"no preset '{preset}'; presets: {names} (or a path to a .toml file)")
    data = read_toml(path, "PRESET")
    command = data.get("command")
    if not isinstance(command, str):
        raise SpecError("PRESET", f'{path} names no command (a preset needs command = "...")')
    from nninit_cli.cli import run

    raise typer.Exit(run([command, "--config", str(path), *ctx.args]))
