"""The contrastive methods: shapes, learning on a toy problem, configs, per-point features."""

from __future__ import annotations

import pytest
import torch

from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.registry import build_config, build_method

SMALL_BERT = {
    "num_layers": 1,
    "hidden_dim": 16,
    "num_heads": 2,
    "ffn_dim": 32,
    "embed_dim": 8,
    "refine_dims": [],
    "projection_dims": [16, 8],
}
SMALL_CNN = {"image_size": 16, "conv_channels": [4, 8], "projection_dims": [16, 8]}


def _sequences(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    strokes5 = torch.zeros(count, 7, 5)
    strokes5[:, :, 2] = 1
    strokes5[:, :6, :2] = torch.randn(count, 6, 2, generator=generator)
    strokes5[:, 6, 2], strokes5[:, 6, 4] = 0, 1
    mask = torch.ones(count, 7, dtype=torch.bool)
    mask[:, 6] = False
    return strokes5, mask


@pytest.mark.parametrize("objective", ["simclr", "vicreg"])
def test_contrastive_cnn_learns_to_match_copies(objective: str) -> None:
    torch.manual_seed(0)
    model = build_method("contrastive_cnn", {**SMALL_CNN, "objective": objective})
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    images = torch.rand(16, 1, 16, 16)
    batch = {"image_a": images, "image_b": images + 0.05 * torch.randn_like(images)}
    first = float(model.loss(batch)["loss"])
    for _ in range(30):
        optimiser.zero_grad()
        model.loss(batch)["loss"].backward()
        optimiser.step()
    assert float(model.loss(batch)["loss"]) < first
    assert model.eval().embed({"image": images}).shape == (16, 8)


def test_contrastive_bert_and_cross_view_losses_and_embeddings() -> None:
    generator = torch.Generator().manual_seed(0)
    strokes5, mask = _sequences(6, generator)
    model = build_method("contrastive_bert", SMALL_BERT)
    parts = model.loss(
        {"strokes5_a": strokes5, "mask_a": mask, "strokes5_b": strokes5 * 1.1, "mask_b": mask}
    )
    assert parts["loss"].requires_grad and -1 <= float(parts["alignment"]) <= 1
    model.eval()
    plain = {"strokes5": strokes5, "mask": mask}
    assert model.embed(plain).shape == (6, 16)
    assert model.point_features(plain).shape == (6, 6, 16)  # trailing padding trimmed
    cross = build_method("cross_view", {**SMALL_BERT, **SMALL_CNN, "embed_modality": "both"})
    images = torch.rand(6, 1, 16, 16, generator=generator)
    loss = cross.loss({"image_a": images, "strokes5_b": strokes5, "mask_b": mask})["loss"]
    assert loss.requires_grad
    assert cross.eval().embed({"image": images, **plain}).shape == (6, 8 + 16)


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match="'objective'"):
        build_config("contrastive_cnn", {"objective": "byol"})
    with pytest.raises(ConfigError, match="'embed_modality'"):
        build_config("cross_view", {"embed_modality": "text"})
    with pytest.raises(ConfigError, match="'pooling'"):
        build_config("contrastive_bert", {"pooling": "cls"})
    model = build_method("contrastive_cnn", SMALL_CNN)
    with pytest.raises(SketchFormatError, match="image_a"):
        model.loss({"image": torch.zeros(2, 1, 16, 16)})
