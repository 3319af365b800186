"""``sketch_a_net``: a supervised Sketch-a-Net classifier, the judge of generated sketches.

- [0] Yu, Yang, Song, Xiang, Hospedales, "Sketch-a-Net that Beats Humans", BMVC 2015,
  https://arxiv.org/abs/1501.07873 (network: :mod:`sketchssl.nn.sketch_a_net`).
- [1] SP-gra2seq / SketchGloc / Lmser-pix2seq (METHODS.md sections 3-5): "Rec" is the accuracy
  of a Sketch-a-Net trained on the same categories, applied to the generated sketches.

Trained with cross-entropy on the store's labels from the ``raster`` view (``batch["image"]``,
``(B, 1, H, W)``, ink = 1). Used only for evaluation (:mod:`sketchssl.eval.healing`), never as a
representation learner. ``logits`` gives the class scores, ``embed`` the penultimate (L7)
features. ``num_classes`` is replaced by the store's class count at train time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.base import SketchMethod, require_keys
from sketchssl.methods.registry import register_method
from sketchssl.nn.sketch_a_net import SketchANet, sketch_a_net_sizes

__all__ = ["SketchANetConfig", "SketchANetClassifier"]


@dataclass
class SketchANetConfig:
    """Sketch-a-Net hyper-parameters; defaults are the paper's network at 225 px.

    Attributes:
        num_classes: classes (filled in from the store by ``sketchssl train``).
        image_size: input side; must equal ``data.raster_size``.
        first_kernel: L1 kernel.
        first_stride: L1 stride.
        channels: widths of L1 .. L5.
        fc_dim: width of L6 and L7 (L7 is ``embed``).
        dropout: after L6 and L7.
        batch_norm: BatchNorm after every conv / fc layer (our addition for short CPU runs).
    """

    num_classes: int = 250
    image_size: int = 225
    first_kernel: int = 15
    first_stride: int = 3
    channels: tuple[int, ...] = (64, 128, 256, 256, 256)
    fc_dim: int = 512
    dropout: float = 0.5
    batch_norm: bool = False

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        if self.num_classes < 2:
            raise ConfigError(
                f"config key 'num_classes' must be at least 2, got {self.num_classes}"
            )
        for key in ("first_kernel", "first_stride", "fc_dim"):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"config key {key!r} must be at least 1, got {getattr(self, key)}"
                )
        if len(self.channels) != 5 or min(self.channels) < 1:
            raise ConfigError(
                f"config key 'channels' needs 5 positive widths (L1 .. L5), got {self.channels}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"config key 'dropout' must be in [0, 1), got {self.dropout}")
        try:
            sketch_a_net_sizes(self.image_size, self.first_kernel, self.first_stride)
        except ValueError as error:
            raise ConfigError(f"config key 'image_size': {error}") from None


@register_method(
    "sketch_a_net",
    "Sketch-a-Net CNN classifier on rendered sketches (the Rec judge of generated sketches)",
)
class SketchANetClassifier(SketchMethod):
    """Sketch-a-Net as a :class:`SketchMethod`: cross-entropy on the raster view's labels.

    Examples:
        >>> config = SketchANetConfig(num_classes=3, image_size=64, first_kernel=7,
        ...                           first_stride=2, channels=(4, 4, 4, 4, 4), fc_dim=8)
        >>> model = SketchANetClassifier(config).eval()
        >>> batch = {"image": torch.zeros(2, 1, 64, 64), "label": torch.tensor([0, 2])}
        >>> model.logits(batch).shape, model.embed(batch).shape, sorted(model.loss(batch))
        (torch.Size([2, 3]), torch.Size([2, 8]), ['accuracy', 'loss'])
    """

    config_class = SketchANetConfig
    uses_labels = True
    config: SketchANetConfig

    def __init__(self, config: SketchANetConfig | None = None) -> None:
        super().__init__(config)
        config = self.config
        self.network = SketchANet(
            num_classes=config.num_classes,
            in_channels=1,
            image_size=config.image_size,
            first_kernel=config.first_kernel,
            first_stride=config.first_stride,
            channels=config.channels,
            fc_dim=config.fc_dim,
            dropout=config.dropout,
            batch_norm=config.batch_norm,
        )

    def images(self, batch: dict[str, Tensor]) -> Tensor:
        """Checked ``(B, 1, H, W)`` float images of the raster view."""
        require_keys(batch, "image", method=self.name or "sketch_a_net")
        images = batch["image"].float()
        size = self.config.image_size
        if images.dim() != 4 or images.shape[1] != 1 or tuple(images.shape[2:]) != (size, size):
            raise SketchFormatError(
                f"sketch_a_net needs images of shape (B, 1, {size}, {size}), got "
                f"{tuple(images.shape)}; set data.raster_size to model.image_size ({size})"
            )
        return images

    def logits(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, num_classes)`` class scores."""
        return self.network(self.images(batch))

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, fc_dim)``: the penultimate (L7) features."""
        return self.network.features(self.images(batch))

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Cross-entropy on ``batch["label"]``, with the batch ``accuracy`` for logging."""
        require_keys(batch, "label", method=self.name or "sketch_a_net")
        labels = batch["label"].long()
        if (labels < 0).any() or (labels >= self.config.num_classes).any():
            raise SketchFormatError(
                f"sketch_a_net needs labels in 0..{self.config.num_classes - 1}; the batch has "
                f"{sorted(set(labels.tolist()))[:5]}. Use a labelled store (model.num_classes is "
                "set from its class count)"
            )
        logits = self.logits(batch)  # (B, C)
        loss = F.cross_entropy(logits, labels)
        with torch.no_grad():
            accuracy = (logits.argmax(dim=1) == labels).float().mean()
        return {"loss": loss, "accuracy": accuracy}
