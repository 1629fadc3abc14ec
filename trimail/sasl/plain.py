"""SASL PLAIN (RFC 4616): parse and build the client's message, no I/O.

The message is ``[authzid] NUL authcid NUL passwd``, each field UTF-8 without NUL and
at most 255 octets (RFC 4616 §2). Verifying the password is the caller's business.
"""

from __future__ import annotations

import attrs

MAX_FIELD_BYTES = 255  # octets per field, RFC 4616 §2 (authzid, authcid, passwd)


class SaslError(ValueError):
    """A SASL client message is malformed; the exchange fails (RFC 4422 §3.6)."""


@attrs.frozen(kw_only=True)
class PlainCredentials:
    """The three fields of a PLAIN message (RFC 4616 §2).

    Attributes:
        authzid: the identity to act as, ``""`` when absent (the usual case).
        authcid: the identity whose password is given (the username); never empty.
        password: the clear-text password; never empty.
    """

    authzid: str
    authcid: str
    password: str = attrs.field(repr=False)


def _field(raw: bytes, name: str, *, required: bool) -> str:
    if required and not raw:
        raise SaslError(f"empty {name}")
    if len(raw) > MAX_FIELD_BYTES:
        raise SaslError(f"{name} longer than {MAX_FIELD_BYTES} octets")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError(f"{name} is not valid UTF-8") from None


def parse_plain(message: bytes) -> PlainCredentials:
    """Parse a PLAIN client message (RFC 4616 §2), already base64-decoded.

    Args:
        message: ``authzid NUL authcid NUL passwd``; at most 767 octets when valid.

    Returns:
        The fields as text. SASLprep (RFC 4013) is not applied.

    Raises:
        SaslError: not exactly three NUL-separated fields, an empty authcid or
            password, a field over 255 octets, or a field that is not UTF-8.
    """
    fields = message.split(b"\x00")
    if len(fields) != 3:
        raise SaslError(f"expected 3 NUL-separated fields, got {len(fields)}")
    authzid, authcid, password = fields
    return PlainCredentials(
        authzid=_field(authzid, "authzid", required=False),
        authcid=_field(authcid, "authcid", required=True),
        password=_field(password, "password", required=True),
    )


def encode_plain(credentials: PlainCredentials) -> bytes:
    """Build the PLAIN client message for *credentials* (RFC 4616 §2), before base64.

    Raises:
        SaslError: a field that `parse_plain` would refuse (NUL, empty, too long).
    """
    parts = [f.encode("utf-8") for f in (credentials.authzid, credentials.authcid)]
    message = b"\x00".join([*parts, credentials.password.encode("utf-8")])
    parse_plain(message)  # the same checks both ways
    return message
