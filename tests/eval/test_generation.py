"""Generation figures: slerp, prior samples, reconstructions, the interpolation strip's ends,
healing rows."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from sketchssl.data.build import build_store
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError
from sketchssl.eval.generation import (
    can_draw,
    healing_rows,
    interpolation_strip,
    prior_samples,
    reconstruction_rows,
    save_rows,
    slerp,
)
from sketchssl.methods import build_method
from sketchssl.methods.latent_decoder import MixtureDecoderConfig
from sketchssl.methods.sketch_rnn import SketchRNN, SketchRNNConfig

RUN = {"method": "sketch_rnn", "data": {"normalization": "std", "start_token": True, "max_len": 80}}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("stores") / "doodles.store"
    build_store(["doodles:6"], path, workers=1, progress=False)
    return SketchStore.open(path)


@pytest.fixture()
def model():
    torch.manual_seed(1)
    config = SketchRNNConfig(
        encoder_size=8,
        latent_size=4,
        encoder_recurrent_dropout=0.0,
        decoder=MixtureDecoderConfig(size=16, num_mixtures=2, recurrent_dropout=0.0),
        max_length=12,
    )
    return SketchRNN(config).eval()


def test_slerp_ends_midpoint_and_parallel_codes():
    a, b = torch.tensor([2.0, 0.0, 0.0]), torch.tensor([0.0, 2.0, 0.0])
    torch.testing.assert_close(slerp(a, b, 0.0), a)
    torch.testing.assert_close(slerp(a, b, 1.0), b)
    middle = slerp(a, b, 0.5)
    assert float(middle.norm()) == pytest.approx(2.0)  # stays on the sphere, unlike lerp
    torch.testing.assert_close(slerp(a, 3 * a, 0.5), 2 * a)  # parallel: linear


def test_prior_samples_are_seeded_stroke3(model, store):
    first = prior_samples(model, RUN, store, 5, seed=3)
    again = prior_samples(model, RUN, store, 5, seed=3)
    assert len(first) == 5 and all(s.ndim == 2 and s.shape[1] == 3 for s in first)
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y)
    assert all(len(s) <= 12 and s[-1, 2] == 1 for s in first)


def test_interpolation_ends_are_the_two_reconstructions(model, store):
    strip = interpolation_strip(model, RUN, store, steps=4, greedy=True)
    rows = reconstruction_rows(model, RUN, store, 2, greedy=True)  # first and last test sketch
    assert len(strip) == 4 and len(rows["original"]) == 2
    for end, reconstruction in (
        (strip[0], rows["reconstruction"][0]),
        (strip[-1], rows["reconstruction"][1]),
    ):
        np.testing.assert_allclose(end, reconstruction, atol=1e-3)
    with pytest.raises(ConfigError, match="2 steps"):
        interpolation_strip(model, RUN, store, steps=1)


def test_healing_rows_and_figure(model, store, tmp_path):
    rows = healing_rows(model, RUN, store, 0.0, 3)
    assert list(rows) == ["corrupted", "healed", "original"]
    for corrupted, original in zip(rows["corrupted"], rows["original"], strict=True):
        np.testing.assert_array_equal(corrupted, original.astype(np.float32))  # mask 0
    masked = healing_rows(model, RUN, store, 1.0, 3)
    assert sum(len(c) for c in masked["corrupted"]) < sum(len(o) for o in masked["original"])
    path = save_rows(masked, tmp_path / "heal.png", size=48)
    with Image.open(path) as image:
        assert image.width >= 3 * 48 and image.height >= 3 * 48


def test_only_generative_methods_draw():
    assert can_draw(
        SketchRNN(
            SketchRNNConfig(
                encoder_size=4, latent_size=2, decoder=MixtureDecoderConfig(size=4, num_mixtures=1)
            )
        )
    )
    judge = build_method(
        "sketch_a_net",
        {
            "num_classes": 2,
            "image_size": 64,
            "first_kernel": 7,
            "first_stride": 2,
            "channels": [4, 4, 4, 4, 4],
            "fc_dim": 4,
        },
    )
    assert not can_draw(judge)
