"""Method registry: names -> method classes, and building a method from config overrides.

Verb-noun factory functions in the style of timm's ``create_model`` / ``list_models``::

    @register_method("sketch_bert", "Sketch-BERT pre-training (Sketch Gestalt Model)")
    class SketchBert(SketchMethod): ...

    model = build_method("sketch_bert", {"num_layers": 4, "hidden_dim": 128})

Unknown names and misspelled config keys raise :class:`~sketchssl.errors.ConfigError` with the
closest valid spelling (``difflib``), so the command line can print one helpful line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sketchssl.configuration import close_match, dataclass_from_mapping, upgrade_moved_keys
from sketchssl.errors import ConfigError
from sketchssl.methods.base import SketchMethod

__all__ = [
    "register_method",
    "get_method",
    "list_methods",
    "build_config",
    "build_method",
    "upgrade_model_config",
]

MethodType = TypeVar("MethodType", bound=type[SketchMethod])

_REGISTRY: dict[str, type[SketchMethod]] = {}


def register_method(name: str, description: str) -> Callable[[MethodType], MethodType]:
    """Class decorator adding a :class:`SketchMethod` subclass to the registry under ``name``.

    Args:
        name: registry key (``snake_case``), as the command line spells it.
        description: one line for ``sketchssl train --list``.
    """

    def decorate(method_class: MethodType) -> MethodType:
        if name in _REGISTRY and _REGISTRY[name] is not method_class:
            raise ValueError(f"method name {name!r} is already registered")
        if not issubclass(method_class, SketchMethod):
            raise TypeError(f"{method_class.__name__} must subclass SketchMethod")
        config_class = getattr(method_class, "config_class", None)
        if config_class is None or not dataclasses.is_dataclass(config_class):
            raise TypeError(f"{method_class.__name__}.config_class must be a dataclass")
        method_class.name = name
        method_class.description = description
        _REGISTRY[name] = method_class
        return method_class

    return decorate


def get_method(name: str) -> type[SketchMethod]:
    """The method class registered as ``name``.

    Raises:
        ConfigError: unknown name; the message lists the known ones and the closest match.
    """
    if name not in _REGISTRY:
        known = sorted(_REGISTRY)
        raise ConfigError(
            f"unknown method {name!r}.{close_match(name, known)} "
            f"Known methods: {', '.join(known) or '(none)'}"
        )
    return _REGISTRY[name]


def list_methods() -> list[tuple[str, str]]:
    """``(name, description)`` of every registered method, sorted by name."""
    return [(name, _REGISTRY[name].description) for name in sorted(_REGISTRY)]


def build_config(name: str, config_overrides: Mapping[str, Any] | None = None) -> Any:
    """The config dataclass of method ``name`` with ``config_overrides`` merged over its defaults.

    Args:
        name: registered method name.
        config_overrides: flat ``{field: value}``; values are type-checked (lists become tuples).

    Raises:
        ConfigError: unknown method, unknown key (with the closest valid key), wrong value type,
            or a value the config's own validation rejects.
    """
    config_class = get_method(name).config_class
    try:
        return dataclass_from_mapping(config_class, config_overrides, section="model")
    except ConfigError:
        raise
    except (ValueError, TypeError) as error:
        raise ConfigError(f"method {name!r}: {error}") from error


def upgrade_model_config(name: str, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """A saved ``model`` section of method ``name`` in today's layout (a new dict).

    For configs read back from checkpoints and run folders, never for a user's keys: keys the
    method's config lists as moved (``decoder_size`` -> ``decoder.size``) go to their new
    places (:func:`~sketchssl.configuration.upgrade_moved_keys`). A user's moved key is a
    :class:`ConfigError` in :func:`build_config` instead.

    Examples:
        >>> import sketchssl.methods
        >>> upgrade_model_config("sketch_rnn", {"decoder_size": 256, "kl_weight": 0.5})
        {'kl_weight': 0.5, 'decoder': {'size': 256}}
    """
    return upgrade_moved_keys(get_method(name).config_class, values or {})


def build_method(name: str, config_overrides: Mapping[str, Any] | None = None) -> SketchMethod:
    """Instantiate method ``name`` from its defaults and ``config_overrides``.

    Examples:
        >>> import sketchssl.methods
        >>> model = build_method("sketch_bert", {"num_layers": 2, "hidden_dim": 32,
        ...                                      "num_heads": 2, "ffn_dim": 64})
        >>> model.config.num_layers
        2
    """
    return get_method(name)(build_config(name, config_overrides))
