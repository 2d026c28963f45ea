"""Shared fixtures: tiny random BERT models built from a local vocabulary in seconds,
and the paths of the real data in ../shared (tests that need it skip without it)."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest

os.environ.setdefault("BERTKIT_NO_PROGRESS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # One torch / ONNX Runtime thread per pytest-xdist worker (and the processes it starts), unless asked otherwise:
    # two workers with two OpenMP threads each on the 2-core CI machine spin against each other (CI 2026-12-07: the
    # WNUT-17 integration test took 576 s beside another training test, 168 s alone).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
if "BERTKIT_CACHE_DIR" not in os.environ:  # tests never write into the user's tokenization cache
    import atexit
    import shutil
    import tempfile

    os.environ["BERTKIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="bertkit-test-cache-")
    atexit.register(shutil.rmtree, os.environ["BERTKIT_CACHE_DIR"], True)

REPO = Path(__file__).resolve().parents[1]

# Seconds per test file on the 2-core CI machine (pytest --durations=0, 2026-12-07), the heaviest ones only. The
# files start heaviest first (addopts: --dist loadfile --no-loadscope-reorder), so that neither pytest-xdist worker
# ends the run with a several-minute file alone; xdist's own reorder (by test count) started the one-test
# integration files last.
FILE_SECONDS = {"test_bench_smoke_inference.py": 370, "test_resume.py": 215, "test_integration_ner.py": 170,
                "test_families.py": 165, "test_distributed.py": 150, "test_bench_smoke.py": 100,
                "test_qa_minilm.py": 87, "test_ner_engine.py": 76, "test_remote_code.py": 65,
                "test_integration_classify.py": 64, "test_serve_http.py": 48, "test_browser.py": 31,
                "test_serve_ner.py": 29, "test_first_hour.py": 24}


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: -FILE_SECONDS.get(Path(str(item.fspath)).name, 0))  # stable: the rest keep order

SHARED = Path(os.environ.get("BERTKIT_SHARED_DATA", REPO.parent / "shared" / "data"))

WORDS = """the a an and or but of to in on at by for with from is was are were be been it this that these those
he she they we you i his her their our my your not no yes very good bad great terrible awful fine movie film
story plot actor actors acting scene scenes love loved hate hated boring fun funny sad happy best worst
who what when where why how which name city country river year people puppet nice jim henson muppets created
born died capital france paris london england germany berlin water fire earth moon sun star time day night
""".split()


def _vocab() -> list[str]:
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list(string.ascii_lowercase + string.digits + string.punctuation)
    pieces = ["##" + c for c in string.ascii_lowercase + string.digits]
    seen, out = set(), []
    for t in special + chars + pieces + WORDS:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def build_tiny_bert(path: Path) -> Path:
    """A 2-layer, hidden-32 random BERT (BertModel weights) with an uncased WordPiece tokenizer."""
    from transformers import BertConfig, BertModel, BertTokenizer

    path.mkdir(parents=True, exist_ok=True)
    vocab = path / "vocab.txt"
    vocab.write_text("\n".join(_vocab()) + "\n")
    tok = BertTokenizer(vocab={t: i for i, t in enumerate(_vocab())}, do_lower_case=True, model_max_length=512)
    tok.save_pretrained(path)
    cfg = BertConfig(vocab_size=len(_vocab()), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=37, max_position_embeddings=512)
    import torch

    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"real data not found at {SHARED} (the ../shared/data folder beside the checkout; set "
                    "BERTKIT_SHARED_DATA)")
    return SHARED


@pytest.fixture(scope="session")
def minilm() -> Path:
    try:
        from bertkit.modeling import packaged_model_dir

        return packaged_model_dir()
    except Exception as e:  # pragma: no cover
        pytest.skip(f"packaged MiniLM not installed: {e}")
