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

NON_FINITE_HINT = "Try a lower --lr, --max-grad-norm 1.0, or --mixed-precision no"


def resume_command(argv: list[str], processes: int = 1) -> str:
    """The command that continues an interrupted training run: the one given, with `--resume auto` unless it
    already names a --resume (then it continues from the same place)."""
    import shlex

    prog = "bertkit" if os.path.basename(argv[0]) in ("bertkit", "__main__.py") else argv[0]
    if processes > 1:
        prog = f"accelerate launch … -m {prog}"
    cmd = " ".join([prog, *(shlex.quote(a) for a in argv[1:])])
    given = any(a == "--resume" or a.startswith("--resume=") for a in argv[1:])
    return cmd if given else f"{cmd} --resume auto"


def worded(e: BertkitError) -> str:
    """The error line, with the hints the CLI words for errors of the engine (which names no option)."""
    from bertkit.engine.result import NonFiniteLoss, TrainingInterrupted
    from bertkit.engine.settings import SettingHint
    from bertkit.settings import option_name

    if isinstance(e, SettingHint):
        return e.words(option_name)
    if isinstance(e, TrainingInterrupted):
        return f"{e}; continue with: {resume_command(sys.argv, e.processes)}"
    if isinstance(e, NonFiniteLoss):
        return f"{e}. {NON_FINITE_HINT}"
    return str(e)


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
            typer.echo(f"bertkit: error: {worded(e)}", err=True)
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
