"""Classify sketches: a classifier's own head, or a linear head fitted on a frozen encoder.

Two kinds of model classify:

* a checkpoint of a classifier (``sketch_bert_cls``, ``supervised_cnn``, ``sketch_a_net``): its
  own head scores the classes of the store it was trained on;
* any encoder (a checkpoint or a shipped one) with a **linear head**: multinomial logistic
  regression on its frozen features, fitted on a labelled store's train split exactly as the
  evaluation's linear probe is (standardised features, weight decay chosen on a held-out slice;
  :func:`~sketchssl.eval.probe.select_and_fit_probe`). :func:`fit_head` fits one and saves it
  (a small file of tensors and class names, read back with ``weights_only``).

:func:`classify` returns the top-k classes and their probabilities for every sketch.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sketchssl.atomic import atomic_write
from sketchssl.data.store import SketchStore
from sketchssl.errors import ConfigError, SketchFileError
from sketchssl.methods.checkpoint import read_torch_file

__all__ = ["LinearHead", "classify", "fit_head", "load_head", "save_head", "write_predictions"]

HEAD_FORMAT = "sketchssl-linear-head"


class LinearHead(torch.nn.Module):
    """Standardisation + linear layer over an encoder's features, with the class names."""

    def __init__(
        self,
        mean: torch.Tensor,
        scale: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor,
        class_names: list[str],
    ) -> None:
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", bias)
        self.class_names = list(class_names)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, C)`` of features ``(N, D)``."""
        return ((features - self.mean) / self.scale) @ self.weight.T + self.bias


def fit_head(
    method: torch.nn.Module,
    run_config: dict[str, Any],
    store: SketchStore,
    *,
    seed: int = 0,
    progress: bool = False,
) -> tuple[LinearHead, dict[str, float]]:
    """Fit a linear head on ``store``'s train split; returns it and its valid-split accuracy."""
    from sketchssl.eval.embed import embed_store
    from sketchssl.eval.probe import select_and_fit_probe

    labels = np.asarray(store.labels)
    train, train_indices = embed_store(method, run_config, store, split="train", progress=progress)
    train_labels = torch.as_tensor(labels[train_indices].astype(np.int64))
    if (train_labels < 0).any():
        raise ConfigError(
            f"{store.path}: the train split has unlabelled sketches; a head needs labels"
        )
    probe, decay, holdout = select_and_fit_probe(
        torch.as_tensor(train), train_labels, len(store.class_names), seed=seed
    )
    head = LinearHead(
        probe.mean.clone(),
        probe.scale.clone(),
        probe.linear.weight.detach().clone(),
        probe.linear.bias.detach().clone(),
        store.class_names,
    )
    report = {"weight_decay": decay, "holdout_top1": holdout}
    if len(store.split_indices("valid")):
        valid, valid_indices = embed_store(method, run_config, store, split="valid", progress=False)
        predicted = head(torch.as_tensor(valid)).argmax(dim=1).numpy()
        report["valid_top1"] = float((predicted == labels[valid_indices]).mean())
    return head, report


def save_head(head: LinearHead, path: str | os.PathLike[str], model: str) -> Path:
    """Write a head (tensors, class names and the model it belongs to), atomically."""
    path = Path(path)
    state = {
        "format": HEAD_FORMAT,
        "model": str(model),
        "class_names": head.class_names,
        **{key: value for key, value in head.state_dict().items()},
    }
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)
    return path


def load_head(path: str | os.PathLike[str]) -> tuple[LinearHead, str]:
    """A saved head and the model it was fitted on.

    Raises:
        SketchFileError: not a head file (or a damaged one).
    """
    state = read_torch_file(path, "head file")
    if not isinstance(state, dict) or state.get("format") != HEAD_FORMAT:
        raise SketchFileError(
            path, "not a sketchssl linear head (sketchssl classify --fit writes one)"
        )
    head = LinearHead(
        state["mean"], state["scale"], state["weight"], state["bias"], list(state["class_names"])
    )
    return head, str(state.get("model", ""))


def classify(
    method: torch.nn.Module,
    run_config: dict[str, Any],
    store: SketchStore,
    *,
    head: LinearHead | None = None,
    split: str = "all",
    top: int = 5,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Top-``top`` classes of every sketch of a split.

    Returns:
        store indices ``(N,)``, class ids ``(N, top)``, probabilities ``(N, top)``, class names.

    Raises:
        ConfigError: a model without a class head and no ``head`` given.
    """
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from sketchssl.eval.embed import embed_store, training_scale
    from sketchssl.eval.representation import _dataset, is_label_classifier

    if head is not None:
        features, indices = embed_store(method, run_config, store, split=split, progress=progress)
        logits = head(torch.as_tensor(features))
        names = head.class_names
    elif is_label_classifier(method):
        data = dict(run_config.get("data", {}))
        dataset = _dataset(store, data, split, training_scale(run_config, None))
        chunks, index_chunks = [], []
        method.eval()
        with torch.no_grad():
            for batch in tqdm(
                DataLoader(dataset, batch_size=256), desc="classifying", disable=not progress
            ):
                chunks.append(method.logits(batch))
                index_chunks.append(batch["index"])
        logits, indices = torch.cat(chunks), torch.cat(index_chunks).numpy()
        names = _training_class_names(run_config, logits.shape[1])
    else:
        raise ConfigError(
            f"{run_config.get('method')!r} has no class head: fit a linear head on a labelled "
            "store first (sketchssl classify --fit STORE ...) and pass it with --head"
        )
    probabilities = torch.softmax(logits.float(), dim=1)
    values, ids = probabilities.topk(min(top, probabilities.shape[1]), dim=1)
    return np.asarray(indices), ids.numpy(), values.numpy(), names


def _training_class_names(run_config: dict[str, Any], count: int) -> list[str]:
    """The class names of the store a classifier was trained on (generic names if unreadable)."""
    from sketchssl.errors import StoreError

    try:
        names = SketchStore.open(run_config.get("data", {}).get("store", "")).class_names
    except StoreError:
        names = []
    return names if len(names) == count else [f"class {i}" for i in range(count)]


def write_predictions(
    path: str | os.PathLike[str],
    store: SketchStore,
    indices: np.ndarray,
    ids: np.ndarray,
    probabilities: np.ndarray,
    names: list[str],
) -> Path:
    """A CSV: key_id, the true class (if any), then the top-k classes and probabilities."""
    path = Path(path)
    with atomic_write(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        top = ids.shape[1]
        writer.writerow(
            ["store_index", "key_id", "true_class"]
            + [item for k in range(1, top + 1) for item in (f"class_{k}", f"probability_{k}")]
        )
        for row, index in enumerate(indices):
            label = store.label_name(int(index)) or ""
            cells = [int(index), int(store.key_ids[int(index)]), label]
            for k in range(top):
                cells += [names[int(ids[row, k])], f"{float(probabilities[row, k]):.4f}"]
            writer.writerow(cells)
    return path
