"""The speed suite against hand-counted FLOPs; the matrix-product peak; decoding steps."""

from __future__ import annotations

import pytest
import torch
from bench_methods import LINEAR, SMALL_RUN

from sketchssl.bench.speed import collate, decoding_steps, matmul_peak, measure_speed
from sketchssl.data.store import SketchStore
from sketchssl.train.config import load_run_config
from sketchssl.train.data import make_dataset


def test_embedding_flops_match_a_hand_count(test_methods, doodle_store):
    config = load_run_config(LINEAR, None, [*SMALL_RUN, f"data.store={doodle_store}"])
    store = SketchStore.open(doodle_store)
    steps, batch_size, dim = 3, config.data.batch_size, config.model.dim
    row = measure_speed(config, store, steps=steps, warmup=1, count_flops=True)

    # embed = Linear(5 -> dim) on every row of the padded (B, T, 5) batch: 2 * B * T * 5 * dim
    # FLOPs per batch (the pooling is elementwise, which the counter does not count).
    rows = collate(make_dataset(config.data, store, "train"), [0])["strokes5"].shape[1]
    expected = 2 * batch_size * rows * 5 * dim * steps
    embed_seconds = steps * batch_size / row.embed_sketches_per_s
    assert row.embed_model_flops_per_s * embed_seconds == pytest.approx(expected, rel=1e-9)
    # training: the same forward, plus decoder and backward, so more than the embedding
    train_seconds = row.train_seconds_per_step * steps
    assert row.train_model_flops_per_s * train_seconds > expected
    assert row.parameters == (5 * dim + dim) + (dim * 5 + 5)
    assert row.batch_size == batch_size and row.steps == steps and row.embedding_dim == dim
    assert row.view_sketches_per_s > 0 and row.generate_seconds_per_step is None

    filled = row.with_peak(peak_flops=1e9)
    assert filled.embed_mfu == pytest.approx(row.embed_model_flops_per_s / 1e9)


def test_without_flop_counting_the_mfu_stays_empty(test_methods, doodle_store):
    config = load_run_config(LINEAR, None, [*SMALL_RUN, f"data.store={doodle_store}"])
    row = measure_speed(
        config, SketchStore.open(doodle_store), steps=1, warmup=0, count_flops=False
    )
    assert row.train_model_flops_per_s is None and row.with_peak(1e9).train_mfu is None
    with pytest.raises(ValueError, match="steps"):
        measure_speed(config, SketchStore.open(doodle_store), steps=0)


def test_matmul_peak_is_a_plausible_rate():
    peak = matmul_peak("cpu", size=256, repeats=2)
    # 2 * 256^3 FLOPs: more than 10 MFLOP/s on any machine that runs the tests, and less than
    # a petaflop on a CPU.
    assert 1e7 < peak < 1e15


def test_decoding_steps_counts_until_the_longest_sketch_ends():
    drawn = torch.zeros(3, 8, 5)
    drawn[0, 1, 4] = 1  # ends at row 1: 2 steps
    drawn[1, 4, 4] = 1  # ends at row 4: 5 steps
    drawn[2, 2, 4] = drawn[2, 6, 4] = 1  # first end at row 2
    assert decoding_steps(drawn) == 5
    assert decoding_steps(torch.zeros(1, 8, 5)) == 8  # never ended: all 8 steps ran
