"""latent_use: the gap between decoding with another sketch's code and with the sketch's own."""

from __future__ import annotations

import pytest
import torch

from sketchssl.methods.registry import build_method


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    strokes = torch.zeros(4, 8, 5)
    strokes[:, :, 4] = 1
    strokes[:, 0] = torch.tensor([0.0, 0, 1, 0, 0])
    strokes[:, 1:6, :2] = torch.randn(4, 5, 2, generator=generator) * 2
    strokes[:, 1:6, 2:5] = torch.tensor([1.0, 0, 0])
    strokes[:, 5, 2:5] = torch.tensor([0.0, 1, 0])
    mask = torch.zeros(4, 8, dtype=torch.bool)
    mask[:, :6] = True
    return {"strokes5": strokes, "mask": mask}


def test_a_decoder_that_memorised_its_codes_shows_a_positive_gap() -> None:
    torch.manual_seed(0)
    model = build_method(
        "sketch_rnn",
        {
            "encoder_size": 16,
            "decoder": {"size": 32, "num_mixtures": 2},
            "latent_size": 8,
            "kl_weight": 0.0,
        },
    )
    batch = _batch()
    before = model.latent_use(batch)
    assert abs(float(before["latent_gap"])) < 0.5  # untrained: the code carries nothing yet
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):  # memorise 4 sketches: each code must select its sketch
        optimiser.zero_grad()
        model.loss(batch)["loss"].backward()
        optimiser.step()
    after = model.latent_use(batch)
    assert float(after["latent_gap"]) > 0.5
    assert float(after["code_spread"]) > float(before["code_spread"])
    assert model.training  # the diagnostic leaves the mode as it found it


def test_needs_two_sketches() -> None:
    from sketchssl.errors import SketchFormatError

    model = build_method(
        "sketch_rnn",
        {"encoder_size": 8, "decoder": {"size": 16, "num_mixtures": 2}, "latent_size": 4},
    )
    one = {key: value[:1] for key, value in _batch().items()}
    with pytest.raises(SketchFormatError, match="two sketches"):
        model.latent_use(one)
