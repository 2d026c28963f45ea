"""examples/python/api_tour.py runs end to end (train, predict, QA train and ask) on the tiny random BERT."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_api_tour_runs(tiny_bert, tmp_path):
    env = {**os.environ, "BERTKIT_NO_PROGRESS": "1", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, str(REPO / "examples" / "python" / "api_tour.py"), "--model", str(tiny_bert),
                        "-o", str(tmp_path), "--epochs", "1", "--quick"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    qa_at = next(i for i, ln in enumerate(lines) if ln.startswith("qa: dev f1"))
    assert lines[0].startswith("classifier: dev accuracy") and lines[-3].startswith("ner: dev entity f1 ")
    assert sum(ln.strip().startswith(("positive", "negative")) for ln in lines[1:3]) == 2, r.stdout
    assert "'answer': " in lines[qa_at + 1], r.stdout
    assert (tmp_path / "reviews" / "model.safetensors").is_file() and (tmp_path / "qa" / "model.safetensors").is_file()
    assert (tmp_path / "ner" / "model.safetensors").is_file()
