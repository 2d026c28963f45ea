"""Only what pyproject.toml cannot say: the top-level recipes/ folder (the design card's layout) goes into the wheel
inside the package, as bertkit/recipe_files/*.yaml (bertkit.recipes finds it there, or recipes/ in a checkout)."""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["bertkit*"]), "bertkit.recipe_files"],
      package_dir={"bertkit.recipe_files": "recipes"})
