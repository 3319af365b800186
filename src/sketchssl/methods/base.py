"""The interface every method shares: a module built from a typed config dataclass.

A method is an ``nn.Module`` with

* ``config_class``: the ``@dataclass`` of its hyper-parameters, paper values as defaults;
* ``loss(batch) -> dict[str, Tensor]``: the training objective, key ``"loss"``, plus its parts
  (scalars) for logging;
* ``embed(batch) -> (B, D)``: the representation the evaluation suite probes;
* ``generate(...)``: only where the method can draw.

Batches are the dicts a DataLoader makes of :class:`sketchssl.render.views.SketchDataset` items:
``strokes5`` ``(B, T, 5)`` float32, ``mask`` ``(B, T)`` bool (real rows), ``length`` ``(B,)``,
``label`` ``(B,)`` int64 (-1 when unknown), and ``image`` ``(B, 1, H, W)`` for raster views.
Nothing here imports Lightning (see the timm / lightly conventions in ANCHORS.md).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from sketchssl.errors import ConfigError, SketchFormatError

__all__ = ["SketchMethod", "distributed_mean", "require_keys", "sequence_inputs", "used_length"]


def require_keys(batch: dict[str, Tensor], *keys: str, method: str = "this method") -> None:
    """Raise :class:`SketchFormatError` naming the first key of ``keys`` missing from ``batch``."""
    for key in keys:
        if key not in batch:
            raise SketchFormatError(
                f"{method} needs batch key {key!r}; the batch has {sorted(batch)}. "
                "Build the dataset with the view that provides it (e.g. views=('sequence',))"
            )


def sequence_inputs(
    batch: dict[str, Tensor], max_length: int, method: str = "this method"
) -> tuple[Tensor, Tensor]:
    """Checked ``(strokes5 (B, T', 5) float, mask (B, T') bool)`` of a sequence batch.

    Trailing columns that are padding in every sketch are cut off (``T' <= T``): the data layer
    pads to ``max_len`` while most sketches are far shorter, and attention cost grows with
    ``T'^2``. Models that mask padded keys give the same result either way.
    """
    require_keys(batch, "strokes5", "mask", method=method)
    strokes5, mask = batch["strokes5"], batch["mask"]
    if strokes5.dim() != 3 or strokes5.shape[-1] != 5:
        raise SketchFormatError(
            f"{method}: batch['strokes5'] must have shape (B, T, 5), got {tuple(strokes5.shape)}"
        )
    if tuple(mask.shape) != tuple(strokes5.shape[:2]):
        raise SketchFormatError(
            f"{method}: batch['mask'] shape {tuple(mask.shape)} does not match strokes5 "
            f"{tuple(strokes5.shape[:2])}"
        )
    mask = mask.bool()
    used = used_length(mask)
    if used > max_length:
        raise SketchFormatError(
            f"{method}: a sketch has {used} rows but model.max_length is {max_length}; set "
            f"data.max_len to at most {max_length} (one less with a start token) or raise "
            "model.max_length"
        )
    # padding columns after the longest sketch change nothing (keys are masked): drop them
    return strokes5[:, :used].float(), mask[:, :used]


def used_length(mask: Tensor) -> int:
    """1 + the last column index holding a real row in any sketch of ``mask`` (B, T); at least 1."""
    columns = torch.nonzero(mask.any(dim=0))
    return int(columns.max()) + 1 if len(columns) else min(1, mask.shape[1])


def distributed_mean(total: Tensor, count: Tensor) -> Tensor:
    """``total / count`` over the global batch, also when it is split over DDP processes.

    Each process holds a part of the sum and of the count. The count is summed over processes
    (no gradient), and the local sum is scaled by the world size, so DDP's averaging of the
    gradients yields exactly the gradient of the global mean; the mean of the processes'
    values is the global mean too. Without torch.distributed it is the plain mean (0 for an
    empty count).
    """
    count = count.detach().to(total.dtype)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        world = torch.distributed.get_world_size()
        if world > 1:
            count = count.clone()
            torch.distributed.all_reduce(count)
            return total * world / count.clamp(min=1)
    return total / count.clamp(min=1)


class SketchMethod(nn.Module):
    """Base class of the registered methods.

    Subclasses set ``config_class`` (a dataclass) and implement :meth:`loss` and :meth:`embed`.
    ``name`` and ``description`` are filled in by
    :func:`~sketchssl.methods.registry.register_method`. ``uses_labels`` is True for methods
    whose training objective reads the class labels (classifiers, fine-tuning heads);
    ``sketchssl bench`` compares only the self-supervised ones (False) unless named.

    Args:
        config: an instance of ``config_class``; None uses its defaults.
    """

    config_class: ClassVar[type]
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    uses_labels: ClassVar[bool] = False

    def __init__(self, config: Any | None = None) -> None:
        super().__init__()
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(
                f"{type(self).__name__} takes a {self.config_class.__name__}, "
                f"got {type(config).__name__}"
            )
        self.config = config

    def config_dict(self) -> dict[str, Any]:
        """The config as a plain dict (for checkpoints and the resolved-config file)."""
        return dataclasses.asdict(self.config)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Training objective: ``{"loss": scalar, <part>: scalar, ...}``."""
        raise NotImplementedError

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """Representation of each sketch: ``(B, D)``."""
        raise NotImplementedError

    #: The batch key whose per-row part labels line up with :meth:`point_features`' rows
    #: (``"parts"`` for the ``strokes5`` rows, ``"point_parts"`` for the ``points`` rows);
    #: None for methods without per-point features (image encoders).
    point_parts_key: ClassVar[str | None] = None

    def point_features(self, batch: dict[str, Tensor]) -> Tensor:
        """Frozen features of every input row ``(B, T, D)``.

        Row ``t`` lines up with ``batch[point_parts_key][:, t]``; the part-segmentation probe
        (:mod:`sketchssl.eval.parts`) reads them.
        """
        raise ConfigError(
            f"method {self.name or type(self).__name__!r} has no per-point features (its "
            "encoder reads pictures or patches, not points)"
        )

    def generate(self, *args: Any, **kwargs: Any) -> Tensor:
        """Draw sketches; only methods that can draw override this."""
        raise NotImplementedError(f"method {self.name or type(self).__name__!r} cannot draw")

    @property
    def device(self) -> torch.device:
        """Device of the first parameter (CPU for a parameterless method)."""
        for parameter in self.parameters():
            return parameter.device
        return torch.device("cpu")
