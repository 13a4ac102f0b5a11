"""The `nninit` command line: registers the commands and owns the error policy.

Bad input of any kind (a Typer/Click usage error or a SpecError from the core)
becomes one line on stderr and exit 2; Ctrl-C exits 130; a --fail-on verdict
exits 1.  Commands import torch lazily, inside their bodies, so that `--help`,
`list` and usage errors never pay for it.
"""

import sys
from typing import Annotated

import typer

try:  # typer >= 0.26 carries its own copy of click
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - older typer runs on click itself
    from click.exceptions import NoArgsIsHelpError, UsageError

from nninit_cli import __version__
from nninit_cli.cli import list_cmd, std_trace
from nninit_cli.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, NninitError, SpecError

app = typer.Typer(
    name="nninit",
    help="Experiments that make neural-network initialisation visible.\n\n"
    "Each command runs one experiment and prints a table (or --json, --csv, --plot).",
    no_args_is_help=True,
    add_completion=False,
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
app.command("list")(list_cmd.command)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `nninit` script and `python -m nninit_cli`."""
    cmd = typer.main.get_command(app)
    try:
        code = cmd.main(args=argv, prog_name="nninit", standalone_mode=False)
    except NoArgsIsHelpError as e:  # bare `nninit`: help, as a usage error
        print(e.ctx.get_help() if e.ctx else "", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except UsageError as e:
        print(f"nninit: error: {_one_line(e.format_message())}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except SpecError as e:
        print(f"nninit: error: {_one_line(str(e))}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
    except NninitError as e:
        print(f"nninit: error: {_one_line(str(e))}", file=sys.stderr)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        print("nninit: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:  # `nninit ... | head`: the reader left; not an error of ours
        sys.stderr.close()
        sys.exit(0)
    if code == EXIT_INTERRUPTED:
        print("nninit: interrupted", file=sys.stderr)
    sys.exit(code if isinstance(code, int) else 0)
