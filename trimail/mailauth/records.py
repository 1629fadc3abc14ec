"""The DNS records a mail domain publishes, as zone-file text (RFC 1035 §5.1).

Pure: the caller passes in validated names, the addresses and the DKIM key; nothing
here reads files, resolves names or draws random numbers. Key *generation* and the key
files live in ``trimail/cli/dns.py``.

Shapes used throughout:

- ``domain``, ``hostname``: lower-case A-label names without the trailing dot, already
  checked by the caller (``trimail.users.db.normalize_domain``); ``"example.org"``.
- zone text: ``"owner. IN TYPE rdata"`` lines ending in ``"\\n"``, with ``;`` comments;
  every owner name is absolute, so no ``$ORIGIN`` is needed to load it.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import re
from collections.abc import Sequence
from typing import TypeAlias

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

DkimPrivateKey: TypeAlias = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
DkimPublicKey: TypeAlias = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
IpAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_SELECTOR = "mail"
MAX_TXT_STRING = 255  # octets in one <character-string>, RFC 1035 §3.3; RFC 6376 §3.6.2.2
RSA_MIN_BITS = 1024  # RFC 8301 §3.2: signers MUST use at least 1024 bits
RSA_MAX_BITS = 4096  # RFC 8301 §3.2: verifiers MUST be able to validate up to 4096
RSA_DEFAULT_BITS = 2048  # RFC 8301 §3.2: signers SHOULD use at least 2048
MTA_STS_MAX_AGE_SECONDS = 604800  # one week, as in RFC 8461 §3.2's example
MX_PREFERENCE = 10  # RFC 5321 §5.1; one MX, so any value works

# One DNS label, lower case (RFC 6376 §3.1 allows dotted selectors; we don't, because
# the selector also names the key file).
_SELECTOR = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_PRINTABLE = re.compile(r"[\x20-\x7e]*")

# (service label, port, priority): RFC 6186 §3.1-3.3, RFC 8314 §5.1. Implicit TLS gets
# the lower (preferred) priority, RFC 8314 §3 and RFC 6186 §3.4.
SRV_SERVICES: tuple[tuple[str, int, int], ...] = (
    ("_submissions._tcp", 465, 0),
    ("_submission._tcp", 587, 10),
    ("_imaps._tcp", 993, 0),
    ("_imap._tcp", 143, 10),
    ("_pop3s._tcp", 995, 0),
)


class RecordError(ValueError):
    """A selector, key or text cannot go into a DNS record; the message says why."""


def check_selector(text: str) -> str:
    """Return the DKIM selector *text*, lower-cased, if it is one DNS label.

    Args:
        text: e.g. ``"mail"`` or ``"2024-rsa"``; it becomes ``<selector>._domainkey``
            (RFC 6376 §3.6.2.1) and the key file name ``<selector>.key``.

    Raises:
        RecordError: not 1-63 of ``a-z 0-9 -``, starting with a letter or digit.
    """
    selector = text.lower()
    if _SELECTOR.fullmatch(selector) is None:
        raise RecordError(
            f"bad selector {text!r}: use 1-63 letters, digits and '-', "
            "starting with a letter or digit"
        )
    return selector


def private_key_pem(key: DkimPrivateKey) -> bytes:
    """Encode a DKIM private key as unencrypted PEM, the form of the key files.

    RSA keys are PKCS#1 ``RSA PRIVATE KEY`` (RFC 8017 Appendix A.1.2), which dkimpy,
    OpenDKIM and rspamd read; Ed25519 keys are PKCS#8 ``PRIVATE KEY`` (RFC 8410 §7),
    the only PEM form there is for them.
    """
    if isinstance(key, rsa.RSAPrivateKey):
        encoding = serialization.PrivateFormat.TraditionalOpenSSL
    else:
        encoding = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, encoding, serialization.NoEncryption())


def load_private_key_pem(data: bytes) -> DkimPrivateKey:
    """Decode a PEM private key written by `private_key_pem` (or OpenSSL).

    Raises:
        RecordError: not PEM, encrypted, or neither an RSA nor an Ed25519 key.
    """
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise RecordError(f"not a usable PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise RecordError(f"a {type(key).__name__} cannot sign DKIM (rsa or ed25519 only)")
    return key


def dkim_key_tags(public_key: DkimPublicKey) -> tuple[str, str]:
    """The ``k=`` and ``p=`` tag values of a DKIM key record.

    Returns:
        ``("rsa", base64 of the DER SubjectPublicKeyInfo)`` (RFC 6376 §3.6.1), or
        ``("ed25519", base64 of the raw 32-octet public key)`` (RFC 8463 §4.2).
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        der = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return "rsa", base64.b64encode(der).decode("ascii")
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519", base64.b64encode(raw).decode("ascii")


def dkim_txt(public_key: DkimPublicKey) -> str:
    """The DKIM key record text, ``"v=DKIM1; k=rsa; p=MIIB..."`` (RFC 6376 §3.6.1)."""
    return "".join(dkim_txt_strings(public_key))


def dkim_txt_strings(public_key: DkimPublicKey) -> tuple[str, ...]:
    """`dkim_txt` cut into <character-string>s of at most 255 octets.

    A verifier joins them without separators (RFC 6376 §3.6.2.2), so the cut may fall
    anywhere; the tags go first, then ``p=`` in 255-octet pieces.

    Returns:
        e.g. ``("v=DKIM1; k=rsa; ", "p=MIIBIjAN...", "...IDAQAB")``.
    """
    ktag, ptag = dkim_key_tags(public_key)
    return (f"v=DKIM1; k={ktag}; ", *split_txt(f"p={ptag}"))


def split_txt(text: str, limit: int = MAX_TXT_STRING) -> tuple[str, ...]:
    """Cut *text* into TXT <character-string>s of at most *limit* octets (RFC 1035 §3.3).

    Args:
        text: printable ASCII (every record trimail prints is), possibly empty.
        limit: octets per string, 1..255.

    Returns:
        At least one string; their concatenation is *text*.

    Raises:
        RecordError: *text* has characters other than printable ASCII.
    """
    if _PRINTABLE.fullmatch(text) is None:
        raise RecordError(f"TXT text must be printable ASCII: {text!r}")
    if not 1 <= limit <= MAX_TXT_STRING:
        raise RecordError(f"TXT string limit {limit} is not 1..{MAX_TXT_STRING}")
    return tuple(text[i : i + limit] for i in range(0, len(text), limit)) or ("",)


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'  # RFC 1035 §5.1 quoted <character-string>


def txt_lines(owner: str, text: str | Sequence[str]) -> list[str]:
    """A TXT record in zone-file form; several strings go in parentheses, one per line.

    Args:
        owner: absolute owner name, with the trailing dot.
        text: one text (split at 255 octets here) or strings already split.

    Returns:
        e.g. ``['x. IN TXT "v=spf1 mx ~all"']`` or
        ``['x. IN TXT ( "v=DKIM1; k=rsa; "', '\\t"p=MIIB..." )']``.
    """
    strings = split_txt(text) if isinstance(text, str) else tuple(text)
    if len(strings) == 1:
        return [f"{owner} IN TXT {_quote(strings[0])}"]
    lines = [f"{owner} IN TXT ( {_quote(strings[0])}"]
    lines += [f"\t{_quote(s)}" for s in strings[1:]]
    lines[-1] += " )"
    return lines


def dkim_record_lines(selector: str, domain: str, public_key: DkimPublicKey) -> list[str]:
    """The DKIM key record of *selector* at ``<selector>._domainkey.<domain>.``.

    RFC 6376 §3.6.2.1 (where), §3.6.1 (what); RFC 8463 §4.2 for Ed25519.
    """
    owner = f"{selector}._domainkey.{domain}."
    return txt_lines(owner, dkim_txt_strings(public_key))


def ptr_name(address: IpAddress) -> str:
    """The reverse name of *address*: ``4.3.2.1.in-addr.arpa.`` or the IPv6 nibbles
    under ``ip6.arpa.`` (RFC 1035 §3.5, RFC 3596 §2.5)."""
    return f"{address.reverse_pointer}."


def mta_sts_policy(hostname: str, mode: str = "testing") -> str:
    """The MTA-STS policy file served at ``https://mta-sts.<domain>/.well-known/mta-sts.txt``.

    RFC 8461 §3.2; ``mode`` is ``testing`` (report only, RFC 8460) until the operator
    trusts the setup, then ``enforce``.
    """
    return (
        f"version: STSv1\r\nmode: {mode}\r\nmx: {hostname}\r\n"
        f"max_age: {MTA_STS_MAX_AGE_SECONDS}\r\n"
    )


def mta_sts_id(policy: str) -> str:
    """The ``id=`` of the ``_mta-sts`` record: 32 hex digits of SHA-256 of *policy*.

    Stable while the policy stays the same and new when it changes, which is what
    senders need to notice a new policy (RFC 8461 §3.1: ``1*32(ALPHA / DIGIT)``).
    """
    return hashlib.sha256(policy.encode("ascii")).hexdigest()[:32]


def _address_lines(hostname: str, addresses: Sequence[IpAddress]) -> list[str]:
    lines = ["; The mail host's addresses (RFC 1035 A, RFC 3596 AAAA)"]
    for address in addresses:
        rtype = "A" if address.version == 4 else "AAAA"
        lines.append(f"{hostname}. IN {rtype} {address}")
        if not address.is_global:
            lines.append(f"; note: {address} is not a public address")
    if not addresses:
        lines.append(f"; {hostname}. IN A <this server's IPv4 address>")
        lines.append(f"; {hostname}. IN AAAA <this server's IPv6 address>")
        lines.append("; (run again with --ip ADDRESS to fill these in)")
    return lines


def _ptr_lines(hostname: str, addresses: Sequence[IpAddress]) -> list[str]:
    lines = [
        "; Reverse DNS: ask whoever hosts the addresses (not your zone) for these PTRs,",
        "; matching the A/AAAA records above (RFC 1912 §2.1; receivers check it)",
    ]
    lines += [f"; {ptr_name(a)} IN PTR {hostname}." for a in addresses]
    if not addresses:
        lines.append("; (run again with --ip ADDRESS to see the reverse names)")
    return lines


def _mta_sts_lines(domain: str, hostname: str) -> list[str]:
    policy = mta_sts_policy(hostname)
    lines = [
        "; MTA-STS (RFC 8461 §3.1): publish this record, and serve the policy below at",
        f"; https://mta-sts.{domain}/.well-known/mta-sts.txt (mta-sts.{domain} needs an",
        "; A/AAAA record and a valid certificate); change mode to enforce once TLS works",
        *txt_lines(f"_mta-sts.{domain}.", f"v=STSv1; id={mta_sts_id(policy)}"),
    ]
    lines += [f";   {line}" for line in policy.splitlines()]
    return lines


def _txt_section(comment: str, owner: str, text: str) -> list[str]:
    return [comment, *txt_lines(owner, text)]


def _dkim_lines(domain: str, public_key: DkimPublicKey | None, selector: str) -> list[str]:
    lines = ["; DKIM public key (RFC 6376 §3.6.1)"]
    if public_key is None:
        return [
            *lines,
            f"; no DKIM key for selector {selector!r} yet: run",
            f";   trimail dkim generate {domain} --selector {selector}",
        ]
    return lines + dkim_record_lines(selector, domain, public_key)


def _srv_lines(domain: str, hostname: str) -> list[str]:
    lines = ["; Where mail clients find submission, IMAP and POP3 (RFC 6186 §3, RFC 8314 §5.1)"]
    return lines + [
        f"{service}.{domain}. IN SRV {priority} 1 {port} {hostname}."
        for service, port, priority in SRV_SERVICES
    ]


def dns_records(
    domain: str,
    hostname: str,
    addresses: Sequence[IpAddress] = (),
    dkim_public_key: DkimPublicKey | None = None,
    selector: str = DEFAULT_SELECTOR,
) -> str:
    """Every record a mail domain served by *hostname* should publish, as zone text.

    Args:
        domain: the mail domain, e.g. ``"example.org"``.
        hostname: the mail host (config ``hostname``), e.g. ``"mail.example.org"``.
        addresses: the mail host's public addresses; none gives placeholder comments.
        dkim_public_key: the key of *selector*, or None for a comment saying how to
            make one.
        selector: the DKIM selector of *dkim_public_key*.

    Returns:
        Zone-file text: A/AAAA, MX (RFC 5321 §5.1), SPF (RFC 7208 §3), DKIM (RFC 6376
        §3.6.2.1), DMARC (RFC 7489 §6.1), PTR as comments, MTA-STS (RFC 8461 §3.1),
        TLS-RPT (RFC 8460 §3) and the client SRV records (RFC 6186 §3, RFC 8314 §5.1).
    """
    postmaster = f"mailto:postmaster@{domain}"
    sections = [
        [f"; DNS records for {domain}, mail host {hostname}"],
        _address_lines(hostname, addresses),
        [
            "; Mail for the domain goes to the mail host (RFC 5321 §5.1)",
            f"{domain}. IN MX {MX_PREFERENCE} {hostname}.",
        ],
        _txt_section(
            "; SPF: the MX hosts may send for the domain (RFC 7208 §3, §5.4)",
            f"{domain}.",
            "v=spf1 mx ~all",
        ),
        _dkim_lines(domain, dkim_public_key, selector),
        _txt_section(
            "; DMARC policy and aggregate reports (RFC 7489 §6.1, §6.3)",
            f"_dmarc.{domain}.",
            f"v=DMARC1; p=quarantine; rua={postmaster}",
        ),
        _ptr_lines(hostname, addresses),
        _mta_sts_lines(domain, hostname),
        _txt_section(
            "; SMTP TLS reporting (RFC 8460 §3)",
            f"_smtp._tls.{domain}.",
            f"v=TLSRPTv1; rua={postmaster}",
        ),
        _srv_lines(domain, hostname),
    ]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"
