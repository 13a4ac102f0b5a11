"""What every command does once its result is in: files, then stdout, then the
--fail-on exit code.  Files are written before stdout so that a script reading
the JSON can rely on them."""

import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from nninit_cli.cli._options import Shared
from nninit_cli.errors import EXIT_FAIL_ON, EXIT_OK


def check_outputs(shared: Shared, extra: Mapping[str, Path | None] | None = None) -> None:
    """Refuse bad --csv / --plot paths (and a command's `extra` outputs, flag ->
    path) before any work is done: see io.check_output_paths."""
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
    renderables: Callable[[], Iterable[Any]],
    summary: str,
    csv_rows: Callable[[], list[dict[str, Any]]] | None = None,
    plot: Callable[[Path], None] | None = None,
    verdicts: Iterable[str] = (),
    fail_on: Iterable[str] = (),
) -> int:
    csv_path, plot_path, as_json = shared.csv, shared.plot, shared.as_json
    if csv_path is not None and csv_rows is not None:
        from nninit_cli.render.csv_out import write_rows

        write_rows(csv_path, csv_rows())
    if plot_path is not None and plot is not None:
        plot(plot_path)
    if as_json:
        from nninit_cli.render.json_out import dumps

        sys.stdout.write(dumps(command, config, results))
    else:
        from nninit_cli.render.table import console

        out = console()
        for item in renderables():
            out.print(item)
        out.print(summary)
    for path, what in ((csv_path, "table"), (plot_path, "figure")):
        if path is not None:
            print(f"wrote {what} to {path}", file=sys.stderr)
    held = sorted(set(fail_on) & set(verdicts))
    if held:
        print(f"--fail-on: {', '.join(held)} held", file=sys.stderr)
        return EXIT_FAIL_ON
    return EXIT_OK
