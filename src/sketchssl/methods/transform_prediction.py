"""Self-supervision by predicting the transform applied to a sketch: rotation and deformation.

- [0] Xu, Song, Yin, Song, Wang, "Deep Self-Supervised Representation Learning for Free-Hand
  Sketch", IEEE TCSVT 2020, https://arxiv.org/abs/2002.00867; reference code
  https://github.com/zzz1515151/self-supervised_learning_sketch (``train_cnn.py``,
  ``train_tcn.py``, ``config/``).
- [1] Gidaris, Singh, Komodakis, "Unsupervised Representation Learning by Predicting Image
  Rotations", ICLR 2018 (RotNet), the rotation task of the image branch.

Two encoders, two tasks, and their combination:

* image branch (``*_cnn``): :class:`~sketchssl.nn.cnn.AlexNetBN` (paper) or
  :class:`~sketchssl.nn.cnn.SmallConvNet` (CPU) over rendered sketches;
* stroke branch (``*_tcn``): :class:`~sketchssl.nn.tcn.TemporalConvNet` over up to 100 absolute
  points ``(x, y, p1, p2)``;
* ``rotation_*``: 4-way classification of 0 / 90 / 180 / 270 degree copies; ``deformation_*``:
  2-way, original vs the paper's sine warp; ``rotation_deformation_*``: both heads on one
  encoder, the two cross-entropies summed (our addition, not in the paper).

The reference's stroke rotation config has ``num_classes = 2`` for a 4-way task; here the class
count comes from the task (:data:`NUM_CLASSES`), so rotation is always 4-way.

Where the transforms happen: in the data pipeline, not here. The dataset views of
:mod:`sketchssl.render.pretext` transform the strokes and then render (or fit the points) in the
DataLoader workers, and yield every copy with the label of the transform that made it; the loss
only flattens ``(B, K, ...)`` copies and classifies them. So the images are clean renders of
transformed strokes, the labels cannot drift from the transforms, and rendering overlaps with
the network instead of blocking the training step. The presets set ``data.views`` accordingly.

``embed`` returns the pre-classifier feature (the last fc block; the TCN's 4096-d layer in the
paper) of the *untransformed* sketch: the plain ``raster`` / ``points`` view if the batch has it,
otherwise the label-0 copy of a pretext view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from sketchssl.errors import ConfigError, SketchFormatError
from sketchssl.methods.base import SketchMethod, require_keys
from sketchssl.methods.registry import register_method
from sketchssl.nn.cnn import AlexNetBN, SmallConvNet
from sketchssl.nn.tcn import PAPER_WINDOW_SIZES, TemporalConvNet
from sketchssl.render.pretext import TASKS

__all__ = [
    "ENCODERS",
    "NUM_CLASSES",
    "TransformCNNConfig",
    "TransformTCNConfig",
    "TransformPrediction",
    "TransformCNN",
    "TransformTCN",
    "RotationCNN",
    "DeformationCNN",
    "RotationDeformationCNN",
    "RotationTCN",
    "DeformationTCN",
    "RotationDeformationTCN",
]

#: Classes of each pretext task.
NUM_CLASSES = {"rotation": 4, "deformation": 2}
ENCODERS = ("alexnet_bn", "small")
#: Layers :meth:`TransformCNN.embed` can return, shallow to deep.
EMBED_LAYERS = ("conv", "fc1", "fc2")
TCN_EMBED_LAYERS = ("fc", "conv")


@dataclass
class TransformCNNConfig:
    """Image branch; defaults are the paper's AlexNet-BN.

    Attributes:
        encoder: ``alexnet_bn`` (the paper) or ``small`` (:class:`SmallConvNet`).
        in_channels: channels the encoder takes; the 1-channel renders are repeated to fill
            them (the paper feeds its grey PNGs as 3-channel images).
        image_size: side of the input images; must equal ``data.raster_size``.
        conv_channels: widths of the ``small`` encoder's conv blocks (ignored by AlexNet).
        feature_dim: width of the two fc blocks.
        embed_layer: the layer :meth:`~TransformCNN.embed` returns: ``fc2`` (the last fc block,
            ``(B, feature_dim)``: the paper's feature layer, as far as its code shows), ``fc1``
            (the first fc block) or ``conv`` (the last convolution map averaged over space,
            ``(B, channels)``). Pretext heads always read ``fc2``; only evaluation changes. The
            deeper a layer, the more it specialises to the pretext task (Gidaris et al. 2018
            and Kolesnikov et al. 2019 find earlier layers better for AlexNet-like networks):
            ``benchmarks/layer_probe.py`` compares the three on the valid split.
    """

    encoder: str = "alexnet_bn"
    in_channels: int = 3
    image_size: int = 224
    conv_channels: tuple[int, ...] = (32, 64, 128, 256)
    feature_dim: int = 4096
    embed_layer: str = "fc2"

    def __post_init__(self) -> None:
        self.conv_channels = tuple(self.conv_channels)
        if self.encoder not in ENCODERS:
            raise ConfigError(
                f"config key 'encoder' is {self.encoder!r}: choose one of {', '.join(ENCODERS)}"
            )
        for key in ("in_channels", "image_size", "feature_dim"):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"config key {key!r} must be at least 1, got {getattr(self, key)}"
                )
        if not self.conv_channels or min(self.conv_channels) < 1:
            raise ConfigError(
                f"config key 'conv_channels' needs positive widths: {self.conv_channels}"
            )
        if self.embed_layer not in EMBED_LAYERS:
            raise ConfigError(
                f"config key 'embed_layer' is {self.embed_layer!r}: choose one of "
                f"{', '.join(EMBED_LAYERS)}"
            )
        if self.encoder == "small" and self.image_size >> len(self.conv_channels) < 1:
            raise ConfigError(
                f"config key 'image_size' ({self.image_size}) is too small for "
                f"{len(self.conv_channels)} conv blocks that each halve it"
            )


@dataclass
class TransformTCNConfig:
    """Stroke branch; defaults are the paper's TCN.

    Attributes:
        num_filters: channels of each convolution branch.
        window_sizes: temporal kernel widths, one branch each.
        feature_dim: width of the feature layer (the embedding).
        max_points: rows of the point sequences; must equal ``data.max_len``.
        embed_layer: what :meth:`~TransformTCN.embed` returns: ``fc`` (the feature layer, the
            paper's) or ``conv`` (the max over time of the convolution branches,
            ``num_filters * len(window_sizes)`` wide, before the fc layer the pretext heads
            read: less specialised to the pretext task, ../docs REVIEWS section 2). Training
            does not depend on it.
    """

    num_filters: int = 32
    window_sizes: tuple[int, ...] = PAPER_WINDOW_SIZES
    feature_dim: int = 4096
    max_points: int = 100
    embed_layer: str = "fc"

    def __post_init__(self) -> None:
        self.window_sizes = tuple(self.window_sizes)
        for key in ("num_filters", "feature_dim"):
            if getattr(self, key) < 1:
                raise ConfigError(
                    f"config key {key!r} must be at least 1, got {getattr(self, key)}"
                )
        if self.max_points < 2:
            raise ConfigError(f"config key 'max_points' must be at least 2, got {self.max_points}")
        if not self.window_sizes or min(self.window_sizes) < 1:
            raise ConfigError(
                f"config key 'window_sizes' needs positive widths: {self.window_sizes}"
            )
        if self.embed_layer not in TCN_EMBED_LAYERS:
            raise ConfigError(
                f"config key 'embed_layer' is {self.embed_layer!r}: choose one of "
                f"{', '.join(TCN_EMBED_LAYERS)}"
            )


class TransformPrediction(SketchMethod):
    """An encoder, one linear classifier per pretext task, cross-entropy on every copy.

    Subclasses set :attr:`tasks`, :attr:`input_kind` (``"images"`` or ``"points"``, the suffix
    of the pretext views), :attr:`plain_key` (the batch key of the untransformed input) and
    implement :meth:`build_encoder` and :meth:`check_inputs`.
    """

    tasks: ClassVar[tuple[str, ...]] = ()
    input_kind: ClassVar[str] = ""
    plain_key: ClassVar[str] = ""

    def __init__(self, config: object | None = None) -> None:
        super().__init__(config)
        unknown = [task for task in self.tasks if task not in TASKS]
        if not self.tasks or unknown:
            raise TypeError(f"{type(self).__name__}.tasks must name some of {TASKS}")
        self.encoder = self.build_encoder()
        self.heads = nn.ModuleDict(
            {task: nn.Linear(self.config.feature_dim, NUM_CLASSES[task]) for task in self.tasks}
        )

    def build_encoder(self) -> nn.Module:
        """The encoder from :attr:`config`: inputs ``(N, ...)`` -> ``(N, feature_dim)``."""
        raise NotImplementedError

    def check_inputs(self, inputs: Tensor, key: str) -> Tensor:
        """Validate and adapt a batch of single inputs ``(N, ...)`` for the encoder."""
        raise NotImplementedError

    def view_key(self, task: str) -> str:
        """Batch key of ``task``'s transformed copies (the dataset view of the same name)."""
        return f"{task}_{self.input_kind}"

    def features(self, inputs: Tensor, key: str) -> Tensor:
        """``(N, feature_dim)`` features of ``(N, ...)`` single inputs taken from ``batch[key]``."""
        return self.encoder(self.check_inputs(inputs, key))

    def copies(self, batch: dict[str, Tensor], task: str) -> tuple[Tensor, Tensor]:
        """``task``'s copies ``(B, K, ...)`` and labels ``(B, K)``, checked."""
        key = self.view_key(task)
        require_keys(batch, key, f"{key}_labels", method=self.name)
        copies, labels = batch[key], batch[f"{key}_labels"].long()
        if tuple(labels.shape) != tuple(copies.shape[:2]):
            raise SketchFormatError(
                f"{self.name}: batch[{key + '_labels'!r}] shape {tuple(labels.shape)} does not "
                f"match the copies {tuple(copies.shape[:2])}"
            )
        if labels.numel() and (labels.min() < 0 or labels.max() >= NUM_CLASSES[task]):
            raise SketchFormatError(
                f"{self.name}: {task} labels must be in 0..{NUM_CLASSES[task] - 1}"
            )
        return copies, labels

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Sum over tasks of the cross-entropy of every copy; ``<task>_accuracy`` for logging.

        All copies of all tasks go through the encoder as one batch (one set of BatchNorm
        statistics), as the reference stacks a sample's copies into the batch.
        """
        inputs, labels = [], []
        for task in self.tasks:
            copies, task_labels = self.copies(batch, task)
            inputs.append(copies.flatten(0, 1))  # (B * K, ...)
            labels.append(task_labels.flatten())  # (B * K,)
        keys = ", ".join(self.view_key(task) for task in self.tasks)
        features = self.features(torch.cat(inputs), keys)  # (sum B * K, D)
        parts: dict[str, Tensor] = {}
        total = features.new_zeros(())
        for task, chunk, task_labels in zip(
            self.tasks, features.split([len(item) for item in labels]), labels, strict=True
        ):
            logits = self.heads[task](chunk)  # (B * K, classes)
            task_loss = F.cross_entropy(logits, task_labels)
            total = total + task_loss
            if len(self.tasks) > 1:
                parts[f"{task}_loss"] = task_loss.detach()
            parts[f"{task}_accuracy"] = (logits.argmax(dim=1) == task_labels).float().mean()
        return {"loss": total, **parts}

    def logits(self, inputs: Tensor, task: str | None = None) -> Tensor:
        """Pretext class scores ``(N, classes)`` of single inputs ``(N, ...)``."""
        task = task or self.tasks[0]
        return self.heads[task](self.features(inputs, "inputs"))

    def untransformed(self, batch: dict[str, Tensor]) -> tuple[Tensor, str]:
        """The untransformed input of each sketch ``(B, ...)`` and the batch key it came from."""
        if self.plain_key in batch:
            return batch[self.plain_key], self.plain_key
        for task in (*self.tasks, *TASKS):
            key = self.view_key(task)
            if key in batch and f"{key}_labels" in batch:
                copies, labels = batch[key], batch[f"{key}_labels"].long()  # (B, K, ...), (B, K)
                original = labels == 0
                if not bool(original.any(dim=1).all()):
                    raise SketchFormatError(f"{self.name}: a sketch in {key!r} has no label-0 copy")
                first = original.float().argmax(dim=1)  # (B,)
                return copies[torch.arange(len(copies), device=copies.device), first], key
        plain_view = "raster" if self.plain_key == "image" else self.plain_key
        raise SketchFormatError(
            f"{self.name} embeds batch key {self.plain_key!r} or a pretext view's label-0 copy; "
            f"the batch has {sorted(batch)}. Add {plain_view!r} or "
            f"{self.view_key(self.tasks[0])!r} to data.views"
        )

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, feature_dim)`` feature of the untransformed sketches."""
        inputs, key = self.untransformed(batch)
        return self.features(inputs, key)

    def embedding_views(self, views: tuple[str, ...]) -> tuple[str, ...]:
        """The dataset views :meth:`embed` needs: the plain input instead of every copy.

        Rendering all transformed copies to embed only the label-0 one costs 4x (rotation) or
        2x (deformation) the rendering; the plain view gives the same input.
        """
        plain = "raster" if self.plain_key == "image" else self.plain_key
        kept = tuple(view for view in views if not view.endswith(f"_{self.input_kind}"))
        return kept if plain in kept else (*kept, plain)


class TransformCNN(TransformPrediction):
    """Image branch: :class:`AlexNetBN` or :class:`SmallConvNet` over ``(1, H, W)`` renders.

    Examples:
        >>> config = TransformCNNConfig(encoder="small", in_channels=1, image_size=16,
        ...                             conv_channels=(4, 8), feature_dim=16)
        >>> model = RotationCNN(config)
        >>> batch = {"rotation_images": torch.rand(2, 4, 1, 16, 16),
        ...          "rotation_images_labels": torch.arange(4).repeat(2, 1)}
        >>> sorted(model.loss(batch)), model.embed(batch).shape
        (['loss', 'rotation_accuracy'], torch.Size([2, 16]))
    """

    config_class = TransformCNNConfig
    config: TransformCNNConfig
    input_kind = "images"
    plain_key = "image"

    def build_encoder(self) -> nn.Module:
        """:class:`AlexNetBN` or :class:`SmallConvNet`, as ``config.encoder`` says."""
        config = self.config
        if config.encoder == "alexnet_bn":
            return AlexNetBN(config.in_channels, config.feature_dim)
        return SmallConvNet(
            config.in_channels, config.conv_channels, config.feature_dim, config.image_size
        )

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """The untransformed sketches' feature at ``config.embed_layer``.

        ``(B, feature_dim)`` for ``fc2`` / ``fc1``; ``(B, last conv channels)`` for ``conv``.
        """
        inputs, key = self.untransformed(batch)
        images = self.check_inputs(inputs, key)  # (B, C, H, W)
        layer = self.config.embed_layer
        if layer == "fc2":
            return self.encoder(images)
        maps = self.encoder.features(images)  # (B, C', s, s)
        if layer == "conv":
            return maps.mean(dim=(2, 3))  # (B, C')
        flatten, first_fc = self.encoder.head[0], self.encoder.head[1]
        return first_fc(flatten(maps))  # (B, feature_dim)

    def check_inputs(self, inputs: Tensor, key: str) -> Tensor:
        """``(N, C, H, W)`` images of the configured size, channels repeated to ``in_channels``."""
        size = self.config.image_size
        if inputs.dim() != 4 or tuple(inputs.shape[2:]) != (size, size):
            raise SketchFormatError(
                f"{self.name}: batch[{key!r}] must hold (N, C, {size}, {size}) images, got "
                f"{tuple(inputs.shape)}; set data.raster_size to model.image_size ({size})"
            )
        channels = inputs.shape[1]
        if channels != self.config.in_channels:
            if channels != 1:
                raise SketchFormatError(
                    f"{self.name}: images have {channels} channels but model.in_channels is "
                    f"{self.config.in_channels}"
                )
            inputs = inputs.expand(-1, self.config.in_channels, -1, -1)  # grey as RGB
        return inputs.float()


class TransformTCN(TransformPrediction):
    """Stroke branch: :class:`TemporalConvNet` over ``(T, 4)`` point sequences.

    Examples:
        >>> config = TransformTCNConfig(num_filters=4, window_sizes=(2, 4), feature_dim=8,
        ...                             max_points=10)
        >>> model = RotationTCN(config)
        >>> batch = {"points": torch.rand(3, 10, 4)}
        >>> model.embed(batch).shape
        torch.Size([3, 8])
    """

    config_class = TransformTCNConfig
    config: TransformTCNConfig
    input_kind = "points"
    plain_key = "points"

    def build_encoder(self) -> nn.Module:
        """:class:`TemporalConvNet` over ``(x, y, p1, p2)`` rows."""
        config = self.config
        return TemporalConvNet(4, config.num_filters, config.window_sizes, config.feature_dim)

    point_parts_key = "point_parts"

    def embed(self, batch: dict[str, Tensor]) -> Tensor:
        """The untransformed sketches' feature at ``config.embed_layer``.

        ``(B, feature_dim)`` for ``fc``, ``(B, num_filters * len(window_sizes))`` for ``conv``.
        """
        if self.config.embed_layer == "fc":
            return super().embed(batch)
        inputs, key = self.untransformed(batch)
        return self.encoder.pooled_responses(self.check_inputs(inputs, key))

    def point_features(self, batch: dict[str, Tensor]) -> Tensor:
        """``(B, max_points, num_filters * len(window_sizes))`` per-row conv responses.

        The responses centred on every row of the untransformed ``points`` sequence.
        """
        inputs, key = self.untransformed(batch)
        return self.encoder.row_features(self.check_inputs(inputs, key))

    def check_inputs(self, inputs: Tensor, key: str) -> Tensor:
        """``(N, max_points, 4)`` point sequences."""
        expected = (self.config.max_points, 4)
        if inputs.dim() != 3 or tuple(inputs.shape[1:]) != expected:
            raise SketchFormatError(
                f"{self.name}: batch[{key!r}] must hold (N, {expected[0]}, 4) point sequences, "
                f"got {tuple(inputs.shape)}; set data.max_len to model.max_points "
                f"({self.config.max_points})"
            )
        return inputs.float()


@register_method("rotation_cnn", "Xu et al. 2020 image branch: CNN predicts 0/90/180/270 rotation")
class RotationCNN(TransformCNN):
    """4-way rotation prediction on rendered sketches (RotNet on sketches)."""

    tasks = ("rotation",)


@register_method(
    "deformation_cnn", "Xu et al. 2020 image branch: CNN tells original from sine-warped sketch"
)
class DeformationCNN(TransformCNN):
    """2-way deformation prediction on rendered sketches."""

    tasks = ("deformation",)


@register_method(
    "rotation_deformation_cnn", "Rotation + deformation heads on one CNN (losses summed)"
)
class RotationDeformationCNN(TransformCNN):
    """Both pretext tasks on one image encoder."""

    tasks = ("rotation", "deformation")


@register_method("rotation_tcn", "Xu et al. 2020 stroke branch: TCN predicts 0/90/180/270 rotation")
class RotationTCN(TransformTCN):
    """4-way rotation prediction on point sequences (4 classes: the reference config said 2)."""

    tasks = ("rotation",)


@register_method(
    "deformation_tcn", "Xu et al. 2020 stroke branch: TCN tells original from sine-warped points"
)
class DeformationTCN(TransformTCN):
    """2-way deformation prediction on point sequences."""

    tasks = ("deformation",)


@register_method(
    "rotation_deformation_tcn", "Rotation + deformation heads on one TCN (losses summed)"
)
class RotationDeformationTCN(TransformTCN):
    """Both pretext tasks on one stroke encoder."""

    tasks = ("rotation", "deformation")
