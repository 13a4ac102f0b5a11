"""The one output path of every command: check the output paths before any
work, then, once the result is in, files, then stdout, then the --fail-on exit
code.  Files are written before stdout so that a script reading the JSON can
rely on them."""

import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from nninit_cli.cli._options import Shared
from nninit_cli.errors import EXIT_FAIL_ON, EXIT_OK, ReaderGone


def check_outputs(shared: Shared, extra: Mapping[str, Path | None] | None = None) -> None:
    """Refuse bad --csv / --plot paths (and a command's `extra` outputs, flag ->
    path) before any work is done: see io.check_output_paths.  A file may not
    be the --config file, nor stdout when --json holds it."""
    from nninit_cli.errors import SpecError
    from nninit_cli.io import check_output_paths, is_stdout
    from nninit_cli.render.plot import check_plot_path

    check_plot_path(shared.plot)
    outputs = {"--csv": shared.csv, "--plot": shared.plot, **(extra or {})}
    check_output_paths(outputs, inputs={"--config": shared.config})
    for flag, path in outputs.items():
        if shared.as_json and path is not None and is_stdout(path):
            raise SpecError(flag, f"{str(path)!r} is stdout, which --json keeps for the JSON alone")


def emit(
    command: str,
    config: dict[str, Any],
    results: dict[str, Any],
    shared: Shared,
    *,
    tables: Callable[[], Iterable[Any]],
    summary: str | None = None,
    rows: Callable[[], list[dict[str, Any]]] | None = None,
    plot: Callable[[Path], None] | None = None,
    fail_on: Iterable[str] = (),
) -> int:
    """Write what was asked and return the exit code.

    `results` is the JSON's body (after command, nninit_version and config);
    its `verdicts`, where the command gives any, are what --fail-on tests.
    `tables` and `summary` are the human form; `rows` the CSV's rows, and
    `plot` draws the figure, for the commands that offer --csv and --plot."""
    if shared.csv is not None:
        from nninit_cli.render.csv_out import write_rows

        assert rows is not None, f"{command} offers --csv but has no rows"
        write_rows(shared.csv, rows())
    if shared.plot is not None:
        assert plot is not None, f"{command} offers --plot but has no figure"
        plot(shared.plot)
    held = sorted(set(fail_on) & set(results.get("verdicts", ())))
    try:
        _print(command, config, results, shared, tables, summary)
    except ReaderGone as gone:  # the reader left (`| head -1`): a verdict that held still fails
        if held:
            print(f"--fail-on: {', '.join(held)} held", file=sys.stderr)
            gone.exit_code = EXIT_FAIL_ON
        raise
    for path, what in ((shared.csv, "table"), (shared.plot, "figure")):
        if path is not None:
            print(f"wrote {what} to {path}", file=sys.stderr)
    if held:
        print(f"--fail-on: {', '.join(held)} held", file=sys.stderr)
        return EXIT_FAIL_ON
    return EXIT_OK


def _print(
    command: str,
    config: dict[str, Any],
    results: dict[str, Any],
    shared: Shared,
    tables: Callable[[], Iterable[Any]],
    summary: str | None,
) -> None:
    """stdout: the JSON, or the tables and the summary."""
    if shared.as_json:
        from nninit_cli.render.json_out import dumps

        sys.stdout.write(dumps(command, config, results))
        return
    from nninit_cli.render.table import console

    out = console()
    for item in tables():
        out.print(item)
    if summary is not None:
        out.print(summary)


def progress_bar(label: str, description: bool = False) -> Any:
    """A started rich progress bar on stderr (never stdout: stdout is for
    results), gone once stopped; None when stderr is not a terminal.  Its one
    task is `bar.tasks[0]`; `description` adds a column for a running note."""
    from rich.console import Console

    err = Console(stderr=True)
    if not err.is_terminal:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = [TextColumn(label), MofNCompleteColumn(), BarColumn()]
    if description:
        columns.append(TextColumn("{task.description}"))
    bar = Progress(*columns, TimeRemainingColumn(), console=err, transient=True)
    bar.start()
    bar.add_task("", total=None)
    return bar
