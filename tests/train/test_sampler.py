"""The step-seeded batch sampler: exact positions, epochs, ranks, length bucketing."""

from __future__ import annotations

import numpy as np
import pytest

from sketchssl.train.sampler import StepSeededBatchSampler


def test_epoch_covers_each_item_once_and_resumes_anywhere():
    sampler = StepSeededBatchSampler(23, batch_size=4, seed=3)
    assert len(sampler) == 5
    epoch = [index for batch in sampler for index in batch]
    assert len(epoch) == 20 and len(set(epoch)) == 20  # 3 left over, none repeated
    step = {"value": 2}
    resumed = StepSeededBatchSampler(23, batch_size=4, seed=3, start_step=lambda: step["value"])
    assert list(resumed) == list(sampler)[2:]
    step["value"] = 7  # in epoch 1: a different order, the same for any sampler with this seed
    later = list(resumed)
    assert later[0] == sampler.batch_at(7) and len(later) == 3
    assert sorted(sampler.permutation(1)) == list(range(23))
    assert not np.array_equal(sampler.permutation(0), sampler.permutation(1))


def test_ranks_split_the_global_batch():
    whole = StepSeededBatchSampler(40, batch_size=8, seed=1)
    parts = [StepSeededBatchSampler(40, batch_size=4, seed=1, rank=r, world_size=2) for r in (0, 1)]
    for step in range(5):
        assert parts[0].batch_at(step) + parts[1].batch_at(step) == whole.batch_at(step)


def test_length_bucketing_keeps_coverage_and_groups_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 250, size=1000)
    plain = StepSeededBatchSampler(1000, batch_size=20, seed=0)
    bucketed = StepSeededBatchSampler(
        1000, batch_size=20, seed=0, lengths=lengths, bucket_window=10
    )
    batches = list(bucketed)
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    spread = np.mean([np.ptp(lengths[batch]) for batch in batches])
    plain_spread = np.mean([np.ptp(lengths[batch]) for batch in plain])
    assert spread < plain_spread / 4  # similar lengths share a batch
    with pytest.raises(ValueError, match="lengths"):
        StepSeededBatchSampler(10, batch_size=2, seed=0, lengths=np.ones(9))


def test_too_small_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="lower data.batch_size"):
        StepSeededBatchSampler(5, batch_size=4, seed=0, world_size=2)
