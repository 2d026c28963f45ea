"""`bertkit tokenize`: tokenizers side by side (compare, encode)."""

import typer

from bertkit.cli.errors import BertkitGroup

app = typer.Typer(cls=BertkitGroup, help="WordPiece, byte-level BPE and SentencePiece Unigram tokenizers side by side.", no_args_is_help=True)
