"""SketchStore: many sketches in one folder of memory-mapped arrays, opened read-only.

The layout follows the "flat token array plus offsets" design of nanoGPT's ``train.bin`` and of
Sketch-BERT's ``generate_dataset.py`` (int16 memmaps with per-sketch offsets), without that
script's bug of mixing splits. A store is a folder:

=================  ==========  ===========================================================
file               dtype       content
=================  ==========  ===========================================================
``points.npy``     int16       ``(P, 3)`` stroke-3 rows of every sketch, concatenated
``offsets.npy``    int64       ``(N + 1,)``; sketch ``i`` is ``points[offsets[i]:offsets[i+1]]``
``labels.npy``     int16       ``(N,)`` index into ``class_names``, -1 when unlabelled
``splits.npy``     uint8       ``(N,)`` 0 train, 1 valid, 2 test
``key_ids.npy``    int64       ``(N,)`` QuickDraw ``key_id``, -1 when unknown
``parts.npy``      int8        optional, ``(P,)`` part label of every row, an index into the
                               sketch's class's ``part_names``; -1 where unknown
``manifest.json``              format, counts, class names, sources, build options, checksums,
                               and ``part_names`` (class -> part names) with ``parts.npy``
=================  ==========  ===========================================================

Reading sketch ``i`` is two memmap reads and no decompression. Stores are written by
:func:`sketchssl.data.build.build_store` into a temporary sibling folder and renamed into place,
so a half-written store is never visible under its own name.
"""

from __future__ import annotations

import hashlib
import json
import os
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from sketchssl.errors import StoreError

__all__ = [
    "ARRAY_SPECS",
    "OPTIONAL_ARRAY_SPECS",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "SPLIT_CODES",
    "SPLIT_NAMES",
    "SketchStore",
    "distribution_summary",
    "file_sha256",
    "pending_build_folders",
]

FORMAT_NAME = "sketchssl-store"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")
SPLIT_CODES: dict[str, int] = {name: code for code, name in enumerate(SPLIT_NAMES)}

#: name -> (dtype, number of dimensions) of every array a store holds.
ARRAY_SPECS: dict[str, tuple[str, int]] = {
    "points": ("int16", 2),
    "offsets": ("int64", 1),
    "labels": ("int16", 1),
    "splits": ("uint8", 1),
    "key_ids": ("int64", 1),
}
#: Arrays a store holds only when its sources have them (SPG part labels).
OPTIONAL_ARRAY_SPECS: dict[str, tuple[str, int]] = {
    "parts": ("int8", 1),
}

_REBUILD = "rebuild it with `sketchssl data build`"
#: A manifest larger than this is refused unread (a store of 345 classes has ~60 KB).
MAX_MANIFEST_BYTES = 64 << 20


def file_sha256(path: str | os.PathLike[str], chunk_size: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def pending_build_folders(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary sibling folders of a store (``.NAME.tmp-*``, ``.NAME.old-*``) left by builds."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        return []
    prefixes = (f".{path.name}.tmp-", f".{path.name}.old-")
    return sorted(entry for entry in parent.iterdir() if entry.name.startswith(prefixes))


def _member_path(folder: Path, name: object, what: str) -> Path:
    """Resolve a file named by the manifest, refusing anything outside ``folder``."""
    if not isinstance(name, str) or not name or "\x00" in name:  # NUL: no path may hold it
        raise StoreError(f"{folder / MANIFEST_NAME}: {what} must be a file name; {_REBUILD}")
    candidate = Path(name)
    resolved = (folder / candidate).resolve()
    if (
        candidate.is_absolute()
        or len(candidate.parts) != 1
        or candidate.name in (".", "..")
        or resolved.parent != folder.resolve()
    ):
        raise StoreError(
            f"{folder / MANIFEST_NAME}: {what} {name!r} points outside the store folder; "
            f"refusing to read it. The manifest was edited or damaged: {_REBUILD}"
        )
    return resolved


_OPEN_ATTEMPTS = 3  # opening retries when a rebuild swaps the folder in the middle


class _StoreReplaced(StoreError):
    """The store folder was replaced by a rebuild while it was being opened or used."""


def distribution_summary(values: np.ndarray) -> dict[str, float | int]:
    """``min``, ``mean``, ``median``, ``p95`` and ``max`` of integer ``values`` (zeros if empty)."""
    values = np.asarray(values)
    if len(values) == 0:
        return {"min": 0, "mean": 0.0, "median": 0.0, "p95": 0.0, "max": 0}
    return {
        "min": int(values.min()),
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "p95": float(np.percentile(values, 95)),
        "max": int(values.max()),
    }


class SketchStore:
    """A read-only, memory-mapped collection of stroke-3 sketches with labels and splits.

    Open one with :meth:`open`; build one with :func:`sketchssl.data.build.build_store` or
    ``sketchssl data build``. A store pickles as its path only and re-opens its memory maps
    lazily in each process, so it can be handed to DataLoader worker processes.

    Examples:
        >>> store = SketchStore.open("stores/quickdraw_mini")  # doctest: +SKIP
        >>> sketch = store[0]  # (N, 3) int16 stroke-3
        >>> store.class_names[store.label(0)], len(store.split_indices("train"))  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str], *, verify: bool = False) -> None:
        """Open the store at ``path``; prefer :meth:`open`.

        Args:
            path: the store folder.
            verify: also check the sha256 of every array file against the manifest (reads all
                data once).
        """
        self.path = Path(path)
        self._arrays: dict[str, np.ndarray] = {}
        self._pid = -1
        for attempt in range(_OPEN_ATTEMPTS):
            self.manifest = self._read_manifest()
            try:
                self._load_arrays()
                break
            except _StoreReplaced:
                if attempt == _OPEN_ATTEMPTS - 1:
                    raise  # rebuilt again and again while we tried to open it
        self._validate()
        if verify:
            self.verify_checksums()

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, verify: bool = False) -> SketchStore:
        """Open the store at ``path`` read-only (memory-mapped) after checking it is consistent.

        Raises:
            StoreError: the folder is missing, being built, not a store, or its manifest and
                arrays disagree; the message names the file and says what to do.
        """
        return cls(path, verify=verify)

    # ----------------------------------------------------------------------------- opening

    def _read_manifest(self) -> dict[str, Any]:
        folder = self.path
        if not folder.exists():
            pending = pending_build_folders(folder)
            if pending:
                raise StoreError(
                    f"{folder}: a build of this store is in progress (or was interrupted): "
                    f"found {pending[0].name} beside it. Wait for the build to finish, or run "
                    "`sketchssl data build` again (it cleans up what an interrupted build left)"
                )
            raise StoreError(f"{folder}: no such store; build it with `sketchssl data build`")
        if not folder.is_dir():
            raise StoreError(f"{folder}: a store is a folder, this is a file; {_REBUILD}")
        manifest_path = folder / MANIFEST_NAME
        if not manifest_path.is_file():
            raise StoreError(
                f"{folder}: not a sketch store (no {MANIFEST_NAME}); build one with "
                "`sketchssl data build`"
            )
        try:
            size = manifest_path.stat().st_size
            if size > MAX_MANIFEST_BYTES:
                raise StoreError(
                    f"{manifest_path}: a manifest of {size} bytes, more than the limit of "
                    f"{MAX_MANIFEST_BYTES}; it is not one sketchssl wrote. {_REBUILD}"
                )
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
            raise StoreError(
                f"{manifest_path}: unreadable manifest ({error}); {_REBUILD}"
            ) from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
            raise StoreError(f"{manifest_path}: not a {FORMAT_NAME} manifest; {_REBUILD}")
        version = manifest.get("version")
        if version != FORMAT_VERSION:
            raise StoreError(
                f"{manifest_path}: store format version {version!r}, this sketchssl reads "
                f"version {FORMAT_VERSION}; {_REBUILD}"
            )
        if not isinstance(manifest.get("arrays"), dict):
            raise StoreError(f"{manifest_path}: manifest has no 'arrays' table; {_REBUILD}")
        return manifest

    def _manifest_changed(self) -> bool:
        try:
            return self._read_manifest() != self.manifest
        except StoreError:
            return True

    def _load_arrays(self) -> None:
        # A rebuild that swapped the folder between reading the manifest and mapping the arrays,
        # or since this object read its manifest (a DataLoader worker re-opening the store
        # later), would pair one store's manifest with another's arrays: refuse instead.
        replaced = _StoreReplaced(
            f"{self.path}: the store was rebuilt while in use (its manifest changed since it "
            "was opened); open it again, and restart a training run that was reading it"
        )
        try:
            arrays = self._map_arrays()
        except StoreError:
            if self._manifest_changed():
                raise replaced from None
            raise
        if self._manifest_changed():
            raise replaced
        self._arrays = arrays
        self._pid = os.getpid()

    def _array_names(self) -> list[str]:
        """The arrays of this store: the required ones and the optional ones it lists."""
        listed = self.manifest["arrays"]
        return [*ARRAY_SPECS, *(name for name in OPTIONAL_ARRAY_SPECS if name in listed)]

    def _map_arrays(self) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        for name in self._array_names():
            entry = self.manifest["arrays"].get(name)
            if not isinstance(entry, dict):
                raise StoreError(
                    f"{self.path / MANIFEST_NAME}: no entry for array {name!r}; {_REBUILD}"
                )
            file = _member_path(self.path, entry.get("file"), f"array {name!r}")
            try:
                arrays[name] = array = np.load(file, mmap_mode="r", allow_pickle=False)
                size = file.stat().st_size
            except FileNotFoundError:
                raise StoreError(f"{file}: missing array file; {_REBUILD}") from None
            except (OSError, ValueError, EOFError, SyntaxError, tokenize.TokenError) as error:
                # numpy parses a .npy header with Python's tokenizer: a damaged header can fail
                # with EOFError, SyntaxError or TokenError as well as ValueError.
                raise StoreError(f"{file}: unreadable array ({error}); {_REBUILD}") from None
            if size != array.offset + array.nbytes:  # numpy ignores bytes after the data
                raise StoreError(
                    f"{file}: {size} bytes, its header describes {array.offset + array.nbytes}; "
                    f"the file was altered or cut; {_REBUILD}"
                )
        return arrays

    def _validate(self) -> None:
        manifest_path = self.path / MANIFEST_NAME
        specs = {**ARRAY_SPECS, **OPTIONAL_ARRAY_SPECS}
        for name in self._array_names():
            dtype, ndim = specs[name]
            array = self._arrays[name]
            file = self.path / self.manifest["arrays"][name]["file"]
            if array.dtype != np.dtype(dtype) or array.ndim != ndim:
                raise StoreError(
                    f"{file}: expected a {ndim}-d {dtype} array, found {array.ndim}-d "
                    f"{array.dtype}; {_REBUILD}"
                )
            expected_shape = self.manifest["arrays"][name].get("shape")
            if expected_shape is not None and list(array.shape) != expected_shape:
                raise StoreError(
                    f"{file}: shape {tuple(array.shape)} but the manifest says "
                    f"{expected_shape!r}; {_REBUILD}"
                )
        points, offsets = self._arrays["points"], self._arrays["offsets"]
        count = len(offsets) - 1
        if points.shape[1] != 3:
            raise StoreError(f"{self.path / 'points.npy'}: rows must have 3 columns; {_REBUILD}")
        if count < 0 or offsets[0] != 0 or offsets[-1] != len(points):
            raise StoreError(
                f"{self.path / 'offsets.npy'}: offsets must start at 0 and end at the number of "
                f"points ({len(points)}); {_REBUILD}"
            )
        if count and not (np.diff(offsets) >= 0).all():
            raise StoreError(f"{self.path / 'offsets.npy'}: offsets are not monotone; {_REBUILD}")
        for name in ("labels", "splits", "key_ids"):
            if len(self._arrays[name]) != count:
                raise StoreError(
                    f"{self.path / (name + '.npy')}: {len(self._arrays[name])} entries for "
                    f"{count} sketches; {_REBUILD}"
                )
        if self.manifest.get("num_sketches") != count:
            raise StoreError(
                f"{manifest_path}: says {self.manifest.get('num_sketches')} sketches, the arrays "
                f"hold {count}; {_REBUILD}"
            )
        if self.manifest.get("num_points") != len(points):
            raise StoreError(
                f"{manifest_path}: says {self.manifest.get('num_points')} points, points.npy "
                f"holds {len(points)}; {_REBUILD}"
            )
        class_names = self.manifest.get("class_names")
        if not isinstance(class_names, list) or not all(isinstance(c, str) for c in class_names):
            raise StoreError(f"{manifest_path}: 'class_names' must be a list of names; {_REBUILD}")
        labels = self._arrays["labels"]
        if count and (labels.min() < -1 or labels.max() >= len(class_names)):
            raise StoreError(
                f"{self.path / 'labels.npy'}: labels outside -1..{len(class_names) - 1}; {_REBUILD}"
            )
        if "parts" in self._arrays:
            self._validate_parts(class_names)
        duplicates = self.manifest.get("duplicates", {"dropped": 0})
        if not (
            isinstance(duplicates, dict)
            and isinstance(duplicates.get("dropped"), int)
            and not isinstance(duplicates.get("dropped"), bool)
            and duplicates["dropped"] >= 0
        ):
            raise StoreError(
                f"{manifest_path}: 'duplicates' must be {{\"dropped\": COUNT}}; {_REBUILD}"
            )
        splits = self._arrays["splits"]
        counts = np.bincount(splits, minlength=len(SPLIT_NAMES)) if count else np.zeros(3, int)
        if len(counts) > len(SPLIT_NAMES):
            raise StoreError(f"{self.path / 'splits.npy'}: unknown split codes; {_REBUILD}")
        recorded = self.manifest.get("splits")
        if not isinstance(recorded, dict):
            raise StoreError(
                f"{manifest_path}: 'splits' must map split names to counts; {_REBUILD}"
            )
        for code, split in enumerate(SPLIT_NAMES):
            if recorded.get(split) != int(counts[code]):
                raise StoreError(
                    f"{manifest_path}: says {recorded.get(split)} {split!r} sketches, "
                    f"splits.npy has {int(counts[code])}; {_REBUILD}"
                )

    def _validate_parts(self, class_names: list[str]) -> None:
        manifest_path = self.path / MANIFEST_NAME
        parts = self._arrays["parts"]
        if len(parts) != len(self._arrays["points"]):
            raise StoreError(
                f"{self.path / 'parts.npy'}: {len(parts)} part labels for "
                f"{len(self._arrays['points'])} points; {_REBUILD}"
            )
        names = self.manifest.get("part_names")
        if not isinstance(names, dict) or not all(
            isinstance(key, str)
            and key in class_names
            and isinstance(value, list)
            and all(isinstance(name, str) for name in value)
            for key, value in names.items()
        ):
            raise StoreError(
                f"{manifest_path}: 'part_names' must map class names to lists of part names; "
                f"{_REBUILD}"
            )
        most = max((len(value) for value in names.values()), default=0)
        if len(parts) and (parts.min() < -1 or parts.max() >= most):
            raise StoreError(
                f"{self.path / 'parts.npy'}: part labels outside -1..{most - 1}; {_REBUILD}"
            )

    def verify_checksums(self) -> None:
        """Check every array file against the sha256 in the manifest (reads all the data).

        Raises:
            StoreError: a file's content changed since the store was built.
        """
        for name in self._array_names():
            entry = self.manifest["arrays"][name]
            file = _member_path(self.path, entry.get("file"), f"array {name!r}")
            if file_sha256(file) != entry.get("sha256"):
                raise StoreError(f"{file}: checksum differs from the manifest; {_REBUILD}")

    def _array(self, name: str) -> np.ndarray:
        # Memory maps are re-opened in a new process (after fork or unpickling) rather than
        # shared, so every DataLoader worker owns its own file mappings.
        if self._pid != os.getpid() or not self._arrays:
            self._load_arrays()
        return self._arrays[name]

    # ----------------------------------------------------------------------------- pickling

    def __getstate__(self) -> dict[str, Any]:
        return {"path": str(self.path), "manifest": self.manifest}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path = Path(state["path"])
        self.manifest = state["manifest"]
        self._arrays = {}
        self._pid = -1  # opened on first access

    # ----------------------------------------------------------------------------- access

    def __len__(self) -> int:
        return int(self.manifest["num_sketches"])

    def __getitem__(self, index: int) -> np.ndarray:
        """Sketch ``index`` as a fresh ``(N, 3)`` int16 array (negative indices count back)."""
        count = len(self)
        index = int(index)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"sketch index {index} out of range for a store of {count}")
        offsets = self._array("offsets")
        start, stop = int(offsets[index]), int(offsets[index + 1])
        return np.array(self._array("points")[start:stop])  # (N, 3) int16

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(len(self)):
            yield self[index]

    def __repr__(self) -> str:
        return (
            f"SketchStore({str(self.path)!r}, sketches={len(self)}, "
            f"classes={len(self.class_names)})"
        )

    @property
    def class_names(self) -> list[str]:
        """Sorted class names; ``labels`` index into this list."""
        return list(self.manifest["class_names"])

    @property
    def labels(self) -> np.ndarray:
        """``(N,)`` int16 label indices, -1 for unlabelled sketches (read-only memmap)."""
        return self._array("labels")

    @property
    def splits(self) -> np.ndarray:
        """``(N,)`` uint8 split codes: 0 train, 1 valid, 2 test."""
        return self._array("splits")

    @property
    def key_ids(self) -> np.ndarray:
        """``(N,)`` int64 QuickDraw key ids, -1 when unknown."""
        return self._array("key_ids")

    @property
    def offsets(self) -> np.ndarray:
        """``(N + 1,)`` int64 row offsets into ``points``."""
        return self._array("offsets")

    @property
    def points(self) -> np.ndarray:
        """``(P, 3)`` int16 stroke-3 rows of all sketches (read-only memmap)."""
        return self._array("points")

    @property
    def lengths(self) -> np.ndarray:
        """``(N,)`` int64 number of points of each sketch."""
        return np.diff(self._array("offsets"))

    @property
    def has_parts(self) -> bool:
        """Whether the store holds per-point part labels (built from SPG files)."""
        return "parts" in self.manifest["arrays"]

    @property
    def part_names(self) -> dict[str, list[str]]:
        """Class name -> its part names in label order (empty without part labels)."""
        return {key: list(value) for key, value in self.manifest.get("part_names", {}).items()}

    def parts_of(self, index: int) -> np.ndarray | None:
        """``(N,)`` int8 part label of each stroke-3 row of sketch ``index``.

        -1 where a row has no label; None when the store has no part labels at all.
        """
        if not self.has_parts:
            return None
        count = len(self)
        index = int(index)
        if index < 0:
            index += count
        if not 0 <= index < count:
            raise IndexError(f"sketch index {index} out of range for a store of {count}")
        offsets = self._array("offsets")
        return np.array(self._array("parts")[int(offsets[index]) : int(offsets[index + 1])])

    def part_slots(self) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """One global id for every (class, part) pair.

        Returns:
            ``first`` ``(C + 1,)`` int64: the global ids of class ``c``'s parts are
            ``first[c] .. first[c + 1] - 1`` (classes without part names have none); and the
            ``(class name, part name)`` of every global id.
        """
        names = self.part_names
        counts = [len(names.get(name, [])) for name in self.class_names]
        first = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=first[1:])
        pairs = [(name, part) for name in self.class_names for part in names.get(name, [])]
        return first, pairs

    def label(self, index: int) -> int:
        """Label index of sketch ``index`` (-1 when unlabelled)."""
        return int(self._array("labels")[index])

    def label_name(self, index: int) -> str | None:
        """Class name of sketch ``index``, or None when unlabelled."""
        label = self.label(index)
        return self.manifest["class_names"][label] if label >= 0 else None

    def split_indices(self, name: str) -> np.ndarray:
        """Indices (int64, ascending) of the sketches in split ``name`` (``"all"``: every one)."""
        if name == "all":
            return np.arange(len(self), dtype=np.int64)
        if name not in SPLIT_CODES:
            raise StoreError(
                f"unknown split {name!r}; choose one of {', '.join(SPLIT_NAMES)} or 'all'"
            )
        return np.flatnonzero(self._array("splits") == SPLIT_CODES[name]).astype(np.int64)

    def classes_in(self, split: str) -> list[str]:
        """Names of the classes with at least one labelled sketch in ``split`` (store order)."""
        labels = self._array("labels")[self.split_indices(split)]
        present = np.unique(labels[labels >= 0])
        return [self.manifest["class_names"][int(label)] for label in present]

    def stroke_counts(self) -> np.ndarray:
        """``(N,)`` int64 strokes of each sketch (:func:`~sketchssl.data.formats.count_strokes`)."""
        offsets = np.asarray(self._array("offsets"))
        lifted = np.asarray(self._array("points")[:, 2]) == 1  # (P,)
        before = np.zeros(len(lifted) + 1, dtype=np.int64)
        np.cumsum(lifted, out=before[1:])
        counts = before[offsets[1:]] - before[offsets[:-1]]  # pen lifts per sketch
        nonempty = offsets[1:] > offsets[:-1]
        last_down = np.zeros(len(counts), dtype=bool)
        last_down[nonempty] = ~lifted[offsets[1:][nonempty] - 1]
        return counts + last_down

    def summary(self) -> dict[str, Any]:
        """Counts per split and per class, and point and stroke statistics, as plain values."""
        labels = np.asarray(self._array("labels"))
        names = self.class_names
        per_class = np.bincount(labels[labels >= 0], minlength=len(names)) if len(labels) else []
        return {
            "path": str(self.path),
            "num_sketches": len(self),
            "num_points": int(self.manifest["num_points"]),
            "splits": {name: int(self.manifest["splits"][name]) for name in SPLIT_NAMES},
            "num_classes": len(names),
            "unlabelled": int((labels < 0).sum()),
            "per_class": {name: int(per_class[i]) for i, name in enumerate(names)},
            "lengths": distribution_summary(self.lengths),
            "strokes": distribution_summary(self.stroke_counts()),
            "sources": self.manifest.get("sources", []),
            "created": self.manifest.get("created"),
            "duplicates_dropped": self.manifest.get("duplicates", {}).get("dropped", 0),
            "part_names": self.part_names,
            "labelled_points": (
                int((np.asarray(self._array("parts")) >= 0).sum()) if self.has_parts else 0
            ),
        }
