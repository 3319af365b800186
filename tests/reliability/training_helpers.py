"""A tiny Sketch-BERT run on the built-in doodles, shared by the guard and kill/resume tests."""

from __future__ import annotations

from pathlib import Path

import torch
from lightning.pytorch.callbacks import Callback

from sketchssl.train.checkpoint import read_checkpoint
from sketchssl.train.config import RunConfig, load_run_config

TINY = [
    "model.num_layers=1",
    "model.hidden_dim=16",
    "model.num_heads=2",
    "model.ffn_dim=32",
    "model.embed_dim=8",
    "model.refine_dims=[16]",
    "model.head_dims=[8]",
    "data.batch_size=8",
    "data.num_workers=0",
    "data.max_len=99",
    "model.max_length=100",
    "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1",
    "trainer.limit_val_batches=1",
    "trainer.val_every_n_steps=4",
    "trainer.checkpoint_every_n_steps=4",
    "optim.warmup_steps=2",
]


def tiny_config(store: Path, steps: int, *extra: str) -> RunConfig:
    """The tiny run for ``steps`` steps on ``store``, with more ``key=value`` overrides."""
    return load_run_config(
        "sketch_bert", "tiny", [*TINY, f"trainer.max_steps={steps}", f"data.store={store}", *extra]
    )


def weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The state dict of a checkpoint (read with weights_only=True)."""
    return read_checkpoint(checkpoint)["state_dict"]


def assert_same_weights(got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> None:
    """Bitwise equality of two state dicts."""
    assert got.keys() == expected.keys()
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=key)


class WeightRecorder(Callback):
    """Keeps a copy of the weights and the learning rate after every step, by global step."""

    def __init__(self) -> None:
        self.weights: dict[int, dict[str, torch.Tensor]] = {}
        self.learning_rates: dict[int, float] = {}
        self.adam_steps: dict[int, float] = {}
        self.callbacks: list[Callback] = []

    def on_train_batch_start(self, trainer, pl_module, *args) -> None:
        # The rate the optimiser uses for step ``global_step``.
        self.learning_rates[trainer.global_step] = trainer.optimizers[0].param_groups[0]["lr"]

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        self.weights[trainer.global_step] = {
            key: value.detach().clone() for key, value in pl_module.state_dict().items()
        }
        state = trainer.optimizers[0].state
        steps = [float(entry["step"]) for entry in state.values() if "step" in entry]
        self.adam_steps[trainer.global_step] = max(steps) if steps else 0.0

    def on_train_end(self, trainer, pl_module) -> None:
        self.callbacks = list(trainer.callbacks)
