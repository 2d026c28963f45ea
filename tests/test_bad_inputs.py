"""Every mistake costs a sentence: bad inputs over every command.

Each case: the exit code (2 for usage errors, 1 for bad data or files), the last stderr line starts
`bertkit: error:` and names the file, row or option and what to do, no traceback, and no output folder left.
Most cases stop before a model loads; the model folders below are built, not trained (seconds for all).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from bad_inputs_data import CTX, build_files
from helpers import invoke


@pytest.fixture(scope="module")
def files(tmp_path_factory, tiny_bert) -> dict[str, str]:
    return build_files(tmp_path_factory.mktemp("bad"), tiny_bert)


TRAIN = ["classify", "train", "-m", "{tiny}", "--train", "{d}/good.tsv", "-o", "{d}/out", "--epochs", "1"]
QA_TRAIN = ["qa", "train", "-m", "{tiny}", "--train", "{d}/squad-v2.json", "-o", "{d}/out", "--epochs", "1",
            "--max-length", "64", "--doc-stride", "16"]

NER_TRAIN = ["ner", "train", "-m", "{tiny}", "--train", "{d}/ner-ragged.conll", "-o", "{d}/out", "--epochs", "1",
             "--max-length", "32", "--stride", "8"]


def _with(base: list[str], **swap: str) -> list[str]:
    """base with the value after each --option replaced (option names with _ for -)."""
    out = list(base)
    for k, v in swap.items():
        opt = "--" + k.replace("_", "-") if len(k) > 1 else "-" + k
        out[out.index(opt) + 1] = v
    return out


CASES = [
    # classify train: settings (usage errors, before anything loads)
    ("train batch -4", TRAIN + ["--batch-size", "-4"], 2, ["--batch-size must be an integer of at least 1, not -4"]),
    ("train batch 0", TRAIN + ["--batch-size", "0"], 2, ["--batch-size", "lower it when memory runs out"]),
    ("train save-steps 0", TRAIN + ["--save-steps", "0"], 2, ["--save-steps must be an integer of at least 1, not 0"]),
    ("train save-total-limit 0", TRAIN + ["--save-total-limit", "0"], 2,
     ["--save-total-limit must be an integer of at least 1"]),
    ("train log-every 0", TRAIN + ["--log-every", "0"], 2, ["--log-every must be an integer of at least 1"]),
    ("train report-to", TRAIN + ["--report-to", "neptune"], 2,
     ["--report-to must be one of tensorboard, wandb, mlflow, none"]),
    ("train resume missing", TRAIN + ["--resume", "{d}/no-such-checkpoint"], 2,
     ["--resume", "not a checkpoint folder", "--resume auto"]),
    ("train threads word", TRAIN + ["--threads", "many"], 2, ["--threads must be an integer of at least 1 or 'auto'"]),
    ("train num-proc 0", TRAIN + ["--num-proc", "0"], 2, ["--num-proc must be an integer of at least 1"]),
    ("train long-text", TRAIN + ["--long-text", "split"], 2, ["--long-text must be one of truncate, window"]),
    ("train aggregate", TRAIN + ["--aggregate", "median"], 2, ["--aggregate must be one of mean, max"]),
    ("train epochs 0", TRAIN + ["--epochs", "0"], 2, ["--epochs must be a number above 0"]),
    ("train max-length 0", TRAIN + ["--max-length", "0"], 2, ["--max-length must be an integer of at least 1"]),
    ("train grad-accum 0", TRAIN + ["--grad-accum", "0"], 2, ["--grad-accum"]),
    ("train eval-steps 0", TRAIN + ["--eval-steps", "0"], 2, ["--eval-steps", "once per epoch"]),
    ("train warmup 5", TRAIN + ["--warmup-ratio", "5"], 2, ["--warmup-ratio must be a number from 0 to 1, not 5"]),
    ("train patience 0", TRAIN + ["--patience", "0"], 2, ["--patience"]),
    ("train lr -1", TRAIN + ["--lr", "-1"], 2, ["--lr must be a number above 0, not -1", "e.g. --lr 5e-5"]),
    ("train limit 0", TRAIN + ["--limit", "0"], 2, ["--limit", "leave it out to use every row"]),
    ("train dev-limit 0", TRAIN + ["--dev-limit", "0"], 2, ["--dev-limit"]),
    ("train weight-decay -1", TRAIN + ["--weight-decay", "-1"], 2, ["--weight-decay"]),
    ("train max-grad-norm -1", TRAIN + ["--max-grad-norm", "-1"], 2, ["--max-grad-norm", "0 turns clipping off"]),
    ("train seed -1", TRAIN + ["--seed", "-1"], 2, ["--seed must be an integer from 0"]),
    ("train mixed precision", TRAIN + ["--mixed-precision", "fp8"], 2,
     ["--mixed-precision must be one of no, bf16, fp16"]),
    ("train class weights", TRAIN + ["--class-weights", "sometimes"], 2, ["--class-weights must be one of auto, none"]),
    ("train problem type", TRAIN + ["--problem-type", "regression"], 2, ["--problem-type must be one of binary"]),
    ("train metric", TRAIN + ["--metric", "bleu"], 2, ["--metric must be one of accuracy"]),
    ("train threads 0", TRAIN + ["--threads", "0"], 2, ["--threads must be an integer of at least 1 or 'auto'"]),
    ("train threads word", TRAIN + ["--threads", "many"], 2, ["--threads", "'many'"]),
    ("train epochs not a number", TRAIN + ["--epochs", "abc"], 2, ["--epochs", "classify train --help"]),
    ("train unknown option", TRAIN + ["--learning-rate", "1"], 2, ["--learning-rate", "classify train --help"]),
    ("train no --train", ["classify", "train", "-m", "{tiny}", "-o", "{d}/out"], 2, ["--train is required"]),
    ("train no -o", ["classify", "train", "-m", "{tiny}", "--train", "{d}/good.tsv"], 1, ["--output-dir is required"]),
    # recipes
    ("recipe for qa", TRAIN + ["-c", "{d}/qa-recipe.yaml"], 2, ["qa-recipe.yaml", "is for `bertkit qa train`"]),
    ("recipe unknown key", TRAIN + ["-c", "{d}/unknown-key.yaml"], 2,
     ["unknown-key.yaml: unknown key(s) learning_rate"]),
    ("recipe bad value", TRAIN + ["-c", "{d}/zero-batch.yaml"], 2,
     ["zero-batch.yaml: batch_size must be an integer of at least 1"]),
    ("recipe not yaml", TRAIN + ["-c", "{d}/not-yaml.yaml"], 2, ["not-yaml.yaml: not valid YAML"]),
    ("recipe missing", TRAIN + ["-c", "{d}/nope.yaml"], 2,
     ["nope.yaml: config file not found", "bertkit recipes list"]),
    ("recipe a list", TRAIN + ["-c", "{d}/list.yaml"], 2, ["list.yaml: expected a mapping"]),
    ("recipe a folder", TRAIN + ["-c", "{d}/folder"], 2, ["folder: is a folder"]),
    ("recipe show unknown", ["recipes", "show", "nope"], 2, ["no recipe 'nope'", "sst2-minilm"]),
    ("recipe copy over a file", ["recipes", "copy", "sst2-minilm", "{d}/a-file"], 1, ["a-file: exists", "--overwrite"]),
    # classify train: files and data (exit 1)
    ("train file missing", _with(TRAIN, train="{d}/missing.csv"), 1, ["missing.csv: file not found"]),
    ("train file a folder", _with(TRAIN, train="{d}/folder"), 1, ["folder: is a folder"]),
    ("train file empty", _with(TRAIN, train="{d}/empty.csv"), 1, ["empty.csv: file is empty"]),
    ("train header only", _with(TRAIN, train="{d}/header-only.csv"), 1, ["header-only.csv: no rows"]),
    ("train semicolons", _with(TRAIN, train="{d}/semi.csv"), 1, ["semi.csv", "delimited by ';'"]),
    ("train latin-1", _with(TRAIN, train="{d}/latin1.csv"), 1, ["latin1.csv: not UTF-8 text", "iconv"]),
    ("train binary", _with(TRAIN, train="{d}/binary.csv"), 1, ["binary.csv: binary data"]),
    ("train NaN label", _with(TRAIN, train="{d}/nan-label.csv"), 1, ["nan-label.csv: row 2: missing label"]),
    ("train one class", _with(TRAIN, train="{d}/one-class.csv"), 1, ["one-class.csv: every row has the label '1'"]),
    ("train blank text", _with(TRAIN, train="{d}/blank-text.csv"), 1, ["blank-text.csv: row 2: empty text"]),
    ("train label col", TRAIN + ["--label-col", "nope"], 1, ["good.tsv: no column 'nope' (--label-col)"]),
    ("train text col position", TRAIN + ["--text-col", "7"], 1, ["--text-col 7: there are only 2 columns"]),
    ("train label names short", _with(TRAIN, train="{d}/labels14.csv") + ["--label-names", "a,b,c,d"], 1,
     ["labels14.csv", "--label-names 1=a,2=b"]),
    ("train label names bad", TRAIN + ["--label-names", "0=neg,pos"], 1, ["'pos' is not LABEL=NAME"]),
    ("train dev missing", TRAIN + ["--dev", "{d}/missing-dev.csv"], 1, ["missing-dev.csv: file not found"]),
    ("train -o in /proc", _with(TRAIN, o="/proc/bertkit-x"), 1, ["/proc/bertkit-x: cannot write"]),
    ("train -o under a file", _with(TRAIN, o="{d}/a-file/model"), 1, ["a-file is a file"]),
    ("train -o busy", _with(TRAIN, o="{d}/busy"), 1, ["busy: folder exists and is not empty", "--overwrite"]),
    ("train model missing", _with(TRAIN, m="{d}/no-model"), 1, ["no-model: model folder not found"]),
    ("train model a file", _with(TRAIN, m="{d}/a-file"), 1, ["a-file: a model must be a folder"]),
    ("train model no config", _with(TRAIN, m="{d}/folder"), 1, ["no config.json in this folder"]),
    # classify eval
    ("eval qa model", ["classify", "eval", "-m", "{qa}", "--data", "{d}/good.csv"], 1,
     ["a question-answering model", "bertkit qa ask"]),
    ("eval bare encoder", ["classify", "eval", "-m", "{tiny}", "--data", "{d}/good.csv"], 1,
     ["no trained classification head", "classify train"]),
    ("eval batch 0", ["classify", "eval", "-m", "{clf}", "--data", "{d}/good.csv", "--batch-size", "0"], 2,
     ["--batch-size"]),
    ("eval limit 0", ["classify", "eval", "-m", "{clf}", "--data", "{d}/good.csv", "--limit", "0"], 2, ["--limit"]),
    ("eval threshold 2", ["classify", "eval", "-m", "{clf}", "--data", "{d}/good.csv", "--threshold", "2"], 2,
     ["--threshold must be a number from 0 to 1"]),
    ("eval no --data", ["classify", "eval", "-m", "{clf}"], 2, ["Missing option '--data'"]),
    ("eval data missing", ["classify", "eval", "-m", "{clf}", "--data", "{d}/missing.csv"], 1,
     ["missing.csv: file not found"]),
    ("eval unknown label", ["classify", "eval", "-m", "{clf}", "--data", "{d}/unknown-label.csv"], 1,
     ["row 2: unknown label '7'"]),
    ("eval semicolons", ["classify", "eval", "-m", "{clf}", "--data", "{d}/semi.csv"], 1, ["delimited by ';'"]),
    # classify predict
    ("predict batch 0", ["classify", "predict", "-m", "{clf}", "{d}/good.csv", "--batch-size", "0"], 2,
     ["--batch-size must be an integer of at least 1, not 0"]),
    ("predict qa model", ["classify", "predict", "-m", "{qa}", "{d}/good.csv"], 1, ["a question-answering model"]),
    ("predict bare encoder", ["classify", "predict", "-m", "{tiny}", "{d}/good.csv"], 1,
     ["no trained classification head"]),
    ("predict latin-1 text", ["classify", "predict", "-m", "{clf}", "{d}/latin1.txt"], 1,
     ["latin1.txt: not UTF-8 text"]),
    ("predict bad jsonl", ["classify", "predict", "-m", "{clf}", "{d}/bad.jsonl"], 1, ["bad.jsonl:2: not valid JSON"]),
    ("predict no text field", ["classify", "predict", "-m", "{clf}", "{d}/notext.jsonl"], 1,
     ["no text field found", "--text-col"]),
    ("predict missing file", ["classify", "predict", "-m", "{clf}", "{d}/missing.txt"], 1,
     ["missing.txt: file not found"]),
    ("predict input format", ["classify", "predict", "-m", "{clf}", "{d}/good.csv", "--input-format", "xml"], 2,
     ["--input-format must be text, jsonl or csv"]),
    # qa train
    ("qa doc-stride", _with(QA_TRAIN, doc_stride="400"), 2, ["--doc-stride 400 must be below --max-length 64"]),
    ("qa n-best 0", QA_TRAIN + ["--n-best", "0"], 2, ["--n-best must be an integer of at least 1"]),
    ("qa max-answer-length 0", QA_TRAIN + ["--max-answer-length", "0"], 2, ["--max-answer-length"]),
    ("qa batch -4", QA_TRAIN + ["--batch-size", "-4"], 2, ["--batch-size must be an integer of at least 1, not -4"]),
    ("qa recipe for classify", QA_TRAIN + ["-c", "sst2-minilm"], 2, ["is for `bertkit classify train`"]),
    ("qa squad wrong keys", _with(QA_TRAIN, train="{d}/squad-keys.json"), 1,
     ["squad-keys.json", "no \"qas\" list", "keys: context, questions"]),
    ("qa answer mismatch", _with(QA_TRAIN, train="{d}/squad-mismatch.json"), 1,
     ["question 'q1': answer_start 5 does not match", "--skip-bad-rows"]),
    ("qa malformed json", _with(QA_TRAIN, train="{d}/bad.json"), 1, ["bad.json: not valid JSON"]),
    ("qa flat no context", _with(QA_TRAIN, train="{d}/flat-nocontext.jsonl"), 1, ["no 'context' column"]),
    ("qa always-answer on v2 data", QA_TRAIN + ["--always-answer"], 2, ["unanswerable question"]),
    ("qa train file missing", _with(QA_TRAIN, train="{d}/missing.json"), 1, ["missing.json: file not found"]),
    # qa eval
    ("qa eval nothing to score", ["qa", "eval", "--data", "{d}/squad-v2.json"], 2, ["give --model", "--predictions"]),
    ("qa eval na-probs alone", ["qa", "eval", "-m", "{qa}", "--data", "{d}/squad-v2.json", "--na-probs", "x.json"], 2,
     ["--na-probs goes with --predictions"]),
    ("qa eval predictions missing", ["qa", "eval", "-p", "{d}/missing-preds.json", "--data", "{d}/squad-v2.json"], 1,
     ["missing-preds.json"]),
    ("qa eval classifier", ["qa", "eval", "-m", "{clf}", "--data", "{d}/squad-v2.json"], 1,
     ["a classifier", "not a question-answering model"]),
    ("qa eval limit 0", ["qa", "eval", "-m", "{qa}", "--data", "{d}/squad-v2.json", "--limit", "0"], 2, ["--limit"]),
    ("qa eval malformed", ["qa", "eval", "-m", "{qa}", "--data", "{d}/bad.json"], 1, ["bad.json: not valid JSON"]),
    # qa ask
    ("ask classifier", ["qa", "ask", "-m", "{clf}", "-q", "who?", "--context", CTX], 1,
     ["a classifier", "not a question-answering model", "bertkit qa train"]),
    ("ask top-k 0", ["qa", "ask", "-m", "{qa}", "-q", "who?", "--context", CTX, "--top-k", "0"], 2,
     ["--top-k must be an integer of at least 1"]),
    ("ask batch 0", ["qa", "ask", "-m", "{qa}", "-q", "who?", "--context", CTX, "--batch-size", "0"], 2,
     ["--batch-size"]),
    ("ask no context", ["qa", "ask", "-m", "{qa}", "-q", "who?"], 2, ["--context TEXT or --context-file FILE"]),
    ("ask context file missing", ["qa", "ask", "-m", "{qa}", "-q", "who?", "--context-file", "{d}/missing.txt"], 2,
     ["missing.txt: context file not found"]),
    ("ask context file latin-1", ["qa", "ask", "-m", "{qa}", "-q", "who?", "--context-file", "{d}/latin1.txt"], 1,
     ["latin1.txt: not UTF-8 text"]),
    ("ask input missing", ["qa", "ask", "-m", "{qa}", "--input", "{d}/missing.jsonl"], 2,
     ["missing.jsonl: file not found"]),
    ("ask input bad jsonl", ["qa", "ask", "-m", "{qa}", "--input", "{d}/qa-bad.jsonl"], 1,
     ["qa-bad.jsonl:2: not valid JSON"]),
    ("ask input no context", ["qa", "ask", "-m", "{qa}", "--input", "{d}/qa-notext.jsonl"], 1,
     ["qa-notext.jsonl:1: needs a non-empty 'context'"]),
    ("ask model missing", ["qa", "ask", "-m", "{d}/no-model", "-q", "who?", "--context", CTX], 1,
     ["no-model: model folder not found"]),
    # tokenize
    ("tokenize no tokenizer", ["tokenize", "compare", "hello"], 1, ["give at least one tokenizer"]),
    ("tokenize missing spec", ["tokenize", "encode", "-t", "{d}/no-such-vocab.txt"], 1, ["no such file or folder"]),
    ("tokenize file missing", ["tokenize", "compare", "-t", "{tiny}", "--file", "{d}/missing.txt"], 1,
     ["--file", "missing.txt: no such file"]),
    ("tokenize limit 0", ["tokenize", "compare", "-t", "{tiny}", "--file", "{d}/latin1.txt", "--limit", "0"], 2,
     ["--limit"]),
    ("tokenize latin-1", ["tokenize", "compare", "-t", "{tiny}", "--file", "{d}/latin1.txt"], 1,
     ["latin1.txt: not UTF-8"]),
    ("tokenize text col", ["tokenize", "compare", "-t", "{tiny}", "--file", "{d}/good.csv", "--text-col", "body"], 1,
     ["--text-col body"]),
    # ner train
    ("ner ragged columns", NER_TRAIN, 1, ["ner-ragged.conll:2: 3 columns where earlier lines have 2"]),
    ("ner no tags", _with(NER_TRAIN, train="{d}/ner-notags.conll"), 1,
     ["ner-notags.conll:1: one column", "token<TAB>tag"]),
    ("ner tag column not last", _with(NER_TRAIN, train="{d}/ner-tagcol.conll"), 1, ["ner-tagcol.conll", "--tag-col 1"]),
    ("ner span mixed with plain", _with(NER_TRAIN, train="{d}/ner-mixed.conll"), 1,
     ["ner-mixed.conll", "mixed with plain tags", "VERB"]),
    ("ner empty file", _with(NER_TRAIN, train="{d}/ner-empty.conll"), 1, ["ner-empty.conll: the file is empty"]),
    ("ner binary file", _with(NER_TRAIN, train="{d}/ner-binary.conll"), 1, ["ner-binary.conll: a binary file"]),
    ("ner empty tag", _with(NER_TRAIN, train="{d}/ner-emptytag.conll"), 1, ["ner-emptytag.conll:2", "empty tag"]),
    ("ner json token/tag counts", _with(NER_TRAIN, train="{d}/ner-json-count.jsonl"), 1,
     ["ner-json-count.jsonl:2: 2 tokens but 1 tags"]),
    ("ner json ids without names", _with(NER_TRAIN, train="{d}/ner-json-ids.jsonl"), 1,
     ["ner-json-ids.jsonl:1", "--label-names"]),
    ("ner dev unknown tag", _with(NER_TRAIN, train="{d}/ner-good.conll") + ["--dev", "{d}/ner-unknown.conll"], 1,
     ["ner-unknown.conll: tags the model does not know", "B-corporation"]),
    ("ner stride too big", _with(NER_TRAIN, train="{d}/ner-good.conll") + ["--stride", "40"], 2,
     ["--stride 40 must be below --max-length 32"]),
    ("ner decode choice", _with(NER_TRAIN, train="{d}/ner-good.conll") + ["--decode", "beam"], 2,
     ["--decode must be one of viterbi, argmax"]),
    ("ner scheme choice", _with(NER_TRAIN, train="{d}/ner-good.conll") + ["--scheme", "BIO"], 2,
     ["--scheme must be one of"]),
    ("ner train missing", _with(NER_TRAIN, train="{d}/missing.conll"), 1, ["missing.conll: file not found"]),
    # ner eval / predict
    ("ner eval unknown tag", ["ner", "eval", "-m", "{ner}", "--data", "{d}/ner-unknown.conll"], 1,
     ["tags the model does not know", "'B-corporation' (sentence at line 1)"]),
    ("ner eval no tags", ["ner", "eval", "-m", "{ner}", "--data", "{d}/ner-notags.conll"], 1, ["one column"]),
    ("ner eval classifier", ["ner", "eval", "-m", "{clf}", "--data", "{d}/ner-good.conll"], 1,
     ["a classifier", "not a token classifier"]),
    ("ner eval bare encoder", ["ner", "eval", "-m", "{tiny}", "--data", "{d}/ner-good.conll"], 1,
     ["no trained token classification head"]),
    ("ner predict binary", ["ner", "predict", "-m", "{ner}", "{d}/ner-binary.conll"], 1,
     ["ner-binary.conll: a binary file"]),
    ("ner predict format", ["ner", "predict", "-m", "{ner}", "{d}/latin1.txt", "--format", "xml"], 2,
     ["--format must be one of"]),
    ("ner predict conll from text", ["ner", "predict", "-m", "{ner}", "{d}/good.csv", "--format", "conll"], 2,
     ["--format conll needs pre-split input"]),
    ("ner predict aggregate", ["ner", "predict", "-m", "{ner}", "{d}/ner-good.conll", "--aggregate", "mean"], 2,
     ["--aggregate must be one of first, average, max"]),
    ("ner predict bad jsonl", ["ner", "predict", "-m", "{ner}", "{d}/bad.jsonl"], 1, ["bad.jsonl:2: not valid JSON"]),
    ("ner predict decode", ["ner", "predict", "-m", "{d}/no-such-model", "{d}/ner-good.conll", "--decode", "beam"], 2,
     ["--decode must be one of viterbi, argmax"]),  # refused before the (missing) model is looked for
    # env and the root
    ("env format", ["env", "--format", "xml"], 2, ["'xml' is not one of", "bertkit env --help"]),
]


@pytest.mark.parametrize("name, args, code, needles", CASES, ids=[c[0] for c in CASES])
def test_bad_input_costs_one_sentence(files, name, args, code, needles):
    argv = [a.format(**files) for a in args]
    out = Path(files["d"]) / "out"
    r = invoke(argv)
    assert r.exit_code == code, (r.exit_code, r.stderr[-600:])
    lines = r.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("bertkit: error:"), r.stderr[-600:]
    last = lines[-1]
    for needle in needles:
        assert needle.format(**files) in last, (needle, last)
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    assert not out.exists() and not list(Path(files["d"]).glob(".out*")), "a failed run left an output folder"
    assert (Path(files["d"]) / "busy" / "keep.txt").read_text() == "keep me"


def test_there_are_enough_cases_over_every_command():
    commands = {tuple(a for a in c[1][:2] if not a.startswith("-")) for c in CASES}
    assert len(CASES) >= 60
    for cmd in [("classify", "train"), ("classify", "eval"), ("classify", "predict"), ("qa", "train"), ("qa", "eval"),
                ("qa", "ask"), ("ner", "train"), ("ner", "eval"), ("ner", "predict"), ("tokenize", "compare"),
                ("tokenize", "encode"), ("env", "--format")[:1]]:
        assert cmd in commands or cmd[:1] in {c[:1] for c in commands}, cmd
