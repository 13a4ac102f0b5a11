"""TOML presets: `configs/*.toml` and any file given to `--config`.

A preset is plain data: the keys are the flag names of one command, plus
`command` (which command it is for) and `description` (one line for `nninit list`).
Parsed with `tomllib`, never executed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from nninit_cli.errors import SpecError


def presets_dir() -> Path:
    """The presets' folder: `configs/`, which installs as the subpackage `nninit_cli.presets`.

    An install (wheel or editable) maps the subpackage to wherever the files are;
    a checkout used without installing it has only `configs/` beside the package.
    (`find_spec`, not `importlib.resources`: the same answer, 8 ms less to import.)
    """
    from importlib.util import find_spec

    spec = find_spec("nninit_cli.presets")
    if spec is not None and spec.origin is not None:
        return Path(spec.origin).parent
    return Path(__file__).resolve().parent.parent / "configs"


def find_preset(name_or_path: str) -> Path:
    """A path as given, or the preset of that name in `configs/`."""
    path = Path(name_or_path)
    preset = presets_dir() / f"{name_or_path}.toml"
    if path.exists() or path.suffix == ".toml" or not preset.exists():
        return path
    return preset


def read_toml(path: Path, flag: str = "--config") -> dict[str, Any]:
    """The parsed file, or a one-line SpecError for a missing or malformed one."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SpecError(flag, f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(flag, f"{path}: is a folder, not a TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise SpecError(flag, f"{path}: not valid TOML ({e})") from None
    except OSError as e:
        raise SpecError(flag, f"{path}: cannot be read ({e.strerror})") from None


def load_config(path: Path, command: str, keys: list[str], meta_keys: tuple[str, ...]) -> dict[str, Any]:
    """The flag values a config file sets for `command`, keyed by flag name."""
    data = read_toml(path)
    out: dict[str, Any] = {}
    for raw_key, value in data.items():
        key = raw_key.replace("_", "-")
        if key in meta_keys:
            continue
        if key not in keys:
            raise SpecError(
                "--config",
                f"{path}: unknown key '{raw_key}' for {command}; valid keys: {', '.join(keys)}",
            )
        out[key] = value
    preset_command = data.get("command")
    if preset_command is not None and preset_command != command:
        raise SpecError("--config", f"{path}: is a preset for '{preset_command}', not '{command}'")
    return out


def preset_summaries() -> list[tuple[str, str, str]]:
    """(name, command, description) of every preset in `configs/`."""
    rows = []
    folder = presets_dir()
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            data = read_toml(path)
        except SpecError as e:
            rows.append((path.stem, "?", f"unreadable: {e.message}"))
            continue
        rows.append((path.stem, str(data.get("command", "?")), str(data.get("description", ""))))
    return rows
