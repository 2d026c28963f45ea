"""The Python API in one runnable script: train a classifier, predict with it, train a QA model, ask it, train a
tagger (NER) and tag texts with it.

    python examples/python/api_tour.py                      # the packaged all-MiniLM-L6-v2, offline, ~1 minute
    python examples/python/api_tour.py --model PATH -o DIR  # any BERT-family model folder; outputs kept in DIR

The classifier trains on the 60 movie reviews in examples/; the QA model on a few questions written below (a toy:
enough to show the calls, not to answer well). Settings are the same as the command-line options
(`bertkit classify train --help`), as fields of ClassifyConfig / QAConfig.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bertkit import QA, Classifier, Tagger
from bertkit.classify.settings import ClassifyConfig
from bertkit.classify.train import train as train_classifier
from bertkit.defaults import DEFAULT_MODEL
from bertkit.ner.settings import NERConfig
from bertkit.ner.train import train as train_tagger
from bertkit.qa.settings import QAConfig
from bertkit.qa.train import train as train_qa

EXAMPLES = Path(__file__).resolve().parent.parent
CONTEXTS = [
    ("The Eiffel Tower is in Paris. It was finished in 1889.",
     [("Where is the Eiffel Tower?", "Paris"), ("When was the Eiffel Tower finished?", "1889")]),
    ("Marie Curie won the Nobel Prize in Physics in 1903 and in Chemistry in 1911.",
     [("Which prize did Marie Curie win?", "the Nobel Prize"), ("When did Curie win the Chemistry prize?", "1911")]),
]


def squad_file(path: Path) -> Path:
    """A tiny SQuAD v1.1 file (the format `qa train` reads)."""
    paras = [{"context": ctx,
              "qas": [{"id": f"q{i}-{j}", "question": q, "answers": [{"text": a, "answer_start": ctx.index(a)}]}
                      for j, (q, a) in enumerate(qs)]} for i, (ctx, qs) in enumerate(CONTEXTS)]
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "toy", "paragraphs": paras}]}))
    return path


def classify(model: str, out: Path, epochs: float, extra: dict) -> None:
    cfg = ClassifyConfig(model=model, train=str(EXAMPLES / "reviews-train.csv"),
                         dev=str(EXAMPLES / "reviews-dev.csv"), output_dir=str(out / "reviews"), epochs=epochs,
                         batch_size=8, lr=1e-4, overwrite=True, **extra)
    summary = train_classifier(cfg)  # the dict `bertkit classify train` prints
    print(f"classifier: dev accuracy {summary['accuracy']:.2f} after {summary['steps']} steps -> "
          f"{summary['output_dir']}")
    clf = Classifier(summary["output_dir"])
    for res in clf(["a moving, beautifully acted film", "the plot was dull and the jokes fell flat"]):
        print(f"  {res['label']} {res['score']:.4f}")
    print("  all scores:", clf("an instant classic", all_scores=True))


def qa(model: str, out: Path, epochs: float, extra: dict) -> None:
    data = squad_file(out / "toy-squad.json")
    cfg = QAConfig(model=model, train=str(data), dev=str(data), output_dir=str(out / "qa"), epochs=epochs,
                   batch_size=4, lr=1e-4, overwrite=True, **extra)
    summary = train_qa(cfg)
    print(f"qa: dev f1 {summary['f1']:.1f} -> {summary['output_dir']}")
    ask = QA(summary["output_dir"])
    print("  ", ask(question="Where is the Eiffel Tower?", context=CONTEXTS[0][0]))


NER_SENTENCES = [[("Ann", "B-person"), ("flew", "O"), ("to", "O"), ("Paris", "B-location")],
                 [("Bob", "B-person"), ("lives", "O"), ("in", "O"), ("New", "B-location"), ("York", "I-location")],
                 [("we", "O"), ("met", "O"), ("Ann", "B-person"), ("in", "O"), ("Rome", "B-location")]]


def ner(model: str, out: Path, epochs: float, extra: dict) -> None:
    data = out / "toy.conll"  # CoNLL: token<TAB>tag, a blank line after each sentence
    data.write_text("".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in NER_SENTENCES * 8))
    cfg = NERConfig(model=model, train=str(data), dev=str(data), output_dir=str(out / "ner"), epochs=epochs,
                    batch_size=8, lr=1e-3, overwrite=True, **extra)
    summary = train_tagger(cfg)
    print(f"ner: dev entity f1 {summary['f1']:.2f} ({summary['scheme']}) -> {summary['output_dir']}")
    tagger = Tagger(summary["output_dir"])
    for rec in tagger.predict_records(["Bob flew to Rome", "Ann lives in New York"]):  # as `ner predict` prints
        print("  ", [(e["text"], e["type"], e["start"], e["end"]) for e in rec["entities"]])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="a model folder or hub id (default: the packaged MiniLM)")
    p.add_argument("-o", "--output-dir", help="where the models go (default: a temporary folder, removed at the end)")
    p.add_argument("--epochs", type=float, default=5.0, help="classifier epochs (QA: half as many, at least 1)")
    p.add_argument("--quick", action="store_true", help="short sequences and one thread (for tests)")
    args = p.parse_args(argv)
    extra = {"threads": 1, "max_length": 64} if args.quick else {}
    qa_extra = {"threads": 1, "max_length": 48, "doc_stride": 16} if args.quick else {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.output_dir or tmp)
        out.mkdir(parents=True, exist_ok=True)
        classify(args.model, out, args.epochs, extra)
        qa(args.model, out, max(1.0, args.epochs / 2), qa_extra)
        ner(args.model, out, args.epochs, {"threads": 1, "max_length": 32, "stride": 8} if args.quick else {})


if __name__ == "__main__":
    main()
