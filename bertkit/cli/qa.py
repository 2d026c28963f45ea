"""`bertkit qa`: extractive question answering (train, eval, ask)."""

import typer

from bertkit.cli.errors import BertkitGroup

app = typer.Typer(cls=BertkitGroup, help="Extractive question answering: train, eval, ask (SQuAD v1.1/v2.0).", no_args_is_help=True)
