"""The task registry: one line per task package (each describes itself in its `spec.py`)."""

from bertkit.classify.spec import SPEC as CLASSIFY
from bertkit.ner.spec import SPEC as NER
from bertkit.qa.spec import SPEC as QA

TASKS = {spec.name: spec for spec in (CLASSIFY, QA, NER)}
