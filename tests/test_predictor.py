"""The predictor base shared by Classifier and QA: threads, the task check, metadata."""

from __future__ import annotations

import pytest
import torch

from bertkit.errors import BertkitError


@pytest.fixture(scope="module")
def qa_dir(tiny_bert, tmp_path_factory):
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    d = tmp_path_factory.mktemp("qa-head")
    AutoModelForQuestionAnswering.from_pretrained(tiny_bert).save_pretrained(d)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(d)
    return d


@pytest.mark.parametrize("threads", [None, "auto", 1])
def test_qa_applies_threads_as_classifier_does(qa_dir, monkeypatch, threads):
    """`qa eval --threads auto` used to do nothing: every predictor now hands --threads to the thread choice."""
    import bertkit.engine.threads as th
    from bertkit import QA

    asked = []
    real = th.set_auto_threads
    monkeypatch.setattr(th, "set_auto_threads", lambda requested=None, processes=1: asked.append(requested) or
                        real(requested, processes))
    before = torch.get_num_threads()
    try:
        QA(str(qa_dir), threads=threads)
        assert asked == [threads]
        if threads == 1:
            assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_classifier_refuses_a_qa_model_through_the_shared_check(qa_dir):
    from bertkit import Classifier

    with pytest.raises(BertkitError, match="a question-answering model .*not a classifier; use `bertkit qa ask`"):
        Classifier(str(qa_dir))
