"""`bertkit recipes`: the packaged training recipes (list, show, copy). Thin: logic lives in bertkit.recipes."""

from __future__ import annotations

from typing import Annotated

import typer

from bertkit.cli import options as o
from bertkit.cli.errors import BertkitCommand, BertkitGroup
from bertkit.formats import Format

app = typer.Typer(cls=BertkitGroup, help="Packaged training recipes: list, show, copy (then train with --config FILE).",
                  no_args_is_help=True)


@app.command("list", cls=BertkitCommand)
def list_cmd(fmt: o.FormatOpt = Format.table) -> None:
    """The recipes: name, task and what each trains."""
    from bertkit import recipes
    from bertkit.formats import write_records

    write_records([recipes.summary(n) for n in recipes.names()], fmt)


@app.command("show", cls=BertkitCommand)
def show_cmd(name: Annotated[str, typer.Argument(help="A recipe name from `bertkit recipes list`.")]) -> None:
    """Print a recipe (YAML) on stdout."""
    from bertkit import recipes

    typer.echo(recipes.text(name), nl=False)


@app.command("copy", cls=BertkitCommand)
def copy_cmd(
    name: Annotated[str, typer.Argument(help="A recipe name from `bertkit recipes list`.")],
    dest: Annotated[str, typer.Argument(help="A file to write, or a folder to put NAME.yaml in.")],
    overwrite: o.Overwrite = None,
) -> None:
    """Copy a recipe to edit it; train with `bertkit classify|qa train --config DEST`."""
    from bertkit import console, recipes

    target = recipes.copy(name, dest, bool(overwrite))
    console.log(f"wrote {target}")
