"""supervised_cnn: the reference learns labels, refuses unlabelled batches, embeds like the CNN."""

from __future__ import annotations

import pytest
import torch

from sketchssl.errors import SketchFormatError
from sketchssl.methods.registry import build_method

SMALL = {
    "encoder": "small",
    "image_size": 16,
    "conv_channels": [4, 8],
    "feature_dim": 16,
    "num_classes": 3,
    "in_channels": 1,
    "embed_layer": "fc1",
}


def test_learns_the_labels_of_a_tiny_batch() -> None:
    torch.manual_seed(0)
    model = build_method("supervised_cnn", SMALL)
    batch = {"image": torch.rand(9, 1, 16, 16), "label": torch.tensor([0, 1, 2] * 3)}
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(40):
        optimiser.zero_grad()
        model.loss(batch)["loss"].backward()
        optimiser.step()
    assert float(model.loss(batch)["accuracy"]) == 1.0
    model.eval()
    assert model.logits(batch).shape == (9, 3)
    assert model.embed(batch).shape == (9, 16)
    assert model.uses_labels


def test_refuses_unlabelled_sketches() -> None:
    model = build_method("supervised_cnn", SMALL)
    with pytest.raises(SketchFormatError, match="unlabelled"):
        model.loss({"image": torch.rand(2, 1, 16, 16), "label": torch.tensor([0, -1])})
