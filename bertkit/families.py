"""The BERT families bertkit is tested on: each runs every command that loads a model in the test suite's family
matrix (tests/test_families.py builds a tiny random model of each with a real tokenizer of its kind).
`bertkit env` reports this list; the matrix iterates over it, so the two cannot drift apart."""

from __future__ import annotations

# family -> (config model_type, tokenizer kind of its checkpoints)
TESTED_FAMILIES: dict[str, tuple[str, str]] = {
    "bert": ("bert", "WordPiece"),
    "distilbert": ("distilbert", "WordPiece"),
    "roberta": ("roberta", "byte-level BPE"),
    "albert": ("albert", "SentencePiece"),
    "electra": ("electra", "WordPiece"),
    "deberta-v2": ("deberta-v2", "SentencePiece"),
    "modernbert": ("modernbert", "byte-level BPE"),
    "xlm-roberta": ("xlm-roberta", "SentencePiece Unigram"),
    "mpnet": ("mpnet", "WordPiece"),
}

# what the matrix runs on each family (tests/test_families.py CHECKS)
TESTED_COMMANDS = ("classify train", "classify eval", "classify predict", "classify predict --fast", "export --onnx",
                   "qa train", "qa eval", "qa ask", "qa ask --fast", "attention show", "report",
                   "ner train", "ner predict", "ner predict --fast")
