"""`PasswdFileBackend`: logins checked against a Dovecot passwd-file, re-read on change.

Format (one user a line; ``#`` comments and blank lines are skipped)::

    user:{SCHEME}password:uid:gid:gecos:home:shell:extra_fields

Only the first two fields are used here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

import trio

from trimail_passwd_file.schemes import UnsupportedScheme, verify_password

log = logging.getLogger("trimail.auth.passwd_file")

# Checked when the user is not in the file, so that an unknown user costs an argon2 check.
_DUMMY = (
    "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=4$3WR41zgCsdLBiEu5pw5Dng$"
    "DfNMdOfB2EKxyMRa7h1dvqZmT1/e0YL0sihL3HTldo4"
)


def canonical_name(name: str, default_domain: str = "") -> str:
    """A user name as compared: trimmed (also of a byte-order mark), lower-cased,
    ``@default_domain`` added if bare, the domain as A-labels (RFC 5890), so
    ``idn@exämple.org`` and ``idn@xn--exmple-cua.org`` are one user, as in trimail's
    own user database."""
    name = name.strip().lstrip("\ufeff").strip().lower()
    local, sep, domain = name.rpartition("@")
    if not sep:
        if not default_domain:
            return name
        local, domain = name, default_domain
    domain = domain.rstrip(".")
    if not domain.isascii():
        with contextlib.suppress(UnicodeError):  # not a valid IDN: compared as written
            domain = domain.encode("idna").decode("ascii")
    return f"{local}@{domain}"


def parse_passwd_file(
    text: str, *, default_domain: str = "", source: str = "passwd-file"
) -> dict[str, str]:
    """Map each user's address (lower-cased) to its password field.

    A user name without ``@`` gets ``@default_domain``. Malformed lines (no password
    field, an empty user name, a bare user name without default_domain) and repeated
    users (the first line wins, as in Dovecot) are logged and skipped.
    """
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip().lstrip("\ufeff")  # a byte-order mark on the first line
        if not line or line.startswith("#"):
            continue
        user, sep, rest = line.partition(":")
        password = rest.split(":", 1)[0]
        user = canonical_name(user, default_domain) if user.strip() else ""
        if not sep or not user or not password:
            log.warning("%s line %d: not user:password..., skipped", source, number)
            continue
        if "@" not in user:
            log.warning(
                "%s line %d: %r has no @domain and default_domain is not set, skipped",
                source,
                number,
                user,
            )
            continue
        if user in entries:
            log.warning("%s line %d: %s repeated, the first line counts", source, number, user)
            continue
        entries[user] = password
    return entries


class PasswdFileBackend:
    """An `trimail.server.auth.AuthBackend` over a Dovecot passwd-file.

    The file is read on the first login and again whenever its mtime, size or inode
    changes. If it cannot be read, the error is logged once and every login fails until
    it can.

    Args:
        path: the passwd-file.
        default_domain: appended to user names without ``@`` (in the file and at login).
    """

    def __init__(self, path: str | os.PathLike[str], *, default_domain: str = "") -> None:
        self.path = Path(path)
        self.default_domain = default_domain.lower()
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._entries: dict[str, str] = {}
        self._failing = False

    def address(self, username: str) -> str:
        """The address a login name stands for (``@default_domain`` added if bare)."""
        return canonical_name(username, self.default_domain)

    def entries(self) -> dict[str, str]:
        """The file's users (address -> password field), re-read if it changed; blocking."""
        with self._lock:
            try:
                info = os.stat(self.path)
                stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
                if stamp != self._stamp:
                    text = self.path.read_text(encoding="utf-8")
                    self._entries = parse_passwd_file(
                        text, default_domain=self.default_domain, source=str(self.path)
                    )
                    self._stamp = stamp
                    log.info("%s: %d users", self.path, len(self._entries))
            except (OSError, UnicodeDecodeError) as exc:
                if not self._failing:
                    reason = exc.strerror if isinstance(exc, OSError) else str(exc)
                    log.error("%s: cannot read, logins fail: %s", self.path, reason or exc)
                self._failing = True
                self._stamp = None
                self._entries = {}
                return {}
            if self._failing:
                log.info("%s: readable again", self.path)
                self._failing = False
            return self._entries

    def check(self, username: str, password: str) -> str | None:
        """Blocking `verify`: the address, or None."""
        address = self.address(username)
        stored = self.entries().get(address)
        try:
            ok = verify_password(stored or _DUMMY, password)
        except UnsupportedScheme as exc:
            log.error("%s: %s: unsupported scheme %s, login fails", self.path, address, exc)
            return None
        return address if ok and stored is not None else None

    async def verify(self, username: str, password: str) -> str | None:
        """See `trimail.server.auth.AuthBackend.verify`; runs in a thread."""
        return await trio.to_thread.run_sync(self.check, username, password)
