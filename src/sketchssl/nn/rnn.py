"""Recurrent cells of sketch-rnn: LSTM, layer-norm LSTM and HyperLSTM, with recurrent dropout.

- [0] Ha, Eck, "A Neural Representation of Sketch Drawings", ICLR 2018,
  https://arxiv.org/abs/1704.03477; reference code magenta ``magenta/models/sketch_rnn/rnn.py``
  (``LSTMCell``, ``LayerNormLSTMCell``, ``HyperLSTMCell``).
- [1] Ha, Dai, Le, "HyperNetworks", ICLR 2017, https://arxiv.org/abs/1609.09106.
- [2] Ba, Kiros, Hinton, "Layer Normalization", 2016, https://arxiv.org/abs/1607.06450.
- [3] Semeniuta, Severyn, Barth, "Recurrent Dropout without Memory Loss", COLING 2016,
  https://arxiv.org/abs/1603.05118.

All cells follow the magenta equations: gates ``i, j, f, o`` (``j`` the candidate), a constant
forget bias of 1 added to ``f``, recurrent dropout applied to the candidate ``g = tanh(j)`` only
(so the cell memory is never dropped, [3]) with a fresh mask each step, orthogonal recurrent
weights (each gate's block on its own), Glorot-uniform input weights. Layer norm uses
``eps = 1e-3`` on each gate's pre-activation separately and on the new cell state.

A cell's state is one flat tensor ``(B, state_size)`` as in magenta, so a decoder can make its
initial state with a single ``tanh(Linear(z))``; :meth:`RecurrentCell.output` reads ``h`` from
it.

:class:`LSTMCell` keeps its weights in an ``nn.LSTM``, so whole sequences without active
recurrent dropout run in torch's fused kernel (:meth:`RecurrentCell.sequence`), several times
faster on CPU than the step loop; the two paths compute the same function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CELL_TYPES",
    "RecurrentCell",
    "LSTMCell",
    "LayerNormLSTMCell",
    "HyperLSTMCell",
    "make_cell",
    "run_cell",
    "reverse_padded",
]

CELL_TYPES = ("lstm", "layer_norm", "hyper")
LAYER_NORM_EPS = 1e-3  # magenta's layer_norm / layer_norm_all


def _orthogonal_blocks_(weight: Tensor, blocks: int) -> None:
    """Orthogonal init of each ``(H, H)`` gate block of a ``(blocks * H, H)`` weight."""
    size = weight.shape[0] // blocks
    with torch.no_grad():
        for index in range(blocks):
            nn.init.orthogonal_(weight[index * size : (index + 1) * size])


def _gate_layer_norm(gates: Tensor, gamma: Tensor, beta: Tensor, hidden: int) -> Tensor:
    """Layer norm of each of the 4 gate blocks of ``(B, 4H)`` on its own, then gain and bias.

    magenta's ``layer_norm_all``: the gain and bias are per unit over all ``4H``.
    """
    batch = gates.shape[0]
    normed = F.layer_norm(gates.view(batch, 4, hidden), (hidden,), eps=LAYER_NORM_EPS)
    return normed.view(batch, 4 * hidden) * gamma + beta


class RecurrentCell(nn.Module):
    """One recurrent step ``(x, state) -> (h, state)`` with a flat state tensor.

    Subclasses set :attr:`input_size`, :attr:`hidden_size`, :attr:`state_size` and implement
    :meth:`forward`.

    Attributes:
        recurrent_dropout: drop probability of the candidate ``g`` while training (magenta's
            ``1 - dropout_keep_prob``).
    """

    input_size: int
    hidden_size: int
    state_size: int
    recurrent_dropout: float

    def forward(self, inputs: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One step: ``inputs (B, X)``, ``state (B, S)`` -> ``h (B, H)``, ``state (B, S)``."""
        raise NotImplementedError

    def output(self, state: Tensor) -> Tensor:
        """``h (B, H)``: the first ``H`` columns of a state."""
        return state[:, : self.hidden_size]

    def zero_state(self, batch: int, like: Tensor) -> Tensor:
        """An all-zero ``(batch, state_size)`` state on ``like``'s device and dtype."""
        return like.new_zeros(batch, self.state_size)

    def sequence(self, inputs: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run over ``inputs (B, T, X)``: ``outputs (B, T, H)`` and the final state ``(B, S)``."""
        return run_cell(self, inputs, state)

    def _dropped_candidate(self, candidate: Tensor) -> Tensor:
        """``tanh(j)`` with recurrent dropout (inverted scaling) while training."""
        g = torch.tanh(candidate)
        if self.training and self.recurrent_dropout > 0:
            g = F.dropout(g, self.recurrent_dropout, training=True)
        return g


class LSTMCell(RecurrentCell):
    """magenta's ``LSTMCell``: a plain LSTM with forget bias 1 and recurrent dropout.

    Weights live in an ``nn.LSTM`` (gate order ``i, f, g, o``). magenta's constant forget bias
    of 1 on top of a zero-initialised trainable bias is the same function as a trainable bias
    initialised to 1, which is how it is stored here (``b_ih``'s forget block; ``b_hh`` is 0).

    Args:
        input_size: width of ``x``.
        hidden_size: ``H``.
        recurrent_dropout: drop probability of the candidate while training.
        forget_bias: initial forget-gate bias.

    Examples:
        >>> cell = LSTMCell(5, 8)
        >>> h, state = cell(torch.zeros(2, 5), cell.zero_state(2, torch.zeros(1)))
        >>> h.shape, state.shape
        (torch.Size([2, 8]), torch.Size([2, 16]))
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        recurrent_dropout: float = 0.0,
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.state_size = 2 * hidden_size  # [h, c]
        self.recurrent_dropout = recurrent_dropout
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True)
        with torch.no_grad():
            nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
            _orthogonal_blocks_(self.lstm.weight_hh_l0, 4)
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_hh_l0.zero_()
            self.lstm.bias_ih_l0[hidden_size : 2 * hidden_size] = forget_bias

    def forward(self, inputs: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One step; see :class:`RecurrentCell`."""
        hidden = self.hidden_size
        h, c = state[:, :hidden], state[:, hidden:]
        gates = F.linear(inputs, self.lstm.weight_ih_l0, self.lstm.bias_ih_l0) + F.linear(
            h, self.lstm.weight_hh_l0, self.lstm.bias_hh_l0
        )  # (B, 4H) in nn.LSTM order i, f, g, o
        i, f, j, o = gates.chunk(4, dim=1)
        g = self._dropped_candidate(j)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * g
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, torch.cat([h, c], dim=1)

    def sequence(self, inputs: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Fused ``nn.LSTM`` when no dropout is active, else the step loop."""
        if self.training and self.recurrent_dropout > 0:
            return run_cell(self, inputs, state)
        batch = inputs.shape[0]
        if state is None:
            state = self.zero_state(batch, inputs)
        h0 = state[:, : self.hidden_size].unsqueeze(0).contiguous()  # (1, B, H)
        c0 = state[:, self.hidden_size :].unsqueeze(0).contiguous()
        outputs, (h_n, c_n) = self.lstm(inputs, (h0, c0))  # (B, T, H)
        return outputs, torch.cat([h_n[0], c_n[0]], dim=1)


class LayerNormLSTMCell(RecurrentCell):
    """magenta's ``LayerNormLSTMCell`` ([2], [3]): no bias, layer norm on gates and cell.

    ``gates = LN_4([x, h] W)``; ``c' = c sigmoid(f + 1) + sigmoid(i) g``;
    ``h' = tanh(LN(c')) sigmoid(o)``.

    Args:
        input_size: width of ``x``.
        hidden_size: ``H``.
        recurrent_dropout: drop probability of the candidate while training.
        forget_bias: constant added to the forget gate.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        recurrent_dropout: float = 0.0,
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.state_size = 2 * hidden_size  # [h, c]
        self.recurrent_dropout = recurrent_dropout
        self.forget_bias = forget_bias
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.gate_gamma = nn.Parameter(torch.ones(4 * hidden_size))
        self.gate_beta = nn.Parameter(torch.zeros(4 * hidden_size))
        self.cell_gamma = nn.Parameter(torch.ones(hidden_size))
        self.cell_beta = nn.Parameter(torch.zeros(hidden_size))
        nn.init.xavier_uniform_(self.weight_ih)
        _orthogonal_blocks_(self.weight_hh, 4)

    def forward(self, inputs: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One step; see :class:`RecurrentCell`."""
        hidden = self.hidden_size
        h, c = state[:, :hidden], state[:, hidden:]
        gates = F.linear(inputs, self.weight_ih) + F.linear(h, self.weight_hh)  # (B, 4H)
        gates = _gate_layer_norm(gates, self.gate_gamma, self.gate_beta, hidden)
        i, j, f, o = gates.chunk(4, dim=1)
        g = self._dropped_candidate(j)
        c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * g
        normed_c = F.layer_norm(c, (hidden,), self.cell_gamma, self.cell_beta, LAYER_NORM_EPS)
        h = torch.tanh(normed_c) * torch.sigmoid(o)
        return h, torch.cat([h, c], dim=1)


class HyperLSTMCell(RecurrentCell):
    """magenta's ``HyperLSTMCell`` ([1], section 3.2 and its memory-efficient form).

    A small LSTM (the hyper cell, ``hyper_size`` units, layer-norm by default) reads ``[x, h]``
    each step. From its output ``h_hat`` it emits, for each gate block ``k`` of the main LSTM,
    an embedding ``z = W_z h_hat + b_z`` (``hyper_embedding_size`` wide) that a linear map turns
    into a per-unit scale ``d_k(z)``. The main cell's pre-activations are then

        ``gate_k = d_k^x * (W_x,k x) + d_k^h * (W_h,k h) + beta_k(h_hat) + b_k``

    which equals using the weight matrices ``diag(d_k) W_k``: a weight matrix generated anew at
    each step, without ever building it. ``beta_k`` (a dynamic bias) is made the same way from a
    second embedding of ``h_hat`` and is used on the recurrent half only, as in magenta.

    Initialisation follows magenta (its comment credits recurrent batch norm's 0.1 gain): the
    ``z`` maps start at weight 0 and bias 1, the scale maps at ``0.1 / embedding_size``, so every
    ``d`` starts at 0.1; the bias embeddings are Gaussian (std 0.01) and the bias maps 0.

    State layout: ``[h, c, h_hat, c_hat]`` (``2 H + 2 hyper_size``).

    Args:
        input_size: width of ``x``.
        hidden_size: ``H`` of the main LSTM.
        hyper_size: units of the hyper LSTM (magenta: 256).
        hyper_embedding_size: width of the hyper embeddings ``z`` (magenta: 32).
        use_layer_norm: layer norm in the main and the hyper LSTM (magenta's default True).
        recurrent_dropout: drop probability of the main cell's candidate while training.
        hyper_recurrent_dropout: the same for the hyper cell (magenta: off).
        forget_bias: constant added to the forget gate.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        hyper_size: int = 256,
        hyper_embedding_size: int = 32,
        use_layer_norm: bool = True,
        recurrent_dropout: float = 0.0,
        hyper_recurrent_dropout: float = 0.0,
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.hyper_size, self.embedding_size = hyper_size, hyper_embedding_size
        self.state_size = 2 * hidden_size + 2 * hyper_size
        self.use_layer_norm = use_layer_norm
        self.recurrent_dropout = recurrent_dropout
        self.forget_bias = forget_bias
        hyper_class = LayerNormLSTMCell if use_layer_norm else _MagentaLSTMCell
        self.hyper_cell = hyper_class(
            input_size + hidden_size, hyper_size, recurrent_dropout=hyper_recurrent_dropout
        )
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        nn.init.xavier_uniform_(self.weight_ih)
        _orthogonal_blocks_(self.weight_hh, 4)
        embedding = hyper_embedding_size
        # scale embeddings: 4 blocks for W_x, 4 for W_h (magenta's hyper_ix ... hyper_oh)
        self.scale_embedding = nn.Linear(hyper_size, 8 * embedding)
        self.scale_projection = nn.Parameter(
            torch.full((8, embedding, hidden_size), 0.1 / embedding)
        )
        # dynamic bias on the recurrent half only (use_bias=True for hyper_ih ... hyper_oh)
        self.bias_embedding = nn.Linear(hyper_size, 4 * embedding, bias=False)
        self.bias_projection = nn.Parameter(torch.zeros(4, embedding, hidden_size))
        with torch.no_grad():
            self.scale_embedding.weight.zero_()
            self.scale_embedding.bias.fill_(1.0)
            self.bias_embedding.weight.normal_(0.0, 0.01)
        if use_layer_norm:
            self.gate_gamma = nn.Parameter(torch.ones(4 * hidden_size))
            self.gate_beta = nn.Parameter(torch.zeros(4 * hidden_size))
            self.cell_gamma = nn.Parameter(torch.ones(hidden_size))
            self.cell_beta = nn.Parameter(torch.zeros(hidden_size))

    def hyper_scales(self, hyper_output: Tensor) -> tuple[Tensor, Tensor]:
        """Per-step scales ``(B, 8, H)`` (x blocks then h blocks) and biases ``(B, 4, H)``."""
        batch = hyper_output.shape[0]
        scale_z = self.scale_embedding(hyper_output).view(batch, 8, self.embedding_size)
        scales = torch.einsum("bke,keh->bkh", scale_z, self.scale_projection)  # (B, 8, H)
        bias_z = self.bias_embedding(hyper_output).view(batch, 4, self.embedding_size)
        biases = torch.einsum("bke,keh->bkh", bias_z, self.bias_projection)  # (B, 4, H)
        return scales, biases

    def forward(self, inputs: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        """One step; see :class:`RecurrentCell`."""
        hidden, batch = self.hidden_size, inputs.shape[0]
        h, c, hyper_state = state[:, :hidden], state[:, hidden : 2 * hidden], state[:, 2 * hidden :]
        hyper_output, hyper_state = self.hyper_cell(torch.cat([inputs, h], dim=1), hyper_state)
        scales, biases = self.hyper_scales(hyper_output)
        from_x = F.linear(inputs, self.weight_ih).view(batch, 4, hidden)  # (B, 4, H)
        from_h = F.linear(h, self.weight_hh).view(batch, 4, hidden)
        gates = scales[:, :4] * from_x + scales[:, 4:] * from_h + biases
        gates = gates.reshape(batch, 4 * hidden) + self.bias  # (B, 4H): i, j, f, o
        if self.use_layer_norm:
            gates = _gate_layer_norm(gates, self.gate_gamma, self.gate_beta, hidden)
        i, j, f, o = gates.chunk(4, dim=1)
        g = self._dropped_candidate(j)
        c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * g
        if self.use_layer_norm:
            c_out = F.layer_norm(c, (hidden,), self.cell_gamma, self.cell_beta, LAYER_NORM_EPS)
        else:
            c_out = c
        h = torch.tanh(c_out) * torch.sigmoid(o)
        return h, torch.cat([h, c, hyper_state], dim=1)


class _MagentaLSTMCell(RecurrentCell):
    """A plain LSTM in magenta's gate order ``i, j, f, o`` with a constant forget bias.

    The hyper cell when ``use_layer_norm`` is off (kept apart so its parameters are plain).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        recurrent_dropout: float = 0.0,
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.state_size = 2 * hidden_size
        self.recurrent_dropout = recurrent_dropout
        self.forget_bias = forget_bias
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(4 * hidden_size))
        nn.init.xavier_uniform_(self.weight_ih)
        _orthogonal_blocks_(self.weight_hh, 4)

    def forward(self, inputs: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.hidden_size
        h, c = state[:, :hidden], state[:, hidden:]
        gates = F.linear(inputs, self.weight_ih, self.bias) + F.linear(h, self.weight_hh)
        i, j, f, o = gates.chunk(4, dim=1)
        g = self._dropped_candidate(j)
        c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * g
        h = torch.tanh(c) * torch.sigmoid(o)
        return h, torch.cat([h, c], dim=1)


def make_cell(
    cell_type: str,
    input_size: int,
    hidden_size: int,
    *,
    recurrent_dropout: float = 0.0,
    hyper_size: int = 256,
    hyper_embedding_size: int = 32,
) -> RecurrentCell:
    """Build a cell by magenta's names: ``lstm``, ``layer_norm`` or ``hyper``.

    Raises:
        ValueError: unknown ``cell_type``.
    """
    if cell_type == "lstm":
        return LSTMCell(input_size, hidden_size, recurrent_dropout)
    if cell_type == "layer_norm":
        return LayerNormLSTMCell(input_size, hidden_size, recurrent_dropout)
    if cell_type == "hyper":
        return HyperLSTMCell(
            input_size,
            hidden_size,
            hyper_size=hyper_size,
            hyper_embedding_size=hyper_embedding_size,
            recurrent_dropout=recurrent_dropout,
        )
    raise ValueError(f"cell type {cell_type!r}: choose one of {', '.join(CELL_TYPES)}")


def run_cell(
    cell: RecurrentCell, inputs: Tensor, state: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Unroll ``cell`` step by step over ``inputs (B, T, X)``.

    Returns:
        ``outputs (B, T, H)`` and the state after the last step ``(B, S)``.
    """
    batch, steps = inputs.shape[:2]
    if state is None:
        state = cell.zero_state(batch, inputs)
    outputs = []
    for step in range(steps):
        h, state = cell(inputs[:, step], state)
        outputs.append(h)
    if not outputs:
        return inputs.new_zeros(batch, 0, cell.hidden_size), state
    return torch.stack(outputs, dim=1), state


def reverse_padded(inputs: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each sequence of ``inputs (B, T, ...)`` within its own length; padding stays put.

    Row ``b``'s steps ``0 .. lengths[b] - 1`` come out in reverse order, the rest unchanged, so
    a forward pass over the result is the backward direction of a bidirectional RNN. Its own
    inverse.
    """
    steps = inputs.shape[1]
    positions = torch.arange(steps, device=inputs.device)[None, :]  # (1, T)
    lengths = lengths.to(inputs.device)[:, None]  # (B, 1)
    source = torch.where(positions < lengths, lengths - 1 - positions, positions)  # (B, T)
    index = source.view(*source.shape, *([1] * (inputs.dim() - 2))).expand_as(inputs)
    return inputs.gather(1, index)
