"""Token classification (named entities and any per-word tags): tag schemes, entity metrics, CoNLL reading and
word/sub-word alignment. The `bertkit ner` commands are built on these (see the token-classification issue)."""
