"""Benchmark `bertkit qa eval` inference on XQuAD-en against the per-question loop (and, optionally, the
transformers 4.57 question-answering pipeline, which transformers 5 removed).

    nice -n 5 python bench/qa.py [--data ../shared/data/squad/xquad.en.json] [--model DIR] [--limit 300] [--repeats 1]
                                 [--threads N] [--with-tf4-pipeline] [--gate-questions 300] [--gate-confidence C]

Model: --model (a `bertkit qa train` folder or any *ForQuestionAnswering folder). By default the script
fine-tunes the packaged all-MiniLM-L6-v2 once with `bertkit qa train` (--train-questions answerable questions of
../shared/data/squad/squad2-cs224n/dev-v2.0.json whose paragraphs are not in XQuAD, 1 epoch, lr 3e-4, max length
256, stride 96) and caches it in $TMPDIR/bertkit-bench-qa-model-<hash>; both sides load the same folder.

Sides, each in a fresh child process, alternated (bertkit, loop, [tf4-pipeline]; with --repeats 2 then the
reverse order). By default the first --limit 300 of the 1,190 questions (--limit 0: all):
- bertkit: what `bertkit qa eval --model DIR --data F` runs (bertkit.qa.cli._load +
  bertkit.qa.evaluate.gold_for_file, QA.predict: windows, sorted batches of 64, n-best post-processing; then the
  official scoring);
- loop: per question, tokenize question + context (truncated to the model's max length), one forward pass
  of AutoModelForQuestionAnswering under torch.no_grad, argmax start and argmax end, the span's characters
  (or "" when they are not a valid context span); scored with the same official scorer;
- tf4-pipeline (--with-tf4-pipeline): transformers 4.57.1's pipeline("question-answering") at its defaults,
  run by a virtual environment that the script creates in $TMPDIR/bertkit-tf457 (system site packages for
  torch; `pip install transformers==4.57.1`), on the same examples and scorer.
- bertkit-fast: `bertkit qa eval --fast` (its ONNX file exported beforehand with `bertkit export --onnx`, then
  `bertkit export --onnx --int8 --calibration G` on --gate-questions held-out questions: the accuracy gate keeps
  int8 only if F1 drops by at most 1 % relative, and with --gate-confidence C only if the drop's bootstrap bound
  at C does too; untimed, kind=gate says what it decided, with the drop's 95 % interval);
- ort-loop-fp32 / ort-loop-int8: the per-question loop on an ONNX Runtime session of the exported file (fp32, dynamic
  int8), as ONNX Runtime's docs use it (--no-fast leaves these three out); kind=ratio-fast compares bertkit-fast.
Model loading is timed apart (load_s) and excluded from questions/s; each side warms up on 8 questions first.
One JSON line per run (kind=run), per side (kind=summary: medians) and kind=ratio (bertkit / each peer).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    REPO,
    SHARED,
    emit,
    environment,
    median,
    order,
    packaged_model,
    parent_args,
    run_child,
    tiny_model,
    trained_max_length,
)

WARMUP = 8
TF4 = "4.57.1"


def examples_of(data: str, limit: int | None):
    from bertkit.qa.data import load_qa

    return load_qa(data, limit=limit, default_split="validation").examples


def scores(data: str, limit: int | None, preds: dict[str, str]) -> dict:
    from bertkit.qa.evaluate import gold_for_file
    from bertkit.qa.squad_metrics import squad_evaluate

    gold = gold_for_file(data, limit, False)[1]
    r = squad_evaluate(gold, preds)
    return {"exact": round(r["exact"], 2), "f1": round(r["f1"], 2), "total": r["total"]}


# -- children ------------------------------------------------------------------------------------

def child_bertkit(p: dict) -> dict:
    """The body of `bertkit qa eval --model M --data F [--limit N]`, model loading timed apart."""
    from bertkit.qa import postprocess as pp
    from bertkit.qa.cli import _load
    from bertkit.qa.evaluate import allow_no_answer, gold_for_file

    t0 = time.perf_counter()
    qa = _load(p["model"], p.get("batch_size"), None, None, None, bf16=bool(p.get("bf16")), fast=bool(p.get("fast")))
    load = time.perf_counter() - t0
    qa.predict(examples_of(p["data"], WARMUP))
    t0 = time.perf_counter()
    d, gold = gold_for_file(p["data"], p["limit"], False)
    preds = qa.predict(d.examples)
    res = pp.evaluate(gold, preds, allow_no_answer(qa.allow_no_answer, d.has_impossible, None, p["data"]),
                      qa.null_threshold)
    s = time.perf_counter() - t0
    n = len(d.examples)
    return {"load_s": round(load, 2), "seconds": round(s, 3), "questions": n, "questions_per_s": round(n / s, 2),
            "exact": round(res["exact"], 2), "f1": round(res["f1"], 2)}


def child_loop(p: dict) -> dict:
    """The seed's per-question loop; with p["onnx"], the same loop on an ONNX Runtime session (as its docs use it)."""
    import numpy as np
    import torch
    from transformers import AutoTokenizer

    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(p["model"])
    if p.get("onnx"):
        import onnxruntime as ort

        sess = ort.InferenceSession(p["onnx"], providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]

        def forward(enc):
            s, e = sess.run(["start_logits", "end_logits"], {k: enc[k].astype(np.int64) for k in names})
            return s[0], e[0]
    else:
        from transformers import AutoModelForQuestionAnswering

        model = AutoModelForQuestionAnswering.from_pretrained(p["model"]).eval()

        def forward(enc):
            with torch.no_grad():
                out = model(**{k: torch.from_numpy(v) for k, v in enc.items()})
            return out.start_logits[0].numpy(), out.end_logits[0].numpy()
    load = time.perf_counter() - t0

    def answer(question: str, context: str) -> str:
        enc = tok(question, context, truncation="only_second", max_length=p["max_length"], return_offsets_mapping=True,
                  return_tensors="np")
        offsets = enc.pop("offset_mapping")[0].tolist()
        seq = enc.sequence_ids(0)
        start, end = forward(dict(enc))
        s, e = int(start.argmax()), int(end.argmax())
        if seq[s] != 1 or seq[e] != 1 or e < s:
            return ""
        return context[offsets[s][0]: offsets[e][1]]

    for ex in examples_of(p["data"], WARMUP):
        answer(ex.question, ex.context)
    t0 = time.perf_counter()
    examples = examples_of(p["data"], p["limit"])
    preds = {ex.id: answer(ex.question, ex.context) for ex in examples}
    res = scores(p["data"], p["limit"], preds)
    s = time.perf_counter() - t0
    n = len(examples)
    return {"load_s": round(load, 2), "seconds": round(s, 3), "questions": n, "questions_per_s": round(n / s, 2),
            "exact": res["exact"], "f1": res["f1"]}


def child_tf4(p: dict) -> dict:
    """transformers 4.57's pipeline("question-answering") at its defaults (run by the tf4 venv's python)."""
    import transformers
    from transformers import pipeline

    assert transformers.__version__ == TF4, transformers.__version__
    t0 = time.perf_counter()
    pipe = pipeline("question-answering", model=p["model"], tokenizer=p["model"], device=-1)
    load = time.perf_counter() - t0
    warm = examples_of(p["data"], WARMUP)
    pipe(question=[e.question for e in warm], context=[e.context for e in warm])
    t0 = time.perf_counter()
    examples = examples_of(p["data"], p["limit"])
    out = pipe(question=[e.question for e in examples], context=[e.context for e in examples])
    out = out if isinstance(out, list) else [out]
    preds = {e.id: r["answer"] for e, r in zip(examples, out)}
    res = scores(p["data"], p["limit"], preds)
    s = time.perf_counter() - t0
    n = len(examples)
    return {"load_s": round(load, 2), "seconds": round(s, 3), "questions": n, "questions_per_s": round(n / s, 2),
            "exact": res["exact"], "f1": res["f1"], "transformers": transformers.__version__}


# -- setup ----------------------------------------------------------------------------------------

def train_questions_file(source: str, exclude_data: str, n: int, out: Path, skip: int = 0) -> Path:
    """Answerable questions of a SQuAD file whose paragraphs are not in the evaluation data, as SQuAD v1.1 JSON:
    the first `n` of them after the first `skip` (the training questions are the first, the gate's the next)."""
    excl = {p["context"] for a in json.loads(Path(exclude_data).read_text())["data"] for p in a["paragraphs"]}
    src = json.loads(Path(source).read_text())
    data, k = [], 0
    for a in src["data"]:
        paras = []
        for para in a["paragraphs"]:
            if para["context"] in excl or k >= skip + n:
                continue
            qas = [q for q in para["qas"] if not q.get("is_impossible") and q.get("answers")]
            chosen = [q for j, q in enumerate(qas, k) if skip <= j < skip + n]
            k += len(qas)
            if chosen:
                paras.append({"context": para["context"], "qas": [{**q, "is_impossible": False} for q in chosen]})
        if paras:
            data.append({"title": a["title"], "paragraphs": paras})
    out.write_text(json.dumps({"version": "1.1", "data": data}))
    return out


def qa_model(args, base: str, cache_root: Path) -> str:
    """Fine-tune `base` once with `bertkit qa train` (cached by its settings)."""
    from bertkit.engine.threads import auto_threads
    settings = {"base": base, "train": args.train, "exclude": args.data, "questions": args.train_questions, "epochs": 1,
                "lr": 3e-4, "warmup": 0.1, "batch": 16, "seed": 42, "max_length": 256, "doc_stride": 96}
    key = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:10]
    out = cache_root / f"bertkit-bench-qa-model-{key}"
    if (out / "config.json").is_file() and not args.retrain:
        return str(out)
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-qa-") as tmp:
        f = train_questions_file(args.train, args.data, args.train_questions, Path(tmp) / "train.json")
        cmd = [sys.executable, "-m", "bertkit", "qa", "train", "--model", base, "--train", str(f), "-o", str(out),
               "--overwrite", "--epochs", "1", "--lr", "3e-4", "--warmup-ratio", "0.1", "--batch-size", "16", "--seed",
               "42",
               "--max-length", "256", "--doc-stride", "96", "--threads", str(auto_threads(None)[0])]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=str(REPO), capture_output=True, text=True,
                           env={**os.environ, "BERTKIT_NO_PROGRESS": "1", "PYTHONPATH": str(REPO)})
        if r.returncode != 0:
            raise RuntimeError(f"bertkit qa train failed:\n{r.stderr[-3000:]}")
        emit({"kind": "setup", "bench": "qa", "what": "bertkit qa train (the model both sides use)",
              "seconds": round(time.perf_counter() - t0, 1),
              "train_questions": args.train_questions, "model_dir": str(out)})
    return str(out)


def tiny_qa(base: str, out: Path) -> str:
    """The tiny random BERT with a seeded QA head, saved as a QA folder (what `bertkit export` takes)."""
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    torch.manual_seed(0)
    AutoModelForQuestionAnswering.from_pretrained(base).save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return str(out)


def tf4_python(root: Path) -> str:
    """A venv with transformers 4.57.1 over this interpreter's site packages (torch, tokenizers...)."""
    venv = root / "bertkit-tf457"
    py = venv / "bin" / "python"
    ok = py.is_file() and subprocess.run([str(py), "-c", f"import transformers as t; assert t.__version__ == '{TF4}'"],
                                          capture_output=True).returncode == 0
    if not ok:
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
        r = subprocess.run([str(py), "-m", "pip", "install", "-q", f"transformers=={TF4}"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError(f"could not install transformers=={TF4} into {venv}:\n{r.stderr[-2000:]}")
    return str(py)


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED / "squad" / "xquad.en.json"))
    ap.add_argument("--train", default=str(SHARED / "squad" / "squad2-cs224n" / "dev-v2.0.json"),
                    help="SQuAD file to fine-tune the default model on (XQuAD paragraphs are left out)")
    ap.add_argument("--train-questions", type=int, default=400)
    ap.add_argument("--model", default=None, help="a QA model folder (default: fine-tune MiniLM once, cached)")
    ap.add_argument("--retrain", action="store_true", help="fine-tune the default model again")
    ap.add_argument("--limit", type=int, default=300, help="only the first N questions (0: all 1,190)")
    ap.add_argument("--batch-size", type=int, default=None, help="bertkit's --batch-size (default: its own, 64)")
    ap.add_argument("--max-length", type=int, default=None,
                    help="the loop's truncation length (default: the model's, from bertkit.json, else 384)")
    ap.add_argument("--threads", type=int, default=None,
                    help="OMP_NUM_THREADS for every side (default: unset, each side's own default)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--with-tf4-pipeline", action="store_true", help=f"add transformers {TF4}'s QA pipeline as a peer")
    ap.add_argument("--bertkit-bf16", action="store_true", help="also run `bertkit qa eval --bf16` (side bertkit-bf16)")
    ap.add_argument("--no-fast", action="store_true", help="leave out bertkit --fast and the ONNX Runtime loops")
    ap.add_argument("--gate-questions", type=int, default=300,
                    help="the int8 gate's data (`bertkit export --int8 --calibration`): this many answerable questions "
                         "of --train after the training ones, paragraphs not in --data (0: no gate, --fast runs fp32)")
    ap.add_argument("--gate-confidence", type=float, default=None,
                    help="the gate's `export --gate-confidence`: the drop's bootstrap bound must pass too")
    ap.add_argument("--smoke", action="store_true", help="tiny random model, 12 questions (gate: 12), 1 repeat")
    return ap


def main() -> None:
    ap = parser()
    children = {"bertkit": child_bertkit, "loop": child_loop, "tf4": child_tf4}
    args = parent_args(ap, children)
    if args is None:
        return
    cache_root = Path(os.environ.get("TMPDIR", tempfile.gettempdir()))
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-qa-") as tmp:
        if args.smoke:
            model = tiny_qa(tiny_model(Path(tmp) / "tiny"), Path(tmp) / "tiny-qa")
            args.limit, args.repeats, args.gate_questions = 12, 1, min(args.gate_questions, 12)
        else:
            model = args.model or qa_model(args, packaged_model(), cache_root)
        sides = (["bertkit", "loop"] + (["bertkit-bf16"] if args.bertkit_bf16 else [])
                 + (["tf4-pipeline"] if args.with_tf4_pipeline else []))
        onnx = {}
        if not args.no_fast:
            from fast_sides import export_for_fast

            gate_file = None
            if args.gate_questions:  # held out: after the training questions, not in XQuAD
                gate_file = str(train_questions_file(args.train, args.data, args.gate_questions,
                                                     Path(tmp) / "gate.json", skip=args.train_questions))
            onnx = export_for_fast(model, Path(tmp), gate_file, confidence=args.gate_confidence)
            model = onnx.pop("model")
            gate = onnx.pop("gate", None)
            if gate is not None:
                emit({"kind": "gate", "bench": "qa", "questions": args.gate_questions, **gate})
            sides += ["bertkit-fast", "ort-loop-fp32", "ort-loop-int8"]
        tf4_py = tf4_python(cache_root) if args.with_tf4_pipeline else None
        limit = args.limit or None
        max_length = trained_max_length(model, 384) if args.max_length is None else args.max_length
        p = {"model": model, "data": args.data, "limit": limit, "batch_size": args.batch_size, "max_length": max_length}
        common = {"bench": "qa", "data": Path(args.data).name, "limit": limit, "max_length": max_length,
                  "threads_option": args.threads,
                  "model": "tiny" if args.smoke else (args.model or "all-MiniLM-L6-v2 fine-tuned by bench/qa.py")}
        summ = run_sides(args, sides, p, onnx, common, tf4_py)
        report(summ, common)


def run_sides(args: argparse.Namespace, sides: list[str], p: dict, onnx: dict, common: dict,
              tf4_py: str | None) -> dict[str, dict]:
    """Each side in a fresh child, alternated over the repeats; one kind=run line each and kind=summary per side."""
    env = environment()
    cenv = {"OMP_NUM_THREADS": str(args.threads)} if args.threads else None
    runs: dict[str, list[dict]] = {}
    for i, side in enumerate(order(sides, args.repeats)):
        if side == "tf4-pipeline":
            res = run_child([__file__, "--child", "tf4", "--params", json.dumps(p)], python=tf4_py, env=cenv)
        elif side in ("bertkit-bf16", "bertkit-fast"):
            res = run_child([__file__, "--child", "bertkit", "--params", json.dumps({**p, side[8:]: True})],
                            env=cenv)
        elif side.startswith("ort-loop-"):
            res = run_child([__file__, "--child", "loop", "--params",
                             json.dumps({**p, "onnx": onnx[side.replace("loop-", "")]})], env=cenv)
        else:
            res = run_child([__file__, "--child", side, "--params", json.dumps(p)], env=cenv)
        runs.setdefault(side, []).append(res)
        emit({"kind": "run", **common, "side": side, "run": i, **env, **res})
    summ = {}
    for side, rs in runs.items():
        summ[side] = {k: median([r[k] for r in rs]) for k in ("questions_per_s", "seconds", "exact", "f1",
                                                              "peak_rss_mb", "load_s")}
        emit({"kind": "summary", **common, "side": side, "runs": len(rs), "questions": rs[0]["questions"],
              **summ[side]})
    return summ


def report(summ: dict[str, dict], common: dict) -> None:
    """kind=ratio-fast (bertkit --fast against the loops) and kind=ratio (bertkit against each peer)."""
    b = summ["bertkit"]
    if "bertkit-fast" in summ:
        f = summ["bertkit-fast"]
        for peer in ("loop", "ort-loop-fp32", "ort-loop-int8"):
            q = summ[peer]
            emit({"kind": "ratio-fast", **common, "peer": peer,
                  "x": round(f["questions_per_s"] / q["questions_per_s"], 2),
                  "exact_diff_vs_fp32": round(f["exact"] - b["exact"], 2),
                  "f1_diff_vs_fp32": round(f["f1"] - b["f1"], 2),
                  "exact_diff_vs_peer": round(f["exact"] - q["exact"], 2),
                  "f1_diff_vs_peer": round(f["f1"] - q["f1"], 2),
                  "peak_rss_mb": {"bertkit-fast": f["peak_rss_mb"], peer: q["peak_rss_mb"]},
                  "targets": {"2.5x_loop": (f["questions_per_s"] >= 2.5 * q["questions_per_s"]
                                            if peer == "loop" else None),
                              "em_f1_within_0.5_of_fp32": (abs(f["exact"] - b["exact"]) <= 0.5
                                                           and abs(f["f1"] - b["f1"]) <= 0.5),
                              "rss_not_above": f["peak_rss_mb"] <= q["peak_rss_mb"]}})
    for peer in [s for s in summ if s != "bertkit" and not s.startswith(("bertkit", "ort-"))]:
        q = summ[peer]
        emit({"kind": "ratio", **common, "peer": peer, "x": round(b["questions_per_s"] / q["questions_per_s"], 2),
              "exact_diff": round(b["exact"] - q["exact"], 2), "f1_diff": round(b["f1"] - q["f1"], 2),
              "peak_rss_ratio": round(b["peak_rss_mb"] / q["peak_rss_mb"], 2),
              "targets": {"3x": b["questions_per_s"] >= 3 * q["questions_per_s"] if peer == "loop" else None,
                          "em_f1_not_lower": b["exact"] >= q["exact"] and b["f1"] >= q["f1"],
                          "rss_not_above": b["peak_rss_mb"] <= q["peak_rss_mb"]}})


if __name__ == "__main__":
    main()
