"""sketch-rnn cells: fused vs step paths, layer-norm invariance, the HyperLSTM weight scaling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from sketchssl.nn import rnn as rnn_module
from sketchssl.nn.rnn import (
    HyperLSTMCell,
    LayerNormLSTMCell,
    LSTMCell,
    make_cell,
    reverse_padded,
    run_cell,
)


@pytest.fixture(autouse=True)
def single_thread():
    """Tiny tensors: one intra-op thread is faster, and immune to OpenMP spin on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_lstm_fused_sequence_equals_the_step_loop():
    torch.manual_seed(0)
    cell = LSTMCell(7, 12).double().eval()
    inputs = torch.randn(3, 9, 7, dtype=torch.float64)
    state = torch.randn(3, 24, dtype=torch.float64)
    fused, fused_state = cell.sequence(inputs, state)
    looped, looped_state = run_cell(cell, inputs, state)
    assert torch.allclose(fused, looped, atol=1e-12)
    assert torch.allclose(fused_state, looped_state, atol=1e-12)
    assert torch.allclose(cell.output(looped_state), looped[:, -1])


def test_lstm_initialisation_is_magentas():
    cell = LSTMCell(5, 6)
    bias = cell.lstm.bias_ih_l0.detach()
    assert torch.equal(bias[6:12], torch.ones(6))  # forget block (nn.LSTM order i, f, g, o)
    assert torch.equal(bias[:6], torch.zeros(6)) and torch.equal(bias[12:], torch.zeros(12))
    block = cell.lstm.weight_hh_l0.detach()[12:18]  # each recurrent gate block is orthogonal
    assert torch.allclose(block @ block.T, torch.eye(6), atol=1e-5)


def test_layer_norm_cell_is_invariant_to_the_scale_of_its_weights(monkeypatch):
    monkeypatch.setattr(rnn_module, "LAYER_NORM_EPS", 1e-12)
    torch.manual_seed(1)
    cell = LayerNormLSTMCell(4, 8).double()
    inputs = torch.randn(5, 4, dtype=torch.float64)
    state = torch.randn(5, 16, dtype=torch.float64)
    h, new_state = cell(inputs, state)
    with torch.no_grad():
        cell.weight_ih.mul_(3.7)
        cell.weight_hh.mul_(3.7)
    h_scaled, state_scaled = cell(inputs, state)
    assert torch.allclose(h, h_scaled, atol=1e-9)
    assert torch.allclose(new_state, state_scaled, atol=1e-9)


def test_recurrent_dropout_hits_the_candidate_only_never_the_memory():
    torch.manual_seed(2)
    cell = LayerNormLSTMCell(3, 6, recurrent_dropout=1.0)  # drop the whole candidate
    inputs, state = torch.randn(4, 3), torch.randn(4, 12)
    cell.train()
    _, trained = cell(inputs, state)
    gates = F.linear(inputs, cell.weight_ih) + F.linear(state[:, :6], cell.weight_hh)
    gates = F.layer_norm(gates.view(4, 4, 6), (6,), eps=1e-3).view(4, 24)
    forget = torch.sigmoid(gates[:, 12:18] + 1.0)
    assert torch.allclose(trained[:, 6:], state[:, 6:] * forget, atol=1e-6)  # c kept, g = 0
    cell.eval()
    _, evaluated = cell(inputs, state)
    assert not torch.allclose(evaluated[:, 6:], trained[:, 6:])
    dropping = LSTMCell(3, 6, recurrent_dropout=0.5).train()
    sequence = torch.randn(2, 5, 3)
    first, _ = dropping.sequence(sequence)
    second, _ = dropping.sequence(sequence)
    assert not torch.allclose(first, second)  # a fresh mask each run (and each step)
    dropping.eval()
    assert torch.allclose(dropping.sequence(sequence)[0], dropping.sequence(sequence)[0])


def randomise(module: torch.nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)


def test_hyper_lstm_equals_an_lstm_whose_weights_are_scaled_per_step():
    """[HyperNetworks, sec. 3.2]: d(z) * (W x) is the LSTM with weight diag(d(z)) W."""
    hidden, hyper, embedding, width = 6, 5, 3, 4
    cell = HyperLSTMCell(width, hidden, hyper, embedding, use_layer_norm=False).double().eval()
    randomise(cell, 3)
    generator = torch.Generator().manual_seed(4)
    x = torch.randn(2, width, generator=generator, dtype=torch.float64)
    state = torch.randn(2, cell.state_size, generator=generator, dtype=torch.float64)
    h, c, hyper_state = state[:, :hidden], state[:, hidden : 2 * hidden], state[:, 2 * hidden :]
    hyper_h, hyper_state_new = cell.hyper_cell(torch.cat([x, h], 1), hyper_state)

    out_h, out_state = cell(x, state)
    for b in range(2):
        gates = []
        for k in range(4):  # i, j, f, o
            rows = slice(k * hidden, (k + 1) * hidden)
            z_x = cell.scale_embedding.weight[k * embedding : (k + 1) * embedding] @ hyper_h[b]
            z_x = z_x + cell.scale_embedding.bias[k * embedding : (k + 1) * embedding]
            k_h = k + 4
            z_h = cell.scale_embedding.weight[k_h * embedding : (k_h + 1) * embedding] @ hyper_h[b]
            z_h = z_h + cell.scale_embedding.bias[k_h * embedding : (k_h + 1) * embedding]
            d_x = cell.scale_projection[k].T @ z_x  # (H,)
            d_h = cell.scale_projection[k_h].T @ z_h
            z_b = cell.bias_embedding.weight[k * embedding : (k + 1) * embedding] @ hyper_h[b]
            beta = cell.bias_projection[k].T @ z_b
            weight_x = torch.diag(d_x) @ cell.weight_ih[rows]  # the generated weight matrices
            weight_h = torch.diag(d_h) @ cell.weight_hh[rows]
            gates.append(weight_x @ x[b] + weight_h @ h[b] + beta + cell.bias[rows])
        i, j, f, o = gates
        c_new = c[b] * torch.sigmoid(f + 1.0) + torch.sigmoid(i) * torch.tanh(j)
        h_new = torch.tanh(c_new) * torch.sigmoid(o)
        assert torch.allclose(out_h[b], h_new, atol=1e-10)
        assert torch.allclose(out_state[b, hidden : 2 * hidden], c_new, atol=1e-10)
    assert torch.allclose(out_state[:, 2 * hidden :], hyper_state_new)


def test_hyper_lstm_starts_as_a_layer_norm_lstm(monkeypatch):
    """At magenta's init every scale is 0.1 and every dynamic bias 0; layer norm removes 0.1."""
    monkeypatch.setattr(rnn_module, "LAYER_NORM_EPS", 1e-12)
    torch.manual_seed(5)
    hyper = HyperLSTMCell(4, 6, hyper_size=5, hyper_embedding_size=3).double()
    plain = LayerNormLSTMCell(4, 6).double()
    with torch.no_grad():
        plain.weight_ih.copy_(hyper.weight_ih)
        plain.weight_hh.copy_(hyper.weight_hh)
    x = torch.randn(3, 4, dtype=torch.float64)
    state = torch.randn(3, hyper.state_size, dtype=torch.float64)
    scales, biases = hyper.hyper_scales(torch.randn(3, 5, dtype=torch.float64))
    assert torch.allclose(scales, torch.full_like(scales, 0.1))
    assert torch.equal(biases, torch.zeros_like(biases))
    h_hyper, _ = hyper(x, state)
    h_plain, _ = plain(x, state[:, :12])
    assert torch.allclose(h_hyper, h_plain, atol=1e-9)


def test_reverse_padded_reverses_inside_each_length_only():
    inputs = torch.arange(10.0).view(2, 5, 1)
    reversed_ = reverse_padded(inputs, torch.tensor([3, 5]))
    assert reversed_[..., 0].tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]
    assert torch.equal(reverse_padded(reversed_, torch.tensor([3, 5])), inputs)


@pytest.mark.parametrize("cell_type", ["lstm", "layer_norm", "hyper"])
def test_every_cell_runs_sequences_and_backpropagates(cell_type):
    cell = make_cell(cell_type, 5, 8, hyper_size=6, hyper_embedding_size=4, recurrent_dropout=0.1)
    inputs = torch.randn(3, 4, 5, requires_grad=True)
    outputs, state = cell.sequence(inputs)
    assert outputs.shape == (3, 4, 8) and state.shape == (3, cell.state_size)
    outputs.sum().backward()
    assert inputs.grad is not None and torch.isfinite(inputs.grad).all()
    with pytest.raises(ValueError, match="choose one of lstm, layer_norm, hyper"):
        make_cell("gru", 5, 8)
