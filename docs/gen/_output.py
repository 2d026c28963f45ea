"""The write-or-check step the generators share: write a generated page, or with --check fail when it is stale."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path


def write_or_check(doc: str, output: Path, repo: Path, text: str, regenerate: str, argv: list[str] | None) -> int:
    """Parse `--check`; write `text` to `output`, or compare and print a short diff and the command that fixes it."""
    name = str(output.relative_to(repo))
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--check", action="store_true", help=f"compare with {name} instead of writing it")
    args = ap.parse_args(argv)
    if args.check:
        have = output.read_text() if output.is_file() else ""
        if have != text:
            diff = difflib.unified_diff(have.splitlines(), text.splitlines(), name, "generated now", lineterm="", n=1)
            print("\n".join(list(diff)[:60]), file=sys.stderr)
            print(f"{name} is not current; regenerate it with: {regenerate}", file=sys.stderr)
            return 1
        return 0
    output.write_text(text)
    print(f"wrote {name}")
    return 0
