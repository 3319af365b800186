"""``sketchssl embed``: embeddings of any sketches with a trained (or shipped) encoder.

The sketches come from any source the data layer reads (sketch-rnn ``.npz``, QuickDraw ndjson
raw or simplified, SPG files, ``.bin``, the built-in samples) or from a store; they go through
the model's own preprocessing (the views, normalisation and rendering its run config names, with
the global scale factor of its training data where it uses one), in batches, with a progress bar.

Outputs, by file suffix:

* ``.npy``: the ``(N, D)`` float32 matrix, rows in store order;
* ``.npz``: ``embeddings``, ``key_ids`` (-1 where unknown), ``labels`` (-1 where unlabelled),
  ``class_names``, ``splits`` (0 train, 1 valid, 2 test) and ``store_indices``;
* ``.parquet``: one row per sketch with ``key_id``, ``label``, ``class_name``, ``split`` and
  ``embedding`` (a list of floats); needs ``pyarrow``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from sketchssl.atomic import atomic_write
from sketchssl.data.store import SPLIT_NAMES, SketchStore
from sketchssl.errors import ConfigError, StoreError

__all__ = ["EMBED_SUFFIXES", "embed_store", "embed_sources", "training_scale", "write_embeddings"]

EMBED_SUFFIXES = (".npy", ".npz", ".parquet")


def training_scale(
    run_config: dict[str, Any], scale_store: str | os.PathLike[str] | None
) -> float | None:
    """The global offset scale a model was trained with (None when it normalises per sketch).

    Taken from ``run_config["data"]["scale"]`` when the model carries it (the shipped encoders
    do), else computed from the training store's train split (``scale_store`` or the store the
    run config names).

    Raises:
        StoreError: the model needs the scale and no training store can be read.
    """
    data = run_config.get("data", {})
    if data.get("normalization", "std") != "std":
        return None
    if data.get("scale"):
        return float(data["scale"])
    from sketchssl.render.views import store_scale_factor

    source = scale_store or data.get("store")
    try:
        store = SketchStore.open(source) if source else None
    except StoreError:
        store = None
    if store is None:
        raise StoreError(
            f"this model normalises offsets by its training data's scale, and its training store "
            f"({source or 'not recorded'}) cannot be read; pass --scale-store STORE (the store it "
            "was trained on)"
        )
    return store_scale_factor(
        store,
        "train",
        max_len=int(data.get("max_len", 250)),
        limit=float(data.get("clamp_limit", 1000.0)),
    )


def embed_store(
    method: torch.nn.Module,
    run_config: dict[str, Any],
    store: SketchStore,
    *,
    split: str = "all",
    scale_store: str | os.PathLike[str] | None = None,
    batch_size: int = 256,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """``(embeddings (N, D) float32, store indices (N,))`` of one split of ``store``.

    Args:
        method: the encoder (``embed(batch)``).
        run_config: its run configuration (views and preprocessing).
        store: the sketches.
        split: ``all``, ``train``, ``valid`` or ``test``.
        scale_store: the training store, when the model needs its scale and does not carry it
            (:func:`training_scale`).
        batch_size: sketches a batch.
        device: where the encoder runs.
        progress: show a progress bar.
    """
    from tqdm import tqdm

    from sketchssl.eval.representation import _dataset

    scale = training_scale(run_config, scale_store)
    data = dict(run_config.get("data", {}))
    if hasattr(method, "embedding_views"):
        data["views"] = method.embedding_views(tuple(data.get("views", ("sequence",))))
    dataset = _dataset(store, data, split, scale)
    if len(dataset) == 0:
        raise ConfigError(f"{store.path}: the {split!r} split is empty; nothing to embed")
    method = method.to(device).eval()
    chunks, indices = [], []
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    with torch.no_grad():
        for batch in tqdm(loader, desc="embedding", unit="batch", disable=not progress):
            batch = {key: value.to(device) for key, value in batch.items()}
            chunks.append(method.embed(batch).float().cpu().numpy())
            indices.append(batch["index"].cpu().numpy())
    return np.concatenate(chunks), np.concatenate(indices)


def embed_sources(
    method: torch.nn.Module,
    run_config: dict[str, Any],
    sources: Sequence[str | os.PathLike[str]],
    **options: Any,
) -> tuple[np.ndarray, np.ndarray, SketchStore]:
    """Embed sketch files (read into a temporary store) or one store; see :func:`embed_store`.

    Returns:
        embeddings, store indices and the store they index (a temporary store is deleted when
        the process ends; its arrays stay readable while it is open).
    """
    from sketchssl.data.build import build_store

    paths = [Path(source) for source in sources]
    if len(paths) == 1 and paths[0].is_dir() and (paths[0] / "manifest.json").is_file():
        store = SketchStore.open(paths[0])
        embeddings, indices = embed_store(method, run_config, store, **options)
        return embeddings, indices, store
    folder = Path(tempfile.mkdtemp(prefix="sketchssl-embed-"))
    build_store(sources, folder / "input.store", workers=1, progress=False)
    store = SketchStore.open(folder / "input.store")
    embeddings, indices = embed_store(method, run_config, store, **options)
    return embeddings, indices, store


def write_embeddings(
    path: str | os.PathLike[str], embeddings: np.ndarray, indices: np.ndarray, store: SketchStore
) -> Path:
    """Write ``embeddings`` (rows for store ``indices``) as ``.npy``, ``.npz`` or ``.parquet``.

    Raises:
        ConfigError: another suffix, or ``.parquet`` without pyarrow installed.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EMBED_SUFFIXES:
        raise ConfigError(f"{path}: write embeddings to a {', '.join(EMBED_SUFFIXES)} file")
    path.parent.mkdir(parents=True, exist_ok=True)
    embeddings = np.asarray(embeddings, dtype=np.float32)
    key_ids = np.asarray(store.key_ids)[indices].astype(np.int64)
    labels = np.asarray(store.labels)[indices].astype(np.int64)
    splits = np.asarray(store.splits)[indices].astype(np.int64)
    if suffix == ".npy":
        with atomic_write(path, "wb") as handle:
            np.save(handle, embeddings)
    elif suffix == ".npz":
        with atomic_write(path, "wb") as handle:
            np.savez(
                handle,
                embeddings=embeddings,
                key_ids=key_ids,
                labels=labels,
                class_names=np.array(store.class_names),
                splits=splits,
                store_indices=np.asarray(indices, dtype=np.int64),
            )
    else:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ConfigError(
                f"{path}: writing .parquet needs pyarrow (pip install pyarrow); or write .npz"
            ) from None
        names = store.class_names
        table = pa.table(
            {
                "key_id": key_ids,
                "label": labels,
                "class_name": [names[label] if label >= 0 else None for label in labels],
                "split": [SPLIT_NAMES[code] for code in splits],
                "embedding": list(embeddings),
            }
        )
        with atomic_write(path, "wb") as handle:
            pq.write_table(table, handle)
    return path
