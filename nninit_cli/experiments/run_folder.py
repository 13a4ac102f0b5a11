"""Run folders of `nninit train`: claimed by one process at a time, and read
back whole or refused in one line.

A process claims a folder with an exclusive `flock` on `<folder>/.lock`, held
until it is done (the kernel drops it if the process dies, so a killed run
never leaves a folder locked).  A new run (`--out`) takes only a folder that
does not exist yet or is empty; `--resume` takes only a folder whose
config.json is a train run's.  Nothing here imports torch: a bad folder is
refused before the 1.5 s torch import.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from nninit_cli.errors import NninitError, SpecError
from nninit_cli.specs import RESMLP_ONLY, TrainSpec, resolve, train_flags, train_spec

LOCK = ".lock"
CONFIG = "config.json"
MAX_CONFIG_BYTES = 1 << 20  # a config.json is ~1 kB; anything near this is not one

# Folders this process holds: resolved path -> [lock fd, nesting depth], so the
# CLI can claim a folder early and run_train can claim it again.
_held: dict[str, list[int]] = {}
_made_parents: set[str] = set()  # folders new_run_folder created to hold runs


def new_run_folder(parent: Path = Path("runs")) -> Path:
    """A fresh folder `parent/train-<date>-<time>[-N]`, created exclusively:
    two runs started in the same second get different folders."""
    try:
        if not parent.is_dir():
            parent.mkdir(parents=True)
            _made_parents.add(os.path.realpath(parent))
    except OSError as e:
        raise SpecError("--out", f"cannot create the default run folder {parent}/ ({e.strerror})") from None
    stamp = time.strftime("train-%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        folder = parent / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as e:
            raise SpecError("--out", f"cannot create {folder} ({e.strerror})") from None
    raise SpecError("--out", f"{parent}/ already holds 10000 runs started this second; give --out")


def _check_new(folder: Path, flag: str) -> None:
    """A new run's folder holds nothing yet (a stale .lock aside)."""
    try:
        rest = sorted(set(os.listdir(folder)) - {LOCK})
    except OSError as e:
        raise SpecError(flag, f"cannot read {folder} ({e.strerror})") from None
    if CONFIG in rest:
        raise SpecError(
            flag, f"{folder} already holds a run; continue it with --resume {folder} or give a new folder"
        )
    if rest:
        raise SpecError(
            flag, f"{folder} is not empty and holds no run ({rest[0]}); give a new or empty folder"
        )


def _lock(folder: Path, flag: str) -> int:
    """An fd holding an exclusive flock on folder/.lock, or a SpecError."""
    path = folder / LOCK
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise SpecError(flag, f"cannot write in {folder} ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise SpecError(flag, f"{folder} is being written by another nninit process") from None
            raise SpecError(flag, f"cannot lock {path} ({e.strerror})") from None
        # The holder before us may have removed the file as it finished: a lock
        # on an unlinked file guards nothing, so take the one that is there now.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


@contextlib.contextmanager
def claim(folder: Path, flag: str, resume: bool = False, made: bool = False) -> Iterator[Path]:
    """Hold `folder` for this process while the block runs.

    A new run (`resume` False) creates the folder if it does not exist (its
    parent must) and refuses one that holds anything.  `made`: the caller
    created the folder (new_run_folder).  If the block fails before a new run
    has written its config.json, what the claim created is removed again.
    Claiming a folder this process already holds only nests.
    """
    key = os.path.realpath(folder)
    if key in _held:
        _held[key][1] += 1
        try:
            yield folder
        finally:
            _held[key][1] -= 1
        return
    created = made
    if resume:
        if not folder.is_dir():
            raise NninitError(f"{flag}: {folder}: no such run folder")
    else:
        parent = folder.parent
        if folder.exists() and not folder.is_dir():
            raise SpecError(flag, f"{folder} is a file, not a folder")
        if not folder.exists():
            if not parent.is_dir():
                raise SpecError(flag, f"folder {str(parent)!r} does not exist")
            try:
                folder.mkdir()
                created = True
            except FileExistsError:
                pass  # another process made it just now: the lock decides below
            except OSError as e:
                raise SpecError(flag, f"cannot create {folder} ({e.strerror})") from None
        _check_new(folder, flag)  # before the lock: a folder we refuse gets no .lock
    fd = _lock(folder, flag)
    _held[key] = [fd, 1]
    done = False
    try:
        if not resume:
            _check_new(folder, flag)  # a run that held the lock a moment ago may have filled it
        yield folder
        done = True
    finally:
        del _held[key]
        with contextlib.suppress(OSError):  # still ours: the next claimer makes a fresh one
            os.unlink(folder / LOCK)
        if created and not done and not resume and not (folder / CONFIG).exists():
            with contextlib.suppress(OSError):  # failed before it began: leave no empty folder
                folder.rmdir()
                if os.path.realpath(folder.parent) in _made_parents:
                    folder.parent.rmdir()
        os.close(fd)


# ---------------------------------------------------------------------------
# Reading a run back


def _where(flag: str | None, folder: Path) -> str:
    return f"{flag}: {folder}" if flag else str(folder)


def read_config(folder: Path, flag: str | None = None) -> dict[str, Any]:
    """The `config` object of folder/config.json, or a one-line NninitError."""
    where = _where(flag, folder)
    if not folder.exists():
        raise NninitError(f"{where}: no such run folder")
    if not folder.is_dir():
        raise NninitError(f"{where}: is a file, not a run folder")
    path = folder / CONFIG
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise NninitError(f"{where}: not an nninit train run (no {CONFIG})") from None
    except OSError as e:
        raise NninitError(f"{where}: {CONFIG} cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise NninitError(f"{where}: {CONFIG} is not a regular file")
    if st.st_size > MAX_CONFIG_BYTES:
        raise NninitError(f"{where}: {CONFIG} is {st.st_size} bytes, not an nninit run's config")
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(MAX_CONFIG_BYTES + 1).decode("utf-8"))
    except OSError as e:
        raise NninitError(f"{where}: {CONFIG} cannot be read ({e.strerror})") from None
    except (ValueError, RecursionError):  # not UTF-8, not JSON, nested beyond reason
        raise NninitError(f"{where}: {CONFIG} is not valid JSON") from None
    if not (
        isinstance(data, dict) and data.get("command") == "train" and isinstance(data.get("config"), dict)
    ):
        raise NninitError(f"{where}: {CONFIG} is not an nninit train run's (no command 'train' and config)")
    return data["config"]


# config.json keys that are not flags: how the run's gain was resolved
_DERIVED = ("gain_mode", "gain", "gain_source")


def recorded_flags(config: Mapping[str, Any]) -> dict[str, Any]:
    """The flag values (python names) that rebuild the run recorded in `config`."""
    flags = {k: v for k, v in config.items() if k not in (*_DERIVED, "residual_scale_mode")}
    mode = config.get("gain_mode")
    flags["gain"] = mode if mode in ("auto", "torch") else (config.get("gain") or 1.0)
    if config.get("residual_scale_mode") == "invsqrt":
        flags["residual_scale"] = "invsqrt"
    return flags


def _expected_keys(config: Mapping[str, Any]) -> set[str]:
    """The keys a train run's config.json holds: every flag but --no-bias and
    --gain, how the gain was resolved, and the residual knobs only for resmlp."""
    names = {f.name.replace("-", "_") for f in train_flags()} - {"no_bias", "gain"}
    if config.get("arch", "mlp") == "mlp":
        names -= set(RESMLP_ONLY)
    else:
        names.add("residual_scale_mode")
    return names | set(_DERIVED)


def spec_from_config(config: Mapping[str, Any], folder: Path, flag: str | None = None) -> TrainSpec:
    """Validate a recorded config through the same parsers as the command line;
    every key must be there, known, and hold what the parsers would give."""
    where = f"{_where(flag, folder)}/{CONFIG}"
    if "arch" not in config:  # written before there was a choice of network
        config = {**config, "arch": "mlp"}
    expected = _expected_keys(config)
    missing = sorted(expected - set(config))
    unknown = sorted(set(config) - expected)
    if missing or unknown:
        what = f"missing key '{missing[0]}'" if missing else f"unknown key '{unknown[0]}'"
        raise NninitError(f"{where}: {what}; not an nninit train run's config")
    try:
        spec = train_spec(recorded_flags(config))
    except SpecError as e:
        key = e.flag.split()[0].lstrip("-").replace("-", "_")
        raise NninitError(f"{where}: key '{key}': {e.message}") from None
    rebuilt = spec.to_dict()
    for key in sorted(expected - set(_DERIVED[1:])):
        if rebuilt[key] != config[key]:  # "10" for 10, "RELU" for "relu", ...
            raise NninitError(f"{where}: key '{key}' holds {config[key]!r}, expected {rebuilt[key]!r}")
    gain, source = config["gain"], config["gain_source"]
    if not (gain is None or (isinstance(gain, int | float) and not isinstance(gain, bool) and gain > 0)):
        raise NninitError(f"{where}: key 'gain' holds {gain!r}, expected a number > 0 or null")
    if not (source is None or isinstance(source, str)):
        raise NninitError(f"{where}: key 'gain_source' holds {source!r}, expected text or null")
    # the gain the run was built with, even if a later version would resolve 'auto' differently
    return replace(spec, net=replace(spec.net, gain=gain, gain_source=source))


def read_run(folder: Path, flag: str | None = None) -> TrainSpec:
    """The spec of the run in `folder`, or a one-line NninitError (exit 1)."""
    return spec_from_config(read_config(folder, flag), folder, flag)


# flags --resume takes besides the run's own: they change how far it runs and what is printed
RESUME_FLAGS = ("epochs", "fail_on")


def resume_spec(folder: Path, typed: Mapping[str, Any]) -> TrainSpec:
    """The spec `--resume folder` continues: the run's own, with --epochs and
    --fail-on as typed.  A model or data flag typed with a value other than
    the run's is a SpecError naming it (the same value is fine)."""
    config = read_config(folder, "--resume")
    spec = spec_from_config(config, folder, "--resume")
    flags = train_flags()
    run = recorded_flags(config)
    typed = {k.replace("-", "_"): v for k, v in typed.items() if v is not None and v is not False}
    base = {k: v for k, v in run.items() if not (typed.get("no_bias") and k == "bias")}
    new = resolve("train", flags, {**base, **typed})
    old = resolve("train", flags, run)
    for key in typed:
        if key in RESUME_FLAGS:
            continue
        was, now = (old["bias"], "none") if key == "no_bias" else (old[key], new[key])
        if now != was:
            shown = ",".join(map(str, was)) if isinstance(was, tuple) else was
            raise SpecError(
                f"--{key.replace('_', '-')}",
                f"the run in {folder} was trained with {shown!r}; --resume keeps a run's settings "
                "(only --epochs and the output flags may change)",
            )
    return replace(
        spec,
        epochs=new["epochs"] if "epochs" in typed else spec.epochs,
        fail_on=new["fail_on"] if "fail_on" in typed else spec.fail_on,
    )
