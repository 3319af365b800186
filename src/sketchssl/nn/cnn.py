"""Image encoders for rendered sketches: AlexNet with BatchNorm, and a small CNN for CPU runs.

- [0] Xu, Song, Yin, Song, Wang, "Deep Self-Supervised Representation Learning for Free-Hand
  Sketch", IEEE TCSVT 2020, https://arxiv.org/abs/2002.00867; reference code
  https://github.com/zzz1515151/self-supervised_learning_sketch (``AlexNet.py``).
- [1] Gidaris, Singh, Komodakis, "Unsupervised Representation Learning by Predicting Image
  Rotations", ICLR 2018 (RotNet), whose AlexNet-BN the reference code follows.

Both encoders map ``(B, C, H, W)`` images to a ``(B, feature_dim)`` feature: the output of the
last fully connected block (``Linear`` without bias -> ``BatchNorm1d`` -> ReLU), i.e. the layer
just below the pretext classifier, which is what the methods' ``embed`` returns.

:class:`AlexNetBN` is the paper network (224 x 224 input, 4096-d feature). Its pool5 output is
made 6 x 6 by an adaptive max pool, which is the identity at 224 px and lets smaller images
through (as torchvision's AlexNet does with an average pool). :class:`SmallConvNet` is a VGG-like
stack of ``conv3x3 -> BN -> ReLU -> maxpool 2`` blocks for 64-px CPU runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["AlexNetBN", "SmallConvNet", "fully_connected_block"]


def fully_connected_block(in_features: int, out_features: int) -> nn.Sequential:
    """``Linear (no bias) -> BatchNorm1d -> ReLU``, the reference fc layer (BN absorbs a bias)."""
    return nn.Sequential(
        nn.Linear(in_features, out_features, bias=False),
        nn.BatchNorm1d(out_features),
        nn.ReLU(inplace=True),
    )


def _conv_block(in_channels: int, out_channels: int, **conv_options: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, **conv_options),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class AlexNetBN(nn.Module):
    """AlexNet with BatchNorm after every conv and fc layer (the paper's image encoder).

    conv1 64 k11 s4 p2, maxpool 3/2; conv2 192 k5 p2, maxpool 3/2; conv3 384, conv4 256,
    conv5 256 (k3 p1), maxpool 3/2 -> ``(256, 6, 6)``; two fc blocks of ``feature_dim``.

    Args:
        in_channels: image channels (3 in the paper, which feeds grey images as RGB).
        feature_dim: width of both fc blocks (4096 in the paper).

    Examples:
        >>> import torch
        >>> encoder = AlexNetBN(in_channels=1, feature_dim=64).eval()
        >>> encoder(torch.zeros(2, 1, 224, 224)).shape
        torch.Size([2, 64])
    """

    def __init__(self, in_channels: int = 3, feature_dim: int = 4096) -> None:
        super().__init__()
        if in_channels < 1 or feature_dim < 1:
            raise ValueError("in_channels and feature_dim must be at least 1")
        self.feature_dim = feature_dim
        self.features = nn.Sequential(
            _conv_block(in_channels, 64, kernel_size=11, stride=4, padding=2),  # (B, 64, 55, 55)
            nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 64, 27, 27)
            _conv_block(64, 192, kernel_size=5, padding=2),
            nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 192, 13, 13)
            _conv_block(192, 384, kernel_size=3, padding=1),
            _conv_block(384, 256, kernel_size=3, padding=1),
            _conv_block(256, 256, kernel_size=3, padding=1),
            nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 256, 6, 6) at 224 px
            nn.AdaptiveMaxPool2d((6, 6)),
        )
        self.head = nn.Sequential(
            nn.Flatten(),  # (B, 9216)
            fully_connected_block(256 * 6 * 6, feature_dim),
            fully_connected_block(feature_dim, feature_dim),
        )

    def forward(self, images: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, feature_dim)``."""
        return self.head(self.features(images))


class SmallConvNet(nn.Module):
    """``conv3x3 -> BN -> ReLU -> maxpool 2`` blocks, then two fc blocks (a CPU-sized AlexNet-BN).

    Args:
        in_channels: image channels.
        channels: output channels of each conv block; each block halves the image side.
        feature_dim: width of both fc blocks.
        image_size: input side in pixels; must survive ``len(channels)`` halvings.

    Examples:
        >>> import torch
        >>> encoder = SmallConvNet(channels=(8, 16), feature_dim=32, image_size=16).eval()
        >>> encoder(torch.zeros(2, 1, 16, 16)).shape
        torch.Size([2, 32])
    """

    def __init__(
        self,
        in_channels: int = 1,
        channels: Sequence[int] = (32, 64, 128, 256),
        feature_dim: int = 256,
        image_size: int = 64,
    ) -> None:
        super().__init__()
        channels = tuple(int(width) for width in channels)
        if not channels or min(channels) < 1 or in_channels < 1 or feature_dim < 1:
            raise ValueError("in_channels, feature_dim and every conv width must be at least 1")
        side = image_size >> len(channels)
        if side < 1:
            raise ValueError(
                f"image_size {image_size} is too small for {len(channels)} halving conv blocks"
            )
        self.feature_dim = feature_dim
        blocks: list[nn.Module] = []
        previous = in_channels
        for width in channels:
            blocks += [_conv_block(previous, width, kernel_size=3, padding=1), nn.MaxPool2d(2)]
            previous = width
        self.features = nn.Sequential(*blocks)  # (B, channels[-1], side, side)
        self.head = nn.Sequential(
            nn.Flatten(),
            fully_connected_block(previous * side * side, feature_dim),
            fully_connected_block(feature_dim, feature_dim),
        )

    def forward(self, images: Tensor) -> Tensor:
        """``(B, C, image_size, image_size)`` -> ``(B, feature_dim)``."""
        return self.head(self.features(images))
