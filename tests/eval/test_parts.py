"""The part-segmentation probe: metrics by hand, the class restriction, per-point features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sketchssl.eval.parts import (
    PartProbeConfig,
    PointSet,
    part_metrics,
    part_probe_evaluate,
    point_input_features,
)
from sketchssl.methods.registry import build_method


def test_part_metrics_by_hand() -> None:
    # class 0: truth 0 0 1 1, guess 0 1 1 1 -> IoU part 0 = 1/2, part 1 = 2/3
    # class 1: truth 2 2, guess 2 2 -> IoU 1 (part 0 and 1 never occur: not averaged)
    predicted = np.array([0, 1, 1, 1, 2, 2])
    truth = np.array([0, 0, 1, 1, 2, 2])
    classes = np.array([0, 0, 0, 0, 1, 1])
    metrics = part_metrics(predicted, truth, classes, ["cup", "pig"])
    assert metrics["part_accuracy"] == pytest.approx(5 / 6)
    assert metrics["part_miou/cup"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert metrics["part_miou/pig"] == pytest.approx(1.0)
    assert metrics["part_miou"] == pytest.approx(((1 / 2 + 2 / 3) / 2 + 1.0) / 2)


def _points(generator: torch.Generator, count: int, sketches: int) -> PointSet:
    """Two classes (2 and 3 parts); the part is readable from feature 0, the class from 1."""
    classes = torch.randint(0, 2, (count,), generator=generator)
    parts = torch.where(
        classes == 0,
        torch.randint(0, 2, (count,), generator=generator),
        torch.randint(0, 3, (count,), generator=generator),
    )
    features = torch.randn(count, 4, generator=generator) * 0.1
    features[:, 0] += parts.float() * 2.0
    features[:, 1] += classes.float()
    sketch = torch.randint(0, sketches, (count,), generator=generator)
    return PointSet(features, parts, classes, sketch)


def test_probe_learns_a_readable_part_and_keeps_to_the_class() -> None:
    generator = torch.Generator().manual_seed(0)
    train, test = _points(generator, 2000, 100), _points(generator, 500, 30)
    first = np.array([0, 2, 5])  # class 0: global parts 0, 1; class 1: 2, 3, 4
    metrics = part_probe_evaluate(train, test, first, ["a", "b"], seed=0)
    assert metrics["part_accuracy"] > 0.97
    assert metrics["part_miou"] > 0.95
    assert metrics["part_test_points"] == 500
    # a feature that says nothing: the probe can still only pick parts of the point's class
    noise = PointSet(torch.zeros(500, 4), test.parts, test.classes, test.sketches)
    blind = part_probe_evaluate(train, noise, first, ["a", "b"], seed=0)
    assert 0.2 < blind["part_accuracy"] < 0.7


def test_probe_uses_only_the_configured_number_of_train_sketches() -> None:
    generator = torch.Generator().manual_seed(1)
    train, test = _points(generator, 3000, 300), _points(generator, 200, 20)
    metrics = part_probe_evaluate(
        train, test, np.array([0, 2, 5]), ["a", "b"], config=PartProbeConfig(train_sketches=50)
    )
    per_sketch = 3000 / 300
    assert metrics["part_train_points"] < 50 * per_sketch * 1.6


def test_point_input_features_position_offset_pen() -> None:
    # one sketch: start token, then offsets (2, 0), (0, 4) ending the sketch
    strokes5 = torch.tensor(
        [[[0, 0, 1, 0, 0], [2, 0, 1, 0, 0], [0, 4, 0, 1, 0], [0, 0, 0, 0, 1]]], dtype=torch.float
    )
    mask = torch.tensor([[True, True, True, False]])
    features = point_input_features({"strokes5": strokes5, "mask": mask})
    # absolute points (0,0) (2,0) (2,4): box 2 x 4, longest side 4, centre (1, 2)
    assert features[0, 1, :2].tolist() == pytest.approx([0.75, 0.0])
    assert features[0, 2, :2].tolist() == pytest.approx([0.75, 1.0])
    assert features[0, 2, 2:].tolist() == [0, 4, 0, 1, 0]
    assert features[0, 3].abs().sum() == 0  # padding


@pytest.mark.parametrize(
    ("method", "config", "key"),
    [
        (
            "sketch_bert",
            {
                "num_layers": 2,
                "hidden_dim": 16,
                "num_heads": 2,
                "ffn_dim": 32,
                "embed_dim": 8,
                "refine_dims": [],
            },
            "parts",
        ),
        (
            "sketch_rnn",
            {"encoder_size": 8, "decoder": {"size": 16, "num_mixtures": 2}, "latent_size": 4},
            "parts",
        ),
        (
            "rotation_tcn",
            {"num_filters": 3, "window_sizes": [2, 4], "feature_dim": 8, "max_points": 12},
            "point_parts",
        ),
    ],
)
def test_point_features_line_up_with_the_rows_and_see_their_point(
    method: str, config: dict, key: str
) -> None:
    """Changing one input row changes that row's feature (and the rows are the batch's)."""
    model = build_method(method, config).eval()
    assert type(model).point_parts_key == key
    generator = torch.Generator().manual_seed(0)
    if key == "parts":
        strokes5 = torch.zeros(2, 12, 5)
        strokes5[:, :, 2] = 1
        strokes5[:, 1:9, :2] = torch.randn(2, 8, 2, generator=generator)
        strokes5[:, 0, :2] = 0  # the start token
        strokes5[:, 9:, 2], strokes5[:, 9:, 4] = 0, 1
        mask = torch.zeros(2, 12, dtype=torch.bool)
        mask[:, :9] = True
        batch = {"strokes5": strokes5, "mask": mask}
        changed = {"strokes5": strokes5.clone(), "mask": mask}
        changed["strokes5"][0, 5, :2] += 3.0
        rows = 12
    else:
        points = torch.rand(2, 12, 4, generator=generator)
        batch = {"points": points}
        changed = {"points": points.clone()}
        changed["points"][0, 5, :2] += 0.5
        rows = 12
    with torch.no_grad():
        before, after = model.point_features(batch), model.point_features(changed)
    # rows past the longest sketch may be trimmed (collect_points accepts that)
    assert before.shape[0] == 2 and 6 < before.shape[1] <= rows
    assert not torch.allclose(before[0, 5], after[0, 5])
    assert torch.allclose(before[1], after[1])  # the other sketch is untouched


def test_image_methods_say_they_have_no_point_features() -> None:
    from sketchssl.errors import ConfigError

    model = build_method(
        "rotation_cnn",
        {"encoder": "small", "image_size": 32, "conv_channels": [4], "feature_dim": 8},
    )
    assert type(model).point_parts_key is None
    with pytest.raises(ConfigError, match="no per-point features"):
        model.point_features({})
