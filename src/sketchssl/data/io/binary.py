"""QuickDraw's binary simplified format (``.bin``): read as stroke-3 records, write.

Format, from https://github.com/googlecreativelab/quickdraw-dataset#the-binary-format (all
little-endian), one record after another with no file header:

    key_id       uint64
    countrycode  2 bytes (ASCII)
    recognized   uint8
    timestamp    uint32 (seconds since the epoch)
    n_strokes    uint16
    per stroke:  n_points uint16, x uint8[n_points], y uint8[n_points]

The file holds one category; its stem is the label.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sketchssl.data.formats import polylines_to_stroke3
from sketchssl.data.io.common import (
    as_int16_stroke3,
    atomic_write,
    label_from_path,
    per_drawing,
)
from sketchssl.data.io.ndjson import drawing_polylines
from sketchssl.data.records import ReadStats, SketchRecord
from sketchssl.errors import SketchFileError, SketchFormatError

__all__ = ["iter_binary", "write_binary"]

_RECORD_HEADER = struct.Struct("<Q2sBIH")  # key_id, countrycode, recognized, timestamp, n_strokes
_COUNT = struct.Struct("<H")


class _Truncated(Exception):
    pass


def _parse_record(data: memoryview, offset: int) -> tuple[int, list[np.ndarray], int]:
    """One record at ``offset``: ``(key_id, strokes as (n, 2) uint8 points, next offset)``."""
    if offset + _RECORD_HEADER.size > len(data):
        raise _Truncated(f"the record header needs {_RECORD_HEADER.size} bytes")
    key_id, _country, _recognized, _timestamp, stroke_count = _RECORD_HEADER.unpack_from(
        data, offset
    )
    offset += _RECORD_HEADER.size
    strokes = []
    for stroke_index in range(stroke_count):
        if offset + _COUNT.size > len(data):
            raise _Truncated(f"stroke {stroke_index} of {stroke_count} has no point count")
        (point_count,) = _COUNT.unpack_from(data, offset)
        offset += _COUNT.size
        end = offset + 2 * point_count
        if end > len(data):
            raise _Truncated(
                f"stroke {stroke_index} of {stroke_count} needs {2 * point_count} bytes of points, "
                f"{len(data) - offset} are left"
            )
        xs = np.frombuffer(data, dtype=np.uint8, count=point_count, offset=offset)
        ys = np.frombuffer(data, dtype=np.uint8, count=point_count, offset=offset + point_count)
        strokes.append(np.stack([xs, ys], axis=1))  # (n, 2)
        offset = end
    return key_id, strokes, offset


def iter_binary(
    path: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    stats: ReadStats | None = None,
) -> Iterator[SketchRecord]:
    """Yield the drawings of a QuickDraw ``.bin`` file as stroke-3 records.

    The record's ``index`` is its 0-based record number and its label the file's stem.

    Args:
        path: the ``.bin`` file.
        skip_bad: skip (and count in ``stats``) drawings without points, and stop at a truncated
            last record with one counted skip, instead of raising.
        stats: receives the counts of read and skipped drawings.

    Raises:
        SketchFileError: the file cannot be read, a record is cut off, or (without ``skip_bad``)
            a drawing has no offsets; the message names the record number and byte offset.
    """
    stats = stats if stats is not None else ReadStats()
    path_text = str(path)
    try:
        content = Path(path).read_bytes()
    except OSError as error:
        raise SketchFileError(path_text, f"cannot read ({error.strerror or error})") from None
    data = memoryview(content)
    label = label_from_path(Path(path_text))
    offset, number = 0, 0
    while offset < len(data):
        location = f"record {number} (byte {offset})"
        try:
            key_id, strokes, next_offset = _parse_record(data, offset)
        except _Truncated as error:
            message = f"truncated record: {error}; the file was cut off"
            if not skip_bad:
                raise SketchFileError(path_text, message, location) from None
            stats.skip(f"{path_text}, {location}: {message}")
            return
        try:
            rows = polylines_to_stroke3([stroke.astype(np.int64) for stroke in strokes])
            sketch = as_int16_stroke3(rows.astype(np.int64))
        except SketchFormatError as error:
            if not skip_bad:
                raise SketchFileError(path_text, str(error), location) from None
            stats.skip(f"{path_text}, {location}: {error}")
        else:
            stats.read += 1
            yield SketchRecord(
                strokes=sketch,
                label=label,
                split=None,
                key_id=int(key_id),
                source=path_text,
                index=number,
            )
        offset = next_offset
        number += 1


def write_binary(
    path: str | os.PathLike[str],
    drawings: Iterable[np.ndarray | Sequence[Any]],
    *,
    key_ids: Sequence[int] | None = None,
    countrycodes: str | Sequence[str] = "US",
    recognized: bool | Sequence[bool] = True,
    timestamps: int | Sequence[int] = 1488326400,
) -> None:
    """Write drawings as a QuickDraw ``.bin`` file, atomically.

    Args:
        path: the file to write (name it ``<category>.bin``: the stem is the label).
        drawings: each a stroke-3 ``(N, 3)`` array (placed so its smallest coordinate is 0) or a
            list of ``(n, 2)`` absolute strokes; coordinates are rounded and must lie in 0..255.
        key_ids: one id per drawing; ``1, 2, 3, ...`` when None.
        countrycodes: two ASCII letters for all drawings, or one per drawing.
        recognized: one flag for all drawings or one per drawing.
        timestamps: seconds since the epoch, for all drawings or one per drawing.

    Raises:
        SketchFormatError: a drawing that does not fit the 0..255 box, or a stroke of more than
            65535 points.
        ValueError: a per-drawing list of the wrong length or a bad country code.
    """
    drawings = list(drawings)
    count = len(drawings)
    keys = list(range(1, count + 1)) if key_ids is None else per_drawing(key_ids, count, "key_ids")
    countries = per_drawing(countrycodes, count, "countrycodes")
    flags = per_drawing(recognized, count, "recognized")
    stamps = per_drawing(timestamps, count, "timestamps")
    chunks = []
    for index, drawing in enumerate(drawings):
        polylines = [np.rint(line).astype(np.int64) for line in drawing_polylines(drawing, index)]
        points = np.concatenate(polylines, axis=0)
        if points.min() < 0 or points.max() > 255:
            raise SketchFormatError(
                f"drawing {index}: coordinates {points.min()}..{points.max()} do not fit the "
                "0..255 box of the binary format; scale it first (quickdraw_simplify does)"
            )
        if len(polylines) > 0xFFFF:
            raise SketchFormatError(f"drawing {index} has more than 65535 strokes")
        country = str(countries[index]).encode("ascii")
        if len(country) != 2:
            raise ValueError(f"drawing {index}: country code must be 2 letters, got {country!r}")
        chunks.append(
            _RECORD_HEADER.pack(
                int(keys[index]),
                country,
                int(bool(flags[index])),
                int(stamps[index]),
                len(polylines),
            )
        )
        for line in polylines:
            if len(line) > 0xFFFF:
                raise SketchFormatError(f"drawing {index}: a stroke has more than 65535 points")
            chunks.append(_COUNT.pack(len(line)))
            chunks.append(line[:, 0].astype(np.uint8).tobytes())
            chunks.append(line[:, 1].astype(np.uint8).tobytes())
    with atomic_write(path) as handle:
        handle.write(b"".join(chunks))
