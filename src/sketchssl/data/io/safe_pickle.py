"""Read the pickled payload of an object ``.npy`` array without running any pickled code.

The sketch-rnn ``.npz`` files store each split as a numpy object array: the ``.npy`` member holds
a pickle whose globals are numpy's array reconstructor (``numpy.core.multiarray._reconstruct``,
``numpy._core`` in numpy 2), ``numpy.ndarray`` and ``numpy.dtype``; pickles written by Python 3 at
protocol 2 add ``_codecs.encode`` for byte strings. ``np.load(..., allow_pickle=True)`` would
import and call whatever global the pickle names, so a crafted file can run any code.

:class:`RestrictedArrayUnpickler` resolves only those globals, and not to the real functions but to
stand-ins that build arrays from the pickled state after checking its shape, dtype and byte count.
Every other global is refused with :class:`~sketchssl.errors.UnsafeFileError` before anything is
called. Format references: Python's ``pickle`` protocol, numpy's ``ndarray.__reduce__`` /
``__setstate__`` and the NEP 1 ``.npy`` format.
"""

from __future__ import annotations

import io
import pickle
import re
import struct
from typing import Any, BinaryIO

import numpy as np

from sketchssl.errors import SketchFileError, UnsafeFileError

__all__ = ["RestrictedArrayUnpickler", "load_object_array"]

_RECONSTRUCT_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
_NUMPY_MODULES = ("numpy", "numpy.core.multiarray", "numpy._core.multiarray")
# Plain scalar dtypes only ("<i2", "O8", "|b1", "<U23", ...): no structured or sub-array types.
_SIMPLE_DTYPE = re.compile(r"^[<>|=]?[?bBhHiIlLqQpPefdgFDGOSUVa][0-9]{0,9}$")
_MAX_ITEMSIZE = 1 << 20


class _ArrayTypeToken:
    """Stands for ``numpy.ndarray`` inside the pickle; deliberately not callable."""

    __slots__ = ()  # no attributes, so a pickle's BUILD cannot alter the shared token

    def __repr__(self) -> str:
        return "<numpy.ndarray (restricted)>"


_ARRAY_TYPE = _ArrayTypeToken()


class _ArrayBuilder:
    """What ``_reconstruct`` returns; pickle's BUILD opcode hands it the array state."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise ValueError("array state must be a tuple of 4 or 5 items")
        if len(state) == 5:
            state = state[1:]  # drop the state version number
        shape, dtype, is_fortran, raw = state
        if not isinstance(dtype, np.dtype):
            raise ValueError(f"array dtype must be a numpy dtype, got {type(dtype).__name__}")
        if not isinstance(shape, tuple) or not all(
            isinstance(extent, int) and extent >= 0 for extent in shape
        ):
            raise ValueError(f"array shape must be a tuple of ints >= 0, got {shape!r}")
        count = 1
        for extent in shape:
            count *= extent
        if count * max(dtype.itemsize, 1) > self.max_bytes:
            raise ValueError(
                f"array of shape {shape} and dtype {dtype} would need "
                f"{count * dtype.itemsize} bytes, more than the limit of {self.max_bytes}"
            )
        order = "F" if is_fortran else "C"
        if dtype.hasobject:
            if not isinstance(raw, list) or len(raw) != count:
                raise ValueError(f"object array of {count} items holds a {type(raw).__name__}")
            result = np.empty(count, dtype=object)
            for index, item in enumerate(raw):
                result[index] = _resolve(item)
            self.array = result.reshape(shape, order=order)
            return
        if isinstance(raw, str):
            raw = raw.encode("latin1")  # py2 byte strings read with encoding="latin1"
        if not isinstance(raw, (bytes, bytearray)) or len(raw) != count * dtype.itemsize:
            size = len(raw) if isinstance(raw, (bytes, bytearray, str)) else type(raw).__name__
            raise ValueError(
                f"array data holds {size} bytes, shape {shape} and dtype {dtype} need "
                f"{count * dtype.itemsize}"
            )
        flat = np.frombuffer(bytes(raw), dtype=dtype, count=count)
        self.array = flat.reshape(shape, order=order).copy()


def _resolve(item: Any) -> Any:
    """Replace a built array placeholder by its array; plain values pass through."""
    if isinstance(item, _ArrayBuilder):
        if item.array is None:
            raise ValueError("an array is used before its state was set")
        return item.array
    if item is None or isinstance(item, (int, float, str, bytes, bool)):
        return item
    raise ValueError(f"object arrays may hold arrays and plain values, not {type(item).__name__}")


def _make_dtype(spec: Any, align: Any = False, copy: Any = False) -> np.dtype:
    """Stand-in for ``numpy.dtype``: simple scalar dtypes only."""
    if isinstance(spec, bytes):
        spec = spec.decode("latin1")
    if not isinstance(spec, str) or not _SIMPLE_DTYPE.match(spec):
        raise ValueError(f"refused dtype specification {spec!r}")
    dtype = np.dtype(spec)
    if dtype.itemsize > _MAX_ITEMSIZE:
        raise ValueError(f"dtype {spec!r} has an item size of {dtype.itemsize} bytes")
    return dtype


def _encode_latin1(text: Any, encoding: Any = "latin1") -> bytes:
    """Stand-in for ``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1", "iso-8859-1"):
        raise ValueError(f"refused _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


class RestrictedArrayUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and nothing else.

    Args:
        stream: the pickle bytes.
        path: the file, for error messages.
        member: the ``.npy`` member inside the ``.npz``, for error messages.
        max_bytes: the largest array (in bytes) the pickle may ask for.
    """

    def __init__(self, stream: BinaryIO, path: str, member: str, max_bytes: int) -> None:
        super().__init__(stream, encoding="latin1")
        self.path = path
        self.member = member
        self.max_bytes = max_bytes

    def _reconstruct(self, array_type: Any, shape: Any, code: Any) -> _ArrayBuilder:
        if array_type is not _ARRAY_TYPE:
            raise ValueError("_reconstruct may only build numpy.ndarray")
        return _ArrayBuilder(self.max_bytes)

    def find_class(self, module: str, name: str) -> Any:
        """Map the few globals an array pickle needs to safe stand-ins; refuse all others."""
        if name == "_reconstruct" and module in _RECONSTRUCT_MODULES:
            return self._reconstruct
        if name == "ndarray" and module in _NUMPY_MODULES:
            return _ARRAY_TYPE
        if name == "dtype" and module in _NUMPY_MODULES:
            return _make_dtype
        if module == "_codecs" and name == "encode":
            return _encode_latin1
        raise UnsafeFileError(
            self.path,
            f"refused to load: the pickle asks for the global '{module}.{name}', which could run "
            "code; only numpy array data is allowed. Do not open this file with "
            "np.load(allow_pickle=True); get the data from a trusted source",
            location=f"member '{self.member}'",
        )

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids never occur in array pickles."""
        raise UnsafeFileError(
            self.path, "refused to load: the pickle uses persistent ids", f"member '{self.member}'"
        )


def load_object_array(data: bytes, path: str, member: str, max_bytes: int) -> np.ndarray:
    """Rebuild the object array pickled in ``data`` (the payload after a ``.npy`` header).

    Raises:
        UnsafeFileError: the pickle names a global outside the allow-list.
        SketchFileError: the pickle is malformed, truncated or does not describe an array.
    """
    unpickler = RestrictedArrayUnpickler(io.BytesIO(data), path, member, max_bytes)
    try:
        result = unpickler.load()
        array = _resolve(result)
    except SketchFileError:
        raise
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
        struct.error,
        MemoryError,
        RecursionError,
        UnicodeError,
        OverflowError,
    ) as error:
        raise SketchFileError(
            path,
            f"malformed object array pickle ({type(error).__name__}: {error})",
            f"member '{member}'",
        ) from None
    if not isinstance(array, np.ndarray):
        raise SketchFileError(path, "the pickle does not hold an array", f"member '{member}'")
    return array
