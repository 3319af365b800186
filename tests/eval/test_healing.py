"""Rec and Ret (SP-gra2seq / Lmser-pix2seq protocols): ranks on hand-made codes, a judge whose
answers we know, the report, and the whole evaluation on a doodle store."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from sketchssl.data.build import build_store
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError
from sketchssl.eval.fill import FillConfig, fill_all
from sketchssl.eval.healing import (
    HealingEval,
    SketchCodec,
    code_options,
    corrupt_inputs,
    evaluate_healing,
    generate_sketches,
    judge_images,
    own_match_ranks,
    recognition_accuracy,
    retrieval_accuracy,
    write_healing_report,
)
from sketchssl.methods.latent_decoder import MixtureDecoderConfig
from sketchssl.methods.sketch_rnn import SketchRNN, SketchRNNConfig
from sketchssl.render.patch_view import mask_row
from sketchssl.render.patches import make_mask_table
from sketchssl.render.views import SketchDataset

# 12 one-dimensional codes: originals at 0 .. 11; every generated code sits on its original
# except the first, at 4.6. Its own original (0, distance 4.6) comes after 5, 4, 6, 3, 7, 2, 8,
# 1, 9 (distances 0.4 .. 4.4): rank 9, the 10th place.
ORIGINALS = torch.arange(12, dtype=torch.float32)[:, None]
GENERATED = ORIGINALS.clone()
GENERATED[0, 0] = 4.6


def test_generated_to_original_ranks_by_hand_and_true_top_10():
    ranks = own_match_ranks(ORIGINALS, GENERATED, "generated_to_original")
    assert ranks.tolist() == [9] + [0] * 11
    scores = retrieval_accuracy(ORIGINALS, GENERATED, "generated_to_original", ks=(1, 9, 10))
    assert scores["ret_g2o_acc@1"] == pytest.approx(11 / 12)
    # the Lmser-pix2seq script's "top-10" is sorted_index[:9]: it would miss the 10th place
    assert scores["ret_g2o_acc@9"] == pytest.approx(11 / 12)
    assert scores["ret_g2o_acc@10"] == 1.0
    assert scores["ret_chance@1"] == pytest.approx(1 / 12)
    assert scores["ret_chance@10"] == pytest.approx(10 / 12)
    assert scores["ret_g2o_mean_rank"] == pytest.approx(1 + 9 / 12)


def test_original_to_generated_is_the_other_direction():
    # query original 0: generated 1, 2, 3, 4 (distances 1 .. 4) come before its own (4.6)
    ranks = own_match_ranks(ORIGINALS, GENERATED, "original_to_generated")
    assert ranks.tolist() == [4] + [0] * 11
    scores = retrieval_accuracy(ORIGINALS, GENERATED, "original_to_generated", ks=(4, 5))
    assert scores["ret_o2g_acc@4"] == pytest.approx(11 / 12) and scores["ret_o2g_acc@5"] == 1.0


def test_ties_keep_gallery_order_so_identical_codes_score_chance():
    codes = torch.zeros(5, 3)
    assert own_match_ranks(codes, codes).tolist() == [0, 1, 2, 3, 4]
    scores = retrieval_accuracy(codes, codes, ks=(1, 2, 50))
    assert scores["ret_g2o_acc@1"] == scores["ret_chance@1"] == pytest.approx(1 / 5)
    assert scores["ret_chance@50"] == 1.0  # k beyond the gallery: everything is a hit


def test_ranks_match_a_stable_argsort_in_both_directions():
    generator = torch.Generator().manual_seed(0)
    originals = torch.randn(40, 6, generator=generator)
    generated = originals + 0.8 * torch.randn(40, 6, generator=generator)
    for direction, queries, gallery, power in (
        ("generated_to_original", generated, originals, 2),
        ("original_to_generated", originals, generated, 1),
    ):
        expected = []
        for i in range(40):
            distances = ((queries[i] - gallery).numpy().astype(np.float64) ** 2).sum(1)
            distances = distances / 6 if power == 2 else np.sqrt(distances)
            expected.append(int(np.flatnonzero(np.argsort(distances, kind="stable") == i)[0]))
        got = own_match_ranks(originals, generated, direction, chunk_size=7)
        assert got.tolist() == expected, direction


def test_bad_directions_and_shapes_are_refused():
    with pytest.raises(ConfigError, match="direction"):
        own_match_ranks(ORIGINALS, GENERATED, "both")
    with pytest.raises(ConfigError, match="same shape"):
        own_match_ranks(ORIGINALS, GENERATED[:5])


class ShapeJudge(nn.Module):
    """Class 0 = wider than tall (more inked columns than rows), class 1 = taller than wide."""

    def logits(self, batch):
        ink = batch["image"][:, 0] > 0.5  # (B, H, W)
        columns = ink.any(dim=1).sum(dim=1).float()
        rows = ink.any(dim=2).sum(dim=1).float()
        return torch.stack([columns, rows], dim=1)


HORIZONTAL = np.array([[10, 0, 0], [10, 0, 0], [10, 1, 1]], dtype=np.float32)
VERTICAL = np.array([[0, 10, 0], [0, 10, 0], [1, 10, 1]], dtype=np.float32)


def test_rec_is_the_judges_accuracy_on_the_sketches():
    judge, data = ShapeJudge(), {"raster_size": 32, "raster_line_width": 1.0}
    sketches = [HORIZONTAL, VERTICAL, HORIZONTAL, VERTICAL]
    assert recognition_accuracy(judge, data, sketches, [0, 1, 0, 1]) == 1.0
    assert recognition_accuracy(judge, data, sketches, [1, 0, 1, 0]) == 0.0
    assert recognition_accuracy(judge, data, sketches, [0, 0, 0, 0], batch_size=3) == 0.5
    with pytest.raises(ConfigError):
        recognition_accuracy(judge, data, sketches, [0, 1])


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:6"], path, workers=1, progress=False)
    return path


def test_judge_images_are_the_judges_raster_view(doodle_store):
    data = {"raster_size": 48, "raster_line_width": 2.0}
    dataset = SketchDataset(
        doodle_store,
        split="test",
        views=("raster",),
        normalization="none",
        raster_size=48,
        raster_line_width=2.0,
    )
    item = dataset[1]
    sketch = dataset.prepare(dataset.store[int(item["index"])])
    torch.testing.assert_close(judge_images([sketch], data)[0], item["image"])


RNN_RUN = {
    "method": "sketch_rnn",
    "data": {"normalization": "std", "start_token": True, "max_len": 80},
}


def small_rnn() -> SketchRNN:
    torch.manual_seed(0)
    config = SketchRNNConfig(
        encoder_size=8,
        latent_size=4,
        encoder_recurrent_dropout=0.0,
        decoder=MixtureDecoderConfig(size=16, num_mixtures=2, recurrent_dropout=0.0),
        max_length=20,
    )
    return SketchRNN(config).eval()


def test_codec_round_trips_a_sketch_through_the_methods_units(doodle_store):
    store = SketchStore.open(doodle_store)
    codec = SketchCodec.for_method(small_rnn(), RNN_RUN, store)
    sketch = codec.dataset.prepare(store[int(codec.dataset.indices[0])])
    batch = codec.sequence_batch([sketch])
    assert torch.equal(batch["strokes5"][0], codec.dataset[0]["strokes5"])
    back = codec.to_raw(batch["strokes5"][:, 1:])[0]
    np.testing.assert_allclose(back, sketch, atol=1e-3)


def test_evaluation_rows_and_report(doodle_store, tmp_path):
    store = SketchStore.open(doodle_store)
    settings = HealingEval(
        mask_probs=(0.0, 0.3),
        directions=("generated_to_original", "original_to_generated"),
        ks=(1, 10),
        max_len=15,
    )
    judge_config = {"data": {"raster_size": 32, "raster_line_width": 1.0}}
    results, meta = evaluate_healing(
        small_rnn(), RNN_RUN, store, settings, judge=ShapeJudge(), judge_config=judge_config
    )
    assert list(results) == [
        "judge on originals",
        "generated (mask 0)",
        "no healing: corrupted input (mask 0.3)",
        "generated (mask 0.3)",
    ]
    count = len(store.split_indices("test"))
    for name, row in results.items():
        assert 0.0 <= row["rec"] <= 1.0 and row["sketches"] == count
        if name.startswith("generated"):
            assert row["ret_chance@1"] == pytest.approx(1 / count)
            for key in ("ret_g2o_acc@1", "ret_g2o_acc@10", "ret_o2g_acc@1", "ret_o2g_acc@10"):
                assert 0.0 <= row[key] <= 1.0
        if name.startswith("no healing"):  # Ret of the corrupted input itself, both directions
            assert {"ret_g2o_acc@10", "ret_o2g_acc@10", "ret_g2o_mean_rank"} <= set(row)
    assert meta["input"] == "sequence" and any("point" in note for note in meta["notes"])

    paths = write_healing_report(tmp_path / "report", results, meta)
    document = json.loads(paths["json"].read_text())
    assert document["format"] == "sketchssl-eval-report" and set(document["results"]) == set(
        results
    )
    assert document["meta"]["report"] == "healing"
    markdown = paths["markdown"].read_text()
    assert "Rec / Ret" in markdown and "| generated (mask 0.3) | 0.3 |" in markdown
    assert "ret_chance@10 (%)" in markdown and not list(paths["json"].parent.glob(".*tmp"))


def test_a_short_mask_table_is_refused(doodle_store):
    from sketchssl.errors import SketchFormatError

    store = SketchStore.open(doodle_store)
    with pytest.raises(SketchFormatError, match="mask table"):
        evaluate_healing(
            small_rnn(),
            RNN_RUN,
            store,
            HealingEval(mask_probs=(0.3,), max_len=5),
            mask_table=np.zeros((1, 20)),
        )


@pytest.mark.parametrize("name", ["sketchssl.eval.healing", "sketchssl.eval.generation"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


def test_input_kept_rows_fill_the_corrupted_input(doodle_store):
    store = SketchStore.open(doodle_store)
    settings = HealingEval(mask_probs=(0.0, 0.3), ks=(1,), max_len=15, fill=FillConfig())
    judge_config = {"data": {"raster_size": 32, "raster_line_width": 1.0}}
    method = small_rnn()
    results, meta = evaluate_healing(
        method, RNN_RUN, store, settings, judge=ShapeJudge(), judge_config=judge_config
    )
    # one input-kept row, for the rate that erases something, after its generated row
    assert list(results)[-1] == "healed, input kept (mask 0.3)"
    assert not any("input kept (mask 0)" in name for name in results)
    assert "fill" in meta

    # its Rec is the judge's on fill_erased(corrupted input, generated), recomputed here
    codec = SketchCodec.for_method(method, RNN_RUN, store)
    sketches = [codec.dataset.prepare(store[int(index)]) for index in codec.dataset.indices]
    labels = [store.label(int(index)) for index in codec.dataset.indices]
    table = make_mask_table(len(sketches), codec.patch_config.max_patches, settings.seed)
    uniforms = [mask_row(table, position) for position in range(len(sketches))]
    generated = generate_sketches(codec, sketches, uniforms=uniforms, mask_prob=0.3, max_len=15)
    filled = fill_all(corrupt_inputs(sketches, uniforms, 0.3, codec.patch_config), generated)
    expected = recognition_accuracy(ShapeJudge(), judge_config["data"], filled, labels)
    assert results["healed, input kept (mask 0.3)"]["rec"] == pytest.approx(expected)


def test_decode_mean_draws_from_mu_and_sample_code_from_a_sampled_code(doodle_store):
    store = SketchStore.open(doodle_store)
    method = small_rnn()
    codec = SketchCodec.for_method(method, RNN_RUN, store)
    sketches = [codec.dataset.prepare(store[int(index)]) for index in codec.dataset.indices[:4]]
    mu, log_variance = method.encode(codec.batch(sketches, None, 0.0))
    decoded: list[torch.Tensor] = []
    decode_codes = method.decode_codes

    def recording(z, *args, **kwargs):
        decoded.append(z.clone())
        return decode_codes(z, *args, **kwargs)

    method.decode_codes = recording
    codes = {}
    for choice in (None, True, False):
        decoded.clear()
        generate_sketches(codec, sketches, max_len=5, seed=3, decode_mean=choice)
        codes[choice] = torch.cat(decoded)
    # sketch-rnn's own default is mu; --decode-mean gives mu too
    torch.testing.assert_close(codes[None], mu)
    torch.testing.assert_close(codes[True], mu)
    # --sample-code: z = mu + sigma * eps, eps the first draws of the generator seeded with 3
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(codes[False], mu + torch.exp(0.5 * log_variance) * eps)
    assert code_options(method, None) == {}


def test_a_fixed_code_method_refuses_a_code_choice():
    class FixedCode:
        name = "vectorization"

        def generate(self, source, temperature=None, greedy=False, *, max_len=None):
            return source

    assert code_options(FixedCode(), None) == {}
    with pytest.raises(ConfigError, match="vectorization.*variational healers"):
        code_options(FixedCode(), True)
