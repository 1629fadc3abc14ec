"""``trimail sieve``: put, get, delete, list and check users' Sieve scripts.

Scripts live in ``DATA_DIR/plugins/sieve/sieve.sqlite3`` (the plugin's state directory),
keyed by account id; ``ADDRESS`` is looked up in trimail's user database.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from trimail.config.loader import structure_plugin_table
from trimail.users.db import UserDatabaseError
from trimail_sieve.script import ScriptError, compile_script
from trimail_sieve.settings import TABLE, SieveSettings
from trimail_sieve.store import FILE_NAME, SieveStore, StoreError

if TYPE_CHECKING:
    from trimail.config.model import Config

Handler = Callable[["Config", argparse.Namespace], int]


class SieveCliError(Exception):
    """A ``trimail sieve`` command failed; printed as one line, exit status 1."""


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Add ``trimail sieve ...`` to the ``trimail`` argument parser."""
    sieve = commands.add_parser("sieve", parents=[common], help="manage users' Sieve scripts")
    actions = sieve.add_subparsers(dest="sieve_command", metavar="ACTION", required=True)
    put = actions.add_parser(
        "put", parents=[common], help="check a script and make it the user's active script"
    )
    put.add_argument("address", help="the user, local@domain")
    put.add_argument("file", help="the script file, or - for standard input")
    put.set_defaults(handler=_wrap(lambda c, a: _put(c, a, clock())))
    get = actions.add_parser("get", parents=[common], help="print the user's script")
    get.add_argument("address")
    get.set_defaults(handler=_wrap(_get))
    delete = actions.add_parser("delete", parents=[common], help="remove the user's script")
    delete.add_argument("address")
    delete.set_defaults(handler=_wrap(_delete))
    listing = actions.add_parser("list", parents=[common], help="list the users with a script")
    listing.set_defaults(handler=_wrap(_list))
    check = actions.add_parser("check", parents=[common], help="check a script, store nothing")
    check.add_argument("file", help="the script file, or - for standard input")
    check.set_defaults(handler=_wrap(_check))


def _wrap(handler: Handler) -> Handler:
    def run(config: Config, args: argparse.Namespace) -> int:
        try:
            return handler(config, args)
        except (SieveCliError, StoreError, UserDatabaseError) as exc:
            print(f"trimail sieve: {exc}", file=sys.stderr)
            return 1
        except sqlite3.Error as exc:  # a database of another layout
            print(f"trimail sieve: {state_dir(config)}: unusable database: {exc}", file=sys.stderr)
            return 1

    return run


def settings_of(config: Config) -> SieveSettings:
    """The ``[plugin.sieve]`` settings, or the defaults if the table is absent.

    Raises:
        trimail.config.ConfigError: the table is invalid.
    """
    return structure_plugin_table(config, TABLE, SieveSettings) or SieveSettings()


def state_dir(config: Config) -> Path:
    """``DATA_DIR/plugins/sieve``, created (mode 0700) if missing: the same directory
    as `trimail.plugins.PluginContext.state_dir` gives the running server."""
    path = Path(config.data_dir) / "plugins" / TABLE
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SieveCliError(f"{path}: {exc.strerror or exc}") from None
    return path


@contextmanager
def _store(config: Config) -> Iterator[SieveStore]:
    store = SieveStore(state_dir(config) / FILE_NAME)
    try:
        yield store
    finally:
        store.close()


def _account(config: Config, address: str) -> tuple[str, str]:
    from trimail.users.db import UserDatabase

    path = Path(config.data_dir) / "users.sqlite3"
    if not path.exists():
        raise SieveCliError(f"no user database at {path} (add users with: trimail user add)")
    users = UserDatabase(path)
    try:
        found = users.find_user(address)
    finally:
        users.close()
    if found is None:
        raise SieveCliError(f"{address}: no such user (see: trimail user list)")
    return found.address, found.account_id


def _read(name: str) -> bytes:
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        return Path(name).read_bytes()
    except OSError as exc:
        raise SieveCliError(f"{name}: {exc.strerror or exc}") from None


def _checked(config: Config, name: str) -> bytes:
    source = _read(name)
    try:
        settings = settings_of(config)
        compile_script(
            source,
            max_bytes=settings.max_script_bytes,
            allow_redirect=settings.max_redirects > 0,
        )
    except ScriptError as exc:
        raise SieveCliError(f"{name}: {exc}") from None
    return source


def _put(config: Config, args: argparse.Namespace, now: float) -> int:
    source = _checked(config, args.file)
    address, account_id = _account(config, args.address)
    with _store(config) as store:
        store.put(account_id, address, source, now=now)
    print(f"{address}: script stored ({len(source)} octets)")
    if TABLE not in config.plugin:
        print(f"note: the config has no [plugin.{TABLE}] table, so scripts are not run")
    return 0


def _get(config: Config, args: argparse.Namespace) -> int:
    address, account_id = _account(config, args.address)
    with _store(config) as store:
        stored = store.get(account_id)
    if stored is None:
        raise SieveCliError(f"{address} has no Sieve script")
    sys.stdout.buffer.write(stored.source)
    sys.stdout.flush()
    return 0


def _delete(config: Config, args: argparse.Namespace) -> int:
    address, account_id = _account(config, args.address)
    with _store(config) as store:
        if not store.delete(account_id):
            raise SieveCliError(f"{address} has no Sieve script")
    print(f"{address}: script deleted")
    return 0


def _list(config: Config, _args: argparse.Namespace) -> int:
    with _store(config) as store:
        scripts = store.scripts()
    for stored in scripts:
        when = _dt.datetime.fromtimestamp(stored.updated, _dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        print(f"{stored.address}\t{len(stored.source)} octets\t{when}")
    return 0


def _check(config: Config, args: argparse.Namespace) -> int:
    source = _checked(config, args.file)
    print(f"{args.file}: OK ({len(source)} octets)")
    return 0
