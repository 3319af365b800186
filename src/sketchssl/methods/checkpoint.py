"""Reading sketchssl checkpoints safely and rebuilding the method they hold.

Checkpoints load with ``torch.load(weights_only=True)``: a file holding pickled objects beyond
tensors and plain containers is refused, never executed. Every checkpoint ``sketchssl train``
writes carries ``{"sketchssl": {"method", "config", "version"}}``, so it rebuilds its own model.
No Lightning import here: evaluation and plain-PyTorch users read checkpoints too.
"""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch

from sketchssl.errors import ConfigError, SketchFileError, UnsafeFileError

__all__ = ["read_checkpoint", "load_method", "method_state_dict"]


def method_state_dict(checkpoint: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The method's own weights from a training checkpoint (the ``method.`` prefix removed)."""
    prefix = "method."
    return {
        key[len(prefix) :]: value
        for key, value in checkpoint["state_dict"].items()
        if key.startswith(prefix)
    }


# What torch.load raises on a damaged file: besides I/O and zip errors, its weights-only
# unpickler fails with lookup and type errors on a corrupt pickle stream.
_CORRUPT_FILE_ERRORS = (
    RuntimeError,
    EOFError,
    zipfile.BadZipFile,
    OSError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    struct.error,
    OverflowError,
    RecursionError,
    NotImplementedError,
    AssertionError,  # torch asserts on a malformed persistent id ("saved_id must be a tuple")
)


def _check_archive(path: Path) -> None:
    """Refuse what ``torch.load`` would read into unbounded memory before it allocates anything.

    ``torch.save`` writes a zip archive of stored (uncompressed) members, so the members' sizes
    add up to less than the file. torch's reader allocates each member's *declared* size and
    inflates compressed members, so a crafted archive (a zip bomb) could ask for any amount of
    memory; here the declared sizes must fit in the file itself. Files in the pre-1.6 non-zip
    format are refused as well: no sketchssl checkpoint uses it.
    """
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as error:
        raise SketchFileError(
            path, f"not a zip-format torch checkpoint (truncated or corrupted?): {error}"
        ) from None
    if declared > size:
        raise SketchFileError(
            path,
            f"its members declare {declared} bytes uncompressed in a file of {size} bytes; "
            "torch.save never compresses, so this file was altered (a zip bomb?). Refused",
        )


def read_torch_file(
    path: str | os.PathLike[str], what: str = "checkpoint", map_location: Any = "cpu"
) -> Any:
    """Load any file ``torch.save`` wrote (a checkpoint, a weight file, a head) safely.

    ``weights_only=True`` and the archive check of :func:`_check_archive`; ``what`` names the
    kind of file in the messages.

    Raises:
        SketchFileError: missing, truncated or not a torch file.
        UnsafeFileError: it holds pickled objects beyond tensors and plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise SketchFileError(path, f"{what} not found")
    _check_archive(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise UnsafeFileError(
            path,
            f"refused: the {what} holds pickled objects that weights_only loading does not "
            f"allow ({str(error).splitlines()[0][:200]}). Only load files you trust.",
        ) from None
    except _CORRUPT_FILE_ERRORS as error:
        raise SketchFileError(
            path, f"not a readable {what} (truncated or corrupted?): {error}"
        ) from None


def read_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) with clear errors.

    Raises:
        SketchFileError: missing, truncated or not a torch checkpoint.
        UnsafeFileError: it holds pickled objects beyond tensors and plain containers.
    """
    checkpoint = read_torch_file(path, "checkpoint", map_location)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise SketchFileError(path, "not a sketchssl / Lightning checkpoint (no state_dict)")
    return checkpoint


def load_method(
    path: str | os.PathLike[str],
    *,
    expect: str | tuple[str, ...] | None = None,
    model_overrides: dict[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Rebuild the method saved in a sketchssl checkpoint and load its weights.

    Args:
        path: a ``*.ckpt`` written by ``sketchssl train``.
        expect: method name(s) the caller can use; another method is a clear error.
        model_overrides: model config keys to change before building, for settings that only
            change evaluation (``pooling``, ``embed_layer``, ``{"decoder": {"temperature":
            0.4}}``), merged section by section; the returned run configuration carries them.

    Returns:
        ``(method in eval mode on the CPU, run configuration dict)``. A checkpoint saved before
        a config key moved (``model.decoder_size``, now ``model.decoder.size``) loads with its
        model section upgraded (:func:`~sketchssl.methods.registry.upgrade_model_config`); the
        run configuration returned is in today's layout.
    """
    from sketchssl.configuration import deep_merge
    from sketchssl.methods.registry import build_method, upgrade_model_config

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
    run_config = dict(meta.get("config", {}))
    run_config["model"] = upgrade_model_config(name, run_config.get("model"))
    if model_overrides:
        run_config["model"] = deep_merge(run_config["model"], model_overrides)
    method = build_method(name, run_config["model"])
    missing, unexpected = method.load_state_dict(method_state_dict(checkpoint), strict=False)
    if missing or unexpected:
        raise SketchFileError(
            path,
            f"weights do not fit the {name!r} model built from its own config "
            f"(missing {list(missing)[:5]}, unexpected {list(unexpected)[:5]})",
        )
    method.eval()
    return method, run_config


def training_classes(path: str | os.PathLike[str]) -> list[str] | None:
    """The class names a checkpoint's training split held; None when that cannot be known.

    Read from the checkpoint (``sketchssl train`` records them); for checkpoints written before
    it did, from the training store named in its config when that store is still there.
    """
    meta = read_checkpoint(path).get("sketchssl")
    if not isinstance(meta, dict):
        return None
    recorded = meta.get("train_classes")
    if isinstance(recorded, list) and all(isinstance(name, str) for name in recorded):
        return list(recorded)
    data = meta.get("config", {}).get("data", {}) if isinstance(meta.get("config"), dict) else {}
    store_path = data.get("store") if isinstance(data, dict) else None
    if not store_path or not Path(store_path).is_dir():
        return None
    from sketchssl.data.store import SketchStore
    from sketchssl.errors import StoreError

    try:
        return SketchStore.open(store_path).classes_in(data.get("train_split", "train"))
    except (StoreError, OSError):
        return None
