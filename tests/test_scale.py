"""Data at scale: streamed reading, Arrow features, the tokenization cache, --num-proc, long-text windows."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import FILL, NEG, POS, invoke, jsonl, sentiment_rows
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit import console
from bertkit.classify import prepare
from bertkit.classify.settings import ClassifyConfig
from bertkit.classify.task import featurize
from bertkit.classify.windows import aggregate_logits, featurize_windows
from bertkit.data import stream


@pytest.fixture(scope="module")
def tok(tiny_bert):
    from bertkit.modeling import load_tokenizer

    return load_tokenizer(str(tiny_bert))


@pytest.fixture
def logs(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(console, "log", seen.append)
    return seen


def write_tsv(path: Path, rows, header="sentence\tlabel") -> Path:
    path.write_text(header + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def long_rows(n: int, seed: int = 0, words: tuple[int, int] = (5, 60)) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        y = i % 2
        ws = [rng.choice(FILL) for _ in range(rng.randint(*words))] + [rng.choice(POS if y else NEG)]
        rng.shuffle(ws)
        out.append((" ".join(ws), y))
    return out


def prepared(path: Path, tok, cache: Path | None, **kw):
    cfg = ClassifyConfig(train=str(path), cache_dir=str(cache) if cache else None, no_cache=cache is None, **kw)
    split = prepare.read_split(str(path), cfg, None, None, cfg.limit, "train")
    return split, prepare.tokenize_split(split, tok, cfg)


def same_rows(a, b) -> None:
    assert len(a) == len(b)
    assert np.array_equal(a.lengths, b.lengths)
    for i in range(len(a)):
        ra, rb = a.rows([i])[0], b.rows([i])[0]
        assert ra.keys() == rb.keys(), (ra.keys(), rb.keys())
        for k in ra:
            assert np.array_equal(np.asarray(ra[k]), np.asarray(rb[k])), (i, k, ra[k], rb[k])


# -- streamed reading ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl", ".parquet", ".json"])
def test_iter_frames_equals_read_table(tmp_path, suffix):
    from bertkit.data.io import read_table

    df = pd.DataFrame({"text": [f"row, {i} \"q\"" for i in range(23)], "label": [str(i % 3) for i in range(23)]})
    p = tmp_path / f"d{suffix}"
    {".tsv": lambda: df.to_csv(p, sep="\t", index=False), ".csv": lambda: df.to_csv(p, index=False),
     ".jsonl": lambda: df.to_json(p, orient="records", lines=True), ".parquet": lambda: df.to_parquet(p),
     ".json": lambda: df.to_json(p, orient="records")}[suffix]()
    for limit in (None, 10, 23, 50):
        whole = read_table(str(p), limit=limit)
        frames = list(stream.iter_frames(str(p), limit=limit, chunk_rows=4))
        assert all(len(f) <= 4 for f in frames)
        got = pd.concat(frames)
        assert list(got.index) == list(range(len(whole)))  # global row positions
        pd.testing.assert_frame_equal(got.reset_index(drop=True), whole)


def test_errors_name_the_row_of_the_file_across_chunks(tmp_path, tok, monkeypatch):
    monkeypatch.setattr(stream, "CHUNK_ROWS", 5)
    rows = sentiment_rows(20)
    rows[13] = ("  ", 1)
    with pytest.raises(Exception, match=r"row 14: empty text in column 'sentence'"):
        prepared(write_tsv(tmp_path / "t.tsv", rows), tok, tmp_path / "c")
    dev = sentiment_rows(20)
    dev[11] = (dev[11][0], 7)
    cfg = ClassifyConfig(cache_dir=str(tmp_path / "c"))
    train = prepare.read_split(str(write_tsv(tmp_path / "ok.tsv", sentiment_rows(20))), cfg, None, None, None, "train")
    with pytest.raises(Exception, match=r"row 12: unknown label '7'"):
        prepare.read_split(str(write_tsv(tmp_path / "dev.tsv", dev)), cfg, train.cols, train.space, None, "validation")


def test_label_detection_sees_every_row(tmp_path, tok, monkeypatch):
    """A label first seen in the last chunk still counts (3 labels: multi-class)."""
    monkeypatch.setattr(stream, "CHUNK_ROWS", 4)
    rows = sentiment_rows(30) + [("the film", 2)]
    split, feats = prepared(write_tsv(tmp_path / "t.tsv", rows), tok, tmp_path / "c")
    assert split.space.problem_type == "multiclass" and split.space.names == ["0", "1", "2"] and split.rows == 31
    assert list(feats.columns["labels"]) == [y for _, y in rows]


# -- Arrow features ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_length", [8, 128])
def test_arrow_features_equal_list_features(tmp_path, tok, max_length):
    rows = long_rows(57, words=(1, 20))
    split, feats = prepared(write_tsv(tmp_path / "t.tsv", rows), tok, tmp_path / "c", max_length=max_length)
    old, n_trunc = featurize(tok, [t for t, _ in rows], None, max_length, np.array([y for _, y in rows]))
    same_rows(feats, old)
    assert int(np.sum(feats.columns["truncated"])) == n_trunc and (n_trunc > 0) == (max_length == 8)
    assert np.array_equal(feats.columns["labels"], np.stack(old.columns["labels"]))


def test_arrow_features_pairs_and_multilabel(tmp_path, tok):
    rows = [(t, t[::-1], "a,b" if i % 3 == 0 else ("b" if i % 3 == 1 else "c"))
            for i, (t, _) in enumerate(long_rows(20))]
    p = write_tsv(tmp_path / "t.tsv", rows, header="sentence1\tsentence2\tlabel")
    split, feats = prepared(p, tok, tmp_path / "c", max_length=16)
    assert split.cols.pair == "sentence2" and split.space.problem_type == "multilabel"
    from bertkit.classify.data import encode_labels

    y = encode_labels(pd.Series([r[2] for r in rows]), split.space, "x", ",")
    old, _ = featurize(tok, [r[0] for r in rows], [r[1] for r in rows], 16, y)
    same_rows(feats, old)


def test_arrow_windows_equal_list_windows(tmp_path, tok):
    rows = long_rows(40)
    split, feats = prepared(write_tsv(tmp_path / "t.tsv", rows), tok, tmp_path / "c", max_length=16, long_text="window",
                            stride=4)
    old, n_split = featurize_windows(tok, [t for t, _ in rows], None, 16, 4, np.array([y for _, y in rows]))
    same_rows(feats, old)
    assert n_split > 0 and len(feats) > len(rows) and sorted(set(feats.columns["row"])) == list(range(len(rows)))


# -- the cache ---------------------------------------------------------------------------------------------------

def test_cache_reused_and_invalidated(tmp_path, tok, logs):
    rows = long_rows(30)
    p = write_tsv(tmp_path / "t.tsv", rows)
    cache = tmp_path / "c"
    _, first = prepared(p, tok, cache, max_length=16)
    assert any(m.startswith("tokenized 30 rows") for m in logs)
    logs.clear()
    _, again = prepared(p, tok, cache, max_length=16)
    assert any("reused the tokenized features" in m for m in logs)
    assert not any(m.startswith("tokenized") for m in logs)
    same_rows(first, again)

    def tokenizes(**kw) -> bool:
        logs.clear()
        prepared(kw.pop("path", p), kw.pop("tokenizer", tok), cache, **{"max_length": 16, **kw})
        return any(m.startswith("tokenized") for m in logs)

    assert tokenizes(max_length=17)
    assert not tokenizes(max_length=17)
    assert tokenizes(long_text="window", stride=2)
    import copy

    other = copy.deepcopy(tok)
    other.add_tokens(["zzzfilm"])
    assert tokenizes(tokenizer=other)
    rows[5] = ("the film was great great", 1)
    write_tsv(p, rows)  # same name and size class, other content
    assert tokenizes()
    assert not tokenizes()


def test_no_cache_writes_nothing(tmp_path, tok, logs):
    p = write_tsv(tmp_path / "t.tsv", long_rows(12))
    _, a = prepared(p, tok, None, max_length=16)
    _, b = prepared(p, tok, None, max_length=16)
    assert sum(m.startswith("tokenized") for m in logs) == 2  # built twice, never reused
    same_rows(a, b)


def test_num_proc_2_gives_identical_features(tmp_path, tok):
    rows = long_rows(2500, words=(1, 30))
    p = write_tsv(tmp_path / "t.tsv", rows)
    _, one = prepared(p, tok, tmp_path / "c1", max_length=24)
    _, two = prepared(p, tok, tmp_path / "c2", max_length=24, num_proc=2)
    assert len(two.dataset.cache_files) == 2  # really two shards
    same_rows(one, two)


def test_cli_second_run_reuses_the_cache(tmp_path, tiny_bert):
    train = write_tsv(tmp_path / "t.tsv", sentiment_rows(40))
    args = ["classify", "train", "--model", str(tiny_bert), "--train", str(train), "--epochs", "0.1", "--batch-size",
            "8",
            "--cache-dir", str(tmp_path / "cache"), "--no-tune-thresholds"]
    r1 = invoke([*args, "-o", str(tmp_path / "m1")])
    assert r1.exit_code == 0, r1.output
    assert "tokenized 40 rows" in r1.stderr and "reused" not in r1.stderr
    r2 = invoke([*args, "-o", str(tmp_path / "m2")])
    assert r2.exit_code == 0, r2.output
    assert "cache: reused the tokenized features" in r2.stderr and "tokenized 40 rows" not in r2.stderr
    r3 = invoke([*args, "-o", str(tmp_path / "m3"), "--no-cache"])
    assert "tokenized 40 rows" in r3.stderr and "reused" not in r3.stderr
    r4 = invoke([*args, "-o", str(tmp_path / "m4"), "--num-proc", "0"])
    assert r4.exit_code == 2 and "--num-proc" in r4.output


# -- long texts ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("max_length,stride", [(8, 0), (8, 3), (16, 4), (12, 8)])
def test_windows_cover_the_whole_text(tok, max_length, stride):
    texts = [t for t, _ in long_rows(25, seed=3, words=(1, 80))]
    feats, _ = featurize_windows(tok, texts, None, max_length, stride)
    specials = set(tok.all_special_ids)
    rows = np.asarray(feats.columns["row"])
    for r, text in enumerate(texts):
        full = tok(text, add_special_tokens=False)["input_ids"]
        wins = [[t for t in feats.columns["input_ids"][i] if t not in specials] for i in np.flatnonzero(rows == r)]
        assert all(len(w) + 2 <= max_length for w in wins)
        rebuilt = list(wins[0])
        for w in wins[1:]:
            assert w[:stride] == rebuilt[len(rebuilt) - stride:] if stride else True  # consecutive windows overlap
            rebuilt += w[stride:]
        assert rebuilt == full


def test_stride_that_cannot_advance_is_an_error(tok):
    with pytest.raises(Exception, match="--stride 6 does not fit"):
        featurize_windows(tok, ["the film"], None, 8, 6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.floats(-50, 50), st.floats(-50, 50)), min_size=1, max_size=40),
       st.randoms(use_true_random=False), st.sampled_from(["mean", "max"]))
def test_aggregation_is_order_independent(windows, rnd, how):
    rows = np.array([w[0] for w in windows])
    logits = np.array([w[1:] for w in windows])
    perm = list(range(len(windows)))
    rnd.shuffle(perm)
    r1, a1 = aggregate_logits(logits, rows, how)
    r2, a2 = aggregate_logits(logits[perm], rows[perm], how)
    assert np.array_equal(r1, r2) and np.array_equal(a1, a2)  # bit for bit
    for k, r in enumerate(r1):
        sel = logits[rows == r]
        assert np.allclose(a1[k], sel.mean(axis=0) if how == "mean" else sel.max(axis=0))


@pytest.fixture(scope="module")
def window_model(tiny_bert, tmp_path_factory):
    d = tmp_path_factory.mktemp("win")
    train = write_tsv(d / "train.tsv", long_rows(60, seed=0))
    dev = write_tsv(d / "dev.tsv", long_rows(20, seed=1))
    out = d / "model"
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "--dev", str(dev), "-o",
                str(out),
                "--epochs", "1", "--batch-size", "8", "--max-length", "16", "--long-text", "window", "--stride", "4",
                "--aggregate", "max"])
    assert r.exit_code == 0, r.output
    return out, dev, json.loads(r.stdout)


def test_predict_with_windows_uses_the_saved_settings(window_model, tmp_path):
    import torch

    from bertkit.classify.predict import Classifier

    out, dev, summary = window_model
    meta = json.loads((out / "bertkit.json").read_text())
    assert (meta["long_text"], meta["stride"], meta["aggregate"], meta["max_length"]) == ("window", 4, "max", 16)
    assert summary["train_windows"] > summary["train_rows"] == 60
    texts = [t for t, _ in long_rows(9, seed=5)]
    clf = Classifier(str(out))
    probs = clf.predict_proba(texts)
    feats, _ = featurize_windows(clf.tokenizer, texts, None, 16, 4)
    with torch.no_grad():  # one window at a time, no padding
        logits = torch.cat([clf.task.logits(clf.model, clf.task.collate(feats.rows([i])))
                            for i in range(len(feats))]).numpy()
    rows = np.array(feats.columns["row"])
    margin = np.array([max(logits[j, 1] - logits[j, 0] for j in np.flatnonzero(rows == r)) for r in range(9)])
    assert np.allclose(probs[:, 1], 1 / (1 + np.exp(-margin)), atol=1e-5)
    src = tmp_path / "in.txt"
    src.write_text("\n".join(texts) + "\n")
    r = invoke(["classify", "predict", "-m", str(out), str(src), "--all-scores"])
    recs = jsonl(r.stdout)
    assert len(recs) == 9 and np.allclose([x["scores"][clf.space.names[1]] for x in recs], probs[:, 1], atol=1e-5)
    ev = invoke(["classify", "eval", "-m", str(out), "--data", str(dev)])
    assert ev.exit_code == 0 and json.loads(ev.stdout)["accuracy"] == pytest.approx(summary["accuracy"], abs=1e-9)
