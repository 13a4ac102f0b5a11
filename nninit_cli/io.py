"""Output files: checked before any work starts, written atomically.

Every file nninit writes goes through here, so the promises of the README's
output contract are kept in one place:

- a path is checked up front (`check_output_paths`): its folder exists and is
  writable, its name fits the file system, no two outputs of one command share
  a file, and an existing path that is not a regular file is never replaced;
- a regular file is replaced atomically (a temporary file beside it, then a
  rename), so a reader never sees half a file and a failed or interrupted write
  never destroys the old one;
- a symlink stays a symlink: its target is what gets replaced;
- a character device or a FIFO (`--csv /dev/stdout`, `--plot /dev/null`, a
  named pipe) is written through, never replaced by a regular file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

from nninit_cli.errors import NninitError, SpecError

TEMP_PREFIX = ".nninit-"  # short and fixed, so a name that fits the file system always has a temp twin
TEMP_SUFFIX = ".tmp"


def target_of(path: Path) -> Path:
    """The file a write to `path` lands in: the end of its symlink chain (which
    need not exist yet), else the path itself."""
    path = Path(path)
    try:
        is_link = stat.S_ISLNK(os.lstat(path).st_mode)
    except OSError:  # missing, or a name the file system refuses (checked later)
        return path
    if not is_link:
        return path
    with contextlib.suppress(OSError):
        if _passthrough(os.stat(path).st_mode):  # /dev/stdout -> /proc/self/fd/1 -> a pipe or tty
            return path
    return Path(os.path.realpath(path))


def _passthrough(mode: int) -> bool:
    """A character device or a FIFO: written through, never replaced."""
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def check_output_path(path: Path | str, flag: str) -> None:
    """Refuse, as a SpecError naming `flag`, a path nninit could not write or
    must not replace; called before any work is done."""
    text = str(path)
    if not text.strip():
        raise SpecError(flag, "is empty; give a file name")
    if "\0" in text:
        raise SpecError(flag, "contains a NUL byte")
    path = Path(text)
    target = target_of(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:  # ENAMETOOLONG, ELOOP (a symlink cycle), EACCES, ...
        if e.errno == errno.ENAMETOOLONG:
            raise SpecError(flag, _too_long(target)) from None
        raise SpecError(flag, f"{_short(text)} cannot be used ({e.strerror})") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise SpecError(flag, f"{text!r} is a folder; give a file name")
        if _passthrough(st.st_mode):
            if not os.access(target, os.W_OK):
                raise SpecError(flag, f"{text!r} is not writable")
            return
        if not stat.S_ISREG(st.st_mode):
            raise SpecError(flag, f"{text!r} exists and is not a regular file (a socket or block device)")
    parent = target.parent
    try:
        pst = os.stat(parent)
    except FileNotFoundError:
        raise SpecError(flag, f"folder {str(parent)!r} does not exist") from None
    except OSError as e:
        raise SpecError(flag, f"folder {str(parent)!r} cannot be used ({e.strerror})") from None
    if not stat.S_ISDIR(pst.st_mode):
        raise SpecError(flag, f"{str(parent)!r} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK) or _read_only_fs(parent) or not _can_create_in(parent):
        raise SpecError(flag, f"folder {str(parent)!r} is not writable")
    if st is not None and not os.access(target, os.W_OK):
        raise SpecError(flag, f"{text!r} is read-only; nninit will not replace it")
    name_max, path_max = _limits(parent)
    if len(os.fsencode(target.name)) > name_max or len(os.fsencode(os.path.abspath(target))) >= path_max:
        raise SpecError(flag, _too_long(target))


def _short(text: str, keep: int = 60) -> str:
    """A path as messages show it: quoted, cut in the middle when very long."""
    return repr(text) if len(text) <= keep else repr(text[: keep // 2] + "..." + text[-keep // 2 :])


def _too_long(target: Path) -> str:
    name_max, path_max = _limits(target.parent if target.parent.is_dir() else Path("."))
    return (
        f"{_short(str(target))} is too long for the file system "
        f"(a name may have {name_max} bytes, a path {path_max - 1})"
    )


def _limits(folder: Path) -> tuple[int, int]:
    try:
        return os.pathconf(folder, "PC_NAME_MAX"), os.pathconf(folder, "PC_PATH_MAX")
    except (OSError, ValueError):  # pragma: no cover - platforms without pathconf
        return 255, 4096


def _can_create_in(folder: Path) -> bool:
    """Whether a file can be created there, tried for real (root passes every
    access() test, and /proc or a full quota says no only when asked)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(tmp)
    return True


def _read_only_fs(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # pragma: no cover
        return False


def same_file_key(path: Path) -> tuple[str, object]:
    """What identifies the file a write lands in: (device, inode) for an
    existing file, else its absolute target path."""
    target = target_of(path)
    try:
        st = os.stat(target)
        return ("inode", (st.st_dev, st.st_ino))
    except OSError:
        return ("path", os.path.abspath(target))


def is_inside(path: Path | str, folder: Path | str) -> bool:
    """Whether a write to `path` lands inside `folder` (symlinks followed)."""
    target = os.path.realpath(target_of(Path(path)))
    root = os.path.realpath(folder)
    return os.path.commonpath([target, root]) == root


def is_stdout(path: Path | str) -> bool:
    """Whether `path` is the very file stdout writes to (/dev/stdout, its tty)."""
    try:
        st, out = os.stat(target_of(Path(path))), os.fstat(1)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (out.st_dev, out.st_ino)


def check_output_paths(
    outputs: Mapping[str, Path | str | None], inputs: Mapping[str, Path | str | None] | None = None
) -> None:
    """Check each named output (flag -> path), refuse two that are one file and
    an output that is one of the command's `inputs` (a --config file)."""
    seen: dict[tuple[str, object], str] = {}
    for flag, path in (inputs or {}).items():
        if path is not None and Path(path).is_file():
            seen[same_file_key(Path(path))] = flag
    for flag, path in outputs.items():
        if path is None:
            continue
        check_output_path(path, flag)
        key = same_file_key(Path(path))
        target = target_of(Path(path))
        with contextlib.suppress(OSError):
            if _passthrough(os.stat(target).st_mode):
                continue  # /dev/null twice is harmless
        if key in seen:
            raise SpecError(flag, f"{str(path)!r} is the same file as {seen[key]}; give each its own file")
        seen[key] = flag


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w", durable: bool = True) -> Iterator[IO]:
    """Open `path` for writing so that it is replaced whole or not at all.

    A regular (or new) file: a temporary file in the same folder that replaces
    it by rename on success; on any exception (Ctrl-C included) the temporary
    file is removed and the old content stays.  A symlink: the same, on its
    target.  A character device or FIFO: written through.  `durable` also
    fsyncs before the rename (proof against power loss, at a few ms a file); a
    training loop that rewrites a checkpoint every epoch passes False and makes
    the final write durable.
    """
    target = target_of(Path(path))
    text_kw = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    if st is not None and _passthrough(st.st_mode):
        try:
            with open(target, mode, **text_kw) as fh:  # a device or FIFO is written through
                yield fh
        except OSError as e:  # ENOSPC from /dev/full surfaces at close, without a name
            raise OSError(e.errno, e.strerror, str(path)) from None
        return
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise NninitError(f"{path}: exists and is not a regular file; not replaced")
    fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        os.chmod(tmp, _mode_for(st))  # mkstemp makes 0600; give what open() would
        with os.fdopen(fd, mode, **text_kw) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and not e.filename:  # a full disk: say which file
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise


def _mode_for(st: os.stat_result | None) -> int:
    """The existing file's mode, or what a new file gets under the umask."""
    if st is not None:
        return st.st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def atomic_write_with(path: Path, write: Callable[[IO], None], binary: bool = True) -> None:
    """Call `write(fh)` on a temporary file that then replaces `path`."""
    with atomic_open(path, "wb" if binary else "w") as fh:
        write(fh)
