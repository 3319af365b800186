"""Shared fixtures: the real sketch data in ../shared/data and small synthetic sketches."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]

# The tests use small tensors: one intra-op thread avoids oversubscribing a 2-core machine
# (DataLoader workers, DDP processes) and makes timings steadier.
torch.set_num_threads(1)
os.environ["SKETCHSSL_THREADS"] = "1"  # what trainer.threads / eval --threads "auto" then mean


def shared_data_dir() -> Path | None:
    """``$SKETCHSSL_DATA`` or ``../shared/data`` beside the repository, if it exists."""
    candidates = []
    if os.environ.get("SKETCHSSL_DATA"):
        candidates.append(Path(os.environ["SKETCHSSL_DATA"]))
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real QuickDraw / sketch-rnn data. Under CI=true its absence is a failure, not a skip."""
    path = shared_data_dir()
    if path is None:
        message = (
            "real sketch data not found: set SKETCHSSL_DATA or put shared/data beside the repo"
        )
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def square_sketch() -> np.ndarray:
    """A hand-made stroke-3 sketch: a 10x10 square drawn from the origin, then a 2-point tick."""
    return np.array(
        [
            [10, 0, 0],
            [0, 10, 0],
            [-10, 0, 0],
            [0, -10, 1],  # back at the origin, pen lifts
            [3, 3, 0],  # move to (3, 3): first point of stroke 2
            [4, 4, 1],  # draw to (7, 7)
        ],
        dtype=np.int16,
    )
