"""Vectorization and rasterization: they learn their cross-modal task on a tiny batch."""

from __future__ import annotations

import pytest
import torch

from sketchssl.errors import ConfigError
from sketchssl.methods.registry import build_config, build_method


def _batch(generator: torch.Generator) -> dict[str, torch.Tensor]:
    strokes = torch.zeros(4, 8, 5)
    strokes[:, :, 4] = 1
    strokes[:, 0] = torch.tensor([0.0, 0, 1, 0, 0])
    strokes[:, 1:6, :2] = torch.randn(4, 5, 2, generator=generator)
    strokes[:, 1:6, 2:5] = torch.tensor([1.0, 0, 0])
    strokes[:, 5, 2:5] = torch.tensor([0.0, 1, 0])
    mask = torch.zeros(4, 8, dtype=torch.bool)
    mask[:, :6] = True
    image = (torch.rand(4, 1, 16, 16, generator=generator) > 0.8).float()
    return {"strokes5": strokes, "mask": mask, "image": image}


@pytest.mark.parametrize(
    ("method", "config"),
    [
        (
            "vectorization",
            {
                "image_size": 16,
                "conv_channels": [4, 8],
                "latent_size": 8,
                "decoder": {"size": 16, "num_mixtures": 2},
            },
        ),
        (
            "rasterization",
            {
                "num_layers": 1,
                "hidden_dim": 16,
                "num_heads": 2,
                "ffn_dim": 32,
                "embed_dim": 8,
                "refine_dims": [],
                "image_size": 16,
                "decoder_channels": [8, 4],
            },
        ),
    ],
)
def test_learns_its_cross_modal_task_on_a_tiny_batch(method: str, config: dict) -> None:
    torch.manual_seed(0)
    model = build_method(method, config)
    batch = _batch(torch.Generator().manual_seed(0))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = float(model.loss(batch)["loss"].detach())
    for _ in range(60):
        optimiser.zero_grad()
        model.loss(batch)["loss"].backward()
        optimiser.step()
    assert float(model.loss(batch)["loss"].detach()) < 0.7 * first
    model.eval()
    assert model.embed(batch).shape[0] == 4


def test_vectorization_draws_from_pictures_and_rasterization_has_point_features() -> None:
    batch = _batch(torch.Generator().manual_seed(1))
    vector = build_method(
        "vectorization",
        {
            "image_size": 16,
            "conv_channels": [4, 8],
            "latent_size": 8,
            "decoder": {"size": 16, "num_mixtures": 2},
        },
    ).eval()
    assert vector.generate(batch, max_len=5).shape == (4, 5, 5)
    raster = build_method(
        "rasterization",
        {
            "num_layers": 1,
            "hidden_dim": 16,
            "num_heads": 2,
            "ffn_dim": 32,
            "embed_dim": 8,
            "refine_dims": [],
            "image_size": 16,
            "decoder_channels": [8, 4],
        },
    ).eval()
    assert raster.point_features(batch).shape == (4, 6, 16)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="'image_size'.*4 \\* 2\\*\\*2"):
        build_config("rasterization", {"image_size": 20, "decoder_channels": [8, 4]})
    with pytest.raises(ConfigError, match="'embed_layer'"):
        build_config("vectorization", {"embed_layer": "fc"})
