"""The files a training run writes, the keys of its bertkit.json and of its printed summary, held equal to the
snapshot taken before tasks became plug-ins (classify and QA, one tiny epoch each)."""

from __future__ import annotations

import json

import pytest
from helpers import invoke, write_sentiment_csv
from test_qa_cli import squad_json

MODEL_FILES = {"bertkit.json", "config.json", "metrics.json", "model.safetensors", "tokenizer.json",
               "tokenizer_config.json", "training_curves.png"}
SUMMARY = {"epochs", "final_loss", "output_dir", "processes", "steps", "stopped_early", "train_samples_per_second",
           "train_seconds", "train_tokens_per_second", "wall_seconds"}
EXPECTED = {
    "classify": {
        "files": MODEL_FILES | {"confusion_matrix.png"},
        "meta": {"aggregate", "label_col", "label_sep", "label_values", "labels", "long_text", "max_length", "metric",
                 "problem_type", "stride", "task", "text_col", "text_pair_col", "threshold", "thresholds",
                 "thresholds_folded_into_bias", "training_args", "tuned_thresholds", "versions"},
        "summary": SUMMARY | {"accuracy", "labels", "problem_type", "threshold_tuning", "train_rows", "truncated_rows"},
    },
    "qa": {
        "files": MODEL_FILES,
        "meta": {"doc_stride", "max_answer_length", "max_length", "metric", "n_best", "null_threshold",
                 "null_threshold_tuned", "task", "training_args", "allow_no_answer", "versions"},
        "summary": SUMMARY | {"exact", "f1", "null_threshold", "skipped_rows", "train_questions", "train_windows",
                              "allow_no_answer"},
    },
    "ner": {
        "files": MODEL_FILES | {"confusion_matrix.png"},
        "meta": {"decode", "label_all_subtokens", "labels", "max_length", "metric", "scheme", "stride", "strict",
                 "tag_col", "task", "training_args", "versions"},
        "summary": SUMMARY | {"f1", "labels", "scheme", "train_sentences", "windows"},
    },
}


def _args(task, tiny_bert, d):
    if task == "classify":
        train, dev = write_sentiment_csv(d / "tr.csv", 40), write_sentiment_csv(d / "dv.csv", 20, 1)
        return ["classify", "train", "--train", str(train), "--dev", str(dev), "--batch-size", "8"]
    if task == "ner":
        conll = d / "t.conll"
        conll.write_text("Bob\tB-person\nlives\tO\nin\tO\nParis\tB-location\n\nhi\tO\nAnn\tB-person\tx\n"[:-3] + "\n")
        return ["ner", "train", "--train", str(conll), "--dev", str(conll), "--max-length", "16", "--stride", "4"]
    squad = d / "squad.json"
    squad.write_text(json.dumps(squad_json()))
    return ["qa", "train", "--train", str(squad), "--dev", str(squad), "--max-length", "32", "--doc-stride", "8",
            "--batch-size", "4"]


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_training_run_writes_the_snapshot_files(task, tiny_bert, tmp_path):
    out = tmp_path / "model"
    r = invoke([*_args(task, tiny_bert, tmp_path), "--model", str(tiny_bert), "-o", str(out), "--epochs", "1",
                "--mixed-precision", "no"])
    assert r.exit_code == 0, r.output
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert files == EXPECTED[task]["files"]
    assert set(json.loads((out / "bertkit.json").read_text())) == EXPECTED[task]["meta"]
    assert set(json.loads(r.stdout)) == EXPECTED[task]["summary"]
