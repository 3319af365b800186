import pytest
import torch

from sketchssl.errors import StoreError
from sketchssl.eval.probe import ProbeConfig, fit_linear_probe, linear_probe_evaluate

FAST = ProbeConfig(weight_decays=(1e-4, 1e-2), max_iterations=50)


def blobs(seed: int, per_class: int, classes: int = 4, width: int = 10, spread: float = 0.3):
    generator = torch.Generator().manual_seed(seed)
    centres = 3.0 * torch.eye(classes, width)
    labels = torch.arange(classes).repeat_interleave(per_class)
    points = centres[labels] + spread * torch.randn(len(labels), width, generator=generator)
    return points, labels


def test_linearly_separable_data_is_learned():
    train, train_labels = blobs(0, 50)
    test, test_labels = blobs(1, 50)
    metrics = linear_probe_evaluate(train, train_labels, test, test_labels, config=FAST)
    assert metrics["linear_top1"] == 1.0
    assert metrics["linear_top5"] == 1.0
    assert metrics["linear_holdout_top1"] == 1.0
    assert metrics["linear_weight_decay"] in FAST.weight_decays


def test_shuffled_labels_give_chance():
    train, _ = blobs(0, 100)
    test, _ = blobs(1, 100)
    generator = torch.Generator().manual_seed(5)
    train_labels = torch.randint(0, 4, (400,), generator=generator)
    test_labels = torch.randint(0, 4, (400,), generator=generator)
    metrics = linear_probe_evaluate(train, train_labels, test, test_labels, config=FAST)
    assert 0.15 < metrics["linear_top1"] < 0.36  # chance is 0.25


def test_deterministic_given_seed_and_selection_never_sees_test():
    train, train_labels = blobs(2, 40, classes=6, spread=1.5)
    test, test_labels = blobs(3, 20, classes=6, spread=1.5)
    config = ProbeConfig(weight_decays=(1e-5, 1e-2, 1.0), max_iterations=25)
    first = linear_probe_evaluate(train, train_labels, test, test_labels, config=config, seed=7)
    second = linear_probe_evaluate(train, train_labels, test, test_labels, config=config, seed=7)
    assert first == second
    # Wrong test labels change the test accuracy but not what was chosen on the train split.
    wrong = linear_probe_evaluate(
        train, train_labels, test, (test_labels + 1) % 6, config=config, seed=7
    )
    assert wrong["linear_weight_decay"] == first["linear_weight_decay"]
    assert wrong["linear_holdout_top1"] == first["linear_holdout_top1"]
    assert wrong["linear_top1"] < first["linear_top1"]


def test_constant_dimension_and_standardisation():
    # Column 1 is constant in training: it must not turn into NaN or a huge test value.
    train = torch.tensor([[0.0, 5.0], [1.0, 5.0], [10.0, 5.0], [11.0, 5.0]])
    probe = fit_linear_probe(train, torch.tensor([0, 0, 1, 1]), 2, weight_decay=1e-3)
    assert torch.allclose(probe.mean, torch.tensor([5.5, 5.0]))
    assert probe.scale[1].item() == 1.0
    logits = probe(torch.tensor([[-2.0, 9.0], [13.0, 5.0]]))
    assert torch.isfinite(logits).all()
    assert logits.argmax(1).tolist() == [0, 1]


def test_missing_labels_are_refused():
    train, train_labels = blobs(0, 5)
    train_labels[3] = -1
    with pytest.raises(StoreError, match="1 of 20 sketches in the train split have no class label"):
        linear_probe_evaluate(train, train_labels, train, torch.zeros(20, dtype=torch.long))


def test_bad_config():
    with pytest.raises(ValueError, match="holdout_fraction"):
        ProbeConfig(holdout_fraction=1.0)
    with pytest.raises(ValueError, match="weight_decays"):
        ProbeConfig(weight_decays=())
