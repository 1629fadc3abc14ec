"""Load a TOML config file into `Config`, with errors naming file, key and reason."""

from __future__ import annotations

import re
import socket
import tomllib
from pathlib import Path
from typing import TypeVar

import attrs
import cattrs

from trimail.config.model import Config, is_hostname

_converter = cattrs.Converter(forbid_extra_keys=True)

T = TypeVar("T")

# cattrs writes a table key as ['name']; the operator knows it as .name
_DICT_KEY = re.compile(r"\['([^']*)'\]")


def _strict(kind: type, name: str) -> None:
    """Refuse TOML values of the wrong type instead of coercing them (3 -> "3")."""

    def structure(value: object, _type: object) -> object:
        if isinstance(value, bool) and kind is not bool:
            raise TypeError(f"expected {name}, got true/false")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise TypeError(f"expected {name}, got {type(value).__name__} {value!r}")
        return value

    _converter.register_structure_hook(kind, structure)


def _structure_strings(value: object, _type: object) -> tuple[str, ...]:
    """A TOML array of strings (a bare string is refused, not split into characters)."""
    if not isinstance(value, list):
        raise TypeError(f"expected a list of strings, got {type(value).__name__} {value!r}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"expected a list of strings, got an item {item!r}")
    return tuple(value)


_converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_strings)


for _kind, _name in (
    (str, "a string"),
    (int, "an integer"),
    (float, "a number"),
    (bool, "true or false"),
):
    _strict(_kind, _name)


class ConfigError(Exception):
    """The configuration is invalid. ``str(err)`` is ``file: key: reason``, for the operator."""


def _format(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return "unknown key(s): " + ", ".join(sorted(exc.extra_fields))
    if isinstance(exc, ValueError | TypeError) and not isinstance(exc, cattrs.BaseValidationError):
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _describe(exc: BaseException) -> list[tuple[str, str]]:
    """Turn a cattrs error tree into (dotted key, reason) pairs."""
    pairs = []
    for message in cattrs.transform_error(exc, path="$", format_exception=_format):
        reason, _, where = message.rpartition(" @ ")
        key = _DICT_KEY.sub(r".\1", where.removeprefix("$")).lstrip(".")
        field, sep, detail = reason.partition(": ")
        if sep and field.isidentifier():  # an attrs validator named its field
            key, reason = f"{key}.{field}".lstrip("."), detail
        pairs.append((key or "(top level)", reason or message))
    return pairs


def _machine_hostname() -> str:
    name = socket.getfqdn()
    return name if name and name != "localhost" else socket.gethostname() or "localhost"


def _finish(config: Config) -> Config:
    if not config.hostname:
        name = _machine_hostname()
        config = attrs.evolve(config, hostname=name if is_hostname(name) else "localhost")
    return config


def default_config() -> Config:
    """The embedded defaults (ARCHITECTURE.md: ./trimail-data, loopback, ports 2525...)."""
    return _finish(Config())


def load_config(path: str | Path | None) -> Config:
    """Read and validate a TOML config file; None gives the embedded defaults.

    Args:
        path: the TOML file, or None.

    Returns:
        A validated, frozen `Config` with ``hostname`` filled in.

    Raises:
        ConfigError: unreadable file, TOML syntax, unknown key, wrong type or value;
            the message is ``"<file>: <key>: <reason>"`` (one line per problem).
    """
    if path is None:
        return default_config()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text: {exc.reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax: {exc}") from None
    try:
        config = _converter.structure(data, Config)
    except Exception as exc:  # cattrs raises groups of validation errors
        lines = [f"{path}: {key}: {reason}" for key, reason in _describe(exc)]
        raise ConfigError("\n".join(lines)) from None
    return _finish(config)


def structure_plugin_table(
    config: Config, name: str, cls: type[T], *, absent_as_empty: bool = False
) -> T | None:
    """Validate a plugin's ``[plugin.NAME]`` table into its own attrs class.

    Types are as strict as trimail's own config (no coercion; unknown keys refused).

    Args:
        config: the validated configuration.
        name: the plugin's table name, e.g. ``"passwd_file"``.
        cls: a (frozen) attrs class describing the table.
        absent_as_empty: treat a missing table as ``{}`` (the class's defaults).

    Returns:
        The settings, or None if the config has no such table.

    Raises:
        ConfigError: ``plugin.NAME.KEY: reason``, one line per problem.
    """
    table = config.plugin.get(name, {} if absent_as_empty else None)
    if table is None:
        return None
    try:
        return _converter.structure(table, cls)
    except Exception as exc:  # cattrs raises groups of validation errors
        lines = [
            f"plugin.{name}{'' if key == '(top level)' else '.' + key}: {why}"
            for key, why in _describe(exc)
        ]
        raise ConfigError("\n".join(lines)) from None
