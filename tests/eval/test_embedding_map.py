import sys

import numpy as np
import pytest
import torch
from PIL import Image

from sketchssl.eval import embedding_map
from sketchssl.eval.embedding_map import (
    MissingDependencyError,
    plot_embedding_map,
    project_2d,
    spread_out_points,
)


def toy_sketches(count: int, seed: int = 0) -> list[np.ndarray]:
    generator = np.random.default_rng(seed)
    sketches = []
    for _ in range(count):
        sketch = generator.integers(-20, 21, size=(6, 3)).astype(np.int16)
        sketch[:, 2] = 0
        sketch[-1, 2] = 1
        sketches.append(sketch)
    return sketches


def clusters(per_class: int = 20, classes: int = 3, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(classes).repeat_interleave(per_class)
    points = 10.0 * torch.eye(classes, 12)[labels] + torch.randn(
        len(labels), 12, generator=generator
    )
    return points, labels


def test_pca_matches_sklearn():
    decomposition = pytest.importorskip("sklearn.decomposition")
    points = np.random.default_rng(0).normal(size=(80, 6)) * np.arange(1, 7)
    ours = project_2d(points, "pca")
    reference = decomposition.PCA(2).fit_transform(points)
    assert np.allclose(np.abs(ours), np.abs(reference), atol=1e-8)  # axes' signs may differ


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projection_separates_clusters(method):
    points, labels = clusters()
    coordinates = project_2d(points, method, seed=0)
    assert coordinates.shape == (60, 2)
    centres = np.stack([coordinates[labels.numpy() == c].mean(0) for c in range(3)])
    within = max(
        np.linalg.norm(coordinates[labels.numpy() == c] - centres[c], axis=1).mean()
        for c in range(3)
    )
    between = min(np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a))
    assert between > 2 * within


def test_spread_out_points_picks_the_extremes():
    # Three groups: {0, 1} near the origin, {2} far right, {3} far up. Whatever the seeded first
    # pick, three points spread out take one from each group.
    coordinates = np.array([[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [0.0, 10.0]])
    for seed in range(6):
        chosen = set(spread_out_points(coordinates, 3, seed=seed).tolist())
        assert len(chosen) == 3 and {2, 3} <= chosen
    assert sorted(spread_out_points(coordinates, 99).tolist()) == [0, 1, 2, 3]


def test_plot_with_legend_and_thumbnails(tmp_path):
    points, labels = clusters()
    path = plot_embedding_map(
        points,
        labels,
        ["cat", "dog", "bee"],
        tmp_path / "maps" / "map.png",
        sketches=toy_sketches(60),
        n_thumbnails=5,
        method="pca",
    )
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (1500, 1200)  # wider: legend on the right
    assert [p.name for p in (tmp_path / "maps").iterdir()] == ["map.png"]


def test_plot_many_classes_without_sketches(tmp_path):
    generator = torch.Generator().manual_seed(1)
    points = torch.randn(120, 8, generator=generator)
    labels = torch.arange(120) % 40
    labels[0] = -1  # unlabelled points are drawn grey
    names = [f"class {index}" for index in range(40)]
    path = plot_embedding_map(points, labels, names, tmp_path / "map.png", method="tsne")
    assert Image.open(path).size == (1200, 1200)


def test_missing_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    points, labels = clusters()
    with pytest.raises(MissingDependencyError, match=r"pip install 'sketchssl\[viz\]'"):
        plot_embedding_map(points, labels, ["a", "b", "c"], tmp_path / "map.png")
    assert not (tmp_path / "map.png").exists()


def test_unknown_method_and_mismatched_inputs(tmp_path):
    points, labels = clusters()
    with pytest.raises(ValueError, match="method"):
        embedding_map.project_2d(points, "isomap")
    with pytest.raises(ValueError, match="59 labels for 60 embeddings"):
        plot_embedding_map(points, labels[:59], ["a", "b", "c"], tmp_path / "m.png")
