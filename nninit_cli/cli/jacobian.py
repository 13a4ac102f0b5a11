"""`nninit jacobian`: the singular values of a deep stack's input-output Jacobian."""

import typer

from nninit_cli.cli._options import Shared, options
from nninit_cli.specs import jacobian_flags


@options(jacobian_flags())
def command(shared: Shared) -> None:
    """Singular values of the input-output Jacobian, beside theory.

    J = d output / d input of std-trace's stack (the same weights for the same
    flags and seed), exactly, at --samples N(0, --input-std^2) inputs.  Per
    input and pooled: the mean of s^2 (theory: the product over layers of
    chi_1 = v E[phi'(h)^2]), the spread var(s^2) / mean(s^2)^2, min, max and
    the condition number.  Beside it, the free-probability spread (Pennington,
    Schoenholz & Ganguli 2017): the sum over layers of v_W + E[phi'^4] /
    E[phi'^2]^2 - 1, v_W = 1 for i.i.d. weights (normal, uniform, xavier,
    kaiming, ...) and 0 for orthogonal, for every activation of an MLP; none
    for a resmlp, LSUV, sparse or non-random weights.  Verdict isometric when
    the spread is below --spread-tol, else anisotropic; exploding or vanishing
    by the rms singular value.

    \b
    Example:
      nninit jacobian                           # linear, Gaussian: spread ~ depth
      nninit jacobian --init orthogonal         # every s = 1: isometric
      nninit jacobian --act tanh --init orthogonal --gain 1 --input-std 0.01
      nninit jacobian --act relu --init kaiming --plot relu.png
      nninit jacobian --json --fail-on anisotropic | jq .pooled.spread
    """
    from nninit_cli.cli._output import check_outputs
    from nninit_cli.specs import jacobian_spec

    spec = jacobian_spec(shared.flags, shared.config)
    check_outputs(shared)
    raise typer.Exit(_run(spec, shared))


def _run(spec, shared: Shared) -> int:
    from nninit_cli.cli._output import emit
    from nninit_cli.experiments.jacobian import run_jacobian
    from nninit_cli.render import plot as plots
    from nninit_cli.render import table
    from nninit_cli.render.csv_out import jacobian_rows

    res = run_jacobian(spec)
    results = res.to_dict()
    return emit(
        "jacobian",
        res.config,
        results,
        shared,
        tables=lambda: table.jacobian_tables(res),
        summary=table.jacobian_summary(res),
        rows=lambda: jacobian_rows(results),
        plot=lambda p: plots.jacobian_plot(res, p),
        fail_on=spec.fail_on,
    )
