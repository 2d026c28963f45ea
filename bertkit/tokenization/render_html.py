"""One self-contained HTML page: the metrics table, the legend and coloured token spans (no scripts, no links)."""

from __future__ import annotations

from html import escape

from .render_terminal import SENTENCE_COLUMNS, TABLE_COLUMNS, _label, _why
from .schema import BY_KEY, fmt
from .sentence import Encoded, group_segmentations, split_marker, visible

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
  color:#1b1f24;padding:0 1rem}
h1{font-size:1.35rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:.25rem .6rem;border-bottom:1px solid #d8dee4;text-align:right;white-space:nowrap}
th:first-child,td:first-child,td.l{text-align:left}
td.best{font-weight:700;color:#116329;background:#dafbe1}
.spans{font:14px/2.1 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;margin:.2rem 0 1rem}
.tok{display:inline-block;padding:0 .15rem;margin:0 .08rem;border-radius:3px;background:#ddf4ff;line-height:1.5}
.tok:nth-child(even){background:#fbefff}
.tok .id{display:block;font-size:10px;color:#57606a;text-align:center}
.tok.special{opacity:.5;background:#eaeef2}
.tok.unk{background:#ffebe9;color:#cf222e;font-weight:700}
.mark{color:#9a6700}
.name{font-weight:600} .meta{color:#57606a;font-size:.9em}
dl{font-size:.9em;color:#424a53} dt{font-weight:600;float:left;clear:left;width:9rem} dd{margin-left:10rem}
code{background:#f6f8fa;padding:0 .2rem}
"""


def _spans(enc: Encoded, show_ids: bool) -> str:
    parts = []
    for t in enc.tokens:
        cls = "tok special" if t.special else "tok unk" if t.unk else "tok"
        marker, rest = split_marker(t.text)
        body = (f'<span class="mark">{escape(marker)}</span>' if marker and not t.special else "") + escape(
            visible(rest if not t.special else t.text))
        ident = f'<span class="id">{t.id}</span>' if show_ids else ""
        title = f"id {t.id} · chars {t.start}–{t.end}"
        parts.append(f'<span class="{cls}" title="{escape(title)}">{body}{ident}</span>')
    return f'<div class="spans">{"".join(parts)}</div>'


def _table(doc: dict, columns: list[str]) -> str:
    best = doc.get("best", {})
    max_length = doc.get("max_length")
    head = "".join(f"<th>{escape(_label(k, max_length))}</th>" for k in columns)
    rows = []
    for r in doc["tokenizers"]:
        cells = [f'<td class="l">{escape(r["name"])}</td>']
        for k in columns:
            if k == "family":
                cells.append(f'<td class="l">{escape("BPE (byte)" if r["byte_level"] else r["family"])}</td>')
            elif k == "why":
                cells.append(f'<td class="l">{escape(_why(r))}</td>')
            elif k == "lengths":
                cells.append(f"<td>{r['len_p50']}/{r['len_p95']}/{r['len_max']}</td>")
            else:
                cls = ' class="best"' if r["name"] in best.get(k, ()) else ""
                v = "base" if k == "delta_vs_baseline" and r["name"] == doc.get("baseline") else fmt(k, r.get(k))
                cells.append(f"<td{cls}>{escape(v)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr><th>tokenizer</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _legend(columns: list[str], doc: dict) -> str:
    items = [f"<dt>{escape(_label(k, doc.get('max_length')))}</dt><dd>{escape(BY_KEY[k].legend)}</dd>"
             for k in columns if k in BY_KEY and k != "vocab_size"]
    if "why" in columns:
        items.append("<dt>why not</dt><dd>reasons decode(encode(x)) != x, with their share of failing rows</dd>")
    counted = "include" if doc["with_special"] else "exclude"
    note = (f"<p class=meta>Highlighted: the best value in each column. Counts {counted} special tokens added by "
            "post-processing; lengths always include them.</p>")
    return note + "<dl>" + "".join(items) + "</dl>"


def _tokenizer_block(enc: Encoded, show_ids: bool, with_special: bool) -> str:
    be = enc.backend
    n_special = sum(t.special for t in enc.tokens)
    extra = f" (+{n_special} special)" if n_special and not with_special else ""
    return (f'<div><span class="name">{escape(be.name)}</span> <span class="meta">{escape(be.family_label)} · '
            f"vocab {be.vocab_size:,} · {enc.count} tokens{extra}</span>{_spans(enc, show_ids)}</div>")


def _differences(doc: dict) -> str:
    diffs = doc.get("differences") or []
    if not diffs:
        return "<p>All tokenizers cut every word the same way.</p>"
    rows = []
    for d in diffs:
        groups = "<br>".join(f"<code>{escape(cut)}</code> <span class=meta>← {escape(', '.join(names))}</span>"
                             for cut, names in group_segmentations(d["segmentations"]))
        rows.append(f'<tr><td class="l"><code>{escape(d["word"])}</code></td><td class="l">{groups}</td></tr>')
    return ("<table><thead><tr><th>word</th><th>pieces ← "
            f"tokenizers</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


def page(doc: dict, samples: list[tuple[str, list[Encoded]]], show_ids: bool) -> str:
    """The whole page. `samples`: (text, encodings) to show as spans (the sentence, or the first corpus rows)."""
    sentence = doc.get("mode") == "sentence"
    columns = SENTENCE_COLUMNS if sentence else TABLE_COLUMNS
    title = "Tokenizers side by side: " + ", ".join(t["name"] for t in doc["tokenizers"])
    if sentence:
        sub = f"<p><b>{escape(doc['text'])}</b></p>"
    else:
        c = doc["corpus"]
        sub = (f"<p class=meta>{escape(str(doc['source']))}: {c['rows']:,} rows, {c['words']:,} words, "
               f"{c['chars']:,} characters · baseline {escape(doc['baseline'])} · max length {doc['max_length']}</p>")
    body = [f"<h1>{escape(title)}</h1>", sub, _table(doc, columns), _legend(columns, doc)]
    if sentence:
        body.append("<h2>Tokens</h2>")
        body += [_tokenizer_block(e, show_ids, doc["with_special"]) for e in samples[0][1]]
        body += ["<h2>Where the cuts differ</h2>", _differences(doc)]
    else:
        for i, (text, encs) in enumerate(samples):
            body.append(f"<h2>Row {i + 1}</h2><p>{escape(text)}</p>")
            body += [_tokenizer_block(e, show_ids, doc["with_special"]) for e in encs]
    body.append('<p class=meta>Markers: <code>##</code> WordPiece continuation, <code>Ġ</code> byte-level space, '
                '<code>▁</code> SentencePiece space; ␣ ⇥ ⏎ show whitespace inside a token. Dimmed: special tokens; '
                'red: unknown token. Hover a token for its id and character offsets.</p>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{escape(title)}</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
