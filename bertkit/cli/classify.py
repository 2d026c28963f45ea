"""`bertkit classify`: sequence classification (train, eval, predict)."""

import typer

from bertkit.cli.errors import BertkitGroup

app = typer.Typer(cls=BertkitGroup, help="Sequence classification: binary, multi-class, multi-label.", no_args_is_help=True)
