"""`nninit grad-norms`: per-parameter gradient norms, vanishing and dead units."""

from typing import Annotated, Optional

import typer

from nninit_cli.cli._options import OUTPUT, Shared, defaults, model_params, option, output_params, with_shared
from nninit_cli.specs import GRAD_NORMS_VERDICTS, grad_norms_flags

D = defaults(grad_norms_flags())
ACT_HELP = {
    "act": "Hidden activation, or a comma list (sigmoid,relu,lrelu): one run per activation, "
    "same seed and data, shown side by side.",
    "batch-size": "Examples per step (default: the whole training set, as the course does).",
    "layers": "Number of Linear layers, the sigmoid output layer included.",
}


THRESHOLDS = {
    "dead-frac": "Verdict dead when a hidden layer has at least this fraction of dead units, in (0, 1].",
    "vanish-ratio": "Verdict vanishing when |grad fc1.weight| / |grad fcN.weight| at step 1 is below this.",
    "explode-ratio": "Verdict exploding when that ratio is above this, or a step's loss or norm is inf/nan.",
}


@with_shared(model_params(D, ACT_HELP), output_params(D, GRAD_NORMS_VERDICTS, THRESHOLDS))
def command(
    shared: Shared,
    lr: Annotated[Optional[float], option("lr", D, "SGD learning rate (> 0).")] = None,
    steps: Annotated[
        Optional[int],
        option(
            "steps",
            D,
            "Gradients recorded; the optimiser updates between them (steps - 1 updates). "
            "The table shows step 1 and step N; JSON has every step.",
        ),
    ] = None,
    dataset: Annotated[
        Optional[str],
        option("dataset", D, "moons or circles: 1000 points split 640 train / 160 dev / 200 test."),
    ] = None,
    noise: Annotated[Optional[float], option("noise", D, "Std of the data's Gaussian jitter.")] = None,
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
    from nninit_cli.cli._options import given
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.specs import grad_norms_spec

    flags = dict(shared.flags, **given(lr=lr, steps=steps, dataset=dataset, noise=noise))
    spec = grad_norms_spec(flags, shared.config)
    check_outputs(shared)
    raise typer.Exit(_run(spec, shared, show_all))


def _run(spec, shared: Shared, show_all: bool) -> int:
    from nninit_cli.cli._output import emit
    from nninit_cli.experiments.grad_norms import run_grad_norms
    from nninit_cli.render import plot as plots
    from nninit_cli.render import table

    res = run_grad_norms(spec)
    results = res.to_dict()
    return emit(
        "grad-norms",
        res.config,
        results,
        shared,
        renderables=lambda: table.grad_norms_tables(res, show_all),
        summary=table.grad_norms_summary(res),
        csv_rows=lambda: _csv_rows(results),
        plot=lambda p: plots.grad_norms_plot(res, p),
        verdicts=res.verdicts,
        fail_on=spec.fail_on,
    )


def _csv_rows(results: dict) -> list[dict]:
    """One row per (activation, parameter); the per-step list is left to JSON."""
    rows = []
    for run in results["runs"]:
        for p in run["params"]:
            row = {"act": run["act"], **{k: v for k, v in p.items() if k != "grad_norm_per_step"}}
            row["shape"] = "x".join(map(str, p["shape"]))
            rows.append(row)
    return rows
