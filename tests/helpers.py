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


MULTILABEL_ROWS = [("good fun film", "pos,fun"), ("bad boring plot", "neg"), ("great happy story", "pos,fun"),
                   ("awful sad movie", "neg"), ("nice film", "pos"), ("worst acting", "neg")] * 3


def train_multilabel(base, tmp_path, out, options: list[str]):
    """A tiny multi-label classifier in `out`, trained (and scored) on the toy rows above; the folder."""
    f = tmp_path / "ml.tsv"
    f.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in MULTILABEL_ROWS))
    r = invoke(["classify", "train", "--model", str(base), "--train", str(f), "--dev", str(f), "-o", str(out),
                "--problem-type", "multilabel", *options])
    assert r.exit_code == 0, r.output
    return out


def train_toy_qa(base, work, out, options: list[str]):
    """A tiny QA model in `out`, trained (and scored) on test_qa_cli's toy SQuAD file written in `work`; the folder."""
    from test_qa_cli import squad_json

    f = work / "squad.json"
    f.write_text(json.dumps(squad_json()))
    r = invoke(["qa", "train", "--model", str(base), "--train", str(f), "--dev", str(f), "-o", str(out),
                "--max-length", "32", "--doc-stride", "8", *options])
    assert r.exit_code == 0, r.output
    return out


def tiny_engine_settings(compile_: bool = False):
    """EngineSettings for one epoch of batch 2 in fp32, the unit tests' engine (`compile_`: --compile)."""
    from bertkit.engine.settings import EngineSettings

    return EngineSettings(epochs=1, batch_size=2, eval_batch_size=2, lr=1e-4, weight_decay=0.0, warmup_ratio=0.0,
                          grad_accum=1, max_grad_norm=1.0, seed=0, mixed_precision="no", eval_steps=None,
                          patience=None, compile=compile_, bucket_size=1, log_every=1, save_steps=None, keep=1)
