"""``sketchssl eval``: the representation suite for a trained checkpoint.

Embeds the gallery (the store's train split) and the queries (``split``, test by default) with
the checkpoint's own preprocessing, then reports kNN, linear probe and retrieval for the trained
encoder and, on request, for two baselines side by side: the same architecture untrained
(``random-init``, built from the same config with the evaluation seed) and raw 32x32 rendered
pixels (``pixels``). Labels are read only here, never during pre-training.

On a store with part labels (SPG), every encoder with per-point features is also probed for part
segmentation (:mod:`sketchssl.eval.parts`), beside the same probe on the raw per-point input
(the ``point_input`` row) and on the untrained encoder.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError, SketchSSLError
from sketchssl.eval.baselines import embed_dataset, pixel_embeddings
from sketchssl.eval.metrics import EvalConfig, evaluate_embeddings, protocol_description
from sketchssl.eval.parts import (
    PartProbeConfig,
    collect_points,
    part_probe_evaluate,
    point_input_features,
)
from sketchssl.eval.report import (
    format_gains,
    format_objective_table,
    format_table,
    write_report,
)
from sketchssl.render.patch_view import with_patch_view
from sketchssl.render.pretext import warp_for
from sketchssl.render.views import SketchDataset
from sketchssl.render.wrapper_views import plain_views
from sketchssl.threads import resolve_threads

__all__ = [
    "BASELINES",
    "RepresentationEval",
    "classifier_accuracy",
    "evaluate_checkpoint",
    "objective_on_split",
]

BASELINES = ("random-init", "pixels")


@dataclass
class RepresentationEval:
    """Options of one ``sketchssl eval`` run.

    Attributes:
        checkpoint: a ``*.ckpt`` from ``sketchssl train``, or a shipped encoder's name.
        store: the SketchStore to evaluate on (labelled).
        out: the report folder.
        split: query split; the gallery is always ``train``.
        baselines: any of ``random-init`` and ``pixels``.
        batch_size: embedding batch size.
        device: where the encoder runs.
        seed: seed of the probe and of the random-init baseline.
        plot: path of a 2-D embedding map of the queries (None = no map).
        max_gallery: embed at most this many train sketches (None = all), for quick looks.
        model_overrides: model config keys changed before building (evaluation-only
            settings such as ``pooling`` or ``embed_layer``), e.g. to choose them on the valid
            split.
        parts: run the part-segmentation probe when the store has part labels.
        linear_probe: run the linear probe (the slowest part of the protocol on big galleries).
        threads: torch threads, ``auto`` or a number (:func:`sketchssl.threads.choose_threads`).
        progress: show progress bars while embedding.
    """

    checkpoint: Path
    store: Path
    out: Path
    split: str = "test"
    baselines: Sequence[str] = ()
    batch_size: int = 128
    device: str = "cpu"
    seed: int = 0
    plot: Path | None = None
    max_gallery: int | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    parts: bool = True
    linear_probe: bool = True
    threads: int | str = "auto"
    progress: bool = False
    num_workers: int = 0
    command: str = field(
        default_factory=lambda: shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    )


def _dataset(
    store: SketchStore,
    data: dict[str, Any],
    split: str,
    scale: float | None,
    with_parts: bool = False,
) -> SketchDataset:
    """The split's dataset as the run config's data section builds it (patch view unmasked).

    A drawn deformation warp (``data.deformation: random``) is drawn from seed 0, so the
    pretext objective on the split is the same from one evaluation to the next.
    """
    base = SketchDataset(
        store,
        split=split,
        views=plain_views(tuple(data.get("views", ("sequence",)))),
        max_len=int(data.get("max_len", 250)),
        normalization=data.get("normalization", "std"),
        scale=scale,
        raster_size=int(data.get("raster_size", 64)),
        raster_line_width=float(data.get("raster_line_width", 1.5)),
        start_token=bool(data.get("start_token", False)),
        bbox_factor=float(data.get("bbox_factor", 10.0)),
        clamp_limit=float(data.get("clamp_limit", 1000.0)),
        with_parts=with_parts,
        warp=warp_for(data.get("deformation", "paper"), seed=0),
    )
    return with_patch_view(base, data, mask_prob=0.0)


def is_label_classifier(model: torch.nn.Module) -> bool:
    """A model whose ``logits(batch)`` scores the store's classes (it has ``num_classes``).

    Pretext models (rotation / deformation) have logits too, but over their transforms.
    """
    return hasattr(model, "logits") and hasattr(getattr(model, "config", None), "num_classes")


def classifier_accuracy(
    model: torch.nn.Module, dataloader: DataLoader, device: torch.device
) -> dict[str, float]:
    """Top-1 / top-5 accuracy of a classifier's own head (``model.logits``) on labelled batches."""
    model.eval()
    hits1 = hits5 = total = 0
    with torch.no_grad():
        for batch in dataloader:
            batch = {key: value.to(device) for key, value in batch.items()}
            labels = batch["label"]
            logits = model.logits(batch)  # (B, C)
            top = logits.topk(min(5, logits.shape[1]), dim=1).indices  # (B, 5)
            hits1 += int((top[:, 0] == labels).sum())
            hits5 += int((top == labels[:, None]).any(dim=1).sum())
            total += len(labels)
    return {"classifier_top1": hits1 / max(total, 1), "classifier_top5": hits5 / max(total, 1)}


def objective_on_split(
    model: torch.nn.Module, dataloader: DataLoader, device: torch.device, seed: int
) -> dict[str, float]:
    """The method's own training objective on a held-out split, in eval mode: ``test_<part>``.

    Every part of ``model.loss`` (e.g. sketch-rnn's ``recon``, ``kl``; Sketch-BERT's
    ``position_l1``) averaged over batches, weighted by batch size. Random draws inside the
    objective (masks, latent noise) come from ``seed``, so the number is repeatable.
    """
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    torch.manual_seed(seed)
    with torch.no_grad():
        for batch in dataloader:
            batch = {key: value.to(device) for key, value in batch.items()}
            size = int(next(iter(batch.values())).shape[0])
            try:
                parts = model.loss(batch)
            except SketchSSLError:
                return {}  # an objective that needs what this split lacks (e.g. labels)
            for name, value in parts.items():
                if value.numel() == 1:
                    totals[name] = totals.get(name, 0.0) + float(value) * size
            count += size
    return {f"test_{name}": total / max(count, 1) for name, total in totals.items()}


def _part_points_datasets(
    store: SketchStore,
    data: dict[str, Any],
    split: str,
    scale: float | None,
    config: PartProbeConfig,
    seed: int,
) -> tuple[SketchDataset, SketchDataset]:
    """The part probe's datasets: a seeded subset of train sketches, and the query split."""
    train = _dataset(store, data, "train", scale, with_parts=True)
    if len(train) > config.train_sketches:
        generator = torch.Generator().manual_seed(seed)
        keep = torch.randperm(len(train), generator=generator)[: config.train_sketches]
        train.indices = train.indices[keep.sort().values.numpy()]
    return train, _dataset(store, data, split, scale, with_parts=True)


def evaluate_parts(
    features_of: Any,
    parts_key: str,
    datasets: tuple[SketchDataset, SketchDataset],
    store: SketchStore,
    device: torch.device,
    batch_size: int,
    seed: int,
    config: PartProbeConfig,
) -> dict[str, float]:
    """Part probe metrics of one per-point feature function (:mod:`sketchssl.eval.parts`)."""
    train_set, test_set = datasets
    points = [
        collect_points(features_of, DataLoader(dataset, batch_size=batch_size), parts_key, device)
        for dataset in (train_set, test_set)
    ]
    first, _ = store.part_slots()
    return part_probe_evaluate(
        points[0], points[1], first, store.class_names, config=config, seed=seed
    )


def has_point_features(model: torch.nn.Module) -> bool:
    """Whether a method gives per-point features (its class names the batch key they align with)."""
    return getattr(type(model), "point_parts_key", None) is not None


def evaluate_checkpoint(options: RepresentationEval) -> dict[str, dict[str, float]]:
    """Run the suite and write ``metrics.json`` / ``metrics.md`` (and the map) into ``out``.

    Returns:
        Row name (``pretrained``, ``random_init``, ``pixels``) -> metrics.
    """
    unknown = [name for name in options.baselines if name not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline(s) {unknown}: choose from {', '.join(BASELINES)}")
    started = time.perf_counter()
    try:
        threads = resolve_threads(options.threads)
    except ValueError as error:
        raise ConfigError(f"--threads: {error}") from None
    from sketchssl.pretrained import load_model

    method, run_config = load_model(
        options.checkpoint, model_overrides=dict(options.model_overrides)
    )
    device = torch.device(options.device)
    store = SketchStore.open(options.store)
    data = dict(run_config.get("data", {}))
    # The gallery only goes through embed: a method may name cheaper views for that (the
    # transform-prediction methods skip rendering every transformed copy).
    gallery_data = dict(data)
    if hasattr(method, "embedding_views"):
        gallery_data["views"] = method.embedding_views(tuple(data.get("views", ("sequence",))))
    gallery = _dataset(store, gallery_data, "train", None)
    if options.max_gallery is not None and options.max_gallery < len(gallery):
        # A seeded subset keeps the class mix of the whole split.
        generator = torch.Generator().manual_seed(options.seed)
        keep = torch.randperm(len(gallery), generator=generator)[: options.max_gallery]
        gallery.indices = gallery.indices[keep.sort().values.numpy()]
    queries = _dataset(store, data, options.split, gallery.scale)
    if len(queries) == 0:
        raise ConfigError(f"{options.store}: the {options.split!r} split is empty")

    def loader(dataset: SketchDataset) -> DataLoader:
        return DataLoader(
            dataset, batch_size=options.batch_size, shuffle=False, num_workers=options.num_workers
        )

    protocol = EvalConfig(run_linear_probe=options.linear_probe)
    part_config = PartProbeConfig()
    with_parts = options.parts and store.has_parts and len(store.class_names) > 1
    part_datasets = None
    if with_parts and has_point_features(method):
        part_data = dict(data)
        part_data["views"] = gallery_data.get("views", data.get("views", ("sequence",)))
        part_datasets = _part_points_datasets(
            store, part_data, options.split, gallery.scale, part_config, options.seed
        )

    def evaluate_model(model: torch.nn.Module) -> tuple[dict[str, float], torch.Tensor]:
        model.to(device)
        bar = options.progress
        train_x, train_y = embed_dataset(
            model, loader(gallery), device, progress="embedding the gallery" if bar else None
        )
        test_x, test_y = embed_dataset(
            model, loader(queries), device, progress="embedding the queries" if bar else None
        )
        metrics: dict[str, float] = {}
        if len(store.class_names) > 1:
            metrics.update(
                evaluate_embeddings(
                    train_x,
                    train_y,
                    test_x,
                    test_y,
                    seed=options.seed,
                    num_classes=len(store.class_names),
                    config=protocol,
                )
            )
        metrics.update(objective_on_split(model, loader(queries), device, options.seed))
        if is_label_classifier(model):  # a fine-tuned classifier: its own head on the queries
            metrics.update(classifier_accuracy(model, loader(queries), device))
        if part_datasets is not None:
            model.eval()
            metrics.update(
                evaluate_parts(
                    model.point_features,
                    type(model).point_parts_key,
                    part_datasets,
                    store,
                    device,
                    options.batch_size,
                    options.seed,
                    part_config,
                )
            )
        return metrics, test_x

    results: dict[str, dict[str, float]] = {}
    results["pretrained"], query_embeddings = evaluate_model(method)
    if "random-init" in options.baselines:
        from sketchssl.methods.registry import build_method

        torch.manual_seed(options.seed)
        untrained = build_method(run_config["method"], run_config.get("model", {}))
        results["random_init"], _ = evaluate_model(untrained)
    if "pixels" in options.baselines and len(store.class_names) > 1:
        train_sketches = [store[int(i)] for i in gallery.indices]
        test_sketches = [store[int(i)] for i in queries.indices]
        train_labels = torch.as_tensor(store.labels[gallery.indices].astype("int64"))
        test_labels = torch.as_tensor(store.labels[queries.indices].astype("int64"))
        results["pixels"] = evaluate_embeddings(
            pixel_embeddings(train_sketches),
            train_labels,
            pixel_embeddings(test_sketches),
            test_labels,
            seed=options.seed,
            num_classes=len(store.class_names),
            config=protocol,
        )
    if with_parts:
        # the raw per-point input, read from a plain sequence view of the same sketches
        input_data = {"views": ("sequence",), "normalization": "bbox", "max_len": 250}
        results["point_input"] = evaluate_parts(
            point_input_features,
            "parts",
            _part_points_datasets(
                store, input_data, options.split, None, part_config, options.seed
            ),
            store,
            device,
            options.batch_size,
            options.seed,
            part_config,
        )
    meta = {
        "checkpoint": str(options.checkpoint),
        "method": run_config.get("method"),
        "data": str(options.store),
        "gallery": f"train split, {len(gallery)} sketches",
        "queries": f"{options.split} split, {len(queries)} sketches",
        "classes": len(store.class_names),
        "protocol": protocol_description(protocol),
        "pixels_baseline": "32x32 render, line width 1 px, ink = 1, flattened",
        "random_init_baseline": f"same architecture and config, torch seed {options.seed}",
        "model_overrides": dict(options.model_overrides),
        "part_probe": (
            (
                f"{part_config.train_sketches} train sketches (seeded), weight decay from "
                f"{list(part_config.weight_decays)} on {part_config.holdout_fraction:.0%} of them"
                + ("" if part_datasets is not None else "; this encoder has no per-point features")
            )
            if with_parts
            else None
        ),
        "device": str(device),
        "torch_threads": threads,
        "seconds": round(time.perf_counter() - started, 1),
        "commands": [options.command],
    }
    write_report(options.out, results, meta)
    if options.plot is not None:
        from sketchssl.eval.embedding_map import plot_embedding_map

        query_sketches = [store[int(i)] for i in queries.indices]
        plot_embedding_map(
            query_embeddings.numpy(),
            store.labels[queries.indices],
            store.class_names,
            options.plot,
            sketches=query_sketches,
            seed=options.seed,
            title=f"{run_config.get('method')}: {options.split} embeddings",
        )
    return results


def print_results(results: dict[str, dict[str, float]]) -> str:
    """The terminal table and the gain lines."""
    parts = []
    if any(not name.startswith("test_") for row in results.values() for name in row):
        parts += [format_table(results), format_gains(results)]
    objective = format_objective_table(results)
    if objective:
        parts += ["held-out objective (lower is better):", objective]
    return "\n".join(part for part in parts if part)
