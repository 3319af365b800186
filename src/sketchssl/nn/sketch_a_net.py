"""Sketch-a-Net: the CNN sketch classifier used as the judge of generated sketches (Rec).

- [0] Yu, Yang, Song, Xiang, Hospedales, "Sketch-a-Net that Beats Humans", BMVC 2015,
  https://arxiv.org/abs/1501.07873; journal version "Sketch-a-Net: A Deep Neural Network that
  Beats Humans", IJCV 2017.

The single-channel, single-scale network (the paper also trains stroke-order channels and a
multi-scale ensemble; neither is reproduced). Layers, as read in independent public
re-implementations of the paper (the paper's own table was not available to us):

=====  ==========================================  =================  ==============
layer  operation                                   output at 225 px   notes
=====  ==========================================  =================  ==============
L1     conv 64 @ 15x15, stride 3, no pad, ReLU      64 x 71 x 71       large first kernel
       max-pool 3x3, stride 2                       64 x 35 x 35
L2     conv 128 @ 5x5, no pad, ReLU                 128 x 31 x 31
       max-pool 3x3, stride 2                       128 x 15 x 15
L3-L5  conv 256 @ 3x3, pad 1, ReLU (x3)             256 x 15 x 15
       max-pool 3x3, stride 2                       256 x 7 x 7
L6     conv 512 @ 7x7 (= fully connected), ReLU     512               dropout 0.5
L7     fully connected 512, ReLU                    512               dropout 0.5
L8     fully connected, one output per class
=====  ==========================================  =================  ==============

No local response normalisation (the paper drops it). Here L6's kernel is the side of the pool-5
map whatever the input size, so L6 is always fully connected; the first kernel and stride, the
widths and an optional BatchNorm after every conv / fc layer are configurable so that a 64-px
CPU preset keeps the same layer pattern. :meth:`SketchANet.features` is the L7 output (the
penultimate layer), :meth:`SketchANet.forward` the class scores.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

__all__ = ["SketchANet", "sketch_a_net_sizes"]


def _pooled(side: int) -> int:
    """Side after a 3x3, stride-2 max-pool without padding."""
    return (side - 3) // 2 + 1


def sketch_a_net_sizes(image_size: int, first_kernel: int = 15, first_stride: int = 3) -> list[int]:
    """Spatial side after L1, pool 1, L2, pool 2 and pool 5 (L3-L5 keep the side).

    Raises:
        ValueError: the image is too small for the layer pattern (a side below 1, or below 3
            before a pool).

    Examples:
        >>> sketch_a_net_sizes(225)
        [71, 35, 31, 15, 7]
        >>> sketch_a_net_sizes(64, first_kernel=7, first_stride=2)
        [29, 14, 10, 4, 1]
    """
    sizes = [(image_size - first_kernel) // first_stride + 1]
    for step in ("pool", "conv5", "pool", "pool"):
        side = sizes[-1]
        if (step == "pool" and side < 3) or (step == "conv5" and side < 5) or side < 1:
            raise ValueError(
                f"image_size {image_size} is too small for Sketch-a-Net with a first kernel of "
                f"{first_kernel} and stride {first_stride} (a {side}-px map reaches a {step})"
            )
        sizes.append(_pooled(side) if step == "pool" else side - 4)
    return sizes


def _conv(
    in_channels: int, out_channels: int, kernel: int, batch_norm: bool, **options: int
) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, kernel, bias=not batch_norm, **options)
    ]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return layers


class SketchANet(nn.Module):
    """Sketch-a-Net classifier over ``(B, C, H, W)`` sketch images.

    Args:
        num_classes: outputs of L8.
        in_channels: image channels (1: a grey render).
        image_size: input side; fixes the L6 kernel.
        first_kernel: L1 kernel (15 in the paper).
        first_stride: L1 stride (3 in the paper).
        channels: widths of L1 .. L5 (64, 128, 256, 256, 256 in the paper).
        fc_dim: width of L6 and L7 (512 in the paper).
        dropout: drop probability after L6 and L7 (0.5 in the paper).
        batch_norm: BatchNorm after every conv and fc layer (not in the paper; helps short
            CPU runs converge).

    Examples:
        >>> import torch
        >>> net = SketchANet(num_classes=5).eval()
        >>> net(torch.zeros(2, 1, 225, 225)).shape, net.features(torch.zeros(2, 1, 225, 225)).shape
        (torch.Size([2, 5]), torch.Size([2, 512]))
    """

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 1,
        image_size: int = 225,
        first_kernel: int = 15,
        first_stride: int = 3,
        channels: Sequence[int] = (64, 128, 256, 256, 256),
        fc_dim: int = 512,
        dropout: float = 0.5,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        channels = tuple(int(width) for width in channels)
        if len(channels) != 5 or min(channels) < 1:
            raise ValueError(f"channels needs 5 positive widths (L1 .. L5), got {channels}")
        if num_classes < 1 or in_channels < 1 or fc_dim < 1:
            raise ValueError("num_classes, in_channels and fc_dim must be at least 1")
        self.image_size = image_size
        pool5 = sketch_a_net_sizes(image_size, first_kernel, first_stride)[-1]
        self.convolutions = nn.Sequential(
            *_conv(in_channels, channels[0], first_kernel, batch_norm, stride=first_stride),
            nn.MaxPool2d(3, stride=2),  # (B, c1, 35, 35) at 225 px
            *_conv(channels[0], channels[1], 5, batch_norm),
            nn.MaxPool2d(3, stride=2),  # (B, c2, 15, 15)
            *_conv(channels[1], channels[2], 3, batch_norm, padding=1),
            *_conv(channels[2], channels[3], 3, batch_norm, padding=1),
            *_conv(channels[3], channels[4], 3, batch_norm, padding=1),
            nn.MaxPool2d(3, stride=2),  # (B, c5, 7, 7)
        )
        self.fully_connected = nn.Sequential(
            *_conv(channels[4], fc_dim, pool5, batch_norm),  # L6: (B, fc, 1, 1)
            nn.Dropout(dropout),
            *_conv(fc_dim, fc_dim, 1, batch_norm),  # L7
            nn.Dropout(dropout),
            nn.Flatten(),  # (B, fc)
        )
        self.classifier = nn.Linear(fc_dim, num_classes)  # L8

    def features(self, images: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, fc_dim)``: L7, the penultimate layer."""
        if images.dim() != 4 or images.shape[-1] != self.image_size:
            raise ValueError(
                f"Sketch-a-Net built for {self.image_size}-px images got shape "
                f"{tuple(images.shape)}"
            )
        return self.fully_connected(self.convolutions(images))

    def forward(self, images: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, num_classes)`` class scores."""
        return self.classifier(self.features(images))
