"""`nninit grad-norms`: per-parameter gradient norms, vanishing and dead units."""

from typing import Annotated

import typer

from nninit_cli.cli._options import Shared, options
from nninit_cli.specs import OUTPUT, grad_norms_flags


@options(grad_norms_flags())
def command(
    shared: Shared,
    show_all: Annotated[
        bool, typer.Option("--all", rich_help_panel=OUTPUT, help="Show every parameter of a deep model.")
    ] = False,
) -> None:
    """Gradient norms per parameter: vanishing, dead ReLUs.

    Trains an MLP on the two-moons data for --steps full-batch SGD steps and
    records the L2 norm of every parameter's gradient at every step, the dead
    units (output 0 for every training example) of each hidden layer, and the
    dev accuracy.  Defaults are the course's 5-layer model: 2-3-3-3-3-1,
    N(0, 0.01) weights, every bias 1.0, sigmoid hidden layers.

    \b
    Example:
      nninit grad-norms                           # sigmoid: fc1 ~1e-11, vanishing
      nninit grad-norms --act sigmoid,relu,lrelu  # side by side
      nninit grad-norms --act relu --bias -8      # dead ReLU: exact zeros
      nninit grad-norms --act relu --bias -8 --fail-on dead --json | jq .verdicts
      nninit grad-norms --layers 50 --width 256 --init kaiming --act relu --bias 0
    """
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.specs import grad_norms_spec

    spec = grad_norms_spec(shared.flags, shared.config)
    check_outputs(shared)
    raise typer.Exit(_run(spec, shared, show_all))


def _run(spec, shared: Shared, show_all: bool) -> int:
    from nninit_cli.cli._output import emit
    from nninit_cli.experiments.grad_norms import run_grad_norms
    from nninit_cli.render import plot as plots
    from nninit_cli.render import table
    from nninit_cli.render.csv_out import grad_norms_rows

    res = run_grad_norms(spec)
    results = res.to_dict()
    return emit(
        "grad-norms",
        res.config,
        results,
        shared,
        tables=lambda: table.grad_norms_tables(res, show_all),
        summary=table.grad_norms_summary(res),
        rows=lambda: grad_norms_rows(results),
        plot=lambda p: plots.grad_norms_plot(res, p),
        fail_on=spec.fail_on,
    )
