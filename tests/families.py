"""Tiny random models (2 layers, hidden 32) of every BERT family bertkit names, each saved with a real tokenizer of
its kind, built offline in seconds: WordPiece from the packaged MiniLM, byte-level BPE and SentencePiece from
../shared/data/tokenizers. A family is one entry in FAMILIES: (config class name, config keywords, tokenizer kind)."""

from __future__ import annotations

from pathlib import Path

# tokenizer kinds: where the vocabulary comes from (None: the packaged MiniLM's WordPiece)
TOKENIZERS = {
    "wordpiece": None,
    "bpe": "roberta-base",
    "sentencepiece": "albert-base-v2",
    "unigram": "t5-small",
}

_SMALL = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
              max_position_embeddings=128)

FAMILIES: dict[str, tuple[str, dict, str]] = {
    "bert": ("BertConfig", _SMALL, "wordpiece"),
    "distilbert": ("DistilBertConfig", dict(dim=32, n_layers=2, n_heads=2, hidden_dim=37, max_position_embeddings=128),
                   "wordpiece"),
    "roberta": ("RobertaConfig", dict(_SMALL, max_position_embeddings=130), "bpe"),
    "albert": ("AlbertConfig", dict(_SMALL, embedding_size=16), "sentencepiece"),
    "electra": ("ElectraConfig", dict(_SMALL, embedding_size=16), "wordpiece"),
    "deberta-v2": ("DebertaV2Config", dict(_SMALL, relative_attention=True, position_buckets=16,
                                           pos_att_type=["p2c", "c2p"], position_biased_input=False), "sentencepiece"),
    "modernbert": ("ModernBertConfig", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                            intermediate_size=37, max_position_embeddings=128, local_attention=16,
                                            global_attn_every_n_layers=2), "bpe"),
    "xlm-roberta": ("XLMRobertaConfig", dict(_SMALL, max_position_embeddings=130), "unigram"),
    "mpnet": ("MPNetConfig", dict(_SMALL, max_position_embeddings=130), "wordpiece"),
}


def _tokenizer(family: str, kind: str, shared: Path):
    import shutil
    import tempfile

    import transformers as tf

    from bertkit.modeling import packaged_model_dir

    if kind == "wordpiece":
        vocab = str(packaged_model_dir() / "vocab.txt")
        if family == "mpnet":  # MPNet's own special tokens are <s> </s> <pad> <mask>: the MiniLM vocabulary's here
            return tf.MPNetTokenizerFast(vocab=vocab, bos_token="[CLS]", eos_token="[SEP]", sep_token="[SEP]",
                                         cls_token="[CLS]", pad_token="[PAD]", mask_token="[MASK]",
                                         model_max_length=128)
        cls = tf.ElectraTokenizerFast if family == "electra" else tf.BertTokenizerFast
        return cls(vocab=vocab, do_lower_case=True, model_max_length=128)
    folder = shared / "tokenizers" / TOKENIZERS[kind]
    if kind == "bpe":
        return tf.RobertaTokenizerFast.from_pretrained(folder, model_max_length=128)
    # SentencePiece: each tokenizer class looks for the model file under its own name
    cls, name = {"albert": (tf.AlbertTokenizerFast, "spiece.model"),
                 "deberta-v2": (tf.DebertaV2TokenizerFast, "spm.model"),
                 "xlm-roberta": (tf.XLMRobertaTokenizerFast, "sentencepiece.bpe.model")}[family]
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(folder / "spiece.model", Path(d) / name)
        return cls.from_pretrained(d, model_max_length=128)


def build_family(family: str, path: Path, shared: Path) -> Path:
    """A base model (no task head) of `family` with its tokenizer, saved as a Hugging Face folder at `path`."""
    import torch
    import transformers as tf

    cfg_name, kw, kind = FAMILIES[family]
    tok = _tokenizer(family, kind, shared)
    cfg_cls = getattr(tf, cfg_name)
    extra = dict(pad_token_id=tok.pad_token_id)
    if family == "modernbert":
        extra.update(bos_token_id=tok.cls_token_id, eos_token_id=tok.sep_token_id, cls_token_id=tok.cls_token_id,
                     sep_token_id=tok.sep_token_id)
    cfg = cfg_cls(vocab_size=len(tok), **kw, **extra)
    torch.manual_seed(0)
    path.mkdir(parents=True, exist_ok=True)
    tf.AutoModel.from_config(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path
