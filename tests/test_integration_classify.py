"""Slow: fine-tune the real packaged MiniLM on a slice of SST-2; pipeline must agree on all of SST-2 dev."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import invoke, jsonl

pytestmark = pytest.mark.slow


def test_minilm_sst2_slice_learns_and_pipeline_agrees(shared_data, minilm, tmp_path):
    from transformers import pipeline

    sst = shared_data / "glue" / "SST-2"
    out = tmp_path / "sst2"
    r = invoke(["classify", "train", "--train", str(sst / "train.tsv"), "--dev", str(sst / "dev.tsv"), "--limit", "640",
                "--dev-limit", "300", "--epochs", "1", "--batch-size", "32", "--lr", "2e-4", "--label-names",
                "negative,positive",
                "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["accuracy"] > 0.7, summary  # chance is 0.5; the untrained head scores about that

    texts = pd.read_csv(sst / "dev.tsv", sep="\t")["sentence"].tolist()
    r = invoke(["classify", "predict", "--model", str(out), "--batch-size", "128"], input="\n".join(texts) + "\n")
    ours = jsonl(r.stdout)
    theirs = pipeline("text-classification", model=str(out), device="cpu")(texts, batch_size=64)
    assert len(ours) == len(texts) == 872
    assert [o["label"] for o in ours] == [t["label"] for t in theirs]

    r = invoke(["classify", "eval", "--model", str(out), "--data", str(sst / "dev.tsv")])
    m = json.loads(r.stdout)
    assert m["n"] == 872 and m["accuracy"] > 0.7
