"""Lmser-pix2seq: presets and geometry, the loss and its weighting, numerical safety, learning on
doodles, embed / generate, and healing through sketchssl.eval.healing."""

from __future__ import annotations

import dataclasses
import doctest

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import default_collate

import sketchssl.methods.lmser_pix2seq as lmser_module
from sketchssl.data.build import build_store
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.eval.generation import healing_rows
from sketchssl.eval.healing import HealingEval, SketchCodec, evaluate_healing
from sketchssl.methods.lmser_pix2seq import LmserPix2seq, LmserPix2seqConfig, soft_clamp
from sketchssl.methods.registry import build_method
from sketchssl.render.patch_view import masked_slots, patch_config_from_data
from sketchssl.render.patches import make_mask_table
from sketchssl.train.config import DataConfig, load_run_config
from sketchssl.train.data import make_dataset
from sketchssl.train.run import _fill_from_store

# A small patch geometry for the tests: the Lmser canvas scaled to a 32-px image.
DATA = {
    "views": ["sequence", "patches"],
    "normalization": "std",
    "start_token": True,
    "max_len": 80,
    "patch_size": 32,
    "patch_slots": 20,
    "patch_canvas_scale": 160.0,
    "patch_line_width": 4.0,
    "patch_border": 96,
}
RUN = {"method": "lmser_pix2seq", "data": DATA}


def small_config(**overrides) -> LmserPix2seqConfig:
    values = dict(
        patch_size=32,
        token_size=8,
        model_dim=16,
        ffn_dim=32,
        depth=2,
        feedback_loops=2,
        latent_size=8,
        decoder=dataclasses.replace(LmserPix2seqConfig().decoder, size=32, num_mixtures=3),
        max_length=20,
    )
    values.update(overrides)
    return LmserPix2seqConfig(**values)


def small_model(**overrides) -> LmserPix2seq:
    torch.manual_seed(0)
    return LmserPix2seq(small_config(**overrides))


@pytest.fixture(scope="module")
def doodle_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:4:1"], path, workers=1, progress=False)
    return path


@pytest.fixture(scope="module")
def doodle_batch(doodle_store):
    """8 training items with the sequence and patch views, masked at 0.3 (seeded)."""
    data = DataConfig(store=str(doodle_store), **{**DATA, "views": ("sequence", "patches")})
    data = dataclasses.replace(data, patch_mask_prob=0.3)
    dataset = make_dataset(data, SketchStore.open(doodle_store), "train", seed=0)
    return default_collate([dataset[i] for i in range(8)])


# ---------------------------------------------------------------------------------- config
def test_registered_with_the_reference_codes_defaults_and_both_presets_load():
    model = build_method("lmser_pix2seq", {"depth": 1, "model_dim": 8, "ffn_dim": 8})
    assert isinstance(model, LmserPix2seq) and model.healing_input == "patches"
    paper = load_run_config("lmser_pix2seq", "paper")
    assert paper.model == LmserPix2seqConfig()  # the preset spells out the defaults
    defaults = LmserPix2seqConfig()
    assert (defaults.patch_size, defaults.token_size, defaults.model_dim, defaults.ffn_dim) == (
        128,
        16,
        128,
        768,
    )
    assert (defaults.depth, defaults.feedback_loops, defaults.image_loss_weight) == (4, 2, 0.5)
    data = paper.data
    assert ("sequence" in data.views and "patches" in data.views) and data.start_token
    assert (data.patch_size, data.patch_slots, data.patch_border) == (128, 20, 384)
    assert (data.patch_canvas_scale, data.patch_line_width, data.patch_mask_prob) == (
        640.0,
        16.0,
        0.1,
    )
    tiny = load_run_config("lmser_pix2seq", "tiny")
    assert tiny.trainer.max_minutes == 20 and tiny.model.patch_size == tiny.data.patch_size
    assert tiny.data.patch_slots == 20 and tiny.data.patch_mask_prob == 0.1


def test_the_tiny_canvas_is_the_paper_canvas_halved_so_the_same_squares_are_masked(
    doodle_store,
):
    """Same centres, same masked slots, same masked share: only the resolution differs."""
    tiny_data = load_run_config("lmser_pix2seq", "tiny").data
    tiny = patch_config_from_data(dataclasses.asdict(tiny_data))
    paper = patch_config_from_data(
        dataclasses.asdict(load_run_config("lmser_pix2seq", "paper").data)
    )
    assert tiny.patch_size * 2 == paper.patch_size and tiny.canvas_scale * 2 == paper.canvas_scale
    assert tiny.line_width * 2 == paper.line_width and tiny.border_size * 2 == paper.border_size
    assert tiny.max_patches == paper.max_patches == 20
    store = SketchStore.open(doodle_store)
    table = make_mask_table(12, 20, seed=3)
    masked_any = 0
    for row in range(12):
        sketch = np.asarray(store[row])
        centres_paper, masked_paper = masked_slots(sketch, table[row], 0.5, paper)
        centres_tiny, masked_tiny = masked_slots(sketch, table[row], 0.5, tiny)
        assert np.array_equal(masked_paper, masked_tiny)
        assert np.abs(centres_tiny * 2 - centres_paper).max() <= 2  # rounding only
        masked_any += int(masked_tiny.sum())
    assert masked_any > 0


def test_bad_configs_and_inputs_are_refused_with_the_key():
    with pytest.raises(ConfigError, match="token_size"):
        LmserPix2seqConfig(patch_size=30, token_size=8)
    with pytest.raises(ConfigError, match="ffn_dim"):
        LmserPix2seqConfig(ffn_dim=7)
    with pytest.raises(ConfigError, match="log_variance_limit"):
        LmserPix2seqConfig(log_variance_limit=0.0)
    model = small_model()
    with pytest.raises(SketchFormatError, match="data.patch_size"):
        model.embed({"patches": torch.zeros(2, 21, 16, 16)})
    with pytest.raises(SketchFormatError, match="patches"):
        model.embed({"strokes5": torch.zeros(2, 5, 5)})


def test_the_training_layer_copies_the_image_side_from_the_data_section(doodle_store):
    config = load_run_config(
        "lmser_pix2seq", "tiny", [f"data.store={doodle_store}", "data.patch_size=32"]
    )
    assert config.model.patch_size == 64
    _fill_from_store(config)
    assert config.model.patch_size == 32


# ---------------------------------------------------------------------------------- the loss
def test_loss_is_sequence_loss_plus_half_the_image_mse(doodle_batch):
    model = small_model().eval()
    parts = model.loss(doodle_batch)
    assert set(parts) == {
        "loss",
        "recon",
        "offset_loss",
        "pen_loss",
        "image_loss",
        "log_variance",
    }
    torch.testing.assert_close(parts["loss"], parts["recon"] + 0.5 * parts["image_loss"])
    # the image loss, recomputed: the Lmser reconstruction of the MASKED input against the
    # UNMASKED canvas
    masked_input = doodle_batch["patches"][:, :1]
    assert not torch.equal(masked_input[:, 0], doodle_batch["patch_original"])  # some masking
    _, _, features = model.encode_image(masked_input)
    expected = F.mse_loss(features.reconstruction, doodle_batch["patch_original"][:, None])
    torch.testing.assert_close(parts["image_loss"], expected)
    weighted = small_model(image_loss_weight=2.0).eval().loss(doodle_batch)
    torch.testing.assert_close(weighted["loss"], weighted["recon"] + 2.0 * weighted["image_loss"])


def test_batches_without_the_start_token_or_the_target_image_are_refused(doodle_batch):
    model = small_model()
    batch = dict(doodle_batch)
    batch["strokes5"] = batch["strokes5"][:, 1:]
    batch["mask"] = batch["mask"][:, 1:]
    with pytest.raises(SketchFormatError, match="start token"):
        model.loss(batch)
    without_target = {k: v for k, v in doodle_batch.items() if k != "patch_original"}
    with pytest.raises(SketchFormatError, match="patch_original"):
        model.loss(without_target)


def test_log_variance_is_soft_clamped_and_the_loss_stays_finite_where_the_reference_overflows(
    doodle_batch,
):
    values = torch.tensor([-1e9, -3.0, 0.0, 0.5, 3.0, 1e9])
    clamped = soft_clamp(values, 10.0)
    assert clamped.abs().max() <= 10.0
    torch.testing.assert_close(clamped[2:4], values[2:4], atol=1e-3, rtol=0)
    model = small_model()
    with torch.no_grad():
        # the reference's exp(log_var / 2) is inf for outputs above ~177; the decoder's raw
        # mixture outputs this large make its product-form density 0 / 0
        model.latent.log_variance.bias.fill_(1e4)
        model.decoder.head.bias.fill_(500.0)
    parts = model.loss(doodle_batch)
    assert all(torch.isfinite(value).all() for value in parts.values())
    assert float(parts["log_variance"]) <= 10.0
    parts["loss"].backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all(), name


def test_loss_is_finite_and_falls_over_a_few_steps_on_doodles(doodle_batch):
    model = small_model(feedback_loops=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.generator = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(12):
        parts = model.loss(doodle_batch)
        assert all(torch.isfinite(value) for value in parts.values())
        optimiser.zero_grad()
        parts["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        losses.append((float(parts["loss"].detach()), float(parts["image_loss"])))
    first, last = losses[0], losses[-1]
    assert last[0] < 0.8 * first[0]  # the whole objective
    assert last[1] < first[1]  # and the image reconstruction part


# ---------------------------------------------------------------------------------- embed / draw
def test_embed_is_mu_of_the_masked_image_and_generate_draws_from_every_source(doodle_batch):
    model = small_model().eval()
    patches_only = {"patches": doodle_batch["patches"]}
    codes = model.embed(patches_only)
    assert codes.shape == (8, 8)
    torch.testing.assert_close(codes, model.encode(patches_only)[0])
    torch.testing.assert_close(codes, model.embed(doodle_batch))  # strokes are not read
    for source in (patches_only, codes[:3], 5):
        drawn = model.generate(source, temperature=0.5, max_len=7)
        assert drawn.shape[1:] == (7, 5) and torch.isfinite(drawn).all()
        assert torch.all(drawn[..., 2:].sum(-1) == 1)  # one-hot pen states
    assert model.generate(patches_only, max_len=4).shape == (8, 4, 5)
    assert model.generate(3).shape == (3, 20, 5)  # config.max_length
    with pytest.raises(SketchFormatError, match="latent codes"):
        model.generate(torch.zeros(2, 5))


def test_generation_is_reproducible_with_the_generator_and_decode_mean_skips_the_noise(
    doodle_batch,
):
    model = small_model().eval()
    batch = {"patches": doodle_batch["patches"][:3]}
    draws = []
    for _ in range(2):
        model.generator = torch.Generator().manual_seed(7)
        draws.append(model.generate(batch, temperature=1.0, max_len=6))
    torch.testing.assert_close(draws[0], draws[1])
    greedy_mean = [model.generate(batch, greedy=True, max_len=6, use_mean=True) for _ in range(2)]
    torch.testing.assert_close(greedy_mean[0], greedy_mean[1])
    mu = model.embed(batch)
    torch.testing.assert_close(greedy_mean[0], model.generate(mu, greedy=True, max_len=6))


# ---------------------------------------------------------------------------------- healing
def test_healing_evaluates_and_draws_with_the_masked_canvas(doodle_store):
    store = SketchStore.open(doodle_store)
    model = small_model().eval()
    codec = SketchCodec.for_method(model, RUN, store)
    assert codec.input_kind == "patches" and codec.patch_config.patch_size == 32
    settings = HealingEval(
        mask_probs=(0.0, 0.3),
        directions=("generated_to_original", "original_to_generated"),
        ks=(1, 5),
        max_len=12,
        batch_size=4,
    )
    results, meta = evaluate_healing(model, RUN, store, settings)
    assert list(results) == [
        "generated (mask 0)",
        "no healing: corrupted input (mask 0.3)",
        "generated (mask 0.3)",
    ]
    assert meta["input"] == "patches"
    count = len(store.split_indices("test"))
    for row in results.values():
        assert row["sketches"] == count and row["ret_chance@1"] == pytest.approx(1 / count)
        for key in ("ret_g2o_acc@1", "ret_g2o_acc@5", "ret_o2g_acc@1", "ret_o2g_acc@5"):
            assert 0.0 <= row[key] <= 1.0
    rows = healing_rows(model, RUN, store, 0.5, count=3, max_len=12)
    assert [len(rows[key]) for key in ("corrupted", "healed", "original")] == [3, 3, 3]
    assert all(sketch.ndim == 2 and sketch.shape[1] == 3 for sketch in rows["healed"])


def test_without_a_patch_view_in_the_run_config_the_methods_own_geometry_is_used():
    model = small_model()
    geometry = model.patch_config
    assert (geometry.patch_size, geometry.canvas_scale, geometry.line_width) == (32, 160.0, 4.0)
    assert geometry.border_size == 96 and geometry.max_patches == 20
    small_decoder = dataclasses.replace(LmserPix2seqConfig().decoder, size=4)
    paper = LmserPix2seq(LmserPix2seqConfig(depth=1, decoder=small_decoder))  # paper image side
    assert (paper.patch_config.canvas_scale, paper.patch_config.line_width) == (640.0, 16.0)
    assert paper.patch_config.border_size == 384


def test_docstring_examples():
    result = doctest.testmod(lmser_module)
    assert result.attempted > 0 and result.failed == 0
