"""Local domains, users and aliases in one SQLite file (`<data_dir>/users.sqlite3`).

Recipient resolution (what RCPT TO consults) follows what Postfix virtual tables do:
an exact user, then an exact alias, then the address without its ``+tag``
(plus-addressing), then the domain's catch-all alias ``@domain``. Alias targets may be
aliases themselves, up to `MAX_ALIAS_DEPTH` levels.

Each user owns an account whose id is random and opaque (hex): storage paths are built
from it, never from the user's address.

A user's password is kept as an argon2id hash and, when it was set by a version that
knows SCRAM, as salted SCRAM-SHA-256 keys (RFC 5802 §3). Databases made before the
``scram`` column existed are migrated when opened: their users have no SCRAM keys (and
cannot use SCRAM-SHA-256) until their password is set again.
"""

from __future__ import annotations

import enum
import secrets
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from trimail.mail.address import Mailbox, is_dot_string
from trimail.sasl import ScramCredentials

MAX_ALIAS_DEPTH = 10  # alias -> alias chains followed before giving up
MAX_LOCAL_PART = 64  # octets, RFC 5321 §4.5.3.1.1
MAX_DOMAIN = 255  # octets, RFC 5321 §4.5.3.1.2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS domain (name TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS user (
    address TEXT PRIMARY KEY,          -- normalized local@domain
    account_id TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    scram TEXT                         -- ScramCredentials.to_text(); NULL: no SCRAM keys
);
CREATE TABLE IF NOT EXISTS alias (
    source TEXT NOT NULL,              -- local@domain, or @domain for a catch-all
    target TEXT NOT NULL,              -- local@domain
    PRIMARY KEY (source, target)
);
CREATE TABLE IF NOT EXISTS setting (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_SCRAM_SECRET = "scram_secret"  # setting: hex, for made-up SCRAM credentials


class UserDatabaseError(Exception):
    """A request the database refuses; ``str(err)`` is meant for the operator."""


class Resolution(enum.Enum):
    """What a forward-path is to this server (RFC 5321 §3.6 relaying vs delivery)."""

    NOT_LOCAL = "not-local"  # domain is not ours: relaying, needs an authenticated client
    UNKNOWN = "unknown"  # our domain, but no such user or alias: 550 5.1.1
    LOCAL = "local"  # deliver to the accounts listed


@attrs.frozen(kw_only=True)
class UserInfo:
    """A user as listed by `UserDatabase.users`."""

    address: str
    account_id: str


@attrs.frozen(kw_only=True)
class _Snapshot:
    version: int
    domains: frozenset[str]
    users: dict[str, str]  # address -> account_id
    aliases: dict[str, tuple[str, ...]]  # source -> targets
    addresses: dict[str, str] = attrs.field(init=False)  # account_id -> address

    @addresses.default
    def _by_account(self) -> dict[str, str]:
        return {account_id: address for address, account_id in self.users.items()}


def normalize_address(text: str) -> str:
    """Normalize ``local@domain`` for lookups: lower-cased, no trailing dot in the domain.

    Raises:
        UserDatabaseError: not of the form local@domain, or over RFC 5321 length limits.
    """
    local, sep, domain = text.strip().rpartition("@")
    if not sep or not local or not domain:
        raise UserDatabaseError(f"{text!r} is not an address of the form user@domain")
    return f"{_check_local(local)}@{normalize_domain(domain)}"


def _check_local(local: str) -> str:
    if len(local.encode()) > MAX_LOCAL_PART:
        raise UserDatabaseError(f"local part {local!r} is longer than 64 octets (RFC 5321)")
    if not is_dot_string(local):
        raise UserDatabaseError(
            f"local part {local!r} is not a plain SMTP local part (RFC 5321 §4.1.2 "
            "Dot-string: letters, digits, !#$%&'*+-/=?^_`{|}~ and single dots inside)"
        )
    return local.lower()


def normalize_domain(text: str) -> str:
    """Lower-case a domain name and check its shape (RFC 5321 §4.1.2 Domain).

    Raises:
        UserDatabaseError: empty, too long, or not dot-separated labels.
    """
    domain = text.strip().lower().rstrip(".")
    if not domain.isascii():  # store internationalized names as A-labels (RFC 5890)
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise UserDatabaseError(
                f"{text!r} is not a valid internationalized domain name"
            ) from None
    if not domain or len(domain.encode()) > MAX_DOMAIN:
        raise UserDatabaseError(f"{text!r} is not a domain name")
    for label in domain.split("."):
        if not label or len(label) > 63 or label.startswith("-") or label.endswith("-"):
            raise UserDatabaseError(f"{text!r} is not a domain name (label {label!r})")
        if not all((ch.isascii() and ch.isalnum()) or ch == "-" for ch in label):
            raise UserDatabaseError(f"{text!r} is not a domain name (label {label!r})")
    return domain


def lookup_domain(domain: str) -> str:
    """The form domains are stored in: lower case, A-labels, no trailing dot.

    A name that is not valid IDNA comes back as is (lower-cased): it matches nothing.
    """
    name = domain.lower().rstrip(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return name
    return name


class UserDatabase:
    """The user database. Thread-safe; cheap lookups served from an in-memory snapshot.

    Args:
        path: the SQLite file; created with its schema if missing.

    Raises:
        UserDatabaseError: the file cannot be opened or is not a user database.

    The snapshot is reloaded when another connection (e.g. the CLI while the server
    runs) has changed the file, detected with ``PRAGMA data_version``.
    """

    def __init__(self, path: str | Path) -> None:
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise UserDatabaseError(f"{path}: cannot open the user database: {exc}") from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._scram_secret = self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise UserDatabaseError(f"{path}: not a usable user database: {exc}") from None
        self._snapshot: _Snapshot | None = None

    def _migrate(self) -> bytes:
        """Add what older databases lack; return the SCRAM secret (made on first open).

        Checked without a write lock first, so that opening an up-to-date database
        does not write.
        """
        if not self._needs_migration():
            return bytes.fromhex(self._setting(_SCRAM_SECRET) or "")
        self._db.execute("BEGIN IMMEDIATE")
        try:
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(user)")}
            if "scram" not in columns:  # before SCRAM: those users have no keys yet
                self._db.execute("ALTER TABLE user ADD COLUMN scram TEXT")
            self._db.execute(
                "INSERT OR IGNORE INTO setting (name, value) VALUES (?, ?)",
                (_SCRAM_SECRET, secrets.token_hex(32)),
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return bytes.fromhex(self._setting(_SCRAM_SECRET) or "")

    def _needs_migration(self) -> bool:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(user)")}
        return "scram" not in columns or not self._setting(_SCRAM_SECRET)

    def _setting(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM setting WHERE name=?", (name,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def scram_secret(self) -> bytes:
        """32 random octets made with the database and kept in it.

        For `trimail.sasl.fake_credentials`: the made-up SCRAM salt of an unknown user
        stays the same across restarts and worker processes, like a real user's.
        """
        return self._scram_secret

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._snapshot = None

    def _current(self) -> _Snapshot:
        with self._lock:
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            snap = self._snapshot
            if snap is not None and snap.version == version:
                return snap
            self._db.execute("BEGIN")
            try:
                domains = frozenset(r[0] for r in self._db.execute("SELECT name FROM domain"))
                users = dict(self._db.execute("SELECT address, account_id FROM user").fetchall())
                aliases: dict[str, list[str]] = {}
                for source, target in self._db.execute("SELECT source, target FROM alias"):
                    aliases.setdefault(source, []).append(target)
            finally:
                self._db.execute("COMMIT")
            snap = _Snapshot(
                version=version,
                domains=domains,
                users=users,
                aliases={k: tuple(sorted(v)) for k, v in aliases.items()},
            )
            self._snapshot = snap
            return snap

    # -- domains -------------------------------------------------------------------

    def add_domain(self, name: str) -> str:
        """Make *name* a local domain. Returns the normalized name.

        Raises:
            UserDatabaseError: bad name, or already there.
        """
        domain = normalize_domain(name)
        with self._write() as db:
            if db.execute("SELECT 1 FROM domain WHERE name=?", (domain,)).fetchone():
                raise UserDatabaseError(f"domain {domain} already exists")
            db.execute("INSERT INTO domain (name) VALUES (?)", (domain,))
        return domain

    def remove_domain(self, name: str) -> None:
        """Remove a local domain that has no users or aliases left.

        Raises:
            UserDatabaseError: no such domain, or it still has users or aliases.
        """
        domain = normalize_domain(name)
        with self._write() as db:
            if not db.execute("SELECT 1 FROM domain WHERE name=?", (domain,)).fetchone():
                raise UserDatabaseError(f"no domain {domain}")
            like = f"%@{domain}"
            users = db.execute("SELECT count(*) FROM user WHERE address LIKE ?", (like,))
            aliases = db.execute("SELECT count(*) FROM alias WHERE source LIKE ?", (like,))
            n_users, n_aliases = users.fetchone()[0], aliases.fetchone()[0]
            if n_users or n_aliases:
                raise UserDatabaseError(
                    f"domain {domain} still has {n_users} user(s) and {n_aliases} alias(es); "
                    "remove them first"
                )
            db.execute("DELETE FROM domain WHERE name=?", (domain,))

    def domains(self) -> list[str]:
        """All local domains, sorted."""
        return sorted(self._current().domains)

    # -- users ---------------------------------------------------------------------

    def _require_local_domain(self, db: sqlite3.Connection, address: str) -> None:
        domain = address.rpartition("@")[2]
        if not db.execute("SELECT 1 FROM domain WHERE name=?", (domain,)).fetchone():
            raise UserDatabaseError(
                f"{domain} is not a local domain; add it first: trimail domain add {domain}"
            )

    def add_user(
        self, address: str, password_hash: str, scram: ScramCredentials | None = None
    ) -> UserInfo:
        """Create a user and its account id (random hex; storage paths use only this).

        Args:
            address: ``local@domain`` in a local domain.
            password_hash: an argon2 hash string (see `trimail.users.passwords`).
            scram: SCRAM-SHA-256 keys derived from the same password
                (`trimail.users.passwords.scram_credentials`); None: SCRAM cannot be
                used by this user.

        Raises:
            UserDatabaseError: bad address, domain not local, user or alias exists.
        """
        addr = normalize_address(address)
        account_id = secrets.token_hex(8)
        with self._write() as db:
            self._require_local_domain(db, addr)
            if db.execute("SELECT 1 FROM user WHERE address=?", (addr,)).fetchone():
                raise UserDatabaseError(f"user {addr} already exists")
            if db.execute("SELECT 1 FROM alias WHERE source=?", (addr,)).fetchone():
                raise UserDatabaseError(f"{addr} is an alias; remove the alias first")
            db.execute(
                "INSERT INTO user (address, account_id, password_hash, scram) VALUES (?, ?, ?, ?)",
                (addr, account_id, password_hash, _scram_text(scram)),
            )
        return UserInfo(address=addr, account_id=account_id)

    def remove_user(self, address: str) -> UserInfo:
        """Remove a user; returns it so the caller can remove its mail store account.

        Raises:
            UserDatabaseError: no such user.
        """
        addr = normalize_address(address)
        with self._write() as db:
            row = db.execute("SELECT account_id FROM user WHERE address=?", (addr,)).fetchone()
            if row is None:
                raise UserDatabaseError(f"no user {addr}")
            db.execute("DELETE FROM user WHERE address=?", (addr,))
        return UserInfo(address=addr, account_id=row[0])

    def set_password_hash(
        self, address: str, password_hash: str, scram: ScramCredentials | None = None
    ) -> None:
        """Replace a user's password: its hash and its SCRAM keys, together.

        Args:
            address: the user.
            password_hash: the new argon2 hash.
            scram: SCRAM-SHA-256 keys for the same new password; None removes the old
                keys (they belong to the old password), so SCRAM is then refused.

        Raises:
            UserDatabaseError: no such user.
        """
        addr = normalize_address(address)
        with self._write() as db:
            cur = db.execute(
                "UPDATE user SET password_hash=?, scram=? WHERE address=?",
                (password_hash, _scram_text(scram), addr),
            )
            if cur.rowcount == 0:
                raise UserDatabaseError(f"no user {addr}")

    def password_hash(self, address: str) -> str | None:
        """The stored hash for *address*, or None if there is no such user."""
        try:
            addr = normalize_address(address)
        except UserDatabaseError:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT password_hash FROM user WHERE address=?", (addr,)
            ).fetchone()
        return None if row is None else str(row[0])

    def scram_credentials(self, address: str) -> ScramCredentials | None:
        """The SCRAM-SHA-256 keys of *address* (any case), or None.

        None for an unknown user, a user whose password was set before SCRAM keys were
        stored (set it again), or a stored value that does not parse.
        """
        try:
            addr = normalize_address(address)
        except UserDatabaseError:
            return None
        with self._lock:
            row = self._db.execute("SELECT scram FROM user WHERE address=?", (addr,)).fetchone()
        if row is None or not row[0]:
            return None
        try:
            return ScramCredentials.from_text(str(row[0]))
        except ValueError:
            return None

    def find_user(self, address: str) -> UserInfo | None:
        """The user with this address (any case), or None."""
        try:
            wanted = normalize_address(address)
        except UserDatabaseError:
            return None
        account_id = self._current().users.get(wanted)
        return None if account_id is None else UserInfo(address=wanted, account_id=account_id)

    def address_of(self, account_id: str) -> str | None:
        """The address of the user with this account id, or None."""
        return self._current().addresses.get(account_id)

    def users(self) -> list[UserInfo]:
        """All users, sorted by address."""
        snap = self._current()
        return [UserInfo(address=a, account_id=i) for a, i in sorted(snap.users.items())]

    # -- aliases -------------------------------------------------------------------

    def add_alias(self, source: str, target: str) -> tuple[str, str]:
        """Add an alias. *source* is ``local@domain`` or ``@domain`` (catch-all).

        The target must be a local address (user or alias): forwarding to other
        domains needs the outbound queue.

        Returns:
            (source, target), normalized.

        Raises:
            UserDatabaseError: bad address, domain not local, source is a user,
                target not local, or the alias exists.
        """
        if source.strip().startswith("@"):
            src = "@" + normalize_domain(source.strip()[1:])
        else:
            src = normalize_address(source)
        dst = normalize_address(target)
        with self._write() as db:
            self._require_local_domain(db, "x" + src if src.startswith("@") else src)
            if db.execute("SELECT 1 FROM user WHERE address=?", (src,)).fetchone():
                raise UserDatabaseError(f"{src} is a user; an alias cannot shadow it")
            dst_domain = dst.rpartition("@")[2]
            if not db.execute("SELECT 1 FROM domain WHERE name=?", (dst_domain,)).fetchone():
                raise UserDatabaseError(
                    f"target {dst} is not in a local domain; forwarding to other domains "
                    "is not supported yet"
                )
            if db.execute("SELECT 1 FROM alias WHERE source=? AND target=?", (src, dst)).fetchone():
                raise UserDatabaseError(f"alias {src} -> {dst} already exists")
            db.execute("INSERT INTO alias (source, target) VALUES (?, ?)", (src, dst))
        return src, dst

    def remove_alias(self, source: str, target: str | None = None) -> int:
        """Remove an alias (all its targets when *target* is None). Returns rows removed.

        Raises:
            UserDatabaseError: nothing matched.
        """
        if source.strip().startswith("@"):
            src = "@" + normalize_domain(source.strip()[1:])
        else:
            src = normalize_address(source)
        with self._write() as db:
            if target is None:
                cur = db.execute("DELETE FROM alias WHERE source=?", (src,))
            else:
                dst = normalize_address(target)
                cur = db.execute("DELETE FROM alias WHERE source=? AND target=?", (src, dst))
            if cur.rowcount == 0:
                raise UserDatabaseError(f"no alias {src}" + (f" -> {target}" if target else ""))
            return cur.rowcount

    def aliases(self) -> list[tuple[str, str]]:
        """All (source, target) pairs, sorted."""
        snap = self._current()
        return sorted((s, t) for s, targets in snap.aliases.items() for t in targets)

    # -- routing -------------------------------------------------------------------

    def is_local_domain(self, domain: str) -> bool:
        """True if *domain* (any case, trailing dot, U-label or A-label) is one of ours."""
        return lookup_domain(domain) in self._current().domains

    def resolve(
        self, mailbox: Mailbox, *, catch_all: bool = True
    ) -> tuple[Resolution, tuple[str, ...]]:
        """Decide what a forward-path is here (RFC 5321 §3.6, §4.1.1.3).

        Args:
            mailbox: the RCPT TO path.
            catch_all: False to ignore ``@domain`` catch-all aliases for *mailbox*
                itself (targets of aliases may still use them).

        Returns:
            (resolution, account ids). For LOCAL, the accounts to deliver to (deduplicated,
            at least one); otherwise an empty tuple.
        """
        snap = self._current()
        domain = lookup_domain(mailbox.domain)
        if domain not in snap.domains:
            return Resolution.NOT_LOCAL, ()
        accounts: dict[str, None] = {}
        self._expand(snap, f"{mailbox.local_part.lower()}@{domain}", accounts, 0, catch_all)
        if not accounts:
            return Resolution.UNKNOWN, ()
        return Resolution.LOCAL, tuple(accounts)

    def _expand(
        self,
        snap: _Snapshot,
        address: str,
        found: dict[str, None],
        depth: int,
        catch_all: bool = True,
    ) -> None:
        if depth > MAX_ALIAS_DEPTH:
            return
        for candidate in _candidates(address):
            if candidate.startswith("@") and not catch_all:
                return
            if candidate in snap.users:
                found[snap.users[candidate]] = None
                return
            if candidate in snap.aliases:
                for target in snap.aliases[candidate]:
                    self._expand(snap, target, found, depth + 1)
                return


def _scram_text(scram: ScramCredentials | None) -> str | None:
    return None if scram is None else scram.to_text()


def _candidates(address: str) -> Iterator[str]:
    """Lookup keys for *address* in order: exact, without +tag, the domain catch-all."""
    local, _, domain = address.rpartition("@")
    yield address
    base, plus, _tag = local.partition("+")
    if plus and base:
        yield f"{base}@{domain}"
    yield f"@{domain}"
