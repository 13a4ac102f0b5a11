"""The process entry point: the `nninit` script and `python -m nninit_cli`.

It owns what only a whole process has: signals, a closed or broken stdout, and
the exit.  It imports nothing heavy before its handlers are in place, so Ctrl-C
at any moment of start-up (typer, then torch, take most of a second to import)
ends with one line and exit 130, never a traceback.  The error policy for
everything a command does lives in `nninit_cli.cli.run`.
"""

import _thread
import contextlib
import os
import signal
import sys
import threading
import time

from nninit_cli.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, in_import  # a module with no imports

EXIT_WRITE_FAILED = 1  # also: an unexpected error, reported in one line


class _Signals:
    """Ctrl-C and SIGTERM that are never swallowed and never abort.

    Python's own handler raises KeyboardInterrupt wherever the main thread
    happens to be.  Two places make that unsafe: inside an import (torch's
    start-up runs C++ that aborts the process when a Python exception crosses
    it, and importlib's lock callbacks print and drop it), and inside a
    finaliser or weakref callback (dropped with "Exception ignored").  So the
    handler defers a signal that lands inside an import, and a watchdog thread
    delivers it again (`_thread.interrupt_main`) once the import is done, or
    again if an interrupt raised earlier was dropped.  If nothing has ended
    the process 10 s later, the watchdog ends it: one line, exit 130.
    """

    RETRY_S = 1.0
    GIVE_UP_S = 10.0

    def __init__(self) -> None:
        self.since: float | None = None  # when the first signal arrived
        self.signum = signal.SIGINT
        self.raised_at: float | None = None  # when KeyboardInterrupt was last raised
        self.done = False
        self.main = threading.get_ident()
        self.lock = threading.Lock()

    def install(self) -> None:
        signal.signal(signal.SIGINT, self.handle)
        signal.signal(signal.SIGTERM, self.handle)
        # A Python handler runs only between bytecodes of the main thread, so
        # one long C call (an SVD of 16384 x 16384) would hold it off for
        # minutes.  The C-level handler writes the signal to the wakeup fd at
        # once, and this thread starts the watchdog from there.
        read, write = (_above_stdio(fd) for fd in os.pipe())
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        threading.Thread(target=self._wakeup, args=(read,), name="nninit-wakeup", daemon=True).start()

    def _wakeup(self, fd: int) -> None:
        while True:
            try:
                data = os.read(fd, 64)
            except OSError:
                return
            if not data:
                return
            for signum in set(data) & {signal.SIGINT, signal.SIGTERM}:
                # only while this handler is the one installed: a command
                # with its own (train stops at the end of an epoch) decides
                if signal.getsignal(signum) == self.handle:
                    self._start(signum)

    def _start(self, signum: int) -> None:
        with self.lock:
            if self.since is not None:
                return
            self.since = time.monotonic()
            self.signum = signum
        threading.Thread(target=self._watch, name="nninit-signals", daemon=True).start()

    def handle(self, signum: int, frame: object) -> None:
        self._start(signum)
        if in_import(frame):
            return  # the watchdog raises it once the import is over
        self.raised_at = time.monotonic()
        raise KeyboardInterrupt

    def _watch(self) -> None:
        while not self.done:
            time.sleep(0.02)
            now = time.monotonic()
            if now - self.since > self.GIVE_UP_S:
                with contextlib.suppress(OSError):
                    os.write(2, b"nninit: interrupted\n")
                os._exit(EXIT_INTERRUPTED)
            stale = self.raised_at is None or now - self.raised_at > self.RETRY_S
            frame = sys._current_frames().get(self.main)
            if stale and frame is not None and not in_import(frame):
                self.raised_at = now
                _thread.interrupt_main(self.signum)


def _above_stdio(fd: int) -> int:
    """fd moved to 3 or above: with stdout closed, a new pipe would take fd 1
    and hide that (`_stdout_closed`) or catch the table."""
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
    os.close(fd)
    return high


def _stdout_closed() -> bool:
    """True when the shell closed stdout (`nninit ... >&-`).  Then fd 1 is
    pointed at /dev/null, so that no file nninit opens later takes fd 1 and
    receives the table by accident."""
    try:
        os.fstat(1)
        return False
    except OSError:
        fd = os.open(os.devnull, os.O_WRONLY)
        if fd != 1:
            os.dup2(fd, 1)
            os.close(fd)
        return True


def _silence_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered for a reader that has
    gone is dropped instead of raising again."""
    with contextlib.suppress(OSError, ValueError):
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _fixed_mmap_threshold() -> None:
    """Pin glibc's mmap threshold at 1 MB.  By default it rises to the largest
    block freed so far: once a 4 MB weight is freed, every later weight comes
    from the heap, and a deep trace's heap fragments between them and the
    small blocks probes allocate (1000 x 1024: 1.2 to 1.7 GB peak, varying
    from run to run, instead of 270 MB).  Pinned, every weight is its own
    mapping, returned to the system when freed.  Elsewhere: nothing."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD


def entry() -> None:
    """Run the CLI as a process and leave with its exit code.

    - Ctrl-C or SIGTERM, start-up included: one line, exit 130.
    - A reader that leaves early (`nninit std-trace --all | head -1`): exit 0,
      quietly (1 if a --fail-on verdict held); whatever was still buffered is
      dropped.
    - stdout closed (`>&-`): one line, exit 2, before any work.
    - A full disk or another write error on stdout: one line, exit 1.

    Once everything is written and flushed, leave with os._exit: a normal
    interpreter shutdown with torch loaded spends about 0.5 s tearing down
    modules, a third of the cost of `import torch` itself.  Every file nninit
    writes is closed (and renamed into place) before this point.
    """
    signals = _Signals()
    signals.install()
    _fixed_mmap_threshold()
    code = EXIT_WRITE_FAILED  # replaced on every path below; kept if an unforeseen error escapes
    try:
        try:
            if _stdout_closed():
                _say(
                    "nninit: error: stdout is closed; nninit prints its results there "
                    "(redirect it to a file or /dev/null instead)"
                )
                code = EXIT_BAD_INPUT
            else:
                from nninit_cli.cli import run

                code = run()
                sys.stdout.flush()
        except BrokenPipeError as e:  # `nninit ... | head`: the reader left; not an error of ours
            _silence_stdout()
            code = getattr(e, "exit_code", 0)  # 1 if a --fail-on verdict held all the same
        except OSError as e:  # ENOSPC on stdout (`> /dev/full`), EIO, ...
            _silence_stdout()
            _say(f"nninit: error: cannot write to {e.filename or 'stdout'}: {e.strerror or e}")
            code = EXIT_WRITE_FAILED
        except SystemExit as e:  # raised inside typer (`--version`, `--help`)
            code = e.code if isinstance(e.code, int) else 0
            sys.stdout.flush()
        except Exception as e:  # a bug of nninit's: still one line, never a traceback
            _say(f"nninit: internal error: {type(e).__name__}: {e} (please report it with the command line)")
            code = EXIT_WRITE_FAILED
    except BrokenPipeError:  # the flush after --help found the reader gone
        _silence_stdout()
        code = 0
    except KeyboardInterrupt:  # Ctrl-C during start-up or while flushing
        _silence_stdout()
        _say("nninit: interrupted")
        code = EXIT_INTERRUPTED
    finally:
        signals.done = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # nothing may interrupt the exit itself
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    entry()
