"""The recipes (YAML files of settings): list, show, copy. They live in the repository's top-level `recipes/`; the
wheel ships them inside the package as `bertkit/recipe_files/` (pyproject: package-dir), so they are found by name in
a source checkout, an editable install and an installed wheel alike."""

from __future__ import annotations

import shutil
from pathlib import Path

from bertkit.errors import BertkitError, UsageError

_HERE = Path(__file__).resolve().parent
FOLDERS = (_HERE / "recipe_files", _HERE.parent / "recipes")  # installed wheel, source checkout


def _folder() -> Path:
    found = next((d for d in FOLDERS if d.is_dir()), None)
    if found is None:
        raise BertkitError(f"the recipes are missing (looked in {', '.join(map(str, FOLDERS))}); reinstall bertkit")
    return found


def names() -> list[str]:
    return sorted(p.name[: -len(".yaml")] for p in _folder().iterdir() if p.name.endswith(".yaml"))


def text(name: str) -> str:
    name = name[: -len(".yaml")] if name.endswith(".yaml") else name
    if name not in names():
        raise UsageError(f"no recipe {name!r}; the recipes are: {', '.join(names())} (`bertkit recipes list`)")
    return (_folder() / f"{name}.yaml").read_text(encoding="utf-8")


def summary(name: str) -> dict[str, str]:
    """{name, task, about}: the task key and the header's first line."""
    import yaml

    body = text(name)
    first = next((ln.lstrip("# ").strip() for ln in body.splitlines() if ln.startswith("#")), "")
    return {"name": name, "task": str((yaml.safe_load(body) or {}).get("task", "")), "about": first}


def copy(name: str, dest: str, overwrite: bool = False) -> Path:
    """Write the recipe to DEST (a file, or a folder to put NAME.yaml in); never over a file unless asked."""
    body = text(name)
    d = Path(dest)
    target = d / f"{name.removesuffix('.yaml')}.yaml" if d.is_dir() else d
    if target.exists() and not overwrite:
        raise BertkitError(f"{target}: exists; pass --overwrite or choose another destination")
    if not target.parent.is_dir():
        raise BertkitError(f"{target.parent}: no such folder")
    tmp = target.with_name(f".{target.name}.partial")
    tmp.write_text(body, encoding="utf-8")
    shutil.move(str(tmp), str(target))
    return target


def path(name: str) -> Path:
    """The installed file (for `--config $(bertkit recipes path NAME)`-style use and tests)."""
    text(name)
    return Path(str(_folder() / f"{name.removesuffix('.yaml')}.yaml"))
