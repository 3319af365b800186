"""The autoregressive stroke-5 decoder of sketch-rnn, conditioned on a latent code.

- [0] Ha, Eck, "A Neural Representation of Sketch Drawings", ICLR 2018,
  https://arxiv.org/abs/1704.03477; reference code magenta ``magenta/models/sketch_rnn/model.py``
  (``build_model``'s decoder and ``sample``).

At step ``t`` the cell reads ``[S_{t-1}, z]`` (the previous stroke-5 point and the latent code);
its initial state is ``tanh(Linear(z))``; a linear head maps ``h_t`` to the ``6 M + 3`` mixture
outputs (:mod:`sketchssl.nn.mixture`). sketch-rnn, SP-gra2seq, SketchGloc and Lmser-pix2seq all
use this decoder; they differ in the encoder that makes ``z``. With ``latent_size = 0`` it is
sketch-rnn's unconditional decoder (zero initial state, input ``S_{t-1}`` only).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from sketchssl.nn.mixture import (
    MixtureLimits,
    MixtureParams,
    mixture_output_size,
    sample_mixture,
    split_mixture_params,
)
from sketchssl.nn.rnn import make_cell

__all__ = ["START_POINT", "MixtureDecoder", "drop_input_rows"]

#: sketch-rnn's start token S0 = (0, 0, 1, 0, 0): "a pen-down point at the origin".
START_POINT = (0.0, 0.0, 1.0, 0.0, 0.0)


def drop_input_rows(
    inputs: Tensor, prob: float, generator: torch.Generator | None = None
) -> Tensor:
    """Word dropout on the teacher-forced inputs: each row after ``S0`` zeroed with ``prob``.

    Bowman et al., "Generating Sentences from a Continuous Space" (CoNLL 2016, section 3.1)
    replace a share of the decoder's input words with UNK so that it cannot predict the next one
    from its own past alone and has to read the code. Here a dropped row becomes
    ``(0, 0, 0, 0, 0)``: no offset and no pen state, a row no real point has. The first row
    (``S0``) always stays. Not part of the seed papers: ``model.decoder.input_dropout`` (default
    0) switches it on.

    Args:
        inputs: ``(B, T, 5)`` decoder inputs, ``S0`` first.
        prob: drop probability in ``[0, 1)``.
        generator: draws the dropped rows (None: torch's global generator).

    Returns:
        ``(B, T, 5)``: a copy with the dropped rows zeroed (``inputs`` itself when ``prob`` is 0).

    Examples:
        >>> rows = torch.ones(2, 4, 5)
        >>> drop_input_rows(rows, 0.0) is rows
        True
        >>> bool((drop_input_rows(rows, 0.5)[:, 0] == 1).all())
        True
    """
    if not 0.0 <= prob < 1.0:
        raise ValueError(f"drop_input_rows: prob must be in [0, 1), got {prob}")
    if prob == 0.0 or inputs.shape[1] < 2:
        return inputs
    device = generator.device if generator is not None else inputs.device
    draw = torch.rand(inputs.shape[:2], generator=generator, device=device).to(inputs.device)
    keep = draw >= prob  # (B, T)
    keep[:, 0] = True  # S0
    return inputs * keep.unsqueeze(-1).to(inputs.dtype)


class MixtureDecoder(nn.Module):
    """Stroke-5 decoder with a Gaussian-mixture head.

    Args:
        latent_size: width of ``z`` (0: unconditional).
        hidden_size: decoder cell units (magenta ``dec_rnn_size``, 512).
        num_mixtures: mixture components ``M`` (magenta ``num_mixture``, 20).
        cell_type: ``lstm``, ``layer_norm`` or ``hyper`` (magenta ``dec_model``).
        recurrent_dropout: drop probability of the cell candidate while training (magenta:
            ``1 - recurrent_dropout_prob`` = 0.1).
        hyper_size: hyper LSTM units for ``hyper``.
        hyper_embedding_size: hyper embedding width for ``hyper``.
        limits: clamps of the mixture's sigma and rho.

    Examples:
        >>> decoder = MixtureDecoder(latent_size=8, hidden_size=16, num_mixtures=3)
        >>> z = torch.zeros(2, 8)
        >>> decoder(torch.zeros(2, 10, 5), z).shape
        torch.Size([2, 10, 21])
        >>> decoder.sample(z, max_len=12).shape
        torch.Size([2, 12, 5])
    """

    def __init__(
        self,
        latent_size: int,
        hidden_size: int,
        num_mixtures: int,
        cell_type: str = "lstm",
        recurrent_dropout: float = 0.0,
        hyper_size: int = 256,
        hyper_embedding_size: int = 32,
        limits: MixtureLimits | None = None,
        initial_state_std: float = 0.001,
    ) -> None:
        super().__init__()
        if latent_size < 0 or hidden_size < 1 or num_mixtures < 1:
            raise ValueError(
                f"latent_size >= 0, hidden_size >= 1 and num_mixtures >= 1 are needed, got "
                f"{latent_size}, {hidden_size}, {num_mixtures}"
            )
        self.latent_size = latent_size
        self.num_mixtures = num_mixtures
        self.limits = limits or MixtureLimits()
        self.cell = make_cell(
            cell_type,
            5 + latent_size,
            hidden_size,
            recurrent_dropout=recurrent_dropout,
            hyper_size=hyper_size,
            hyper_embedding_size=hyper_embedding_size,
        )
        self.initial_state_layer = (
            nn.Linear(latent_size, self.cell.state_size) if latent_size else None
        )
        self.head = nn.Linear(hidden_size, mixture_output_size(num_mixtures))
        if self.initial_state_layer is not None:
            # magenta super_linear(init_w='gaussian', weight_start=0.001), zero bias; SketchGloc
            # starts it larger (initial_state_std)
            nn.init.normal_(self.initial_state_layer.weight, std=initial_state_std)
            nn.init.zeros_(self.initial_state_layer.bias)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def initial_state(self, z: Tensor | None, batch: int | None = None) -> Tensor:
        """``tanh(Linear(z))`` ``(B, state_size)``; zeros when unconditional."""
        if self.initial_state_layer is None:
            reference = self.head.weight
            if batch is None:
                raise ValueError("an unconditional decoder needs the batch size")
            return reference.new_zeros(batch, self.cell.state_size)
        return torch.tanh(self.initial_state_layer(z))

    def _with_latent(self, points: Tensor, z: Tensor | None) -> Tensor:
        """``[points, z]`` along the last axis; ``points`` is ``(B, T, 5)`` or ``(B, 5)``."""
        if self.initial_state_layer is None:
            return points
        if points.dim() == 3:
            z = z[:, None, :].expand(-1, points.shape[1], -1)  # (B, T, Z)
        return torch.cat([points, z], dim=-1)

    def forward(self, inputs: Tensor, z: Tensor | None) -> Tensor:
        """Teacher forcing: raw mixture outputs for every step.

        Args:
            inputs: ``(B, T, 5)``: ``S0`` followed by the sketch's rows ``0 .. T-2``.
            z: ``(B, Z)`` latent codes (None when unconditional).

        Returns:
            ``(B, T, 6M + 3)`` raw outputs; :meth:`mixture` splits them.
        """
        state = self.initial_state(z, inputs.shape[0])
        hidden, _ = self.cell.sequence(self._with_latent(inputs, z), state)  # (B, T, H)
        return self.head(hidden)

    def mixture(self, raw: Tensor) -> MixtureParams:
        """Split raw outputs ``(..., 6M + 3)`` into :class:`MixtureParams`."""
        return split_mixture_params(raw, self.num_mixtures, self.limits)

    def step(self, point: Tensor, z: Tensor | None, state: Tensor) -> tuple[Tensor, Tensor]:
        """One decoding step: ``point (B, 5)`` -> raw outputs ``(B, 6M + 3)`` and the new state."""
        hidden, state = self.cell(self._with_latent(point, z), state)
        return self.head(hidden), state

    @torch.no_grad()
    def sample(
        self,
        z: Tensor | None,
        max_len: int = 250,
        temperature: float = 1.0,
        greedy: bool = False,
        *,
        batch: int | None = None,
        variance_exponent: float = 1.0,
        pen_temperature: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Draw sketches point by point, feeding each sample back in (magenta ``sample``).

        A sequence stops at its first end-of-sketch (``p3``) sample; its later rows are
        ``(0, 0, 0, 0, 1)`` padding, like a stroke-5 target. The loop ends as soon as every
        sequence has stopped. Call ``eval()`` first, or recurrent dropout stays on.

        Args:
            z: ``(B, Z)`` latent codes (None when unconditional; then pass ``batch``).
            max_len: most points per sketch.
            temperature: ``tau`` (see :func:`~sketchssl.nn.mixture.sample_mixture`).
            greedy: most likely component / pen state and the component mean at each step.
            batch: number of sketches when unconditional.
            variance_exponent: 1 scales variances by ``tau`` (paper), 2 by ``tau^2`` (magenta
                code).
            pen_temperature: temperature of the pen state (None: ``temperature``; see
                :func:`~sketchssl.nn.mixture.sample_mixture`).
            generator: random source; None uses torch's global generator.

        Returns:
            ``(B, max_len, 5)`` stroke-5 sketches without the start token.
        """
        size = z.shape[0] if z is not None else batch
        if size is None:
            raise ValueError("pass z, or batch for an unconditional decoder")
        reference = z if z is not None else self.head.weight
        state = self.initial_state(z, size)
        point = reference.new_tensor(START_POINT).expand(size, 5)  # (B, 5)
        result = reference.new_zeros(size, max_len, 5)
        result[..., 4] = 1.0
        finished = torch.zeros(size, dtype=torch.bool, device=reference.device)
        for step in range(max_len):
            raw, state = self.step(point, z, state)
            point = sample_mixture(
                self.mixture(raw),
                temperature,
                greedy=greedy,
                variance_exponent=variance_exponent,
                pen_temperature=pen_temperature,
                generator=generator,
            )  # (B, 5)
            running = ~finished
            stored = point.clone()
            stored[:, :2] *= 1.0 - stored[:, 4:5]  # an end row carries no offset
            result[running, step] = stored[running]
            finished = finished | (point[:, 4] > 0)
            if bool(finished.all()):
                break
        return result
