"""The built-in sample of real QuickDraw drawings: 100 a class of the 20 SPG20 categories.

Shipped with the package so that ``make demo``, the tests and a new user's first commands see
real human drawings without a download. The drawings are Google's Quick, Draw! data (Creative
Commons Attribution 4.0, https://github.com/googlecreativelab/quickdraw-dataset), taken from the
SPG20 files (Li et al., ECCV 2018, as distributed with SketchGNN) and simplified as QuickDraw's
own simplified files are (:mod:`sketchssl.data.io.spg`). Strokes only: the part annotation is
not included.

The file is a labelled sketch-rnn ``.npz`` (``train`` / ``valid`` / ``test`` object arrays of
int16 stroke-3, ``<split>_label`` into ``class_names``, ``<split>_key_id``), so every reader of
``.npz`` files takes it; ``sketchssl data build quickdraw-sample -o sample.store`` names it.
Per class 80 train, 10 valid and 10 test drawings, drawn with a fixed seed from the same splits
of the SPG20 store (so the sample's test drawings are in the SPG20 test split too):
:func:`make_quickdraw_sample` rebuilds the same arrays from ``../shared/data/quickdraw_spg20``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import numpy as np

from sketchssl.errors import StoreError

__all__ = ["SAMPLE_COUNTS", "SAMPLE_SOURCE", "make_quickdraw_sample", "sample_path"]

#: The source name ``sketchssl data build`` accepts for the built-in sample.
SAMPLE_SOURCE = "quickdraw-sample"
#: Drawings a class in each split: train, valid, test.
SAMPLE_COUNTS = (80, 10, 10)
_FILE = "quickdraw_spg20_sample.npz"


def sample_path() -> Path:
    """Where the installed package keeps the sample ``.npz``."""
    return Path(str(resources.files("sketchssl.data") / "builtin" / _FILE))


def make_quickdraw_sample(
    spg_store: str | os.PathLike[str],
    out: str | os.PathLike[str],
    counts: tuple[int, int, int] = SAMPLE_COUNTS,
    seed: int = 0,
) -> dict[str, int]:
    """Write the sample from a store built from the SPG20 files (default 600 / 50 / 50 split).

    For every class and split, the first ``counts`` drawings of a seeded permutation of that
    class's drawings in that split.

    Returns:
        Drawings written per split.
    """
    from sketchssl.data.io.npz import write_sketchrnn_npz
    from sketchssl.data.store import SPLIT_NAMES, SketchStore

    store = SketchStore.open(spg_store)
    labels, splits = np.asarray(store.labels), np.asarray(store.splits)
    generator = np.random.default_rng(seed)
    chosen: dict[str, list[int]] = {name: [] for name in SPLIT_NAMES}
    for label in range(len(store.class_names)):
        for code, name in enumerate(SPLIT_NAMES):
            members = np.flatnonzero((labels == label) & (splits == code))
            if len(members) < counts[code]:
                raise StoreError(
                    f"{store.path}: class {store.class_names[label]!r} has {len(members)} "
                    f"{name} drawings, the sample takes {counts[code]}"
                )
            picked = generator.permutation(members)[: counts[code]]
            chosen[name].extend(int(index) for index in np.sort(picked))
    arrays: dict[str, object] = {"class_names": np.array(store.class_names)}
    for name, indices in chosen.items():
        arrays[f"{name}_label"] = labels[indices].astype(np.int16)
        arrays[f"{name}_key_id"] = np.asarray(store.key_ids)[indices].astype(np.int64)
    write_sketchrnn_npz(
        out, {name: [store[i] for i in indices] for name, indices in chosen.items()}, **arrays
    )
    return {name: len(indices) for name, indices in chosen.items()}
