"""`nninit gain`, `nninit activations`, `nninit init-hist`: the small lessons."""

from pathlib import Path
from typing import Annotated, Optional

import typer

from nninit_cli.cli._options import HELP, MODEL, OUTPUT, option

JsonFlag = Annotated[bool, typer.Option("--json", help=HELP["json"], rich_help_panel=OUTPUT)]
PlotFlag = Annotated[
    Optional[Path],
    typer.Option("--plot", help=HELP["plot"], rich_help_panel=OUTPUT, metavar="FILE", dir_okay=False),
]
ConfigFlag = Annotated[
    Optional[Path], typer.Option("--config", help=HELP["config"], rich_help_panel=OUTPUT, metavar="FILE.toml")
]
SlopeFlag = Annotated[Optional[float], option("negative-slope", {"negative-slope": 0.01})]


def _emit(
    command: str, spec, data: dict, as_json: bool, renderables, plot_path: Optional[Path] = None, plot=None
) -> None:
    import sys

    from nninit_cli.render.json_out import dumps
    from nninit_cli.render.table import console

    if plot_path is not None and plot is not None:
        plot(data, plot_path)
        print(f"wrote figure to {plot_path}", file=sys.stderr)
    if as_json:
        slim = {
            k: [{kk: vv for kk, vv in r.items() if kk not in ("x", "y", "dy")} for r in v]
            for k, v in data.items()
        }
        sys.stdout.write(dumps(command, spec.to_dict(), slim))
        return
    out = console()
    for item in renderables(data):
        out.print(item)


def gain_command(
    act: Annotated[Optional[str], option("act", {}, "Activations (comma list; default all).")] = None,
    negative_slope: SlopeFlag = None,
    samples: Annotated[
        Optional[int], option("samples", {"samples": 10000}, "N(0,1) draws per estimate.")
    ] = None,
    repeats: Annotated[
        Optional[int], option("repeats", {"repeats": 10}, "Independent estimates (mean and standard error).")
    ] = None,
    seed: Annotated[Optional[int], option("seed", {"seed": 0})] = None,
    config: ConfigFlag = None,
    as_json: JsonFlag = False,
) -> None:
    """Three gains per activation, and why they differ.

    torch gain: torch.nn.init.calculate_gain, a number per activation chosen by
    hand (5/3 for tanh, sqrt(2) for ReLU, 3/4 for SELU); n/a where torch has
    none.  std ratio: the course's estimate std(x) / std(f(x)) on N(0,1)
    samples (1.598 for tanh in the seed), with its standard error over
    --repeats batches; it measures the spread after f and ignores f's mean, so
    for ReLU it is 1.70, not sqrt(2).  fixed point: 1 / sqrt(E[f(z)^2]),
    z ~ N(0,1), by quadrature: the gain under which a unit second moment is kept
    through a layer, the quantity Kaiming's derivation uses (sqrt(2) for ReLU, 1
    for SELU where torch says 3/4, 1.593 for tanh).  `--gain auto` uses the
    torch gain where there is one, else the fixed point.

    \b
    Example:
      nninit gain --act tanh
      nninit gain --act relu,selu,gelu --json | jq '.acts[] | {act, fixed_point_gain}'
    """
    from nninit_cli.cli._options import given
    from nninit_cli.experiments.lessons import run_gain
    from nninit_cli.render.table import gain_tables
    from nninit_cli.specs import gain_spec

    spec = gain_spec(
        given(act=act, negative_slope=negative_slope, samples=samples, repeats=repeats, seed=seed), config
    )
    _emit("gain", spec, run_gain(spec), as_json, gain_tables)


def activations_command(
    act: Annotated[
        Optional[str], option("act", {"act": "relu,sigmoid,tanh"}, "Activations (comma list).")
    ] = None,
    negative_slope: SlopeFlag = None,
    min_x: Annotated[
        Optional[float], typer.Option("--min", help="Grid start. [default: -8]", rich_help_panel=MODEL)
    ] = None,
    max_x: Annotated[
        Optional[float],
        typer.Option("--max", help="Grid end (excluded). [default: 8]", rich_help_panel=MODEL),
    ] = None,
    step: Annotated[
        Optional[float], typer.Option("--step", help="Grid step. [default: 0.1]", rich_help_panel=MODEL)
    ] = None,
    config: ConfigFlag = None,
    as_json: JsonFlag = False,
    plot: PlotFlag = None,
) -> None:
    """Activations, their derivatives, saturation.

    Values and autograd derivatives at a few points, the largest derivative and
    where it occurs (sigmoid 0.25 and tanh 1.0 at 0, ReLU 1), and where the
    activation saturates (|f'| < 0.01: no gradient flows back).  --plot draws
    f and f' on the grid, one panel each, as the course's xyplot does.

    \b
    Example:
      nninit activations
      nninit activations --act sigmoid,tanh --plot acts.png
      nninit activations --act gelu --min -4 --max 4 --step 0.01 --json
    """
    from nninit_cli.cli._options import given
    from nninit_cli.experiments.lessons import run_activations
    from nninit_cli.render.plot import activations_plot, check_plot_path
    from nninit_cli.render.table import activations_tables
    from nninit_cli.specs import activations_spec

    raw = given(act=act, negative_slope=negative_slope, min=min_x, max=max_x, step=step)
    spec = activations_spec(raw, config)
    check_plot_path(plot)
    _emit("activations", spec, run_activations(spec), as_json, activations_tables, plot, activations_plot)


def init_hist_command(
    init: Annotated[
        Optional[str], option("init", {"init": "normal,uniform"}, "Initialisers (comma list).")
    ] = None,
    act: Annotated[
        Optional[str], option("act", {"act": "linear"}, "Activation whose gain --gain auto uses.")
    ] = None,
    gain: Annotated[Optional[str], option("gain", {"gain": "auto"})] = None,
    mean: Annotated[Optional[float], option("mean", {"mean": 0.0})] = None,
    std: Annotated[Optional[float], option("std", {"std": 1.0})] = None,
    low: Annotated[Optional[float], option("low", {"low": -1.0})] = None,
    high: Annotated[Optional[float], option("high", {"high": 1.0})] = None,
    value: Annotated[Optional[float], option("value", {"value": 0.0})] = None,
    fan_mode: Annotated[Optional[str], option("fan-mode", {"fan-mode": "fan_in"})] = None,
    sparsity: Annotated[Optional[float], option("sparsity", {"sparsity": 0.1})] = None,
    samples: Annotated[
        Optional[int], option("samples", {"samples": 10000}, "Weights drawn per init.")
    ] = None,
    bins: Annotated[Optional[int], option("bins", {"bins": 200}, "Histogram bins.")] = None,
    fan_in: Annotated[
        Optional[int], option("fan-in", {"fan-in": 100}, "Fan-in of the drawn matrices.")
    ] = None,
    fan_out: Annotated[
        Optional[int], option("fan-out", {"fan-out": 100}, "Fan-out of the drawn matrices.")
    ] = None,
    seed: Annotated[Optional[int], option("seed", {"seed": 0})] = None,
    config: ConfigFlag = None,
    as_json: JsonFlag = False,
    plot: PlotFlag = None,
) -> None:
    """Histograms of what initialisers draw.

    Draws --samples weights as fan_out x fan_in matrices from the seed's weight
    stream and compares their sample mean and std with the initialiser's
    theoretical ones for that shape (U(-1, 1): std 1/sqrt(3) = 0.577).  --plot
    draws the histograms side by side, as the course's zero-init lesson does.

    \b
    Example:
      nninit init-hist --init normal,uniform --samples 10000 --bins 200 --plot hist.png
      nninit init-hist --init xavier,kaiming,orthogonal --act relu --fan-in 256 --fan-out 256
    """
    from nninit_cli.cli._options import given
    from nninit_cli.experiments.lessons import run_init_hist
    from nninit_cli.render.plot import check_plot_path, init_hist_plot
    from nninit_cli.render.table import init_hist_tables
    from nninit_cli.specs import init_hist_spec

    raw = given(
        init=init,
        act=act,
        gain=gain,
        mean=mean,
        std=std,
        low=low,
        high=high,
        value=value,
        fan_mode=fan_mode,
        sparsity=sparsity,
        samples=samples,
        bins=bins,
        fan_in=fan_in,
        fan_out=fan_out,
        seed=seed,
    )
    spec = init_hist_spec(raw, config)
    check_plot_path(plot)
    _emit("init-hist", spec, run_init_hist(spec), as_json, init_hist_tables, plot, init_hist_plot)
