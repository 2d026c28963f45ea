"""The prediction files of the original BERT ``run_squad.py``, which the official SQuAD
evaluation script reads:

* ``predictions.json``: {qid: answer text}, "" meaning "no answer";
* ``nbest.json``: {qid: [{"text", "probability", "start_logit", "end_logit"}, ...]},
  best first;
* ``na_probs.json`` (BERT's null_odds.json): {qid: float}; BERT writes the null score minus the best
  non-null score there, and it is passed to the evaluation script as --na-prob-file.

Files are written like BERT writes them (``json.dumps(obj, indent=4)`` and a newline) and
atomically: into a temporary file beside the target, then ``os.replace``. Readers check the
shape and raise :class:`~bertkit.errors.BertkitError` naming the file.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

from bertkit.errors import BertkitError

PREDICTIONS_FILE = "predictions.json"
NBEST_FILE = "nbest.json"
NULL_ODDS_FILE = "na_probs.json"
NBEST_KEYS = ("text", "probability", "start_logit", "end_logit")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:  # numpy / torch scalars
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise BertkitError(f"{what} is not a number: {value!r}")
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        raise BertkitError(f"{what} is not a finite number: {value!r}")
    return value


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write obj as JSON (indent 4, trailing newline) to path via a temporary file and os.replace."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=4, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return final


def _read_object(path: str | os.PathLike) -> dict:
    from bertkit.data.io import read_json_file

    obj = read_json_file(path)
    if not isinstance(obj, dict):
        raise BertkitError(f"{path}: expected a JSON object {{question id: ...}}, got {type(obj).__name__}")
    return obj


# --------------------------------------------------------------------------- predictions.json

def _check_predictions(preds: Mapping[str, Any], where: str) -> dict[str, str]:
    out = {}
    for qid, text in preds.items():
        if not isinstance(qid, str) or not isinstance(text, str):
            raise BertkitError(f"{where}: prediction for {qid!r} must be a string, got {text!r}")
        out[qid] = text
    return out


def write_predictions(path: str | os.PathLike, preds: Mapping[str, str]) -> Path:
    """predictions.json: {qid: text}, "" for no answer."""
    return write_json_atomic(path, _check_predictions(preds, str(path)))


def read_predictions(path: str | os.PathLike) -> dict[str, str]:
    return _check_predictions(_read_object(path), str(path))


# --------------------------------------------------------------------------- na_probs.json

def _check_na_probs(na_probs: Mapping[str, Any], where: str, writing: bool) -> dict[str, float]:
    out = {}
    for qid, v in na_probs.items():
        if not isinstance(qid, str):
            raise BertkitError(f"{where}: question id {qid!r} is not a string")
        if writing:
            out[qid] = _number(v, f"{where}: no-answer score for {qid}")
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            raise BertkitError(f"{where}: no-answer score for {qid} is not a number: {v!r}")
        else:
            out[qid] = v
    return out


def write_na_probs(path: str | os.PathLike, na_probs: Mapping[str, float]) -> Path:
    """na_probs.json: {qid: float}."""
    return write_json_atomic(path, _check_na_probs(na_probs, str(path), writing=True))


def read_na_probs(path: str | os.PathLike) -> dict[str, float]:
    """Values come back as the JSON holds them (an integer stays an int, as for the official
    script, whose best_*_thresh then prints as 1 rather than 1.0)."""
    return _check_na_probs(_read_object(path), str(path), writing=False)


# --------------------------------------------------------------------------- nbest.json

def _check_nbest(nbest: Mapping[str, Sequence[Mapping[str, Any]]], where: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for qid, entries in nbest.items():
        if not isinstance(qid, str) or isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, Sequence):
            raise BertkitError(f"{where}: n-best for {qid!r} must be a list of entries")
        rows = []
        for i, e in enumerate(entries):
            if not isinstance(e, Mapping) or any(k not in e for k in NBEST_KEYS):
                raise BertkitError(f"{where}: n-best entry {i} for {qid} needs the keys {', '.join(NBEST_KEYS)}")
            if not isinstance(e["text"], str):
                raise BertkitError(f"{where}: n-best entry {i} for {qid}: text must be a string")
            row = {"text": e["text"]}
            for k in NBEST_KEYS[1:]:
                row[k] = _number(e[k], f"{where}: n-best entry {i} for {qid}: {k}")
            rows.append(row)
        out[qid] = rows
    return out


def write_nbest(path: str | os.PathLike, nbest: Mapping[str, Sequence[Mapping[str, Any]]]) -> Path:
    """nbest.json: {qid: [{"text", "probability", "start_logit", "end_logit"}, ...]}.
    Only those four keys are written, in that order."""
    return write_json_atomic(path, _check_nbest(nbest, str(path)))


def write_official_files(output_dir: str | os.PathLike, preds: Mapping[str, str],
                         nbest: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
                         na_probs: Mapping[str, float] | None = None) -> dict[str, Path]:
    """Write predictions.json, and nbest.json / na_probs.json when given, into
    output_dir. Returns {"predictions": path, "nbest": path, "na_probs": path} for those written."""
    d = Path(output_dir)
    written = {"predictions": write_predictions(d / PREDICTIONS_FILE, preds)}
    if nbest is not None:
        written["nbest"] = write_nbest(d / NBEST_FILE, nbest)
    if na_probs is not None:
        written["na_probs"] = write_na_probs(d / NULL_ODDS_FILE, na_probs)
    return written
