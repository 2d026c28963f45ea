"""`bertkit qa train | eval | ask` on a tiny random BERT, and the `QA` Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bertkit.cli.main import app

CONTEXTS = [
    ("jim henson was a nice puppet .",
     [("who was jim henson ?", "a nice puppet"), ("what was jim henson ?", "nice puppet")]),
    ("paris is the capital of france .",
     [("what is the capital of france ?", "paris"), ("who was born in london ?", None)]),
    ("the moon was born at night . berlin is a city in germany .",
     [("which city is in germany ?", "berlin"), ("when was the moon born ?", "at night")]),
]


def squad_json(version_2: bool = True) -> dict:
    paras, n = [], 0
    for ctx, qs in CONTEXTS:
        qas = []
        for q, a in qs:
            n += 1
            if a is None:
                if not version_2:
                    continue
                qas.append({"id": f"q{n}", "question": q, "answers": [], "is_impossible": True,
                            "plausible_answers": [{"text": "paris", "answer_start": 0}]})
            else:
                qa = {"id": f"q{n}", "question": q, "answers": [{"text": a, "answer_start": ctx.index(a)}]}
                if version_2:
                    qa["is_impossible"] = False
                qas.append(qa)
        paras.append({"context": ctx, "qas": qas})
    return {"version": "v2.0" if version_2 else "1.1", "data": [{"title": "tiny", "paragraphs": paras}]}


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def squad_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("squad") / "tiny-v2.json"
    p.write_text(json.dumps(squad_json()))
    return p


TRAIN_ARGS = ["--max-length", "32", "--doc-stride", "8", "--epochs", "2", "--batch-size", "4", "--lr", "1e-3",
              "--threads", "1",
              "--mixed-precision", "no"]  # fp32 on every CPU: numbers are compared


@pytest.fixture(scope="module")
def trained(tiny_bert, squad_file, tmp_path_factory, runner) -> Path:
    out = tmp_path_factory.mktemp("qa-model") / "model"
    r = runner.invoke(app,
                      ["qa", "train", "--model", str(tiny_bert), "--train", str(squad_file), "--dev", str(squad_file),
                            "-o", str(out), *TRAIN_ARGS])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["allow_no_answer"] is True and "f1" in summary and "null_threshold" in summary
    return out


def test_train_output_dir(trained):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    meta = json.loads((trained / "bertkit.json").read_text())
    assert meta["task"] == "qa" and meta["allow_no_answer"] is True
    assert (meta["max_length"], meta["doc_stride"], meta["n_best"], meta["max_answer_length"]) == (32, 8, 20, 30)
    assert isinstance(meta["null_threshold"], float)
    metrics = json.loads((trained / "metrics.json").read_text())
    assert {"exact", "f1", "HasAns_f1", "NoAns_f1"} <= set(metrics["dev"])
    model = AutoModelForQuestionAnswering.from_pretrained(trained)
    tok = AutoTokenizer.from_pretrained(trained)
    out = model(**tok("who ?", "jim henson", return_tensors="pt"))
    assert out.start_logits.shape == out.end_logits.shape


def test_a_folder_of_bertkit_0_1_with_version_2_still_loads(trained, tmp_path, runner):
    """bertkit.json said `version_2` before the name became allow_no_answer everywhere: such folders still load."""
    import shutil

    from bertkit.qa.api import QA

    old = tmp_path / "old"
    shutil.copytree(trained, old)
    meta = json.loads((old / "bertkit.json").read_text())
    meta["version_2"] = meta.pop("allow_no_answer")
    (old / "bertkit.json").write_text(json.dumps(meta))
    assert QA(str(old)).allow_no_answer is True
    r = runner.invoke(app, ["qa", "ask", "-m", str(old), "-q", "who ?", "--context", "jim henson", "--null-threshold",
                            "-1e9"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.splitlines()[0])["answer"] == ""  # may answer "no answer", as trained


def test_train_is_reproducible(tiny_bert, squad_file, tmp_path, runner, trained):
    out = tmp_path / "again"
    r = runner.invoke(app,
                      ["qa", "train", "--model", str(tiny_bert), "--train", str(squad_file), "--dev", str(squad_file),
                            "-o", str(out), *TRAIN_ARGS])
    assert r.exit_code == 0, r.output
    a = json.loads((trained / "metrics.json").read_text())["history"]
    b = json.loads((out / "metrics.json").read_text())["history"]
    assert a == b


def test_train_v1_flat_jsonl(tiny_bert, tmp_path, runner):
    rows = []
    for ctx, qs in CONTEXTS:
        for q, a in qs:
            if a is not None:
                rows.append({"question": q, "context": ctx, "answers": {"text": [a], "answer_start": [ctx.index(a)]}})
    f = tmp_path / "train.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "m"
    r = runner.invoke(app,
                      ["qa", "train", "--model", str(tiny_bert), "--train", str(f), "--dev", str(f), "-o", str(out),
                            *TRAIN_ARGS, "--epochs", "1"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["allow_no_answer"] is False
    assert json.loads((out / "bertkit.json").read_text())["allow_no_answer"] is False


def test_bad_answer_start_is_an_error_or_a_counted_skip(tiny_bert, tmp_path, runner):
    data = squad_json()
    data["data"][0]["paragraphs"][1]["qas"][0]["answers"][0]["answer_start"] = 3  # "paris" is at 0
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(data))
    args = ["qa", "train", "--model", str(tiny_bert), "--train", str(f), *TRAIN_ARGS, "--epochs", "1"]
    r = runner.invoke(app, [*args, "-o", str(tmp_path / "m1")])
    assert r.exit_code == 1
    assert "bad.json: question 'q3': answer_start 3 does not match 'paris' in the context (found 'is is')" in r.stderr
    assert "--skip-bad-rows" in r.stderr and not (tmp_path / "m1").exists()
    r = runner.invoke(app, [*args, "-o", str(tmp_path / "m2"), "--skip-bad-rows"])
    assert r.exit_code == 0, r.output
    assert "skipped 1 bad row" in r.stderr
    assert json.loads(r.stdout)["train_questions"] == 5


def test_bad_stride_is_an_error(tiny_bert, squad_file, tmp_path, runner):
    r = runner.invoke(app,
                      ["qa", "train", "--model", str(tiny_bert), "--train", str(squad_file), "-o", str(tmp_path / "m"),
                            "--max-length", "16", "--doc-stride", "8"])
    assert r.exit_code == 1
    assert "--doc-stride 8 does not fit" in r.stderr and "--max-length 16" in r.stderr


def test_always_answer_with_unanswerable_is_an_error(tiny_bert, squad_file, tmp_path, runner):
    r = runner.invoke(app,
                      ["qa", "train", "--model", str(tiny_bert), "--train", str(squad_file), "-o", str(tmp_path / "m"),
                            "--always-answer", *TRAIN_ARGS])
    assert r.exit_code == 2 and "unanswerable" in r.stderr


def test_eval_writes_official_files_and_scores_agree(trained, squad_file, tmp_path, runner):
    from bertkit.qa.squad_metrics import squad_evaluate

    out = tmp_path / "preds"
    r = runner.invoke(app, ["qa", "eval", "--model", str(trained), "--data", str(squad_file), "-o", str(out)])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    for k in ("exact", "f1", "total", "HasAns_exact", "HasAns_f1", "NoAns_exact", "NoAns_f1", "best_exact",
              "best_exact_thresh", "best_f1", "best_f1_thresh"):
        assert k in res
    assert res["total"] == 6
    preds = json.loads((out / "predictions.json").read_text())
    na = json.loads((out / "na_probs.json").read_text())
    nbest = json.loads((out / "nbest.json").read_text())
    assert set(preds) == set(na) == set(nbest) == {f"q{i}" for i in range(1, 7)}
    assert set(nbest["q1"][0]) == {"text", "probability", "start_logit", "end_logit"}
    thr = json.loads((trained / "bertkit.json").read_text())["null_threshold"]
    assert squad_evaluate(json.loads(squad_file.read_text()), preds, na, na_prob_thresh=thr) == res
    # the predictions file scored alone, as the official script does
    r2 = runner.invoke(app, ["qa", "eval", "--predictions", str(out / "predictions.json"), "--data", str(squad_file)])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.stdout) == squad_evaluate(json.loads(squad_file.read_text()), preds)
    r3 = runner.invoke(app,
                       ["qa", "eval", "-p", str(out / "predictions.json"), "--na-probs", str(out / "na_probs.json"),
                             "--na-prob-thresh", str(thr), "--data", str(squad_file)])
    assert json.loads(r3.stdout) == res


def test_eval_on_v1_data_answers_every_question_unless_null(trained, tmp_path, runner):
    v1 = tmp_path / "tiny-v1.json"
    v1.write_text(json.dumps(squad_json(version_2=False)))
    r = runner.invoke(app, ["qa", "eval", "--model", str(trained), "--data", str(v1), "-o", str(tmp_path / "a"),
                            "--null-threshold", "-1e9"])
    assert r.exit_code == 0, r.output
    assert "no unanswerable questions" in r.stderr
    preds = json.loads((tmp_path / "a" / "predictions.json").read_text())
    assert len(preds) == 5 and all(preds.values())
    assert not (tmp_path / "a" / "na_probs.json").exists()
    # --allow-no-answer: the v2.0 model may abstain; at threshold -1e9 the null always wins
    r = runner.invoke(app, ["qa", "eval", "--model", str(trained), "--data", str(v1), "-o", str(tmp_path / "b"),
                            "--null-threshold", "-1e9", "--allow-no-answer"])
    assert r.exit_code == 0, r.output
    assert set(json.loads((tmp_path / "b" / "predictions.json").read_text()).values()) == {""}
    assert json.loads(r.stdout)["exact"] == 0.0
    r = runner.invoke(app, ["qa", "eval", "--model", str(trained), "--data", str(v1), "--bf16"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["total"] == 5


def test_predictions_path_exact_numbers(squad_file, tmp_path, runner):
    preds = {"q1": "a nice puppet", "q2": "the nice puppet!", "q3": "Paris", "q4": "", "q5": "germany", "q6": "night"}
    p = tmp_path / "p.json"
    p.write_text(json.dumps(preds))
    r = runner.invoke(app, ["qa", "eval", "--predictions", str(p), "--data", str(squad_file)])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    # q1, q2 (normalised), q3, q4 (no answer) exact; q5 wrong; q6 "night" vs "at night": f1 2/3
    assert res["exact"] == pytest.approx(100 * 4 / 6)
    assert res["f1"] == pytest.approx(100 * (4 + 2 / 3) / 6)
    assert res["NoAns_total"] == 1 and res["HasAns_total"] == 5
    r = runner.invoke(app, ["qa", "eval", "--predictions", str(p), "--data", str(squad_file), "--model", "x"])
    assert r.exit_code == 2


def test_ask_single_and_top_k(trained, runner):
    r = runner.invoke(app, ["qa", "ask", "--model", str(trained), "-q", "Who was Jim Henson?", "--context",
                            "Jim Henson was a nice puppet", "--top-k", "3", "--null-threshold", "1e9"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    ctx = "Jim Henson was a nice puppet"
    assert rec["no_answer"] is False and ctx[rec["start"] : rec["end"]] == rec["answer"]
    assert 0 < rec["score"] <= 1 and len(rec["alternatives"]) == 2
    for alt in rec["alternatives"]:
        assert ctx[alt["start"] : alt["end"]] == alt["answer"] and alt["score"] <= rec["score"] + 1e-9
    # a v2 model says "no answer" when the null wins
    r = runner.invoke(app, ["qa", "ask", "--model", str(trained), "-q", "who ?", "--context", ctx, "--null-threshold",
                            "-1e9"])
    rec = json.loads(r.stdout)
    assert rec["no_answer"] is True and rec["answer"] == "" and rec["start"] is None
    # --always-answer: the same question at the same threshold gets its best span
    r = runner.invoke(app, ["qa", "ask", "--model", str(trained), "-q", "who ?", "--context", ctx, "--null-threshold",
                            "-1e9",
                            "--always-answer"])
    rec = json.loads(r.stdout)
    assert rec["no_answer"] is False and rec["answer"] and ctx[rec["start"] : rec["end"]] == rec["answer"]


def test_ask_long_context_file(trained, tmp_path, runner):
    ctx = " ".join(["the moon was born at night ."] * 600) + " jim henson was a nice puppet ."
    f = tmp_path / "ctx.txt"
    f.write_text(ctx)
    r = runner.invoke(app,
                      ["qa", "ask", "--model", str(trained), "-q", "who was jim henson ?", "--context-file", str(f),
                            "--null-threshold", "1e9"])
    assert r.exit_code == 0, r.output
    rec = json.loads(r.stdout)
    assert ctx[rec["start"] : rec["end"]] == rec["answer"] != ""


def test_ask_batch_stdin_keeps_order_and_fields(trained, runner):
    rows = [{"id": i, "question": q, "context": ctx, "tag": f"t{i}"}
            for i, (ctx, qs) in enumerate(CONTEXTS * 3) for q, _ in qs[:1]]
    rows[4]["context"] = " ".join(["night day"] * 300)  # a long one in the middle
    stdin = "\n".join(json.dumps(r) for r in rows) + "\n"
    r = runner.invoke(app, ["qa", "ask", "--model", str(trained)], input=stdin)
    assert r.exit_code == 0, r.output
    out = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["id"] for o in out] == [r["id"] for r in rows]
    assert [o["tag"] for o in out] == [r["tag"] for r in rows]
    for o in out:
        assert {"answer", "score", "start", "end", "no_answer"} <= set(o)
        if not o["no_answer"]:
            assert o["context"][o["start"] : o["end"]] == o["answer"]


def test_ask_errors(trained, runner):
    r = runner.invoke(app, ["qa", "ask", "--model", str(trained), "-q", "who ?"])
    assert r.exit_code == 2 and "--context" in r.stderr
    r = runner.invoke(app, ["qa", "ask", "--model", str(trained)], input='{"question": "who ?"}\n')
    assert r.exit_code == 1 and "<stdin>:1: needs a non-empty 'context'" in r.stderr


def test_python_api_like_the_old_pipeline(trained):
    from bertkit import QA

    qa = QA(str(trained), null_threshold=1e9)
    ctx = "Jim Henson was a nice puppet"
    one = qa(question="Who was Jim Henson?", context=ctx)
    assert set(one) == {"score", "start", "end", "answer"} and ctx[one["start"] : one["end"]] == one["answer"]
    many = qa(question=["Who was Jim Henson?", "What is the capital?"], context=[ctx, "paris is the capital"])
    # batched with a longer padded row: the same answer, the score equal to float32 rounding (not bit-equal)
    assert isinstance(many, list) and len(many) == 2 and many[0] == pytest.approx(one, rel=1e-6)
    dicts = qa([{"question": "Who was Jim Henson?", "context": ctx}])
    assert dicts == [one]
    top = qa(question="Who was Jim Henson?", context=ctx, top_k=3)
    assert len(top) == 3 and top[0] == one
    qa.null_threshold = -1e9
    assert qa(question="Who?", context=ctx)["answer"] == ""


def test_long_context_answer_near_the_end_is_found(trained):
    """3,000+ words, the answer near the end: with an oracle head that fires on 'nice' (start) and 'puppet' (end),
    the windows, stride and post-processing must return exactly those characters."""
    from types import SimpleNamespace

    import torch

    from bertkit import QA

    qa = QA(str(trained), max_length=64, doc_stride=16)
    tok = qa.tokenizer
    nice, puppet = tok.convert_tokens_to_ids(["nice", "puppet"])

    class Oracle(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None, token_type_ids=None):
            s = (input_ids == nice).float() * 10
            e = (input_ids == puppet).float() * 10
            return SimpleNamespace(start_logits=s, end_logits=e)

    qa.model = Oracle()
    filler = "the moon was born at night and the sun died in the day . berlin is a city in germany . "
    words = (filler * 200).split()[:3100]
    ctx = " ".join(words) + " jim henson was a nice puppet . " + " ".join(words[:150])
    assert len(ctx.split()) > 3000
    res = qa(question="Who was Jim Henson?", context=ctx)
    assert res["answer"] == "nice puppet" and ctx[res["start"] : res["end"]] == "nice puppet"
    assert res["start"] == ctx.index("nice puppet") and res["start"] > 0.9 * len(ctx)


@pytest.mark.parametrize("cmd,alias", [("train", "--version-2"), ("eval", "--null"), ("ask", "--no-null")])
def test_unreleased_hidden_aliases_are_gone(runner, cmd, alias):
    r = runner.invoke(app, ["qa", cmd, alias])
    assert r.exit_code == 2 and "No such option" in r.output
