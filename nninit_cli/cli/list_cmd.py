"""`nninit list`: activations, initialisers and presets (no torch needed)."""

from typing import Annotated

import typer

from nninit_cli.cli._options import HELP, OUTPUT


def command(
    as_json: Annotated[bool, typer.Option("--json", help=HELP["json"], rich_help_panel=OUTPUT)] = False,
) -> None:
    """List activations, initialisers and presets.

    Activations with torch's gain and the fixed-point gain; initialisers with
    the flags they read and the std they give a weight; the presets in configs/.

    \b
    Example:
      nninit list
      nninit list --json | jq '.activations[] | {name, auto_gain}'
    """
    import sys

    from nninit_cli.catalog import catalog
    from nninit_cli.render.json_out import dumps
    from nninit_cli.render.table import catalog_tables, console

    data = catalog()
    if as_json:
        sys.stdout.write(dumps("list", {}, data))
        return
    out = console()
    for t in catalog_tables(data):
        out.print(t)
