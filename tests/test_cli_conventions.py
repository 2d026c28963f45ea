"""CLI conventions: packaged recipes, README commands that parse, help texts, and a new user's own CSV."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import typer
from helpers import invoke, jsonl, sentiment_rows

from bertkit import recipes
from bertkit.cli.main import app
from bertkit.defaults import build_config
from bertkit.taskspec import registry

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", recipes.names())
def test_every_recipe_loads_validates_and_explains_itself(name):
    body = recipes.text(name)
    header = [ln for ln in body.splitlines() if ln.startswith("#")]
    assert header and body.startswith("#")
    assert all(any(word in ln for ln in header) for word in ("Data", "Command:", "Override:"))
    task = recipes.summary(name)["task"]
    cls = registry()[task].settings()
    cfg = build_config(cls, name, {})  # by name, as `-c NAME` uses it: every key known and in range
    assert isinstance(cfg, cls)
    assert f"bertkit {task} train -c {name}" in body


def test_recipes_commands(tmp_path):
    r = invoke(["recipes", "list", "--format", "json"])
    assert r.exit_code == 0 and {x["name"] for x in json.loads(r.stdout)} == set(recipes.names())
    r = invoke(["recipes", "show", "sst2-minilm"])
    assert r.exit_code == 0 and r.stdout == recipes.text("sst2-minilm")
    r = invoke(["recipes", "copy", "qa-squad2", str(tmp_path)])
    assert r.exit_code == 0 and (tmp_path / "qa-squad2.yaml").read_text() == recipes.text("qa-squad2")
    assert not list(tmp_path.glob(".*partial"))


def _readme_commands() -> list[str]:
    """`bertkit ...` lines of the bash/console code blocks of the README and the docs (continuations joined, pipes
    split; tests/test_docs.py also parses each one with the CLI)."""
    out, lang, buf = [], None, ""
    pages = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
    for raw in (line for page in pages for line in page.read_text().splitlines()):
        if raw.startswith("```"):
            lang = raw[3:].strip() if lang is None else None
            continue
        if lang not in ("bash", "sh", "console") or (lang == "console" and not buf and not raw.startswith("$ ")):
            continue  # a console block's output lines are not commands
        buf += raw.rstrip("\\") + " " if raw.endswith("\\") else raw
        if raw.endswith("\\"):
            continue
        line, buf = buf.strip().removeprefix("$ "), ""
        for part in re.split(r"&&|\|(?![^\[]*\])|;", line):
            if part.strip().startswith("bertkit "):
                out.append(part.strip())
    return out


def _leaf(words: list[str]):
    cmd = typer.main.get_command(app)
    rest = list(words)
    while rest and hasattr(cmd, "commands") and rest[0] in cmd.commands:
        cmd = cmd.commands[rest.pop(0)]
    return cmd, rest


def test_readme_commands_use_options_that_exist():
    commands = _readme_commands()
    assert len(commands) >= 20
    for line in commands:
        try:
            words = shlex.split(line, comments=True)[1:]
        except ValueError:
            words = line.split()[1:]
        words = [w for w in words if not w.startswith((">", "<", "2>"))]
        cmd, rest = _leaf(words)
        assert not hasattr(cmd, "commands") or not rest or rest[0].startswith("-"), f"unknown command in README: {line}"
        known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
        root = {o for p in typer.main.get_command(app).params for o in p.opts}
        for w in rest:
            if re.fullmatch(r"--?[a-zA-Z][\w-]*", w):
                assert w in known or w in root, f"README: {w} is not an option of `{cmd.name}`: {line}"


def test_help_shows_defaults_flags_and_required(monkeypatch):
    from typer import rich_utils

    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(rich_utils, "MAX_WIDTH", 200)  # whatever width an earlier test left rich with
    h = invoke(["classify", "train", "--help"]).stdout
    assert "[default: 5e-05]" in h and "[default: 32]" in h and "[default: 0.06]" in h and "[default: 42]" in h
    assert "<bool>" not in h
    assert "[required, here or in --config]" in h
    q = invoke(["qa", "train", "--help"]).stdout
    assert "[default: 384]" in q and "[default: 16]" in q and "--allow-no-answer" in q and "--version-2" not in q
    e = invoke(["classify", "eval", "--help"]).stdout
    assert "Score only the first N rows" in e and "training rows" not in e and "required" in e
    assert "--install-completion" in invoke(["--help"]).stdout


@pytest.fixture(scope="module")
def agnews_like(tmp_path_factory, tiny_bert):
    """A new user's file: no header; columns label, title, body; labels 1..4."""
    d = tmp_path_factory.mktemp("agnews")
    rows = []
    for i, (t, y) in enumerate(sentiment_rows(40, 3)):
        label = 1 + (i % 2) * 2 + y  # 1..4, two classes per sentiment
        rows.append(f'{label},"title {i % 3}","{t}"')
    (d / "train.csv").write_text("\n".join(rows) + "\n")
    out = d / "model"
    r = invoke(["classify", "train", "-m", str(tiny_bert), "--train", str(d / "train.csv"), "--dev",
                str(d / "train.csv"),
                "-o", str(out), "--text-col", "1,2", "--label-col", "0", "--label-names",
                "1=World,2=Sports,3=Business,4=Sci",
                "--epochs", "1", "--batch-size", "8", "--threads", "1"])
    assert r.exit_code == 0, r.stderr[-800:]
    return d, out


def test_headerless_labelled_csv(agnews_like):
    d, out = agnews_like
    meta = json.loads((out / "bertkit.json").read_text())
    assert meta["labels"] == ["World", "Sports", "Business", "Sci"]  # four classes, no phantom class 0
    assert json.loads((out / "config.json").read_text())["id2label"] == {"0": "World", "1": "Sports", "2": "Business",
                                                                         "3": "Sci"}
    r = invoke(["classify", "eval", "-m", str(out), "--data", str(d / "train.csv")])
    assert r.exit_code == 0, r.stderr[-600:]
    res = json.loads(r.stdout)
    assert res["n"] == 40 and res["confusion_matrix"]["labels"] == meta["labels"]
    assert sum(map(sum, res["confusion_matrix"]["matrix"])) == 40  # labels 1..4 mapped back through the saved names
    r = invoke(["classify", "predict", "-m", str(out), str(d / "train.csv")])
    assert r.exit_code == 0, r.stderr[-600:]
    assert {x["label"] for x in jsonl(r.stdout)} <= set(meta["labels"]) and len(jsonl(r.stdout)) == 40


def test_metrics_say_which_classes_they_leave_out():
    import numpy as np

    from bertkit.classify.metrics import single_label_metrics

    y, pred = np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])
    with_absent = single_label_metrics(y, pred, ["a", "b", "c"])
    only = single_label_metrics(y, pred, ["a", "b"])
    assert with_absent["classes_not_averaged"] == ["c"] and with_absent["f1_macro"] == only["f1_macro"]
    assert with_absent["per_class"] == only["per_class"] and set(only["per_class"]) == {"a", "b"}


def test_predict_reuses_the_pair_columns_and_warns_on_single_texts(tiny_bert, tmp_path):
    rows = sentiment_rows(24, 4)
    f = tmp_path / "pairs.csv"
    f.write_text("premise,hypothesis,label\n" + "".join(f"{t},{t2},{y}\n" for (t, y),
                                                        (t2, _) in zip(rows, reversed(rows))))
    out = tmp_path / "m"
    r = invoke(["classify", "train", "-m", str(tiny_bert), "--train", str(f), "-o", str(out), "--epochs", "1",
                "--threads", "1"])
    assert r.exit_code == 0, r.stderr[-600:]
    assert json.loads((out / "bertkit.json").read_text())["text_pair_col"] == "hypothesis"
    from bertkit.classify.predict import Classifier

    clf = Classifier(str(out))
    texts, pairs = [t for t, _ in rows], [t for t, _ in reversed(rows)]
    want = [x["score"] for x in clf(texts, pairs)]
    r = invoke(["classify", "predict", "-m", str(out), str(f)])
    assert r.exit_code == 0 and "pairs" not in r.stderr
    assert [x["score"] for x in jsonl(r.stdout)] == pytest.approx(want, abs=1e-6)  # the pair was used
    (tmp_path / "single.txt").write_text("\n".join(texts) + "\n")
    r = invoke(["classify", "predict", "-m", str(out), str(tmp_path / "single.txt")])
    assert r.exit_code == 0 and "trained on text pairs" in r.stderr and "--text-pair-col" in r.stderr
