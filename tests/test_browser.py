"""The HTML pages in a real browser: headless Chromium (the system's, e.g. Debian's `chromium`) driven by the
`playwright` package, with no browser download. Each page must load with no console error, no request outside
the file, every image decoded, a title that names the model, and the attention page must answer the mouse."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from helpers import invoke, sentiment_rows, train_multilabel, train_toy_qa

FAST = ["--epochs", "1", "--batch-size", "8", "--lr", "3e-3", "--threads", "1"]
TEXT = "the movie was good because it was fun"
ROW, PAD, TXT, GAP = 20, 6, 110, 170  # the head view's geometry (bertkit/attention/render_html.py)


def _chromium() -> str | None:
    for c in (os.environ.get("BERTKIT_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
              shutil.which("chromium-browser")):
        if c and Path(c).is_file():
            return c
    return None


@pytest.fixture(scope="module")
def browser():
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium installed (apt-get install chromium, or set BERTKIT_CHROMIUM to one): "
                    "the browser tests need one")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="the playwright package is not installed (pip install -e '.[test]')")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


class Opened:
    """A page opened from a file, with what went wrong while it loaded and ran."""

    def __init__(self, browser, path: Path):
        self.errors: list[str] = []
        self.outside: list[str] = []
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.resolve().as_uri(), wait_until="load")

    def _route(self, route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def check(self) -> None:
        images = self.page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth])")
        assert all(done and width > 0 for done, width in images), f"an image did not load: {images}"
        assert not self.errors, f"console errors: {self.errors}"
        assert not self.outside, f"requests outside the page: {self.outside}"

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def opened(browser):
    pages: list[Opened] = []

    def open_(path: Path) -> Opened:
        pages.append(Opened(browser, path))
        return pages[-1]

    yield open_
    for p in pages:
        p.close()


# -- the attention page ---------------------------------------------------------------------------------------------

def _line_drawn(o: Opened, i: int, j: int) -> bool:
    """Whether the head view has ink halfway along the line from token i (left) to token j (right)."""
    x, y = TXT + GAP / 2, PAD + ROW / 2 + (i + j) * ROW / 2
    return o.page.evaluate(
        """([x, y]) => { const c = document.getElementById('head-0'), d = window.devicePixelRatio || 1;
             return c.getContext('2d').getImageData(Math.round(x * d), Math.round(y * d), 1, 1).data[3]; }""",
        [x, y]) > 0


def _strongest(data: dict, layer: int, head: int, i: int) -> int:
    row = data["models"][0]["weights"][layer][head][i]
    return max(range(len(row)), key=row.__getitem__)


def test_attention_page_hover_switch_and_thumbnail(tiny_bert, tmp_path, opened):
    out = tmp_path / "a.html"
    r = invoke(["attention", "show", "--model", str(tiny_bert), "--text", TEXT, "-o", str(out)])
    assert r.exit_code == 0, r.output
    o = opened(out)
    assert o.page.title() == f"Attention: {tiny_bert.name}"  # the model's folder name, not its path
    data = o.page.evaluate("JSON.parse(document.getElementById('attention-data').textContent)")
    it = data["tokens"].index("it")

    o.page.select_option("#head", "1")  # one head, so every line drawn is that head's
    o.page.locator("#head-0").hover(position={"x": 20, "y": PAD + it * ROW + ROW / 2})
    assert o.page.text_content("#focus") == f"it (token {it})"
    j = _strongest(data, 0, 1, it)
    assert _line_drawn(o, it, j), f"no line from 'it' to its strongest token {data['tokens'][j]!r} (layer 0, head 1)"

    o.page.locator("#head-0").click(position={"x": 20, "y": PAD + it * ROW + ROW / 2})  # keep 'it'
    o.page.select_option("#layer", "1")
    o.page.select_option("#head", "0")
    j = _strongest(data, 1, 0, it)
    assert _line_drawn(o, it, j), "switching to layer 1, head 0 did not draw that head's strongest line"
    assert o.page.get_attribute(".grid canvas.on", "title") == "layer 1, head 0"

    o.page.locator("#model-0 canvas[title='layer 0, head 1']").click()
    assert o.page.input_value("#layer") == "0" and o.page.input_value("#head") == "1"
    assert o.page.get_attribute(".grid canvas.on", "title") == "layer 0, head 1"
    assert _line_drawn(o, it, _strongest(data, 0, 1, it))
    o.check()


def test_attention_compare_page_names_both_models(tiny_bert, tmp_path, opened):
    train = tmp_path / "train.tsv"
    train.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in sentiment_rows(16)))
    tuned = tmp_path / "tuned"
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "-o", str(tuned), *FAST])
    assert r.exit_code == 0, r.output
    out = tmp_path / "c.html"
    r = invoke(["attention", "show", "--model", str(tiny_bert), "--compare", str(tuned), "--text", TEXT,
                "--token", "it", "-o", str(out)])
    assert r.exit_code == 0, r.output
    o = opened(out)
    assert o.page.title() == f"Attention: {tiny_bert.name} vs tuned"
    assert o.page.locator("#model-1 canvas").count() == 2 * 2  # layers x heads of the second model
    o.check()


# -- the report pages -----------------------------------------------------------------------------------------------

def _report(tmp_path: Path, opened, model: Path, *sections: str) -> Opened:
    out = tmp_path / f"{model.name}.html"
    r = invoke(["report", str(model), "--output", str(out)])
    assert r.exit_code == 0, r.output
    o = opened(out)
    assert o.page.title() == f"bertkit report: {model.name}"
    for h in sections:
        assert o.page.get_by_role("heading", name=h).count() >= 1, h
    assert o.page.locator("img").count() >= 1
    o.check()
    return o


def test_report_classify_binary(tiny_bert, tmp_path, opened):
    train, dev = tmp_path / "train.tsv", tmp_path / "dev.tsv"
    train.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in sentiment_rows(24, 0)))
    dev.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in sentiment_rows(12, 1)))
    model = tmp_path / "binary"
    r = invoke(["classify", "train", "--model", str(tiny_bert), "--train", str(train), "--dev", str(dev),
                "-o", str(model), "--label-names", "negative,positive", *FAST])
    assert r.exit_code == 0, r.output
    o = _report(tmp_path, opened, model, "Settings", "Training", "Dev metrics", "Worst mistakes")
    assert o.page.locator("img").count() == 2  # training curves, confusion matrix


def test_report_classify_multilabel(tiny_bert, tmp_path, opened):
    model = train_multilabel(tiny_bert, tmp_path, tmp_path / "multilabel", FAST)
    _report(tmp_path, opened, model, "Settings", "Training", "Dev metrics")


def test_report_qa(tiny_bert, tmp_path, opened):
    model = train_toy_qa(tiny_bert, tmp_path, tmp_path / "qa", FAST)
    _report(tmp_path, opened, model, "Settings", "Training", "Dev metrics")


def test_report_ner(tiny_bert, tmp_path, opened):
    from test_ner_cli import FAST as NER_FAST
    from test_ner_cli import toy_sentences, write_conll

    train = write_conll(tmp_path / "train.conll", toy_sentences(160, 0))
    dev = write_conll(tmp_path / "dev.conll", toy_sentences(40, 1))
    model = tmp_path / "tagger"
    r = invoke(["ner", "train", "-m", str(tiny_bert), "--train", str(train), "--dev", str(dev), "-o", str(model),
                *NER_FAST])
    assert r.exit_code == 0, r.output
    o = _report(tmp_path, opened, model, "Settings", "Training", "Data", "Dev metrics", "Worst sentences")
    assert o.page.locator("img").count() == 2  # training curves, the entity-type confusion matrix
    cells = o.page.locator("td").all_inner_texts()
    assert "person" in cells and "location" in cells  # per-type precision / recall / F1 rows


# -- the tokenizer page ---------------------------------------------------------------------------------------------

def test_tokenizer_page(tiny_bert, tmp_path, opened):
    out = tmp_path / "tok.html"
    r = invoke(["tokenize", "compare", "-t", f"hf={tiny_bert}", "-t", f"wp={tiny_bert / 'vocab.txt'}",
                "the movie was great, jim henson", "-f", "html", "-o", str(out)])
    assert r.exit_code == 0, r.output
    o = opened(out)
    assert o.page.title() == "Tokenizers side by side: hf, wp"
    assert o.page.locator("span[title^='id ']").count() > 10  # every token a span, its id and offsets on hover
    o.check()
