"""Pieces every reader and writer shares: limits, stroke checks, atomic writes, label names."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from sketchssl.atomic import atomic_write as atomic_file
from sketchssl.data.formats import validate_stroke3
from sketchssl.errors import SketchFileError, SketchFormatError

__all__ = [
    "ReadLimits",
    "DEFAULT_LIMITS",
    "as_int16_stroke3",
    "atomic_write",
    "label_from_path",
    "per_drawing",
]

GIB = 1 << 30
MIB = 1 << 20
INT16_MIN, INT16_MAX = int(np.iinfo(np.int16).min), int(np.iinfo(np.int16).max)


@dataclass(frozen=True)
class ReadLimits:
    """Caps that keep a hostile or broken file from exhausting memory.

    Attributes:
        max_member_bytes: largest decompressed size of one ``.npy`` member of an ``.npz`` file,
            as declared by the zip directory and as actually read.
        max_line_bytes: longest ndjson line; a longer line is refused without being read whole.
        max_header_bytes: largest ``.npy`` header (numpy's own default is 10,000).
        max_total_bytes: largest decompressed size of all members of an ``.npz`` file together,
            as declared by the zip directory (many members each under ``max_member_bytes``
            would otherwise add up without bound).
    """

    max_member_bytes: int = 2 * GIB
    max_line_bytes: int = 64 * MIB
    max_header_bytes: int = 10_000
    max_total_bytes: int = 4 * GIB

    def __post_init__(self) -> None:
        for name in ("max_member_bytes", "max_line_bytes", "max_header_bytes", "max_total_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"ReadLimits.{name} must be a positive int, got {value!r}")


DEFAULT_LIMITS = ReadLimits()


def as_int16_stroke3(sketch: object, where: str | None = None) -> np.ndarray:
    """Check an integer stroke-3 array and return it as int16 ``(N, 3)``.

    Args:
        sketch: the candidate array.
        where: a prefix for error messages (the caller may add the location itself instead).

    Raises:
        SketchFormatError: not integers, wrong shape, no points, pen values other than 0 / 1, or
            offsets outside the int16 range.
    """
    prefix = f"{where}: " if where else ""
    array = validate_stroke3(sketch, where=where)
    if not np.issubdtype(array.dtype, np.integer):
        raise SketchFormatError(f"{prefix}stroke-3 data must be integers, got dtype {array.dtype}")
    if array.dtype != np.int16:
        low, high = int(array.min()), int(array.max())
        if low < INT16_MIN or high > INT16_MAX:
            raise SketchFormatError(
                f"{prefix}offsets {low}..{high} do not fit in int16 "
                f"({INT16_MIN}..{INT16_MAX}); scale the drawing down first"
            )
        array = array.astype(np.int16)
    return array


def label_from_path(path: Path) -> str:
    """The class name a per-category file stands for: ``cat.npz``, ``cat.full.npz`` -> ``cat``."""
    name = path.name
    for suffix in (".full.npz", ".npz", ".ndjson", ".bin"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file beside ``path`` for binary writing; move it into place on success.

    A reader never sees a half-written file: the temporary file replaces ``path`` with
    ``os.replace`` only after the block finished without an exception, and is removed otherwise.
    """
    target = Path(path)
    if not target.parent.is_dir():
        raise SketchFileError(target, "cannot write: the folder does not exist")
    with atomic_file(target, "wb", make_parents=False) as handle:
        yield handle


def per_drawing(value: Any, count: int, name: str) -> list[Any]:
    """One value per drawing: a scalar repeated ``count`` times, or a list of that length."""
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return [value] * count
    values = list(value)
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} entries for {count} drawings")
    return values
