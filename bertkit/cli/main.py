"""The root `bertkit` command: composes one Typer app per command group."""

from __future__ import annotations

import typer

from bertkit import __version__
from bertkit.cli import attention, env, export, recipes, report, tokenize
from bertkit.cli.errors import BertkitCommand, BertkitGroup
from bertkit.serve.cli import serve_command
from bertkit.taskspec import load, registry

app = typer.Typer(
    name="bertkit",
    cls=BertkitGroup,
    help="Fine-tune and use BERT-family encoders: classification, extractive QA, tokenizers side by side.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,  # bertkit --install-completion / --show-completion
)
for _spec in registry().values():  # one command group per task: `bertkit classify ...`, `bertkit qa ...`
    app.add_typer(load(_spec.cli_ref), name=_spec.name)
app.add_typer(tokenize.app, name="tokenize")
app.add_typer(attention.app, name="attention")
app.add_typer(recipes.app, name="recipes")
app.command("report", cls=BertkitCommand)(report.report_command)
app.command("export", cls=BertkitCommand)(export.export_command)
app.command("env", cls=BertkitCommand)(env.env_command)
app.command("serve", cls=BertkitCommand)(serve_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"bertkit {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors on stderr."),
) -> None:
    from bertkit import console

    console.set_quiet(quiet)
    if debug:
        import os

        os.environ["BERTKIT_DEBUG"] = "1"


def main() -> None:
    app(prog_name="bertkit")
