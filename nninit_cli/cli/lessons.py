"""`nninit gain`, `nninit activations`, `nninit init-hist`: the small lessons."""

import typer

from nninit_cli.cli._options import Shared, options
from nninit_cli.specs import activations_flags, gain_flags, init_hist_flags


@options(gain_flags(), plot=False)
def gain_command(shared: Shared) -> None:
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
    from nninit_cli.cli._output import check_outputs, emit
    from nninit_cli.render.csv_out import gain_rows
    from nninit_cli.render.table import gain_tables
    from nninit_cli.specs import gain_spec

    spec = gain_spec(shared.flags, shared.config)
    check_outputs(shared)
    from nninit_cli.experiments.lessons import run_gain

    data = run_gain(spec)
    raise typer.Exit(
        emit(
            "gain",
            spec.to_dict(),
            data,
            shared,
            tables=lambda: gain_tables(data),
            rows=lambda: gain_rows(data),
        )
    )


@options(activations_flags())
def activations_command(shared: Shared) -> None:
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
    from nninit_cli.cli._output import check_outputs, emit
    from nninit_cli.render.csv_out import activations_rows
    from nninit_cli.render.plot import activations_plot
    from nninit_cli.render.table import activations_tables
    from nninit_cli.specs import activations_spec

    spec = activations_spec(shared.flags, shared.config)
    check_outputs(shared)
    from nninit_cli.experiments.lessons import run_activations

    data = run_activations(spec)
    grid = ("x", "y", "dy")  # the whole grid goes to the figure, not to JSON or CSV
    results = {"acts": [{k: v for k, v in r.items() if k not in grid} for r in data["acts"]]}
    code = emit(
        "activations",
        spec.to_dict(),
        results,
        shared,
        tables=lambda: activations_tables(results),
        rows=lambda: activations_rows(results),
        plot=lambda p: activations_plot(data, p),
    )
    raise typer.Exit(code)


@options(init_hist_flags())
def init_hist_command(shared: Shared) -> None:
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
    from nninit_cli.cli._output import check_outputs, emit
    from nninit_cli.render.csv_out import init_hist_rows
    from nninit_cli.render.plot import init_hist_plot
    from nninit_cli.render.table import init_hist_tables
    from nninit_cli.specs import init_hist_spec

    spec = init_hist_spec(shared.flags, shared.config)
    check_outputs(shared)
    from nninit_cli.experiments.lessons import run_init_hist

    data = run_init_hist(spec)
    code = emit(
        "init-hist",
        spec.to_dict(),
        data,
        shared,
        tables=lambda: init_hist_tables(data),
        rows=lambda: init_hist_rows(data),
        plot=lambda p: init_hist_plot(data, p),
    )
    raise typer.Exit(code)
