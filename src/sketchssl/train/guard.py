"""The non-finite guard: skip a step whose loss or gradient is NaN / inf, roll back after a streak.

A single non-finite loss (a degenerate batch, an overflowing mixture likelihood: sketch-rnn's
"NaN cost mid-training", magenta#1735) would otherwise write NaN into every weight through the
optimiser, and the run is lost. :class:`NonFiniteGuard` checks each training step just before the
optimiser runs (Lightning's ``on_before_optimizer_step``, after backward): when the loss or the
global gradient norm is not finite, it drops the gradients, so the optimiser leaves the weights and
its own state untouched, and counts the step as skipped. The step counter, the learning-rate
schedule and the data order go on as if the step had run, so a run without non-finite steps is
bit for bit the run without the guard (and resumes exactly).

After ``max_consecutive`` skipped steps in a row the weights themselves are the problem (the
learning rate drove them somewhere the loss overflows). The guard then reloads the weights and
optimiser state of the newest checkpoint in the run's checkpoint folder written *before* the streak
began, multiplies the learning rate by ``lr_factor`` from then on (``MethodModule.lr_scale``, saved
in every checkpoint, so a resumed run keeps it), and logs one line saying so. After
``max_rollbacks`` rollbacks, or without any checkpoint to go back to, it stops the run with a
:class:`~sketchssl.errors.TrainingError` instead of looping.

Under ``16-mixed`` precision the gradient scaler already skips steps whose scaled gradients
overflow (that is how it finds its scale), so there only a non-finite *loss* counts.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from torch.optim.lr_scheduler import LambdaLR

from sketchssl.errors import ConfigError, SketchFileError, TrainingError
from sketchssl.methods.checkpoint import read_checkpoint

__all__ = ["NonFiniteGuard", "gradients_finite"]

log = logging.getLogger(__name__)


def gradients_finite(parameters: Any) -> bool:
    """Whether the global L2 norm of the gradients is finite (no NaN, no inf, no overflow)."""
    grads = [parameter.grad for parameter in parameters if parameter.grad is not None]
    if not grads:
        return True
    norms = torch.stack([torch.linalg.vector_norm(grad.detach().float()) for grad in grads])
    return bool(torch.isfinite(torch.linalg.vector_norm(norms)))


def _weights_finite(state_dict: dict[str, Any]) -> bool:
    return all(
        bool(torch.isfinite(value).all())
        for value in state_dict.values()
        if isinstance(value, torch.Tensor) and value.is_floating_point()
    )


class NonFiniteGuard(Callback):
    """Skip non-finite steps; after a streak, roll back to the last good checkpoint, lower the LR.

    Args:
        checkpoint_dir: the run's checkpoint folder (``<run>/checkpoints``).
        max_consecutive: skipped steps in a row that trigger a rollback (0: skip, never roll back).
        lr_factor: the learning rate is multiplied by this at each rollback, in (0, 1].
        max_rollbacks: rollbacks allowed before the run stops with a TrainingError.
    """

    def __init__(
        self,
        checkpoint_dir: str | Path,
        max_consecutive: int = 5,
        lr_factor: float = 0.5,
        max_rollbacks: int = 3,
    ) -> None:
        if max_consecutive < 0:
            raise ConfigError(
                f"trainer.nonfinite_max_consecutive must be >= 0, got {max_consecutive}"
            )
        if not (0.0 < lr_factor <= 1.0) or not math.isfinite(lr_factor):
            raise ConfigError(f"trainer.nonfinite_lr_factor must be in (0, 1], got {lr_factor}")
        if max_rollbacks < 0:
            raise ConfigError(f"trainer.nonfinite_max_rollbacks must be >= 0, got {max_rollbacks}")
        self.checkpoint_dir = Path(checkpoint_dir)
        self.max_consecutive = max_consecutive
        self.lr_factor = lr_factor
        self.max_rollbacks = max_rollbacks
        self.skipped_total = 0
        self.consecutive = 0
        self.streak_start = -1  # step of the first skipped step of the current streak
        self.rollbacks = 0
        self._pending: tuple[int, str] | None = None  # (step, reason) of a step being skipped

    # ----------------------------------------------------------------------------- detection

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        loss = getattr(pl_module, "last_train_loss", None)
        reason = ""
        if isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss).all()):
            reason = f"loss {float(loss.float().mean()):g}"
        elif not _scaler_skips_overflow(trainer) and not gradients_finite(pl_module.parameters()):
            reason = "gradient norm not finite"
        # Every process must skip together (a NaN on one rank reaches all through all-reduce,
        # but a non-finite loss with finite gradients would not).
        if not trainer.strategy.reduce_boolean_decision(bool(reason), all=False):
            return
        for parameter in pl_module.parameters():
            parameter.grad = None  # the optimiser skips parameters without gradients
        self._pending = (trainer.global_step, reason or "non-finite on another process")

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any
    ) -> None:
        if self._pending is None:
            self.consecutive = 0
            return
        step, reason = self._pending
        self._pending = None
        if self.consecutive == 0:
            self.streak_start = step
        self.consecutive += 1
        self.skipped_total += 1
        log.warning(
            "step %d: %s; update skipped (%d in a row, %d in all)",
            step,
            reason,
            self.consecutive,
            self.skipped_total,
        )
        if self.max_consecutive and self.consecutive >= self.max_consecutive:
            self._roll_back(trainer, pl_module, step)

    # ----------------------------------------------------------------------------- rollback

    def _last_good_checkpoint(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest readable checkpoint from before the streak, with finite weights."""
        best: tuple[int, Path, dict[str, Any]] | None = None
        for path in sorted(self.checkpoint_dir.glob("*.ckpt")):
            try:
                checkpoint = read_checkpoint(path)
            except SketchFileError as error:
                log.warning("non-finite guard: cannot use %s (%s)", path.name, error)
                continue
            step = int(checkpoint.get("global_step", -1))
            if step >= self.streak_start or (best is not None and step <= best[0]):
                continue
            if _weights_finite(checkpoint["state_dict"]):
                best = (step, path, checkpoint)
        return None if best is None else (best[1], best[2])

    def _roll_back(self, trainer: pl.Trainer, pl_module: pl.LightningModule, step: int) -> None:
        streak = f"{self.consecutive} consecutive steps ({self.streak_start}-{step})"
        if self.rollbacks >= self.max_rollbacks:
            raise TrainingError(
                f"{streak} had a non-finite loss or gradient after {self.rollbacks} rollback(s) "
                "with a lower learning rate; the run is stopped. Lower optim.lr, turn on "
                "optim.gradient_clip, or check the data (trainer.nonfinite_max_rollbacks)"
            )
        found = self._last_good_checkpoint()
        if found is None:
            raise TrainingError(
                f"{streak} had a non-finite loss or gradient and {self.checkpoint_dir} holds no "
                f"checkpoint from before step {self.streak_start} to roll back to. Lower "
                "optim.lr or write checkpoints more often (trainer.checkpoint_every_n_steps)"
            )
        path, checkpoint = found
        pl_module.load_state_dict(checkpoint["state_dict"])
        for optimizer, state in zip(
            trainer.optimizers, checkpoint.get("optimizer_states", []), strict=False
        ):
            optimizer.load_state_dict(state)
        pl_module.lr_scale = getattr(pl_module, "lr_scale", 1.0) * self.lr_factor
        learning_rate = _apply_learning_rate(trainer, self.lr_factor)
        self.rollbacks += 1
        self.consecutive = 0
        log.warning(
            "non-finite guard: %s were skipped; rolled back to %s (step %d) and lowered the "
            "learning rate by %g to %.3g (rollback %d of at most %d)",
            streak,
            path.name,
            int(checkpoint["global_step"]),
            self.lr_factor,
            learning_rate,
            self.rollbacks,
            self.max_rollbacks,
        )

    # ----------------------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        return {
            "skipped_total": self.skipped_total,
            "consecutive": self.consecutive,
            "streak_start": self.streak_start,
            "rollbacks": self.rollbacks,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.skipped_total = int(state_dict.get("skipped_total", 0))
        self.consecutive = int(state_dict.get("consecutive", 0))
        self.streak_start = int(state_dict.get("streak_start", -1))
        self.rollbacks = int(state_dict.get("rollbacks", 0))


def _scaler_skips_overflow(trainer: pl.Trainer) -> bool:
    """True under fp16 mixed precision, whose GradScaler skips overflowing steps itself."""
    return getattr(trainer.precision_plugin, "scaler", None) is not None


def _apply_learning_rate(trainer: pl.Trainer, factor: float) -> float:
    """Set each optimiser's rate for the current step after a rollback; returns the first one.

    The optimiser state just loaded carries the rate of the checkpoint's step; the schedule is
    re-evaluated at the current step instead (its lambda includes ``MethodModule.lr_scale``).
    """
    for config in trainer.lr_scheduler_configs:
        scheduler = config.scheduler
        if isinstance(scheduler, LambdaLR):
            for group, base, schedule in zip(
                scheduler.optimizer.param_groups,
                scheduler.base_lrs,
                scheduler.lr_lambdas,
                strict=True,
            ):
                group["lr"] = base * schedule(scheduler.last_epoch)
        else:  # a schedule that does not read lr_scale: scale the rate directly
            for group in scheduler.optimizer.param_groups:
                group["lr"] *= factor
    if not trainer.lr_scheduler_configs:
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] *= factor
    return float(trainer.optimizers[0].param_groups[0]["lr"]) if trainer.optimizers else 0.0
