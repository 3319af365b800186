"""Test-only methods for the bench tests (registered by the ``test_methods`` fixture).

``LinearSketchMethod`` is the smallest real method: one ``Linear(5 -> dim)`` over each stroke-5
row, mean-pooled over the real rows (``embed``), trained to predict the sketch's mean row back
from that code (``loss``). Its embedding FLOPs are known by hand. ``FailingSketchMethod`` is the
same model whose ``loss`` raises from its third call on, so it passes the bench's one-step
calibration (two calls) and fails inside training, as a method with a bug would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sketchssl.methods.base import SketchMethod

LINEAR = "bench_test_linear"
FAILING = "bench_test_failing"
FAILURE_MESSAGE = "simulated bug in the loss"
#: Overrides that make a default (preset-less) run of the test methods small and fast.
SMALL_RUN = (
    "data.num_workers=0",
    "data.max_len=64",
    "data.batch_size=8",
    "trainer.max_steps=4",
    "trainer.val_every_n_steps=1000",
    "trainer.checkpoint_every_n_steps=1000",
)


@dataclass
class LinearSketchConfig:
    """Hyper-parameters of the test method."""

    dim: int = 8


class LinearSketchMethod(SketchMethod):
    """Mean-pooled ``Linear(5 -> dim)`` code; loss: predict the mean stroke-5 row from it."""

    config_class = LinearSketchConfig

    def __init__(self, config: LinearSketchConfig | None = None) -> None:
        super().__init__(config)
        self.encoder = nn.Linear(5, self.config.dim)
        self.decoder = nn.Linear(self.config.dim, 5)

    def _mean(self, values: Tensor, mask: Tensor) -> Tensor:
        weights = mask.float()[..., None]  # (B, T, 1)
        return (values * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        strokes5 = batch["strokes5"].float()  # (B, T, 5)
        return self._mean(self.encoder(strokes5), batch["mask"])  # (B, dim)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        target = self._mean(batch["strokes5"].float(), batch["mask"])  # (B, 5)
        loss = torch.nn.functional.mse_loss(self.decoder(self.embed(batch)), target)
        return {"loss": loss}


class FailingSketchMethod(LinearSketchMethod):
    """:class:`LinearSketchMethod` whose ``loss`` raises from its third call on."""

    def __init__(self, config: LinearSketchConfig | None = None) -> None:
        super().__init__(config)
        self.calls = 0

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        self.calls += 1
        if self.calls > 2:
            raise RuntimeError(FAILURE_MESSAGE)
        return super().loss(batch)
