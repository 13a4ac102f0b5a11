"""`nninit coord-check`: do activations keep their size as the model widens?"""

import typer

from nninit_cli.cli._options import Shared, options
from nninit_cli.specs import coord_check_flags


@options(coord_check_flags())
def command(shared: Shared) -> None:
    """Coordinate check: how layer sizes scale as the model widens.

    The same model at every width of --widths, drawn from the same seed and
    trained --steps steps on the same batches under one parametrisation
    (--param sp, ntk or mup; see the README for the table it applies).  Per
    layer and step: the mean |activation| at each width, and the log-log slope
    of that size against width with a 90% interval over --seeds.  A slope near
    0 means the layer keeps its size as the model widens; verdict blows-up or
    vanishes when some slope's whole interval lies beyond --slope-tol (one
    seed: the slope itself).  Also the size of each layer's change since step
    0, mean |activation - its step-0 value| (NTK: features that barely move).

    \b
    Example:
      nninit coord-check                               # sp + adam: the output blows up
      nninit coord-check --param mup                   # every slope near 0: stable
      nninit coord-check --param mup --optimizer sgd --lr 0.1
      nninit coord-check --arch resmlp --layers 4 --param mup --plot mup.png
      nninit coord-check --param mup --json --fail-on blows-up,vanishes | jq .verdict
    """
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.specs import coord_check_spec

    spec = coord_check_spec(shared.flags, shared.config)
    check_outputs(shared)
    raise typer.Exit(_run(spec, shared))


def _run(spec, shared: Shared) -> int:
    from nninit_cli.cli._output import emit
    from nninit_cli.experiments.coord_check import run_coord_check
    from nninit_cli.render import plot as plots
    from nninit_cli.render import table
    from nninit_cli.render.csv_out import coord_check_rows

    with _Progress() as on_run:
        res = run_coord_check(spec, on_run)
    results = res.to_dict()
    return emit(
        "coord-check",
        res.config,
        results,
        shared,
        tables=lambda: table.coord_check_tables(res),
        summary=table.coord_check_summary(res),
        rows=lambda: coord_check_rows(results),
        plot=lambda p: plots.coord_check_plot(res, p),
        fail_on=spec.fail_on,
    )


class _Progress:
    """A bar over the (seed, width) runs when stderr is a terminal (a wide
    grid can take minutes); nothing otherwise."""

    def __enter__(self):
        from nninit_cli.cli._output import progress_bar

        self.bar = progress_bar("coord-check runs")
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.bar.tasks[0].id, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
