"""The loss's denominator of a training step (ShardedBucketSampler.window_items): every labelled token weighs the same
in every step of an epoch, whatever the lengths its batch was grouped with, and whatever the process count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertkit.engine.sampler import ShardedBucketSampler

plans = st.tuples(
    st.lists(st.integers(1, 120), min_size=1, max_size=200),  # row lengths
    st.integers(1, 16),  # batch size
    st.integers(1, 8),  # bucket size (batches)
    st.integers(0, 1000),  # seed
    st.integers(0, 3),  # epoch
)


@settings(max_examples=60, deadline=None)
@given(plans, st.data())
def test_every_item_weighs_the_same_in_every_step(plan, data):
    lengths, bs, bucket, seed, epoch = plan
    items = np.array([data.draw(st.integers(0, n)) for n in lengths], dtype=np.float64)  # labelled tokens a row
    s = ShardedBucketSampler(np.array(lengths), bs, seed, bucket, items=items)
    n = len(s)
    denominators = [s.window_items(epoch, b, b + 1) for b in range(n)]
    assert len(set(denominators)) == 1  # one weight for an item, in whatever batch it falls
    if items.sum():  # an epoch adds up to n steps of the mean batch
        assert sum(items[s.global_batches(epoch)[b]].sum() / denominators[b] for b in range(n)) == pytest.approx(n)
    accum = data.draw(st.integers(1, 4))  # an accumulation window: its batches' denominators together
    windows = [s.window_items(epoch, b, min(b + accum, n)) for b in range(0, n, accum)]
    assert sum(windows) == pytest.approx(sum(denominators))


@settings(max_examples=40, deadline=None)
@given(plans, st.integers(2, 4))
def test_the_denominator_does_not_depend_on_the_process_count(plan, procs):
    lengths, bs, bucket, seed, epoch = plan
    items = np.array(lengths, dtype=np.float64) // 2
    one = ShardedBucketSampler(np.array(lengths), bs * procs, seed, bucket, items=items)
    for rank in range(procs):
        many = ShardedBucketSampler(np.array(lengths), bs, seed, bucket, num_processes=procs, process_index=rank,
                                    items=items)
        assert [many.window_items(epoch, b, b + 1) for b in range(len(many))] == \
            [one.window_items(epoch, b, b + 1) for b in range(len(one))]


@settings(max_examples=40, deadline=None)
@given(plans)
def test_without_items_a_step_divides_by_its_rows(plan):
    lengths, bs, bucket, seed, epoch = plan
    s = ShardedBucketSampler(np.array(lengths), bs, seed, bucket)
    batches = s.global_batches(epoch)
    assert [s.window_items(epoch, b, b + 1) for b in range(len(s))] == [float(len(batches[b])) for b in range(len(s))]
