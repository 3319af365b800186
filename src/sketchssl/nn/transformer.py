"""Post-LN transformer encoder with optional ALBERT cross-layer weight sharing.

The layer follows BERT (Devlin et al. 2019) as Sketch-BERT's reference code builds it
(avalonstrel/SketchBERT ``SketchLayer``): multi-head self-attention, then a GELU feed-forward
block; each residual sum is followed by LayerNorm ("post-LN"). Padded keys get a large negative
added to their attention scores (-10000, as that code and BERT do), so a padded row never
changes a real row's output. With ``share_weights`` the encoder applies one layer's weights
``num_layers`` times (ALBERT, Lan et al. 2020), as Sketch-BERT's released model does.

Attention runs through :func:`torch.nn.functional.scaled_dot_product_attention`, which picks a
fused kernel where one is available.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["MASKED_SCORE", "padding_bias", "TransformerLayer", "TransformerEncoder"]

# Added to the attention scores of padded keys. A finite value (not -inf) keeps rows whose keys
# are all padding finite; exp(-10000) is exactly 0 in float32 and float16.
MASKED_SCORE = -10000.0


def padding_bias(key_mask: Tensor, dtype: torch.dtype) -> Tensor:
    """Additive attention bias from a key mask.

    Args:
        key_mask: ``(B, T)`` True on real rows.
        dtype: dtype of the attention scores.

    Returns:
        ``(B, 1, 1, T)``: 0 for real keys, :data:`MASKED_SCORE` for padded ones.
    """
    bias = torch.zeros(key_mask.shape, dtype=dtype, device=key_mask.device)
    bias = bias.masked_fill(~key_mask, MASKED_SCORE)
    return bias[:, None, None, :]


class TransformerLayer(nn.Module):
    """One post-LN encoder layer: attention + residual + LayerNorm, FFN + residual + LayerNorm.

    Args:
        hidden_dim: model width.
        num_heads: attention heads; must divide ``hidden_dim``.
        ffn_dim: inner width of the feed-forward block.
        attention_dropout: dropout on the attention probabilities.
        hidden_dropout: dropout on the attention block's output before its residual.
        output_dropout: dropout on the feed-forward block's output before its residual.
        activation: feed-forward non-linearity class.
        norm_layer: normalisation class.

    Examples:
        >>> layer = TransformerLayer(hidden_dim=16, num_heads=4, ffn_dim=32)
        >>> layer(torch.zeros(2, 7, 16), torch.ones(2, 7, dtype=torch.bool)).shape
        torch.Size([2, 7, 16])
    """

    def __init__(
        self,
        hidden_dim: int,
        num_heads: int,
        ffn_dim: int,
        attention_dropout: float = 0.0,
        hidden_dropout: float = 0.0,
        output_dropout: float = 0.0,
        activation: type[nn.Module] = nn.GELU,
        norm_layer: type[nn.Module] = nn.LayerNorm,
    ) -> None:
        super().__init__()
        if hidden_dim % num_heads:
            raise ValueError(
                f"hidden_dim {hidden_dim} is not a multiple of num_heads {num_heads}: "
                "choose num_heads that divides hidden_dim"
            )
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        self.qkv = nn.Linear(hidden_dim, 3 * hidden_dim)
        self.attention_out = nn.Linear(hidden_dim, hidden_dim)
        self.attention_norm = norm_layer(hidden_dim)
        self.hidden_dropout = nn.Dropout(hidden_dropout)
        self.ffn_in = nn.Linear(hidden_dim, ffn_dim)
        self.activation = activation()
        self.ffn_out = nn.Linear(ffn_dim, hidden_dim)
        self.output_dropout = nn.Dropout(output_dropout)
        self.ffn_norm = norm_layer(hidden_dim)

    def attend(self, hidden: Tensor, bias: Tensor) -> Tensor:
        """Multi-head self-attention (before the output projection).

        Args:
            hidden: ``(B, T, H)``.
            bias: ``(B, 1, 1, T)`` additive key bias (see :func:`padding_bias`).

        Returns:
            ``(B, T, H)``.
        """
        batch, length, width = hidden.shape
        qkv = self.qkv(hidden).view(batch, length, 3, self.num_heads, width // self.num_heads)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, heads, T, head_dim)
        context = F.scaled_dot_product_attention(
            query,
            key,
            value,
            attn_mask=bias.to(query.dtype),
            dropout_p=self.attention_dropout if self.training else 0.0,
        )  # (B, heads, T, head_dim)
        return context.transpose(1, 2).reshape(batch, length, width)

    def forward(self, hidden: Tensor, key_mask: Tensor, bias: Tensor | None = None) -> Tensor:
        """Apply the layer.

        Args:
            hidden: ``(B, T, H)``.
            key_mask: ``(B, T)`` True on real rows.
            bias: the precomputed :func:`padding_bias` of ``key_mask`` (saves recomputing it
                in every layer).

        Returns:
            ``(B, T, H)``.
        """
        if bias is None:
            bias = padding_bias(key_mask, hidden.dtype)
        attended = self.hidden_dropout(self.attention_out(self.attend(hidden, bias)))
        hidden = self.attention_norm(hidden + attended)
        fed = self.output_dropout(self.ffn_out(self.activation(self.ffn_in(hidden))))
        return self.ffn_norm(hidden + fed)


class TransformerEncoder(nn.Module):
    """A stack of ``num_layers`` :class:`TransformerLayer`, optionally sharing one set of weights.

    Args:
        num_layers: how many times a layer is applied.
        hidden_dim: model width.
        num_heads: attention heads.
        ffn_dim: feed-forward inner width.
        attention_dropout: dropout on attention probabilities.
        hidden_dropout: dropout after attention.
        output_dropout: dropout after the feed-forward block.
        share_weights: ALBERT sharing: one layer, applied ``num_layers`` times.

    Examples:
        >>> encoder = TransformerEncoder(num_layers=8, hidden_dim=16, num_heads=2, ffn_dim=32,
        ...                              share_weights=True)
        >>> encoder.layer(0) is encoder.layer(7)
        True
    """

    def __init__(
        self,
        num_layers: int,
        hidden_dim: int,
        num_heads: int,
        ffn_dim: int,
        attention_dropout: float = 0.0,
        hidden_dropout: float = 0.0,
        output_dropout: float = 0.0,
        *,
        share_weights: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.num_layers = num_layers
        self.share_weights = share_weights

        def make_layer() -> TransformerLayer:
            return TransformerLayer(
                hidden_dim, num_heads, ffn_dim, attention_dropout, hidden_dropout, output_dropout
            )

        # shared: one stored layer, so state_dict and parameters() hold its weights once
        self.layers = nn.ModuleList(
            [make_layer()] if share_weights else [make_layer() for _ in range(num_layers)]
        )

    def layer(self, depth: int) -> TransformerLayer:
        """The module applied at ``depth`` (0-based); the same object for every depth if shared."""
        if not 0 <= depth < self.num_layers:
            raise IndexError(f"depth {depth} outside 0..{self.num_layers - 1}")
        return self.layers[0 if self.share_weights else depth]

    def forward(self, hidden: Tensor, key_mask: Tensor, depth: int | None = None) -> Tensor:
        """Encode.

        Args:
            hidden: ``(B, T, H)`` embedded rows.
            key_mask: ``(B, T)`` True on rows that may be attended to (real rows and prefix
                tokens).
            depth: apply only the first ``depth`` layers (0 returns the input); None: all.

        Returns:
            ``(B, T, H)`` the hidden states after the last layer applied.
        """
        depth = self.num_layers if depth is None else depth
        if not 0 <= depth <= self.num_layers:
            raise ValueError(f"depth {depth} outside 0..{self.num_layers}")
        bias = padding_bias(key_mask, hidden.dtype)  # (B, 1, 1, T), built once for all layers
        for index in range(depth):
            hidden = self.layer(index)(hidden, key_mask, bias)
        return hidden
