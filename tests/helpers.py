"""Small helpers shared by the CLI tests."""

from __future__ import annotations

import json
import random

from typer.testing import CliRunner

from bertkit.cli.main import app

POS = ["good", "great", "fun", "best", "loved", "happy", "nice"]
NEG = ["bad", "awful", "boring", "worst", "hated", "sad", "terrible"]
FILL = ["the", "movie", "film", "story", "was", "very", "acting", "plot", "and", "it"]


def sentiment_rows(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """Separable toy sentiment: a positive or negative keyword among filler words."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        y = i % 2
        words = rng.sample(FILL, 4) + [rng.choice(POS if y else NEG)]
        rng.shuffle(words)
        rows.append((" ".join(words), y))
    return rows


def write_sentiment_csv(path, n: int, seed: int = 0):
    """A `text,label` CSV of `sentiment_rows(n, seed)`; returns the path."""
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in sentiment_rows(n, seed)))
    return path


def invoke(args: list[str], input: str | None = None):
    runner = CliRunner()
    return runner.invoke(app, args, input=input, catch_exceptions=False)


def jsonl(text: str) -> list[dict]:
    return [json.loads(ln) for ln in text.splitlines() if ln.strip()]
