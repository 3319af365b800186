"""Checkpoints: written atomically, read with ``weights_only=True``, self-describing.

Lightning saves through a ``CheckpointIO`` plugin; ours writes to a temporary file in the same
folder, fsyncs it and renames it into place, so a run killed at any moment leaves the previous
checkpoint readable and never a half-written one. Reading uses ``torch.load(weights_only=True)``:
a checkpoint holding a pickled payload other than tensors and plain containers is refused.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from sketchssl.atomic import atomic_write
from sketchssl.methods.checkpoint import read_checkpoint

__all__ = ["AtomicCheckpointIO", "atomic_torch_save", "read_checkpoint"]


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary sibling, fsync, then rename over ``path``."""
    with atomic_write(path) as stream:
        torch.save(obj, stream)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes atomically and loads with ``weights_only=True``."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(
        self,
        path: str | os.PathLike[str],
        map_location: Any = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        return read_checkpoint(path, map_location=map_location or "cpu")
