"""`nninit init-compare`: rank initialisers for an activation and a depth."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import typer

from nninit_cli.cli._options import Shared, options
from nninit_cli.errors import in_import
from nninit_cli.specs import init_compare_flags


@options(init_compare_flags())
def command(shared: Shared) -> None:
    """Rank initialisers for an activation and a depth.

    Every init x activation cell runs over --seeds seeds through the stack
    std-trace builds (forward and backward) and reports the final/input std,
    the first non-finite layer, the first/last weight-gradient ratio, dead and
    saturated units and a verdict; --train-epochs adds a short training probe.
    Every init of a seed is drawn from the same random numbers, so two inits
    are compared seed by seed: a cell's rank is 1 + the number of cells that a
    paired test over seeds (at --alpha) finds better, and cells it cannot
    separate share a rank (#2=).  Without training, cells are ranked by how far
    the std ratio is from the one theory gives a healthy stack of the
    activation, and the gradient ratio from 1; broken cells last.

    A progress bar shows on a terminal; Ctrl-C stops at once and writes the
    cells that finished (JSON "complete": false), exit 130.  --workers N runs
    the grid in N processes, --executor ray on a Ray cluster: the same JSON,
    byte for byte.

    \b
    Example:
      nninit init-compare                                  # linear, 50 x 256
      nninit init-compare --acts relu,tanh --gain torch    # xavier under relu
      nninit init-compare --acts tanh --seeds 10 --alpha 0.01
      nninit init-compare --acts sigmoid --layers 2 --width 5 --train-epochs 300 --workers 2
      nninit init-compare --acts relu --json | jq '.cells[] | {init, rank, tied}'
    """
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.specs import init_compare_spec

    spec = init_compare_spec(shared.flags, shared.config)
    check_outputs(shared)
    raise typer.Exit(_run(spec, shared))


def _run(spec: Any, shared: Shared) -> int:
    from nninit_cli.cli._output import emit, progress_bar
    from nninit_cli.errors import Stopped
    from nninit_cli.executors import Executor
    from nninit_cli.experiments.init_compare import run_init_compare
    from nninit_cli.render import plot as plots
    from nninit_cli.render import table
    from nninit_cli.render.csv_out import compare_rows

    executor = Executor(spec.executor, spec.workers, spec.ray_address)
    bar = progress_bar("init-compare units")

    def on_unit(done: int, total: int) -> None:
        if bar is not None:
            bar.update(bar.tasks[0].id, completed=done, total=total)

    try:
        with _stop_on_signal() as stop:
            res = run_init_compare(spec, executor, on_unit, should_stop=lambda: stop["asked"])
    finally:
        if bar is not None:
            bar.stop()
    if not res.complete and not res.cells:
        # nothing to write: leave any --csv or --plot from an earlier run as it is
        shared = replace(shared, csv=None, plot=None)
    results = res.to_dict()
    code = emit(
        "init-compare",
        res.config,
        results,
        shared,
        tables=lambda: table.compare_tables(res),
        summary=table.compare_summary(res),
        rows=lambda: compare_rows(results),
        plot=lambda p: plots.compare_plot(res, p),
        fail_on=spec.fail_on,
    )
    if res.complete:
        return code
    if not res.cells:
        raise Stopped(f"interrupted before any of the {res.cells_total} cells finished: no files written")
    raise Stopped(f"interrupted: wrote the {len(res.cells)} of {res.cells_total} cells that finished")


@contextmanager
def _stop_on_signal() -> Iterator[dict[str, bool]]:
    """Ctrl-C or SIGTERM while the grid runs: stop at once and keep what
    finished.  The signal becomes a KeyboardInterrupt where the main thread
    is, unless that is inside an import (which an exception must not cross):
    then the grid stops after the unit that is running.  Either way it is
    raised once; the usual handlers are back before anything is written."""
    stop = {"asked": False}

    def ask(signum: int, frame: Any) -> None:
        if stop["asked"]:
            return
        stop["asked"] = True
        if not in_import(frame):
            raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
