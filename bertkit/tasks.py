"""The task registry: one line per task package (each describes itself in its `spec.py`)."""

from bertkit.classify.spec import SPEC as CLASSIFY
from bertkit.qa.spec import SPEC as QA

TASKS = {spec.name: spec for spec in (CLASSIFY, QA)}
