"""Pre-trained models that ship with sketchssl, and loading any model by name or checkpoint.

The shipped models are encoders (features for recognition and retrieval) and one healer (a
drawing model that redraws a partly erased sketch; ``sketchssl serve`` heals with it). Each is
a small weight file in this package (``<name>.pt``: a ``state_dict`` in
float16, read with ``torch.load(weights_only=True)``) and an entry in ``models.json``: the
method, the run configuration it needs to rebuild its model and preprocessing (the training
data's offset scale included), the file's sha256, and its model card (data, the command that
reproduces it, its evaluation figures). Loading checks the hash first: a damaged or foreign file
is refused with a message, never unpickled.

Examples:
    >>> import sketchssl.pretrained as pretrained
    >>> sorted(pretrained.list_models())  # doctest: +SKIP
    ['sketch-cnn', 'sketch-transformer']
    >>> encoder = pretrained.load("sketch-cnn")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from sketchssl.errors import ConfigError, SketchFileError

__all__ = [
    "card",
    "default_healer",
    "default_model",
    "export_encoder",
    "has_head",
    "list_models",
    "load",
    "load_head",
    "load_model",
    "model_entry",
    "training_classes",
]

_INDEX = "models.json"


def _folder() -> Path:
    return Path(str(resources.files("sketchssl.pretrained")))


def _index() -> dict[str, Any]:
    path = _folder() / _INDEX
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _is_checkpoint(text: str) -> bool:
    """Whether a model argument names a checkpoint file rather than a shipped model."""
    return text.endswith(".ckpt") or Path(text).is_file()


def list_models(kind: str | None = None) -> dict[str, str]:
    """Shipped model name -> one-line description; ``kind`` "encoder" or "healer" picks those."""
    return {
        name: entry.get("description", "")
        for name, entry in _index().items()
        if kind is None or entry.get("kind", "encoder") == kind
    }


def model_entry(name: str) -> dict[str, Any]:
    """The ``models.json`` entry of a shipped encoder.

    Raises:
        ConfigError: no encoder of that name (the message lists the shipped ones).
    """
    index = _index()
    if name not in index:
        known = ", ".join(sorted(index)) or "none"
        raise ConfigError(
            f"no shipped model named {name!r} and no such file (shipped: {known}); give a "
            "*.ckpt path or one of those names"
        )
    return index[name]


def card(name: str) -> str:
    """The model card of a shipped encoder, as Markdown."""
    entry = model_entry(name)
    lines = [f"# {name}", "", entry.get("description", ""), ""]
    for key, value in entry.get("card", {}).items():
        if isinstance(value, dict):
            lines.append(f"- {key}:")
            lines += [f"  - {inner}: {item}" for inner, item in value.items()]
        else:
            lines.append(f"- {key}: {value}")
    return "\n".join(lines) + "\n"


def _sha256(path: Path) -> str:
    from sketchssl.data.store import file_sha256

    return file_sha256(path)


def load(name: str, **model_overrides: Any) -> torch.nn.Module:
    """A shipped encoder in eval mode (float32 on the CPU); ``embed(batch)`` gives features."""
    return load_model(name, model_overrides=model_overrides)[0]


def load_model(
    name_or_path: str | os.PathLike[str], *, model_overrides: dict[str, Any] | None = None
) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``(method in eval mode, run config)`` of a shipped encoder's name or a ``*.ckpt`` path.

    Raises:
        ConfigError: an unknown name.
        SketchFileError: a weight file whose hash differs from the index (damaged or replaced),
            or that does not fit the model.
    """
    text = os.fspath(name_or_path)
    if _is_checkpoint(text):
        from sketchssl.methods.checkpoint import load_method

        return load_method(text, model_overrides=model_overrides)
    import sketchssl.methods  # noqa: F401  (registers the methods)
    from sketchssl.configuration import deep_merge
    from sketchssl.methods.checkpoint import read_torch_file
    from sketchssl.methods.registry import build_method, upgrade_model_config

    entry = model_entry(text)
    path = _folder() / entry["file"]
    if not path.is_file():
        raise SketchFileError(path, "the shipped weight file is missing; reinstall sketchssl")
    if _sha256(path) != entry["sha256"]:
        raise SketchFileError(
            path,
            "sha256 differs from models.json: the weight file is damaged or not the one that "
            "shipped; refusing to load it (reinstall sketchssl)",
        )
    run_config = json.loads(json.dumps(entry["run_config"]))
    run_config["model"] = upgrade_model_config(entry["method"], run_config.get("model"))
    if model_overrides:
        run_config["model"] = deep_merge(run_config["model"], model_overrides)
    method = build_method(entry["method"], run_config["model"])
    state = read_torch_file(path, "weight file")
    state = {
        key: value.float() if value.is_floating_point() else value for key, value in state.items()
    }
    missing, unexpected = method.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SketchFileError(
            path,
            f"weights do not fit {entry['method']!r} (missing {missing[:3]}, "
            f"unexpected {unexpected[:3]})",
        )
    return method.eval(), run_config


def export_encoder(
    checkpoint: str | os.PathLike[str],
    name: str,
    *,
    description: str,
    model_card: dict[str, Any],
    scale: float | None = None,
    model_overrides: dict[str, Any] | None = None,
    folder: str | os.PathLike[str] | None = None,
    half: bool = True,
) -> Path:
    """Write a checkpoint's weights as a shipped encoder and add it to ``models.json``.

    Args:
        checkpoint: a ``*.ckpt`` from ``sketchssl train``.
        name: the encoder's name.
        description: one line for ``sketchssl pretrained --list``.
        model_card: data, command, evaluation figures (shown by ``sketchssl pretrained NAME``).
        scale: the training data's offset scale, for models that normalise by it.
        model_overrides: evaluation-only settings baked into the entry (pooling, layer).
        folder: where to write (default: this package).
        half: store floating-point weights as float16 (half the size).

    Returns:
        The weight file.
    """
    from sketchssl.atomic import atomic_write
    from sketchssl.methods.checkpoint import load_method

    method, run_config = load_method(checkpoint, model_overrides=model_overrides)
    folder = Path(folder) if folder is not None else _folder()
    path = folder / f"{name}.pt"
    state = {
        key: value.half() if half and value.is_floating_point() else value
        for key, value in method.state_dict().items()
    }
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)
    from sketchssl.methods.checkpoint import training_classes as checkpoint_classes

    data = {
        key: value
        for key, value in run_config.get("data", {}).items()
        if key not in ("store",) and not key.startswith(("pair_", "augment_", "patch_mask"))
    }
    if scale is not None:
        data["scale"] = float(scale)
    index_path = folder / _INDEX
    index = json.loads(index_path.read_text(encoding="utf-8")) if index_path.is_file() else {}
    index[name] = {
        "description": description,
        "file": path.name,
        "sha256": _sha256(path),
        "method": run_config["method"],
        "run_config": {"method": run_config["method"], "model": run_config["model"], "data": data},
        "card": model_card,
    }
    classes = checkpoint_classes(checkpoint)
    if classes is not None:
        index[name]["train_classes"] = classes
    with atomic_write(index_path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(index, indent=2) + "\n")
    return path


def has_head(name: str) -> bool:
    """Whether ``name`` is a shipped encoder that ships a linear class head too."""
    return name in _index() and bool(_index()[name].get("head"))


def load_head(name: str):  # noqa: ANN201 - a sketchssl.eval.classify.LinearHead
    """The linear class head shipped with encoder ``name`` (its classes: its model card's data).

    Raises:
        SketchFileError: the head file differs from the index's hash.
    """
    from sketchssl.eval.classify import load_head as read_head

    entry = model_entry(name)
    path = _folder() / entry["head"]["file"]
    if _sha256(path) != entry["head"]["sha256"]:
        raise SketchFileError(path, "sha256 differs from models.json; reinstall sketchssl")
    return read_head(path)[0]


def add_head(
    name: str, head_file: str | os.PathLike[str], folder: str | os.PathLike[str] | None = None
) -> None:
    """Record a linear head file (``sketchssl classify --fit``) beside shipped encoder ``name``."""
    from sketchssl.atomic import atomic_write

    folder = Path(folder) if folder is not None else _folder()
    index_path = folder / _INDEX
    index = json.loads(index_path.read_text(encoding="utf-8"))
    head = Path(head_file)
    index[name]["head"] = {"file": head.name, "sha256": _sha256(head)}
    with atomic_write(index_path, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(index, indent=2) + "\n")


def _flagged(flag: str) -> str | None:
    """The first shipped model whose index entry sets ``flag`` (None: none does)."""
    return next((name for name, entry in _index().items() if entry.get(flag)), None)


def default_model() -> str:
    """The shipped encoder the commands use when none is named (the index's ``default``)."""
    chosen = _flagged("default")
    if chosen is not None:
        return chosen
    encoders = sorted(list_models("encoder"))
    if not encoders:
        raise ConfigError("no shipped encoders in this installation")
    return encoders[0]


def default_healer() -> str | None:
    """The shipped healer that ``sketchssl serve`` heals with, or None when none ships."""
    return _flagged("default_healer")


def training_classes(name_or_path: str | os.PathLike[str]) -> list[str] | None:
    """The classes a shipped model's or a checkpoint's training data held (None: not recorded)."""
    text = os.fspath(name_or_path)
    if _is_checkpoint(text):
        from sketchssl.methods.checkpoint import training_classes as checkpoint_classes

        return checkpoint_classes(text)
    classes = _index().get(text, {}).get("train_classes")
    return list(classes) if isinstance(classes, list) else None
