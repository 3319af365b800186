"""Typed configuration: YAML presets and ``key.sub=value`` overrides merged into dataclasses.

OmegaConf parses the YAML files and the command-line dotlist (ANCHORS.md: OmegaConf, not Hydra,
so nothing changes the working folder); the merged plain dicts are then checked field by field
against the config dataclasses here. A misspelled key is a :class:`ConfigError` that names the
key and suggests the closest valid one, and a value of the wrong type names the key and the
expected type.

A field whose type is itself a dataclass is a nested section (``model.decoder.size=512`` on the
command line, ``decoder:`` with its own keys under ``model:`` in YAML), checked the same way and
named by its full dotted key in messages. Keys given in a mapping override the field's default
instance key by key, so a method's own decoder defaults survive a partial ``decoder:`` section.

A config class may list keys that moved in a ``moved_keys`` class attribute
(``{"decoder_size": ("decoder.size",)}``): such a key given by a user is a :class:`ConfigError`
naming its new place, and :func:`upgrade_moved_keys` rewrites a saved config (a checkpoint's,
a run folder's) into today's layout.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from sketchssl.errors import ConfigError

__all__ = [
    "close_match",
    "coerce_value",
    "dataclass_from_mapping",
    "deep_merge",
    "load_yaml",
    "parse_overrides",
    "upgrade_moved_keys",
]

ConfigT = TypeVar("ConfigT")


def close_match(word: str, choices: Sequence[str]) -> str:
    """`` Did you mean 'x'?`` for the closest of ``choices`` (empty when none is close)."""
    # str(): YAML keys may be numbers or booleans (``1: x``), which difflib cannot compare.
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def coerce_value(value: Any, annotation: Any, key: str) -> Any:
    """Check ``value`` against a dataclass field type; YAML lists become tuples, 3.0 becomes 3.

    A dataclass type takes an instance of it as it is, or a mapping of its keys (built from the
    class defaults with :func:`dataclass_from_mapping`, ``key`` the section of its messages).
    """
    if isinstance(annotation, str):  # postponed annotations are resolved by the caller
        raise TypeError(f"unresolved annotation {annotation!r} for {key}")
    if isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if isinstance(value, Mapping):
            return dataclass_from_mapping(annotation, value, key)
        raise ConfigError(
            f"config key {key!r} is a section: give its keys ({key}.KEY=VALUE), got {value!r}"
        )
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
                return coerce_value(value, option, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"config key {key!r}: bad value {value!r}")
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value in choices:
            return value
        raise ConfigError(
            f"config key {key!r} takes one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    if origin in (tuple, list):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key {key!r} takes a list, got {value!r}")
        element_types = [t for t in typing.get_args(annotation) if t is not Ellipsis]
        element = element_types[0] if element_types else Any
        items = [coerce_value(item, element, f"{key}[{i}]") for i, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
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
    if origin is dict or annotation is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise ConfigError(f"config key {key!r} takes a mapping, got {value!r}")
    return value


def dataclass_from_mapping(
    config_class: type[ConfigT],
    values: Mapping[str, Any] | None,
    section: str = "",
    *,
    base: ConfigT | None = None,
) -> ConfigT:
    """Build ``config_class`` from its defaults with ``values`` merged over them.

    Nested dataclass fields take a mapping of their own keys, merged over the field's default
    (its ``default_factory``), recursively; an instance of the field's class is taken as it is.

    Args:
        config_class: a dataclass type.
        values: ``{field: value}``; unknown fields are errors.
        section: prefix for messages, such as ``"trainer"`` (keys print as ``trainer.max_steps``).
        base: an instance to start from instead of the class defaults.

    Raises:
        ConfigError: unknown key (with the closest valid key, or the new place of a key listed
            in the class's ``moved_keys``) or a value of the wrong type, named by its full
            dotted key.
    """
    hints = typing.get_type_hints(config_class)
    fields = {field.name: field for field in dataclasses.fields(config_class) if field.init}
    prefix = f"{section}." if section else ""
    if values is not None and not isinstance(values, Mapping):
        raise ConfigError(
            f"config section '{section or config_class.__name__}' must be a mapping of keys to "
            f"values, got {type(values).__name__} {values!r:.80}"
        )
    arguments = {}
    for key, value in (values or {}).items():
        if key not in fields:
            moved = getattr(config_class, "moved_keys", {}).get(key)
            if moved:
                places = " and ".join(f"'{prefix}{place}'" for place in moved)
                nested_yaml = "VALUE"
                for part in reversed(f"{prefix}{moved[0]}".split(".")):
                    nested_yaml = f"{{{part}: {nested_yaml}}}"
                writes = " and ".join(f"{prefix}{place}=VALUE" for place in moved)
                raise ConfigError(
                    f"config key '{prefix}{key}' moved to {places}: write {writes} (YAML: "
                    f"{nested_yaml}); checkpoints saved with the old key still load"
                )
            raise ConfigError(
                f"unknown config key '{prefix}{key}'.{close_match(key, list(fields))} "
                f"Valid keys of {section or config_class.__name__}: {', '.join(fields)}"
            )
        nested = _dataclass_type(hints[key])
        if nested is not None and isinstance(value, Mapping):
            start = getattr(base, key) if base is not None else _field_default(fields[key])
            arguments[key] = dataclass_from_mapping(
                nested,
                value,
                f"{prefix}{key}",
                base=start if isinstance(start, nested) else None,
            )
        else:
            arguments[key] = coerce_value(value, hints[key], f"{prefix}{key}")
    try:
        if base is not None:
            return dataclasses.replace(base, **arguments)  # type: ignore[type-var]
        return config_class(**arguments)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{section or config_class.__name__}: {error}") from None


def _dataclass_type(annotation: Any) -> type | None:
    """The dataclass a field holds (``X`` or ``X | None``), else None."""
    options = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )
    classes = [
        option
        for option in options
        if isinstance(option, type) and dataclasses.is_dataclass(option)
    ]
    return classes[0] if len(classes) == 1 else None


def _field_default(field: dataclasses.Field[Any]) -> Any:
    """A field's default value (its factory called), or None when it has none."""
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    if field.default is not dataclasses.MISSING:
        return field.default
    return None


def upgrade_moved_keys(config_class: type, values: Mapping[str, Any] | None) -> dict[str, Any]:
    """A saved config section rewritten into ``config_class``'s layout (a new dict).

    Each key listed in the class's ``moved_keys`` (``{"decoder_size": ("decoder.size",)}``) is
    removed and its value set at every new dotted place, unless the section sets that place
    itself. Other keys, and values that are not mappings, are left for
    :func:`dataclass_from_mapping` to check.

    Examples:
        >>> from dataclasses import dataclass, field
        >>> @dataclass
        ... class Inner:
        ...     size: int = 1
        >>> @dataclass
        ... class Outer:
        ...     inner: Inner = field(default_factory=Inner)
        ...     moved_keys = {"inner_size": ("inner.size",)}
        >>> upgrade_moved_keys(Outer, {"inner_size": 3})
        {'inner': {'size': 3}}
    """
    if not isinstance(values, Mapping):
        return values  # type: ignore[return-value]  # the builder names the fault
    moved: Mapping[str, tuple[str, ...]] = getattr(config_class, "moved_keys", {})
    upgraded = {key: value for key, value in values.items() if key not in moved}
    for key, places in moved.items():
        if key not in values:
            continue
        for place in places:
            *parents, leaf = place.split(".")
            target = upgraded
            for parent in parents:
                child = target.get(parent, {})
                if not isinstance(child, Mapping):
                    break
                target[parent] = child = dict(child)
                target = child
            else:
                target.setdefault(leaf, values[key])
    return upgraded


#: A config file larger than this is refused unread (the shipped presets are about 2 KB).
MAX_CONFIG_BYTES = 1 << 20
#: Deepest nesting of mappings / lists a config file may have (the presets use 3).
MAX_CONFIG_DEPTH = 64


def _check_yaml_shape(path: str | Path) -> None:
    """Refuse a config file too big or too deeply nested to parse safely.

    PyYAML builds nested nodes recursively: a few kilobytes of ``[[[[...`` exhaust the
    recursion limit, and 100,000 levels overflow the C stack of the libyaml binding
    (a segmentation fault). The nesting is measured on the parser's event stream, which is
    iterative, and the scan stops at the first level past the limit.
    """
    import yaml

    try:
        size = Path(path).stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path}: a config file of {size} bytes; the limit is {MAX_CONFIG_BYTES}. "
                "Is this really a sketchssl config?"
            )
        text = Path(path).read_bytes()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read this config file ({error})") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    too_deep = (
        f"{path}: mappings / lists nested more than {MAX_CONFIG_DEPTH} deep; "
        "a sketchssl config has sections of plain keys"
    )
    depth = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_CONFIG_DEPTH:
                    raise ConfigError(too_deep)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
    except (yaml.YAMLError, ValueError) as error:
        # libyaml 0.2.6+ (PyYAML 6.0.3+ wheels) stops flow collections past its own limit
        # (1,000) while scanning ahead, before the parser hands us the 65th start event.
        if "nesting depth" in str(error):
            raise ConfigError(too_deep) from None
        raise ConfigError(f"{path}: cannot read this config file ({error})") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML file as a plain dict (OmegaConf, no interpolation surprises, no code run).

    Raises:
        ConfigError: the file is missing, not YAML, not a mapping, larger than
            :data:`MAX_CONFIG_BYTES` or nested deeper than :data:`MAX_CONFIG_DEPTH`.
    """
    import yaml
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    _check_yaml_shape(path)
    try:
        loaded = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except AssertionError:  # OmegaConf.load asserts on a top-level string such as '2'
        raise ConfigError(f"{path}: a config file must hold a mapping at the top level") from None
    except (OSError, OmegaConfBaseException, ValueError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read this config file ({error})") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: a config file must hold a mapping at the top level")
    return loaded


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["trainer.max_steps=200", "model.num_layers=2"]`` as a nested dict, typed by YAML."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    for item in overrides:
        if "=" not in item or item.startswith("="):
            raise ConfigError(
                f"override {item!r} must look like section.key=value, e.g. trainer.max_steps=200"
            )
    try:
        parsed = OmegaConf.to_container(OmegaConf.from_dotlist(list(overrides)), resolve=True)
    except (OmegaConfBaseException, ValueError) as error:
        raise ConfigError(f"cannot parse overrides {list(overrides)}: {error}") from None
    return parsed or {}


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A new dict: ``override`` merged into ``base``, mappings merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
