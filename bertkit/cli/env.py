"""`bertkit env`: versions, device and threads for bug reports."""

from __future__ import annotations

from bertkit.cli.options import FormatOpt
from bertkit.formats import Format, write_document


def env_command(fmt: FormatOpt = Format.json) -> None:
    """Print versions (and whether each is in bertkit's tested range), device and threads."""
    from bertkit.envinfo import report

    write_document(report(), fmt, title="bertkit env")
