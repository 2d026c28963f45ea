"""The accuracy gate of `bertkit export --onnx --int8`: int8 is kept only if the task's own metric holds.

1. The fp32 graph and ONNX Runtime's dynamic int8 quantization of it (every MatMul / Gemm) are scored on labelled
   data (the run's recorded dev file, or `--calibration`) with the task's metric, through the task's gate hook
   (`TaskSpec.gate_ref`: classify scores its selection metric, QA its F1, ner its entity micro F1), and the
   predictions' agreement with fp32 (ner: per word). Where the CPU has no VNNI, both 8-bit and 7-bit weights are
   scored (`weight_widths`); the better one is kept, and the fallback below uses it. Where LayerNorm outputs feed
   matrix products, the graph with those activations smoothed (bertkit.int8smooth: their per-channel scale moved
   into the weights, measured on the same data; at two strengths) is scored too at that width; of these, the one
   that passes is kept, and where several pass or none does, the one whose predictions agree with fp32's most often
   (`_faithful`). Static quantization (QDQ, calibrated activation ranges) is not scored: measured, it was slower than
   dynamic and less accurate (docs/design/fast-backend.md#static-int8).
2. The relative drop, (fp32 - int8) / |fp32| (the other way round for a lower-is-better metric), must be at most
   `max_drop` (default 1 %: the acceptance rule of Intel Neural Compressor's validated int8 models). How well the
   data pins the drop down is measured too: a paired bootstrap over its examples (the same resamples for fp32 and
   int8) gives a 95 % interval of the drop; with `confidence` (`--gate-confidence`), that one-sided bound must be at
   most `max_drop` as well, so that a small or noisy gate set cannot pass a drop it cannot see. Then the examples are
   split in two halves (seeded): the variants are judged and chosen on the first, and the chosen one must pass again,
   drop and bound, on the second, which no choice has seen. Chosen among many variants on the same examples, the best
   looks better than it is (MiniLM QA: three layers in fp32 passed with a bound of 0.04 % on 375 questions, and lost
   1.8 % of F1 on XQuAD's 1,190).
3. Otherwise each group of nodes (an encoder layer, or the head: pooler / classifier / QA outputs) is measured: the
   metric of the graph quantized everywhere but there. Groups are then left in fp32 one after another, the one that
   recovers most first, until a variant passes; if none does (short of leaving everything in fp32), fp32 is kept.

The decision (both scores, the drop, the label agreement, the nodes left in fp32, every variant tried, accepted or
not and why) goes into bertkit.json under "int8_gate"; `--fast` runs the int8 graph only when it was accepted
(bertkit.engine.backends.gated_int8). Shared code: the task comes in as a TaskSpec, never by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from bertkit.errors import BertkitError, UsageError

DEFAULT_MAX_DROP = 0.01
BOOTSTRAP_ROUNDS = 1000
QUANTIZED_OPS = ("MatMul", "Gemm")
_LAYER = re.compile(r"layers?[._/](\d+)[./]")


@dataclass(frozen=True)
class Score:
    """What a task's gate hook measures: its metric (name, value, direction) and one key per example (the predicted
    label / answer) for the agreement with fp32."""

    metric: str
    value: float
    higher_is_better: bool
    keys: Sequence[Any]
    examples: int = 0  # how many examples (rows, questions, sentences) `on` resamples
    on: Callable[[np.ndarray], float] | None = None  # the metric on a resample of them (an index array)


@dataclass
class Variant:
    excluded: list[str]  # groups left in fp32
    metric: float
    drop: float
    agreement: float
    passed: bool
    extra: dict = field(default_factory=dict)

    @property
    def alpha(self) -> float | None:
        """The smoothing strength of the graph it was quantized from (None: not smoothed)."""
        return self.extra.get("source", (None,))[0]

    def record(self) -> dict[str, Any]:
        return {"excluded": self.excluded, "weight_bits": self.extra.get("bits"),
                "smoothing_alpha": self.alpha, "metric": round(self.metric, 6),
                "relative_drop": round(self.drop, 6), "agreement": round(self.agreement, 6), "passed": self.passed,
                **{k: self.extra[k] for k in ("drop_interval_95", "drop_bound") if k in self.extra}}


def check_confidence(confidence: float | None) -> float | None:
    if confidence is not None and not 0.5 <= confidence < 1.0:
        raise UsageError(f"--gate-confidence {confidence}: give the one-sided confidence the drop's bound must hold "
                         "at, from 0.5 to below 1 (0.95 = 95 %)")
    return confidence


def check_max_drop(max_drop: float) -> float:
    if not 0.0 <= max_drop <= 1.0 or max_drop != max_drop:
        raise UsageError(f"--max-drop {max_drop}: give the largest relative metric drop int8 may cost, between 0 "
                         "and 1 (0.01 = 1 %)")
    return float(max_drop)


def gate_data(folder: str, meta: dict, data: str | None) -> str:
    """The labelled file the gate scores on: `data` (--calibration), else the dev file the run recorded."""
    if data is not None:
        if not Path(data).is_file():
            raise BertkitError(f"--calibration {data}: file not found; give a labelled file in the format of the "
                               "task's dev data")
        return data
    dev = (meta.get("training_args") or {}).get("dev")
    if not dev:
        raise BertkitError(f"{folder}: no dev data recorded in bertkit.json, so int8 cannot be checked; "
                           "give a labelled file with --calibration FILE")
    for cand in (Path(dev), Path(folder) / dev):
        if cand.is_file():
            return str(cand)
    raise BertkitError(f"{folder}: the recorded dev data {dev!r} is not found from here; give it (or another "
                       "labelled file) with --calibration FILE")


def relative_drop(ref: Score, got: Score) -> float:
    """The relative metric drop of `got` against `ref` (negative: int8 scored better)."""
    diff = (ref.value - got.value) if ref.higher_is_better else (got.value - ref.value)
    if ref.value == 0:
        return 0.0 if diff <= 0 else float("inf")
    return diff / abs(ref.value)


def halves(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The examples split in two (seeded, sorted): (where the variants are chosen, where the choice is confirmed)."""
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[: n // 2]), np.sort(perm[n // 2:])


def subset_drop(ref: Score, got: Score, idx: np.ndarray) -> float:
    """The relative drop on the examples `idx` only."""
    return relative_drop(Score(ref.metric, ref.on(idx), ref.higher_is_better, ()),
                         Score(ref.metric, got.on(idx), ref.higher_is_better, ()))


class Bootstrap:
    """The paired bootstrap of the relative drop: `rounds` resamples of the examples (with replacement, seeded, so
    every variant is scored on the same resamples), each scored for fp32 once and for every int8 variant."""

    def __init__(self, ref: Score, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0, subset: np.ndarray | None = None):
        self.ref, self.rounds, self.seed = ref, rounds, seed
        self.pool = np.arange(ref.examples) if subset is None else np.asarray(subset)  # the examples resampled
        self.usable = ref.on is not None and len(self.pool) > 1
        self.ref_values = self._values(ref) if self.usable else None

    def _values(self, score: Score) -> np.ndarray:
        rng = np.random.default_rng(self.seed)
        n = len(self.pool)
        return np.array([score.on(self.pool[rng.integers(0, n, n)]) for _ in range(self.rounds)], dtype=np.float64)

    def drops(self, got: Score) -> np.ndarray | None:
        if not self.usable or got.on is None or got.examples != self.ref.examples:
            return None
        ref, vals = self.ref_values, self._values(got)
        diff = (ref - vals) if self.ref.higher_is_better else (vals - ref)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(ref != 0, diff / np.abs(ref), np.where(diff <= 0, 0.0, np.inf))
        return out

    @staticmethod
    def interval(drops: np.ndarray) -> list[float]:
        """The 95 % percentile interval of the drop."""
        return [round(float(v), 6) for v in np.percentile(drops, [2.5, 97.5])]

    @staticmethod
    def bound(drops: np.ndarray, confidence: float) -> float:
        """The one-sided upper bound of the drop at `confidence`."""
        return round(float(np.percentile(drops, 100 * confidence)), 6)


def agreement(ref: Score, got: Score) -> float:
    n = len(ref.keys)
    return sum(a == b for a, b in zip(ref.keys, got.keys)) / n if n else 1.0


def node_groups(graph: Path) -> dict[str, list[str]]:
    """The quantizable nodes (MatMul / Gemm) of a graph by group: "layer.N" (an encoder layer) or "head"."""
    import onnx

    groups: dict[str, list[str]] = {}
    for node in onnx.load(str(graph), load_external_data=False).graph.node:
        if node.op_type in QUANTIZED_OPS:
            m = _LAYER.search(node.name)
            names = groups.setdefault(f"layer.{m.group(1)}" if m else "head", [])
            # the quantizer first rewrites a Gemm as MatMul + Add, naming the MatMul "<Gemm's name>_MatMul"
            names.extend([node.name, f"{node.name}_MatMul"] if node.op_type == "Gemm" else [node.name])
    return groups


def preprocess(src: Path, dest: Path) -> Path:
    """The step ONNX Runtime's docs ask for before quantizing: shape inference and graph clean-up."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(src), str(dest), skip_symbolic_shape=True)
    return dest


def cpu_has_vnni() -> bool:
    """Whether this x86 CPU multiplies int8 with VNNI (AVX512-VNNI or AVX-VNNI); True off x86 or when unknown."""
    import platform

    from bertkit.engine.precision import cpu_flags

    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return True
    flags = cpu_flags()
    return not flags or "avx512_vnni" in flags or "avx_vnni" in flags


def weight_widths() -> list[int]:
    """The int8 weight widths the gate scores for the all-int8 graph: 8 bits, and where the CPU has no VNNI, 7 bits as
    well (ONNX Runtime's `reduce_range`). Without VNNI the u8 x s8 products are summed in pairs into 16 bits, which
    8-bit weights can saturate (ONNX Runtime's docs) and 7-bit ones cannot; whether it costs accuracy depends on the
    model, so the gate measures both (WNUT-17 MiniLM on an AVX2-only AMD EPYC: entity F1 0.5744 with 8-bit weights,
    0.5634 with 7-bit, fp32 0.5765)."""
    return [8] if cpu_has_vnni() else [8, 7]


def quantize(pre: Path, dest: Path, exclude: Sequence[str] = (), bits: int | None = None) -> Path:
    """ONNX Runtime's dynamic quantization, as its docs give it for transformer models on CPU; `exclude`: node names
    left in fp32; `bits`: the weights' width, 8 or 7 (default, ungated: 7 where the CPU has no VNNI, the choice that
    cannot saturate)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    bits = bits or (8 if cpu_has_vnni() else 7)
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        # per channel: SST-2 dev labels agree with fp32 on 98.3 % (per tensor: 95.1 %) at the same speed
        quantize_dynamic(str(pre), str(dest), weight_type=QuantType.QInt8, per_channel=True,
                         reduce_range=bits == 7, nodes_to_exclude=list(exclude))
    finally:
        logging.getLogger().setLevel(level)
    return dest


def scorer(spec, folder: str, data: str, limit: int | None, allow_pickle: bool,
           trust_remote_code: bool) -> Callable[[Path], Score]:
    """score(onnx_file): the task's metric of that graph on `data`, run by the task's own predictor."""
    from bertkit.engine.backends import OrtModel
    from bertkit.taskspec import load

    if spec.gate_ref is None:
        raise BertkitError(f"{folder}: {spec.noun} has no accuracy gate yet, so --int8 cannot be checked")
    predictor = load(spec.predictor_ref)(folder, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    predictor.model = None  # only the ONNX graphs run: the PyTorch weights are not needed here
    measure = load(spec.gate_ref)(predictor, data, limit)

    def score(graph: Path, runner: Callable = OrtModel) -> Score:
        predictor.runner = runner(graph, predictor.config)
        try:
            return measure()
        finally:
            predictor.runner = None

    return score


def run_gate(score: Callable[[Path], Score], fp32: Path, pre: Path, work: Path, max_drop: float,
             log: Callable[[str], None], confidence: float | None = None,
             smoothing: Callable[[Path], list] | None = None) -> tuple[dict[str, Any], Path | None]:
    """(the decision, the accepted int8 graph or None). `fp32`: the graph to score as the reference; `pre`: it
    preprocessed for quantization; variants are written in `work`; `confidence`: the drop's bootstrap bound must
    pass too; `smoothing(pre)`: [(alpha, `pre` with its activations smoothed)] (bertkit.int8smooth), each scored as
    one more all-int8 variant at the better weight width."""
    ref = score(fp32)
    log(f"int8 gate: fp32 {ref.metric} {ref.value:.4f}" + (f" on {ref.examples} examples" if ref.examples else ""))
    split = halves(ref.examples) if confidence is not None else None  # chosen on split[0], confirmed on split[1]
    boot = Bootstrap(ref, subset=split[0] if split else None)
    if split and ref.on is None:
        raise BertkitError(f"--gate-confidence: {ref.metric} is not scored per example, so its drop has no bootstrap "
                           "bound; leave --gate-confidence out")
    if split and min(map(len, split)) < 2:
        raise BertkitError(f"--gate-confidence: {ref.examples} examples cannot be split into a half to choose on and "
                           "a half to confirm on; give a larger --calibration file")
    if split:
        log(f"int8 gate: variants judged on {len(split[0])} of the {ref.examples} examples, the choice confirmed on "
            f"the other {len(split[1])}")
    groups = node_groups(pre)
    tried: list[Variant] = []

    def attempt(excluded: list[str], bits: int, source: tuple[float | None, Path] = (None, pre)) -> Variant:
        f = quantize(source[1], work / f"int8-{len(tried)}.onnx", [n for g in excluded for n in groups[g]], bits=bits)
        got = score(f)
        drop = subset_drop(ref, got, split[0]) if split else relative_drop(ref, got)
        extra = {"file": f, "bits": bits, "source": source, "got": got, **_spread(boot, got, confidence)}
        passed = drop <= max_drop and extra.get("drop_bound", drop) <= max_drop
        v = Variant(excluded, got.value, drop, agreement(ref, got), passed, extra)
        tried.append(v)
        spread = (f", 95 % interval {extra['drop_interval_95'][0]:.2%} to {extra['drop_interval_95'][1]:.2%}"
                  if "drop_interval_95" in extra else "")
        how = f"{bits}-bit weights" + (f", smoothed at alpha {source[0]}" if source[0] else "")
        log(f"int8 gate: {'all nodes int8' if not excluded else 'fp32 kept in ' + ', '.join(excluded)} ({how}): "
            f"{ref.metric} {got.value:.4f} (relative drop {drop:.2%}{spread}, labels agree {v.agreement:.2%}) "
            f"{'passes' if v.passed else 'fails'} --max-drop {max_drop:.2%}"
            + (f" at {confidence:.0%} confidence (bound {extra['drop_bound']:.2%})" if confidence is not None else ""))
        return v

    v = _best([attempt([], bits) for bits in weight_widths()])
    for smoothed in smoothing(pre) if smoothing else []:
        v = _faithful(v, attempt([], v.extra["bits"], smoothed))
    if not v.passed:  # per group, with the weight width (and smoothing) that did best on the whole graph
        bits, source = v.extra["bits"], v.extra["source"]
        v = _fallback(lambda excluded: attempt(excluded, bits, source), list(groups), tried)
    if split and v.passed:
        _confirm(ref, v, split[1], confidence, max_drop, log)
    return _decision(ref, v, tried, groups, max_drop, confidence), (v.extra["file"] if v.passed else None)


def _confirm(ref: Score, v: Variant, idx: np.ndarray, confidence: float, max_drop: float,
             log: Callable[[str], None]) -> None:
    """The chosen variant's drop and bound again, on the examples `idx` that chose nothing; it stays accepted only if
    both pass there too."""
    boot, got = Bootstrap(ref, subset=idx), v.extra["got"]
    drop, bound = subset_drop(ref, got, idx), boot.bound(boot.drops(got), confidence)
    v.passed = drop <= max_drop and bound <= max_drop
    v.extra["confirmation"] = {"examples": len(idx), "relative_drop": round(drop, 6), "drop_bound": bound,
                               "passed": v.passed}
    log(f"int8 gate: confirmed on the other {len(idx)} examples: relative drop {drop:.2%}, bound at {confidence:.0%} "
        f"{bound:.2%}: {'passes' if v.passed else 'fails'} --max-drop {max_drop:.2%}")


def _spread(boot: Bootstrap, got: Score, confidence: float | None) -> dict[str, Any]:
    """The drop's 95 % bootstrap interval, and its one-sided bound at `confidence` (where asked)."""
    drops = boot.drops(got)
    if drops is None:
        return {}
    return {"drop_interval_95": boot.interval(drops),
            **({"drop_bound": boot.bound(drops, confidence)} if confidence is not None else {})}


def _decision(ref: Score, v: Variant, tried: list[Variant], groups: dict[str, list[str]], max_drop: float,
              confidence: float | None) -> dict[str, Any]:
    decision = {"accepted": v.passed, "metric": ref.metric, "fp32": round(ref.value, 6), "int8": round(v.metric, 6),
                "relative_drop": round(v.drop, 6), "max_drop": max_drop, "agreement": round(v.agreement, 6),
                "examples": ref.examples or None, "confidence": confidence,
                **{k: v.extra[k] for k in ("drop_interval_95", "drop_bound", "confirmation") if k in v.extra},
                "excluded": v.excluded, "excluded_nodes": [n for g in v.excluded for n in groups[g]],
                "weight_bits": v.extra["bits"], "smoothing_alpha": v.alpha, "cpu_vnni": cpu_has_vnni(),
                "quantization": f"dynamic int8 (ONNX Runtime, per channel, {v.extra['bits']}-bit weights"
                                + (f", LayerNorm outputs smoothed at alpha {v.alpha})" if v.alpha else ")"),
                "variants": [t.record() for t in tried]}
    decision["why"] = _why(ref, v, tried, max_drop, confidence)
    high = v.extra.get("drop_interval_95", [0.0, 0.0])[1]
    if v.passed and confidence is None and high > max_drop:
        decision["caution"] = (f"on these {ref.examples} examples the drop's 95 % interval reaches {high:.2%}, "
                               f"above --max-drop {max_drop:.2%}: a larger --calibration file narrows it, and "
                               "--gate-confidence 0.95 makes the gate require the bound")
    return decision


def _why(ref: Score, v: Variant, tried: list[Variant], max_drop: float, confidence: float | None) -> str:
    bound = f" (bound at {confidence:.0%}: {v.extra['drop_bound']:.2%})" if "drop_bound" in v.extra else ""
    conf = v.extra.get("confirmation")
    where = f" on the {ref.examples - conf['examples']} examples it was chosen on" if conf else ""
    then = (f"on the other {conf['examples']}: relative drop {conf['relative_drop']:.2%} (bound "
            f"{conf['drop_bound']:.2%})" if conf else "")
    kept = f" with {', '.join(v.excluded)} in fp32" if v.excluded else ""
    if v.passed:
        return (f"{ref.metric} {v.metric:.4f} vs fp32 {ref.value:.4f}: relative drop {v.drop:.2%}{bound}{where} <= "
                f"{max_drop:.2%}{kept}" + (f"; {then}" if then else ""))
    if conf:
        return (f"the variant chosen{kept} passed{where} (relative drop {v.drop:.2%}{bound}) but not {then}, above "
                f"--max-drop {max_drop:.2%}; fp32 kept")
    best = min(tried, key=lambda t: t.drop)
    return (f"no int8 variant kept {ref.metric} within {max_drop:.2%} of fp32 {ref.value:.4f}{bound} "
            f"(best: {best.metric:.4f}, drop {best.drop:.2%}, {len(tried)} variants tried); fp32 kept")


def _best(variants: Sequence[Variant]) -> Variant:
    """The variant with the smallest drop, then the highest agreement; then the narrower weights (which cannot
    saturate)."""
    return min(variants, key=lambda v: (v.drop, -v.agreement, v.extra["bits"]))


def _faithful(kept: Variant, smoothed: Variant) -> Variant:
    """The all-int8 graph kept so far or a smoothed one: the one that passes where only one does, else the one whose
    predictions equal fp32's more often (a paired count, steadier on a small gate set than the metric's drop: MiniLM QA
    on 200 XQuAD questions, smoothed: 86.5 % agreement and a 6.9 % drop; plain: 80.5 % and 4.6 %; on all 1,190 the
    smoothed graph drops 0.9 %, the plain one 2.4 %); the one kept on a tie."""
    if kept.passed != smoothed.passed:
        return kept if kept.passed else smoothed
    return max((kept, smoothed), key=lambda v: v.agreement)


def _fallback(attempt: Callable[[list[str]], Variant], names: list[str], tried: list[Variant]) -> Variant:
    """Measure each group (quantized everywhere but there), then leave the most sensitive ones in fp32, the one that
    recovers most first, until a variant passes; the best one tried when none does."""
    if len(names) < 2:
        return _best(tried)
    alone = {g: attempt([g]) for g in names}
    passing = [v for v in alone.values() if v.passed]
    if passing:
        return _best(passing)
    order = sorted(names, key=lambda g: (alone[g].drop, -alone[g].agreement))
    for k in range(2, len(order)):  # every group in fp32 would be the fp32 model itself
        v = attempt(order[:k])
        if v.passed:
            return v
    return _best(tried)
