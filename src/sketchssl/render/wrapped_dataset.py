"""The base of the datasets that wrap a :class:`~sketchssl.render.views.SketchDataset`.

Patch views, corrupted-sequence views and pair views each hold the plain dataset as ``base`` and
add views to its items. They expose the base's selection and preprocessing (length, ``indices``,
``scale``, ``store``), so code written for a SketchDataset (samplers reading lengths, evaluation
subsampling the gallery) works on the wrapper.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset


class WrappedDataset(Dataset):
    """A dataset over ``self.base`` (set by the subclass) that shares its selection."""

    base: Any

    def __len__(self) -> int:
        return len(self.base)

    @property
    def indices(self) -> np.ndarray:
        """Store indices of the items (the base dataset's; settable)."""
        return self.base.indices

    @indices.setter
    def indices(self, value: np.ndarray) -> None:
        self.base.indices = value

    @property
    def scale(self) -> float | None:
        """The base dataset's global scale factor."""
        return self.base.scale

    @property
    def store(self):  # noqa: ANN201 - the base dataset's SketchStore
        """The base dataset's store."""
        return self.base.store
