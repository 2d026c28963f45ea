"""The ner parts of `bertkit report`: data, dev metrics with per-type P/R/F1, the entity-type confusion matrix and
the worst dev sentences, through the same code as `ner eval`."""

from __future__ import annotations

from typing import Any, Sequence

from bertkit import plots
from bertkit.ner.schemes import entities
from bertkit.report import html as H

NONE = "none"


def type_confusion(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Entity types, gold rows × predicted columns: a gold entity counts under the type predicted on exactly its
    span ('none' when no predicted entity has that span); predicted entities without a gold one count in the
    'none' row."""
    pairs: list[tuple[str, str]] = []
    for g, p in zip(gold, pred):
        gs = {(a, b): t for t, a, b in entities(g)}
        ps = {(a, b): t for t, a, b in entities(p)}
        pairs += [(t, ps.get(span, NONE)) for span, t in gs.items()]
        pairs += [(NONE, t) for span, t in ps.items() if span not in gs]
    labels = sorted({x for pr in pairs for x in pr} - {NONE}) + [NONE]
    at = {n: i for i, n in enumerate(labels)}
    m = [[0] * len(labels) for _ in labels]
    for a, b in pairs:
        m[at[a]][at[b]] += 1
    return {"labels": labels, "matrix": m}


def sentence_errors(gold: Sequence[str], pred: Sequence[str]) -> int:
    """Gold entities missed plus predicted entities that are wrong (exact type and span)."""
    g, p = set(entities(gold)), set(entities(pred))
    return len(g ^ p)


def data_section(meta: dict, metrics: dict, run, why: str) -> str:
    args = meta.get("training_args") or {}
    w = (metrics.get("train") or {}).get("windows") or {}
    rows = [("train data", args.get("train")), ("scheme", meta.get("scheme")),
            ("labels", len(meta.get("labels") or [])),
            ("max length / stride", f"{meta.get('max_length')} / {meta.get('stride')}")]
    for split, c in w.items():
        rows.append((f"{split} sentences / windows / words", f"{c['sentences']} / {c['windows']} / {c['words']}"))
        rows.append((f"{split} words with no sub-token", c["dropped_words"]))
    out = H.kv([r for r in rows if r[1] is not None])
    if run is None:
        return out + H.note(f"no dev data: {why}")
    return out + H.kv([("dev data", run.metrics["data"]), ("dev sentences", run.metrics["sentences"]),
                       ("dev invalid I- continuations (gold)", run.metrics["invalid_continuations_gold"])])


def metrics_section(dev: dict | None, from_run: bool) -> str:
    if not dev:
        return H.note("no dev metrics: the model was trained without --dev and no --data was given")
    src = "computed now on the dev data" if from_run else "recorded at training (metrics.json)"
    scalars = [(k, v) for k, v in dev.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
               and k not in ("seconds", "words_per_second")]
    out = H.note(f"Dev metrics {src}.") + H.kv(scalars)
    per = dev.get("per_type") or {}
    if per:
        rows = [(t, v["precision"], v["recall"], v["f1"], v["support"]) for t, v in per.items()]
        out += "<h3>Per entity type</h3>" + H.table(["type", "precision", "recall", "f1", "support"], rows, [0])
    cm = dev.get("confusion_matrix")
    if cm:
        out += "<h3>Entity types: gold × predicted</h3>" + H.image(plots.confusion(cm["matrix"], cm["labels"]),
                                                                  "entity type confusion matrix")
    return out


def worst_section(run, k: int) -> str:
    if run is None:
        return H.note("no dev data, so no sentences to show; give tagged data with --data")
    gold, pred, toks = run.data.tags, run.pred, run.data.sentences.tokens
    errs = sorted(((sentence_errors(g, p), i) for i, (g, p) in enumerate(zip(gold, pred))), key=lambda x: (-x[0], x[1]))
    errs = [(e, i) for e, i in errs if e][:k]

    def show(words, tags):
        return " ".join(f"[{' '.join(words[a:b + 1])}]/{t}" for t, a, b in entities(tags)) or "—"

    rows = [(" ".join(toks[i]), show(toks[i], gold[i]), show(toks[i], pred[i]), e) for e, i in errs]
    intro = H.note(f"{sum(1 for g, p in zip(gold, pred) if sentence_errors(g, p))} of {len(gold)} dev sentences have "
                   f"an entity error; the {len(rows)} with the most:")
    return intro + (H.table(["sentence", "gold", "predicted", "errors"], rows, [0, 1, 2]) if rows else "")


def sections(model_dir: str, meta: dict, metrics: dict, dev: str | None, why: str, *, mistakes: int, limit,
             batch_size, allow_pickle, trust_remote_code) -> list[tuple[str, str]]:
    run = None
    if dev:
        from bertkit.ner.evaluate import evaluate_tagger
        from bertkit.ner.predict import Tagger

        tagger = Tagger(model_dir, batch_size=batch_size, allow_pickle=allow_pickle,
                        trust_remote_code=trust_remote_code)
        run = evaluate_tagger(tagger, dev, limit=limit)
        if tagger.scheme != "plain":
            run.metrics["confusion_matrix"] = type_confusion(run.data.tags, run.pred)
    dev_metrics = run.metrics if run is not None else metrics.get("dev")
    return [("Data", data_section(meta, metrics, run, why)),
            ("Dev metrics", metrics_section(dev_metrics, run is not None)),
            ("Worst sentences", worst_section(run, mistakes))]
