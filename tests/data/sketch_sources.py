"""Small sketch-rnn style .npz sources written by the store and build tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def random_sketch(rng: np.random.Generator, length: int) -> np.ndarray:
    sketch = np.zeros((length, 3), dtype=np.int16)
    sketch[:, 0:2] = rng.integers(-60, 61, size=(length, 2))
    sketch[:, 2] = rng.random(length) < 0.2
    sketch[-1, 2] = 1
    return sketch


def write_npz(path: Path, splits: dict[str, list[np.ndarray]]) -> None:
    """A sketch-rnn style .npz: object arrays of int16 (N, 3), as the published files are."""
    arrays = {}
    for name, sketches in splits.items():
        holder = np.empty(len(sketches), dtype=object)
        holder[:] = sketches
        arrays[name] = holder
    np.savez(path, **arrays)


def make_sources(folder: Path, seed: int = 0) -> dict[str, dict[str, list[np.ndarray]]]:
    """cat.npz (6/2/3 sketches) and bus.npz (5/3/1) of random sketches."""
    rng = np.random.default_rng(seed)
    sources = {}
    for name, sizes in (("cat", (6, 2, 3)), ("bus", (5, 3, 1))):
        splits = {
            split: [random_sketch(rng, int(rng.integers(1, 40))) for _ in range(size)]
            for split, size in zip(("train", "valid", "test"), sizes, strict=True)
        }
        write_npz(folder / f"{name}.npz", splits)
        sources[name] = splits
    return sources
