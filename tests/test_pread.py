"""Rows and columns read with pread (bertkit.data.pread) equal what pyarrow reads through the mapping, and reading
them does not map the file into the process's resident memory."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

datasets = pytest.importorskip("datasets")

from bertkit.data import arrow  # noqa: E402

FEATURES = datasets.Features({
    "input_ids": datasets.Sequence(datasets.Value("int32")),
    "token_type_ids": datasets.Sequence(datasets.Value("int8")),
    "labels": datasets.Sequence(datasets.Value("float32"), length=3),
    "y": datasets.Value("int64"),
    "truncated": datasets.Value("bool"),
    "length": datasets.Value("int32"),
})


def _rows(n: int, seed: int) -> dict[str, list]:
    rng = np.random.default_rng(seed)
    ids = [rng.integers(0, 30000, rng.integers(0, 20)).tolist() for _ in range(n)]
    return {"input_ids": ids, "token_type_ids": [[int(x % 2) for x in r] for r in ids],
            "labels": rng.random((n, 3)).astype(np.float32).tolist(), "y": rng.integers(-5, 5, n).tolist(),
            "truncated": (rng.random(n) < 0.3).tolist(), "length": [len(r) for r in ids]}


def _write(path, parts: list[dict[str, list]], target: int) -> None:
    with arrow.StreamWriter(path, FEATURES, target_bytes=target) as w:
        for p in parts:
            w.write(p)


@given(sizes=st.lists(st.integers(1, 300), min_size=1, max_size=4), files=st.integers(1, 2),
       target=st.sampled_from([1, 2000, 1 << 20]), seed=st.integers(0, 99))
@settings(max_examples=25, deadline=None)
def test_pread_rows_equal_pyarrow(tmp_path_factory, sizes, files, target, seed):
    tmp = tmp_path_factory.mktemp("pread")
    paths, expected = [], []
    for f in range(files):
        parts = [_rows(n, seed * 10 + f * 5 + k) for k, n in enumerate(sizes)]
        _write(tmp / f"f{f}.arrow", parts, target)
        paths.append(tmp / f"f{f}.arrow")
        for p in parts:
            expected += [{k: p[k][i] for k in FEATURES if k != "length"} for i in range(len(p["y"]))]
    feats = arrow.ArrowFeatures(arrow.load_dataset_files(paths), hidden=("length",))
    assert feats._pread is not None  # the pread path is the one under test
    idx = np.random.default_rng(seed).integers(0, len(expected), 50).tolist() + [0, len(expected) - 1]
    got = feats.rows(idx)
    for i, row in zip(idx, got):
        want = expected[i]
        assert row["input_ids"] == want["input_ids"] and row["token_type_ids"] == want["token_type_ids"]
        assert row["y"] == want["y"] and row["truncated"] == want["truncated"]
        np.testing.assert_array_equal(np.float32(row["labels"]), np.float32(want["labels"]))
    assert feats.lengths.tolist() == [len(e["input_ids"]) for e in expected]


def test_a_batch_of_empty_lists_is_read(tmp_path):
    """A record batch whose list column holds no values at all (its values buffer is empty, maybe not in the file)."""
    rows = _rows(3, 1)
    rows["input_ids"] = rows["token_type_ids"] = [[], [], []]
    rows["length"] = [0, 0, 0]
    _write(tmp_path / "e.arrow", [rows, _rows(5, 2)], 1)  # one record batch per part
    feats = arrow.ArrowFeatures(arrow.load_dataset_files([tmp_path / "e.arrow"]), hidden=("length",))
    assert feats._pread is not None
    assert [r["input_ids"] for r in feats.rows([0, 2])] == [[], []]
    assert feats.rows([3])[0]["input_ids"] == _rows(5, 2)["input_ids"][0]


def _file_rss_kb(path) -> int:
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and ":" in head[3]:
                inside = line.rstrip().endswith(str(path))
            elif inside and line.startswith("Rss:"):
                total += int(head[1])
    return total


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/smaps"), reason="needs Linux /proc/self/smaps")
def test_gathering_rows_does_not_map_the_file(tmp_path):
    path = tmp_path / "big.arrow"
    _write(path, [_rows(20000, k) for k in range(10)], 16 << 20)  # ~200,000 rows, ~10 MB
    feats = arrow.ArrowFeatures(arrow.load_dataset_files([path]), hidden=("length",))
    before = _file_rss_kb(path)
    rng = np.random.default_rng(0)
    for _ in range(20):
        feats.rows(rng.integers(0, len(feats), 32).tolist())
    assert _file_rss_kb(path) - before < 512  # KB: 640 random rows read, the file's pages never mapped in


def test_the_same_file_mapped_twice_reads_right(tmp_path):
    """Train and dev may be the same file: each mapping keeps its own start address (none is shared by path)."""
    path = tmp_path / "same.arrow"
    rows = _rows(500, 7)
    _write(path, [rows], 1 << 20)
    first = arrow.ArrowFeatures(arrow.load_dataset_files([path]), hidden=("length",))
    second = arrow.ArrowFeatures(arrow.load_dataset_files([path]), hidden=("length",))
    assert first._pread is not None and second._pread is not None
    assert first.columns["y"].tolist() == rows["y"] == second.columns["y"].tolist()  # read after the second mapping
    assert [r["input_ids"] for r in first.rows([0, 499])] == [rows["input_ids"][0], rows["input_ids"][499]]
