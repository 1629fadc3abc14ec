"""``trimail dkim generate``, ``trimail dns records`` and ``trimail dns check``.

DKIM keys live in ``<data_dir>/dkim/<A-label domain>/<selector>.key`` (PEM, mode 0600,
directories 0700). The file handling is here, not in ``trimail/mailauth`` (which stays
pure: no files, no randomness); the record text comes from `trimail.mailauth.records`.
``dns check`` looks the records up live with `trimail.server.dns_check`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import ipaddress
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from trimail.cli.admin import AdminError
from trimail.config.model import Config
from trimail.mailauth import records
from trimail.server.dkim_keys import dkim_key_path as key_file
from trimail.users.db import UserDatabaseError, normalize_domain

if TYPE_CHECKING:
    from trimail.server.dns_check import CheckResult


class DnsCommandError(AdminError):
    """A ``dkim`` or ``dns`` command failed; printed as one ``trimail: ...`` line."""


def check_domain(text: str) -> str:
    """*text* as a lower-case A-label domain (IDN allowed), safe as a path component.

    Raises:
        DnsCommandError: not a host name (RFC 1123 §2.1), per the user database's rules.
    """
    try:
        return normalize_domain(text)
    except UserDatabaseError as exc:
        raise DnsCommandError(f"bad domain: {exc}") from None


def check_selector(text: str) -> str:
    """*text* as a DKIM selector that is one DNS label (see `records.check_selector`)."""
    try:
        return records.check_selector(text)
    except records.RecordError as exc:
        raise DnsCommandError(str(exc)) from None


def dkim_key_path(data_dir: str | Path, domain: str, selector: str) -> Path:
    """``<data_dir>/dkim/<domain>/<selector>.key`` for a checked *domain* and *selector*
    (the file the signing hook reads, `trimail.server.dkim_keys.dkim_key_path`).

    Raises:
        DnsCommandError: a bad domain or selector.
    """
    return key_file(data_dir, check_domain(domain), check_selector(selector))


def generate_key(algorithm: str, keysize: int | None) -> records.DkimPrivateKey:
    """A new DKIM key: RSA of *keysize* bits (default 2048) or Ed25519 (RFC 8463 §3).

    Raises:
        DnsCommandError: *keysize* out of 1024..4096 (RFC 8301 §3.2), or given for ed25519.
    """
    if algorithm == "ed25519":
        if keysize is not None:
            raise DnsCommandError("--keysize is for rsa keys; ed25519 keys have one size")
        return ed25519.Ed25519PrivateKey.generate()
    bits = records.RSA_DEFAULT_BITS if keysize is None else keysize
    if not records.RSA_MIN_BITS <= bits <= records.RSA_MAX_BITS:
        raise DnsCommandError(
            f"bad --keysize {bits}: rsa keys have {records.RSA_MIN_BITS}.."
            f"{records.RSA_MAX_BITS} bits (RFC 8301 §3.2)"
        )
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)  # mkdir's mode is cut by the umask, and the directory may be old


def write_key(path: Path, pem: bytes, *, force: bool) -> None:
    """Write *pem* to *path* (mode 0600) atomically; never replace a key unless *force*.

    The key goes to a temporary file in the same directory, is fsynced, then linked to
    *path* (which fails if it exists) or, with *force*, renamed over it.

    Error handling:
        Every `OSError` becomes a `DnsCommandError` naming the path.

    Raises:
        DnsCommandError: the key exists (without *force*) or cannot be written.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _private_dir(path.parent.parent)
        _private_dir(path.parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(tmp, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        raise DnsCommandError(
            f"{path} exists; use --force to replace it (then publish the new record)"
        ) from None
    except OSError as exc:
        raise DnsCommandError(f"{exc.filename or path}: cannot write: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def read_key(path: Path) -> records.DkimPrivateKey | None:
    """The key in *path*, or None if there is no such file.

    Raises:
        DnsCommandError: the file cannot be read or is not a PEM RSA/Ed25519 key.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DnsCommandError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return records.load_private_key_pem(data)
    except records.RecordError as exc:
        raise DnsCommandError(f"{path}: {exc}") from None


def _dkim(config: Config, args: argparse.Namespace) -> int:
    domain = check_domain(args.domain)
    selector = check_selector(args.selector)
    path = dkim_key_path(config.data_dir, domain, selector)
    if os.path.lexists(path) and not args.force:  # before the slow RSA generation
        raise DnsCommandError(f"{path} exists; use --force to replace it")
    key = generate_key(args.algorithm, args.keysize)
    write_key(path, records.private_key_pem(key), force=args.force)
    print(f"; private key: {path}")
    print("\n".join(records.dkim_record_lines(selector, domain, key.public_key())))
    return 0


def _parse_ip(text: str) -> records.IpAddress:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise DnsCommandError(f"bad --ip {text!r}: not an IPv4 or IPv6 address") from None
    if getattr(address, "scope_id", None):  # fe80::1%eth0: a link-local scope, not public
        raise DnsCommandError(f"bad --ip {text!r}: a scoped (link-local) address")
    return address


def _hostname(config: Config) -> str:
    """The mail host name, lower case without the trailing dot; a note if it is not a FQDN."""
    hostname = config.hostname.lower().rstrip(".")
    if "." not in hostname:
        print(
            f"note: hostname {hostname!r} is not a full domain name; set hostname in the config",
            file=sys.stderr,
        )
    return hostname


def _dns(config: Config, args: argparse.Namespace) -> int:
    if args.action == "check":
        return _dns_check(config, args)
    domain = check_domain(args.domain)
    addresses = [_parse_ip(text) for text in args.ip]
    hostname = _hostname(config)
    path = dkim_key_path(config.data_dir, domain, records.DEFAULT_SELECTOR)
    key = read_key(path)
    public = None if key is None else key.public_key()
    print(records.dns_records(domain, hostname, addresses, public), end="")
    return 0


_LONG_BASE64 = re.compile(r"([A-Za-z0-9+/]{12})[A-Za-z0-9+/]{24,}([A-Za-z0-9+/]{6}=*)")
_SUMMARY_ORDER = ("ok", "missing", "wrong", "warning", "error")


def _shorten(text: str) -> str:
    """*text* with long base64 runs (DKIM keys) cut to ``MIIBIjANBgkq...IDAQAB``."""
    return _LONG_BASE64.sub(r"\1...\2", text)


def format_check(result: CheckResult) -> str:
    """One line of ``dns check``: status, record, then what was found or what to do.

    ``ok`` lines show the records found (long keys shortened) and any note; the others
    show the reason and the fix, in full so that a record can be copied from it.

    Returns:
        e.g. ``"ok       MX       example.org. IN MX 10 mail.example.org."`` or
        ``'missing  DMARC    no DMARC record at _dmarc.example.org; publish: ...'``.
    """
    from trimail.server.dns_check import one_line

    if result.status.value == "ok":
        parts = [_shorten(one_line(result.found)), result.reason]
    else:
        parts = [result.reason, result.fix]
    text = "; ".join(part for part in parts if part)
    return f"{result.status.value:<8} {result.name:<8} {text}".rstrip()


def format_summary(domain: str, results: Sequence[CheckResult]) -> str:
    """The last line of ``dns check``: counts by status, and the verdict."""
    counts = {status: 0 for status in _SUMMARY_ORDER}
    for result in results:
        counts[result.status.value] += 1
    tally = ", ".join(f"{n} {status}" for status, n in counts.items() if n)
    if any(result.problem for result in results):
        verdict = f"fix the records above (`trimail dns records {domain}` prints them all)"
    else:
        verdict = "all required records are right"
    return f"{domain}: {len(results)} checks: {tally}; {verdict}"


def _dns_check(config: Config, args: argparse.Namespace) -> int:
    import trio  # here, not at the top: the other commands start faster without trio

    from trimail.server.dns import DnsResolver
    from trimail.server.dns_check import check_dns

    domain = check_domain(args.domain)
    selector = check_selector(args.selector)
    addresses = [_parse_ip(text) for text in args.ip]
    hostname = _hostname(config)
    key = read_key(dkim_key_path(config.data_dir, domain, selector))
    resolver = DnsResolver(
        nameservers=config.dns.nameservers,
        timeout_seconds=config.dns.timeout_seconds,
        cache_entries=config.dns.cache_entries,
    )
    check = functools.partial(
        check_dns,
        resolver,
        domain,
        hostname,
        addresses=addresses,
        selector=selector,
        dkim_public_key=None if key is None else key.public_key(),
    )
    results = trio.run(check)
    if args.json:
        print(json.dumps([result.to_dict() for result in results], indent=1))
    else:
        if not addresses:
            print(f"note: no --ip given; checking the addresses DNS gives for {hostname}")
        for result in results:
            print(format_check(result))
        print(format_summary(domain, results))
    return 1 if any(result.problem for result in results) else 0


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``dkim`` and ``dns`` sub-commands to *commands*."""
    dkim = commands.add_parser("dkim", parents=[common], help="manage DKIM signing keys")
    dkim.set_defaults(handler=_dkim)
    k_actions = dkim.add_subparsers(dest="action", metavar="ACTION", required=True)
    generate = k_actions.add_parser(
        "generate", parents=[common], help="make a DKIM key and print its DNS record"
    )
    generate.add_argument("domain", help="the signing domain (d=), e.g. example.org")
    generate.add_argument(
        "--selector", default=records.DEFAULT_SELECTOR, help="the selector (s=); default mail"
    )
    generate.add_argument(
        "--algorithm", choices=["rsa", "ed25519"], default="rsa", help="default rsa"
    )
    generate.add_argument(
        "--keysize", type=int, default=None, help="rsa bits, 1024..4096; default 2048"
    )
    generate.add_argument("--force", action="store_true", help="replace an existing key")

    dns = commands.add_parser("dns", parents=[common], help="DNS records to publish")
    dns.set_defaults(handler=_dns)
    d_actions = dns.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = d_actions.add_parser(
        "records", parents=[common], help="print every record a mail domain needs"
    )
    show.add_argument("domain", help="the mail domain, e.g. example.org")
    show.add_argument(
        "--ip",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a public address of the mail host (repeat for IPv4 and IPv6)",
    )
    check = d_actions.add_parser(
        "check",
        parents=[common],
        help="look the records up live and say, per record, what is missing or wrong",
    )
    check.add_argument("domain", help="the mail domain, e.g. example.org")
    check.add_argument(
        "--ip",
        action="append",
        default=[],
        metavar="ADDRESS",
        help="a public address of this server (repeatable); default: the A/AAAA of hostname",
    )
    check.add_argument(
        "--selector", default=records.DEFAULT_SELECTOR, help="the DKIM selector; default mail"
    )
    check.add_argument("--json", action="store_true", help="machine-readable output")
