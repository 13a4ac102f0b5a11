"""Atomic file writes: a reader never sees half a file, and an existing file is
never lost to a failed or interrupted write."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_open(path: Path, mode: str = "w", durable: bool = True) -> Iterator[IO]:
    """Open a temporary file beside `path`; on success it replaces `path`.

    On any exception (Ctrl-C included) the temporary file is removed and `path`
    keeps its old content.  `durable` also fsyncs before the rename (proof
    against power loss, at a few ms a file); a training loop that rewrites a
    checkpoint every epoch passes False and makes the final write durable.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.chmod(tmp, _mode_for(path))  # mkstemp makes 0600; give what open() would
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as fh:
            yield fh
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _mode_for(path: Path) -> int:
    """The existing file's mode, or what a new file gets under the umask."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
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
