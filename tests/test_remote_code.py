"""No command runs code shipped in a model or tokenizer folder without --trust-remote-code, stdin or not.

The folder below is a working tiny BERT whose config and tokenizer config point at a module of its own
(`auto_map`); importing that module writes a marker file. transformers would ask "Do you wish to run the
custom code? [y/N]" on stdin; every command gets "yes" piped in and must still refuse, with one error line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EVIL = '''
import os, pathlib
pathlib.Path(os.environ["BERTKIT_TEST_MARKER"]).write_text("custom code ran")
from transformers import BertConfig, BertTokenizerFast, BertForSequenceClassification
class EvilConfig(BertConfig):
    model_type = "evilbert"
class EvilTokenizer(BertTokenizerFast):
    pass
class EvilModel(BertForSequenceClassification):
    config_class = EvilConfig
'''


@pytest.fixture(scope="module")
def remote_code_dir(tiny_bert, tmp_path_factory) -> Path:
    import shutil

    d = tmp_path_factory.mktemp("remote") / "model"
    shutil.copytree(tiny_bert, d)
    (d / "evil.py").write_text(EVIL)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model_type"] = "evilbert"  # no built-in class: only the folder's code can load it
    cfg["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForSequenceClassification": "evil.EvilModel",
                       "AutoModelForQuestionAnswering": "evil.EvilModel"}
    (d / "config.json").write_text(json.dumps(cfg))
    tc = json.loads((d / "tokenizer_config.json").read_text())
    tc["auto_map"] = {"AutoTokenizer": [None, "evil.EvilTokenizer"]}
    tc["tokenizer_class"] = "EvilTokenizer"
    (d / "tokenizer_config.json").write_text(json.dumps(tc))
    return d


def _data(tmp: Path) -> dict[str, Path]:
    csv = tmp / "t.csv"
    csv.write_text("text,label\n" + "".join(f"good movie {i},1\nbad movie {i},0\n" for i in range(4)))
    squad = tmp / "s.json"
    ctx = "jim henson created the muppets"
    squad.write_text(json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": ctx, "qas": [
        {"id": "q1", "question": "who created the muppets",
         "answers": [{"text": "jim henson", "answer_start": 0}]}]}]}]}))
    txt = tmp / "in.txt"
    txt.write_text("hello world\n")
    return {"csv": csv, "squad": squad, "txt": txt}


def _commands(m: str, f: dict[str, Path], out: Path) -> dict[str, list[str]]:
    return {
        "classify train": ["classify", "train", "-m", m, "--train", str(f["csv"]), "-o", str(out / "c"), "--epochs",
                           "1"],
        "classify eval": ["classify", "eval", "-m", m, "--data", str(f["csv"])],
        "classify predict": ["classify", "predict", "-m", m, str(f["txt"])],
        "qa train": ["qa", "train", "-m", m, "--train", str(f["squad"]), "-o", str(out / "q"), "--epochs", "1"],
        "qa eval": ["qa", "eval", "-m", m, "--data", str(f["squad"])],
        "qa ask": ["qa", "ask", "-m", m, "--question", "who?", "--context", "jim henson"],
        "tokenize encode": ["tokenize", "encode", "-t", m, str(f["txt"])],
        "tokenize compare": ["tokenize", "compare", "-t", m, "hello world"],
        "attention show": ["attention", "show", "-m", m, "--text", "hello world"],
        "report": ["report", m, "--data", str(f["csv"]), "-o", str(out / "r.html")],
    }


def _run(args: list[str], marker: Path) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "BERTKIT_TEST_MARKER": str(marker), "HF_HUB_OFFLINE": "1", "BERTKIT_NO_PROGRESS": "1"}
    return subprocess.run([sys.executable, "-m", "bertkit", *args], input="yes\n" * 20, capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.mark.parametrize("command", ["classify train", "classify eval", "classify predict", "qa train", "qa eval",
                                     "qa ask", "tokenize encode", "tokenize compare", "attention show", "report"])
def test_no_custom_code_without_the_flag(command, remote_code_dir, tmp_path):
    marker = tmp_path / "ran.txt"
    model = remote_code_dir
    if command == "report":  # report reads a bertkit output folder: the same folder, with the file that says so
        import shutil

        model = tmp_path / "trained"
        shutil.copytree(remote_code_dir, model)
        (model / "bertkit.json").write_text(json.dumps({"task": "classify", "problem_type": "binary",
                                                        "labels": ["0", "1"],
                                                         "text_col": "text", "label_col": "label"}))
    args = _commands(str(model), _data(tmp_path), tmp_path)[command]
    r = _run(args, marker)
    assert not marker.exists(), f"{command} ran the folder's code: {r.stderr[-500:]}"
    assert r.returncode == 1, (r.returncode, r.stderr[-800:])
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("bertkit: error:") and "--trust-remote-code" in last, last
    assert "Traceback" not in r.stderr and "[y/N]" not in r.stdout + r.stderr
    assert not (tmp_path / "c").exists() and not (tmp_path / "q").exists()


def test_custom_code_runs_with_the_flag(remote_code_dir, tmp_path):
    """The control: the same folder's code does run when asked, so the refusals above are real."""
    marker = tmp_path / "ran.txt"
    f = _data(tmp_path)
    r = _run(["tokenize", "encode", "-t", str(remote_code_dir), "--trust-remote-code", str(f["txt"])], marker)
    assert marker.exists(), r.stderr[-800:]
    assert r.returncode == 0 and json.loads(r.stdout.splitlines()[0])["tokens"]
