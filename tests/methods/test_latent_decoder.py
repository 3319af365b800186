"""The machinery the four mixture-decoder methods share: input checks, codes, the step cut."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sketchssl.configuration import dataclass_from_mapping
from sketchssl.data.formats import stroke3_to_stroke5
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.eval.generation import can_draw
from sketchssl.methods.cross_modal import VectorizationConfig
from sketchssl.methods.latent_decoder import (
    LatentDecoderMethod,
    MixtureDecoderConfig,
    decoder_targets,
)
from sketchssl.methods.lmser_pix2seq import LmserPix2seq, LmserPix2seqConfig
from sketchssl.methods.sketch_rnn import SketchRNN, SketchRNNConfig
from sketchssl.methods.sketchgloc import SketchGloc, SketchGlocConfig
from sketchssl.methods.sp_gra2seq import SPGra2Seq, SPGra2SeqConfig
from sketchssl.nn.decoder import drop_input_rows
from sketchssl.nn.mixture import reconstruction_loss


def sequence_batch(point_counts: list[int], max_len: int) -> dict[str, torch.Tensor]:
    """Random stroke-3 sketches of these lengths as ``SketchDataset(start_token=True)`` stacks."""
    rng = np.random.default_rng(0)
    rows, mask = [], np.zeros((len(point_counts), max_len + 1), dtype=bool)
    for index, points in enumerate(point_counts):
        sketch = np.zeros((points, 3), np.float32)
        sketch[:, :2] = rng.normal(size=(points, 2))
        sketch[-1, 2] = 1.0
        rows.append(stroke3_to_stroke5(sketch, max_len, start_token=True))
        mask[index, : points + 1] = True
    return {"strokes5": torch.from_numpy(np.stack(rows)), "mask": torch.from_numpy(mask)}


def small_rnn(**decoder) -> SketchRNN:
    """A small sketch-rnn; ``decoder`` changes keys of its decoder."""
    torch.manual_seed(0)
    settings = dict(size=12, num_mixtures=3, recurrent_dropout=0.0)
    settings.update(decoder)
    config = SketchRNNConfig(
        encoder_size=8,
        latent_size=4,
        encoder_recurrent_dropout=0.0,
        decoder=MixtureDecoderConfig(**settings),
    )
    return SketchRNN(config)


def test_the_four_drawing_methods_share_the_base():
    for method in (SketchRNN, SPGra2Seq, SketchGloc, LmserPix2seq):
        assert issubclass(method, LatentDecoderMethod)
    assert can_draw(small_rnn())


DRAWING_CONFIGS = [
    SketchRNNConfig,
    SPGra2SeqConfig,
    SketchGlocConfig,
    LmserPix2seqConfig,
    VectorizationConfig,
]


@pytest.mark.parametrize("config_class", DRAWING_CONFIGS)
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("cell", "gru", "'decoder.cell' is 'gru': choose one of lstm"),
        ("recurrent_dropout", 1.0, r"'decoder.recurrent_dropout' must be in \[0, 1\), got 1.0"),
        ("temperature", 0.0, "'decoder.temperature' must be positive, got 0.0"),
        ("pen_temperature", -1.0, "'decoder.pen_temperature' must be positive or null, got -1.0"),
        ("size", 0, "'decoder.size' must be at least 1, got 0"),
        ("input_dropout", 1.0, r"'decoder.input_dropout' must be in \[0, 1\), got 1.0"),
    ],
)
def test_every_drawing_config_checks_the_shared_decoder_keys(config_class, key, value, message):
    assert isinstance(config_class().decoder, MixtureDecoderConfig)
    # a set pen temperature is valid
    dataclass_from_mapping(config_class, {"decoder": {"pen_temperature": 0.5}}, "model")
    with pytest.raises(ConfigError, match=message):
        dataclass_from_mapping(config_class, {"decoder": {key: value}}, "model")


@pytest.mark.parametrize("config_class", DRAWING_CONFIGS)
def test_old_flat_decoder_keys_move_into_decoder_and_a_users_flat_key_says_where(config_class):
    from sketchssl.configuration import upgrade_moved_keys

    old = {
        "latent_size": 8,
        "decoder_size": 24,
        "num_mixtures": 3,
        "decoder_cell": "layer_norm",
        "recurrent_dropout": 0.0,
        "temperature": 0.5,
        "pen_temperature": 1.0,
        "variance_exponent": 2.0,
        "trim_padding": True,
        "mask_pen_loss_in_eval": False,
    }
    config = dataclass_from_mapping(config_class, upgrade_moved_keys(config_class, old), "model")
    assert config.latent_size == 8
    assert config.decoder == MixtureDecoderConfig(
        size=24,
        num_mixtures=3,
        cell="layer_norm",
        recurrent_dropout=0.0,
        temperature=0.5,
        pen_temperature=1.0,
        variance_exponent=2.0,
        trim_padding=True,
        mask_pen_loss_in_eval=False,
    )
    with pytest.raises(ConfigError, match="'model.decoder_size' moved to 'model.decoder.size'"):
        dataclass_from_mapping(config_class, {"decoder_size": 24}, "model")
    with pytest.raises(ConfigError, match="'model.temperature' moved to 'model.decoder.temp"):
        dataclass_from_mapping(config_class, {"temperature": 0.5}, "model")


def test_decoder_targets_counts_points_and_names_the_fault():
    batch = sequence_batch([3, 1], max_len=6)
    strokes, lengths = decoder_targets(batch, "demo")
    assert strokes.shape == (2, 7, 5) and strokes.dtype == torch.float32
    assert lengths.tolist() == [3, 1]

    no_start = {**batch, "strokes5": batch["strokes5"].clone()}
    no_start["strokes5"][1, 0] = torch.tensor([0.0, 0.0, 0.0, 1.0, 0.0])
    with pytest.raises(SketchFormatError, match="demo: every sequence must begin"):
        decoder_targets(no_start, "demo")
    empty = {**batch, "mask": batch["mask"].clone()}
    empty["mask"][1, 1:] = False  # only S0 left
    with pytest.raises(SketchFormatError, match="demo: sketch 1 of the batch has no points"):
        decoder_targets(empty, "demo")
    with pytest.raises(SketchFormatError, match="mask"):
        decoder_targets({"strokes5": batch["strokes5"]}, "demo")


def test_latent_codes_follow_the_generator_and_check_the_shape():
    model = small_rnn()
    model.generator = torch.Generator().manual_seed(3)
    first = model.latent_codes(5)
    model.generator = torch.Generator().manual_seed(3)
    assert torch.equal(first, model.latent_codes(5)) and first.shape == (5, 4)
    given = torch.ones(2, 4, dtype=torch.float64)
    assert model.latent_codes(given).dtype == torch.float32
    with pytest.raises(SketchFormatError, match=r"must have shape \(B, 4\), got \(2, 3\)"):
        model.latent_codes(torch.zeros(2, 3))


def full_decode_terms(model: SketchRNN, strokes: torch.Tensor, z: torch.Tensor):
    """The decoder over every padded step: mixture parameters and targets, nothing cut."""
    params = model.decoder.mixture(model.decoder(strokes[:, :-1], z))
    return params, strokes[:, 1:]


def test_cut_steps_change_nothing_in_eval_and_only_padding_pen_terms_in_training():
    batch = sequence_batch([5, 2], max_len=12)  # padded far beyond the longest sketch
    model = small_rnn(mask_pen_loss_in_eval=True, trim_padding=True)
    assert model.config.decoder.trim_padding and model.config.decoder.mask_pen_loss_in_eval
    strokes, lengths = decoder_targets(batch, "sketch_rnn")
    z = torch.randn(2, 4, generator=torch.Generator().manual_seed(1))
    normaliser = 2 * 12

    model.eval()
    with torch.no_grad():
        offsets, pen = model.reconstruction_terms(strokes, int(lengths.max()), z, normaliser)
        params, targets = full_decode_terms(model, strokes, z)
        ref_offsets, ref_pen = reconstruction_loss(
            params, targets, mask_pen_padding=True, normaliser=normaliser
        )
    torch.testing.assert_close(offsets, ref_offsets)
    torch.testing.assert_close(pen, ref_pen)

    model.train()
    with torch.no_grad():
        offsets, pen = model.reconstruction_terms(strokes, int(lengths.max()), z, normaliser)
        params, targets = full_decode_terms(model, strokes, z)
        ref_offsets, ref_pen = reconstruction_loss(params, targets, normaliser=normaliser)
    torch.testing.assert_close(offsets, ref_offsets)  # offsets count real points only
    # the pen term leaves out exactly the steps after the longest sketch's end row
    kept = int(lengths.max()) + 1
    per_step = F.cross_entropy(
        params.pen_logits.reshape(-1, 3), targets[..., 2:].argmax(-1).reshape(-1), reduction="none"
    ).view(2, -1)
    dropped = per_step[:, kept:].sum() / normaliser
    assert float(dropped) > 0
    torch.testing.assert_close(pen, ref_pen - dropped)


def test_drop_input_rows_zeroes_whole_rows_after_the_start_token_at_its_rate():
    rows = torch.randn(200, 51, 5).abs() + 0.1  # no real row is all zeros
    dropped = drop_input_rows(rows, 0.3, torch.Generator().manual_seed(0))
    zeroed = (dropped == 0).all(dim=-1)  # (B, T)
    kept = (dropped == rows).all(dim=-1)
    assert bool((zeroed | kept).all())  # a row is either dropped whole or left as it was
    assert not bool(zeroed[:, 0].any())  # S0 always stays
    # 10,000 rows after S0: the share dropped is 0.3 within 4.5 standard deviations
    assert float(zeroed[:, 1:].float().mean()) == pytest.approx(0.3, abs=4.5 * (0.21 / 1e4) ** 0.5)
    assert drop_input_rows(rows, 0.0) is rows
    with pytest.raises(ValueError, match=r"prob must be in \[0, 1\), got 1.0"):
        drop_input_rows(rows, 1.0)


def test_input_dropout_hides_input_rows_in_training_only_never_the_targets():
    batch = sequence_batch([9, 6, 7, 8], max_len=12)
    plain, dropping = small_rnn(), small_rnn(input_dropout=0.5)  # same weights (seed 0)
    seen: list[torch.Tensor] = []
    dropping.decoder.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    dropping.generator = torch.Generator().manual_seed(3)
    plain.generator = torch.Generator().manual_seed(3)
    # evaluation and the latent-use measure never drop: the same losses as without the setting
    expected, got = plain.eval().loss(batch), dropping.eval().loss(batch)
    for name, value in expected.items():
        torch.testing.assert_close(got[name], value)
    seen.clear()
    strokes, lengths = decoder_targets(batch, "sketch_rnn")
    z = torch.zeros(4, 4)
    dropping.train()
    with torch.no_grad():
        offsets, pen = dropping.reconstruction_terms(strokes, int(lengths.max()), z, 48)
    inputs = seen[-1]
    zeroed = (inputs == 0).all(dim=-1)
    assert bool((zeroed | (inputs == strokes[:, : inputs.shape[1]]).all(dim=-1)).all())
    assert not bool(zeroed[:, 0].any()) and int(zeroed.sum()) > 5
    # the targets are the true rows: the loss is that of decoding the dropped inputs
    with torch.no_grad():
        params = dropping.decoder.mixture(dropping.decoder(inputs, z))
        ref_offsets, ref_pen = reconstruction_loss(
            params, strokes[:, 1 : inputs.shape[1] + 1], normaliser=48
        )
    torch.testing.assert_close(offsets, ref_offsets)
    torch.testing.assert_close(pen, ref_pen)


def test_a_checkpoint_saved_with_the_flat_decoder_keys_loads_into_decoder(tmp_path):
    """Checkpoints before ``model.decoder`` stored flat keys; they load, upgraded."""
    from sketchssl.cli.eval_cmd import parse_model_settings
    from sketchssl.methods.checkpoint import load_method

    model = small_rnn(pen_temperature=1.0, trim_padding=True)
    old_model = {  # the model section as sketch-rnn checkpoints saved it before
        "encoder_size": 8,
        "decoder_size": 12,
        "latent_size": 4,
        "num_mixtures": 3,
        "encoder_cell": "lstm",
        "decoder_cell": "lstm",
        "recurrent_dropout": 0.05,
        "hyper_size": 256,
        "hyper_embedding_size": 32,
        "kl_weight": 0.5,
        "max_length": 250,
        "trim_padding": True,
        "mask_pen_loss_in_eval": True,
        "temperature": 1.0,
        "variance_exponent": 1.0,
        "pen_temperature": 1.0,
        "embed_layer": "mu",
    }
    path = tmp_path / "old.ckpt"
    torch.save(
        {
            "state_dict": {f"method.{key}": value for key, value in model.state_dict().items()},
            "sketchssl": {
                "method": "sketch_rnn",
                "config": {"method": "sketch_rnn", "model": old_model},
                "version": "0.0",
            },
        },
        path,
    )
    loaded, run_config = load_method(path)
    assert loaded.config.decoder == MixtureDecoderConfig(
        size=12, num_mixtures=3, recurrent_dropout=0.05, pen_temperature=1.0, trim_padding=True
    )
    # the old key was shared by both cells: the encoder keeps it too
    assert loaded.config.encoder_recurrent_dropout == 0.05
    assert loaded.config.encoder_hyper_size == 256
    assert "decoder_size" not in run_config["model"]
    assert run_config["model"]["decoder"]["size"] == 12
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key

    # eval --set: nested keys change one decoder key and keep the checkpoint's others
    overrides = parse_model_settings(["model.decoder.temperature=0.4", "model.embed_layer=hidden"])
    assert overrides == {"decoder": {"temperature": 0.4}, "embed_layer": "hidden"}
    tempered, tempered_config = load_method(path, model_overrides=overrides)
    assert tempered.config.decoder.temperature == 0.4 and tempered.config.decoder.size == 12
    assert tempered.config.embed_layer == "hidden"
    assert tempered_config["model"]["decoder"]["temperature"] == 0.4
    with pytest.raises(ConfigError, match="'model.temperature' moved to 'model.decoder.temp"):
        load_method(path, model_overrides=parse_model_settings(["model.temperature=0.4"]))
    with pytest.raises(ConfigError, match="write model.KEY=VALUE"):
        parse_model_settings(["model.decoder.=1"])
