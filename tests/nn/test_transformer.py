"""Transformer encoder: parity with torch's post-LN layer, padding masking, weight sharing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sketchssl.nn.embedding import SketchEmbedding, stroke_segments
from sketchssl.nn.transformer import TransformerEncoder, TransformerLayer, padding_bias


def reference_layer(layer: TransformerLayer, hidden: int, heads: int, ffn: int) -> nn.Module:
    """torch.nn.TransformerEncoderLayer (post-LN, GELU) carrying the same weights."""
    reference = nn.TransformerEncoderLayer(
        hidden, heads, ffn, dropout=0.0, activation="gelu", batch_first=True, norm_first=False
    )
    with torch.no_grad():
        reference.self_attn.in_proj_weight.copy_(layer.qkv.weight)
        reference.self_attn.in_proj_bias.copy_(layer.qkv.bias)
        reference.self_attn.out_proj.weight.copy_(layer.attention_out.weight)
        reference.self_attn.out_proj.bias.copy_(layer.attention_out.bias)
        reference.linear1.load_state_dict(layer.ffn_in.state_dict())
        reference.linear2.load_state_dict(layer.ffn_out.state_dict())
        reference.norm1.load_state_dict(layer.attention_norm.state_dict())
        reference.norm2.load_state_dict(layer.ffn_norm.state_dict())
    return reference.eval()


def test_layer_matches_torch_post_ln_layer_on_real_rows():
    torch.manual_seed(0)
    layer = TransformerLayer(hidden_dim=32, num_heads=4, ffn_dim=64).eval()
    reference = reference_layer(layer, 32, 4, 64)
    hidden = torch.randn(3, 9, 32)
    key_mask = torch.ones(3, 9, dtype=torch.bool)
    key_mask[1, 6:] = False
    key_mask[2, 2:] = False
    ours = layer(hidden, key_mask)
    theirs = reference(hidden, src_key_padding_mask=~key_mask)
    torch.testing.assert_close(ours[key_mask], theirs[key_mask], atol=1e-5, rtol=1e-5)


def test_padding_rows_do_not_change_real_rows():
    torch.manual_seed(1)
    encoder = TransformerEncoder(3, 16, 2, 32, 0.3, 0.3, 0.3).eval()
    short = torch.randn(1, 5, 16)
    padded = torch.cat([short, 100 * torch.randn(1, 7, 16)], dim=1)  # garbage padding
    key_mask = torch.zeros(1, 12, dtype=torch.bool)
    key_mask[0, :5] = True
    out_short = encoder(short, torch.ones(1, 5, dtype=torch.bool))
    out_padded = encoder(padded, key_mask)
    torch.testing.assert_close(out_padded[:, :5], out_short, atol=1e-5, rtol=1e-5)


def test_padding_bias_values():
    bias = padding_bias(torch.tensor([[True, False, True]]), torch.float32)
    assert bias.shape == (1, 1, 1, 3)
    assert bias.flatten().tolist() == [0.0, -10000.0, 0.0]


def test_shared_encoder_reuses_one_layer_and_unshared_does_not():
    shared = TransformerEncoder(8, 16, 2, 32, share_weights=True)
    unshared = TransformerEncoder(8, 16, 2, 32, share_weights=False)
    assert all(shared.layer(depth) is shared.layer(0) for depth in range(8))
    assert shared.layer(7).qkv.weight is shared.layer(0).qkv.weight
    assert len({id(unshared.layer(depth)) for depth in range(8)}) == 8
    shared_count = sum(p.numel() for p in shared.parameters())
    assert sum(p.numel() for p in unshared.parameters()) == 8 * shared_count
    # the one layer is applied 8 times: its gradient collects all 8 uses
    hidden = torch.randn(2, 4, 16)
    shared(hidden, torch.ones(2, 4, dtype=torch.bool)).sum().backward()
    assert shared.layer(0).qkv.weight.grad is not None


def test_dropout_only_in_training_mode():
    torch.manual_seed(2)
    encoder = TransformerEncoder(2, 16, 2, 32, 0.5, 0.5, 0.5)
    hidden, key_mask = torch.randn(2, 6, 16), torch.ones(2, 6, dtype=torch.bool)
    assert not torch.equal(encoder(hidden, key_mask), encoder(hidden, key_mask))
    encoder.eval()
    assert torch.equal(encoder(hidden, key_mask), encoder(hidden, key_mask))


def test_bad_head_count_is_explained():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        TransformerLayer(hidden_dim=30, num_heads=4, ffn_dim=8)


def test_stroke_segments_hand_computed():
    # two strokes of 2 and 1 points, then a point after the last pen lift, then padding
    rows = torch.tensor(
        [[[1.0, 0, 1, 0, 0], [1, 1, 0, 1, 0], [2, 0, 0, 1, 0], [0, 3, 1, 0, 0], [0, 0, 0, 0, 1]]]
    )
    mask = torch.tensor([[True, True, True, True, False]])
    assert stroke_segments(rows, mask).tolist() == [[2, 2, 3, 4, 1]]
    assert stroke_segments(rows, mask, num_prefix_tokens=1).tolist() == [[0, 2, 2, 3, 4, 1]]


def test_embedding_refine_stack_is_linear_and_sized():
    embedding = SketchEmbedding(
        hidden_dim=48, embed_dim=8, refine_dims=(16, 32), max_positions=6, use_segments=True
    )
    widths = [(m.in_features, m.out_features) for m in embedding.refine]
    assert widths == [(8, 16), (16, 32), (32, 48)]
    assert not any(isinstance(m, (nn.ReLU, nn.GELU, nn.Tanh)) for m in embedding.refine)
    points = torch.randn(2, 6, 5)
    segments = torch.full((2, 6), 2)
    out = embedding(points, segments)
    # no activations: the stack is affine, so it commutes with averaging two inputs
    mixed = embedding((points + points.flip(0)) / 2, segments)
    torch.testing.assert_close(mixed, (out + out.flip(0)) / 2, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="longer than the position table"):
        embedding(torch.zeros(1, 7, 5), torch.zeros(1, 7, dtype=torch.long))
