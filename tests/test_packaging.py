"""The wheel: every bertkit package, and the top-level recipes/ inside it (bertkit/recipe_files/), found by name
once installed with no source checkout beside it."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools")
    pytest.importorskip("wheel")
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")  # a copy: building never writes build/ or *.egg-info into the checkout
    files = subprocess.run(["git", "-C", str(REPO), "ls-files", "-co", "--exclude-standard"], capture_output=True,
                           text=True,
                           check=True).stdout.split()
    for f in files:
        src = REPO / f
        if src.is_file() and not f.startswith(("tests/", "docs/", "bench/")):
            (build / f).parent.mkdir(parents=True, exist_ok=True)
            (build / f).write_bytes(src.read_bytes())
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(build), "--no-deps", "--no-build-isolation", "-q",
                        "-w", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return next(out.glob("bertkit-*.whl"))


def test_the_wheel_holds_every_package_and_the_recipes(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    recipes = sorted(p.name for p in (REPO / "recipes").glob("*.yaml"))
    assert recipes and {f"bertkit/recipe_files/{r}" for r in recipes} <= names
    sources = {str(p.relative_to(REPO)) for p in (REPO / "bertkit").rglob("*.py") if "__pycache__" not in p.parts}
    assert sources <= names, sorted(sources - names)
    assert not any(n.startswith(("recipes/", "tests/")) for n in names)


def test_installed_recipes_are_found_by_name(wheel, tmp_path):
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target",
                        str(target), str(wheel)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    code = "from bertkit import recipes; print(recipes.names()); print(recipes.path('sst2-minilm'))"
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    names, path = out.stdout.splitlines()
    assert eval(names) == sorted(p.stem for p in (REPO / "recipes").glob("*.yaml"))
    assert Path(path).is_relative_to(target / "bertkit" / "recipe_files")
