"""gMLP blocks and the Lmser block of Lmser-pix2seq: patch tokens, down / up stacks, feedback.

- [0] Li, Zang, Tu, Xu, "Lmser-pix2seq: Learning stable sketch representations for sketch
  healing", CVIU 2024; reference code CMACH508/Lmser-pix2seq ``encoder.py``
  (``SpatialGatingUnit``, ``GMLPblock``, ``myencoder.get_feature``).
- [1] Liu, Dai, So, Le, "Pay Attention to MLPs", NeurIPS 2021, https://arxiv.org/abs/2105.08050
  (gMLP and its spatial gating unit).
- [2] Xu, "Least mean square error reconstruction principle for self-organizing neural-nets",
  Neural Networks 1993 (Lmser: bidirectional skip connections between encoder and decoder).

Pieces, as the reference code builds them:

* :class:`PatchEmbedding`: ``Conv2d(1 -> D, k = s = token_size)`` turns a ``(B, 1, H, W)``
  image into ``N = (H / token_size)^2`` tokens in row-major order, plus a learned position
  embedding initialised to zeros.
* :class:`SpatialGatingUnit`: split the channels into halves ``u, v``; ``v = LN(v)``; mix
  ``v`` across tokens with a ``Conv1d(N -> N, k = 1)`` (a token-by-token linear map with a
  bias per token); output ``u * v``.
* :class:`GMLPBlock`: ``Linear(D -> F) -> GELU -> SGU -> Linear(F / 2 -> D)`` on the block's
  input, plus ``LN(input)`` as the shortcut. The reference code adds the *normalised* input and
  applies the first projection to the raw input (Liu et al. normalise first and add the raw
  input); we follow the reference code.
* :class:`ImageReadout`: ``Linear(D -> token_size^2)`` per token, the tokens put back in their
  places, ``tanh``: the reconstructed image in ``[-1, 1]``.
* :class:`LmserGMLP`: ``L`` down blocks ``D_1 .. D_L`` and ``L`` up blocks ``U_L .. U_1`` with
  averaged skips (bidirectional: encoder -> decoder in each pass, decoder -> encoder between
  passes), then ``T`` feedback passes that re-embed the reconstruction (see the class).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "GMLPBlock",
    "ImageReadout",
    "LmserGMLP",
    "LmserOutput",
    "PatchEmbedding",
    "SpatialGatingUnit",
]


class SpatialGatingUnit(nn.Module):
    """The spatial gating unit of gMLP (Liu et al. 2021), as Lmser-pix2seq's code has it.

    Args:
        ffn_dim: channels of the input (even); the output has ``ffn_dim // 2``.
        num_tokens: tokens ``N`` (the spatial projection is ``N x N``).

    Examples:
        >>> import torch
        >>> unit = SpatialGatingUnit(ffn_dim=8, num_tokens=5)
        >>> unit(torch.zeros(2, 5, 8)).shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, ffn_dim: int, num_tokens: int) -> None:
        super().__init__()
        if ffn_dim < 2 or ffn_dim % 2:
            raise ValueError(f"ffn_dim must be an even number >= 2, got {ffn_dim}")
        if num_tokens < 1:
            raise ValueError(f"num_tokens must be at least 1, got {num_tokens}")
        self.norm = nn.LayerNorm(ffn_dim // 2)
        # Conv1d over the token axis with kernel 1: out[b, i, c] = sum_j W[i, j] v[b, j, c] + b[i]
        self.spatial_proj = nn.Conv1d(num_tokens, num_tokens, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, F) -> (B, N, F / 2)``."""
        u, v = x.chunk(2, dim=-1)  # (B, N, F / 2) each
        v = self.spatial_proj(self.norm(v))  # (B, N, F / 2): tokens mixed
        return u * v


class GMLPBlock(nn.Module):
    """One gMLP block with Lmser-pix2seq's shortcut (the normalised input).

    Args:
        model_dim: token width ``D`` (128 in the paper).
        ffn_dim: hidden width ``F`` (768), split in two by the gating unit.
        num_tokens: tokens ``N`` (64).

    Examples:
        >>> import torch
        >>> block = GMLPBlock(model_dim=4, ffn_dim=8, num_tokens=5)
        >>> block(torch.zeros(2, 5, 4)).shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, model_dim: int, ffn_dim: int, num_tokens: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(model_dim)
        self.channel_proj1 = nn.Linear(model_dim, ffn_dim)
        self.sgu = SpatialGatingUnit(ffn_dim, num_tokens)
        self.channel_proj2 = nn.Linear(ffn_dim // 2, model_dim)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, N, D) -> (B, N, D)``."""
        shortcut = self.norm(x)  # the reference code's "residual" is LN(x)
        hidden = F.gelu(self.channel_proj1(x))  # (B, N, F): the raw input, as in the code
        return self.channel_proj2(self.sgu(hidden)) + shortcut


class PatchEmbedding(nn.Module):
    """Non-overlapping square tokens of a one-channel image plus a learned position embedding.

    Args:
        image_size: image side ``H = W``.
        token_size: side of each token's square; must divide ``image_size``.
        model_dim: token width ``D``.
    """

    def __init__(self, image_size: int, token_size: int, model_dim: int) -> None:
        super().__init__()
        if token_size < 1 or image_size % token_size:
            raise ValueError(
                f"token_size {token_size} must divide image_size {image_size} (the image is cut "
                "into whole tokens)"
            )
        self.image_size = image_size
        self.token_size = token_size
        self.grid = image_size // token_size
        self.projection = nn.Conv2d(1, model_dim, kernel_size=token_size, stride=token_size)
        self.position = nn.Parameter(torch.zeros(1, self.grid * self.grid, model_dim))

    @property
    def num_tokens(self) -> int:
        """``N = (image_size / token_size)^2``."""
        return self.grid * self.grid

    def forward(self, image: Tensor) -> Tensor:
        """``(B, 1, H, W) -> (B, N, D)``, tokens in row-major order of the grid."""
        tokens = self.projection(image)  # (B, D, H / t, W / t)
        tokens = tokens.flatten(2).transpose(1, 2)  # (B, N, D)
        return tokens + self.position


class ImageReadout(nn.Module):
    """Tokens back to an image: ``Linear(D -> t^2)`` per token, un-tiled, then ``tanh``.

    The inverse layout of :class:`PatchEmbedding`: token ``i = r * grid + c`` fills the square
    at grid row ``r``, column ``c``, its ``t^2`` outputs in row-major order (the reference
    code's ``rearrange("b (ph pw) (ps1 ps2) -> b (ph ps1) (pw ps2)")``).

    Args:
        image_size: image side.
        token_size: token side.
        model_dim: token width.
    """

    def __init__(self, image_size: int, token_size: int, model_dim: int) -> None:
        super().__init__()
        self.token_size = token_size
        self.grid = image_size // token_size
        self.linear = nn.Linear(model_dim, token_size * token_size)

    def forward(self, tokens: Tensor) -> Tensor:
        """``(B, N, D) -> (B, 1, H, W)`` in ``[-1, 1]``."""
        batch = tokens.shape[0]
        grid, side = self.grid, self.token_size
        pixels = self.linear(tokens)  # (B, N, t * t)
        pixels = pixels.view(batch, grid, grid, side, side)  # (B, row, col, y, x)
        pixels = pixels.permute(0, 1, 3, 2, 4).reshape(batch, grid * side, grid * side)
        return torch.tanh(pixels)[:, None]  # (B, 1, H, W)


class LmserOutput(NamedTuple):
    """What :class:`LmserGMLP` computes.

    Attributes:
        top: ``(B, N, D)`` the top down-stack features ``x_L`` of the last pass (the latent is
            read from them).
        reconstruction: ``(B, 1, H, W)`` the image of the last pass, in ``[-1, 1]``.
        down_features: per pass, ``[x_1, .., x_L]`` (each ``(B, N, D)``).
        up_features: per pass, ``[y_{L-1}, .., y_1, y_0]`` (each ``(B, N, D)``).
        passes: passes run: ``1 + feedback_loops``.
    """

    top: Tensor
    reconstruction: Tensor
    down_features: list[list[Tensor]]
    up_features: list[list[Tensor]]
    passes: int


class LmserGMLP(nn.Module):
    """The Lmser block of Lmser-pix2seq: gMLP down / up stacks, skips both ways, feedback.

    First pass (the reference code's ``get_feature``, ``L = 4``)::

        x_0 = embed(image);  x_l = D_l(x_{l-1})                       l = 1 .. L
        y_L = x_L;  y_l = 1/2 U_{l+1}(y_{l+1}) + 1/2 x_l              l = L-1 .. 1
        y_0 = U_1(y_1);  image' = tanh(readout(y_0))

    Each of the ``feedback_loops`` (``T``) later passes re-embeds ``image'`` with the same
    embedding and feeds the previous pass's decoder features back into the down stack::

        e = embed(image');  x_1 = 1/2 D_1(e) + 1/2 y_1
        x_l = 1/2 D_l(x_{l-1}) + 1/2 y_l                              l = 2 .. L-1
        x_L = 1/2 D_L(x_{L-1})                                        (no partner: halved)

    then the same up pass. The top features and the image of the last pass are returned. The
    halved top of the feedback passes is the reference code's; the latent head normalises it.

    Args:
        image_size: input side (128 in the paper).
        token_size: token side (16: an 8 x 8 grid of 64 tokens).
        model_dim: token width (128).
        ffn_dim: gMLP hidden width (768).
        depth: blocks per stack ``L`` (4).
        feedback_loops: feedback passes ``T`` (``hp.T`` = 2).

    Examples:
        >>> import torch
        >>> block = LmserGMLP(image_size=16, token_size=4, model_dim=8, ffn_dim=16, depth=2,
        ...                   feedback_loops=1)
        >>> out = block(torch.zeros(3, 1, 16, 16))
        >>> out.top.shape, out.reconstruction.shape, out.passes
        (torch.Size([3, 16, 8]), torch.Size([3, 1, 16, 16]), 2)
    """

    def __init__(
        self,
        image_size: int = 128,
        token_size: int = 16,
        model_dim: int = 128,
        ffn_dim: int = 768,
        depth: int = 4,
        feedback_loops: int = 2,
    ) -> None:
        super().__init__()
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        if feedback_loops < 0:
            raise ValueError(f"feedback_loops must be >= 0, got {feedback_loops}")
        self.embedding = PatchEmbedding(image_size, token_size, model_dim)
        tokens = self.embedding.num_tokens
        self.down = nn.ModuleList(GMLPBlock(model_dim, ffn_dim, tokens) for _ in range(depth))
        # up[l - 1] is U_l: it maps level l to level l - 1
        self.up = nn.ModuleList(GMLPBlock(model_dim, ffn_dim, tokens) for _ in range(depth))
        self.readout = ImageReadout(image_size, token_size, model_dim)
        self.depth = depth
        self.feedback_loops = feedback_loops

    def _up_pass(self, down: list[Tensor]) -> list[Tensor]:
        """``[x_1 .. x_L] -> [y_0 .. y_{L-1}]`` (index = level)."""
        depth = self.depth
        ups: list[Tensor] = [down[0]] * depth  # placeholders, every level is overwritten
        current = down[depth - 1]  # y_L = x_L
        for level in range(depth - 1, 0, -1):
            current = 0.5 * self.up[level](current) + 0.5 * down[level - 1]  # y_level
            ups[level] = current
        ups[0] = self.up[0](current)  # y_0 = U_1(y_1)
        return ups

    def forward(self, image: Tensor, feedback_loops: int | None = None) -> LmserOutput:
        """Run the block on ``image`` ``(B, 1, H, W)``.

        Args:
            image: the (masked) sketch image in ``[-1, 1]``.
            feedback_loops: passes after the first; None uses the constructor's ``T``.
        """
        loops = self.feedback_loops if feedback_loops is None else int(feedback_loops)
        if loops < 0:
            raise ValueError(f"feedback_loops must be >= 0, got {loops}")
        down_features: list[list[Tensor]] = []
        up_features: list[list[Tensor]] = []

        current = self.embedding(image)  # (B, N, D) = x_0
        down: list[Tensor] = []
        for block in self.down:
            current = block(current)
            down.append(current)  # x_1 .. x_L
        ups = self._up_pass(down)
        reconstruction = self.readout(ups[0])  # (B, 1, H, W)
        down_features.append(down)
        up_features.append(ups[::-1])

        for _ in range(loops):
            current = self.embedding(reconstruction)  # the reconstruction, re-embedded
            down = []
            for level, block in enumerate(self.down, start=1):
                current = 0.5 * block(current)
                if level < self.depth:
                    current = current + 0.5 * ups[level]  # feedback skip from y_level
                down.append(current)
            ups = self._up_pass(down)
            reconstruction = self.readout(ups[0])
            down_features.append(down)
            up_features.append(ups[::-1])
        return LmserOutput(down[-1], reconstruction, down_features, up_features, 1 + loops)
