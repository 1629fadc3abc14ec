"""``trimail greylist list|purge|allow``: look at and manage the greylist database.

The commands read the config's ``data_dir`` and open the same SQLite file as the
server (``DATA_DIR/plugins/greylist/greylist.sqlite3``); they are safe while it runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trimail.plugins import PluginContext
from trimail_greylist.settings import parse_network
from trimail_greylist.store import DB_NAME, GreylistStore, GreylistStoreError

if TYPE_CHECKING:
    from trimail.config.model import Config

TABLE = "greylist"


def database_path(config: Config) -> Path:
    """``DATA_DIR/plugins/greylist/greylist.sqlite3`` for *config* (not created)."""
    return Path(config.data_dir) / "plugins" / TABLE / DB_NAME


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
) -> None:
    """Add ``trimail greylist`` and its sub-commands to the ``trimail`` parser."""
    parser = commands.add_parser(
        TABLE, parents=[common], help="look at and manage the greylist (RFC 6647)"
    )
    actions = parser.add_subparsers(dest="greylist_command", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list", parents=[common], help="triplets with their state and ages, clients, allowed"
    )
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(handler=list_command)
    purge = actions.add_parser("purge", parents=[common], help="delete expired rows now")
    purge.set_defaults(handler=purge_command)
    allow = actions.add_parser(
        "allow", parents=[common], help="never greylist a client network (CIDR or address)"
    )
    allow.add_argument("network", metavar="NETWORK", help="e.g. 192.0.2.0/24 or 2001:db8::/48")
    allow.add_argument("--remove", action="store_true", help="greylist NETWORK again")
    allow.set_defaults(handler=allow_command)


def _fail(message: str) -> int:
    print(f"trimail: greylist: {message}", file=sys.stderr)
    return 1


def _open_existing(config: Config) -> GreylistStore | None:
    path = database_path(config)
    if not path.exists():
        print(f"trimail: greylist: no database yet ({path})", file=sys.stderr)
        return None
    return GreylistStore(path)


def _age(now: float, then: float | None) -> str:
    """``"42s"``, ``"5m"``, ``"3h"``, ``"2d"`` ago (``"-"`` for None)."""
    if then is None:
        return "-"
    seconds = max(0, int(now - then))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _iso(then: float | None) -> str | None:
    if then is None:
        return None
    return datetime.datetime.fromtimestamp(then, datetime.UTC).isoformat(timespec="seconds")


def _listing(store: GreylistStore, now: float) -> dict[str, Any]:
    return {
        "triplets": [
            {
                "network": t.network,
                "reverse_path": t.reverse_path,
                "forward_path": t.forward_path,
                "state": t.state(now),
                "first_seen": _iso(t.first_seen),
                "last_seen": _iso(t.last_seen),
                "passed_at": _iso(t.passed_at),
                "expires": _iso(t.expires),
                "age_seconds": round(now - t.first_seen, 3),
                "idle_seconds": round(now - t.last_seen, 3),
                "refused": t.refused,
                "passes": t.passes,
            }
            for t in store.triplets()
        ],
        "clients": [
            {
                "network": c.network,
                "deliveries": c.deliveries,
                "last_counted": _iso(c.last_counted),
                "expires": _iso(c.expires),
            }
            for c in store.clients()
        ],
        "allowed": [str(n) for n in store.allowed()],
    }


def _print_table(store: GreylistStore, now: float) -> None:
    rows = [("STATE", "NETWORK", "SENDER", "RECIPIENT", "AGE", "IDLE", "REFUSED", "PASSES")]
    rows += [
        (
            t.state(now),
            t.network,
            t.reverse_path,
            t.forward_path,
            _age(now, t.first_seen),
            _age(now, t.last_seen),
            str(t.refused),
            str(t.passes),
        )
        for t in store.triplets()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    clients = store.clients()
    if clients:
        print("\nclient networks (passed deliveries):")
        for c in clients:
            state = "expired" if c.expires <= now else "active"
            print(f"  {c.network}  {c.deliveries}  {state}")
    allowed = store.allowed()
    if allowed:
        print("\nallowed networks (never greylisted):")
        for n in allowed:
            print(f"  {n}")


def list_command(config: Config, args: argparse.Namespace) -> int:
    """``trimail greylist list [--json]``: print triplets, client networks, allowed
    networks. Returns the exit status (1 if the database cannot be read)."""
    try:
        store = _open_existing(config)
        if store is None:
            if args.json:
                print(json.dumps({"triplets": [], "clients": [], "allowed": []}))
            return 0
        try:
            now = time.time()
            if args.json:
                print(json.dumps(_listing(store, now), indent=2))
            else:
                _print_table(store, now)
        finally:
            store.close()
    except (GreylistStoreError, ValueError, TypeError, OSError) as exc:
        return _fail(str(exc))
    except sqlite3.Error as exc:
        return _fail(f"{database_path(config)}: {exc}")
    return 0


def purge_command(config: Config, _args: argparse.Namespace) -> int:
    """``trimail greylist purge``: delete expired triplets and client networks now."""
    try:
        store = _open_existing(config)
        if store is None:
            return 0
        try:
            purged = store.purge(time.time())
        finally:
            store.close()
    except GreylistStoreError as exc:
        return _fail(str(exc))
    except (sqlite3.Error, OSError) as exc:
        return _fail(f"{database_path(config)}: {exc}")
    print(f"purged {purged.triplets} triplets and {purged.clients} client networks")
    return 0


def allow_command(config: Config, args: argparse.Namespace) -> int:
    """``trimail greylist allow [--remove] NETWORK``: never greylist clients in NETWORK
    (a CIDR network or an address); ``--remove`` undoes it."""
    try:
        network = parse_network(args.network)
    except ValueError as exc:
        return _fail(str(exc))
    try:
        state_dir = PluginContext(config=config, data_dir=Path(config.data_dir)).state_dir(TABLE)
        store = GreylistStore(state_dir / DB_NAME)
        try:
            changed = store.disallow(network) if args.remove else store.allow(network, time.time())
        finally:
            store.close()
    except GreylistStoreError as exc:
        return _fail(str(exc))
    except (sqlite3.Error, OSError) as exc:
        return _fail(f"{database_path(config)}: {exc}")
    if args.remove:
        print(f"{network}: {'removed' if changed else 'was not allowed'}")
    else:
        print(f"{network}: {'allowed' if changed else 'already allowed'}")
    if TABLE not in config.plugin:
        print(
            "note: the config has no [plugin.greylist] table: greylisting is off", file=sys.stderr
        )
    return 0
