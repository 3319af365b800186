"""The sketch-rnn ``.npz`` format: read safely, iterate as records, write.

Format: a zip archive of ``.npy`` members (numpy NEP 1). The sketch-rnn QuickDraw files
(``gs://quickdraw_dataset/sketchrnn/{category}.npz``, Ha & Eck 2017) hold three object arrays
``train`` / ``valid`` / ``test`` of int16 ``(N, 3)`` stroke-3 sketches. Files built for this project
may add ``<split>_key_id``, ``<split>_recognized``, and for one file over many classes
``<split>_label`` (int indices) with ``class_names``.

Nothing here calls ``np.load(allow_pickle=True)``: headers are parsed with ``np.lib.format`` and
object arrays are rebuilt by :mod:`sketchssl.data.io.safe_pickle`, which runs no pickled code.
"""

from __future__ import annotations

import io
import os
import tokenize
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from sketchssl.data.io.common import (
    DEFAULT_LIMITS,
    ReadLimits,
    as_int16_stroke3,
    atomic_write,
    label_from_path,
)
from sketchssl.data.io.safe_pickle import load_object_array
from sketchssl.data.records import ReadStats, SketchRecord
from sketchssl.errors import SketchFileError, SketchFormatError

__all__ = ["SPLITS", "load_sketchrnn_npz", "iter_npz", "write_sketchrnn_npz"]

#: The split arrays of a sketch-rnn file, in reading order.
SPLITS = ("train", "valid", "test")

try:  # lzma is optional in CPython builds; zipfile raises its error for a corrupt LZMA member
    import lzma

    _LZMA_ERRORS: tuple[type[Exception], ...] = (lzma.LZMAError,)
except ImportError:  # pragma: no cover - CPython without lzma
    _LZMA_ERRORS = ()


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, cap: int) -> bytearray:
    """The decompressed bytes of one member, refusing more than ``cap`` bytes."""
    where = f"member '{info.filename}'"
    if info.file_size > cap:
        raise SketchFileError(
            path,
            f"declares {info.file_size} decompressed bytes, more than the limit of {cap}; "
            "raise ReadLimits.max_member_bytes if you trust this file",
            where,
        )
    buffer = bytearray(info.file_size)
    try:
        with archive.open(info) as stream:
            filled = stream.readinto(buffer)
            # The zip directory can lie about the size: anything beyond it is refused too.
            if filled != info.file_size or stream.read(1):
                raise SketchFileError(
                    path, "decompressed size differs from the size the archive declares", where
                )
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        RuntimeError,
        ValueError,
        NotImplementedError,
        zlib.error,  # a corrupt deflate stream (not an OSError)
        *_LZMA_ERRORS,
    ) as error:
        raise SketchFileError(
            path, f"cannot decompress ({error}); the file is truncated or corrupt", where
        ) from None
    return buffer


def _parse_member(data: bytearray, path: str, member: str, limits: ReadLimits) -> np.ndarray:
    """Turn one ``.npy`` member's bytes into an array without unpickling arbitrary objects."""
    where = f"member '{member}'"
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(stream, limits.max_header_bytes)
        elif version == (2, 0):
            header = np.lib.format.read_array_header_2_0(stream, limits.max_header_bytes)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, EOFError, SyntaxError, TypeError, tokenize.TokenError) as error:
        raise SketchFileError(path, f"not a valid .npy header ({error})", where) from None
    shape, fortran_order, dtype = header
    offset = stream.tell()
    if dtype.hasobject:
        if dtype != np.dtype(object):
            raise SketchFileError(path, f"refused structured dtype with objects {dtype}", where)
        array = load_object_array(bytes(data[offset:]), path, member, limits.max_member_bytes)
        if array.shape != tuple(shape):
            raise SketchFileError(
                path, f"header says shape {shape}, the pickle holds {array.shape}", where
            )
        return array
    count = 1
    for extent in shape:
        count *= extent
    needed = count * dtype.itemsize
    if needed != len(data) - offset:
        raise SketchFileError(
            path,
            f"header says shape {shape} of {dtype} ({needed} bytes) but the member holds "
            f"{len(data) - offset} bytes of data; the file is truncated or corrupt",
            where,
        )
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran_order else "C")


def load_sketchrnn_npz(
    path: str | os.PathLike[str], *, limits: ReadLimits = DEFAULT_LIMITS
) -> dict[str, np.ndarray]:
    """Read every array of an ``.npz`` file without running pickled code.

    Args:
        path: the ``.npz`` file.
        limits: size caps (decompressed bytes per member and in all, ``.npy`` header size).

    Returns:
        ``{name: array}`` with the ``.npy`` suffix dropped from the names, as ``np.load`` does.
        Object arrays hold the rebuilt element arrays.

    Raises:
        UnsafeFileError: an object array's pickle asks for anything but numpy array data.
        SketchFileError: not a zip archive, truncated, a bad header, or a member over the cap.
    """
    path_text = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise SketchFileError(path_text, "no such file") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as error:
        # NotImplementedError: a directory entry names a zip version or feature zipfile lacks.
        raise SketchFileError(
            path_text, f"not a readable .npz (zip) archive ({error}); it may be truncated"
        ) from None
    arrays: dict[str, np.ndarray] = {}
    with archive:
        declared = sum(info.file_size for info in archive.infolist())
        if declared > limits.max_total_bytes:
            raise SketchFileError(
                path_text,
                f"its members declare {declared} decompressed bytes in all, more than the limit "
                f"of {limits.max_total_bytes}; raise ReadLimits.max_total_bytes if you trust it",
            )
        for info in archive.infolist():
            if info.filename.endswith("/"):  # a folder (ZipInfo.is_dir fails on an empty name)
                continue
            name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
            data = _read_member(archive, info, path_text, limits.max_member_bytes)
            arrays[name] = _parse_member(data, path_text, info.filename, limits)
    return arrays


def _split_items(array: np.ndarray, path: str, split: str) -> Sequence[object]:
    """The sketches of one split: an object array, or a regular ``(K, N, 3)`` int array."""
    if array.dtype == object and array.ndim == 1:
        return array
    if array.ndim == 3 and array.shape[2] == 3 and array.dtype != object:
        return list(array)
    raise SketchFileError(
        path,
        f"'{split}' must be a 1-D object array of (N, 3) sketches, got shape {array.shape} "
        f"and dtype {array.dtype}",
    )


def _split_labels(
    arrays: Mapping[str, np.ndarray], split: str, count: int, path: str, default: str
) -> list[str]:
    """Per-sketch class names: ``<split>_label`` into ``class_names``, else the file's stem."""
    label_key = f"{split}_label"
    if label_key not in arrays:
        return [default] * count
    if "class_names" not in arrays:
        raise SketchFileError(path, f"has '{label_key}' but no 'class_names' array")
    indices = np.asarray(arrays[label_key])
    names = [str(name) for name in np.asarray(arrays["class_names"]).ravel()]
    if indices.shape != (count,) or not np.issubdtype(indices.dtype, np.integer):
        raise SketchFileError(
            path, f"'{label_key}' must be {count} integers, got {indices.shape} {indices.dtype}"
        )
    bad = np.flatnonzero((indices < 0) | (indices >= len(names)))
    if bad.size:
        raise SketchFileError(
            path,
            f"label {int(indices[bad[0]])} is not an index into the {len(names)} class_names",
            f"'{label_key}' index {int(bad[0])}",
        )
    return [names[int(index)] for index in indices]


def _split_key_ids(
    arrays: Mapping[str, np.ndarray], split: str, count: int, path: str
) -> list[int | None]:
    key = f"{split}_key_id"
    if key not in arrays:
        return [None] * count
    values = np.asarray(arrays[key])
    if values.shape != (count,) or not np.issubdtype(values.dtype, np.integer):
        raise SketchFileError(
            path, f"'{key}' must be {count} integers, got {values.shape} {values.dtype}"
        )
    return [int(value) for value in values]


def iter_npz(
    path: str | os.PathLike[str],
    *,
    skip_bad: bool = False,
    stats: ReadStats | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Iterator[SketchRecord]:
    """Yield the sketches of a sketch-rnn ``.npz`` file, ``train`` then ``valid`` then ``test``.

    The label is ``class_names[<split>_label[i]]`` when the file has labels, else the file's stem
    (``cat.npz`` and ``cat.full.npz`` give ``"cat"``). ``key_id`` comes from ``<split>_key_id``.

    Args:
        path: the ``.npz`` file.
        skip_bad: skip (and count in ``stats``) sketches that are not valid int stroke-3 instead
            of raising.
        stats: receives the counts of read and skipped sketches.
        limits: size caps for :func:`load_sketchrnn_npz`.

    Raises:
        SketchFileError: as :func:`load_sketchrnn_npz`, no split arrays, inconsistent labels or
            key ids, or (without ``skip_bad``) a bad sketch, named by split and index.
    """
    stats = stats if stats is not None else ReadStats()
    path_text = str(path)
    arrays = load_sketchrnn_npz(path, limits=limits)
    present = [split for split in SPLITS if split in arrays]
    if not present:
        raise SketchFileError(
            path_text,
            f"no 'train', 'valid' or 'test' array; it holds {sorted(arrays)}. "
            "Is this a sketch-rnn .npz file?",
        )
    default_label = label_from_path(Path(path_text))
    for split in present:
        items = _split_items(arrays[split], path_text, split)
        labels = _split_labels(arrays, split, len(items), path_text, default_label)
        key_ids = _split_key_ids(arrays, split, len(items), path_text)
        for index, item in enumerate(items):
            try:
                strokes = as_int16_stroke3(item)
            except SketchFormatError as error:
                location = f"'{split}' index {index}"
                if not skip_bad:
                    raise SketchFileError(path_text, str(error), location) from None
                stats.skip(f"{path_text}, {location}: {error}")
                continue
            stats.read += 1
            yield SketchRecord(
                strokes=strokes,
                label=labels[index],
                split=split,
                key_id=key_ids[index],
                source=path_text,
                index=index,
            )


def _object_array(sketches: Sequence[np.ndarray], split: str) -> np.ndarray:
    """Pack sketches into a 1-D object array of int16 ``(N, 3)``, as Google's files do."""
    packed = np.empty(len(sketches), dtype=object)
    for index, sketch in enumerate(sketches):
        packed[index] = as_int16_stroke3(sketch, where=f"{split}[{index}]")
    return packed


def write_sketchrnn_npz(
    path: str | os.PathLike[str],
    splits: Mapping[str, Sequence[np.ndarray]],
    *,
    compress: bool = True,
    **extra_arrays: object,
) -> None:
    """Write sketches as a sketch-rnn ``.npz`` file, atomically.

    Args:
        path: the file to write (replaced only once it is complete).
        splits: ``{"train": [...], "valid": [...], "test": [...]}`` (any subset); each sketch an
            integer ``(N, 3)`` stroke-3 array, stored as int16 inside an object array.
        compress: deflate the members (as ``np.savez_compressed``).
        **extra_arrays: more arrays to store under their keyword names, such as
            ``train_key_id=...``, ``train_label=...``, ``class_names=...``.

    Raises:
        SketchFormatError: a sketch that is not valid integer stroke-3.
        ValueError: a name used both as a split and as an extra array.
    """
    clash = set(splits) & set(extra_arrays)
    if clash:
        raise ValueError(f"names used both as splits and extra arrays: {sorted(clash)}")
    contents: dict[str, np.ndarray] = {
        split: _object_array(list(sketches), split) for split, sketches in splits.items()
    }
    for name, value in extra_arrays.items():
        array = np.asarray(value)
        if array.dtype == object:
            raise ValueError(f"extra array '{name}' must not be an object array")
        contents[name] = array
    save = np.savez_compressed if compress else np.savez
    with atomic_write(path) as handle:
        save(handle, **contents)
