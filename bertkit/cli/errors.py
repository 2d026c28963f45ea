"""One clear line on stderr for expected errors; tracebacks only with --debug.

The root group catches errors around every sub-command, so `CliRunner` tests see
exactly what a user sees: the message on stderr and the exit code.
"""

from __future__ import annotations

import os
import sys
import traceback

import typer
from typer._click.exceptions import ClickException
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperCommand, TyperGroup

from bertkit.errors import BertkitError


def _debug(ctx: typer.Context) -> bool:
    return bool(os.environ.get("BERTKIT_DEBUG")) or bool(ctx.params.get("debug"))


def _flags_without_type(cmd, ctx) -> None:
    """Show boolean flags as flags: typer prints a <bool> type beside --overwrite and even --help."""
    for p in cmd.get_params(ctx):
        if getattr(p, "is_flag", False) and p.metavar is None:
            p.metavar = ""


class BertkitCommand(TyperCommand):
    def format_help(self, ctx, formatter):
        _flags_without_type(self, ctx)
        return super().format_help(ctx, formatter)


class BertkitGroup(TyperGroup):
    def format_help(self, ctx, formatter):
        _flags_without_type(self, ctx)
        return super().format_help(ctx, formatter)

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except ClickUsageError as e:  # a bad or missing option of a sub-command: one line too, and where to look
            if not e.format_message().strip():  # `bertkit classify` alone: the help, printed already
                ctx.exit(e.exit_code)
            sub = e.ctx.command_path if e.ctx is not None else ctx.command_path
            typer.echo(f"bertkit: error: {e.format_message()} (see `{sub} --help`)", err=True)
            ctx.exit(e.exit_code)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except BrokenPipeError:  # `bertkit ... | head`: the reader left, that is fine
            try:
                sys.stdout = open(os.devnull, "w")
            except OSError:
                pass
            ctx.exit(0)
        except BertkitError as e:
            if _debug(ctx):
                traceback.print_exc()
            typer.echo(f"bertkit: error: {e}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            typer.echo("bertkit: interrupted", err=True)
            ctx.exit(130)
        except Exception as e:  # unexpected: still one line unless --debug
            if _debug(ctx):
                traceback.print_exc()
            else:
                typer.echo(f"bertkit: error: {type(e).__name__}: {e} (run with --debug for the traceback)", err=True)
            ctx.exit(1)
