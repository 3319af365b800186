import numpy as np
import torch
from torch import nn

from sketchssl.eval.baselines import embed_dataset, pixel_embeddings
from sketchssl.render.raster import render_strokes


def test_pixel_embeddings_are_inverted_flattened_renders(square_sketch):
    horizontal_line = np.array([[20, 0, 1]], dtype=np.int16)
    embeddings = pixel_embeddings([square_sketch, horizontal_line])
    assert embeddings.shape == (2, 1024)
    assert embeddings.dtype == torch.float32
    assert 0.0 <= embeddings.min() and embeddings.max() <= 1.0
    expected = render_strokes(square_sketch, 32, 1.0, 0.05, invert=True).reshape(-1) / 255.0
    assert np.allclose(embeddings[0].numpy(), expected)
    line = embeddings[1].reshape(32, 32)
    # The line is fitted across the canvas at mid-height: ink (1) in the middle rows, paper (0)
    # at the top and bottom.
    assert line[15:17, 4:28].max(0).values.min() > 0.4
    assert line[:10].max() == 0.0 and line[22:].max() == 0.0


class FakeEncoder(nn.Module):
    """embed = sum of strokes5 over time, times a weight; records how it was called."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(2.0))
        self.calls = []

    def embed(self, batch):
        self.calls.append((self.training, torch.is_grad_enabled()))
        return batch["strokes5"].sum(1) * self.weight  # (B, 5)


def make_batches(order):
    batches = []
    for chunk in np.array_split(np.asarray(order), 3):
        index = torch.tensor(chunk)
        strokes5 = index[:, None, None].float().expand(-1, 4, 5).clone()  # (B, 4, 5)
        batches.append(
            {
                "strokes5": strokes5,
                "mask": torch.ones(len(chunk), 4, dtype=torch.bool),
                "length": torch.full((len(chunk),), 4),
                "label": index % 3,
                "index": index,
            }
        )
    return batches


def test_embed_dataset_eval_mode_no_grad_and_order():
    model = FakeEncoder()
    model.train()
    shuffled = [7, 2, 9, 0, 4, 1, 8, 3, 6, 5]
    embeddings, labels = embed_dataset(model, make_batches(shuffled), "cpu")
    assert model.training  # restored
    assert model.calls == [(False, False)] * 3
    assert embeddings.shape == (10, 5) and not embeddings.requires_grad
    # Sorted back to index order: row i is 2 * 4 * i in every column.
    assert torch.equal(embeddings[:, 0], torch.arange(10).float() * 8.0)
    assert torch.equal(labels, torch.arange(10) % 3)


def test_embed_dataset_without_index_or_label_keeps_loader_order():
    model = FakeEncoder().eval()
    batches = make_batches([3, 1, 2])
    for batch in batches:
        del batch["index"], batch["label"]
    embeddings, labels = embed_dataset(model, batches)
    assert embeddings[:, 0].tolist() == [24.0, 8.0, 16.0]
    assert labels.tolist() == [-1, -1, -1]
    assert not model.training
