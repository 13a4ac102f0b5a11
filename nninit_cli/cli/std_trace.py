"""`nninit std-trace`: the std of the signal through a deep stack."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from nninit_cli.cli._options import (
    OUTPUT,
    config_option,
    csv_option,
    defaults,
    given,
    json_option,
    option,
    plot_option,
)
from nninit_cli.specs import std_trace_flags

D = defaults(std_trace_flags())


def command(
    act: Annotated[Optional[str], option("act", D)] = None,
    init: Annotated[Optional[str], option("init", D)] = None,
    gain: Annotated[Optional[str], option("gain", D)] = None,
    std: Annotated[Optional[float], option("std", D)] = None,
    mean: Annotated[Optional[float], option("mean", D)] = None,
    low: Annotated[Optional[float], option("low", D)] = None,
    high: Annotated[Optional[float], option("high", D)] = None,
    value: Annotated[Optional[float], option("value", D)] = None,
    fan_mode: Annotated[Optional[str], option("fan-mode", D)] = None,
    sparsity: Annotated[Optional[float], option("sparsity", D)] = None,
    negative_slope: Annotated[Optional[float], option("negative-slope", D)] = None,
    bias: Annotated[Optional[str], option("bias", D)] = None,
    no_bias: Annotated[bool, option("no-bias", D)] = False,
    layers: Annotated[Optional[int], option("layers", D)] = None,
    width: Annotated[Optional[int], option("width", D)] = None,
    batch_size: Annotated[Optional[int], option("batch-size", D)] = None,
    seed: Annotated[Optional[int], option("seed", D)] = None,
    device: Annotated[Optional[str], option("device", D)] = None,
    dtype: Annotated[Optional[str], option("dtype", D)] = None,
    backward: Annotated[
        bool,
        option(
            "backward",
            D,
            "Also backpropagate a random N(0,1) gradient and report its std and each weight's gradient norm.",
        ),
    ] = False,
    explode_ratio: Annotated[
        Optional[float],
        option("explode-ratio", D, "Verdict exploding when final/input std is above this (> 1)."),
    ] = None,
    vanish_ratio: Annotated[
        Optional[float],
        option("vanish-ratio", D, "Verdict vanishing when final/input std is below this, in (0, 1)."),
    ] = None,
    dead_frac: Annotated[
        Optional[float],
        option("dead-frac", D, "Verdict dead when a layer has at least this fraction of exact zeros."),
    ] = None,
    fail_on: Annotated[
        Optional[str],
        option(
            "fail-on",
            D,
            "Exit 1 if any of these verdicts holds "
            "(stable, exploding, vanishing, nonfinite, dead, "
            "saturated).",
            panel=OUTPUT,
        ),
    ] = None,
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
    config: Annotated[Optional[Path], config_option()] = None,
    as_json: Annotated[bool, json_option()] = False,
    csv: Annotated[Optional[Path], csv_option()] = None,
    plot: Annotated[Optional[Path], plot_option()] = None,
) -> None:
    """Trace the std of a signal through a deep stack of Linear layers.

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
    from nninit_cli.render.plot import check_out_path, check_plot_path
    from nninit_cli.specs import std_trace_spec

    spec = std_trace_spec(
        given(
            act=act,
            init=init,
            gain=gain,
            std=std,
            mean=mean,
            low=low,
            high=high,
            value=value,
            fan_mode=fan_mode,
            sparsity=sparsity,
            negative_slope=negative_slope,
            bias=bias,
            no_bias=no_bias,
            layers=layers,
            width=width,
            batch_size=batch_size,
            seed=seed,
            device=device,
            dtype=dtype,
            backward=backward,
            explode_ratio=explode_ratio,
            vanish_ratio=vanish_ratio,
            dead_frac=dead_frac,
            fail_on=fail_on,
        ),
        config,
    )
    check_out_path(csv, "--csv")
    check_plot_path(plot)
    raise typer.Exit(_run(spec, as_json, csv, plot, every, show_all))


def _run(spec, as_json: bool, csv: Optional[Path], plot: Optional[Path], every, show_all) -> int:
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
        as_json=as_json,
        renderables=lambda: table.std_trace_tables(res, every, show_all),
        summary=table.std_trace_summary(res),
        csv_path=csv,
        csv_rows=lambda: results["layers"],
        plot_path=plot,
        plot=lambda p: plots.std_trace_plot(res, p),
        verdicts=res.verdicts,
        fail_on=spec.fail_on,
    )
