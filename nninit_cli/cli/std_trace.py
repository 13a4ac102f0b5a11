"""`nninit std-trace`: the std of the signal through a deep stack."""

from typing import Annotated, Optional

import typer

from nninit_cli.cli._options import Shared, options
from nninit_cli.specs import OUTPUT, std_trace_flags


@options(std_trace_flags())
def command(
    shared: Shared,
    every: Annotated[
        Optional[int],
        typer.Option(
            "--every",
            min=1,
            rich_help_panel=OUTPUT,
            help="Beyond 30 layers, show every K-th layer (default: about 10 rows).",
        ),
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", rich_help_panel=OUTPUT, help="Show every layer.")
    ] = False,
) -> None:
    """Trace a signal's std through a deep stack of layers.

    Layer by layer: mean and std of the output, std of the pre-activation,
    exact zeros, saturation, and the std that infinite-width theory predicts,
    with the band where 90% of runs at this width fall.  Stops at the first
    layer holding inf or nan.  Defaults are the classic experiment: 100 layers
    of 256 units, N(0, 1) weights, no activation, which overflows float32.

    \b
    Example:
      nninit std-trace                               # explodes, nan near layer 32
      nninit std-trace --std 0.0625                  # std(w) 1/sqrt(256): stable
      nninit std-trace --act tanh --init xavier      # settles near 0.64
      nninit std-trace --act tanh --init xavier --input-corr 0.5
      nninit std-trace --act relu --init kaiming --bias 0 --bias-std 0.1
      nninit std-trace --act relu --init kaiming --plot relu.png
      nninit std-trace --json --fail-on nonfinite | jq .first_nonfinite_layer
    """
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.specs import std_trace_spec

    spec = std_trace_spec(shared.flags, shared.config)
    check_outputs(shared)
    raise typer.Exit(_run(spec, shared, every, show_all))


def _run(spec, shared: Shared, every: Optional[int], show_all: bool) -> int:
    from nninit_cli.cli._output import emit
    from nninit_cli.experiments.std_trace import run_std_trace
    from nninit_cli.render import plot as plots
    from nninit_cli.render import table
    from nninit_cli.render.csv_out import std_trace_rows

    res = run_std_trace(spec)
    results = res.to_dict()
    return emit(
        "std-trace",
        res.config,
        results,
        shared,
        tables=lambda: table.std_trace_tables(res, every, show_all),
        summary=table.std_trace_summary(res),
        rows=lambda: std_trace_rows(results),
        plot=lambda p: plots.std_trace_plot(res, p),
        fail_on=spec.fail_on,
    )
