"""The inputs of tests/test_bad_inputs.py: bad data files, recipes and folders, and model folders built without
training (a random classifier, QA model and token classifier over the tiny test encoder)."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import sentiment_rows

CTX = "Jim Henson was a nice puppet maker who created the muppets in london"


def _squad(qas: list[dict], key: str = "qas") -> dict:
    return {"version": "v2.0", "data": [{"title": "t", "paragraphs": [{"context": CTX, key: qas}]}]}


def build_files(d: Path, tiny_bert: Path) -> dict[str, str]:
    """The bad (and a few good) inputs of tests/test_bad_inputs.py in folder d, and model folders built (not trained)
    beside them: {placeholder: path} for the cases' {d}, {tiny}, {clf}, {qa} and {ner}."""
    rows = sentiment_rows(20)
    (d / "good.tsv").write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    (d / "good.csv").write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in rows))
    (d / "semi.csv").write_text("label;text\n" + "".join(f"{y};{t}\n" for t, y in rows))
    (d / "latin1.csv").write_bytes("text,label\ncafé crème,1\nthé,0\n".encode("latin-1"))
    (d / "latin1.txt").write_bytes("café crème\nthé\n".encode("latin-1"))
    (d / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (d / "empty.csv").write_text("")
    (d / "header-only.csv").write_text("text,label\n")
    (d / "nan-label.csv").write_text("text,label\ngood movie,1\nbad movie,NaN\nfine,0\n")
    (d / "one-class.csv").write_text("text,label\ngood movie,1\nbad movie,1\nfine,1\n")
    (d / "blank-text.csv").write_text('text,label\ngood movie,1\n"  ",0\nfine,0\n')
    (d / "labels14.csv").write_text("".join(f"{i % 4 + 1},some title,{t}\n" for i, (t, _) in enumerate(rows)))
    (d / "unknown-label.csv").write_text("text,label\ngood movie,1\nbad movie,7\n")
    (d / "bad.jsonl").write_text('{"text": "good"}\n{"text": \n')
    (d / "notext.jsonl").write_text('{"body": "good"}\n')
    (d / "qa-bad.jsonl").write_text('{"question": "who?", "context": "jim henson"}\n{"question": \n')
    (d / "qa-notext.jsonl").write_text('{"question": "who?"}\n')
    (d / "bad.json").write_text('{"data": [')
    no_answers = [{"id": "q1", "question": "who?", "answers": []}]
    (d / "squad-keys.json").write_text(json.dumps(_squad(no_answers, key="questions")))
    mismatch = [{"id": "q1", "question": "who?", "answers": [{"text": "Jim Henson", "answer_start": 5}]}]
    (d / "squad-mismatch.json").write_text(json.dumps(_squad(mismatch)))
    (d / "squad-v2.json").write_text(json.dumps(_squad([
        {"id": "q1", "question": "who?", "answers": [{"text": "Jim Henson", "answer_start": 0}]},
        {"id": "q2", "question": "why?", "answers": [], "is_impossible": True}])))
    (d / "flat-nocontext.jsonl").write_text(json.dumps({"question": "who?",
                                                        "answers": {"text": [], "answer_start": []}}) + "\n")
    (d / "qa-recipe.yaml").write_text("task: qa\nepochs: 1\n")
    (d / "unknown-key.yaml").write_text("epochs: 1\nlearning_rate: 0.1\n")
    (d / "zero-batch.yaml").write_text("batch_size: 0\n")
    (d / "not-yaml.yaml").write_text("epochs: [1\n")
    (d / "list.yaml").write_text("- epochs\n")
    (d / "a-file").write_text("x")
    busy = d / "busy"
    busy.mkdir()
    (busy / "keep.txt").write_text("keep me")
    (d / "folder").mkdir()
    _ner_files(d)
    return {"d": str(d), "tiny": str(tiny_bert), "clf": str(_classifier(d / "clf", tiny_bert)),
            "qa": str(_qa_model(d / "qam", tiny_bert)),
            "ner": str(_ner_model(d / "nerm", tiny_bert))}


def _ner_files(d: Path) -> None:
    good = "Bob\tB-person\nlives\tO\nin\tO\nParis\tB-location\n\nhi\tO\nAnn\tB-person\n"
    (d / "ner-good.conll").write_text(good)
    (d / "ner-ragged.conll").write_text("Bob\tB-person\nlives\tO\textra\nin\tO\n")
    (d / "ner-notags.conll").write_text("Bob\nlives\nin\nParis\n")
    (d / "ner-tagcol.conll").write_text("".join(f"{w}\t{t}\tNN{i}\n" for i, (w, t) in enumerate(
        [("Bob", "B-person"), ("lives", "O"), ("in", "O"), ("Paris", "B-location")])))
    (d / "ner-unknown.conll").write_text("Bob\tB-person\nACME\tB-corporation\nin\tO\n")
    (d / "ner-mixed.conll").write_text("Bob\tB-person\nlives\tVERB\nin\tO\n")
    (d / "ner-empty.conll").write_text("")
    (d / "ner-binary.conll").write_bytes(bytes(range(256)) * 4)
    (d / "ner-emptytag.conll").write_text("Bob\tB-person\nlives\t\n")
    (d / "ner-json-count.jsonl").write_text('{"tokens": ["Bob", "lives"], "tags": ["B-person", "O"]}\n'
                                            '{"tokens": ["hi", "Ann"], "tags": ["O"]}\n')
    (d / "ner-json-ids.jsonl").write_text('{"tokens": ["Bob", "lives"], "tags": [1, 0]}\n')


def _ner_model(path: Path, tiny: Path) -> Path:
    """A (random) token classifier folder as `ner train` writes it, built without training."""
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    labels = ["O", "B-location", "I-location", "B-person", "I-person"]
    cfg = BertConfig.from_pretrained(tiny, num_labels=5, id2label=dict(enumerate(labels)),
                                     label2id={n: i for i, n in enumerate(labels)})
    BertForTokenClassification(cfg).save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(path)
    (path / "bertkit.json").write_text(json.dumps({"task": "ner", "labels": labels, "scheme": "IOB2",
                                                   "max_length": 32, "stride": 8}))
    return path


def _classifier(path: Path, tiny: Path) -> Path:
    """A (random) binary classifier folder as `classify train` writes it, built without training."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    cfg = BertConfig.from_pretrained(tiny, num_labels=2, id2label={0: "0", 1: "1"}, label2id={"0": 0, "1": 1})
    BertForSequenceClassification(cfg).save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(path)
    (path / "bertkit.json").write_text(json.dumps({"task": "classify", "problem_type": "binary", "labels": ["0", "1"],
                                                   "threshold": 0.5, "text_col": "text", "label_col": "label"}))
    return path


def _qa_model(path: Path, tiny: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

    BertForQuestionAnswering(BertConfig.from_pretrained(tiny)).save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny).save_pretrained(path)
    (path / "bertkit.json").write_text(json.dumps({"task": "qa", "version_2": True, "max_length": 64,
                                                   "doc_stride": 16}))
    return path
