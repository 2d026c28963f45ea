"""The corpus metrics: keys (JSON/CSV), labels, which direction is better, and the legend.

One place, so the table, JSON, CSV, HTML, `--fail-under` and the README say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

COMPARE_SCHEMA = "bertkit.tokenize.compare/1"
SENTENCE_SCHEMA = "bertkit.tokenize.sentence/1"


@dataclass(frozen=True)
class Metric:
    key: str
    label: str  # table header
    better: str | None  # "max", "min" or None (no best)
    kind: str  # int | float | pct | rate
    legend: str


METRICS: list[Metric] = [
    Metric("vocab_size", "vocab", None, "int", "vocabulary size, added tokens included"),
    Metric("tokens", "tokens", "min", "int",
           "tokens over the corpus; special tokens added by post-processing ([CLS]/[SEP], <s>/</s>) are excluded "
           "unless --with-special. Equals len(encode(x)) of the library called directly"),
    Metric("delta_vs_baseline", "Δ base", "min", "pct",
           "tokens relative to the --baseline tokenizer (−10% = 10% fewer)"),
    Metric("chars_per_token", "chars/tok", "max", "float",
           "characters (code points) per token; higher = more compression"),
    Metric("bytes_per_token", "bytes/tok", "max", "float", "UTF-8 bytes per token"),
    Metric("fertility", "fertility", "min", "float",
           "non-special tokens per word, encoding whole rows (in context). A word is a run of letters/digits/marks, "
           "or one punctuation/symbol or CJK character"),
    Metric("split_words", "split≥2", "min", "pct", "share of words whose text is covered by 2 or more tokens"),
    Metric("unk_rate", "UNK", "min", "pct", "share of tokens that are the unknown token"),
    Metric("roundtrip", "round-trip", "max", "pct",
           "share of rows with decode(encode(x)) == x exactly; 'why not' gives the failure reasons: unk, whitespace, "
           "normalisation (NFKC), lowercasing, accent stripping (smallest set that explains the difference), other"),
    Metric("truncated", ">max-len", "min", "pct",
           "share of rows longer than --max-length, counting the special tokens a fine-tuning run adds "
           "(what it would truncate)"),
    Metric("len_p50", "p50", "min", "int", "median row length in tokens, special tokens included"),
    Metric("len_p95", "p95", "min", "int", "95th percentile row length, special tokens included"),
    Metric("len_max", "max", "min", "int", "longest row, special tokens included"),
    Metric("tokens_per_s", "tok/s", "max", "int",
           "encoding throughput: tokens / seconds spent in the library's batch encode"),
]
BY_KEY = {m.key: m for m in METRICS}

# One field per tokenizer in `--format json` (inside "tokenizers") and one column in `--format csv`.
FIELDS: dict[str, str] = {
    "name": "display name (NAME= in the spec, else the folder name)",
    "spec": "the -t spec as given",
    "library": "tokenizers | sentencepiece | transformers: the library that encoded",
    "family": "WordPiece | BPE | Unigram (WordLevel, Word, Char): the model type, read from the tokenizer",
    "byte_level": "true for byte-level BPE (GPT-2/RoBERTa): every byte has a token, no UNK",
    "vocab_size": BY_KEY["vocab_size"].legend,
    "special_tokens_added": "tokens the post-processor adds to one sequence (BERT 2, RoBERTa 2, T5 1, raw .model 0)",
    "with_special": "whether tokens include those special tokens (--with-special)",
    "rows": "rows in the corpus",
    "words": "words in the corpus (same for every tokenizer)",
    "chars": "characters (code points) in the corpus",
    "bytes": "UTF-8 bytes in the corpus",
    "tokens": BY_KEY["tokens"].legend,
    "delta_vs_baseline": "tokens / baseline tokens − 1 (a fraction; 0 for the baseline)",
    "chars_per_token": BY_KEY["chars_per_token"].legend,
    "bytes_per_token": BY_KEY["bytes_per_token"].legend,
    "fertility": BY_KEY["fertility"].legend,
    "split_words": "fraction of words covered by ≥ 2 tokens",
    "unk": "number of unknown tokens",
    "unk_rate": "unk / non-special tokens (a fraction)",
    "roundtrip": "fraction of rows with decode(encode(x)) == x",
    "roundtrip_failures": "JSON: {reason: rows}; CSV: 'reason=rows;…'. Reasons: unk, whitespace, normalisation, "
                          "lowercasing, accent stripping, joined with + when several are needed, or other",
    "max_length": "--max-length",
    "truncated": "fraction of rows longer than max_length, special tokens included",
    "len_p50": BY_KEY["len_p50"].legend,
    "len_p95": BY_KEY["len_p95"].legend,
    "len_max": BY_KEY["len_max"].legend,
    "tokens_per_s": BY_KEY["tokens_per_s"].legend,
    "encode_seconds": "seconds in the library's batch encode",
    "seconds": "seconds for all metrics of this tokenizer (encode, offsets, decode, checks)",
}
CSV_FIELDS = list(FIELDS)
# JSON only: {reason: {"row": index, "text": x, "decoded": decode(encode(x))}}, the first failure of each reason.
JSON_ONLY = {"roundtrip_examples": "the first failing row for each reason: {reason: {row, text, decoded}}"}


def fmt(key: str, value) -> str:
    """A metric value for people (table, HTML)."""
    if value is None:
        return "–"
    m = BY_KEY.get(key)
    kind = m.kind if m else ("int" if isinstance(value, int) else "float")
    if kind == "int":
        return f"{int(round(value)):,}"
    if kind == "pct":
        if key == "delta_vs_baseline":
            return f"{value * 100:+.1f}%"
        return f"{value * 100:.1f}%" if value >= 0.001 or value == 0 else f"{value * 100:.2f}%"
    return f"{value:.2f}"


def best(rows: list[dict]) -> dict[str, list[str]]:
    """For each metric with a direction, the names of the tokenizers with the best value (ties included)."""
    out: dict[str, list[str]] = {}
    if len(rows) < 2:
        return out
    for m in METRICS:
        if m.better is None or m.key == "delta_vs_baseline":
            continue
        vals = [(r["name"], r.get(m.key)) for r in rows if r.get(m.key) is not None]
        if not vals:
            continue
        pick = max if m.better == "max" else min
        target = pick(v for _, v in vals)
        names = [n for n, v in vals if abs(v - target) <= 1e-12 * max(1.0, abs(target))]
        if len(names) < len(vals):
            out[m.key] = names
    return out
