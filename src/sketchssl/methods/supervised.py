"""Supervised references: the self-supervised methods' encoders trained with the class labels.

Not a pre-training method: the ceiling a self-supervised method trained for the same budget is
chasing (docs/RESULTS.md compares them on SPG20). ``supervised_cnn`` is the rotation /
deformation CNN (:class:`~sketchssl.methods.transform_prediction.TransformCNN`'s encoder,
``embed_layer`` included) with a linear classifier on its last fc block, trained with
cross-entropy on the labels. Its sequence counterpart is ``sketch_bert_cls`` trained from
scratch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.base import SketchMethod, require_keys
from sketchssl.methods.registry import register_method
from sketchssl.methods.transform_prediction import TransformCNN, TransformCNNConfig

__all__ = ["SupervisedCNN", "SupervisedCNNConfig"]


@dataclass
class SupervisedCNNConfig(TransformCNNConfig):
    """The CNN's fields (:class:`TransformCNNConfig`) and ``num_classes`` (set from the store)."""

    num_classes: int = 345

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_classes < 2:
            raise ConfigError(
                f"config key 'num_classes' must be at least 2, got {self.num_classes}"
            )


@register_method(
    "supervised_cnn",
    "Supervised reference: the rotation / deformation CNN trained on the class labels",
)
class SupervisedCNN(TransformCNN):
    """The transform-prediction CNN's encoder with a class head instead of pretext heads."""

    config_class = SupervisedCNNConfig
    config: SupervisedCNNConfig
    uses_labels = True
    tasks = ()

    def __init__(self, config: SupervisedCNNConfig | None = None) -> None:
        SketchMethod.__init__(self, config)
        self.encoder = self.build_encoder()
        self.classifier = nn.Linear(self.config.feature_dim, self.config.num_classes)

    def logits(self, batch: dict[str, Tensor], task: str | None = None) -> Tensor:  # noqa: ARG002
        """``(B, num_classes)`` class scores of the batch's pictures (``image``)."""
        require_keys(batch, "image", method=self.name)
        return self.classifier(self.encoder(self.check_inputs(batch["image"], "image")))

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Cross-entropy on the class labels, and the batch accuracy (logged)."""
        require_keys(batch, "label", method=self.name)
        labels = batch["label"].long()
        if (labels < 0).any():
            raise SketchFormatError(
                f"{self.name} needs class labels but the batch has unlabelled sketches (-1)"
            )
        logits = self.logits(batch)
        return {
            "loss": F.cross_entropy(logits, labels),
            "accuracy": (logits.argmax(dim=1) == labels).float().mean().detach(),
        }
