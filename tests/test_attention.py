"""`bertkit attention show` and `bertkit.attention` on tiny random BERTs (and one MiniLM check, marked slow)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import invoke, sentiment_rows
from page_checks import parse_self_contained

TEXT = "the movie was good because it was fun"


@pytest.fixture(scope="module")
def tuned(tiny_bert, tmp_path_factory) -> Path:
    """A classifier fine-tuned from tiny_bert: same tokenizer, changed encoder (a bertkit output folder)."""
    d = tmp_path_factory.mktemp("att")
    f = d / "train.tsv"
    f.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in sentiment_rows(16)))
    out = d / "clf"
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(f), "-o", str(out), "--epochs", "1",
                "--batch-size", "8", "--lr", "5e-3", "--threads", "1"])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def att(tiny_bert):
    from bertkit import attention

    return attention.compute(str(tiny_bert), TEXT)


def test_every_row_sums_to_one_and_shapes(att):
    L, H, n = att.shape
    assert (L, H) == (2, 2) and att.weights.shape == (L, H, n, n)
    assert att.tokens[0] == "[CLS]" and att.tokens[-1] == "[SEP]" and "it" in att.tokens
    assert np.abs(att.weights.sum(-1) - 1).max() < 1e-5
    assert (att.weights >= 0).all()
    one = att.select([1], [0])
    assert one.shape == (1, 1, n) and np.array_equal(one.weights[0, 0], att.weights[1, 0])


def test_top_is_ranked_and_token_lookup(att):
    i = att.token_index("it")
    assert att.tokens[i] == "it" and att.token_index(i) == i and att.token_index(str(i)) == i
    top = att.top("it", k=3)
    assert len(top) == 2 and len(top[0]) == 2 and len(top[0][0]) == 3
    for a in range(2):
        for b in range(2):
            ws = [w for _, w in top[a][b]]
            assert ws == sorted(ws, reverse=True)
            assert ws[0] == pytest.approx(float(att.weights[a, b, i].max()))


def test_grid_and_matrix_figures(att):
    from bertkit import attention

    L, H, n = att.shape
    fig = attention.figure(att, token="it")
    images = [ax.images[0].get_array() for ax in fig.get_axes() if ax.images]
    assert len(images) == L * H and all(im.shape == (n, n) for im in images)
    np.testing.assert_allclose(images[1], att.weights[0, 1])  # row-major: layer 0, head 1
    one = att.select([1], [1])
    fig = attention.figure(one, token="it")
    ax = next(a for a in fig.get_axes() if a.images)
    assert ax.images[0].get_array().shape == (n, n)
    assert [t.get_text() for t in ax.get_xticklabels()] == att.tokens
    assert [t.get_text() for t in ax.get_yticklabels()] == att.tokens


def test_bar_lengths():
    from bertkit.attention.render_terminal import BAR_WIDTH, bar

    assert bar(1.0) == "█" * BAR_WIDTH and bar(0.0) == " " * BAR_WIDTH
    assert bar(0.5) == "█" * (BAR_WIDTH // 2) + " " * (BAR_WIDTH // 2)
    assert bar(1 / (8 * BAR_WIDTH)).rstrip() == "▏" and all(len(bar(w)) == BAR_WIDTH for w in np.linspace(0, 1, 33))


def test_cli_bars_for_a_token(tiny_bert, att):
    from bertkit.attention.render_terminal import bar

    r = invoke(["attention", "show", "--model", str(tiny_bert), "--text", TEXT, "--token", "it", "--top", "3"])
    assert r.exit_code == 0, r.output
    assert "attention from 'it'" in r.stdout
    for h in ("L0 H0", "L0 H1", "L1 H0", "L1 H1"):
        assert h in r.stdout
    lines = r.stdout.splitlines()
    for a in range(2):
        for b in range(2):
            for j, w in att.top("it", 3)[a][b]:  # each ranked token with its bar and weight, in the block's rows
                assert any(att.tokens[j] in ln and f"{bar(w).rstrip()}" in ln and f"{w:.2f}" in ln for ln in lines)


def test_cli_json_schema(tiny_bert):
    r = invoke(["attention", "show", "--model", str(tiny_bert), "--text-pair", "who was it ?", "it was the moon .",
                "--layer", "1", "--token", "moon", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert set(doc) == {"schema", "model", "tokens", "segments", "special", "truncated", "input_tokens", "max_length",
                        "layers", "heads", "shape", "weights", "token"}
    assert doc["schema"] == "bertkit.attention/1" and doc["layers"] == [1] and doc["heads"] == [0, 1]
    n = len(doc["tokens"])
    assert doc["shape"] == [1, 2, n, n] and np.asarray(doc["weights"]).shape == (1, 2, n, n)
    assert np.abs(np.asarray(doc["weights"]).sum(-1) - 1).max() < 1e-5
    assert doc["segments"][0] == 0 and doc["segments"][-1] == 1 and len(doc["segments"]) == n
    assert doc["special"][0] and doc["special"][-1] and doc["tokens"].count("[SEP]") == 2
    assert doc["token"] == {"index": doc["tokens"].index("moon"), "text": "moon"}
    assert doc["truncated"] is False and doc["input_tokens"] == n


def test_html_page_is_self_contained_and_runs(tiny_bert, tmp_path):
    out = tmp_path / "a.html"
    r = invoke(["attention", "show", "--model", str(tiny_bert), "--text", TEXT + " </script> <b>", "--token", "it",
                "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert r.stdout == ""  # --output without --format: the file only
    html = out.read_text()
    page = parse_self_contained(html)
    assert "script" in page.tags and "canvas" in page.tags
    data = json.loads(html.split('id="attention-data">')[1].split("</script>")[0])
    assert "<" in data["tokens"] and ">" in data["tokens"]  # escaped in the page, still read back
    w = np.asarray(data["models"][0]["weights"])
    assert w.shape == (2, 2, len(data["tokens"]), len(data["tokens"]))
    assert np.abs(w.sum(-1) - 1).max() < 1e-3  # rounded to 4 decimals in the page
    node = shutil.which("node")
    if node:  # the page's script against a minimal DOM: draws, hovers, selects without an error
        res = subprocess.run([node, str(Path(__file__).parent / "js" / "attention_page.js"), str(out)],
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["ok"]


def test_png_and_svg_files(tiny_bert, tmp_path):
    for name in ("g.png", "m.svg"):
        args = ["--layer", "0", "--head", "1"] if name.endswith("svg") else []
        r = invoke(["attention", "show", "--model", str(tiny_bert), "--text", TEXT, "-o", str(tmp_path / name), *args])
        assert r.exit_code == 0, r.output
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = (tmp_path / "m.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_compare_two_models(tiny_bert, tuned, tmp_path):
    from bertkit import attention

    a = attention.compute(str(tiny_bert), TEXT)
    b = attention.compute(str(tuned), TEXT)  # a classifier folder: its encoder
    same = attention.difference(a, attention.compute(str(tiny_bert), TEXT))
    diff = attention.difference(a, b)
    assert diff.shape == (2, 2) and np.allclose(same, 0) and (diff > 0).all() and (diff <= 1).all()
    r = invoke(["attention", "show", "--model", str(tiny_bert), "--compare", str(tuned), "--text", TEXT,
                "--token", "it", "--format", "json", "-o", str(tmp_path / "c.png")])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    np.testing.assert_allclose(doc["compare"]["difference"], diff, atol=1e-6)
    assert np.asarray(doc["compare"]["weights"]).shape == a.weights.shape
    assert (tmp_path / "c.png").stat().st_size > 1000
    r = invoke(["attention", "show", "--model", str(tiny_bert), "--compare", str(tuned), "--text", TEXT, "--token",
                "it",
                "--layer", "1", "-o", str(tmp_path / "c.html"), "--format", "table"])
    assert r.exit_code == 0, r.output
    assert "L1 H0 A" in r.stdout and "L1 H0 B" in r.stdout and "Δ" in r.stdout
    html = (tmp_path / "c.html").read_text()
    parse_self_contained(html)
    assert "Per-head difference" in html


def test_compare_needs_the_same_tokenizer(tiny_bert, minilm):
    r = invoke(["attention", "show", "--model", str(tiny_bert), "--compare", str(minilm), "--text", TEXT])
    assert r.exit_code == 1
    assert "different tokens" in r.stderr or "same architecture" in r.stderr


def test_long_input_is_truncated_on_stderr(tiny_bert):
    r = invoke(["attention", "show", "--model", str(tiny_bert), "--text", " ".join(["good"] * 600), "--format", "json",
                "--layer", "0", "--head", "0"])
    assert r.exit_code == 0, r.output
    assert "truncated to this model's limit of 512" in r.stderr
    doc = json.loads(r.stdout)
    assert doc["truncated"] is True and doc["input_tokens"] == 602 and len(doc["tokens"]) == 512


def test_errors(tiny_bert):
    base = ["attention", "show", "--model", str(tiny_bert)]
    r = invoke([*base, "--text", TEXT, "--token", "zebra"])
    assert r.exit_code == 2 and "not one of the tokens" in r.stderr
    r = invoke([*base, "--text", TEXT, "--layer", "7"])
    assert r.exit_code == 2 and "--layer 7 is out of range" in r.stderr
    r = invoke([*base])
    assert r.exit_code == 2 and "--text" in r.stderr
    r = invoke([*base, "--text", TEXT, "-o", "x.pdf"])
    assert r.exit_code == 2 and ".png, .svg or .html" in r.stderr


def test_a_model_without_attention_weights_is_a_clear_error(tiny_bert):
    from transformers import AutoModel

    from bertkit.attention.weights import Loaded, run
    from bertkit.errors import BertkitError
    from bertkit.modeling import load_pretrained, load_tokenizer

    sdpa = load_pretrained(AutoModel, str(tiny_bert), attn="sdpa")  # SDPA never builds the weights
    with pytest.raises(BertkitError, match="returned no attention weights"):
        run(Loaded("tiny", load_tokenizer(str(tiny_bert)), sdpa, 512), TEXT)


@pytest.mark.slow
def test_minilm_it_sentence(minilm):
    """The README example: on the packaged MiniLM, 'it' attends mostly to 'tired' in layer 2 head 1 and to
    'animal' in layer 3 head 1."""
    r = invoke(["attention", "show", "--text", "The animal didn't cross the street because it was too tired.",
                "--token", "it", "--format", "json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    w = np.asarray(doc["weights"])
    assert w.shape == (6, 12, 16, 16) and np.abs(w.sum(-1) - 1).max() < 1e-5
    it = doc["tokens"].index("it")
    assert doc["tokens"][int(w[2, 1, it].argmax())] == "tired"
    assert doc["tokens"][int(w[3, 1, it].argmax())] == "animal"
