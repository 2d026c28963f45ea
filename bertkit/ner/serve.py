"""`POST /v1/ner` of `bertkit serve`: texts in, per text the object `ner predict --format jsonl` prints for it
(`{"text", "entities": [{"text", "type", "start", "end", "score"}]}`, `text[start:end]` the entity's text; a model
with plain tags gives `words`). The batch runs through the Tagger's one inference path (`Tagger.predict_records`)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from bertkit.serve.adapter import ServeAdapter, ServeRequest, not_blank

Text = Annotated[str, AfterValidator(not_blank)]
SERVE_BATCH_SIZE = 1024  # windows per forward pass: the server's batcher bounds a batch by tokens


class NERRequest(ServeRequest):
    # no `aggregate`: the Tagger fixes it when loaded (`ner predict --aggregate`), and a batch mixes requests
    texts: list[Text] = Field(..., min_length=1, description="Texts to tag (entities come with character offsets).")


def _load(path: str, fast: bool = False):
    from bertkit.ner.predict import Tagger

    return Tagger(path, batch_size=SERVE_BATCH_SIZE, fast=fast)


def _length(tagger, tok, text: str) -> int:
    """Padded tokens of the text's windows (a text longer than the model's max length is cut into overlapping
    windows of `max_length` tokens sharing `stride`)."""
    from bertkit.ner.spans import split_words

    words, _ = split_words(text)
    n = len(tok(words, is_split_into_words=True, add_special_tokens=False, verbose=False)["input_ids"])
    special = tok.num_special_tokens_to_add()
    room = max(1, tagger.max_length - special)
    step = max(1, room - tagger.stride)
    windows = 1 if n <= room else 1 + -(-(n - room) // step)
    return (min(n, room) + special) * windows


def _run(tagger, texts: list[str]) -> list[dict]:
    return tagger.predict_records(texts)


ADAPTER = ServeAdapter(
    route="/v1/ner", request=NERRequest, summary="Tag named entities in texts", load=_load,
    inputs=lambda req: list(req.texts), length=_length, run=_run, render=lambda tagger, req, recs: list(recs),
    chars=len, check=lambda served, req: None, warmup=lambda: ["warm up"],
)
