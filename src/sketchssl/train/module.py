"""One LightningModule around any registered method: steps, logging, optimiser, schedule.

The method (a plain ``nn.Module``, :class:`sketchssl.methods.base.SketchMethod`) owns the
objective; this wrapper only calls ``method.loss(batch)``, logs every part, and builds the
optimiser and the learning-rate schedule from :class:`~sketchssl.train.config.OptimConfig`.

Every random draw of a training step (masks, dropout, noise) comes from torch's global generator
re-seeded from ``(seed, global_step, rank)`` at the start of the step, so a step is a pure
function of the weights, the optimiser state and the step number: a resumed run repeats the
uninterrupted one exactly.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from sketchssl.errors import ConfigError
from sketchssl.methods.base import SketchMethod
from sketchssl.train.config import OptimConfig

__all__ = ["MethodModule", "step_seed", "build_optimizer", "lr_factor"]

_VALIDATION_OFFSET = 1 << 40  # validation draws never coincide with a training step's


def step_seed(seed: int, step: int, rank: int = 0) -> int:
    """A 63-bit seed for one step, well mixed (SplitMix64) so nearby steps are unrelated."""
    value = seed * 0x9E3779B97F4A7C15 + step * 0xBF58476D1CE4E5B9 + rank * 0x94D049BB133111EB
    value &= (1 << 64) - 1
    value ^= value >> 31
    value = (value * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    value ^= value >> 27
    return value & ((1 << 63) - 1)


def lr_factor(step: int, optim: OptimConfig, max_steps: int) -> float:
    """Multiplier of ``optim.lr`` at ``step``: linear warm-up, then the schedule."""
    if optim.warmup_steps > 0 and step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    floor = optim.min_lr / optim.lr if optim.lr > 0 else 0.0
    after = step - optim.warmup_steps
    if optim.schedule == "constant":
        return 1.0
    if optim.schedule == "cosine":
        span = max(1, max_steps - optim.warmup_steps)
        progress = min(1.0, after / span)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if optim.schedule == "exponential":
        return (1.0 - floor) * optim.decay_rate**after + floor
    if optim.schedule == "step":
        return optim.gamma ** sum(step >= milestone for milestone in optim.milestones)
    raise ConfigError(
        f"optim.schedule {optim.schedule!r}: choose constant, cosine, exponential or step"
    )


def build_optimizer(parameters: Any, optim: OptimConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD from the config."""
    if optim.name == "adam":
        return torch.optim.Adam(
            parameters, lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay
        )
    if optim.name == "adamw":
        return torch.optim.AdamW(
            parameters, lr=optim.lr, betas=optim.betas, weight_decay=optim.weight_decay
        )
    if optim.name == "sgd":
        return torch.optim.SGD(
            parameters,
            lr=optim.lr,
            momentum=optim.momentum,
            nesterov=optim.nesterov,
            weight_decay=optim.weight_decay,
        )
    raise ConfigError(f"optim.name {optim.name!r}: choose adam, adamw or sgd")


class MethodModule(pl.LightningModule):
    """Trains any :class:`SketchMethod`.

    Args:
        method: the model.
        optim: optimiser settings.
        max_steps: run length (for the cosine schedule).
        seed: the run's seed.
        run_config: the resolved run configuration as a plain dict; stored in every checkpoint
            under ``"sketchssl"`` with the method name, so a checkpoint describes itself.
        train_classes: the class names of the training split (labels are not read by
            self-supervised methods; the names say which classes a model has seen, e.g. for
            ``sketchssl heal`` to flag the classes a healer never saw).
    """

    def __init__(
        self,
        method: SketchMethod,
        optim: OptimConfig,
        max_steps: int,
        seed: int,
        run_config: dict[str, Any],
        train_classes: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.train_classes = list(train_classes) if train_classes is not None else None
        self.method = method
        self.optim = optim
        self.max_steps = max_steps
        self.seed = seed
        self.run_config = run_config
        # Multiplies the schedule; lowered by the non-finite guard's rollbacks (train/guard.py)
        # and saved in checkpoints. At 1.0 the rates are bit for bit those of the schedule.
        self.lr_scale = 1.0
        self.last_train_loss: Tensor | None = None  # read by the non-finite guard

    def _seed_step(self, step: int) -> None:
        torch.manual_seed(step_seed(self.seed, step, self.global_rank))

    def _add_sample_seeds(self, batch: dict[str, Tensor], step: int) -> None:
        # One seed per sketch from (run seed, step, sketch index) and not from the rank: methods
        # that draw per-sketch randomness from it behave the same however the batch is split.
        if "index" in batch:
            base = step_seed(self.seed, step)
            batch["sample_seed"] = (batch["index"].long() * 0x2545F491 + base) % (1 << 62)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        self._seed_step(self.global_step)
        self._add_sample_seeds(batch, self.global_step)
        parts = self.method.loss(batch)
        loss = parts["loss"]
        self.last_train_loss = loss.detach()
        batch_size = int(next(iter(batch.values())).shape[0])
        distributed = self.trainer is not None and self.trainer.world_size > 1
        self.log(
            "train/loss",
            loss.detach(),
            prog_bar=True,
            batch_size=batch_size,
            sync_dist=distributed,
        )
        for name, value in parts.items():
            if name != "loss":
                self.log(
                    f"train/{name}",
                    value.detach().float(),
                    batch_size=batch_size,
                    sync_dist=distributed,
                )
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        # The same masks at every validation, so the curve compares like with like.
        self._seed_step(_VALIDATION_OFFSET + batch_idx)
        self._add_sample_seeds(batch, _VALIDATION_OFFSET)
        parts = self.method.loss(batch)
        batch_size = int(next(iter(batch.values())).shape[0])
        if hasattr(self.method, "latent_use") and batch_size > 1:
            # does the decoder read its code? (sketchssl.methods.latent_decoder.latent_use)
            self._seed_step(_VALIDATION_OFFSET + batch_idx)
            parts = {**parts, **self.method.latent_use(batch)}
        for name, value in parts.items():
            self.log(
                f"val/{name}",
                value.detach().float(),
                prog_bar=name == "loss",
                batch_size=batch_size,
                sync_dist=True,
            )

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = build_optimizer(self.method.parameters(), self.optim)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: lr_factor(step, self.optim, self.max_steps) * self.lr_scale
        )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step", "frequency": 1},
        }

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        from sketchssl import __version__

        checkpoint["sketchssl"] = {
            "version": __version__,
            "method": self.method.name,
            "config": self.run_config,
            "lr_scale": self.lr_scale,
        }
        if self.train_classes is not None:
            checkpoint["sketchssl"]["train_classes"] = self.train_classes

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get("sketchssl")
        self.lr_scale = float(meta.get("lr_scale", 1.0)) if isinstance(meta, dict) else 1.0
