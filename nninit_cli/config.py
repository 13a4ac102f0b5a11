"""TOML presets: `configs/*.toml` and any file given to `--config`.

A preset is plain data: the keys are the flag names of one command, plus
`command` (which command it is for) and `description` (one line for `nninit list`).
Parsed with `tomllib`, never executed.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
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


# A preset is about 500 bytes of flat keys.  64 KiB is over a hundred times
# that, stops /dev/zero or a huge file at once, and bounds what the parser may
# cost: its worst case (a table per line, each nesting new ones: a.b1.c.d...)
# takes about 400 bytes of memory per byte of input, so 25 MB and 0.1 s here.
MAX_TOML_BYTES = 64 * 2**10
# No flag takes more than a list; deeper nesting is a mistake.  The parser recurses
# once per level of brackets (a RecursionError near 300) and its time and memory
# grow with the square of a dotted key's length (a.a.a...: 10,000 parts take 400
# MB), so both are refused before parsing.
MAX_TOML_DEPTH = 16


def read_toml(path: Path, flag: str = "--config") -> dict[str, Any]:
    """The parsed file, or a one-line SpecError for a missing, unreadable,
    oversized, non-UTF-8, too deeply nested or malformed one.

    Only a regular file is read (a FIFO, a device or a folder is refused
    without blocking), at most MAX_TOML_BYTES of it; a UTF-8 byte-order mark
    is skipped, as editors on Windows write one.
    """
    raw = _read_capped(path, flag).removeprefix(codecs.BOM_UTF8)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        what = f"byte 0x{raw[e.start]:02x} at {_line_col(raw, e.start)}"
        raise SpecError(flag, f"{path}: not UTF-8 text ({what}); save it as UTF-8") from None
    if "\0" in text:
        where = _line_col(raw, raw.index(0))
        raise SpecError(flag, f"{path}: holds a NUL byte (at {where}); not a text file")
    deep = _too_deep(text)
    if deep is not None:
        what, at = deep
        raise SpecError(flag, f"{path}: {what} (at {_line_col(text, at)}); a config's keys are flat")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(flag, f"{path}: not valid TOML ({e})") from None
    except ValueError as e:  # an integer of over 4300 digits: Python refuses to convert it
        raise SpecError(flag, f"{path}: not valid TOML ({str(e).split(':')[0]})") from None
    except (RecursionError, MemoryError):
        raise SpecError(flag, f"{path}: nested too deeply to parse") from None
    for key in ("command", "description"):
        if key in data and not isinstance(data[key], str):
            raise SpecError(flag, f"{path}: key '{key}' must be a string, got {type(data[key]).__name__}")
    return data


def _line_col(text: bytes | str, at: int) -> str:
    newline = b"\n" if isinstance(text, bytes) else "\n"
    start = text.rfind(newline, 0, at) + 1
    return f"line {text.count(newline, 0, at) + 1}, column {at - start + 1}"


# A lexer just good enough to measure nesting: it skips strings and comments.
_TOKEN = re.compile(r"""\"\"\"|'''|["'#\[\]{}=,.\n]""")
_REST_OF = {
    '"': re.compile(r'[^"\\\n]*(?:\\.[^"\\\n]*)*"?'),
    "'": re.compile(r"[^'\n]*'?"),
    '"""': re.compile(r'[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*""""{0,2}', re.DOTALL),
    "'''": re.compile(r"[^']*(?:'(?!'')[^']*)*''''{0,2}"),
}


def _too_deep(text: str) -> tuple[str, int] | None:
    """Where brackets first nest deeper than MAX_TOML_DEPTH, or a dotted key
    first has more parts: (what, offset); None if nowhere.  Dots are counted
    between separators, so the one dot of a float or a time never adds up."""
    depth = dots = pos = 0
    while (m := _TOKEN.search(text, pos)) is not None:
        tok, pos = m.group(), m.end()
        if tok in ("[", "{"):
            depth, dots = depth + 1, 0
            if depth > MAX_TOML_DEPTH:
                return f"brackets nested more than {MAX_TOML_DEPTH} deep", m.start()
        elif tok in ("]", "}"):
            depth, dots = max(depth - 1, 0), 0
        elif tok == ".":
            dots += 1
            if dots >= MAX_TOML_DEPTH:
                return f"a dotted key of more than {MAX_TOML_DEPTH} parts", m.start()
        elif tok in ("=", ",", "\n"):
            dots = 0
        elif tok == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        else:  # a string: skip to its end (or to the end of the text, if it has none)
            rest = _REST_OF[tok].match(text, pos)
            pos = rest.end() if rest else len(text)
    return None


def _read_capped(path: Path, flag: str) -> bytes:
    """At most MAX_TOML_BYTES of a regular file.  O_NONBLOCK: opening a FIFO with
    no writer returns at once (and is then refused) instead of hanging."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise SpecError(flag, f"{path}: no such file") from None
    except OSError as e:
        raise SpecError(flag, f"{path}: cannot be read ({e.strerror})") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise SpecError(flag, f"{path}: is a folder, not a TOML file")
        if not stat.S_ISREG(mode):
            raise SpecError(flag, f"{path}: not a regular file (a FIFO or device); give a TOML file")
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with fh:
        try:
            raw = fh.read(MAX_TOML_BYTES + 1)
        except OSError as e:
            raise SpecError(flag, f"{path}: cannot be read ({e.strerror})") from None
    if len(raw) > MAX_TOML_BYTES:
        raise SpecError(flag, f"{path}: more than {MAX_TOML_BYTES // 2**10} KiB; a config is a few lines")
    return raw


def load_config(path: Path, command: str, keys: list[str], meta_keys: tuple[str, ...]) -> dict[str, Any]:
    """The flag values a config file sets for `command`, keyed by flag name."""
    data = read_toml(path)
    preset_command = data.get("command")  # another command's preset: say so before its keys
    if preset_command is not None and preset_command != command:
        raise SpecError("--config", f"{path}: is a preset for '{preset_command}', not '{command}'")
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
