"""`nninit init-compare`: rank initialisers for an activation and a depth."""

from typing import Annotated, Optional

import typer

from nninit_cli.cli._options import Shared, defaults, model_params, option, output_params, with_shared
from nninit_cli.results import STD_TRACE_VERDICTS
from nninit_cli.specs import init_compare_flags

D = defaults(init_compare_flags())
THRESHOLDS = {
    "explode-ratio": "A cell is exploding when final/input std is above this (> 1).",
    "vanish-ratio": "A cell is vanishing when final/input std is below this, in (0, 1).",
    "dead-frac": "A cell is dead when a layer has at least this fraction of exact zeros.",
}
MODEL_HELP = {
    "act": "The activation when --acts is not given.",
    "seed": "First seed; the cells use --seeds consecutive seeds from it.",
}


@with_shared(model_params(D, MODEL_HELP, skip=("init",)), output_params(D, STD_TRACE_VERDICTS, THRESHOLDS))
def command(
    shared: Shared,
    inits: Annotated[Optional[str], option("inits", D, "Initialisers to compare (comma list).")] = None,
    acts: Annotated[Optional[str], option("acts", D, "Activations (comma list; default: --act).")] = None,
    seeds: Annotated[Optional[int], option("seeds", D, "Seeds per cell (mean and spread over them).")] = None,
    train_epochs: Annotated[
        Optional[int], option("train-epochs", D, "Also train each cell's MLP this many full-batch epochs.")
    ] = None,
    lr: Annotated[Optional[float], option("lr", D, "SGD learning rate of the training probe.")] = None,
    dataset: Annotated[
        Optional[str], option("dataset", D, "Data of the training probe: moons or circles.")
    ] = None,
    no_batch: Annotated[
        bool, option("no-batch", D, "Run every model on its own instead of stacked (same numbers, slower).")
    ] = False,
) -> None:
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
    from nninit_cli.cli._options import given
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.specs import init_compare_spec

    flags = dict(
        shared.flags,
        **given(inits=inits, acts=acts, seeds=seeds, train_epochs=train_epochs, lr=lr, dataset=dataset,
                no_batch=no_batch),
    )  # fmt: skip
    spec = init_compare_spec(flags, shared.config)
    check_outputs(shared)
    raise typer.Exit(_run(spec, shared))


def _run(spec, shared: Shared) -> int:
    from nninit_cli.cli._output import emit
    from nninit_cli.experiments.init_compare import run_init_compare
    from nninit_cli.render import plot as plots
    from nninit_cli.render import table

    res = run_init_compare(spec)
    results = res.to_dict()
    return emit(
        "init-compare",
        res.config,
        results,
        shared,
        renderables=lambda: table.compare_tables(res),
        summary=table.compare_summary(res),
        csv_rows=lambda: [_flat(c) for c in results["cells"]],
        plot=lambda p: plots.compare_plot(res, p),
        verdicts=res.verdicts,
        fail_on=spec.fail_on,
    )


def _flat(cell: dict) -> dict:
    """A cell as one CSV row: {mean, std} pairs become two columns."""
    row = {}
    for k, v in cell.items():
        if k in ("std_per_layer", "verdicts", "seeds"):
            continue
        if isinstance(v, dict):
            row[f"{k}_mean"], row[f"{k}_std"] = v["mean"], v["std"]
        elif v is None and k in ("saturated_frac", "train_loss", "dev_accuracy"):
            row[f"{k}_mean"] = row[f"{k}_std"] = None
        else:
            row[k] = v
    return row
