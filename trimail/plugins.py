"""The plugin manager and the objects the plugin API hands to plugins.

Plugins are pluggy plugins of the project ``trimail`` (hooks in `trimail.hookspecs`):
the built-in ones first, then the ``trimail`` entry-point group, then the modules
named by ``plugins = [...]`` in the config. A plugin that declares a config table
(`trimail.hookspecs.trimail_config_table`) gets it validated with cattrs here.
"""

from __future__ import annotations

import enum
import importlib
import importlib.metadata
import inspect
import re
import sys
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs
import pluggy

from trimail import hookspecs

if TYPE_CHECKING:
    from trimail.config.model import Config
    from trimail.mailauth.resolver import Resolver

hookimpl = pluggy.HookimplMarker("trimail")

PROJECT = "trimail"

# Built-in behaviour, registered as plugins so that others can replace it.
BUILTIN_PLUGINS = (
    "trimail.storage.plugin",
    "trimail.server.auth",
    "trimail.server.mailauth_plugin",
)

_TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")

T = TypeVar("T")


class PluginError(Exception):
    """A plugin could not be loaded or started; ``str(err)`` names it and why."""


@attrs.frozen
class ConfigTable:
    """A plugin's config table, declared by `trimail.hookspecs.trimail_config_table`.

    Attributes:
        name: the table's name: ``[plugin.NAME]`` (lower case letters, digits and
            ``_``, starting with a letter; at most 64 characters).
        cls: an attrs class for the table's keys; validated with cattrs as strictly
            as trimail's own config (no type coercion, unknown keys refused).
        enabled_without_table: run the plugin with ``cls()`` (its defaults) when the
            config has no such table. By default (False) a plugin whose table is
            absent is unregistered after loading: installing a plugin does not turn
            it on, and costs nothing until it is configured.
    """

    name: str
    cls: type
    enabled_without_table: bool = False


class QueueEventKind(enum.Enum):
    """What happened to queued mail (`QueueEvent.kind`)."""

    QUEUED = "queued"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    FAILED = "failed"
    EXPIRED = "expired"


@attrs.frozen(kw_only=True)
class QueueEvent:
    """One queue event (`trimail.hookspecs.trimail_queue_event`).

    Attributes:
        kind: queued (once per message), or per recipient after an attempt:
            delivered, deferred (will be retried), failed (permanent), expired (gave
            up after ``[queue] give_up_after_seconds``).
        queue_id: the message's queue id (hex).
        reverse_path: the reverse-path (``""`` for ``<>``).
        recipient: the forward-path the event is about; ``""`` for QUEUED.
        recipients: for QUEUED, every forward-path queued; else ``(recipient,)``.
        reply: the last reply or reason, e.g. ``"550 5.1.1 no such user"``;
            ``""`` for QUEUED.
        remote_mta: the host that answered, or ``""``.
        time: when it happened (seconds since the epoch).
    """

    kind: QueueEventKind
    queue_id: str
    reverse_path: str
    recipient: str = ""
    recipients: tuple[str, ...] = ()
    reply: str = ""
    remote_mta: str = ""
    time: float = 0.0


class Outbox(Protocol):
    """Sends new mail on a plugin's behalf (a vacation reply, a notice)."""

    def send(self, *, reverse_path: str, recipients: Sequence[str], message: bytes) -> str:
        """Queue *message* durably for *recipients* and return its queue id.

        Blocking: call it from a hook (a worker thread), not from the Trio thread.
        The message goes through the outbound hooks (a DKIM signature for a local
        From domain) and the queue, like an authenticated submission; local
        recipients are delivered by the queue into INBOX.

        Args:
            reverse_path: the envelope sender, ``""`` for ``<>`` (automatic replies
                use ``<>``, RFC 3834 §3.3, RFC 5230 §5.1).
            recipients: forward-paths, ``local@domain``.
            message: a complete RFC 5322 message (CRLF line ends) with From, To,
                Date and Message-ID fields.

        Raises:
            ValueError: an address is not a valid mailbox, or *recipients* is empty.
            OSError: the queue could not store it.
        """
        ...


@attrs.frozen(kw_only=True)
class PluginContext:
    """What a plugin gets at start-up (`trimail.hookspecs.trimail_startup`).

    Attributes:
        config: the validated server configuration.
        data_dir: the server's data directory.
        tables: validated plugin settings by table name (see `settings`).
        resolver: the server's DNS resolver for worker threads (cached; raises
            ``trimail.mailauth.resolver.TempError``); use it from hooks, not from
            ``trimail_startup`` itself (that runs in the Trio thread).
        outbox: sends new mail (see `Outbox`); None in ``check-config`` and
            ``plugins list``, which do not run the server.
    """

    config: Config
    data_dir: Path
    tables: Mapping[str, object] = attrs.field(factory=dict)
    resolver: Resolver | None = None
    outbox: Outbox | None = None

    def settings(self, name: str) -> Any:
        """The validated ``[plugin.NAME]`` table (an instance of the declared class), or
        None if the config has no such table (the plugin is then usually off)."""
        return self.tables.get(name)

    def state_dir(self, name: str) -> Path:
        """``DATA_DIR/plugins/NAME``: a directory (created, mode 0700) for the plugin's
        own files (a database). *name* must be a table name.

        Raises:
            ValueError: *name* is not a valid table name.
            OSError: the directory cannot be created.
        """
        if not _TABLE_NAME.fullmatch(name):
            raise ValueError(f"plugin state directory: {name!r} is not a plugin name")
        path = self.data_dir / "plugins" / name
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path


@attrs.frozen(kw_only=True)
class PluginInfo:
    """One loaded plugin, as ``trimail plugins list`` shows it.

    Attributes:
        name: the name it is registered under.
        source: ``"built-in"``, ``"entry point"`` or ``"config"``.
        module: the defining module's name.
        path: the module's file, or ``""``.
        distribution: ``"name version"`` of the installed package (entry points), or ``""``.
        hooks: the hooks it implements, sorted.
        table: its config table name, or ``""``.
        configured: True if the config has that table.
        enabled: False for a plugin turned off because its table is absent (its
            hooks are not called).
    """

    name: str
    source: str
    module: str
    path: str
    distribution: str
    hooks: tuple[str, ...]
    table: str
    configured: bool
    enabled: bool = True


class Plugins(pluggy.PluginManager):
    """The plugin manager of one run: pluggy's, plus what was learnt loading the plugins.

    Attributes:
        tables: validated plugin settings by table name.
        sources: plugin name -> (source, distribution) for `describe`.
        table_names: plugin name -> its table name.
    """

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.add_hookspecs(hookspecs)
        self.tables: dict[str, object] = {}
        self.sources: dict[str, tuple[str, str]] = {}
        self.table_names: dict[str, str] = {}
        self.disabled: dict[str, object] = {}

    def describe(self, config: Config) -> list[PluginInfo]:
        """Every registered plugin, in registration order."""
        infos = []
        everything = [*self.list_name_plugin(), *self.disabled.items()]
        for name, plugin in everything:
            if plugin is None:
                continue
            module_name = (
                plugin.__name__ if isinstance(plugin, types.ModuleType) else type(plugin).__module__
            )
            source, dist = self.sources.get(name, ("config", ""))
            table = self.table_names.get(name, "")
            infos.append(
                PluginInfo(
                    name=name,
                    source=source,
                    module=module_name,
                    path=getattr(sys.modules.get(module_name), "__file__", None) or "",
                    distribution=dist,
                    hooks=_hook_names(plugin),
                    table=table,
                    configured=bool(table) and table in config.plugin,
                    enabled=name not in self.disabled,
                )
            )
        return infos


def _register(pm: Plugins, plugin: object, name: str, where: str) -> None:
    """Register *plugin*, refusing hooks pluggy or trimail cannot call.

    Raises:
        PluginError: an unknown hook or argument name (pluggy's check), or an
            ``async def`` hook (hooks are plain functions, `trimail.hookspecs`).
    """
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"{where}: {exc}") from None
    for caller in pm.get_hookcallers(plugin) or ():
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin and inspect.iscoroutinefunction(impl.function):
                pm.unregister(plugin)
                raise PluginError(
                    f"{where}: hook {caller.name} is async def; trimail hooks are plain "
                    "functions called in worker threads (they may block)"
                )


def _hook_names(plugin: object) -> tuple[str, ...]:
    names = (n for n in dir(plugin) if n.startswith("trimail_"))
    return tuple(sorted(n for n in names if hasattr(getattr(plugin, n), "trimail_impl")))


def make_plugin_manager(config: Config, *, load_entry_points: bool = True) -> Plugins:
    """Load the plugins for one run (no module-level manager) and validate their tables.

    Registers the built-in plugins, then the ``trimail`` entry points, then the modules
    named in ``config.plugins``; checks that every hookimpl matches a hookspec; then
    validates each declared ``[plugin.NAME]`` table (`trimail.plugins.ConfigTable`)
    and refuses tables no plugin declares.

    Args:
        config: the validated configuration.
        load_entry_points: False in tests that want only the built-ins.

    Raises:
        PluginError: a plugin cannot be imported, a hookimpl is invalid, or two
            plugins declare the same table.
        trimail.config.ConfigError: a table is invalid (``plugin.NAME.KEY: reason``)
            or unknown.
    """
    pm = Plugins()
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
        pm.sources[name] = ("built-in", "")
    if load_entry_points:
        register_entry_points(pm)
    for name in config.plugins:
        module_name, _, attribute = name.partition(":")
        try:
            module: Any = importlib.import_module(module_name)
            if attribute:
                module = getattr(module, attribute)
        except Exception as exc:
            raise PluginError(f"plugins: {name!r} cannot be imported: {exc}") from None
        if pm.get_plugin(name) is None and not pm.is_registered(module):
            _register(pm, module, name, f"plugins: {name!r}")
            pm.sources[name] = ("config", "")
            if not pm.get_hookcallers(module):
                raise PluginError(
                    f"plugins: {name!r} defines no trimail hooks "
                    "(functions marked with trimail.plugins.hookimpl)"
                )
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc)) from None
    _validate_tables(pm, config)
    return pm


def register_entry_points(pm: Plugins) -> None:
    """Register the plugins of the ``trimail`` entry-point group in *pm*.

    Raises:
        PluginError: an entry point cannot be loaded (its name, package and why).
    """
    for ep in importlib.metadata.entry_points(group=PROJECT):
        if pm.get_plugin(ep.name) is not None:
            continue
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else ""
        where = f"entry point {ep.name!r} of {ep.dist.name if ep.dist else '?'}"
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(f"{where}: cannot be loaded: {exc}") from None
        if pm.is_registered(plugin):
            continue
        _register(pm, plugin, ep.name, where)
        pm.sources[ep.name] = ("entry point", dist)


def _validate_tables(pm: Plugins, config: Config) -> None:
    from trimail.config.loader import ConfigError, structure_plugin_table

    declared: dict[str, str] = {}
    off: list[str] = []
    for impl in pm.hook.trimail_config_table.get_hookimpls():
        try:
            table = impl.function()
        except Exception as exc:
            raise PluginError(
                f"plugin {impl.plugin_name!r}: trimail_config_table failed: {exc}"
            ) from None
        if table is None:
            continue
        if not isinstance(table, ConfigTable) or not _TABLE_NAME.fullmatch(table.name):
            raise PluginError(
                f"plugin {impl.plugin_name!r}: trimail_config_table must return a "
                f"ConfigTable with a lower-case name, not {table!r}"
            )
        if not attrs.has(table.cls):
            raise PluginError(
                f"plugin {impl.plugin_name!r}: table {table.name!r}: {table.cls!r} "
                "is not an attrs class"
            )
        if table.name in declared:
            raise PluginError(
                f"plugins {declared[table.name]!r} and {impl.plugin_name!r} both "
                f"declare [plugin.{table.name}]"
            )
        declared[table.name] = impl.plugin_name
        pm.table_names[impl.plugin_name] = table.name
        settings = structure_plugin_table(
            config, table.name, table.cls, absent_as_empty=table.enabled_without_table
        )
        if settings is not None:
            pm.tables[table.name] = settings
        else:
            off.append(impl.plugin_name)
    unknown = sorted(set(config.plugin) - set(declared))
    if unknown:
        have = ", ".join(sorted(declared)) or "none"
        raise ConfigError(
            "\n".join(
                f"plugin.{name}: no loaded plugin reads this table (is the plugin "
                f"installed? tables of loaded plugins: {have})"
                for name in unknown
            )
        )
    for name in off:
        pm.disabled[name] = pm.unregister(name=name)


def call_impl(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
    """Call one hook implementation with the subset of *kwargs* it accepts (pluggy's
    rule), for hooks the server calls one plugin at a time (start-up, CLI)."""
    return impl.function(*(kwargs[name] for name in impl.argnames))


def plugin_names(pm: pluggy.PluginManager, hook_name: str) -> list[str]:
    """The names of the plugins implementing *hook_name*, in call order (for log lines)."""
    caller = getattr(pm.hook, hook_name)
    return [impl.plugin_name for impl in reversed(caller.get_hookimpls())]


__all__ = [
    "BUILTIN_PLUGINS",
    "ConfigTable",
    "Outbox",
    "PluginContext",
    "PluginError",
    "PluginInfo",
    "Plugins",
    "QueueEvent",
    "QueueEventKind",
    "call_impl",
    "hookimpl",
    "make_plugin_manager",
    "plugin_names",
    "register_entry_points",
]
