"""`nninit phase`: order, chaos and depth scales over a grid of (sigma_w2, sigma_b2)."""

from typing import Annotated

import typer

from nninit_cli.cli._options import Shared, options
from nninit_cli.specs import OUTPUT, phase_flags


@options(phase_flags())
def command(
    shared: Shared,
    show_all: Annotated[
        bool,
        typer.Option("--all", rich_help_panel=OUTPUT, help="A row for every cell, however many."),
    ] = False,
) -> None:
    """Order, chaos and depth scales by weight and bias variance.

    Infinite-width theory (Poole et al. 2016, Schoenholz et al. 2017) for
    --act over every (sigma_w2, sigma_b2) of the grid: the fixed variance q*,
    chi_1 (the slope of the correlation map at c = 1), the correlation c*
    that two inputs settle at, the depth scales xi_q and xi_c (layers for a
    deviation to shrink by e), and the phase: ordered (chi_1 < 1, every pair
    of inputs ends up aligned), chaotic (chi_1 > 1), critical (|chi_1 - 1|
    <= 0.01) or unbounded (q* infinite).  The critical line sigma_w2(sigma_b2)
    where chi_1 = 1 for every sigma_b2 of the grid.  numpy only: no torch.

    --measure runs every cell's stack over --seeds and fits xi_c from how the
    two inputs' correlation approaches c*; --train-depths trains MLPs of those
    depths at every sigma_w2 (Schoenholz et al.'s trainability probe: deeper
    than about 6 xi_c, they do not train).  A grid of more than 40 cells is
    summarised (--all: every row; --json: every cell).

    \b
    Example:
      nninit phase                                        # tanh at sigma_b2 0.05
      nninit phase --sigma-w2 1:4:40 --sigma-b2 0:2:40 --plot phase.png
      nninit phase --act relu --sigma-w2 1,1.5,2,2.5 --sigma-b2 0,0.1
      nninit phase --sigma-w2 1.2,1.4,1.6,2,3 --measure
      nninit phase --sigma-w2 1:3:9 --train-depths 4,16,48 --plot trainability.png
      nninit phase --json | jq '.critical[0].sigma_w2'
    """
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.specs import phase_spec

    spec = phase_spec(shared.flags, shared.config)
    check_outputs(shared)
    raise typer.Exit(_run(spec, shared, show_all))


def _run(spec, shared: Shared, show_all: bool) -> int:
    from nninit_cli.cli._output import emit, progress_bar
    from nninit_cli.experiments.phase import run_phase
    from nninit_cli.render import table
    from nninit_cli.render.csv_out import phase_rows

    bars = {"measure": None, "train": None}

    def progress(kind: str, label: str):
        def update(done: int, total: int) -> None:
            if bars[kind] is None:
                bars[kind] = progress_bar(label) or False
            if bars[kind]:
                bars[kind].update(bars[kind].tasks[0].id, completed=done, total=total)
                if done == total:
                    bars[kind].stop()

        return update

    try:
        res = run_phase(spec, progress("measure", "phase --measure seeds"), progress("train", "phase units"))
    finally:
        for bar in bars.values():
            if bar:
                bar.stop()
    results = res.to_dict()

    def plot(path) -> None:
        from nninit_cli.render import plot as plots

        plots.phase_plot(res, path)

    return emit(
        "phase",
        res.config,
        results,
        shared,
        tables=lambda: table.phase_tables(res, show_all),
        summary=table.phase_summary(res),
        rows=lambda: phase_rows(results),
        plot=plot,
    )
