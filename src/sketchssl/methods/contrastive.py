"""Contrastive and non-contrastive pre-training with sketch augmentations.

Not one of the five seed methods: the general recipe of SimCLR (Chen et al., ICML 2020,
https://arxiv.org/abs/2002.05709) and VICReg (Bardes et al., ICLR 2022,
https://arxiv.org/abs/2105.04906), with augmentations made for sketches
(:class:`~sketchssl.render.pair_view.PairAugmentation`: partial sketch, stroke drop, stretch,
rotation, point drop on the strokes; crop and line width on the picture), and a cross-view
variant in the spirit of Bhunia et al. ("Vectorization and Rasterization: Self-Supervised
Learning for Sketch and Handwriting", CVPR 2021), who pair a sketch's picture with its point
sequence, here with CLIP's symmetric InfoNCE (Radford et al. 2021) instead of their decoders.

Three registered methods, each trained on the ``pairs`` view (two augmented copies a sketch):

* ``contrastive_cnn``: a CNN on the two pictures; ``model.objective`` ``simclr`` (NT-Xent) or
  ``vicreg``. The representation is the last convolution map averaged over space.
* ``contrastive_bert``: the Sketch-BERT transformer on the two point sequences; the
  representation is the pooled hidden state (``pooling``, ``embed_layer``), and every point has
  a feature (the part probe reads it).
* ``cross_view``: the CNN on one copy's picture and the transformer on the other copy's points;
  each must find its partner in the batch. ``embed_modality`` says which encoder ``embed``
  uses (``image``, ``sequence`` or ``both``, concatenated).

The losses (:mod:`sketchssl.nn.contrastive`) and the pair view are usable on their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.base import SketchMethod, require_keys, sequence_inputs
from sketchssl.methods.registry import register_method
from sketchssl.methods.sketch_bert import SketchBertEncoder, SketchBertEncoderConfig
from sketchssl.nn.cnn import AlexNetBN, SmallConvNet
from sketchssl.nn.contrastive import CrossModalInfoNCE, NTXentLoss, ProjectionHead, VICRegLoss

__all__ = [
    "ContrastiveBert",
    "ContrastiveBertConfig",
    "ContrastiveCNN",
    "ContrastiveCNNConfig",
    "CrossView",
    "CrossViewConfig",
    "ImageTrunk",
]

OBJECTIVES = ("simclr", "vicreg")
IMAGE_ENCODERS = ("small", "alexnet_bn")
MODALITIES = ("image", "sequence", "both")


@dataclass
class ObjectiveConfig:
    """What the two views' projections are trained to do.

    Attributes:
        objective: ``simclr`` (NT-Xent, negatives = the rest of the batch) or ``vicreg``
            (no negatives; variance and covariance terms keep the embeddings from collapsing).
            ``cross_view`` always uses the cross-modal InfoNCE.
        temperature: NT-Xent / InfoNCE temperature.
        projection_dims: hidden and output widths of the projection MLP after the encoder
            (the loss reads its output; evaluation reads the encoder's).
        vicreg_weights: VICReg's invariance, variance and covariance weights.
    """

    objective: str = "simclr"
    temperature: float = 0.1
    projection_dims: tuple[int, ...] = (512, 128)
    vicreg_weights: tuple[float, ...] = (25.0, 25.0, 1.0)

    def check_objective(self) -> None:
        """Validate the fields above."""
        self.projection_dims = tuple(self.projection_dims)
        self.vicreg_weights = tuple(self.vicreg_weights)
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                f"config key 'objective' is {self.objective!r}: choose one of "
                f"{', '.join(OBJECTIVES)}"
            )
        if not self.temperature > 0:
            raise ConfigError(f"config key 'temperature' must be positive, got {self.temperature}")
        if not self.projection_dims or min(self.projection_dims) < 1:
            raise ConfigError(
                f"config key 'projection_dims' needs positive widths: {self.projection_dims}"
            )
        if len(self.vicreg_weights) != 3 or min(self.vicreg_weights) < 0:
            raise ConfigError(
                f"config key 'vicreg_weights' needs three weights >= 0: {self.vicreg_weights}"
            )

    def loss_module(self) -> nn.Module:
        """The configured loss."""
        if self.objective == "vicreg":
            return VICRegLoss(*self.vicreg_weights)
        return NTXentLoss(self.temperature)


@dataclass
class ImageConfig:
    """The picture encoder (the same trunks as the rotation / deformation CNNs).

    Attributes:
        image_encoder: ``small`` (:class:`~sketchssl.nn.cnn.SmallConvNet`'s conv blocks) or
            ``alexnet_bn`` (the paper-sized trunk, 224 px).
        image_size: side of the input pictures; must equal ``data.raster_size``.
        conv_channels: widths of the ``small`` trunk's conv blocks.
    """

    image_encoder: str = "small"
    image_size: int = 64
    conv_channels: tuple[int, ...] = (32, 64, 128, 256)

    def check_image(self) -> None:
        """Validate the fields above."""
        self.conv_channels = tuple(self.conv_channels)
        if self.image_encoder not in IMAGE_ENCODERS:
            raise ConfigError(
                f"config key 'image_encoder' is {self.image_encoder!r}: choose one of "
                f"{', '.join(IMAGE_ENCODERS)}"
            )
        if not self.conv_channels or min(self.conv_channels) < 1:
            raise ConfigError(
                f"config key 'conv_channels' needs positive widths: {self.conv_channels}"
            )
        if self.image_encoder == "small" and self.image_size >> len(self.conv_channels) < 1:
            raise ConfigError(
                f"config key 'image_size' ({self.image_size}) is too small for "
                f"{len(self.conv_channels)} conv blocks that each halve it"
            )


@dataclass
class ContrastiveCNNConfig(ObjectiveConfig, ImageConfig):
    """``contrastive_cnn``: fields of :class:`ObjectiveConfig` and :class:`ImageConfig`."""

    def __post_init__(self) -> None:
        self.check_objective()
        self.check_image()


@dataclass
class ContrastiveBertConfig(ObjectiveConfig, SketchBertEncoderConfig):
    """``contrastive_bert``: the Sketch-BERT encoder's fields and :class:`ObjectiveConfig`'s.

    ``pooling`` (max by default) and ``embed_layer`` choose the representation.
    """

    pooling: str = "max"

    def __post_init__(self) -> None:
        SketchBertEncoderConfig.__post_init__(self)
        self.check_objective()
        if self.pooling == "cls":
            raise ConfigError("config key 'pooling': use mean or max (there is no [CLS] row)")


@dataclass
class CrossViewConfig(ObjectiveConfig, ImageConfig, SketchBertEncoderConfig):
    """``cross_view``: both encoders' fields, :class:`ObjectiveConfig`'s, ``embed_modality``.

    ``embed_modality`` is what ``embed`` returns: ``image``, ``sequence`` or ``both``.
    """

    pooling: str = "max"
    embed_modality: str = "image"

    def __post_init__(self) -> None:
        SketchBertEncoderConfig.__post_init__(self)
        self.check_objective()
        self.check_image()
        if self.pooling == "cls":
            raise ConfigError("config key 'pooling': use mean or max (there is no [CLS] row)")
        if self.embed_modality not in MODALITIES:
            raise ConfigError(
                f"config key 'embed_modality' is {self.embed_modality!r}: choose one of "
                f"{', '.join(MODALITIES)}"
            )


class ImageTrunk(nn.Module):
    """A CNN's convolution layers and a global average pool: ``(B, 1, H, W)`` -> ``(B, C)``."""

    def __init__(self, config: ImageConfig) -> None:
        super().__init__()
        if config.image_encoder == "alexnet_bn":
            self.features = AlexNetBN(in_channels=1, feature_dim=1).features
            self.width = 256
        else:
            network = SmallConvNet(1, config.conv_channels, 1, config.image_size)
            self.features = network.features
            self.width = config.conv_channels[-1]
        self.image_size = config.image_size

    def forward(self, images: Tensor) -> Tensor:
        """Pooled feature of each picture."""
        if images.dim() != 4 or tuple(images.shape[1:]) != (1, self.image_size, self.image_size):
            raise SketchFormatError(
                f"pictures must be (B, 1, {self.image_size}, {self.image_size}), got "
                f"{tuple(images.shape)}; set data.raster_size to model.image_size"
            )
        return self.features(images).mean(dim=(2, 3))  # (B, C)


def _pair_keys(batch: dict[str, Tensor], key: str, method: str) -> tuple[Tensor, Tensor]:
    require_keys(batch, f"{key}_a", f"{key}_b", method=method)
    return batch[f"{key}_a"], batch[f"{key}_b"]


@register_method(
    "contrastive_cnn",
    "SimCLR / VICReg on two augmented renders of each sketch (CNN), sketch augmentations",
)
class ContrastiveCNN(SketchMethod):
    """A CNN whose two views of a sketch (``image_a``, ``image_b``) must agree.

    Examples:
        >>> config = ContrastiveCNNConfig(image_size=16, conv_channels=(4, 8),
        ...                               projection_dims=(16, 8))
        >>> model = ContrastiveCNN(config)
        >>> batch = {"image_a": torch.rand(6, 1, 16, 16), "image_b": torch.rand(6, 1, 16, 16)}
        >>> sorted(model.loss(batch)), model.embed({"image": torch.rand(6, 1, 16, 16)}).shape
        (['alignment', 'loss'], torch.Size([6, 8]))
    """

    config_class = ContrastiveCNNConfig
    config: ContrastiveCNNConfig

    def __init__(self, config: ContrastiveCNNConfig | None = None) -> None:
        super().__init__(config)
        self.encoder = ImageTrunk(self.config)
        self.projection = ProjectionHead([self.encoder.width, *self.config.projection_dims])
        self.criterion = self.config.loss_module()

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The objective of the two pictures' projections, and their mean cosine (logged)."""
        view_a, view_b = _pair_keys(batch, "image", self.name)
        features = self.encoder(torch.cat([view_a, view_b]))  # (2B, C): one BatchNorm batch
        projected = self.projection(features)
        first, second = projected.chunk(2)
        return {"loss": self.criterion(first, second), "alignment": _alignment(first, second)}

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, C)``: the pooled conv features of the plain render (``image``)."""
        require_keys(batch, "image", method=self.name)
        return self.encoder(batch["image"])


def _alignment(first: Tensor, second: Tensor) -> Tensor:
    """Mean cosine similarity of the paired projections (a training diagnostic)."""
    return torch.nn.functional.cosine_similarity(first, second, dim=1).mean().detach()


class _SequenceEncoding(SketchMethod):
    """What the methods with the Sketch-BERT transformer share: embed and point features."""

    config: ContrastiveBertConfig | CrossViewConfig
    point_parts_key = "parts"

    def build_sequence_encoder(self) -> None:
        self.sequence_encoder = SketchBertEncoder(self.config, prefix_value=None)

    def sequence_features(self, strokes5: Tensor, mask: Tensor) -> Tensor:
        """``(B, H)``: pooled hidden states at ``embed_layer``."""
        hidden, key_mask = self.sequence_encoder(strokes5, mask, self.config.embed_depth)
        return self.sequence_encoder.pool(hidden, key_mask, self.config.pooling)

    def embed_sequence(self, batch: dict[str, Tensor]) -> Tensor:
        strokes5, mask = sequence_inputs(batch, self.config.max_length, self.name)
        return self.sequence_features(strokes5, mask)

    def point_features(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, T, H)``: every ``strokes5`` row's hidden state at ``embed_layer``."""
        strokes5, mask = sequence_inputs(batch, self.config.max_length, self.name)
        hidden, _ = self.sequence_encoder(strokes5, mask, self.config.embed_depth)
        return hidden


@register_method(
    "contrastive_bert",
    "SimCLR / VICReg on two augmented point sequences of each sketch (Sketch-BERT encoder)",
)
class ContrastiveBert(_SequenceEncoding):
    """The Sketch-BERT transformer whose two views of a sketch (``strokes5_a/b``) must agree."""

    config_class = ContrastiveBertConfig
    config: ContrastiveBertConfig

    def __init__(self, config: ContrastiveBertConfig | None = None) -> None:
        super().__init__(config)
        self.build_sequence_encoder()
        self.projection = ProjectionHead([self.config.hidden_dim, *self.config.projection_dims])
        self.criterion = self.config.loss_module()

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """The objective of the two sequences' projections."""
        projected = []
        for suffix in ("a", "b"):
            view = {
                "strokes5": batch.get(f"strokes5_{suffix}"),
                "mask": batch.get(f"mask_{suffix}"),
            }
            if view["strokes5"] is None or view["mask"] is None:
                require_keys(batch, f"strokes5_{suffix}", f"mask_{suffix}", method=self.name)
            strokes5, mask = sequence_inputs(view, self.config.max_length, self.name)
            projected.append(self.projection(self.sequence_features(strokes5, mask)))
        first, second = projected
        return {"loss": self.criterion(first, second), "alignment": _alignment(first, second)}

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, hidden_dim)``: the pooled hidden states of the plain sequence."""
        return self.embed_sequence(batch)


@register_method(
    "cross_view",
    "Cross-view contrastive: a sketch's picture (CNN) and its points (transformer) must match",
)
class CrossView(_SequenceEncoding):
    """Picture of copy ``a`` and point sequence of copy ``b``: CLIP's InfoNCE between them."""

    config_class = CrossViewConfig
    config: CrossViewConfig

    def __init__(self, config: CrossViewConfig | None = None) -> None:
        super().__init__(config)
        config = self.config
        self.encoder = ImageTrunk(config)
        self.build_sequence_encoder()
        self.image_projection = ProjectionHead([self.encoder.width, *config.projection_dims])
        self.sequence_projection = ProjectionHead([config.hidden_dim, *config.projection_dims])
        self.criterion = CrossModalInfoNCE(config.temperature)

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """InfoNCE between each picture and the point sequence of the same sketch."""
        require_keys(batch, "image_a", "strokes5_b", "mask_b", method=self.name)
        pictures = self.image_projection(self.encoder(batch["image_a"]))
        strokes5, mask = sequence_inputs(
            {"strokes5": batch["strokes5_b"], "mask": batch["mask_b"]},
            self.config.max_length,
            self.name,
        )
        sequences = self.sequence_projection(self.sequence_features(strokes5, mask))
        return {
            "loss": self.criterion(pictures, sequences),
            "alignment": _alignment(pictures, sequences),
        }

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """The ``embed_modality`` encoder's feature (both concatenated for ``both``)."""
        modality = self.config.embed_modality
        parts = []
        if modality in ("image", "both"):
            require_keys(batch, "image", method=self.name)
            parts.append(self.encoder(batch["image"]))
        if modality in ("sequence", "both"):
            parts.append(self.embed_sequence(batch))
        return torch.cat(parts, dim=1)
