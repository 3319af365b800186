"""The bench's evaluation of one trained run: representation and healing, plus pixel rows.

Both reuse the evaluation layer unchanged, so a bench number is the number ``sketchssl eval``
and ``sketchssl heal`` give for the same checkpoint and settings:

* representation: :func:`sketchssl.eval.representation.evaluate_checkpoint` with the
  random-init baseline (same architecture and config, the run's seed) and a seeded gallery
  subset; the pixel baseline is computed once per seed by :func:`pixel_baseline` on the same
  subset rule (train split, ``torch.randperm`` seeded with the seed);
* healing: :func:`sketchssl.eval.healing.evaluate_healing` (Rec with the judge, Ret generated ->
  original) at each mask rate on the first test sketches, plus the **no-healing reference**:
  Rec of the judge on the corrupted inputs, and Ret of the corrupted input's own code (the
  encoder sees exactly the input the decoder heals from), with the same mask table.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sketchssl.data.store import SketchStore
from sketchssl.eval.baselines import pixel_embeddings
from sketchssl.eval.healing import (
    NO_HEALING_ROW,
    HealingEval,
    SketchCodec,
    evaluate_healing,
)
from sketchssl.eval.metrics import evaluate_embeddings
from sketchssl.eval.representation import RepresentationEval, evaluate_checkpoint
from sketchssl.methods.checkpoint import load_method
from sketchssl.render.patches import make_mask_table

__all__ = [
    "evaluate_healing_run",
    "protocol_seconds",
    "evaluate_representation_run",
    "gallery_subset",
    "healing_row_name",
    "pixel_baseline",
]


def gallery_subset(indices: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """The gallery rule of ``sketchssl eval --max-gallery``: a seeded subset, in store order.

    Examples:
        >>> gallery_subset(np.arange(10, 20), 3, seed=0).tolist() == sorted(
        ...     gallery_subset(np.arange(10, 20), 3, seed=0).tolist())
        True
    """
    if size is None or size >= len(indices):
        return indices
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(len(indices), generator=generator)[:size]
    return indices[keep.sort().values.numpy()]


def evaluate_representation_run(
    checkpoint: Path,
    store_path: Path,
    out: Path,
    *,
    seed: int,
    gallery: int | None,
    device: str,
    plot: Path | None,
    command: str,
) -> dict[str, dict[str, float]]:
    """``{"trained": metrics, "random_init": metrics}`` of one checkpoint (report in ``out``)."""
    results = evaluate_checkpoint(
        RepresentationEval(
            checkpoint=checkpoint,
            store=store_path,
            out=out,
            baselines=("random-init",),
            device=device,
            seed=seed,
            plot=plot,
            max_gallery=gallery,
            command=command,
        )
    )
    return {
        "trained" if name == "pretrained" else name: metrics for name, metrics in results.items()
    }


def pixel_baseline(
    store: SketchStore,
    *,
    seed: int,
    gallery: int | None,
    split: str = "test",
    map_path: Path | None = None,
) -> tuple[dict[str, float], dict[str, float]]:
    """Raw 32x32 pixels through the representation protocol; returns ``(metrics, seconds)``.

    ``seconds`` holds ``protocol`` (kNN, probe, retrieval) and ``map`` (the embedding map of the
    queries, when ``map_path`` is given), the costs the bench's estimate extrapolates from.
    """
    gallery_indices = gallery_subset(store.split_indices("train"), gallery, seed)
    query_indices = store.split_indices(split)
    train_sketches = [store[int(index)] for index in gallery_indices]
    test_sketches = [store[int(index)] for index in query_indices]
    train_x, test_x = pixel_embeddings(train_sketches), pixel_embeddings(test_sketches)
    train_y = torch.as_tensor(store.labels[gallery_indices].astype("int64"))
    test_y = torch.as_tensor(store.labels[query_indices].astype("int64"))
    start = time.perf_counter()
    metrics = evaluate_embeddings(
        train_x, train_y, test_x, test_y, seed=seed, num_classes=len(store.class_names)
    )
    seconds = {"protocol": time.perf_counter() - start}
    if map_path is not None:
        from sketchssl.eval.embedding_map import plot_embedding_map

        start = time.perf_counter()
        plot_embedding_map(
            test_x,
            test_y,
            store.class_names,
            map_path,
            sketches=test_sketches,
            seed=seed,
            title=f"raw 32x32 pixels: {split} split",
        )
        seconds["map"] = time.perf_counter() - start
    return metrics, seconds


def protocol_seconds(
    store: SketchStore, *, seed: int, gallery: int | None, dim: int, split: str = "test"
) -> float:
    """Seconds the representation protocol takes on random ``dim``-d embeddings.

    The gallery and queries have the real labels and sizes (the gallery subset rule of
    :func:`gallery_subset`), so kNN, retrieval and the probe do the work a model's embeddings
    would give them; the bench's estimate extrapolates from it.
    """
    gallery_indices = gallery_subset(store.split_indices("train"), gallery, seed)
    query_indices = store.split_indices(split)
    generator = torch.Generator().manual_seed(seed)
    train_x = torch.randn(len(gallery_indices), dim, generator=generator)  # (G, D)
    test_x = torch.randn(len(query_indices), dim, generator=generator)  # (Q, D)
    start = time.perf_counter()
    evaluate_embeddings(
        train_x,
        torch.as_tensor(store.labels[gallery_indices].astype("int64")),
        test_x,
        torch.as_tensor(store.labels[query_indices].astype("int64")),
        seed=seed,
        num_classes=len(store.class_names),
    )
    return time.perf_counter() - start


def healing_row_name(kind: str, rate: float) -> str:
    """Bench row names: ``originals``, ``no healing (mask p)``, ``healed (mask p)``."""
    return kind if kind == "originals" else f"{kind} (mask {rate:g})"


@torch.no_grad()
def evaluate_healing_run(
    checkpoint: Path,
    store: SketchStore,
    *,
    masks: Sequence[float],
    sketches: int,
    seed: int,
    device: str,
    judge: Any | None = None,
    judge_config: dict[str, Any] | None = None,
) -> tuple[dict[str, dict[str, float]], dict[str, Any]]:
    """Rec / Ret of one generative checkpoint with the no-healing reference rows.

    Returns:
        ``(rows, meta)``; rows ``originals`` (judge only), ``no healing (mask p)`` (p > 0) and
        ``healed (mask p)``, each with ``rec`` (judge only) and ``ret_g2o_acc@k``.
    """
    method, run_config = load_method(checkpoint)
    method.to(device)
    codec = SketchCodec.for_method(method, run_config, store, "test")
    count = min(sketches, len(codec.dataset))
    table = make_mask_table(count, codec.patch_config.max_patches, seed)
    settings = HealingEval(
        mask_probs=tuple(masks),
        limit=count,
        seed=seed,
        notes=[f"checkpoint {checkpoint}", f"mask table seed {seed}"],
    )
    results, meta = evaluate_healing(
        method,
        run_config,
        store,
        settings,
        judge=judge,
        judge_config=judge_config,
        mask_table=table,
    )
    rows: dict[str, dict[str, float]] = {}
    if "judge on originals" in results:
        rows["originals"] = results["judge on originals"]
    for rate in masks:
        if rate > 0:
            reference = results[f"{NO_HEALING_ROW} (mask {rate:g})"]
            rows[healing_row_name("no healing", rate)] = reference
        rows[healing_row_name("healed", rate)] = results[f"generated (mask {rate:g})"]
    return rows, meta
