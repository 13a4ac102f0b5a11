"""`nninit std-trace`: the std of the signal through a deep stack."""

from typing import Annotated, Optional

import typer

from nninit_cli.cli._options import OUTPUT, Shared, defaults, model_params, option, output_params, with_shared
from nninit_cli.results import STD_TRACE_VERDICTS
from nninit_cli.specs import std_trace_flags

D = defaults(std_trace_flags())


THRESHOLDS = {
    "explode-ratio": "Verdict exploding when final/input std is above this (> 1).",
    "vanish-ratio": "Verdict vanishing when final/input std is below this, in (0, 1).",
    "dead-frac": "Verdict dead when a layer has at least this fraction of exact zeros.",
}


@with_shared(model_params(D), output_params(D, STD_TRACE_VERDICTS, THRESHOLDS))
def command(
    shared: Shared,
    backward: Annotated[
        bool,
        option(
            "backward",
            D,
            "Also backpropagate a random N(0,1) gradient and report its std and each weight's gradient norm.",
        ),
    ] = False,
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
      nninit std-trace --std 0.0625                  # std(w) = 1/sqrt(256): stable
      nninit std-trace --act tanh --init xavier      # settles near 0.64
      nninit std-trace --act relu --init kaiming --plot relu.png
      nninit std-trace --json --fail-on nonfinite | jq .first_nonfinite_layer
    """
    from nninit_cli.cli._options import given
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.specs import std_trace_spec

    spec = std_trace_spec(dict(shared.flags, **given(backward=backward)), shared.config)
    check_outputs(shared)
    raise typer.Exit(_run(spec, shared, every, show_all))


def _run(spec, shared: Shared, every: Optional[int], show_all: bool) -> int:
    from nninit_cli.cli._output import emit
    from nninit_cli.experiments.std_trace import run_std_trace
    from nninit_cli.render import plot as plots
    from nninit_cli.render import table

    res = run_std_trace(spec)
    results = res.to_dict()
    return emit(
        "std-trace",
        res.config,
        results,
        shared,
        renderables=lambda: table.std_trace_tables(res, every, show_all),
        summary=table.std_trace_summary(res),
        csv_rows=lambda: results["layers"],
        plot=lambda p: plots.std_trace_plot(res, p),
        verdicts=res.verdicts,
        fail_on=spec.fail_on,
    )
