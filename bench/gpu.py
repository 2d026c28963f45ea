"""Model-FLOPs utilisation on a GPU: `bertkit classify train` and the Trainer, a BERT-base-shaped model, bf16.

    python bench/gpu.py [--rows 20000] [--epochs 1] [--batch-size 32] [--compile] [--peak-tflops T]

Both sides are the children of bench/train_classify.py (the same data, seed and settings), here with a randomly
initialised BERT-base-shaped encoder (12 layers, hidden 768, 12 heads, the packaged MiniLM's vocabulary) and bf16
mixed precision on both sides; bertkit with SDPA and its length buckets (and torch.compile with --compile), the
Trainer with its defaults (random batches padded per batch). MFU counts real (non-pad) tokens only:
    MFU = tokens/s × (6 × non-embedding parameters + 12 × layers × hidden × mean real length) / peak bf16 FLOP/s
(forward + backward; the second term is attention's score and value products). Peak: --peak-tflops, else the
card's dense bf16 figure from PEAK_TFLOPS by name. Without a CUDA device it prints one kind=skip line and exits 0;
--smoke runs the same code on the CPU with the tests' tiny BERT (no MFU: there is no peak to divide by).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from common import SHARED, emit, environment, parse_args, read_tsv, run_child, tiny_model

PEAK_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0, "H100": 756.0,
               "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0, "RTX 4090": 165.0, "RTX 3090": 71.0}
SCRIPT = str(Path(__file__).resolve().parent / "train_classify.py")


def peak_tflops(name: str | None, given: float | None) -> float | None:
    if given:
        return given
    for key, v in PEAK_TFLOPS.items():  # most specific names first
        if name and key in name:
            return v
    return None


def base_shaped(out: Path, vocab_from: str) -> str:
    """A random BERT-base-shaped encoder with the packaged tokenizer (speed does not depend on the weights)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(vocab_from)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tok.vocab_size)).save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


def flops_per_token(model: str, mean_len: float) -> tuple[float, int]:
    """(training FLOPs per token at the mean length, forward + backward: train_flops.training_flops of one token
    whose sequence is `mean_len` long; the Linear weights of the encoder)."""
    import train_flops

    shape = train_flops.model_shape(model)
    return train_flops.training_flops(shape, 1, mean_len), train_flops.linear_weights(shape)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", default=str(SHARED / "glue" / "SST-2" / "train.tsv"))
    ap.add_argument("--dev", default=str(SHARED / "glue" / "SST-2" / "dev.tsv"))
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--compile", action="store_true", help="bertkit side with --compile")
    ap.add_argument("--peak-tflops", type=float, default=None, help="the card's dense bf16 peak (default: by name)")
    ap.add_argument("--smoke", action="store_true", help="CPU, tiny BERT, 64 rows: checks the code path only")
    args = parse_args(ap)
    import torch

    env = environment()
    if not torch.cuda.is_available() and not args.smoke:
        emit({"kind": "skip", "bench": "gpu", "reason": "no CUDA device: nothing to measure (MFU needs a GPU)", **env})
        return
    card = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    peak = peak_tflops(card, args.peak_tflops)
    with tempfile.TemporaryDirectory(prefix="bertkit-bench-gpu-") as tmp:
        tmp_p = Path(tmp)
        if args.smoke:
            model, args.rows = tiny_model(tmp_p / "tiny"), 64
        else:
            from common import packaged_model

            model = base_shaped(tmp_p / "base", packaged_model())
        texts, labels = read_tsv(args.train)
        texts, labels = texts[: args.rows], labels[: args.rows]
        train_file = tmp_p / "train.tsv"
        train_file.write_text("sentence\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in zip(texts, labels)),
                              encoding="utf-8")
        from transformers import AutoTokenizer

        lens = [len(x) for x in AutoTokenizer.from_pretrained(model)(texts, truncation=True,
                                                                     max_length=128)["input_ids"]]
        mean_len = sum(lens) / len(lens)
        fpt, n_params = flops_per_token(model, mean_len)
        bf16 = torch.cuda.is_available()
        params = {"model": model, "train": str(train_file), "dev": args.dev, "epochs": args.epochs,
                  "batch_size": args.batch_size,
                  "eval_batch_size": 128, "lr": 5e-5, "warmup_ratio": 0.06, "weight_decay": 0.01, "max_length": 128,
                  "seed": 42, "bf16": bf16, "extra": {"compile": True} if args.compile else {}}
        out = {}
        for side in ("bertkit", "trainer"):
            res = out[side] = run_child([SCRIPT, "--child", side, "--params", json.dumps(params)])
            tokens_per_s = res["train_samples_per_s"] * mean_len  # real tokens: samples/s × mean real length
            mfu = tokens_per_s * fpt / (peak * 1e12) if peak else None
            emit({"kind": "run", "bench": "gpu", "side": side, "card": card, "peak_bf16_tflops": peak, "bf16": bf16,
                  "compile": bool(args.compile and side == "bertkit"), "rows": len(texts),
                  "mean_real_tokens": round(mean_len, 1),
                  "non_embedding_params_m": round(n_params / 1e6, 1), "train_samples_per_s": res["train_samples_per_s"],
                  "real_tokens_per_s": round(tokens_per_s), "mfu": round(mfu, 4) if mfu is not None else None,
                  "dev_accuracy": res["dev_accuracy"], "peak_rss_mb": res["peak_rss_mb"], **env})
        x = out["bertkit"]["train_samples_per_s"] / out["trainer"]["train_samples_per_s"]
        mfu_b = out["bertkit"]["train_samples_per_s"] * mean_len * fpt / (peak * 1e12) if peak else None
        emit({"kind": "ratio", "bench": "gpu", "card": card, "x_vs_trainer": round(x, 2),
              "targets": {"mfu_40": mfu_b >= 0.40 if mfu_b is not None else None}})


if __name__ == "__main__":
    main()
