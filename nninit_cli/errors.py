"""The exceptions the core raises and the exit codes the CLI maps them to."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAIL_ON = 1  # a --fail-on verdict held
EXIT_BAD_INPUT = 2  # usage error: one line on stderr, no traceback
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


def in_import(frame: object) -> bool:
    """Whether a signal handler's `frame` is inside an import: an exception
    raised there crosses torch's C++ start-up (which aborts) or importlib's lock
    callbacks (which drop it), so a KeyboardInterrupt must wait until it ends."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):  # type: ignore[attr-defined]
            return True
        frame = frame.f_back  # type: ignore[attr-defined]
    return False


class ReaderGone(Exception):
    """stdout's reader left (`nninit ... | head -1`).  Not an OSError, so that
    typer, which answers a broken pipe inside a command with exit 1, lets it
    through.  `exit_code` is what the process still owes: 0, or EXIT_FAIL_ON
    when a --fail-on verdict held (the reader leaving does not undo it)."""

    exit_code = EXIT_OK


class Stopped(Exception):
    """A command stopped on Ctrl-C or SIGTERM after writing what it had (train
    at an epoch's end, init-compare with its finished cells): the CLI prints
    this one, fuller line instead of "interrupted" and exits 130."""


class NninitError(Exception):
    """Base of every error nninit reports to the user as one line."""


class SpecError(NninitError, ValueError):
    """Bad input, tied to the flag (or config key) that carried it.

    `flag` is written as the user types it (`--layers`), so the message can name it.
    """

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"{flag}: {message}")
        self.flag = flag
        self.message = message
