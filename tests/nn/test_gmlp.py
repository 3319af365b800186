"""gMLP and the Lmser block: the gating unit by hand, token layout, every level's shapes, the
skip and feedback arithmetic recomputed independently, and how many passes run."""

from __future__ import annotations

import doctest

import pytest
import torch
import torch.nn.functional as F

import sketchssl.nn.gmlp as gmlp_module
from sketchssl.nn.gmlp import (
    GMLPBlock,
    ImageReadout,
    LmserGMLP,
    PatchEmbedding,
    SpatialGatingUnit,
)


def test_spatial_gating_unit_on_a_hand_checked_case():
    # 2 tokens, 4 channels: u = the first two channels, v = the last two
    unit = SpatialGatingUnit(ffn_dim=4, num_tokens=2)
    with torch.no_grad():
        unit.spatial_proj.weight.copy_(torch.tensor([[[1.0], [2.0]], [[0.0], [-1.0]]]))
        unit.spatial_proj.bias.copy_(torch.tensor([0.5, 1.0]))
    x = torch.tensor([[[1.0, 2.0, 3.0, 5.0], [3.0, 4.0, -1.0, 1.0]]])  # (1, 2, 4)
    # LayerNorm over v's 2 channels (weight 1, bias 0): (a, b) -> (-1, 1) when a < b, eps aside
    eps = unit.norm.eps
    scale = 1.0 / (1.0 + eps) ** 0.5
    v0 = torch.tensor([-1.0, 1.0]) * scale  # token 0: v = (3, 5)
    v1 = torch.tensor([-1.0, 1.0]) * scale  # token 1: v = (-1, 1)
    mixed0 = 1.0 * v0 + 2.0 * v1 + 0.5  # row 0 of the token mix: (-2.5, 3.5) up to eps
    mixed1 = 0.0 * v0 - 1.0 * v1 + 1.0  # row 1: (2, 0) up to eps
    expected = torch.stack([torch.tensor([1.0, 2.0]) * mixed0, torch.tensor([3.0, 4.0]) * mixed1])
    torch.testing.assert_close(unit(x)[0], expected)
    # the numbers themselves, to the 1e-4 that eps allows
    torch.testing.assert_close(
        unit(x)[0], torch.tensor([[-2.5, 7.0], [6.0, 0.0]]), atol=1e-4, rtol=0
    )


def test_spatial_gating_mixes_tokens_only_through_the_token_projection():
    torch.manual_seed(0)
    unit = SpatialGatingUnit(ffn_dim=6, num_tokens=3)
    with torch.no_grad():
        unit.spatial_proj.weight.copy_(torch.eye(3)[:, :, None])  # no mixing
        unit.spatial_proj.bias.zero_()
    x = torch.randn(2, 3, 6)
    u, v = x.chunk(2, dim=-1)
    torch.testing.assert_close(unit(x), u * F.layer_norm(v, (3,)))
    with pytest.raises(ValueError, match="even"):
        SpatialGatingUnit(ffn_dim=5, num_tokens=3)


def test_gmlp_block_is_projection_of_gated_raw_input_plus_normalised_input():
    torch.manual_seed(1)
    block = GMLPBlock(model_dim=4, ffn_dim=6, num_tokens=5)
    x = torch.randn(2, 5, 4) * 3 + 1
    hidden = F.gelu(x @ block.channel_proj1.weight.T + block.channel_proj1.bias)
    u, v = hidden.chunk(2, dim=-1)
    v = F.layer_norm(v, (3,), block.sgu.norm.weight, block.sgu.norm.bias)
    v = torch.einsum("ij,bjc->bic", block.sgu.spatial_proj.weight[:, :, 0], v)
    v = v + block.sgu.spatial_proj.bias[None, :, None]
    expected = (u * v) @ block.channel_proj2.weight.T + block.channel_proj2.bias
    expected = expected + F.layer_norm(x, (4,), block.norm.weight, block.norm.bias)
    torch.testing.assert_close(block(x), expected)


def test_tokens_are_row_major_squares_and_the_readout_puts_them_back():
    embedding = PatchEmbedding(image_size=8, token_size=4, model_dim=16)
    with torch.no_grad():
        # conv = identity on the 16 pixels of a square: token i holds square i's pixels
        embedding.projection.weight.copy_(torch.eye(16).view(16, 1, 4, 4))
        embedding.projection.bias.zero_()
    image = torch.arange(64, dtype=torch.float32).view(1, 1, 8, 8)
    tokens = embedding(image)  # (1, 4, 16)
    assert tokens.shape == (1, 4, 16) and embedding.num_tokens == 4
    torch.testing.assert_close(tokens[0, 1], image[0, 0, :4, 4:].flatten())  # top right
    torch.testing.assert_close(tokens[0, 2], image[0, 0, 4:, :4].flatten())  # bottom left
    readout = ImageReadout(image_size=8, token_size=4, model_dim=16)
    with torch.no_grad():
        readout.linear.weight.copy_(torch.eye(16))
        readout.linear.bias.zero_()
    scaled = tokens / 100.0
    torch.testing.assert_close(readout(scaled), torch.tanh(image / 100.0))
    with pytest.raises(ValueError, match="divide"):
        PatchEmbedding(image_size=10, token_size=4, model_dim=8)


def small_block(depth: int = 4, loops: int = 2) -> LmserGMLP:
    torch.manual_seed(2)
    return LmserGMLP(
        image_size=16, token_size=4, model_dim=8, ffn_dim=12, depth=depth, feedback_loops=loops
    )


@pytest.mark.parametrize("loops", [0, 1, 2, 3])
def test_every_levels_shapes_and_the_number_of_passes(loops):
    block = small_block(depth=4, loops=loops)
    out = block(torch.randn(3, 1, 16, 16))
    assert out.passes == 1 + loops
    assert len(out.down_features) == len(out.up_features) == 1 + loops
    for down, up in zip(out.down_features, out.up_features, strict=True):
        assert len(down) == 4 and len(up) == 4  # x_1..x_4 and y_3..y_0
        assert all(feature.shape == (3, 16, 8) for feature in down + up)
    assert out.top is out.down_features[-1][-1]
    assert out.reconstruction.shape == (3, 1, 16, 16)
    assert out.reconstruction.abs().max() <= 1.0


def test_pass_counts_follow_the_argument_and_count_block_calls():
    block = small_block(depth=3, loops=2)
    calls = {"down": 0, "up": 0, "embed": 0}
    for name, modules in (("down", block.down), ("up", block.up)):
        for module in modules:
            module.register_forward_hook(
                lambda *_, name=name: calls.__setitem__(name, calls[name] + 1)
            )
    block.embedding.register_forward_hook(lambda *_: calls.__setitem__("embed", calls["embed"] + 1))
    block(torch.randn(1, 1, 16, 16))
    assert calls == {"down": 9, "up": 9, "embed": 3}  # 3 passes of 3 blocks each way
    for key in calls:
        calls[key] = 0
    assert block(torch.randn(1, 1, 16, 16), feedback_loops=0).passes == 1
    assert calls == {"down": 3, "up": 3, "embed": 1}


def test_skips_and_feedback_match_the_reference_formulas():
    """Recompute every level from the blocks, as Lmser-pix2seq's get_feature writes it."""
    block = small_block(depth=4, loops=2)
    image = torch.randn(2, 1, 16, 16)
    out = block(image)
    D, U = block.down, block.up  # noqa: N806 - the paper's names

    def up_pass(x1, x2, x3, x4):
        y3 = 0.5 * U[3](x4) + 0.5 * x3
        y2 = 0.5 * U[2](y3) + 0.5 * x2
        y1 = 0.5 * U[1](y2) + 0.5 * x1
        return y3, y2, y1, U[0](y1)

    x0 = block.embedding(image)
    x1 = D[0](x0)
    x2 = D[1](x1)
    x3 = D[2](x2)
    x4 = D[3](x3)
    y3, y2, y1, y0 = up_pass(x1, x2, x3, x4)
    expected = [([x1, x2, x3, x4], [y3, y2, y1, y0])]
    for _ in range(2):
        e = block.embedding(block.readout(y0))
        x1 = 0.5 * D[0](e) + 0.5 * y1
        x2 = 0.5 * D[1](x1) + 0.5 * y2
        x3 = 0.5 * D[2](x2) + 0.5 * y3
        x4 = 0.5 * D[3](x3)
        y3, y2, y1, y0 = up_pass(x1, x2, x3, x4)
        expected.append(([x1, x2, x3, x4], [y3, y2, y1, y0]))
    for got_down, got_up, (want_down, want_up) in zip(
        out.down_features, out.up_features, expected, strict=True
    ):
        for got, want in zip(got_down + got_up, want_down + want_up, strict=True):
            torch.testing.assert_close(got, want)
    torch.testing.assert_close(out.reconstruction, block.readout(y0))


def test_feedback_changes_the_output_and_gradients_reach_every_block():
    block = small_block(depth=4, loops=2)
    image = torch.randn(2, 1, 16, 16)
    with_feedback = block(image)
    without = block(image, feedback_loops=0)
    assert not torch.allclose(with_feedback.top, without.top, atol=1e-4)
    assert not torch.allclose(with_feedback.reconstruction, without.reconstruction, atol=1e-4)
    # the first pass is the same computation either way
    torch.testing.assert_close(with_feedback.down_features[0][0], without.down_features[0][0])
    (with_feedback.top.sum() + with_feedback.reconstruction.sum()).backward()
    for name, parameter in block.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_depth_one_and_bad_arguments():
    block = small_block(depth=1, loops=1)
    out = block(torch.randn(2, 1, 16, 16))
    assert out.passes == 2 and [len(d) for d in out.down_features] == [1, 1]
    with pytest.raises(ValueError, match="depth"):
        LmserGMLP(image_size=16, token_size=4, depth=0)
    with pytest.raises(ValueError, match="feedback_loops"):
        block(torch.randn(1, 1, 16, 16), feedback_loops=-1)


def test_docstring_examples():
    result = doctest.testmod(gmlp_module)
    assert result.attempted > 0 and result.failed == 0
