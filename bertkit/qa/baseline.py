"""The first-sentence baseline: answer every question with the first sentence of its context.

A floor for reports: a trained model should be far above it. Score it like any predictions file:
`bertkit qa eval --predictions first-sentence.json --data F`.
"""

from __future__ import annotations

import re
from typing import Iterable

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def first_sentence(context: str) -> str:
    text = context.strip()
    m = _SENTENCE_END.search(text)
    return text[: m.start()].strip() if m else text


def first_sentence_predictions(examples: Iterable) -> dict[str, str]:
    """{question id: first sentence of its context} for QAExample records."""
    return {e.id: first_sentence(e.context) for e in examples}
