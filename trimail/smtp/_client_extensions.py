"""The service extensions a server advertised in its EHLO reply (RFC 5321 §4.1.1.1)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from trimail.mail.reply import Reply

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")  # ehlo-keyword, RFC 5321 §4.1.1.1


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@attrs.frozen(kw_only=True)
class Extensions:
    """What an EHLO reply advertised; all False/empty after HELO or before EHLO.

    Keywords are matched case-insensitively. Lines that are not an ehlo-keyword
    (RFC 5321 §4.1.1.1) are ignored, except the pre-standard ``AUTH=mech ...`` form.

    Attributes:
        size: the fixed maximum message size in octets (RFC 1870 §4), or None when
            SIZE was not advertised or advertised without a value or with 0 ("no fixed
            limit"); ``"SIZE" in extensions`` tells whether SIZE= may be sent.
        pipelining: PIPELINING (RFC 2920).
        eightbitmime: 8BITMIME, so BODY=8BITMIME may be sent (RFC 6152).
        smtputf8: SMTPUTF8 (RFC 6531), needed for non-ASCII addresses.
        chunking: CHUNKING, so BDAT may be used (RFC 3030).
        starttls: STARTTLS (RFC 3207).
        dsn: DSN (RFC 3461): NOTIFY/ORCPT on RCPT, RET/ENVID on MAIL.
        enhanced_status_codes: ENHANCEDSTATUSCODES (RFC 2034).
        auth: SASL mechanism names, upper-case, from ``AUTH mech ...`` (RFC 4954 §3)
            and ``AUTH=mech ...`` lines.
        keywords: every keyword (upper-case) and its parameters as sent (``""`` if
            none), e.g. ``{"SIZE": "35882577", "8BITMIME": "", "AUTH": "PLAIN LOGIN"}``.
    """

    size: int | None = None
    pipelining: bool = False
    eightbitmime: bool = False
    smtputf8: bool = False
    chunking: bool = False
    starttls: bool = False
    dsn: bool = False
    enhanced_status_codes: bool = False
    auth: frozenset[str] = frozenset()
    keywords: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping, hash=False)

    def __contains__(self, keyword: object) -> bool:
        """``"SIZE" in extensions``: True if *keyword* was advertised (any case)."""
        return isinstance(keyword, str) and keyword.upper() in self.keywords

    def parameters(self, keyword: str) -> str | None:
        """The parameters of *keyword* as sent, ``""`` if it had none, None if absent."""
        return self.keywords.get(keyword.upper())


def _size(parameters: str | None) -> int | None:
    """SIZE's value: a positive number of octets, else None (no fixed limit, RFC 1870 §4)."""
    if parameters is None:
        return None
    value = parameters.split(" ", 1)[0]
    if not (value.isascii() and value.isdigit()) or len(value) > 20:
        return None
    return int(value) or None


def parse_extensions(reply: Reply) -> Extensions:
    """Read the extensions out of a positive EHLO reply (RFC 5321 §4.1.1.1).

    The first line is the server's greeting; each later line is ``keyword [params]``.

    Args:
        reply: the 250 reply to EHLO.

    Returns:
        The advertised extensions; a repeated keyword keeps its last parameters, and
        AUTH mechanisms from all AUTH lines are merged.
    """
    keywords: dict[str, str] = {}
    auth: set[str] = set()
    for line in reply.text[1:]:
        word, _, parameters = line.strip(" ").partition(" ")
        keyword = word.upper()
        if keyword.startswith("AUTH="):  # pre-RFC 4954 form still sent by some servers
            auth.update(m.upper() for m in (keyword[5:], *parameters.split()) if m)
            continue
        if not _KEYWORD.match(word):
            continue
        keywords[keyword] = parameters.strip(" ")
        if keyword == "AUTH":
            auth.update(m.upper() for m in parameters.split())
    return Extensions(
        size=_size(keywords.get("SIZE")),
        pipelining="PIPELINING" in keywords,
        eightbitmime="8BITMIME" in keywords,
        smtputf8="SMTPUTF8" in keywords,
        chunking="CHUNKING" in keywords,
        starttls="STARTTLS" in keywords,
        dsn="DSN" in keywords,
        enhanced_status_codes="ENHANCEDSTATUSCODES" in keywords,
        auth=frozenset(auth),
        keywords=keywords,
    )
