"""Helpers of the `bertkit serve` tests: tiny model folders and a real server in a subprocess on a loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_models(base: Path, root: Path) -> dict[str, Path]:
    """A binary classifier (bertkit.json: binary, threshold 0.5) and a QA model, random heads on the tiny BERT."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(base)
    torch.manual_seed(1)
    clf = root / "sentiment"
    m = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2, id2label={0: "negative", 1: "positive"},
                                                           label2id={"negative": 0, "positive": 1})
    m.save_pretrained(clf)
    tok.save_pretrained(clf)
    (clf / "bertkit.json").write_text(json.dumps({"task": "classify", "problem_type": "binary", "threshold": 0.5}))
    qa = root / "squad"
    AutoModelForQuestionAnswering.from_pretrained(base).save_pretrained(qa)
    tok.save_pretrained(qa)
    return {"classify": clf, "qa": qa}


def build_ner_model(base: Path, root: Path, max_length: int = 16, stride: int = 4, name: str = "tagger",
                    labels: tuple[str, ...] = ("O", "B-location", "I-location", "B-person", "I-person"),
                    scheme: str = "IOB2") -> Path:
    """A token classifier (IOB2 person / location tags, or plain tags with scheme "plain"; random head) as
    `ner train` writes it; its small max length makes a text of a few words take several windows."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    labels = list(labels)
    torch.manual_seed(3)
    path = root / name
    m = AutoModelForTokenClassification.from_pretrained(base, num_labels=len(labels), id2label=dict(enumerate(labels)),
                                                        label2id={n: i for i, n in enumerate(labels)})
    with torch.no_grad():  # a decisive head: no near-ties that float noise of another batch could flip
        m.classifier.weight.mul_(100)
    m.save_pretrained(path)
    AutoTokenizer.from_pretrained(base).save_pretrained(path)
    (path / "bertkit.json").write_text(json.dumps({"task": "ner", "labels": labels, "scheme": scheme,
                                                   "max_length": max_length, "stride": stride}))
    return path


class Server:
    def __init__(self, dirs, *args: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        cmd = [sys.executable, "-m", "bertkit", "serve", *map(str, dirs), "--port", str(self.port), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        self.stderr = ""

    def wait_ready(self, timeout: float = 120) -> "Server":
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.proc.stderr.read()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("server not ready in time")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            _, self.stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, self.stderr = self.proc.communicate()
        return self.proc.returncode
