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
import difflib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sketchssl.errors import ConfigError
from sketchssl.methods.base import SketchMethod

__all__ = [
    "register_method",
    "get_method",
    "list_methods",
    "build_config",
    "build_method",
]

MethodType = TypeVar("MethodType", bound=type[SketchMethod])

_REGISTRY: dict[str, type[SketchMethod]] = {}


def _suggestion(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


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
            f"unknown method {name!r}.{_suggestion(name, known)} "
            f"Known methods: {', '.join(known) or '(none)'}"
        )
    return _REGISTRY[name]


def list_methods() -> list[tuple[str, str]]:
    """``(name, description)`` of every registered method, sorted by name."""
    return [(name, _REGISTRY[name].description) for name in sorted(_REGISTRY)]


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a config field's type, converting YAML lists to tuples etc."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"config key {key!r}: bad value {value!r}")
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r} takes a list, got {value!r}")
        element_types = typing.get_args(annotation)
        element = element_types[0] if element_types else Any
        return tuple(_coerce(item, element, f"{key}[{i}]") for i, item in enumerate(value))
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"config key {key!r} takes true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"config key {key!r} takes an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"config key {key!r} takes a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"config key {key!r} takes a string, got {value!r}")
    return value


def build_config(name: str, config_overrides: Mapping[str, Any] | None = None) -> Any:
    """The config dataclass of method ``name`` with ``config_overrides`` merged over its defaults.

    Args:
        name: registered method name.
        config_overrides: flat ``{field: value}``; values are type-checked (lists become tuples).

    Raises:
        ConfigError: unknown method, unknown key (with the closest valid key), wrong value type,
            or a value the config's own validation rejects.
    """
    method_class = get_method(name)
    config_class = method_class.config_class
    fields = {field.name: field for field in dataclasses.fields(config_class) if field.init}
    hints = typing.get_type_hints(config_class)
    values: dict[str, Any] = {}
    for key, value in (config_overrides or {}).items():
        if key not in fields:
            raise ConfigError(
                f"unknown config key {key!r} for method {name!r}.{_suggestion(key, list(fields))} "
                f"Valid keys: {', '.join(fields)}"
            )
        values[key] = _coerce(value, hints[key], key)
    try:
        return config_class(**values)
    except (ValueError, TypeError) as error:
        if isinstance(error, ConfigError):
            raise
        raise ConfigError(f"method {name!r}: {error}") from error


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
