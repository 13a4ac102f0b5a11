"""`nninit init-compare`: rank initialisers for an activation and a depth."""

import typer

from nninit_cli.cli._options import Shared, options
from nninit_cli.specs import init_compare_flags


@options(init_compare_flags())
def command(shared: Shared) -> None:
    """Rank initialisers for an activation and a depth.

    Every init x activation cell runs over --seeds seeds through the stack
    std-trace builds (forward and backward) and reports the final/input std,
    the first non-finite layer, the first/last weight-gradient ratio, dead and
    saturated units and a verdict; --train-epochs adds a short training probe.
    Cells are ranked per activation: by dev accuracy when trained, otherwise by
    how close std and gradient ratios stay to 1, broken cells last.

    \b
    Example:
      nninit init-compare                                  # linear, 50 x 256
      nninit init-compare --acts relu,tanh --gain torch    # xavier under relu
      nninit init-compare --acts sigmoid --layers 2 --width 5 --train-epochs 300
      nninit init-compare --acts relu --json | jq '.cells[] | {init, rank}'
    """
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.specs import init_compare_spec

    spec = init_compare_spec(shared.flags, shared.config)
    check_outputs(shared)
    raise typer.Exit(_run(spec, shared))


def _run(spec, shared: Shared) -> int:
    from nninit_cli.cli._output import emit
    from nninit_cli.experiments.init_compare import run_init_compare
    from nninit_cli.render import plot as plots
    from nninit_cli.render import table
    from nninit_cli.render.csv_out import compare_rows

    res = run_init_compare(spec)
    results = res.to_dict()
    return emit(
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
