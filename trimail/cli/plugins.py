"""``trimail plugins list``: what is loaded, from where, its hooks and its table.

trimail plugins list            one block per plugin
trimail plugins list --json     the same as a JSON array
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import attrs

from trimail import hookspecs
from trimail.config.model import Config
from trimail.plugins import (
    PluginError,
    Plugins,
    call_impl,
    make_plugin_manager,
    register_entry_points,
)


def _list(config: Config, args: argparse.Namespace) -> int:
    plugins = make_plugin_manager(config)
    infos = plugins.describe(config)
    if args.json:
        print(json.dumps([attrs.asdict(i) for i in infos], indent=2))
        return 0
    major, minor = hookspecs.API_VERSION
    print(f"plugin API {major}.{minor}; {len(infos)} plugins")
    for info in infos:
        state = "on" if info.enabled else f"off (no [plugin.{info.table}] table)"
        origin = info.source + (f", {info.distribution}" if info.distribution else "")
        print(f"\n{info.name}  [{origin}]  {state}")
        print(f"  module: {info.module}" + (f" ({info.path})" if info.path else ""))
        if info.table:
            print(f"  table:  [plugin.{info.table}]" + (" (configured)" if info.configured else ""))
        print(f"  hooks:  {', '.join(info.hooks) or 'none'}")
    return 0


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``plugins`` sub-command to *commands*."""
    plugins = commands.add_parser("plugins", parents=[common], help="the loaded plugins")
    actions = plugins.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", parents=[common], help="loaded plugins: source, hooks, config table"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_list)


def add_plugin_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Let installed plugins add sub-commands (`trimail.hookspecs.trimail_cli_commands`).

    Only entry-point plugins can (the config is not read yet). A plugin that cannot be
    loaded or whose commands clash is reported on stderr and left out, so that the
    rest of the command line still works.
    """
    pm = Plugins()
    try:
        register_entry_points(pm)
    except PluginError as exc:
        print(f"trimail: warning: {exc}", file=sys.stderr)
        return
    for impl in reversed(pm.hook.trimail_cli_commands.get_hookimpls()):
        try:
            call_impl(impl, commands=commands, common=common)
        except Exception as exc:
            print(
                f"trimail: warning: plugin {impl.plugin_name}: commands left out: {exc}",
                file=sys.stderr,
            )
