"""The `nninit` command line: registers the commands and owns the error policy.

Bad input of any kind (a Typer/Click usage error or a SpecError from the core)
becomes one line on stderr and exit 2; Ctrl-C exits 130; a --fail-on verdict,
an unusable run folder or a failed write exits 1, also with one line.
Signals and a closed or broken stdout are the entry point's (`__main__.py`).
Commands import torch lazily, inside their bodies, so that `--help`, `list`
and usage errors never pay for it.
"""

import sys
from typing import Annotated, Any

import typer

try:  # typer >= 0.26 carries its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click.exceptions import NoArgsIsHelpError, UsageError

from nninit_cli import __version__
from nninit_cli.cli import (
    coord_check,
    grad_norms,
    init_compare,
    jacobian,
    lessons,
    list_cmd,
    phase,
    run_preset,
    std_trace,
    train,
)
from nninit_cli.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, NninitError, ReaderGone, SpecError, Stopped

app = typer.Typer(
    name="nninit",
    help="Experiments that make neural-network initialisation visible.\n\n"
    "Each command runs one experiment and prints a table (or --json, --csv, --plot).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion: same imports, +0.03 ms to build the command
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"nninit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Experiments that make neural-network initialisation visible."""


app.command("std-trace")(std_trace.command)
app.command("grad-norms")(grad_norms.command)
app.command("init-compare")(init_compare.command)
app.command("train")(train.command)
app.command("coord-check")(coord_check.command)
app.command("phase")(phase.command)
app.command("jacobian")(jacobian.command)
app.command("eval")(train.eval_command)
app.command("gain")(lessons.gain_command)
app.command("activations")(lessons.activations_command)
app.command("init-hist")(lessons.init_hist_command)
app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(
    run_preset.command
)
app.command("list")(list_cmd.command)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class _Stdout:
    """sys.stdout as commands see it: a broken pipe becomes ReaderGone."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        try:
            return self._inner.write(text)
        except BrokenPipeError as e:
            raise ReaderGone from e

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError as e:
            raise ReaderGone from e

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (the error policy lives here).

    A reader of stdout that leaves (`| head`) raises BrokenPipeError out of
    here, for the entry point to end quietly with exit 0 (or 1 when a
    --fail-on verdict held: the error's `exit_code`)."""
    saved = sys.stdout
    sys.stdout = _Stdout(saved)
    try:
        return _run(argv)
    except ReaderGone as e:
        gone = BrokenPipeError()
        gone.exit_code = e.exit_code  # type: ignore[attr-defined]
        raise gone from None
    finally:
        sys.stdout = saved


def _run(argv: list[str] | None) -> int:
    cmd = typer.main.get_command(app)
    try:
        code = cmd.main(args=argv, prog_name="nninit", standalone_mode=False)
    except NoArgsIsHelpError as e:  # bare `nninit`: help, as a usage error
        print(e.ctx.get_help() if e.ctx else "", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (UsageError, SpecError) as e:
        text = e.format_message() if isinstance(e, UsageError) else str(e)
        print(f"nninit: error: {_one_line(text)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NninitError as e:
        print(f"nninit: error: {_one_line(str(e))}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader of stdout left: the entry point ends quietly
        raise
    except MemoryError:
        print("nninit: error: ran out of memory; use smaller sizes", file=sys.stderr)
        return 1
    except OSError as e:  # a write that failed: disk full, I/O error, a file that vanished
        where = e.filename or "stdout"
        print(f"nninit: error: cannot write to {where}: {e.strerror or e}", file=sys.stderr)
        return 1
    except Stopped as e:  # stopped cleanly, what it had written: its own, fuller line
        print(f"nninit: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (typer.Abort, KeyboardInterrupt):
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:  # typer turns a KeyboardInterrupt inside a command into 130
        print("nninit: interrupted", file=sys.stderr)
    return code if isinstance(code, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with its code (what tests call in-process)."""
    sys.exit(run(argv))
