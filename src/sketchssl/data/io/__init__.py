"""Readers and writers of sketch files, all yielding :class:`~sketchssl.data.records.SketchRecord`.

Supported formats (dispatched on the file suffix):

* ``.npz``: sketch-rnn files (Ha & Eck 2017), per category or labelled, read without running
  pickled code (:mod:`sketchssl.data.io.npz`);
* ``.ndjson``: QuickDraw simplified or raw drawings, one JSON object per line
  (:mod:`sketchssl.data.io.ndjson`); an ndjson file with a ``<category>.parts.txt`` beside it
  is an SPG part-labelled file (:mod:`sketchssl.data.io.spg`), read with per-point part labels;
* ``.bin``: QuickDraw's binary simplified format (:mod:`sketchssl.data.io.binary`).

Examples:
    >>> from sketchssl.data.io import iter_sketches
    >>> for record in iter_sketches("data/cat.npz", max_drawings=2):  # doctest: +SKIP
    ...     print(record.label, record.split, record.strokes.shape)
    cat train (39, 3)
    cat train (52, 3)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from sketchssl.data.io.binary import iter_binary, write_binary
from sketchssl.data.io.common import DEFAULT_LIMITS, ReadLimits
from sketchssl.data.io.ndjson import iter_ndjson, parse_drawing_line, write_ndjson
from sketchssl.data.io.npz import SPLITS, iter_npz, load_sketchrnn_npz, write_sketchrnn_npz
from sketchssl.data.io.spg import is_spg_file, iter_spg, read_part_names
from sketchssl.data.records import ReadStats, SketchRecord
from sketchssl.errors import SketchFileError

__all__ = [
    "SUPPORTED_SUFFIXES",
    "SPLITS",
    "ReadLimits",
    "DEFAULT_LIMITS",
    "iter_sketches",
    "list_sketch_files",
    "iter_npz",
    "iter_ndjson",
    "iter_binary",
    "iter_spg",
    "is_spg_file",
    "read_part_names",
    "load_sketchrnn_npz",
    "parse_drawing_line",
    "write_sketchrnn_npz",
    "write_ndjson",
    "write_binary",
]

#: File suffixes :func:`iter_sketches` reads.
SUPPORTED_SUFFIXES: tuple[str, ...] = (".npz", ".ndjson", ".bin")


def list_sketch_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files :func:`iter_sketches` would read: ``path`` itself, or a folder's supported files.

    Raises:
        SketchFileError: ``path`` does not exist, has an unsupported suffix, or is a folder
            without supported files.
    """
    path = Path(path)
    supported = ", ".join(SUPPORTED_SUFFIXES)
    if path.is_dir():
        files = sorted(
            child
            for child in path.iterdir()
            if child.is_file()
            and child.suffix in SUPPORTED_SUFFIXES
            and not child.name.startswith(".")
        )
        if not files:
            raise SketchFileError(path, f"folder holds no sketch files ({supported})")
        return files
    if not path.exists():
        raise SketchFileError(path, "no such file or folder")
    if path.suffix not in SUPPORTED_SUFFIXES:
        raise SketchFileError(
            path, f"unknown sketch file type '{path.suffix}'; supported: {supported}"
        )
    return [path]


def _iter_file(
    path: Path, skip_bad: bool, stats: ReadStats, limits: ReadLimits
) -> Iterator[SketchRecord]:
    if path.suffix == ".npz":
        return iter_npz(path, skip_bad=skip_bad, stats=stats, limits=limits)
    if path.suffix == ".ndjson" and is_spg_file(path):
        return iter_spg(path, skip_bad=skip_bad, stats=stats, limits=limits)
    if path.suffix == ".ndjson":
        return iter_ndjson(path, skip_bad=skip_bad, stats=stats, limits=limits)
    return iter_binary(path, skip_bad=skip_bad, stats=stats)


def iter_sketches(
    path: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    stats: ReadStats | None = None,
    max_drawings: int | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Iterator[SketchRecord]:
    """Yield the sketches of a file, or of every supported file in a folder (sorted by name).

    Args:
        path: an ``.npz``, ``.ndjson`` or ``.bin`` file, or a folder of them.
        skip_bad: skip malformed drawings (counted in ``stats``) instead of raising.
        stats: receives the counts of read and skipped drawings.
        max_drawings: stop after this many records (all when None).
        limits: size caps against hostile or broken files.

    Raises:
        SketchFileError: see :func:`list_sketch_files` and the per-format readers; an
            :class:`~sketchssl.errors.UnsafeFileError` for a pickle that would run code.
    """
    if max_drawings is not None and max_drawings < 0:
        raise ValueError(f"max_drawings must be >= 0 or None, got {max_drawings}")
    stats = stats if stats is not None else ReadStats()
    files = list_sketch_files(path)
    yielded = 0
    if max_drawings == 0:
        return
    for file in files:
        for record in _iter_file(file, skip_bad, stats, limits):
            yield record
            yielded += 1
            if max_drawings is not None and yielded >= max_drawings:
                return
