"""TCN and image CNNs: the Conv1d TCN equals the reference's Conv2d formulation, paper shapes and
parameter counts worked out by hand, and the small CNN's size checks."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sketchssl.nn.cnn import AlexNetBN, SmallConvNet
from sketchssl.nn.tcn import PAPER_WINDOW_SIZES, TemporalConvNet


def reference_tcn_forward(network: TemporalConvNet, points: torch.Tensor) -> torch.Tensor:
    """The reference TCN.py forward, with Conv2d(1, F, [w, 4]) branches built from our weights."""
    image = points.unsqueeze(1)  # (B, 1, T, 4)
    pooled = []
    for width, branch in zip(network.window_sizes, network.branches, strict=True):
        conv2d = nn.Conv2d(1, branch.out_channels, [width, 4], padding=(width - 1, 0))
        with torch.no_grad():
            # Conv1d weight (F, 4, w) -> Conv2d weight (F, 1, w, 4)
            conv2d.weight.copy_(branch.weight.permute(0, 2, 1).unsqueeze(1))
            conv2d.bias.copy_(branch.bias)
        response = F.relu(conv2d(image)).squeeze(-1)  # (B, F, T + w - 1)
        pooled.append(F.max_pool1d(response, response.size(2)).squeeze(-1))  # (B, F)
    joined = torch.cat(pooled, dim=1)
    return F.relu(network.norm(network.projection(joined)))


def test_tcn_equals_the_reference_conv2d_formulation():
    torch.manual_seed(0)
    network = TemporalConvNet(num_filters=5, window_sizes=(2, 4, 6), feature_dim=12).eval()
    points = torch.rand(3, 30, 4)
    points[:, 20:] = 0.0  # zero padding, as the point view makes it
    torch.testing.assert_close(network(points), reference_tcn_forward(network, points))


def test_tcn_paper_shapes_and_parameter_count():
    network = TemporalConvNet()
    assert network.window_sizes == (2, 4, 6, 8, 10, 12, 14, 16, 18, 20) == PAPER_WINDOW_SIZES
    # convs: sum over w of 32 * 4 * w weights + 32 biases; fc 320 -> 4096; BN scale and shift
    convs = sum(32 * 4 * width + 32 for width in range(2, 21, 2))
    expected = convs + (320 * 4096 + 4096) + 2 * 4096
    assert sum(p.numel() for p in network.parameters()) == expected
    network.eval()
    assert network(torch.zeros(2, 100, 4)).shape == (2, 4096)


def test_tcn_max_over_time_sees_every_position():
    torch.manual_seed(1)
    network = TemporalConvNet(num_filters=4, window_sizes=(2,), feature_dim=8).eval()
    points = torch.zeros(1, 50, 4)
    moved = points.clone()
    moved[0, 45] = torch.tensor([0.9, 0.1, 1.0, 0.0])  # one point late in the sequence
    assert not torch.allclose(network(points), network(moved))


def test_alexnet_bn_paper_shapes():
    torch.manual_seed(0)
    encoder = AlexNetBN().eval()
    images = torch.rand(2, 3, 224, 224)
    assert encoder.features(images).shape == (2, 256, 6, 6)
    assert encoder(images).shape == (2, 4096)
    linears = [module for module in encoder.modules() if isinstance(module, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(9216, 4096), (4096, 4096)]
    assert all(m.bias is None for m in linears)  # BatchNorm follows: the reference has no bias
    batch_norms = [m for m in encoder.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert len(batch_norms) == 7  # after every conv (5) and fc (2)


def test_small_convnet_shapes_and_size_check():
    encoder = SmallConvNet(1, (8, 16, 32, 64), feature_dim=32, image_size=64).eval()
    assert encoder.features(torch.zeros(2, 1, 64, 64)).shape == (2, 64, 4, 4)
    assert encoder(torch.zeros(2, 1, 64, 64)).shape == (2, 32)
    with pytest.raises(ValueError, match="too small"):
        SmallConvNet(1, (8, 8, 8, 8, 8), feature_dim=8, image_size=16)
