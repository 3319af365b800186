"""QuickDraw ndjson files (one JSON drawing per line): read as stroke-3 records, write.

Format: https://github.com/googlecreativelab/quickdraw-dataset#the-raw-moderated-dataset. Each line
is an object with ``word``, ``countrycode``, ``timestamp``, ``recognized``, ``key_id`` and
``drawing``. In the *simplified* files ``drawing`` is ``[[xs, ys], ...]`` (ints 0-255, see
:func:`sketchssl.data.simplify.quickdraw_simplify`); in the *raw* files each stroke is
``[xs, ys, ts]`` in original pixels and milliseconds. The kind is detected per line; raw drawings
are simplified as Google documents before conversion, so both give the same kind of record.

Lines are read in binary and decoded one at a time, so a bad byte, a broken line or an oversized
line is reported with its line number and never read whole into memory.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, BinaryIO

import numpy as np

from sketchssl.data.formats import polylines_to_stroke3, stroke3_to_polylines
from sketchssl.data.io.common import (
    DEFAULT_LIMITS,
    ReadLimits,
    as_int16_stroke3,
    atomic_write,
    per_drawing,
)
from sketchssl.data.records import ReadStats, SketchRecord
from sketchssl.data.simplify import quickdraw_simplify
from sketchssl.errors import SketchFileError, SketchFormatError

__all__ = ["iter_ndjson", "parse_drawing_line", "write_ndjson", "drawing_polylines"]

_CHUNK = 1 << 20


class _BadLine(Exception):
    """One line cannot be turned into a sketch; the message says why."""


def _reject_constant(name: str) -> float:
    raise _BadLine(f"JSON holds the non-finite number {name}")


def _numbers(values: Any, what: str) -> np.ndarray:
    if not isinstance(values, list) or any(
        isinstance(value, bool) or not isinstance(value, (int, float)) for value in values
    ):
        raise _BadLine(f"{what} must be a flat list of numbers")
    try:
        array = np.asarray(values, dtype=np.float64)
    except OverflowError:
        raise _BadLine(f"{what} holds a number too large for a coordinate") from None
    if not np.isfinite(array).all():
        raise _BadLine(f"{what} holds a non-finite number")
    return array


def _strokes(drawing: Any) -> tuple[list[np.ndarray], bool]:
    """The drawing's strokes as ``(n, 2)`` points and whether it is in the raw (timed) format."""
    if not isinstance(drawing, list) or not drawing:
        raise _BadLine("'drawing' must be a non-empty list of strokes")
    strokes, raw = [], False
    for index, stroke in enumerate(drawing):
        if not isinstance(stroke, list) or len(stroke) not in (2, 3):
            raise _BadLine(f"stroke {index} must be [xs, ys] (simplified) or [xs, ys, ts] (raw)")
        columns = [_numbers(values, f"stroke {index}") for values in stroke]
        if len({len(column) for column in columns}) != 1:
            lengths = "/".join(str(len(column)) for column in columns)
            raise _BadLine(f"stroke {index} has coordinate lists of different lengths {lengths}")
        raw = raw or len(stroke) == 3
        strokes.append(np.stack(columns[:2], axis=1))  # (n, 2)
    return strokes, raw


def _looks_like_spg(drawing: Any) -> bool:
    """Strokes of three integer lists, as in SPG files (raw QuickDraw's third list is times)."""
    return (
        isinstance(drawing, list)
        and bool(drawing)
        and all(
            isinstance(stroke, list)
            and len(stroke) == 3
            and isinstance(stroke[2], list)
            and all(isinstance(value, int) and not isinstance(value, bool) for value in stroke[2])
            for stroke in drawing
        )
    )


def parse_drawing_line(text: str) -> tuple[np.ndarray, str, int | None]:
    """Parse one ndjson line into ``(stroke-3 int16, word, key_id)``.

    Raises:
        SketchFormatError: the line is not a well-formed QuickDraw drawing (the message says why).
    """
    try:
        try:
            item = json.loads(text, parse_constant=_reject_constant)
        except ValueError as error:  # JSONDecodeError, or an integer of too many digits
            raise _BadLine(f"not valid JSON ({error})") from None
        except RecursionError:
            raise _BadLine("JSON nested too deeply") from None
        if not isinstance(item, dict):
            raise _BadLine("a line must be a JSON object")
        if "drawing" not in item:
            raise _BadLine("missing key 'drawing'")
        if "word" not in item:
            hint = ""
            if _looks_like_spg(item["drawing"]):
                hint = (
                    "; its strokes look like SPG part-labelled ones ([xs, ys, parts]): put the "
                    "category's part names, one a line, in <category>.parts.txt beside this file"
                )
            raise _BadLine(f"missing key 'word'{hint}")
        word = item["word"]
        if not isinstance(word, str) or not word:
            raise _BadLine("'word' must be a non-empty string")
        key_id = item.get("key_id")
        if key_id is not None:
            try:
                key_id = int(key_id)
            except (TypeError, ValueError):
                raise _BadLine(f"'key_id' {key_id!r} is not an integer") from None
        strokes, raw = _strokes(item["drawing"])
        if raw:
            strokes = quickdraw_simplify(strokes)
        rows = polylines_to_stroke3([np.rint(stroke) for stroke in strokes])
        # Clip before the cast (a float beyond int64 has no defined cast); whatever was clipped
        # is far outside int16, which as_int16_stroke3 reports.
        return as_int16_stroke3(np.clip(rows, -(2**62), 2**62).astype(np.int64)), word, key_id
    except _BadLine as error:
        raise SketchFormatError(str(error)) from None


def _lines(handle: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None, bool]]:
    """``(line number, bytes or None when over the limit, ends with a newline)`` per line."""
    number = 0
    while True:
        line = handle.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit and not line.endswith(b"\n"):
            # Too long: skip to the end of this line in bounded chunks, never holding all of it.
            while True:
                rest = handle.readline(_CHUNK)
                if not rest or rest.endswith(b"\n"):
                    break
            yield number, None, True
            continue
        yield number, line, line.endswith(b"\n")


def iter_ndjson(
    path: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    stats: ReadStats | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Iterator[SketchRecord]:
    """Yield the drawings of a QuickDraw ndjson file (simplified or raw) as stroke-3 records.

    Blank lines are ignored. The record's ``index`` is its 1-based line number, its label the
    line's ``word`` and its ``key_id`` the integer ``key_id``.

    Args:
        path: the ``.ndjson`` file.
        skip_bad: skip (and count in ``stats``) malformed lines instead of raising.
        stats: receives the counts of read and skipped drawings.
        limits: ``max_line_bytes`` caps the length of one line.

    Raises:
        SketchFileError: the file cannot be opened, or (without ``skip_bad``) a line is not
            UTF-8, not JSON, too long, cut off, or not a valid drawing; the message names the line.
    """
    stats = stats if stats is not None else ReadStats()
    path_text = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise SketchFileError(path_text, f"cannot open ({error.strerror or error})") from None
    with handle:
        for number, line, complete in _lines(handle, limits.max_line_bytes):
            try:
                if line is None:
                    raise SketchFormatError(
                        f"line longer than {limits.max_line_bytes} bytes; raise "
                        "ReadLimits.max_line_bytes if it is genuine"
                    )
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise SketchFormatError(
                        f"not valid UTF-8 (byte {error.start} of the line)"
                    ) from None
                if not text.strip():
                    continue
                try:
                    strokes, word, key_id = parse_drawing_line(text)
                except SketchFormatError as error:
                    if not complete:
                        raise SketchFormatError(
                            f"{error}; the last line has no newline, the file may have been cut "
                            "off while being written"
                        ) from None
                    raise
            except SketchFormatError as error:
                if not skip_bad:
                    raise SketchFileError(path_text, str(error), f"line {number}") from None
                stats.skip(f"{path_text}, line {number}: {error}")
                continue
            stats.read += 1
            yield SketchRecord(
                strokes=strokes,
                label=word,
                split=None,
                key_id=key_id,
                source=path_text,
                index=number,
            )


def drawing_polylines(drawing: np.ndarray | Sequence[Any], index: int = 0) -> list[np.ndarray]:
    """Absolute ``(n, 2)`` strokes of a drawing given as stroke-3 or as polylines.

    A stroke-3 array (``(N, 3)``) is drawn from an origin chosen so the smallest coordinate is 0,
    so the points are non-negative; the first absolute point stroke-3 drops comes back as that
    origin. In polylines the last point always ends a stroke, as if the last row's pen flag
    were 1 (it is in every QuickDraw-derived sketch). Polylines (a list of ``(n, 2)`` arrays)
    are returned as float64 arrays.
    """
    if isinstance(drawing, np.ndarray) and drawing.ndim == 2 and drawing.shape[1] == 3:
        lines = stroke3_to_polylines(as_int16_stroke3(drawing, where=f"drawing {index}"))
        low = np.concatenate(lines, axis=0).min(axis=0)
        return [line - low for line in lines]
    lines = []
    for stroke_index, stroke in enumerate(drawing):
        array = np.asarray(stroke, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != 2 or not np.isfinite(array).all():
            raise SketchFormatError(
                f"drawing {index}, stroke {stroke_index}: need finite (n, 2) points, got "
                f"shape {array.shape}"
            )
        lines.append(array)
    if not lines:
        raise SketchFormatError(f"drawing {index} has no strokes")
    return lines


def write_ndjson(
    path: str | os.PathLike[str],
    drawings: Iterable[np.ndarray | Sequence[Any]],
    *,
    words: str | Sequence[str],
    key_ids: Sequence[int] | None = None,
    timings: Sequence[Sequence[Sequence[float]]] | None = None,
    countrycodes: str | Sequence[str] = "US",
    recognized: bool | Sequence[bool] = True,
    timestamps: str | Sequence[str] = "2017-03-01 00:00:00.00000 UTC",
) -> None:
    """Write drawings as a QuickDraw ndjson file, atomically.

    Without ``timings`` the lines are in the *simplified* format (integer coordinates, rounded);
    with ``timings`` in the *raw* format, ``[xs, ys, ts]`` per stroke with float coordinates.

    Args:
        path: the file to write.
        drawings: each a stroke-3 ``(N, 3)`` array or a list of ``(n, 2)`` absolute strokes (see
            :func:`drawing_polylines`).
        words: one class name for all drawings, or one per drawing.
        key_ids: one id per drawing; ``1, 2, 3, ...`` when None.
        timings: per drawing, per stroke, one time (ms) per point of that stroke.
        countrycodes: one value for all drawings or one per drawing.
        recognized: one flag for all drawings or one per drawing.
        timestamps: one time string for all drawings or one per drawing.

    Raises:
        SketchFormatError: a malformed drawing, or timings that do not match the strokes.
        ValueError: a per-drawing list of the wrong length.
    """
    drawings = list(drawings)
    count = len(drawings)
    word_list = per_drawing(words, count, "words")
    key_list = (
        list(range(1, count + 1)) if key_ids is None else per_drawing(key_ids, count, "key_ids")
    )
    timing_list = None if timings is None else per_drawing(timings, count, "timings")
    country_list = per_drawing(countrycodes, count, "countrycodes")
    recognized_list = per_drawing(recognized, count, "recognized")
    stamp_list = per_drawing(timestamps, count, "timestamps")
    lines = []
    for index, drawing in enumerate(drawings):
        polylines = drawing_polylines(drawing, index)
        if timing_list is None:
            strokes = [
                [np.rint(line[:, 0]).astype(int).tolist(), np.rint(line[:, 1]).astype(int).tolist()]
                for line in polylines
            ]
        else:
            times = timing_list[index]
            if len(times) != len(polylines) or any(
                len(stroke_times) != len(line)
                for stroke_times, line in zip(times, polylines, strict=True)
            ):
                raise SketchFormatError(
                    f"drawing {index}: timings must give one time per point of each stroke"
                )
            strokes = [
                [line[:, 0].tolist(), line[:, 1].tolist(), [float(t) for t in stroke_times]]
                for line, stroke_times in zip(polylines, times, strict=True)
            ]
            if any(not math.isfinite(t) for stroke in strokes for t in stroke[2]):
                raise SketchFormatError(f"drawing {index}: timings hold a non-finite number")
        record = {
            "word": word_list[index],
            "countrycode": country_list[index],
            "timestamp": stamp_list[index],
            "recognized": bool(recognized_list[index]),
            "key_id": str(int(key_list[index])),
            "drawing": strokes,
        }
        lines.append(json.dumps(record, separators=(",", ":"), allow_nan=False))
    with atomic_write(path) as handle:
        handle.write(("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))
