"""Build a :class:`~sketchssl.data.store.SketchStore` from sketch files, in parallel, atomically.

Source files are read one task per file with ``concurrent.futures.ProcessPoolExecutor`` (QuickDraw
comes sharded per category, so the work is embarrassingly parallel); each worker returns compact
arrays. The store is written into a temporary sibling folder ``.NAME.tmp-<pid>-<random>``, synced
to disk and renamed into place, so an interrupted build never leaves a half store under its name.
Replacing an existing store swaps the two folders atomically where the system can
(Linux ``renameat2(RENAME_EXCHANGE)``), else renames the old one aside first.

Records whose source fixes no split (ndjson, ``.bin``, doodles) get one from a hash of their
``key_id`` (or source name and index) and ``split_seed``, so rebuilding gives the same split:
by ``split_ratios`` (each record on its own), or by ``split_counts`` (per class: the records in
hash order, the first ``valid`` to valid, the next ``test`` to test, the next ``train`` to train,
the rest left out; a class with fewer records than the three counts is split in their
proportion). SPG part-labelled sources use ``split_counts`` = 600 / 50 / 50 unless told
otherwise, the split the SPG20 benchmarks use.

Records that share a QuickDraw ``key_id`` are stored once: a copy with part labels is
preferred, then the first in source order (the 315 SPG20 drawings that are also in the
QuickDraw mini set, say). The manifest counts what was dropped.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from sketchssl import __version__
from sketchssl.data.folder_swap import clean_stale_builds, fsync_path, install_folder
from sketchssl.data.records import ReadStats
from sketchssl.data.store import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MANIFEST_NAME,
    SPLIT_CODES,
    SPLIT_NAMES,
    SketchStore,
    file_sha256,
)
from sketchssl.errors import SketchFileError, SketchFormatError, StoreError

__all__ = [
    "BuildReport",
    "DEFAULT_SPG_SPLIT_COUNTS",
    "build_store",
    "expand_sources",
    "hash_split",
    "hash_unit",
    "report_dict",
]

#: Per-class train / valid / test counts of SPG sources: 700 drawings a class -> 600 / 50 / 50.
DEFAULT_SPG_SPLIT_COUNTS = (600, 50, 50)
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_NPY_HEADER_BYTES = 128  # header size numpy writes for a (P, 3) int16 array


@dataclass
class BuildReport:
    """What :func:`build_store` wrote.

    Attributes:
        path: the store folder.
        num_sketches: sketches stored.
        num_points: stroke-3 rows stored.
        splits: sketches per split.
        num_classes: number of class names.
        skipped: per source, sketches skipped as unreadable (with ``skip_bad``).
        messages: the first reader messages about skipped sketches.
        dropped_too_long: sketches left out because they have more than ``max_len`` points.
        duplicates_dropped: sketches left out because another copy (same ``key_id``) is stored.
        left_out_by_counts: sketches beyond their class's ``split_counts``.
        short_classes: classes with fewer sketches than the split counts (split in proportion).
        seconds: wall-clock time of the build.
    """

    path: Path
    num_sketches: int
    num_points: int
    splits: dict[str, int]
    num_classes: int
    skipped: dict[str, int] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)
    dropped_too_long: int = 0
    duplicates_dropped: int = 0
    left_out_by_counts: int = 0
    short_classes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """A few human-readable lines summarising the build."""
        split_text = ", ".join(f"{name} {count}" for name, count in self.splits.items())
        lines = [
            f"built {self.path}: {self.num_sketches} sketches ({split_text}), "
            f"{self.num_classes} classes, {self.num_points} points in {self.seconds:.1f} s",
        ]
        if self.dropped_too_long:
            lines.append(f"left out {self.dropped_too_long} sketches longer than max_len")
        if self.duplicates_dropped:
            lines.append(
                f"dropped {self.duplicates_dropped} duplicates (same key_id as a stored sketch)"
            )
        if self.left_out_by_counts:
            lines.append(
                f"left out {self.left_out_by_counts} sketches beyond their class's split counts"
            )
        if self.short_classes:
            shown = ", ".join(self.short_classes[:5])
            more = f" and {len(self.short_classes) - 5} more" if len(self.short_classes) > 5 else ""
            lines.append(
                f"{len(self.short_classes)} classes have fewer sketches than the split counts and "
                f"were split in proportion: {shown}{more}"
            )
        total_skipped = sum(self.skipped.values())
        if total_skipped:
            lines.append(
                f"skipped {total_skipped} unreadable sketches in {len(self.skipped)} files"
            )
            lines.extend(f"  {message}" for message in self.messages[:5])
        return lines


@dataclass
class _Chunk:
    """One source read by a worker, as compact arrays (cheap to send between processes)."""

    source: dict[str, Any]
    points: np.ndarray  # (P, 3) int16
    lengths: np.ndarray  # (n,) int64
    label_names: list[str]
    label_codes: np.ndarray  # (n,) int32 into label_names, -1 unlabelled
    splits: np.ndarray  # (n,) uint8, by split_ratios where the source fixes none
    split_fixed: np.ndarray  # (n,) bool: the source fixed the split
    units: np.ndarray  # (n,) float64 in [0, 1): the record's split hash
    key_ids: np.ndarray  # (n,) int64
    parts: np.ndarray | None  # (P,) int8 part labels of the rows, None if no record has any
    has_parts: np.ndarray  # (n,) bool
    part_names: dict[str, tuple[str, ...]]  # class -> part names
    stats: ReadStats
    dropped_too_long: int


# ------------------------------------------------------------------------------------- sources


def _parse_doodles(source: str) -> tuple[int, int] | None:
    """``doodles[:PER_CLASS[:SEED]]`` -> (per_class, seed); None for any other source."""
    parts = source.split(":")
    if parts[0] != "doodles" or len(parts) > 3:
        return None
    try:
        per_class = int(parts[1]) if len(parts) > 1 else 100
        seed = int(parts[2]) if len(parts) > 2 else 0
    except ValueError:
        raise StoreError(
            f"source {source!r}: write doodles, doodles:PER_CLASS or doodles:PER_CLASS:SEED "
            "with whole numbers"
        ) from None
    if per_class < 1:
        raise StoreError(f"source {source!r}: PER_CLASS must be at least 1")
    return per_class, seed


def expand_sources(sources: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Files (directories expanded to their sketch files) and doodle specs, sorted, unique.

    Raises:
        StoreError: a source does not exist or a directory holds no sketch files.
    """
    from sketchssl.data.io import SUPPORTED_SUFFIXES
    from sketchssl.data.quickdraw_sample import SAMPLE_SOURCE, sample_path

    expanded: set[str] = set()
    for source in sources:
        text = os.fspath(source)
        if text == SAMPLE_SOURCE and not Path(text).exists():
            text = str(sample_path())
        if _parse_doodles(text) is not None and not Path(text).exists():
            expanded.add(text)
            continue
        path = Path(text)
        if path.is_dir():
            files = [
                entry
                for entry in path.iterdir()
                if entry.is_file() and entry.name.lower().endswith(tuple(SUPPORTED_SUFFIXES))
            ]
            if not files:
                raise StoreError(
                    f"{path}: no sketch files ({', '.join(SUPPORTED_SUFFIXES)}) in this folder"
                )
            expanded.update(str(entry.resolve()) for entry in files)
        elif path.is_file():
            expanded.add(str(path.resolve()))
        else:
            raise StoreError(
                f"{path}: no such file or folder; give sketch files, folders of them, or "
                "doodles[:PER_CLASS[:SEED]]"
            )
    if not expanded:
        raise StoreError("no sources given; name sketch files, folders, or doodles")
    return sorted(expanded)


def hash_unit(key: str, seed: int) -> float:
    """A number uniform in [0, 1) fixed by a record's key and the split seed."""
    digest = hashlib.blake2b(f"{seed}\x00{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2.0**64


def hash_split(key: str, seed: int, ratios: Sequence[float]) -> int:
    """Deterministic split code (0 train, 1 valid, 2 test) of a record from its key and seed."""
    unit = hash_unit(key, seed)
    bound = 0.0
    for code, ratio in enumerate(ratios):
        bound += ratio
        if unit < bound:
            return code
    return len(ratios) - 1


def _read_source(
    source: str,
    skip_bad: bool,
    max_len: int | None,
    split_ratios: tuple[float, float, float],
    split_seed: int,
) -> _Chunk:
    """Read one source into compact arrays (runs in a worker process)."""
    stats = ReadStats()
    doodles = _parse_doodles(source) if not Path(source).exists() else None
    if doodles is not None:
        from sketchssl.data.doodles import iter_doodle_records

        records = iter_doodle_records(doodles[0], doodles[1])
        info: dict[str, Any] = {"source": source, "per_class": doodles[0], "seed": doodles[1]}
        split_key_prefix = source
    else:
        from sketchssl.data.io import iter_sketches

        records = iter_sketches(source, skip_bad=skip_bad, stats=stats)
        info = {
            "path": source,
            "size": os.path.getsize(source),
            "sha256": file_sha256(source),
        }
        split_key_prefix = Path(source).name

    pieces: list[np.ndarray] = []
    part_pieces: list[np.ndarray] = []
    has_parts: list[bool] = []
    part_names: dict[str, tuple[str, ...]] = {}
    lengths: list[int] = []
    label_index: dict[str, int] = {}
    label_codes: list[int] = []
    splits: list[int] = []
    split_fixed: list[bool] = []
    units: list[float] = []
    key_ids: list[int] = []
    dropped = 0
    for record in records:
        where = f"{record.source or source}, sketch {record.index}"
        try:
            strokes = _as_int16(record.strokes, where)
        except SketchFormatError as error:
            if not skip_bad:
                raise SketchFileError(source, str(error), f"sketch {record.index}") from None
            stats.skip(str(error))
            continue
        if max_len is not None and len(strokes) > max_len:
            dropped += 1
            continue
        if record.parts is not None:
            if record.label is None or record.part_names is None:
                raise SketchFileError(
                    source, "part labels without a class and part names", f"sketch {record.index}"
                )
            known = part_names.setdefault(str(record.label), tuple(record.part_names))
            if known != tuple(record.part_names):
                raise SketchFileError(
                    source,
                    f"class {record.label!r} has two different part-name lists",
                    f"sketch {record.index}",
                )
            part_pieces.append(np.asarray(record.parts, dtype=np.int8))
        else:
            part_pieces.append(np.full(len(strokes), -1, dtype=np.int8))
        has_parts.append(record.parts is not None)
        pieces.append(strokes)
        lengths.append(len(strokes))
        if record.label is None:
            label_codes.append(-1)
        else:
            label_codes.append(label_index.setdefault(str(record.label), len(label_index)))
        key_ids.append(-1 if record.key_id is None else int(record.key_id))
        if record.split is not None:
            if record.split not in SPLIT_CODES:
                raise SketchFileError(
                    source, f"unknown split {record.split!r}", f"sketch {record.index}"
                )
            splits.append(SPLIT_CODES[record.split])
            split_fixed.append(True)
            units.append(0.0)
        else:
            key = (
                f"key_id {record.key_id}"
                if record.key_id is not None
                else (f"{split_key_prefix}#{record.index}")
            )
            splits.append(hash_split(key, split_seed, split_ratios))
            split_fixed.append(False)
            units.append(hash_unit(key, split_seed))
    info.update(read=len(lengths) + dropped, skipped=stats.skipped)
    if part_names:
        info["part_labels"] = True
    return _Chunk(
        source=info,
        points=np.concatenate(pieces) if pieces else np.zeros((0, 3), np.int16),
        lengths=np.asarray(lengths, dtype=np.int64),
        label_names=list(label_index),
        label_codes=np.asarray(label_codes, dtype=np.int32),
        splits=np.asarray(splits, dtype=np.uint8),
        split_fixed=np.asarray(split_fixed, dtype=bool),
        units=np.asarray(units, dtype=np.float64),
        key_ids=np.asarray(key_ids, dtype=np.int64),
        parts=np.concatenate(part_pieces) if part_names else None,
        has_parts=np.asarray(has_parts, dtype=bool),
        part_names=part_names,
        stats=stats,
        dropped_too_long=dropped,
    )


@dataclass
class _FileFailure:
    """A SketchFileError crossing the process boundary (its constructor is not pickle-friendly)."""

    kind: type[SketchFileError]
    path: str
    message: str
    location: str | None

    def error(self) -> SketchFileError:
        return self.kind(self.path, self.message, self.location)


def _read_source_task(source: str, *args: Any) -> _Chunk | _FileFailure:
    """:func:`_read_source` for a worker process: file errors come back as plain data."""
    try:
        return _read_source(source, *args)
    except SketchFileError as error:
        where = f"{error.path}, {error.location}" if error.location else error.path
        text = str(error)
        message = text[len(where) + 2 :] if text.startswith(where + ": ") else text
        return _FileFailure(type(error), error.path, message, error.location)


def _as_int16(strokes: object, where: str) -> np.ndarray:
    """The record's strokes as ``(N, 3)`` int16, refusing values int16 cannot hold exactly."""
    from sketchssl.data.formats import validate_stroke3

    array = validate_stroke3(strokes, where=where)
    if array.dtype == np.int16:
        return array
    converted = array.astype(np.int16)
    if not np.array_equal(converted, array):
        raise SketchFormatError(
            f"{where}: offsets are not whole numbers within int16 range; the store keeps int16"
        )
    return converted


# ------------------------------------------------------------------------------------- writing


def _save_array(folder: Path, name: str, array: np.ndarray) -> dict[str, Any]:
    file = folder / f"{name}.npy"
    with open(file, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    return {
        "file": file.name,
        "dtype": str(array.dtype),
        "shape": list(array.shape),
        "sha256": file_sha256(file),
    }


class _ArrayWriter:
    """Streams row blocks into a ``.npy`` file and writes its header at the end.

    Args:
        file: the ``.npy`` file to write.
        dtype: little-endian numpy dtype string (``"<i2"``, ``"|i1"``).
        columns: columns of each row (``None`` for a 1-d array).
    """

    def __init__(self, file: Path, dtype: str = "<i2", columns: int | None = 3) -> None:
        self.file = file
        self.dtype = np.dtype(dtype)
        self.columns = columns
        self.handle = open(file, "wb")  # noqa: SIM115 - closed in finish / close
        self.handle.write(b"\0" * _NPY_HEADER_BYTES)
        self.rows = 0

    def write(self, block: np.ndarray) -> None:
        self.handle.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += len(block)

    def shape(self) -> tuple[int, ...]:
        return (self.rows,) if self.columns is None else (self.rows, self.columns)

    def finish(self) -> dict[str, Any]:
        header = {"descr": self.dtype.str, "fortran_order": False, "shape": self.shape()}
        self.handle.seek(0)
        np.lib.format.write_array_header_1_0(self.handle, header)
        if self.handle.tell() != _NPY_HEADER_BYTES:  # never for realistic sizes; be exact anyway
            raise StoreError(f"{self.file}: unexpected .npy header size; report this as a bug")
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        return {
            "file": self.file.name,
            "dtype": self.dtype.name,
            "shape": list(self.shape()),
            "sha256": file_sha256(self.file),
        }

    def close(self) -> None:
        self.handle.close()


def _compact(file: Path, keep_rows: np.ndarray, dtype: str, columns: int | None) -> dict[str, Any]:
    """Rewrite the ``.npy`` file keeping only the rows where ``keep_rows`` (bool) is True."""
    source = np.load(file, mmap_mode="r")
    tmp = file.with_name(file.name + ".compact")
    writer = _ArrayWriter(tmp, dtype, columns)
    try:
        block = 1 << 22
        for start in range(0, len(source), block):
            rows = np.asarray(source[start : start + block])
            writer.write(rows[keep_rows[start : start + block]])
        entry = writer.finish()
    finally:
        writer.close()
        del source
    os.replace(tmp, file)
    entry["file"] = file.name
    return entry


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="file", desc="reading sources", disable=not enabled)


def build_store(
    sources: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    workers: int | None = None,
    skip_bad: bool = False,
    split_ratios: Sequence[float] = (0.8, 0.1, 0.1),
    split_seed: int = 0,
    split_counts: Sequence[int] | None = None,
    max_len: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> BuildReport:
    """Read sketch sources into a new :class:`SketchStore` at ``out``.

    Args:
        sources: sketch files (``.npz``, ``.ndjson``, ``.bin``; see :mod:`sketchssl.data.io`),
            folders of them, ``doodles[:PER_CLASS[:SEED]]`` for the built-in doodles and
            ``quickdraw-sample`` for the built-in real QuickDraw drawings
            (:mod:`sketchssl.data.quickdraw_sample`).
        out: the store folder to create.
        workers: reader processes; None uses one per CPU (at most one per file), 0 or 1 reads
            in this process.
        skip_bad: skip unreadable sketches and count them instead of stopping.
        split_ratios: train / valid / test shares for records whose source fixes no split.
        split_seed: seed of the hashed split assignment.
        split_counts: train / valid / test sketches per class for records whose source fixes
            no split, instead of ``split_ratios`` (module docstring). None: ratios, except for
            SPG part-labelled sources, which use :data:`DEFAULT_SPG_SPLIT_COUNTS`.
        max_len: leave out sketches with more than this many points (sketch-rnn's filter).
        overwrite: replace an existing store at ``out`` (atomically).
        progress: show a progress bar over the source files.

    Returns:
        A :class:`BuildReport`.

    Raises:
        SketchFileError: a source file is malformed (unless ``skip_bad``); names file and place.
        StoreError: bad arguments, ``out`` exists, another build is running, or the disk is full.
    """
    started = time.perf_counter()
    out = Path(out)
    ratios = tuple(float(ratio) for ratio in split_ratios)
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1.0) > 1e-6:
        raise StoreError(
            f"split ratios must be three non-negative numbers summing to 1, got {split_ratios}"
        )
    if max_len is not None and max_len < 1:
        raise StoreError(f"max_len must be at least 1, got {max_len}")
    counts = None
    if split_counts is not None:
        counts = tuple(int(count) for count in split_counts)
        if len(counts) != 3 or min(counts) < 0 or sum(counts) == 0:
            raise StoreError(
                f"split counts must be three whole numbers >= 0 (train, valid, test), not all "
                f"zero, got {tuple(split_counts)}"
            )
    clean_stale_builds(out)  # may restore a store an interrupted replace had moved aside
    if out.exists():
        if not overwrite:
            raise StoreError(f"{out} already exists; pass overwrite=True (--force) to replace it")
        if not (out / MANIFEST_NAME).is_file():
            raise StoreError(f"{out} exists and is not a sketch store; refusing to replace it")
    source_list = expand_sources(sources)
    out.parent.mkdir(parents=True, exist_ok=True)

    tag = f"{os.getpid()}-{secrets.token_hex(4)}"
    tmp = out.with_name(f".{out.name}.tmp-{tag}")
    tmp.mkdir()
    try:
        report = _build_into(
            tmp, out, source_list, workers, skip_bad, ratios, split_seed, counts, max_len, progress
        )
        fsync_path(tmp)
        install_folder(tmp, out, tag)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if error.errno in _DISK_FULL:
            raise StoreError(
                f"{out}: the disk is full (or a file-size limit was reached) while writing the "
                f"store ({error.strerror}); free some space and run the build again. Nothing was "
                "left behind"
            ) from None
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    report.seconds = time.perf_counter() - started
    return report


def _build_into(
    tmp: Path,
    out: Path,
    sources: list[str],
    workers: int | None,
    skip_bad: bool,
    ratios: tuple[float, float, float],
    split_seed: int,
    split_counts: tuple[int, int, int] | None,
    max_len: int | None,
    progress: bool,
) -> BuildReport:
    """Read every source and write the arrays and manifest into ``tmp``."""
    if workers is None:
        workers = os.cpu_count() or 1
    workers = max(1, min(int(workers), len(sources)))
    args = (skip_bad, max_len, ratios, split_seed)

    writer = _ArrayWriter(tmp / "points.npy")
    parts_writer = _ArrayWriter(tmp / "parts.npy", "|i1", None)
    lengths: list[np.ndarray] = []
    chunk_labels: list[tuple[list[str], np.ndarray]] = []
    splits: list[np.ndarray] = []
    split_fixed: list[np.ndarray] = []
    count_split: list[np.ndarray] = []
    units: list[np.ndarray] = []
    has_parts: list[np.ndarray] = []
    part_names: dict[str, tuple[str, ...]] = {}
    key_ids: list[np.ndarray] = []
    source_info: list[dict[str, Any]] = []
    stats = ReadStats()
    skipped: dict[str, int] = {}
    dropped = 0

    def take(chunk: _Chunk | _FileFailure) -> None:
        nonlocal dropped
        if isinstance(chunk, _FileFailure):
            raise chunk.error()
        writer.write(chunk.points)
        parts_writer.write(
            chunk.parts if chunk.parts is not None else np.full(len(chunk.points), -1, np.int8)
        )
        for name, names in chunk.part_names.items():
            if part_names.setdefault(name, names) != names:
                raise StoreError(
                    f"class {name!r} has different part names in "
                    f"{chunk.source.get('path', '?')} than in an earlier source"
                )
        lengths.append(chunk.lengths)
        chunk_labels.append((chunk.label_names, chunk.label_codes))
        splits.append(chunk.splits)
        split_fixed.append(chunk.split_fixed)
        # SPG sources split by class counts by default; others by ratios unless counts given
        by_counts = split_counts is not None or bool(chunk.part_names)
        count_split.append(~chunk.split_fixed & by_counts)
        units.append(chunk.units)
        has_parts.append(chunk.has_parts)
        key_ids.append(chunk.key_ids)
        source_info.append(chunk.source)
        stats.merge(chunk.stats)
        if chunk.stats.skipped:
            skipped[chunk.source.get("path", chunk.source.get("source", "?"))] = chunk.stats.skipped
        dropped += chunk.dropped_too_long

    bar = _progress(len(sources), progress)
    try:
        if workers == 1:
            for source in sources:
                take(_read_source(source, *args))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures: list[Future[_Chunk | _FileFailure]] = [
                    pool.submit(_read_source_task, source, *args) for source in sources
                ]
                for future in futures:  # in source order: the output order is deterministic
                    try:
                        take(future.result())
                    except BaseException:
                        for pending in futures:
                            pending.cancel()
                        raise
                    bar.update()
        points_entry = writer.finish()
        parts_entry = parts_writer.finish()
    finally:
        writer.close()
        parts_writer.close()
        bar.close()

    class_names = sorted({name for names, _ in chunk_labels for name in names})
    if len(class_names) > np.iinfo(np.int16).max:
        raise StoreError(f"{len(class_names)} classes; a store holds at most 32767")
    class_index = {name: index for index, name in enumerate(class_names)}
    label_parts = []
    for names, codes in chunk_labels:
        lookup = np.array([class_index[name] for name in names] + [-1], dtype=np.int16)
        label_parts.append(lookup[codes])  # code -1 picks the trailing -1

    def joined(pieces: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype)

    all_lengths = joined(lengths, np.int64)
    all_labels = joined(label_parts, np.int16)
    all_splits = joined(splits, np.uint8)
    all_key_ids = joined(key_ids, np.int64)
    keep, duplicates = _unique_key_ids(all_key_ids, joined(has_parts, bool))
    by_counts = joined(count_split, bool)
    if by_counts.any():
        counts = split_counts if split_counts is not None else DEFAULT_SPG_SPLIT_COUNTS
        counted, short_classes = _split_by_counts(
            all_labels, joined(units, np.float64), by_counts & keep, counts, class_names
        )
        left_out = int((by_counts & keep & (counted == _LEFT_OUT)).sum())
        all_splits = np.where(by_counts, counted, all_splits).astype(np.uint8)
        keep &= all_splits != _LEFT_OUT
    else:
        left_out, short_classes = 0, []
    with_parts = bool(part_names)
    if not keep.all():
        keep_rows = np.repeat(keep, all_lengths)  # (P,)
        points_entry = _compact(tmp / "points.npy", keep_rows, "<i2", 3)
        parts_entry = _compact(tmp / "parts.npy", keep_rows, "|i1", None)
        all_lengths, all_labels = all_lengths[keep], all_labels[keep]
        all_splits, all_key_ids = all_splits[keep], all_key_ids[keep]
    if not with_parts:
        (tmp / "parts.npy").unlink()
    offsets = np.zeros(len(all_lengths) + 1, dtype=np.int64)
    np.cumsum(all_lengths, out=offsets[1:])
    arrays = {
        "points": points_entry,
        "offsets": _save_array(tmp, "offsets", offsets),
        "labels": _save_array(tmp, "labels", all_labels),
        "splits": _save_array(tmp, "splits", all_splits),
        "key_ids": _save_array(tmp, "key_ids", all_key_ids),
    }
    if with_parts:
        arrays["parts"] = parts_entry
    split_counts = {name: int((all_splits == code).sum()) for code, name in enumerate(SPLIT_NAMES)}
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "sketchssl_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "num_sketches": len(all_lengths),
        "num_points": int(offsets[-1]),
        "splits": split_counts,
        "class_names": class_names,
        "sources": source_info,
        "build_options": {
            "skip_bad": skip_bad,
            "split_ratios": list(ratios),
            "split_seed": split_seed,
            "split_counts": list(split_counts) if split_counts is not None else None,
            "max_len": max_len,
        },
        "skipped": {"total": stats.skipped, "per_source": skipped, "messages": stats.messages},
        "dropped_too_long": dropped,
        "duplicates": {"dropped": duplicates},
        "split_counts": {
            "applied": bool(by_counts.any()),
            "counts": list(split_counts or DEFAULT_SPG_SPLIT_COUNTS) if by_counts.any() else None,
            "left_out": left_out,
            "short_classes": short_classes,
        },
        "arrays": arrays,
    }
    if with_parts:
        manifest["part_names"] = {name: list(names) for name, names in sorted(part_names.items())}
    manifest_file = tmp / MANIFEST_NAME
    with open(manifest_file, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    SketchStore.open(tmp)  # the same checks every reader makes, before the store goes live
    return BuildReport(
        path=out,
        num_sketches=len(all_lengths),
        num_points=int(offsets[-1]),
        splits=split_counts,
        num_classes=len(class_names),
        skipped=skipped,
        messages=list(stats.messages),
        dropped_too_long=dropped,
        duplicates_dropped=duplicates,
        left_out_by_counts=left_out,
        short_classes=short_classes,
    )


_LEFT_OUT = 255  # split code of a record beyond its class's split counts


def _unique_key_ids(key_ids: np.ndarray, has_parts: np.ndarray) -> tuple[np.ndarray, int]:
    """Which records to keep so no ``key_id`` (>= 0) is stored twice, and how many go.

    Of the records sharing a key id, the first with part labels is kept, else the first.
    """
    keep = np.ones(len(key_ids), dtype=bool)
    known = np.flatnonzero(key_ids >= 0)
    if len(known) < 2:
        return keep, 0
    # sort by key id, then part-labelled first, then source order
    order = known[np.lexsort((known, ~has_parts[known], key_ids[known]))]
    repeated = np.zeros(len(order), dtype=bool)
    repeated[1:] = key_ids[order[1:]] == key_ids[order[:-1]]
    keep[order[repeated]] = False
    return keep, int(repeated.sum())


def _split_by_counts(
    labels: np.ndarray,
    units: np.ndarray,
    selected: np.ndarray,
    counts: tuple[int, int, int],
    class_names: list[str],
) -> tuple[np.ndarray, list[str]]:
    """Split codes of the ``selected`` records by per-class counts (module docstring).

    Returns:
        ``(N,)`` uint8 codes (0 train, 1 valid, 2 test, 255 left out; unselected rows 255) and
        the names of the classes with fewer records than ``sum(counts)``.
    """
    codes = np.full(len(labels), _LEFT_OUT, dtype=np.uint8)
    train, valid, test = counts
    wanted = train + valid + test
    short: list[str] = []
    for label in np.unique(labels[selected]):
        members = np.flatnonzero(selected & (labels == label))
        members = members[np.argsort(units[members], kind="stable")]
        available = len(members)
        if available < wanted:
            short.append(class_names[label] if label >= 0 else "(unlabelled)")
            valid_count = round(available * valid / wanted)
            test_count = round(available * test / wanted)
            train_count = available - valid_count - test_count
        else:
            train_count, valid_count, test_count = train, valid, test
        codes[members[:valid_count]] = SPLIT_CODES["valid"]
        codes[members[valid_count : valid_count + test_count]] = SPLIT_CODES["test"]
        start = valid_count + test_count
        codes[members[start : start + train_count]] = SPLIT_CODES["train"]
    return codes, sorted(short)


def report_dict(report: BuildReport) -> dict[str, Any]:
    """The report as JSON-ready values."""
    values = asdict(report)
    values["path"] = str(report.path)
    return values
