"""`qa train`'s training windows in Arrow (bertkit.qa.prepare): the same windows and labels as build_features,
the cache, --num-proc, and the CLI options."""

from __future__ import annotations

import copy
import json
import random

import numpy as np
import pytest
import torch
from helpers import invoke

from bertkit.errors import BertkitError
from bertkit.qa.data import QAExample, load_qa
from bertkit.qa.features import build_features
from bertkit.qa.prepare import training_windows, window_counts
from bertkit.qa.settings import QAConfig
from bertkit.qa.task import QATask

WORDS = "jim henson was a nice puppet who the of paris france capital city river moon sun night day".split()
ROWS = ("input_ids", "token_type_ids", "cls_index", "start_positions", "end_positions", "example_idx")


@pytest.fixture(scope="module")
def tok(tiny_bert):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert)


def synthetic(n: int = 40, seed: int = 0) -> list[QAExample]:
    """Short and long contexts (many windows), answers anywhere (window edges included), unanswerable questions."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.choice([5, 30, 120, 260]))]
        k = rng.randrange(len(words))
        words[k] = "berlin"
        ctx = " ".join(words)
        start = len(" ".join(words[:k])) + (1 if k else 0)
        q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) + " ?"
        if i % 5 == 4:
            out.append(QAExample(f"q{i}", q, ctx, {"text": [], "answer_start": []}, True))
        else:
            span = ctx[start : start + len("berlin") + (len(" " + words[k + 1]) if k + 1 < len(words) and i % 2 else 0)]
            out.append(QAExample(f"q{i}", q, ctx, {"text": [span], "answer_start": [start]}, False))
    return out


def cfg(tmp_path, **kw) -> QAConfig:
    kw.setdefault("cache_dir", str(tmp_path / "cache"))
    return QAConfig(train=kw.pop("train", str(tmp_path / "train.json")), **kw)


def write_squad(path, examples) -> str:
    paras = [{"context": e.context, "qas": [{"id": e.id, "question": e.question, "is_impossible": e.is_impossible,
                                             "answers": [{"text": t, "answer_start": s} for t, s in
                                                         zip(e.answers["text"], e.answers["answer_start"])]}]}
             for e in examples]
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paras}]}))
    return str(path)


def assert_same_windows(arrow_feats, mem) -> None:
    """Every column build_features gives for training, equal row for row (offsets are not stored for training)."""
    assert len(arrow_feats) == len(mem) > 0
    assert "offsets" not in arrow_feats.columns and "offsets" in mem.columns
    for name in ROWS:
        assert (name in arrow_feats.columns) == (name in mem.columns), name
        if name in mem.columns:
            got = arrow_feats.columns[name]
            assert [list(x) if isinstance(x, list) else int(x) for x in got] == \
                   [list(x) if isinstance(x, list) else int(x) for x in mem.columns[name]], name
    assert np.array_equal(arrow_feats.lengths, mem.lengths)
    # and the batches the task builds from them
    task = QATask(0, True, None)
    idx = list(range(0, len(mem), max(1, len(mem) // 7)))[:8]
    a, b = task.collate(arrow_feats.rows(idx)), task.collate(mem.rows(idx))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("max_length,stride,side",
                         [(32, 8, "right"), (48, 16, "right"), (40, 12, "left"), (384, 128, "right")])
def test_synthetic_windows_equal_build_features(tok, tmp_path, monkeypatch, max_length, stride, side):
    monkeypatch.setattr("bertkit.qa.prepare.BATCH_QUESTIONS", 7)  # several map batches: global example_idx
    t = copy.deepcopy(tok)
    t.padding_side = side  # left: context first (XLNet-style), as build_features follows it
    exs = synthetic()
    spec = write_squad(tmp_path / "train.json", exs)
    feats = training_windows(exs, spec, t, cfg(tmp_path, max_length=max_length, doc_stride=stride))
    assert_same_windows(feats, build_features(t, exs, max_length, stride, labels=True))


def test_doc_stride_windows_label_the_answer_where_it_is_whole(tok, tmp_path):
    """A long context: every window whose context holds the whole answer points at it, the others at [CLS]."""
    words = ["night"] * 150 + ["berlin", "river"] + ["day"] * 80
    ctx = " ".join(words)
    ex = QAExample("q", "which city ?", ctx, {"text": ["berlin river"], "answer_start": [ctx.index("berlin")]}, False)
    feats = training_windows([ex], write_squad(tmp_path / "train.json", [ex]), tok,
                             cfg(tmp_path, max_length=40, doc_stride=16))
    sep = tok.sep_token_id
    berlin, river = tok.convert_tokens_to_ids(["berlin", "river"])
    holding = 0
    for r in feats.rows(range(len(feats))):
        ids, s, e = r["input_ids"], r["start_positions"], r["end_positions"]
        context = ids[ids.index(sep) + 1 : -1]  # [CLS] question [SEP] context [SEP]
        assert len(ids) <= 40 and r["example_idx"] == 0 and r["cls_index"] == 0
        whole = berlin in context and river in context and context.index(river) == context.index(berlin) + 1
        if whole:
            holding += 1
            assert (ids[s], ids[e], e - s) == (berlin, river, 1)
        else:
            assert s == e == r["cls_index"]
    assert holding >= 2 and len(feats) - holding >= 2  # the stride repeats the answer; other windows miss it
    assert window_counts(feats) == {"windows": len(feats), "at_cls": len(feats) - holding,
                                    "mean_length": float(np.mean(feats.lengths))}


def test_real_squad2_windows_equal_build_features(shared_data, minilm, tmp_path):
    from transformers import AutoTokenizer

    spec = str(shared_data / "squad" / "squad2-cs224n" / "dev-v2.0.json")
    exs = load_qa(spec, limit=300).examples
    t = AutoTokenizer.from_pretrained(minilm)
    feats = training_windows(exs, spec, t, cfg(tmp_path, train=spec, max_length=128, doc_stride=48, limit=300))
    mem = build_features(t, exs, 128, 48, labels=True)
    assert len(feats) > len(exs) + 100  # many contexts are longer than one window
    assert_same_windows(feats, mem)
    assert 0 < window_counts(feats)["at_cls"] < len(feats)


def test_cache_reused_and_keyed_by_every_setting(tok, tmp_path, capsys):
    exs = synthetic(12)
    spec = write_squad(tmp_path / "train.json", exs)
    first = training_windows(exs, spec, tok, cfg(tmp_path, max_length=32, doc_stride=8))
    err = capsys.readouterr().err
    assert "tokenized 12 questions" in err and "cache: reused" not in err
    again = training_windows(exs, spec, tok, cfg(tmp_path, max_length=32, doc_stride=8))
    err = capsys.readouterr().err
    assert f"cache: reused the {len(first)} training windows of {spec}" in err and "tokenized 12 questions" not in err
    assert again.dataset.cache_files == first.dataset.cache_files
    def entries():
        return sorted(p.name for p in (tmp_path / "cache").iterdir())

    assert len(entries()) == 1 and entries()[0].startswith("qa-windows-")
    for kw in ({"doc_stride": 9}, {"max_length": 33}, {"limit": 5}, {"skip_bad_rows": True}):
        training_windows(exs, spec, tok, cfg(tmp_path, **{"max_length": 32, "doc_stride": 8, **kw}))
        assert "tokenized 12 questions" in capsys.readouterr().err, kw
    write_squad(tmp_path / "train.json", exs[:11])  # the file changed
    training_windows(exs[:11], spec, tok, cfg(tmp_path, max_length=32, doc_stride=8))
    assert "tokenized 11 questions" in capsys.readouterr().err
    assert len(entries()) == 6 and not [n for n in entries() if "tmp" in n]


def test_no_cache_writes_nothing_and_a_bad_stride_leaves_nothing(tok, tmp_path):
    exs = synthetic(6)
    spec = write_squad(tmp_path / "train.json", exs)
    feats = training_windows(exs, spec, tok, cfg(tmp_path, no_cache=True, max_length=32, doc_stride=8))
    assert len(feats) > 6 and not (tmp_path / "cache").exists()
    with pytest.raises(BertkitError, match="--doc-stride 30 does not fit"):
        training_windows(exs, spec, tok, cfg(tmp_path, max_length=32, doc_stride=30))
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_num_proc_2_gives_the_same_windows(tok, tmp_path):
    exs = synthetic(60, seed=3)
    spec = write_squad(tmp_path / "train.json", exs)
    one = training_windows(exs, spec, tok, cfg(tmp_path, cache_dir=str(tmp_path / "c1"), max_length=32, doc_stride=8))
    two = training_windows(exs, spec, tok,
                           cfg(tmp_path, cache_dir=str(tmp_path / "c2"), max_length=32, doc_stride=8, num_proc=2))
    assert len(two.dataset.cache_files) == 2  # really two shards
    for name in ROWS:
        if name in one.columns:
            a, b = one.columns[name], two.columns[name]
            assert (a == b if isinstance(a, list) else np.array_equal(a, b)), name


def test_cli_second_run_reuses_the_cache_and_trains_the_same(tiny_bert, tmp_path):
    spec = write_squad(tmp_path / "train.json", synthetic(16))
    args = ["qa", "train", "--model", str(tiny_bert), "--train", spec, "--epochs", "1", "--batch-size", "8",
            "--max-length", "48", "--doc-stride", "16", "--cache-dir", str(tmp_path / "cache")]
    r1 = invoke([*args, "-o", str(tmp_path / "m1")])
    assert r1.exit_code == 0, r1.output
    assert "tokenized 16 questions" in r1.stderr and "cache: reused" not in r1.stderr
    r2 = invoke([*args, "-o", str(tmp_path / "m2")])
    assert r2.exit_code == 0, r2.output
    assert "cache: reused the" in r2.stderr and "tokenized 16 questions" not in r2.stderr
    s1, s2 = json.loads(r1.stdout), json.loads(r2.stdout)
    assert s1["train_windows"] == s2["train_windows"] > 16 and s1["train_questions"] == 16
    assert (s1["final_loss"], s1["steps"]) == (s2["final_loss"], s2["steps"])  # the same windows, the same training
    line = next(ln for ln in r2.stderr.splitlines() if "training windows (" in ln)
    assert f"{s2['train_windows']} training windows ({s2['train_windows'] - 16} extra from --doc-stride 16" in line
    r3 = invoke([*args, "-o", str(tmp_path / "m3"), "--num-proc", "0"])
    assert r3.exit_code == 2 and "--num-proc must be an integer of at least 1" in r3.output
