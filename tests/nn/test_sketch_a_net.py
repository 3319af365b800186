"""Sketch-a-Net judge: the paper's layer sizes, the method's loss / logits / embed, the presets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sketchssl.data.doodles import DOODLE_CLASSES, generate_doodle
from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods import build_method
from sketchssl.methods.sketch_a_net import SketchANetClassifier, SketchANetConfig
from sketchssl.nn.sketch_a_net import SketchANet, sketch_a_net_sizes
from sketchssl.render.raster import render_strokes
from sketchssl.train.config import load_run_config

SMALL = {
    "num_classes": 4,
    "image_size": 64,
    "first_kernel": 7,
    "first_stride": 2,
    "channels": (8, 8, 16, 16, 16),
    "fc_dim": 32,
}


def test_paper_network_has_the_published_layer_sizes():
    assert sketch_a_net_sizes(225) == [71, 35, 31, 15, 7]
    net = SketchANet(num_classes=250).eval()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (64, 15, 3),
        (128, 5, 1),
        (256, 3, 1),
        (256, 3, 1),
        (256, 3, 1),
        (512, 7, 1),
        (512, 1, 1),
    ]
    dropouts = [m.p for m in net.modules() if isinstance(m, nn.Dropout)]
    assert dropouts == [0.5, 0.5]
    images = torch.zeros(1, 1, 225, 225)
    assert net.convolutions(images).shape == (1, 256, 7, 7)
    assert net(images).shape == (1, 250) and net.features(images).shape == (1, 512)


def test_too_small_images_and_bad_inputs_are_refused():
    with pytest.raises(ConfigError, match="image_size"):
        SketchANetConfig(image_size=64)  # 15x15 stride 3 needs more pixels
    with pytest.raises(ConfigError, match="channels"):
        SketchANetConfig(**{**SMALL, "channels": (8, 8)})
    model = SketchANetClassifier(SketchANetConfig(**SMALL)).eval()
    with pytest.raises(SketchFormatError, match="raster_size"):
        model.logits({"image": torch.zeros(2, 1, 32, 32)})
    with pytest.raises(SketchFormatError, match="labels"):
        model.loss({"image": torch.zeros(2, 1, 64, 64), "label": torch.tensor([0, 7])})


def test_loss_is_cross_entropy_of_logits_and_embed_is_the_penultimate_layer():
    torch.manual_seed(0)
    model = build_method("sketch_a_net", {**SMALL, "batch_norm": True}).eval()
    batch = {"image": torch.rand(3, 1, 64, 64), "label": torch.tensor([0, 3, 1])}
    logits = model.logits(batch)
    parts = model.loss(batch)
    torch.testing.assert_close(parts["loss"], F.cross_entropy(logits, batch["label"]))
    assert parts["accuracy"] == (logits.argmax(1) == batch["label"]).float().mean()
    features = model.embed(batch)
    assert features.shape == (3, 32)
    torch.testing.assert_close(model.network.classifier(features), logits)


def test_presets_render_the_size_the_network_expects():
    for preset in ("tiny", "paper"):
        config = load_run_config("sketch_a_net", preset)
        assert "raster" in config.data.views
        assert config.model.image_size == config.data.raster_size
        sketch_a_net_sizes(
            config.model.image_size, config.model.first_kernel, config.model.first_stride
        )


def test_learns_to_tell_doodles_apart():
    rng = np.random.default_rng(0)
    classes = DOODLE_CLASSES[:4]
    sketches = [generate_doodle(name, rng) for name in classes for _ in range(4)]
    labels = torch.arange(4).repeat_interleave(4)
    images = np.stack([render_strokes(s, size=64, line_width=1.5, invert=True) for s in sketches])
    batch = {"image": torch.from_numpy(images / 255.0).float()[:, None], "label": labels}
    torch.manual_seed(0)
    model = build_method("sketch_a_net", {**SMALL, "dropout": 0.0, "batch_norm": True})
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(40):
        optimizer.zero_grad()
        model.loss(batch)["loss"].backward()
        optimizer.step()
    assert model.train().loss(batch)["accuracy"] == 1.0


@pytest.mark.parametrize("name", ["sketchssl.nn.sketch_a_net", "sketchssl.methods.sketch_a_net"])
def test_docstring_examples(name):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
