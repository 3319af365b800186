"""The machinery the four mixture-decoder methods share: input checks, codes, the step cut."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sketchssl.data.formats import stroke3_to_stroke5
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.eval.generation import can_draw
from sketchssl.methods.latent_decoder import LatentDecoderMethod, decoder_targets
from sketchssl.methods.lmser_pix2seq import LmserPix2seq, LmserPix2seqConfig
from sketchssl.methods.sketch_rnn import SketchRNN, SketchRNNConfig
from sketchssl.methods.sketchgloc import SketchGloc, SketchGlocConfig
from sketchssl.methods.sp_gra2seq import SPGra2Seq, SPGra2SeqConfig
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


def small_rnn(**overrides) -> SketchRNN:
    torch.manual_seed(0)
    values = dict(
        encoder_size=8, decoder_size=12, latent_size=4, num_mixtures=3, recurrent_dropout=0.0
    )
    values.update(overrides)
    return SketchRNN(SketchRNNConfig(**values))


def test_the_four_drawing_methods_share_the_base():
    for method in (SketchRNN, SPGra2Seq, SketchGloc, LmserPix2seq):
        assert issubclass(method, LatentDecoderMethod)
    assert can_draw(small_rnn())


@pytest.mark.parametrize(
    "config_class", [SketchRNNConfig, SPGra2SeqConfig, SketchGlocConfig, LmserPix2seqConfig]
)
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("decoder_cell", "gru", "'decoder_cell' is 'gru': choose one of lstm"),
        ("recurrent_dropout", 1.0, r"'recurrent_dropout' must be in \[0, 1\), got 1.0"),
        ("temperature", 0.0, "'temperature' must be positive, got 0.0"),
        ("pen_temperature", -1.0, "'pen_temperature' must be positive or null, got -1.0"),
    ],
)
def test_every_drawing_config_checks_the_shared_decoder_keys(config_class, key, value, message):
    config_class(pen_temperature=0.5)  # a set pen temperature is valid
    with pytest.raises(ConfigError, match=message):
        config_class(**{key: value})


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
