"""Run the commands whose output the docs show, and write each output to docs/examples/NAME.md.

    python docs/gen/examples.py                  # every example (trains the quickstart model first: ~1-2 min)
    python docs/gen/examples.py predict report   # only these (the quickstart model is trained when one needs it)
    python docs/gen/examples.py --list           # the names and their commands

The pages include the files (`--8<-- "docs/examples/NAME.md"`), so after a change to what a command prints, this one
command updates the docs. The commands run in a scratch folder (with its own tokenization cache, shown as the
default ~/.cache/bertkit) holding a copy of examples/ (and `../shared`, a link
to the real data when it is there), so the paths printed are those a user in the repository would see. Examples that
need the real data are skipped, their files kept, when it is absent.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "docs" / "examples"
SHARED = Path(os.environ.get("BERTKIT_SHARED_DATA", REPO.parent / "shared" / "data"))
QUICKSTART = ("bertkit classify train --train examples/reviews-train.csv --dev examples/reviews-dev.csv "
              "-o runs/reviews --epochs 5 --batch-size 8 --lr 1e-4")
SENTENCE = "The animal didn't cross the street because it was too tired."
TWO = "printf 'a moving, beautifully acted film\\nthe plot was dull and the jokes fell flat\\n'"
TOKENIZERS = ("gpt2", "roberta-base", "bert-base-cased", "bert-base-multilingual-cased", "t5-small", "albert-base-v2")
SIX = " ".join(f"-t ../shared/data/tokenizers/{t}" for t in TOKENIZERS)
PEOPLE = ("bertkit ner train --train people-train.conll --dev people-dev.conll -o runs/people --epochs 3 "
          "--batch-size 16 --lr 3e-4")
PORT = 8765  # an uncommon port: the setup fails rather than query another server
SERVE = [f"! curl -s localhost:{PORT} >/dev/null || {{ echo 'port {PORT} is taken'; exit 1; }}",
         f"bertkit serve runs/people --port {PORT} >serve.log 2>&1 & echo $! >serve.pid",
         f"for i in $(seq 600); do curl -sf localhost:{PORT}/health >/dev/null && exit 0; sleep 0.5; done; "
         "cat serve.log; exit 1"]
WNUT = "bertkit ner train -c wnut17-minilm -o runs/wnut17"  # the packaged recipe, on ../shared/data/ner/wnut17
NER_BODY = '{"texts": ["Ada Lovelace met Grace Hopper in London", "🎉 we flew from 東京 to Paris with Alan Turing"]}'


@dataclass
class Example:
    name: str
    commands: list[str]
    model: bool = True  # needs the quickstart model (runs/reviews)
    shared: bool = False  # needs ../shared/data
    show_exit: bool = False  # print "[exit N]" after each command
    stderr: bool = True  # show what the command wrote on stderr too
    artifacts: dict[str, str] = field(default_factory=dict)  # file in the scratch folder -> path in the repository
    setup: list[str] = field(default_factory=list)  # run first, not shown (a model to train, a server to start)
    teardown: list[str] = field(default_factory=list)  # run last, not shown, whatever happened (a server to stop)


EXAMPLES = [
    Example("predict", [f"{TWO} | bertkit classify predict -m runs/reviews",
                        """echo '{"id": 7, "text": "what a waste of two hours"}' | """
                        "bertkit classify predict -m runs/reviews --all-scores"]),
    Example("pipeline", ["python3 -c \"from transformers import pipeline; print(pipeline('text-classification', "
                         "model='runs/reviews')('a moving, beautifully acted film'))\""], stderr=False),
    Example("eval-table", ["bertkit classify eval -m runs/reviews --data examples/reviews-dev.csv --format table"]),
    Example("eval-extra-metric", ["bertkit classify eval -m runs/reviews --data examples/reviews-dev.csv "
                                  "--extra-metric examples/metrics/mcc.py"]),
    Example("attention-bars", [f'bertkit attention show --text "{SENTENCE}" --token it --layer 2,3 --head 1,3,7'],
            model=False),
    Example("attention-png", [f'bertkit attention show --text "{SENTENCE}" --token it -o attention-it.png'],
            model=False, artifacts={"attention-it.png": "docs/assets/attention-it.png"}),
    Example("attention-compare", [f'bertkit attention show --model minilm --compare runs/reviews --text "{SENTENCE}" '
                                  "--token it --layer 5 --head 0,1"]),
    Example("report", ["bertkit report runs/reviews --output report.html"]),
    Example("tokenize-sentence", [f'bertkit tokenize compare {SIX} "{SENTENCE}" | cat'], model=False, shared=True),
    Example("tokenize-sst2", [f"bertkit tokenize compare {SIX} --file ../shared/data/glue/SST-2/dev.tsv "
                              "--max-length 32"], model=False, shared=True, stderr=False),
    Example("fast", [f"{TWO} | bertkit classify predict -m runs/reviews --fast"]),
    Example("export", ["bertkit export runs/reviews --onnx", "bertkit export runs/reviews --onnx --int8"]),
    Example("env-mixed-precision", ["bertkit env | grep -A3 mixed_precision_auto"], model=False),
    Example("env-fast", ["bertkit env | grep -A4 '\"fast\"'"], model=False),
    Example("env-table", ["bertkit env --format table"], model=False),
    Example("errors", [
        "bertkit classify train --train reviews.csv -o runs/a",
        "bertkit classify train --train ok.csv -o runs/a --batch-size 0",
        "bertkit classify train --train nan.csv -o runs/a",
        "bertkit classify train --train latin1.csv -o runs/a",
        "bertkit classify train --train ok.csv -o runs/reviews",
        "bertkit classify train --train ok.csv -o /proc/model",
        "bertkit classify train --train news.csv --label-col 0 -o runs/a --label-names World,Sports,Business,Sci",
        "bertkit classify train --train ok.csv -o runs/a -c qa-squad2",
        "bertkit classify predict -m ./runs/nothing in.txt",
        "bertkit classify train --train ok.csv -o runs/a --max-length 4096",
    ], show_exit=True),
    Example("serve-ner", [f"curl -s localhost:{PORT}/v1/ner -H 'content-type: application/json' -d '{NER_BODY}' "
                          "| python3 -m json.tool --no-ensure-ascii"], model=False, setup=[PEOPLE, *SERVE],
            teardown=["kill $(cat serve.pid); while kill -0 $(cat serve.pid) 2>/dev/null; do sleep 0.2; done"]),
    Example("ner-wnut17", [f"{WNUT} 2>&1 | grep -E '^(data|training|epoch)'",
                           "bertkit ner eval -m runs/wnut17 --data ../shared/data/ner/wnut17/dev.conll --format table",
                           "echo 'Going to Redondo Beach with @paul tomorrow , then Disneyland !' | "
                           "bertkit ner predict -m runs/wnut17"], model=False, shared=True),
    Example("multi-process", [
        "accelerate launch --multi_gpu --num_processes 2 --num_machines 1 --mixed_precision no --dynamo_backend no "
        "-m bertkit classify train --train examples/reviews-train.csv --dev examples/reviews-dev.csv "
        "-o runs/reviews-2p --epochs 3 --batch-size 4 --lr 1e-4"], model=False),
]


def _error_inputs(work: Path) -> None:
    """The files the `errors` example reads: each has the one problem its command shows."""
    rows = "".join(f"{t},{y}\n" for t, y in [("a fine film", 1), ("dull", 0)] * 4)
    (work / "ok.csv").write_text("text,label\n" + rows)
    (work / "reviews.csv").write_text("text;label\n" + rows.replace(",", ";"))
    (work / "nan.csv").write_text("text,label\na fine film,1\ndull,NaN\n")
    (work / "latin1.csv").write_bytes("text,label\ncaf\u00e9 noir,1\ndull,0\n".encode("latin-1"))
    (work / "news.csv").write_text("".join(f"{y},headline {i}\n" for i, y in enumerate([1, 2, 3, 4] * 2)))
    (work / "in.txt").write_text("a line\n")
    _people(work / "people-train.conll", 240, 0)
    _people(work / "people-dev.conll", 60, 1)


def _people(path: Path, n: int, seed: int) -> None:
    """A toy person / location tagging set (CoNLL, IOB2) for the ner examples: template sentences, known names."""
    import random

    people = [("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper"), ("Marie", "Curie"), ("Linus", "Torvalds"),
              ("Emmy", "Noether"), ("Katherine", "Johnson"), ("Tim", "Berners-Lee")]
    places = ["London", "Paris", "Berlin", "Tokyo", "Lagos", "Lima", "Oslo", "Cairo", "Nairobi", "Madrid"]
    templates = ["{p} lives in {l} .", "{p} met {q} in {l} yesterday .", "we flew from {l} to {m} with {p} .",
                 "{p} works in {l} .", "did {p} ever visit {l} ?", "{p} and {q} moved to {l} last year .",
                 "the train from {l} was late again", "{p} wrote to {q} from {l} ."]
    rng, lines = random.Random(seed), []
    for _ in range(n):
        for tok in rng.choice(templates).split():
            if tok in ("{p}", "{q}"):
                first, last = rng.choice(people)
                lines += [f"{first}\tB-person"] + ([f"{last}\tI-person"] if rng.random() < 0.6 else [])
            elif tok in ("{l}", "{m}"):
                lines.append(f"{rng.choice(places)}\tB-location")
            else:
                lines.append(f"{tok}\tO")
        lines.append("")
    path.write_text("\n".join(lines) + "\n")


def scratch(work: Path) -> Path:
    shutil.copytree(REPO / "examples", work / "w" / "examples")
    if SHARED.is_dir():
        (work / "shared").mkdir()
        (work / "shared" / "data").symlink_to(SHARED)
    _error_inputs(work / "w")
    return work / "w"


def run(cmd: str, cwd: Path, env: dict[str, str], stderr: bool) -> tuple[str, int]:
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], cwd=cwd, env=env, text=True, timeout=1800,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT if stderr else subprocess.DEVNULL)
    return r.stdout, r.returncode


def render(ex: Example, cwd: Path, env: dict[str, str]) -> str:
    parts = []
    for cmd in ex.commands:
        out, code = run(cmd, cwd, env, ex.stderr)
        if code != 0 and not ex.show_exit:
            raise SystemExit(f"examples: {ex.name}: `{cmd}` exited {code}:\n{out}")
        out = (out.replace(str(cwd / "cache"), "~/.cache/bertkit").replace(str(cwd / "xdg"), "~/.cache")
               .replace(str(cwd), ".").replace(str(cwd.parent), "..").replace(str(Path.home()), "~"))
        parts.append(f"$ {cmd}\n{out.rstrip()}" + (f"\n[exit {code}]" if ex.show_exit else ""))
    return "<!-- Generated by `python docs/gen/examples.py " + ex.name + "`: do not edit. -->\n\n```console\n" + \
        "\n".join(parts) + "\n```\n"


def _render_with_setup(ex: Example, cwd: Path, env: dict[str, str]) -> str:
    """`render`, after the example's setup commands and before its teardown ones (run even when it fails)."""
    try:
        for cmd in ex.setup:
            out, code = run(cmd, cwd, env, True)
            if code != 0:
                raise SystemExit(f"examples: {ex.name}: setup `{cmd}` exited {code}:\n{out}")
        return render(ex, cwd, env)
    finally:
        for cmd in ex.teardown:
            run(cmd, cwd, env, True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", help="only these examples (default: all)")
    ap.add_argument("--list", action="store_true", help="print the names and commands, run nothing")
    args = ap.parse_args(argv)
    chosen = [e for e in EXAMPLES if not args.names or e.name in args.names]
    if args.list or not chosen:
        for e in EXAMPLES:
            print(f"{e.name}: " + " && ".join(e.commands))
        return 0 if chosen else 2
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bertkit-examples-") as tmp:
        cwd = scratch(Path(tmp))
        env = {**os.environ, "BERTKIT_NO_PROGRESS": "1", "BERTKIT_CACHE_DIR": str(cwd / "cache"), "NO_COLOR": "1",
               "XDG_CACHE_HOME": str(cwd / "xdg"),  # --fast's ONNX export too stays in the scratch folder
               "COLUMNS": "120", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TRANSFORMERS_VERBOSITY": "error"}
        if any(e.model for e in chosen):
            out, code = run(QUICKSTART, cwd, env, True)
            if code != 0:
                raise SystemExit(f"examples: the quickstart training failed:\n{out}")
        for ex in chosen:
            if ex.shared and not SHARED.is_dir():
                print(f"skipped {ex.name}: needs the real data at {SHARED}", file=sys.stderr)
                continue
            text = _render_with_setup(ex, cwd, env)
            (OUT / f"{ex.name}.md").write_text(text)
            for src, dst in ex.artifacts.items():
                shutil.copyfile(cwd / src, REPO / dst)
            print(f"wrote docs/examples/{ex.name}.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
