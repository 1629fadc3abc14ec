"""Rendering client commands and DATA content (RFC 5321 §4.1, §4.5.2; RFC 4954 §4).

Everything here is pure and checks its input, so that no caller mistake can put a CR,
LF or malformed path on the wire (command injection).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

from trimail.mail.address import Mailbox, NullPath, ReversePath
from trimail.smtp._parse import _parse_path, format_path
from trimail.smtp.errors import LocalProtocolError, PathError

MAX_COMMAND_LINE_BYTES = 512  # octets incl. CRLF, RFC 5321 §4.5.3.1.4 (AUTH: RFC 4954 §4)

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")  # esmtp-keyword, RFC 5321 §4.1.2
# esmtp-value (RFC 5321 §4.1.2), with UTF8-non-ascii allowed by RFC 6531 §3.3.
_VALUE = re.compile("[\\x21-\\x3c\\x3e-\\x7e\\u0080-\\U0010ffff]+\\Z")
_MECHANISM = re.compile(r"[A-Z0-9_-]{1,20}\Z")  # sasl-mech, RFC 4422 §3.1
_HOSTNAME = re.compile(r"[\x21-\x7e]+\Z")  # EHLO argument: Domain or address-literal

Parameters = Sequence[tuple[str, str | None]]
"""ESMTP parameters to send: (keyword, value or None for a bare keyword)."""


def needs_smtputf8(path: ReversePath) -> bool:
    """True if *path* has non-ASCII characters, so it needs SMTPUTF8 (RFC 6531 §3.3).

    Check ``extensions.smtputf8`` first, and send the ``SMTPUTF8`` MAIL parameter for
    a transaction with any such path; otherwise ``send_mail``/``send_rcpt`` raise.
    """
    return isinstance(path, Mailbox) and not path.is_ascii


def line(text: str) -> bytes:
    """Encode one command line, CRLF appended.

    Raises:
        LocalProtocolError: *text* holds CR or LF (command injection).
    """
    if "\r" in text or "\n" in text:
        raise LocalProtocolError(f"CR or LF in a command: {text!r}")
    return text.encode("utf-8") + b"\r\n"


def render_path(path: ReversePath, *, sender: bool) -> str:
    """Render a reverse-path (*sender*) or forward-path for MAIL/RCPT (RFC 5321 §4.1.2).

    The rendered path is checked with the server's own parser, so a path the engine
    sends always parses back to the same syntax rules it enforces.

    Raises:
        LocalProtocolError: the path is malformed or over 256 octets (§4.5.3.1.3), a
            local part is over 64 octets, a forward-path is ``<>``, or a reverse-path
            has no domain.
    """
    if isinstance(path, NullPath):
        if not sender:
            raise LocalProtocolError("the null path <> is not a forward-path (RFC 5321 §4.1.1.3)")
        return "<>"
    if sender and not path.domain:
        raise LocalProtocolError(f"reverse-path without a domain: {path!r}")
    text = format_path(path)
    try:
        _parse_path(text.encode("utf-8"), smtputf8=True, sender=sender)
    except PathError as exc:
        raise LocalProtocolError(f"cannot send path {text!r}: {exc}") from None
    return text


def render_parameters(parameters: Parameters) -> str:
    """Render ESMTP parameters as ``" KEY=value KEY"`` (RFC 5321 §4.1.2).

    Raises:
        LocalProtocolError: a malformed keyword or value (spaces, ``=``, controls), or a
            keyword given twice.
    """
    seen: set[str] = set()
    out = []
    for keyword, value in parameters:
        if not _KEYWORD.match(keyword) or keyword.upper() in seen:
            raise LocalProtocolError(f"bad or repeated ESMTP keyword {keyword!r}")
        seen.add(keyword.upper())
        if value is None:
            out.append(f" {keyword}")
        elif _VALUE.match(value):
            out.append(f" {keyword}={value}")
        else:
            raise LocalProtocolError(f"bad ESMTP value {keyword}={value!r}")
    return "".join(out)


def check_hostname(hostname: str) -> None:
    """Check the EHLO/HELO argument: printable ASCII, no spaces (RFC 5321 §4.1.1.1).

    Raises:
        ValueError: not a plausible Domain or address literal.
    """
    if not _HOSTNAME.match(hostname):
        raise ValueError(f"local_hostname must be a domain or address literal, got {hostname!r}")


def auth_command(mechanism: str, initial_response: bytes | None) -> bytes:
    """Render ``AUTH mechanism [initial-response]`` (RFC 4954 §4).

    Args:
        mechanism: the SASL mechanism name, any case (RFC 4422 §3.1).
        initial_response: sent base64-encoded; ``b""`` is sent as ``=``; None sends no
            initial response, and the server answers with an empty 334.

    Raises:
        LocalProtocolError: a malformed mechanism name, or a line over 512 octets:
            RFC 4954 §4 then requires waiting for the 334 and sending the response with
            ``send_auth_response``.
    """
    name = mechanism.upper()
    if not _MECHANISM.match(name):
        raise LocalProtocolError(f"bad SASL mechanism name {mechanism!r} (RFC 4422 §3.1)")
    if initial_response is None:
        return line(f"AUTH {name}")
    encoded = base64.b64encode(initial_response).decode("ascii") or "="
    data = line(f"AUTH {name} {encoded}")
    if len(data) > MAX_COMMAND_LINE_BYTES:
        raise LocalProtocolError(
            "AUTH with this initial response is over 512 octets: send it without one and "
            "answer the 334 with send_auth_response (RFC 4954 §4)"
        )
    return data


class DotStuffer:
    """Streaming transparency for DATA content (RFC 5321 §4.5.2).

    A dot is doubled at the start of the content and after every LF, so the output is
    the same however the content is cut into pieces (a CR at the end of one piece and
    its LF at the start of the next included). RFC 5321 lines end with CRLF; stuffing
    after a bare LF too means that a server treating bare LF as a line end (most do)
    can never see an early end of data in ``LF . CRLF`` (SMTP smuggling). Bare CR and
    LF are otherwise sent as they are: the message is relayed byte for byte.
    """

    def __init__(self) -> None:
        self._line_start = True
        self._tail = b""  # the last two octets of content, to know if it ends with CRLF

    @property
    def started(self) -> bool:
        """True once some content was fed."""
        return bool(self._tail)

    def feed(self, data: bytes) -> bytes:
        """Stuff the next piece of content; returns the octets to write."""
        if not data:
            return b""
        out = data.replace(b"\n.", b"\n..")
        if self._line_start and data[:1] == b".":
            out = b"." + out
        self._line_start = data[-1:] == b"\n"
        self._tail = (self._tail + data[-2:])[-2:]
        return out

    def end(self) -> bytes:
        """The end of data: ``.`` CRLF, after a CRLF unless the content ended with one.

        Empty content ends with just ``.`` CRLF, so the server reads an empty message.
        """
        if not self._tail or self._tail == b"\r\n":
            return b".\r\n"
        return b"\r\n.\r\n"


def stuff_message(content: bytes) -> bytes:
    """Dot-stuff a whole message and add the end of data (RFC 5321 §4.5.2, §4.1.1.4).

    Args:
        content: the message as stored, RFC 5322 octets.

    Returns:
        The octets to write after the 354, ``.`` CRLF included.
    """
    stuffer = DotStuffer()
    return stuffer.feed(content) + stuffer.end()
