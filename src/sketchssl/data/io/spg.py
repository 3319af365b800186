"""SPG part-labelled QuickDraw drawings: ``<category>.ndjson`` with ``<category>.parts.txt``.

The SPG data set (Li, Zhang, Song, Xiang, "Universal Sketch Perceptual Grouping", ECCV 2018)
labels every point of QuickDraw drawings with a semantic part; SketchGNN (Yang et al. 2021,
github sYeaLumin/SketchGNN) distributes it as one ndjson file a category. Each line is an
object ``{"i": N, "key_id": "...", "drawing": [[xs, ys, parts], ...]}``: one triple a stroke
(a few drawings repeat the part list, ``[xs, ys, parts, parts]``, which is accepted),
integer coordinates in 0..255 at the raw point density (not RDP-simplified), ``parts[i]`` the
part index of point ``i``. The file has no ``word``: the category is the file name. The part
names, one a line in index order, are in ``<category>.parts.txt`` beside it.

Drawings are simplified as QuickDraw's own simplified files are (align, scale to 255, resample
at 1 px, RDP epsilon 2: :func:`~sketchssl.data.simplify.quickdraw_simplify_labelled`), and each
kept point keeps its part label, so a record's ``parts`` line up with its stroke-3 rows (row
``r`` ends at point ``r + 1``; the first point is the implicit origin, as in stroke-3).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sketchssl.data.formats import polylines_to_stroke3
from sketchssl.data.io.common import DEFAULT_LIMITS, ReadLimits, as_int16_stroke3, label_from_path
from sketchssl.data.records import ReadStats, SketchRecord
from sketchssl.data.simplify import quickdraw_simplify_labelled
from sketchssl.errors import SketchFileError, SketchFormatError

__all__ = [
    "MAX_PARTS",
    "PARTS_SUFFIX",
    "is_spg_file",
    "iter_spg",
    "parse_spg_line",
    "parts_file_for",
    "read_part_names",
]

PARTS_SUFFIX = ".parts.txt"
#: Part labels are stored as int8; -1 means "no part label".
MAX_PARTS = 127


def parts_file_for(path: str | os.PathLike[str]) -> Path:
    """The part-name file beside an SPG ndjson file: ``cat.ndjson -> cat.parts.txt``."""
    path = Path(path)
    return path.with_name(label_from_path(path) + PARTS_SUFFIX)


def read_part_names(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The part names of an SPG ``<category>.parts.txt``, one a line, in index order.

    Blank lines at the end are ignored (some SPG files end with several).

    Raises:
        SketchFileError: the file is missing, not UTF-8, empty, has a blank name between two
            names, or names more than :data:`MAX_PARTS` parts.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise SketchFileError(
            path,
            "missing part-name file: an SPG ndjson file needs its part names, one a line, "
            "in this file beside it",
        ) from None
    except UnicodeDecodeError as error:
        raise SketchFileError(path, f"not valid UTF-8 (byte {error.start})") from None
    except OSError as error:
        raise SketchFileError(path, f"cannot open ({error.strerror or error})") from None
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()
    if not names:
        raise SketchFileError(path, "no part names in this file (one name a line)")
    for number, name in enumerate(names, start=1):
        if not name:
            raise SketchFileError(path, "blank part name between two names", f"line {number}")
    if len(names) > MAX_PARTS:
        raise SketchFileError(path, f"{len(names)} part names; at most {MAX_PARTS} are supported")
    return tuple(names)


class _BadLine(Exception):
    """One line cannot be turned into a labelled sketch; the message says why."""


def _integers(values: Any, what: str) -> np.ndarray:
    if not isinstance(values, list) or not values:
        raise _BadLine(f"{what} must be a non-empty flat list of integers")
    if any(isinstance(value, bool) or not isinstance(value, int) for value in values):
        bad = next(
            value for value in values if isinstance(value, bool) or not isinstance(value, int)
        )
        raise _BadLine(f"{what} holds {bad!r}; SPG coordinates and part labels are integers")
    if max(abs(value) for value in values) >= 2**31:
        raise _BadLine(f"{what} holds an integer too large for a coordinate")
    return np.asarray(values, dtype=np.int64)


def parse_spg_line(
    text: str, part_count: int, parts_file: str = "the parts file"
) -> tuple[np.ndarray, np.ndarray, int | None]:
    """Parse one SPG line into ``(stroke-3 int16 (N, 3), parts int8 (N,), key_id)``.

    Args:
        text: the JSON line.
        part_count: number of names in the category's parts file; part labels must lie in
            ``0 .. part_count - 1``.
        parts_file: the parts file's name, for messages.

    Raises:
        SketchFormatError: the line is not a well-formed SPG drawing (the message says why).
    """
    try:
        try:
            item = json.loads(text)
        except ValueError as error:
            raise _BadLine(f"not valid JSON ({error})") from None
        except RecursionError:
            raise _BadLine("JSON nested too deeply") from None
        if not isinstance(item, dict):
            raise _BadLine("a line must be a JSON object")
        if "drawing" not in item:
            raise _BadLine("missing key 'drawing'")
        key_id = item.get("key_id")
        if key_id is not None:
            try:
                key_id = int(key_id)
            except (TypeError, ValueError):
                raise _BadLine(f"'key_id' {key_id!r} is not an integer") from None
        drawing = item["drawing"]
        if not isinstance(drawing, list) or not drawing:
            raise _BadLine("'drawing' must be a non-empty list of strokes")
        strokes, labels = [], []
        for index, stroke in enumerate(drawing):
            # 31 drawings of the SPG20 files repeat the part list as a 4th entry: accept
            # [xs, ys, parts, parts], refuse a 4th list that differs
            if isinstance(stroke, list) and len(stroke) == 4 and stroke[3] == stroke[2]:
                stroke = stroke[:3]
            if not isinstance(stroke, list) or len(stroke) != 3:
                raise _BadLine(
                    f"stroke {index} must be [xs, ys, parts] (or [xs, ys, parts, parts])"
                )
            xs = _integers(stroke[0], f"stroke {index} xs")
            ys = _integers(stroke[1], f"stroke {index} ys")
            parts = _integers(stroke[2], f"stroke {index} parts")
            if not len(xs) == len(ys) == len(parts):
                raise _BadLine(
                    f"stroke {index} has {len(xs)} xs, {len(ys)} ys and {len(parts)} part labels; "
                    "each point needs one of each"
                )
            outside = parts[(parts < 0) | (parts >= part_count)]
            if len(outside):
                raise _BadLine(
                    f"stroke {index}: part index {int(outside[0])} outside {parts_file} "
                    f"({part_count} parts: 0..{part_count - 1})"
                )
            strokes.append(np.stack([xs, ys], axis=1).astype(np.float64))  # (n, 2)
            labels.append(parts)
        try:
            points, kept = quickdraw_simplify_labelled(strokes, labels)
            rows = polylines_to_stroke3(points)
        except SketchFormatError as error:
            raise _BadLine(str(error)) from None
        # stroke-3 drops the first point: row r is the step to point r + 1
        row_parts = np.concatenate(kept)[1:].astype(np.int8)
        return as_int16_stroke3(rows.astype(np.int64)), row_parts, key_id
    except _BadLine as error:
        raise SketchFormatError(str(error)) from None


def iter_spg(
    path: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    stats: ReadStats | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Iterator[SketchRecord]:
    """Yield the drawings of an SPG ndjson file as stroke-3 records with per-row part labels.

    The label is the file's category with QuickDraw's spelling (``alarm_clock.ndjson`` ->
    ``alarm clock``, so SPG and other QuickDraw files name a class alike), ``index`` the
    1-based line number, ``part_names`` the names of ``<category>.parts.txt``.

    Raises:
        SketchFileError: the parts file is missing or malformed, the file cannot be opened, or
            (without ``skip_bad``) a line is not a valid SPG drawing; the message names the
            file and the line.
    """
    from sketchssl.data.io.ndjson import _lines

    stats = stats if stats is not None else ReadStats()
    path = Path(path)
    parts_path = parts_file_for(path)
    names = read_part_names(parts_path)
    # QuickDraw's category names have spaces ("alarm clock"); SPG's file names underscores
    label = label_from_path(path).replace("_", " ")
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except OSError as error:
        raise SketchFileError(path, f"cannot open ({error.strerror or error})") from None
    with handle:
        for number, line, _complete in _lines(handle, limits.max_line_bytes):
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
                strokes, parts, key_id = parse_spg_line(text, len(names), parts_path.name)
            except SketchFormatError as error:
                if not skip_bad:
                    raise SketchFileError(path, str(error), f"line {number}") from None
                stats.skip(f"{path}, line {number}: {error}")
                continue
            stats.read += 1
            yield SketchRecord(
                strokes=strokes,
                label=label,
                split=None,
                key_id=key_id,
                source=str(path),
                index=number,
                parts=parts,
                part_names=names,
            )


def is_spg_file(path: str | os.PathLike[str]) -> bool:
    """Whether an ``.ndjson`` file is read as SPG: its ``<category>.parts.txt`` lies beside it."""
    path = Path(path)
    return path.suffix == ".ndjson" and parts_file_for(path).is_file()
