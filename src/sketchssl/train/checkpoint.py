"""Checkpoints: written atomically, read with ``weights_only=True``, self-describing.

Lightning saves through a ``CheckpointIO`` plugin; ours writes to a temporary file in the same
folder, fsyncs it and renames it into place, so a run killed at any moment leaves the previous
checkpoint readable and never a half-written one. Reading uses ``torch.load(weights_only=True)``:
a checkpoint holding a pickled payload other than tensors and plain containers is refused.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from sketchssl.errors import ConfigError, SketchFileError, UnsafeFileError

__all__ = [
    "AtomicCheckpointIO",
    "atomic_torch_save",
    "default_file_mode",
    "load_method",
    "read_checkpoint",
]


def default_file_mode() -> int:
    """The mode a plain ``open(path, "w")`` would give (mkstemp files are 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary sibling, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(obj, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, default_file_mode())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that writes atomically and loads with ``weights_only=True``."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike[str], storage_options: Any = None
    ) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO takes no storage_options")
        atomic_torch_save(checkpoint, path)

    def load_checkpoint(
        self, path: str | os.PathLike[str], map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return read_checkpoint(path, map_location=map_location or "cpu")


def read_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) with clear errors.

    Raises:
        SketchFileError: missing, truncated or not a torch checkpoint.
        UnsafeFileError: it holds pickled objects beyond tensors and plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise SketchFileError(path, "checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeFileError(
            path,
            "refused: the checkpoint holds pickled objects that weights_only loading does not "
            f"allow ({str(error).splitlines()[0][:200]}). Only load checkpoints you trust.",
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as error:
        raise SketchFileError(
            path, f"not a readable checkpoint (truncated or corrupted?): {error}"
        ) from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise SketchFileError(path, "not a sketchssl / Lightning checkpoint (no state_dict)")
    return checkpoint


def load_method(
    path: str | os.PathLike[str], *, expect: str | tuple[str, ...] | None = None
) -> tuple[Any, dict[str, Any]]:
    """Rebuild the method saved in a sketchssl checkpoint and load its weights.

    Args:
        path: a ``*.ckpt`` written by ``sketchssl train``.
        expect: method name(s) the caller can use; another method is a clear error.

    Returns:
        ``(method in eval mode on the CPU, run configuration dict)``.
    """
    from sketchssl.methods import build_method

    checkpoint = read_checkpoint(path)
    meta = checkpoint.get("sketchssl")
    if not isinstance(meta, dict) or "method" not in meta:
        raise SketchFileError(path, "not a sketchssl checkpoint (no 'sketchssl' metadata)")
    name = meta["method"]
    expected = (expect,) if isinstance(expect, str) else expect
    if expected is not None and name not in expected:
        raise ConfigError(
            f"{path} is a {name!r} checkpoint, but this needs one of: {', '.join(expected)}"
        )
    run_config = meta.get("config", {})
    method = build_method(name, run_config.get("model", {}))
    prefix = "method."
    state = {
        key[len(prefix):]: value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(prefix)
    }
    missing, unexpected = method.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SketchFileError(
            path,
            f"weights do not fit the {name!r} model built from its own config "
            f"(missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]})",
        )
    method.eval()
    return method, run_config
