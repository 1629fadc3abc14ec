"""The plugin manager: built-in plugins, entry points and ``plugins = [...]`` from config."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

from trimail import hookspecs

if TYPE_CHECKING:
    from trimail.config.model import Config

hookimpl = pluggy.HookimplMarker("trimail")

PROJECT = "trimail"

# Built-in behaviour, registered as plugins so that others can replace it.
BUILTIN_PLUGINS = (
    "trimail.storage.plugin",
    "trimail.server.auth",
    "trimail.server.mailauth_plugin",
)


class PluginError(Exception):
    """A plugin could not be loaded; ``str(err)`` names it and why."""


def make_plugin_manager(config: Config, *, load_entry_points: bool = True) -> pluggy.PluginManager:
    """Build the plugin manager for one server run (no module-level manager).

    Registers the built-in plugins, then the ``trimail`` entry points, then the modules
    named in ``config.plugins``, and checks that every hookimpl matches a hookspec.

    Args:
        config: the validated configuration.
        load_entry_points: False in tests that want only the built-ins.

    Raises:
        PluginError: a configured module cannot be imported, or a hookimpl is invalid.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if load_entry_points:
        pm.load_setuptools_entrypoints(PROJECT)
    for name in config.plugins:
        try:
            module: Any = importlib.import_module(name)
        except Exception as exc:
            raise PluginError(f"plugins: {name!r} cannot be imported: {exc}") from None
        if pm.get_plugin(name) is None:
            pm.register(module, name=name)
            if not pm.get_hookcallers(module):
                raise PluginError(
                    f"plugins: {name!r} defines no trimail hooks "
                    "(functions marked with trimail.plugins.hookimpl)"
                )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from None
    return pm
