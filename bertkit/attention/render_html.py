"""One self-contained interactive page (inline CSS and JS, no network): the head view (hover a token to see
its attention lines, one colour per head) and the model view (every layer and head as a thumbnail; click one
to open it), as in the classic illustrations and bertviz; with --compare both models and the per-head
difference."""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

import numpy as np

from bertkit.attention.weights import Attention, difference

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5rem auto;max-width:1400px;
  color:#1b1f24;padding:0 1rem}
h1{font-size:1.25rem;margin:.2rem 0} h2{font-size:1.05rem;margin:1.5rem 0 .5rem}
.meta{color:#57606a} label{margin-right:1rem} select{font:inherit}
.views{display:flex;gap:2rem;flex-wrap:wrap;align-items:flex-start}
.view h3{font-size:.95rem;margin:.3rem 0}
canvas{display:block}
.grid{display:grid;gap:3px;align-items:center}
.grid canvas{border:1px solid #d0d7de;cursor:pointer} .grid canvas.on{outline:2px solid #d1242f}
.grid span{font-size:11px;color:#57606a;text-align:center}
table.diff{border-collapse:collapse;font-variant-numeric:tabular-nums;font-size:12px}
table.diff td,table.diff th{padding:.15rem .35rem;text-align:right;border:1px solid #eaeef2}
.legend span{display:inline-block;padding:0 .4rem;margin-right:.2rem;border-radius:3px;color:#fff;font-size:12px;
  cursor:pointer}
.legend span.off{opacity:.25}
"""

JS = r"""
const D = JSON.parse(document.getElementById('attention-data').textContent);
const T = D.tokens, N = T.length, COLORS = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2',
  '#7f7f7f','#bcbd22','#17becf','#393b79','#637939','#8c6d31','#843c39','#7b4173','#3182bd'];
const st = {layer: 0, heads: new Set(D.heads.map((_, i) => i)), hover: D.token, lock: D.token !== null};
const layerSel = document.getElementById('layer'), headSel = document.getElementById('head');
D.layers.forEach((l, i) => layerSel.add(new Option('layer ' + l, i)));
headSel.add(new Option('all heads', 'all'));
D.heads.forEach((h, i) => headSel.add(new Option('head ' + h, i)));
const ROW = 20, PAD = 6, TXT = 110, GAP = 170;
function color(h) { return COLORS[h % COLORS.length]; }
function headView(canvas, W) {
  const ctx = canvas.getContext('2d'), dpr = window.devicePixelRatio || 1;
  const w = TXT * 2 + GAP, h = N * ROW + 2 * PAD;
  canvas.width = w * dpr; canvas.height = h * dpr; canvas.style.width = w + 'px'; canvas.style.height = h + 'px';
  ctx.scale(dpr, dpr); ctx.clearRect(0, 0, w, h); ctx.font = '13px ui-monospace,Menlo,Consolas,monospace';
  ctx.textBaseline = 'middle';
  const heads = [...st.heads];
  const shown = st.hover === null ? [...Array(N).keys()] : [st.hover];
  ctx.lineWidth = 2;
  for (const hi of heads) {
    ctx.strokeStyle = color(D.heads[hi]);
    for (const i of shown) {
      for (let j = 0; j < N; j++) {
        const a = W[st.layer][hi][i][j];
        if (a < 0.01) continue;
        ctx.globalAlpha = Math.min(1, a * (st.hover === null ? 0.5 : 1) * (heads.length > 1 ? 0.9 : 1));
        ctx.beginPath(); ctx.moveTo(TXT, PAD + i * ROW + ROW / 2);
        ctx.lineTo(TXT + GAP, PAD + j * ROW + ROW / 2); ctx.stroke();
      }
    }
  }
  ctx.globalAlpha = 1;
  for (let i = 0; i < N; i++) {
    const y = PAD + i * ROW + ROW / 2;
    ctx.fillStyle = i === st.hover ? '#d1242f' : '#1b1f24';
    ctx.textAlign = 'right'; ctx.fillText(T[i], TXT - 6, y);
    ctx.fillStyle = '#1b1f24'; ctx.textAlign = 'left'; ctx.fillText(T[i], TXT + GAP + 6, y);
  }
}
function hoverAt(canvas, ev) {
  const r = canvas.getBoundingClientRect(), x = ev.clientX - r.left, y = ev.clientY - r.top;
  if (x > TXT + 10) return;
  const i = Math.floor((y - PAD) / ROW);
  if (i >= 0 && i < N) return i;
}
function thumb(canvas, W, l, h) {
  const s = 64, ctx = canvas.getContext('2d'); canvas.width = s; canvas.height = s;
  ctx.clearRect(0, 0, s, s); ctx.strokeStyle = color(D.heads[h]); ctx.lineWidth = 1;
  const rows = st.hover === null ? [...Array(N).keys()] : [st.hover], step = (s - 8) / Math.max(1, N - 1);
  for (const i of rows) for (let j = 0; j < N; j++) {
    const a = W[l][h][i][j]; if (a < 0.02) continue;
    ctx.globalAlpha = Math.min(1, a * (st.hover === null ? 0.6 : 1));
    ctx.beginPath(); ctx.moveTo(6, 4 + i * step); ctx.lineTo(s - 6, 4 + j * step); ctx.stroke();
  }
}
function modelView(div, W, m) {
  div.innerHTML = '';
  div.style.gridTemplateColumns = '48px repeat(' + D.heads.length + ', 66px)';
  div.appendChild(document.createElement('span'));
  D.heads.forEach(h => { const s = document.createElement('span'); s.textContent = 'head ' + h; div.appendChild(s); });
  D.layers.forEach((l, li) => {
    const s = document.createElement('span'); s.textContent = 'layer ' + l; div.appendChild(s);
    D.heads.forEach((h, hi) => {
      const c = document.createElement('canvas'); thumb(c, W, li, hi);
      c.title = 'layer ' + l + ', head ' + h
        + (D.difference ? ' (difference ' + D.difference[li][hi].toFixed(3) + ')' : '');
      if (li === st.layer && st.heads.size === 1 && st.heads.has(hi)) c.className = 'on';
      c.onclick = () => { st.layer = li; st.heads = new Set([hi]); layerSel.value = li; headSel.value = hi; draw(); };
      div.appendChild(c);
    });
  });
}
function legend() {
  const el = document.getElementById('legend'); el.innerHTML = '';
  D.heads.forEach((h, hi) => {
    const s = document.createElement('span'); s.textContent = h; s.style.background = color(h);
    if (!st.heads.has(hi)) s.className = 'off';
    s.onclick = () => {
      if (st.heads.has(hi) && st.heads.size > 1) st.heads.delete(hi); else st.heads.add(hi);
      headSel.value = st.heads.size === D.heads.length ? 'all' : headSel.value; draw();
    };
    el.appendChild(s);
  });
}
function draw() {
  D.models.forEach((m, k) => {
    headView(document.getElementById('head-' + k), m.weights);
    modelView(document.getElementById('model-' + k), m.weights, k);
  });
  legend();
  document.getElementById('focus').textContent =
    st.hover === null ? 'all tokens (hover one)' : T[st.hover] + ' (token ' + st.hover + ')';
}
layerSel.onchange = () => { st.layer = +layerSel.value; draw(); };
headSel.onchange = () => {
  st.heads = headSel.value === 'all' ? new Set(D.heads.map((_, i) => i)) : new Set([+headSel.value]); draw();
};
D.models.forEach((m, k) => {
  const c = document.getElementById('head-' + k);
  c.addEventListener('mousemove', ev => {
    if (st.lock) return;
    const i = hoverAt(c, ev); if (i !== undefined && i !== st.hover) { st.hover = i; draw(); }
  });
  c.addEventListener('mouseleave', () => { if (!st.lock) { st.hover = null; draw(); } });
  c.addEventListener('click', ev => {
    const i = hoverAt(c, ev); if (i === undefined) return;
    st.lock = !(st.lock && st.hover === i); st.hover = i; draw();
  });
});
draw();
"""


def _data(att: Attention, token, compare: Attention | None) -> dict:
    models = [att] if compare is None else [att, compare]
    d = {"tokens": att.tokens, "layers": att.layers, "heads": att.heads,
         "token": att.token_index(token) if token is not None else None,
         "models": [{"name": m.model, "weights": np.round(m.weights.astype(np.float64), 4).tolist()} for m in models]}
    if compare is not None:
        d["difference"] = np.round(difference(att, compare), 4).tolist()
    return d


def _script_json(obj) -> str:
    # inside <script>: no "</" can end the element early
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")


def _diff_table(att: Attention, diff: np.ndarray) -> str:
    head = "".join(f"<th>head {h}</th>" for h in att.heads)
    rows = []
    top = float(diff.max()) or 1.0
    for a, layer in enumerate(att.layers):
        cells = "".join(f'<td style="background:rgba(209,36,47,{0.75 * v / top:.2f})">{v:.3f}</td>' for v in diff[a])
        rows.append(f"<tr><th>layer {layer}</th>{cells}</tr>")
    return (f'<h2>Per-head difference</h2><p class="meta">Mean over tokens of the total-variation distance between the '
            f'two models\' attention rows (0: the same, 1: disjoint).</p><table class="diff"><tr><th></th>{head}</tr>'
            f'{"".join(rows)}</table>')


def model_name(model: str) -> str:
    """What a page calls a model: a local folder by its name, a hub id as given; never a filesystem path."""
    if model.startswith("packaged:"):
        return model.split(":", 1)[1]
    path = Path(model).expanduser()
    if path.exists() or model.startswith(("/", "./", "../", "~")):
        return path.resolve().name or model
    return model


def page(att: Attention, token=None, compare: Attention | None = None, title: str | None = None) -> str:
    """The page as a string: everything inline (the weights as JSON in a script element)."""
    models = [att] if compare is None else [att, compare]
    diff = difference(att, compare) if compare is not None else None
    title = title or f"Attention: {model_name(att.model)}" + (f" vs {model_name(compare.model)}" if compare else "")
    note = (f"; the input was {att.input_tokens} tokens, truncated to the model's limit of {att.max_length}"
            if att.truncated else "")
    heads = [f'<h3 title="{escape(m.model)}">{"AB"[k] + ": " if compare else ""}{escape(model_name(m.model))}</h3>'
             for k, m in enumerate(models)]
    views = "".join(f'<div class="view">{h}<canvas id="head-{k}"></canvas></div>' for k, h in enumerate(heads))
    grids = "".join(f'<div class="view">{h}<div class="grid" id="model-{k}"></div></div>' for k, h in enumerate(heads))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title><style>{CSS}</style></head>
<body>
<h1>{escape(title)}</h1>
<p class="meta">{len(att.tokens)} tokens as the tokenizer cut them{escape(note)}. Lines go from a token (left) to the
tokens it attends to (right); the stronger the attention, the darker the line; one colour per head.
Hover a token on the left to see only its lines, click to keep it.</p>
<p><label>Layer <select id="layer"></select></label><label>Head <select id="head"></select></label>
Token: <b id="focus"></b></p>
<p class="legend" id="legend"></p>
<h2>Head view</h2>
<div class="views">{views}</div>
<h2>Model view</h2>
<p class="meta">Every layer (rows) and head (columns); click a thumbnail to open it in the head view.</p>
<div class="views">{grids}</div>
{_diff_table(att, diff) if diff is not None else ""}
<script type="application/json" id="attention-data">{_script_json(_data(att, token, compare))}</script>
<script>{JS}</script>
</body></html>
"""
