"""`nninit list`: activations, initialisers and presets (no torch needed)."""

import typer

from nninit_cli.cli._options import Shared, options


@options(plot=False)
def command(shared: Shared) -> None:
    """List activations, initialisers and presets.

    Activations with torch's gain and the fixed-point gain; initialisers with
    the flags they read and the std they give a weight; the presets in configs/.

    \b
    Example:
      nninit list
      nninit list --json | jq '.activations[] | {name, auto_gain}'
      nninit list --csv catalog.csv
    """
    from nninit_cli.catalog import catalog
    from nninit_cli.cli._output import check_outputs, emit
    from nninit_cli.render.csv_out import catalog_rows
    from nninit_cli.render.table import catalog_tables

    check_outputs(shared)
    data = catalog()
    raise typer.Exit(
        emit("list", {}, data, shared, tables=lambda: catalog_tables(data), rows=lambda: catalog_rows(data))
    )
