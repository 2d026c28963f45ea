"""The family matrix: a tiny random model of every family in `bertkit.families.TESTED_FAMILIES`, with a real
tokenizer of its kind, through every command that loads a model. Outputs are checked, not just exit codes:
`transformers.pipeline` agrees with `classify predict`, `--fast` agrees with PyTorch, QA answers are the context's
characters at their offsets. A family is one line in tests/families.py; a command is one function in CHECKS."""

from __future__ import annotations

import json

import pytest
from families import FAMILIES, build_family
from helpers import invoke, jsonl, sentiment_rows
from test_qa_cli import CONTEXTS, squad_json

from bertkit.families import TESTED_COMMANDS, TESTED_FAMILIES

FAST = ["--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--threads", "1", "--seed", "0",
        "--mixed-precision", "no"]
TEXTS = ["the film was great fun", "awful boring plot", "it was the worst movie", "loved the actors"]


def _csv(path, n, seed):
    path.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in sentiment_rows(n, seed)))
    return path


@pytest.fixture(scope="module", params=list(TESTED_FAMILIES))
def fam(request, shared_data, tmp_path_factory):
    """One family's base model, classifier and QA model (trained once per family), and the temp folder."""
    onnx = pytest.importorskip("onnxruntime", reason="onnxruntime not installed: pip install 'bertkit[onnx]'")
    assert onnx
    family = request.param
    d = tmp_path_factory.mktemp(f"family-{family}")
    base = build_family(family, d / "base", shared_data)
    clf = invoke(["classify", "train", "-m", str(base), "--train", str(_csv(d / "t.csv", 40, 0)),
                  "--dev", str(_csv(d / "d.csv", 16, 1)), "-o", str(d / "clf"), *FAST])
    squad = d / "squad.json"
    squad.write_text(json.dumps(squad_json()))
    qa = invoke(["qa", "train", "-m", str(base), "--train", str(squad), "--dev", str(squad), "-o", str(d / "qa"),
                 "--max-length", "32", "--doc-stride", "8", *FAST])
    return {"family": family, "dir": d, "clf": clf, "qa": qa, "squad": squad}


def _ok(r):
    assert r.exit_code == 0, r.output
    return r


def check_classify_train(f):
    _ok(f["clf"])
    meta = json.loads((f["dir"] / "clf" / "bertkit.json").read_text())
    cfg = json.loads((f["dir"] / "clf" / "config.json").read_text())
    assert cfg["model_type"] == TESTED_FAMILIES[f["family"]][0]
    assert meta["task"] == "classify"
    assert "attention " in f["clf"].stderr  # the implementation that ran is said in the log


def check_classify_eval(f):
    _ok(f["clf"])
    r = _ok(invoke(["classify", "eval", "-m", str(f["dir"] / "clf"), "-d", str(f["dir"] / "d.csv")]))
    res = json.loads(r.stdout)
    assert 0 <= res["accuracy"] <= 1 and res["problem_type"] == "binary"


def _predict(f, *extra):
    r = _ok(invoke(["classify", "predict", "-m", str(f["dir"] / "clf"), *extra], input="\n".join(TEXTS) + "\n"))
    return jsonl(r.stdout)


def check_classify_predict(f):
    from transformers import pipeline

    _ok(f["clf"])
    got = _predict(f)
    pipe = pipeline("text-classification", model=str(f["dir"] / "clf"), device="cpu")
    ref = pipe(TEXTS)
    assert [g["text"] for g in got] == TEXTS
    assert [g["label"] for g in got] == [r["label"] for r in ref]
    assert max(abs(g["score"] - r["score"]) for g, r in zip(got, ref)) < 1e-4


def check_classify_predict_fast(f):
    _ok(f["clf"])
    ref, fast = _predict(f), _predict(f, "--fast")
    assert [g["label"] for g in fast] == [r["label"] for r in ref]
    assert max(abs(g["score"] - r["score"]) for g, r in zip(fast, ref)) < 1e-4


def check_export(f):
    _ok(f["clf"])
    out = f["dir"] / "export" / "model.onnx"
    res = json.loads(_ok(invoke(["export", str(f["dir"] / "clf"), "--onnx", "-o", str(out)])).stdout)
    assert out.is_file() and res["max_abs_diff_vs_pytorch"] < 1e-4 and "input_ids" in res["inputs"]


def check_qa_train(f):
    _ok(f["qa"])
    assert json.loads((f["dir"] / "qa" / "bertkit.json").read_text())["task"] == "qa"


def check_qa_eval(f):
    _ok(f["qa"])
    res = json.loads(_ok(invoke(["qa", "eval", "-m", str(f["dir"] / "qa"), "-d", str(f["squad"])])).stdout)
    assert res["total"] == 6 and 0 <= res["f1"] <= 100


def _ask(f, *extra):
    lines = [json.dumps({"question": q, "context": c}) for c, qs in CONTEXTS for q, _ in qs]
    r = _ok(invoke(["qa", "ask", "-m", str(f["dir"] / "qa"), "--null-threshold", "1e9", *extra],
                   input="\n".join(lines) + "\n"))
    return jsonl(r.stdout)


def check_qa_ask(f):
    _ok(f["qa"])
    got = _ask(f)
    contexts = [c for c, qs in CONTEXTS for _ in qs]
    assert len(got) == len(contexts)
    for a, ctx in zip(got, contexts):
        assert a["answer"] and ctx[a["start"]:a["end"]] == a["answer"]  # offsets point into the context


def check_qa_ask_fast(f):
    """--fast answers as PyTorch does, within 1e-4 in score. A tiny random model can score two spans alike to 1e-9
    (seen: deberta-v2 under transformers 5.25, spans 8-27 and 8-57 at 0.05160472); either of such tied spans is
    the same answer."""
    _ok(f["qa"])
    ref, fast = _ask(f, "--top-k", "3"), _ask(f, "--fast", "--top-k", "3")
    assert len(ref) == len(fast)
    for a, b in zip(ref, fast):
        tied = {(a["start"], a["end"])} | {(x["start"], x["end"]) for x in a.get("alternatives", [])
                                           if abs(x["score"] - a["score"]) < 1e-6}
        assert (b["start"], b["end"]) in tied, (a, b)
        assert abs(a["score"] - b["score"]) < 1e-4


def check_attention(f):
    _ok(f["clf"])
    r = _ok(invoke(["attention", "show", "-m", str(f["dir"] / "clf"), "-t", TEXTS[0], "--format", "json"]))
    res = json.loads(r.stdout)
    n = len(res["tokens"])
    assert res["shape"] == [2, 2, n, n]
    rows = [row for layer in res["weights"] for head in layer for row in head]
    assert all(abs(sum(row) - 1) < 1e-3 for row in rows)  # softmax rows


def check_report(f):
    _ok(f["clf"])
    out = f["dir"] / "report.html"
    _ok(invoke(["report", str(f["dir"] / "clf"), "-o", str(out)]))
    assert out.stat().st_size > 1000 and "<html" in out.read_text()[:500].lower()


NER_TEXTS = ["Bob lives in Paris with Ann", "i met john 😀 in 東京 and john again", "hello world"]


def _ner(f):
    """The family's token classifier, trained on first use (two WNUT-17-like sentences, windows of 12 tokens)."""
    if "ner" not in f:
        conll = f["dir"] / "t.conll"
        conll.write_text("Bob\tB-person\nlives\tO\nin\tO\nParis\tB-location\nwith\tO\nAnn\tB-person\n\n"
                         "Stabilized\tO\napproach\tO\nor\tO\nnot\tO\n?\tO\nRedondo\tB-location\n"
                         "Beach\tI-location\n@paul\tB-person\nhttp://t.co/x\tO\n\n" * 4)
        f["ner"] = invoke(["ner", "train", "-m", str(f["dir"] / "base"), "--train", str(conll), "--dev", str(conll),
                           "-o", str(f["dir"] / "ner"), "--max-length", "12", "--stride", "3", *FAST])
        f["conll"] = conll
    return _ok(f["ner"])


def check_ner_train(f):
    _ner(f)
    meta = json.loads((f["dir"] / "ner" / "bertkit.json").read_text())
    assert meta["task"] == "ner" and meta["scheme"] == "IOB2"
    cfg = json.loads((f["dir"] / "ner" / "config.json").read_text())
    assert cfg["architectures"][0].endswith("ForTokenClassification") and cfg["id2label"]["0"] == "O"


def check_ner_predict(f):
    _ner(f)
    recs = jsonl(_ok(invoke(["ner", "predict", "-m", str(f["dir"] / "ner")], input="\n".join(NER_TEXTS) + "\n")).stdout)
    assert [r["text"] for r in recs] == NER_TEXTS
    for r in recs:
        assert all(r["text"][e["start"]:e["end"]] == e["text"] for e in r["entities"])
    conll = _ok(invoke(["ner", "predict", "-m", str(f["dir"] / "ner"), str(f["conll"]), "--format", "conll"])).stdout
    assert [ln.split("\t")[0] for ln in conll.splitlines() if ln] == [
        ln.split("\t")[0] for ln in f["conll"].read_text().splitlines() if ln]


def check_ner_predict_fast(f):
    _ner(f)
    args = ["ner", "predict", "-m", str(f["dir"] / "ner"), str(f["conll"]), "--format", "jsonl"]
    ref, fast = (jsonl(_ok(invoke(args + extra)).stdout) for extra in ([], ["--fast"]))
    words = [(a, b) for r, q in zip(ref, fast) for a, b in zip(r["tags"], q["tags"])]
    assert sum(a == b for a, b in words) >= 0.995 * len(words)


CHECKS = {
    "classify train": check_classify_train,
    "classify eval": check_classify_eval,
    "classify predict": check_classify_predict,
    "classify predict --fast": check_classify_predict_fast,
    "export --onnx": check_export,
    "qa train": check_qa_train,
    "qa eval": check_qa_eval,
    "qa ask": check_qa_ask,
    "qa ask --fast": check_qa_ask_fast,
    "attention show": check_attention,
    "report": check_report,
    "ner train": check_ner_train,
    "ner predict": check_ner_predict,
    "ner predict --fast": check_ner_predict_fast,
}


@pytest.mark.parametrize("command", list(CHECKS))
def test_family_runs_command(fam, command, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(fam["dir"] / "cache"))  # --fast's ONNX cache
    CHECKS[command](fam)


def test_matrix_covers_what_env_reports():
    assert set(FAMILIES) == set(TESTED_FAMILIES)
    assert tuple(CHECKS) == TESTED_COMMANDS
    env = json.loads(invoke(["env"]).stdout)["families_tested"]
    assert list(env["families"]) == list(TESTED_FAMILIES) and env["commands"] == list(TESTED_COMMANDS)


def test_forced_sdpa_on_an_architecture_without_it_is_a_clear_error(shared_data, tmp_path):
    base = build_family("deberta-v2", tmp_path / "base", shared_data)
    r = invoke(["classify", "train", "-m", str(base), "--train", str(_csv(tmp_path / "t.csv", 8, 0)),
                "-o", str(tmp_path / "m"), "--attn", "sdpa", *FAST])
    assert r.exit_code == 1
    assert "--attn sdpa: DebertaV2ForSequenceClassification has no sdpa attention" in r.stderr.splitlines()[-1]
    assert not (tmp_path / "m").exists()


def test_accepted_inputs_follow_the_model_not_the_tokenizer(shared_data, tmp_path):
    """DistilBERT's BERT tokenizer returns token_type_ids; its forward takes none (it crashed --fast's export)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bertkit.export import input_names
    from bertkit.modeling import accepted_inputs

    base = build_family("distilbert", tmp_path / "d", shared_data)
    tok = AutoTokenizer.from_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base)
    assert "token_type_ids" in tok("a b")
    assert accepted_inputs(model) == ("input_ids", "attention_mask")
    assert input_names(tok, model) == ["input_ids", "attention_mask"]
