"""``trimail domain|user|alias ...``: manage the user database in ``<data_dir>``."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from trimail.config.model import Config
from trimail.sasl import ScramCredentials
from trimail.users.db import UserDatabase, UserDatabaseError, UserInfo, normalize_address
from trimail.users.passwords import hash_password, scram_credentials


class AdminError(Exception):
    """An admin command failed; the message is for the operator."""


def data_paths(config: Config) -> tuple[Path, Path]:
    """(user database file, mail store root) under ``config.data_dir``, created if missing.

    Raises:
        AdminError: the data directory cannot be created.
    """
    root = Path(config.data_dir)
    try:
        (root / "accounts").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AdminError(f"data_dir {root}: cannot create: {exc.strerror}") from None
    return root / "users.sqlite3", root / "accounts"


@contextmanager
def open_users(config: Config) -> Iterator[UserDatabase]:
    """Open the user database of *config*; errors become `AdminError`."""
    db_path, _ = data_paths(config)
    try:
        db = UserDatabase(db_path)
    except UserDatabaseError as exc:
        raise AdminError(str(exc)) from None
    try:
        yield db
    except UserDatabaseError as exc:
        raise AdminError(str(exc)) from None
    finally:
        db.close()


def _open_store(config: Config) -> Any:
    from trimail.storage.plugin import open_default_store

    _, accounts = data_paths(config)
    return open_default_store(accounts)


def _read_password(args: argparse.Namespace) -> tuple[str, ScramCredentials | None]:
    """Read a new password; return its argon2 hash and its SCRAM-SHA-256 keys.

    The keys are None (with a note on standard error) when SASLprep refuses the
    password: it then works with PLAIN and LOGIN only.
    """
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise AdminError("no terminal to prompt for a password; use --password-stdin")
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            raise AdminError("the passwords differ")
    try:
        password_hash = hash_password(password)
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    try:
        scram = scram_credentials(password)
    except ValueError as exc:
        print(f"note: no SCRAM-SHA-256 keys for this password: {exc}", file=sys.stderr)
        scram = None
    return password_hash, scram


def _find_user(db: UserDatabase, address: str) -> UserInfo:
    user = db.find_user(address)
    if user is None:
        raise AdminError(f"no user {normalize_address(address)}")
    return user


def _domain(config: Config, args: argparse.Namespace) -> int:
    with open_users(config) as db:
        if args.action == "add":
            print(f"added domain {db.add_domain(args.name)}")
        elif args.action == "remove":
            db.remove_domain(args.name)
            print(f"removed domain {args.name}")
        else:
            for name in db.domains():
                print(name)
    return 0


def _user(config: Config, args: argparse.Namespace) -> int:
    with open_users(config) as db:
        if args.action == "add":
            password_hash, scram = _read_password(args)
            user = db.add_user(args.address, password_hash, scram)
            store = _open_store(config)
            try:
                store.create_account(user.account_id)
            finally:
                store.close()
            print(f"added user {user.address}")
        elif args.action == "passwd":
            if db.password_hash(args.address) is None:
                raise AdminError(f"no user {args.address}")
            db.set_password_hash(args.address, *_read_password(args))
            print(f"changed password of {args.address}")
        elif args.action == "show":
            user = _find_user(db, args.address)
            print(f"address: {user.address}")
            print(f"account: {user.account_id}")
            print(f"mail:    {Path(config.data_dir) / 'accounts' / user.account_id}")
            sources = [s for s, t in db.aliases() if t == user.address]
            print(f"aliases: {', '.join(sources) if sources else '(none)'}")
            has_scram = db.scram_credentials(user.address) is not None
            print(f"scram:   {'yes' if has_scram else 'no (set the password again to enable)'}")
        elif args.action == "remove":
            user = db.remove_user(args.address)
            dangling = [s for s, t in db.aliases() if t == user.address]
            if dangling:
                print(
                    f"note: these aliases still point to {user.address} and now reject "
                    f"mail (550): {', '.join(dangling)}",
                    file=sys.stderr,
                )
            if args.delete_mail:
                store = _open_store(config)
                try:
                    store.delete_account(user.account_id)
                finally:
                    store.close()
                print(f"removed user {user.address} and its mail")
            else:
                print(
                    f"removed user {user.address}; its mail is kept in "
                    f"{Path(config.data_dir) / 'accounts' / user.account_id}"
                )
        else:
            for info in db.users():
                print(info.address)
    return 0


def _alias(config: Config, args: argparse.Namespace) -> int:
    with open_users(config) as db:
        if args.action == "add":
            source, target = db.add_alias(args.source, args.target)
            print(f"added alias {source} -> {target}")
            if target not in {u.address for u in db.users()} and target not in {
                s for s, _ in db.aliases()
            }:
                print(
                    f"note: {target} is not a user or alias (yet); mail to {source} is "
                    "refused until it is",
                    file=sys.stderr,
                )
        elif args.action == "remove":
            count = db.remove_alias(args.source, args.target)
            print(f"removed {count} alias(es) of {args.source}")
        else:
            for source, target in db.aliases():
                print(f"{source} -> {target}")
    return 0


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``domain``, ``user`` and ``alias`` sub-commands to *commands*."""
    domain = commands.add_parser("domain", parents=[common], help="manage local domains")
    domain.set_defaults(handler=_domain)
    d_actions = domain.add_subparsers(dest="action", metavar="ACTION", required=True)
    d_actions.add_parser("add", parents=[common], help="add a local domain").add_argument("name")
    d_actions.add_parser("remove", parents=[common], help="remove an empty domain").add_argument(
        "name"
    )
    d_actions.add_parser("list", parents=[common], help="list local domains")

    user = commands.add_parser("user", parents=[common], help="manage users (mail accounts)")
    user.set_defaults(handler=_user)
    u_actions = user.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("add", "add a user"), ("passwd", "change a user's password")):
        sub = u_actions.add_parser(name, parents=[common], help=text)
        sub.add_argument("address", help="user@domain")
        sub.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
    show = u_actions.add_parser(
        "show", parents=[common], help="show a user's account id, mail directory and aliases"
    )
    show.add_argument("address")
    remove = u_actions.add_parser("remove", parents=[common], help="remove a user")
    remove.add_argument("address")
    remove.add_argument("--delete-mail", action="store_true", help="also delete the user's mail")
    u_actions.add_parser("list", parents=[common], help="list users")

    alias = commands.add_parser("alias", parents=[common], help="manage aliases")
    alias.set_defaults(handler=_alias)
    a_actions = alias.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = a_actions.add_parser(
        "add", parents=[common], help="add SOURCE -> TARGET (SOURCE @domain = catch-all)"
    )
    add.add_argument("source")
    add.add_argument("target")
    rm = a_actions.add_parser("remove", parents=[common], help="remove an alias")
    rm.add_argument("source")
    rm.add_argument("target", nargs="?")
    a_actions.add_parser("list", parents=[common], help="list aliases")
