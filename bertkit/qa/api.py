"""Extractive QA in one line, as the transformers `question-answering` pipeline was (removed in transformers 5):

    from bertkit import QA
    qa = QA("my-squad-model")                      # a folder from `bertkit qa train`, or any *ForQuestionAnswering
    qa(question="Who was Jim Henson?", context="Jim Henson was a nice puppet")
    # {'score': 0.93, 'start': 15, 'end': 28, 'answer': 'a nice puppet'}
    qa(question=[...], context=[...])              # lists → a list of dicts
    qa([{"question": ..., "context": ...}, ...])   # dicts → a list of dicts
    qa(question=q, context=c, top_k=3)             # → a list of up to 3 dicts, best first
    qa(question=q, context=c, allow_no_answer=False)  # always the best span, even from a SQuAD v2.0 model

`qa eval` and `qa ask` use this same code. Long contexts are cut into overlapping windows; every window
is scored and the best span over all of them wins. A model that may answer "no answer" (`allow_no_answer`, trained on
SQuAD v2.0 data) answers "" (start = end = 0, score = the no-answer probability) when its null score beats the best
span by more than the tuned threshold. (`handle_impossible_answer=`, the pipeline's name, is taken as an alias.)
`score` is the softmax of start + end logit over the candidate spans of all windows (and the null for v2.0),
so answers come best first with falling scores.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from bertkit.defaults import PREDICT_BATCH_SIZE
from bertkit.errors import BertkitError
from bertkit.predictor import Predictor
from bertkit.qa.data import QAExample
from bertkit.qa.postprocess import Prediction, Span, postprocess
from bertkit.qa.settings import QAConfig, QAUse, saved_allow_no_answer, stride_problem
from bertkit.settings import check_options


class QA(Predictor):
    """Answer questions from contexts with an extractive QA model folder (or hub id)."""

    def __init__(self, model: str | None = None, *, device: Any = None, batch_size: int = PREDICT_BATCH_SIZE,
                 max_length: int | None = None, doc_stride: int | None = None, n_best: int | None = None,
                 max_answer_length: int | None = None, null_threshold: float | None = None,
                 allow_no_answer: bool | None = None, threads: int | None = None, allow_pickle: bool = False,
                 trust_remote_code: bool = False, bf16: bool = False, fast: bool = False):
        from bertkit.modeling import model_max_length
        from bertkit.qa.spec import SPEC

        opts = check_options(QAUse, QAConfig, batch_size=batch_size, null_threshold=null_threshold, threads=threads)
        given = dict(doc_stride=doc_stride, n_best=n_best, max_answer_length=max_answer_length, max_length=max_length)
        check_options(QAConfig, **{k: v for k, v in given.items() if v is not None})
        self._load_model(SPEC, model, device=device, threads=opts["threads"], allow_pickle=allow_pickle,
                         trust_remote_code=trust_remote_code, bf16=bf16, fast=fast)
        meta, d = self.meta, QAConfig()
        archs = getattr(self.config, "architectures", None) or []
        if not meta and not any(a.endswith("ForQuestionAnswering") for a in archs):
            from bertkit.console import warn

            warn(f"{model or self.path}: not a question-answering model (no trained QA head); train one "
                 "with `bertkit qa train`")
        limit = model_max_length(self.tokenizer, self.config)
        self.max_length = min(max_length or meta.get("max_length") or d.max_length, limit)
        self.doc_stride = doc_stride if doc_stride is not None else meta.get("doc_stride", d.doc_stride)
        self.n_best = n_best or meta.get("n_best") or d.n_best
        self.max_answer_length = max_answer_length or meta.get("max_answer_length") or d.max_answer_length
        self.null_threshold = float(null_threshold if null_threshold is not None else meta.get("null_threshold", 0.0))
        # may answer "no answer": as asked, else as trained (bertkit.json's allow_no_answer: SQuAD v2.0 data)
        self.allow_no_answer = bool(allow_no_answer if allow_no_answer is not None else saved_allow_no_answer(meta))
        why = stride_problem(self.doc_stride, self.max_length)
        if why:
            raise BertkitError(f"{model or self.path}: --doc-stride {why}; give a smaller --doc-stride")
        self.batch_size = opts["batch_size"]
        self.bf16 = bool(bf16)  # bf16 autocast: opt-in, scores move slightly (see Classifier)

    # -- the pipeline-style call ------------------------------------------------------------------
    def __call__(self, *args, question: str | Sequence[str] | None = None, context: str | Sequence[str] | None = None,
                 top_k: int = 1, allow_no_answer: bool | None = None, handle_impossible_answer: bool | None = None,
                 **kw):
        if kw:
            raise TypeError(f"unexpected argument(s): {', '.join(kw)}")
        single = False
        if args:
            if len(args) != 1 or question is not None:
                raise TypeError("pass question=..., context=... or one dict / list of dicts")
            items = args[0]
            if isinstance(items, dict):
                items, single = [items], True
            pairs = [(x["question"], x["context"]) for x in items]
        else:
            if question is None or context is None:
                raise TypeError("question and context are required")
            if isinstance(question, str) and isinstance(context, str):
                pairs, single = [(question, context)], True
            elif isinstance(question, str):
                pairs = [(question, c) for c in context]
            elif isinstance(context, str):
                pairs = [(q, context) for q in question]
            else:
                question, context = list(question), list(context)
                if len(question) != len(context):
                    raise ValueError(f"{len(question)} questions but {len(context)} contexts")
                pairs = list(zip(question, context))
        allow = allow_no_answer if allow_no_answer is not None else handle_impossible_answer
        results = self.answer(pairs, top_k=top_k, allow_no_answer=allow)
        if top_k == 1:
            results = [r[0] for r in results]
        return results[0] if single else results

    def answer(self, pairs: Iterable[tuple[str, str]], top_k: int = 1,
               allow_no_answer: bool | None = None) -> list[list[dict]]:
        """For each (question, context): up to top_k answers {score, start, end, answer}, best first."""
        check_options(QAUse, top_k=top_k)
        examples = [QAExample(str(i), str(q).strip(), str(c)) for i, (q, c) in enumerate(pairs)]
        preds = self.predict(examples)
        return [self.format(p, top_k, allow_no_answer) for p in preds]

    def format(self, p: Prediction, top_k: int = 1, allow_no_answer: bool | None = None) -> list[dict[str, Any]]:
        no_answer = self.allow_no_answer if allow_no_answer is None else allow_no_answer
        probs, null_p = p.probabilities(no_answer)
        spans = [_as_dict(s, pr) for s, pr in zip(p.spans[: max(1, top_k)], probs)]
        if p.is_null(no_answer, self.null_threshold):
            spans = [{"score": float(null_p), "start": 0, "end": 0, "answer": ""}] + spans[: max(1, top_k) - 1]
        return spans

    # -- the shared inference path ----------------------------------------------------------------
    def predict(self, examples: Sequence[QAExample]) -> list[Prediction]:
        """Windows, one sorted batched forward pass, post-processing: a Prediction per example, in order."""
        from bertkit.qa.features import build_features

        for e in examples:
            if not e.question or not e.context.strip():
                raise BertkitError(f"question {e.id}: empty {'question' if not e.question else 'context'}")
        if not examples:
            return []
        feats = build_features(self.tokenizer, examples, self.max_length, self.doc_stride, labels=False)
        from bertkit.engine.inference import batched_forward
        from bertkit.qa.task import QATask

        task = QATask(self.tokenizer.pad_token_id, bool(self.allow_no_answer), gold=None)
        model = self.model if self.runner is None else self.runner  # runner: the --fast backend
        out = batched_forward(model, feats, task.collate, task.predict_step, self.batch_size, self.device,
                              bf16=self.bf16,
                              autocast_dtype=self.autocast_dtype)
        starts, ends = out["start_logits"], out["end_logits"]
        c = feats.columns
        return postprocess(examples, c["example_idx"], c["offsets"], c["cls_index"], starts, ends,
                           n_best=self.n_best, max_answer_length=self.max_answer_length)

    def __repr__(self) -> str:
        return (f"QA({self.path!r}, allow_no_answer={self.allow_no_answer}, max_length={self.max_length}, "
                f"doc_stride={self.doc_stride}, "
                f"null_threshold={self.null_threshold:.3f})")


def _as_dict(s: Span, prob: float) -> dict[str, Any]:
    return {"score": float(prob), "start": int(s.start), "end": int(s.end), "answer": s.text}
