"""A 2-D map of embeddings: t-SNE (or UMAP / PCA) coloured by class, with sketch thumbnails.

t-SNE: van der Maaten and Hinton, "Visualizing Data using t-SNE", JMLR 2008, through
``sklearn.manifold.TSNE`` (embeddings wider than 50 are first reduced to 50 by PCA, as that
paper and scikit-learn's documentation advise). UMAP: McInnes et al. 2018, through
``umap-learn`` when it is installed. PCA needs nothing beyond torch.

matplotlib and scikit-learn come with the optional extra: ``pip install 'sketchssl[viz]'``.
They are imported only when a map is drawn. The figure is built on a ``Figure`` object (no
pyplot global state) and saved atomically.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Literal

import numpy as np
import torch

from sketchssl.errors import SketchSSLError
from sketchssl.eval.neighbors import as_embeddings
from sketchssl.eval.report import temporary_sibling
from sketchssl.render.raster import render_strokes

__all__ = [
    "MissingDependencyError",
    "plot_embedding_map",
    "project_2d",
    "spread_out_points",
]

MapMethod = Literal["tsne", "umap", "pca"]

#: With at most this many classes the map has a legend; with more, a cyclic colour map only.
MAX_LEGEND_CLASSES = 20

_GOLDEN_RATIO_CONJUGATE = 0.6180339887498949


class MissingDependencyError(SketchSSLError, ImportError):
    """An optional package needed for this feature is not installed."""


def _require(module: str, purpose: str, extra: str = "viz") -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        package = {"sklearn": "scikit-learn", "umap": "umap-learn"}.get(module, module)
        hint = f"pip install 'sketchssl[{extra}]'" if extra else f"pip install {package}"
        raise MissingDependencyError(
            f"{purpose} needs the optional package '{package}', which is not installed: {hint}"
        ) from None


def _pca(points: np.ndarray, components: int) -> np.ndarray:
    """Project ``(N, D)`` points on their top principal components.

    Eigen-decomposes the smaller of the covariance ``(D, D)`` and the Gram matrix ``(N, N)``
    (cheaper than an SVD of the data), and fixes each axis' sign so its largest coordinate is
    positive, so the result is reproducible.
    """
    centred = torch.from_numpy(points).double()
    centred = centred - centred.mean(0)  # (N, D)
    count, width = centred.shape
    if width <= count:
        _, vectors = torch.linalg.eigh(centred.T @ centred)  # (D, D), ascending eigenvalues
        projected = centred @ vectors.flip(1)[:, :components]  # (N, k)
    else:
        values, vectors = torch.linalg.eigh(centred @ centred.T)  # (N, N)
        projected = (
            vectors.flip(1)[:, :components] * values.flip(0)[:components].clamp_min(0).sqrt()
        )
    largest = projected.gather(0, projected.abs().argmax(0, keepdim=True))  # (1, k)
    projected = projected * torch.where(largest < 0, -1.0, 1.0).double()
    if projected.shape[1] < components:  # fewer dimensions than components
        padding = torch.zeros(count, components - projected.shape[1], dtype=torch.float64)
        projected = torch.cat([projected, padding], dim=1)
    return projected.numpy()


def project_2d(
    embeddings: torch.Tensor | np.ndarray, method: MapMethod = "tsne", seed: int = 0
) -> np.ndarray:
    """Reduce ``(N, D)`` embeddings to ``(N, 2)`` map coordinates.

    Args:
        embeddings: ``(N, D)`` embeddings.
        method: ``tsne`` (scikit-learn), ``umap`` (umap-learn) or ``pca``.
        seed: random state of t-SNE / UMAP.

    Raises:
        MissingDependencyError: the method's package is not installed.
        ValueError: unknown method or fewer than 3 embeddings.
    """
    points = as_embeddings(embeddings).detach().cpu().double().numpy()
    count = points.shape[0]
    if count < 3:
        raise ValueError(f"an embedding map needs at least 3 embeddings, got {count}")
    if method == "pca":
        return _pca(points, 2)
    if method == "tsne":
        manifold = _require("sklearn.manifold", "the t-SNE embedding map")
        if points.shape[1] > 50:
            points = _pca(points, 50)
        tsne = manifold.TSNE(
            n_components=2,
            perplexity=min(30.0, (count - 1) / 3.0),
            init="pca",
            random_state=seed,
        )
        return np.asarray(tsne.fit_transform(points), dtype=np.float64)
    if method == "umap":
        umap = _require("umap", "the UMAP embedding map", extra="")
        reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, count - 1))
        return np.asarray(reducer.fit_transform(points), dtype=np.float64)
    raise ValueError(f"method must be 'tsne', 'umap' or 'pca', got {method!r}")


def spread_out_points(coordinates: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Indices of ``count`` points spread over the map (farthest-point sampling).

    Starts from a seeded random point and repeatedly adds the point farthest from those chosen,
    so thumbnails drawn at them rarely overlap.

    Args:
        coordinates: ``(N, 2)`` map coordinates.
        count: how many to pick (at most N).
        seed: picks the first point.
    """
    total = coordinates.shape[0]
    count = min(count, total)
    if count <= 0:
        return np.zeros(0, dtype=np.int64)
    chosen = [int(np.random.default_rng(seed).integers(total))]
    distance = np.linalg.norm(coordinates - coordinates[chosen[0]], axis=1)  # (N,)
    for _ in range(count - 1):
        index = int(np.argmax(distance))
        chosen.append(index)
        distance = np.minimum(distance, np.linalg.norm(coordinates - coordinates[index], axis=1))
    return np.asarray(chosen, dtype=np.int64)


def _class_colours(labels: np.ndarray, present: Sequence[int], colormaps: ModuleType) -> np.ndarray:
    """RGBA ``(N, 4)``: a qualitative palette for few classes, a cyclic hue walk for many.

    With at most :data:`MAX_LEGEND_CLASSES` classes present, they take the tab10 / tab20 colours
    in order; otherwise class ``c`` takes the hue ``c * 0.618 mod 1`` (golden-ratio steps round
    the cyclic ``hsv`` map), so neighbouring class indices get distant hues. Unlabelled: grey.
    """
    colours = np.tile(np.array([0.6, 0.6, 0.6, 1.0]), (labels.shape[0], 1))  # (N, 4)
    if len(present) <= MAX_LEGEND_CLASSES:
        palette = colormaps["tab10" if len(present) <= 10 else "tab20"]
        for position, label in enumerate(present):
            colours[labels == label] = palette(position)
        return colours
    labelled = labels >= 0
    hues = (labels[labelled] * _GOLDEN_RATIO_CONJUGATE) % 1.0
    colours[labelled] = colormaps["hsv"](hues)
    return colours


def plot_embedding_map(
    embeddings: torch.Tensor | np.ndarray,
    labels: torch.Tensor | np.ndarray,
    class_names: Sequence[str],
    path: str | os.PathLike[str],
    sketches: Sequence[np.ndarray] | None = None,
    n_thumbnails: int = 30,
    method: MapMethod = "tsne",
    *,
    seed: int = 0,
    title: str | None = None,
    thumbnail_size: int = 48,
) -> Path:
    """Draw a 2-D map of the embeddings, coloured by class, and save it as a PNG.

    With at most 20 classes there is a legend; with more (345 for QuickDraw) colours walk a
    cyclic colour map and there is none. When ``sketches`` are given, ``n_thumbnails`` of them,
    spread over the map, are drawn as small images at their points, framed in their class
    colour.

    Args:
        embeddings: ``(N, D)`` embeddings (usually of the test split).
        labels: ``(N,)`` class indices (-1: unlabelled, drawn grey).
        class_names: names of the classes ``labels`` index.
        path: the PNG to write (folders are created).
        sketches: the N stroke-3 sketches, in the same order, for thumbnails.
        n_thumbnails: how many thumbnails (0 for none).
        method: ``tsne``, ``umap`` (if umap-learn is installed) or ``pca``.
        seed: seeds the projection and the thumbnail choice.
        title: figure title; a default names the method and counts.
        thumbnail_size: thumbnail render size in pixels.

    Returns:
        The path written.

    Raises:
        MissingDependencyError: matplotlib (or the method's package) is not installed.
    """
    _require("matplotlib", "the embedding map")
    figure_module = _require("matplotlib.figure", "the embedding map")
    offsetbox = _require("matplotlib.offsetbox", "the embedding map")
    colormaps = _require("matplotlib", "the embedding map").colormaps

    points = as_embeddings(embeddings)
    labels = np.asarray(torch.as_tensor(labels).reshape(-1).cpu().numpy(), dtype=np.int64)
    if labels.shape[0] != points.shape[0]:
        raise ValueError(f"{labels.shape[0]} labels for {points.shape[0]} embeddings")
    if sketches is not None and len(sketches) != points.shape[0]:
        raise ValueError(f"{len(sketches)} sketches for {points.shape[0]} embeddings")
    coordinates = project_2d(points, method, seed)  # (N, 2)

    present = sorted(set(labels[labels >= 0].tolist()))
    with_legend = 0 < len(present) <= MAX_LEGEND_CLASSES
    # With a legend the figure is wider and the legend sits right of the map, off the points.
    figure = figure_module.Figure(figsize=(12.5 if with_legend else 10, 10), dpi=120)
    axes = figure.add_subplot(1, 1, 1)
    colours = _class_colours(labels, present, colormaps)  # (N, 4)
    axes.scatter(coordinates[:, 0], coordinates[:, 1], c=colours, s=9, alpha=0.8, linewidths=0)
    if with_legend:
        for label in present:
            name = class_names[label] if label < len(class_names) else str(label)
            axes.scatter([], [], color=colours[labels == label][0], label=name, s=20)
        axes.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False)

    if sketches is not None and n_thumbnails > 0:
        for index in spread_out_points(coordinates, n_thumbnails, seed):
            image = render_strokes(sketches[index], thumbnail_size, 1.5, 0.08)  # (S, S)
            rgb = np.repeat(image[:, :, None], 3, axis=2)  # (S, S, 3): no colour-map scaling
            box = offsetbox.OffsetImage(rgb, zoom=0.75)
            annotation = offsetbox.AnnotationBbox(
                box,
                coordinates[index],
                frameon=True,
                pad=0.1,
                bboxprops={"edgecolor": colours[index], "linewidth": 1.5},
            )
            axes.add_artist(annotation)

    axes.set_xticks([])
    axes.set_yticks([])
    default_title = (
        f"{method.upper() if method != 'tsne' else 't-SNE'} of {points.shape[0]} embeddings, "
        f"{len(present)} classes"
    )
    axes.set_title(title or default_title)
    if with_legend:
        figure.subplots_adjust(left=0.02, right=0.78, bottom=0.02, top=0.95)
    else:
        figure.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=0.95)

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_sibling(target)
    try:
        figure.savefig(temporary, format="png")
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target
