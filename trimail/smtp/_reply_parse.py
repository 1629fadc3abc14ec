"""Reading SMTP replies, the client side (RFC 5321 §4.2, RFC 2034 §4, RFC 3463 §2).

A reply is one or more lines ``code-text`` ... ``code SP text``; a bare ``code`` line
is a valid last line (RFC 5321 §4.2.1). Every line must carry the same three-digit code,
2xx..5xx. Lines are read one at a time out of the connection's buffer, so memory stays
bounded by the line and line-count limits whatever the server sends.

Line ends: CRLF, and bare LF is tolerated (broken servers send it, and a reply line
cannot smuggle anything: unlike message data, no two parsers must agree on where a
reply ends). A CR anywhere else in a line is an error. Text is decoded as UTF-8 with
``errors="replace"``: SMTPUTF8 servers may send UTF-8 (RFC 6531 §3.7.4).
"""

from __future__ import annotations

import base64
import binascii
import re

from trimail.mail.reply import Reply
from trimail.smtp.errors import RemoteProtocolError

MIN_REPLY_LINE_BYTES = 512  # octets incl. CRLF that every server may send, RFC 5321 §4.5.3.1.5

_CODE = re.compile(rb"[2-5][0-9][0-9]\Z")  # Reply-code, RFC 5321 §4.2 (second digit lenient)
_ENHANCED = re.compile(r"([245])\.[0-9]{1,3}\.[0-9]{1,3}(?= |\Z)")  # RFC 3463 §2
_SHOWN = 40  # octets of a bad line quoted in an error message


def protocol_error(message: str, *, status: str = "4.5.0") -> RemoteProtocolError:
    """A `RemoteProtocolError` for a server that broke the protocol.

    The client sends nothing before closing, so ``.reply`` is not a reply to send: it
    is a 451 (RFC 5321 §3.8: treat a broken session as a 451) with enhanced status
    *status* (4.5.0 "other protocol status", RFC 3463 §3.6) that the caller can record
    as the temporary failure of the delivery attempt.

    Args:
        message: what went wrong, ASCII, one line.
        status: the enhanced status of ``.reply``.
    """
    reply = Reply(code=451, enhanced_status=status, text=f"Protocol error by the server: {message}")
    return RemoteProtocolError(message, reply=reply)


def _shown(line: bytes) -> str:
    return repr(line[:_SHOWN])


def _status_fits(code: int, status_class: str) -> bool:
    """True if an enhanced status of *status_class* may go with *code* (RFC 3463 §2).

    The class is the code's first digit; 3xx replies (354, 334) have no class of their
    own, so 2 is accepted for them, as `render_reply` writes it.
    """
    first = code // 100
    return status_class == str(first) or (first == 3 and status_class == "2")


def _strip_status(text: str, status: str) -> str:
    if text == status:
        return ""
    if text.startswith(status + " "):
        return text[len(status) + 1 :]
    return text


def build_reply(code: int, texts: list[str]) -> Reply:
    """Make a `Reply` from a code and its line texts, splitting the enhanced status.

    The status is split only if the first line starts with ``class.subject.detail``
    followed by a space or the end, and the class fits the code (RFC 2034 §4). It is
    then removed from every line that starts with it, once.

    Args:
        code: the reply code, 200..599.
        texts: the text of each line, code and separator removed; at least one.
    """
    match = _ENHANCED.match(texts[0])
    if match is None or not _status_fits(code, match[1]):
        return Reply(code=code, text=tuple(texts))
    status = match[0]
    texts = [_strip_status(text, status) for text in texts]
    return Reply(code=code, enhanced_status=status, text=tuple(texts))


def decode_challenge(reply: Reply) -> bytes:
    """The SASL challenge of a 334 reply: its text, base64-decoded (RFC 4954 §4).

    Raises:
        RemoteProtocolError: more than one line, or text that is not base64.
    """
    if len(reply.text) != 1:
        raise protocol_error("multi-line 334 challenge")
    try:
        return base64.b64decode(reply.text[0].strip(" ").encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise protocol_error("334 challenge is not base64") from None


class ReplyReader:
    """Reads one reply at a time out of a receive buffer.

    Attributes:
        held_bytes: octets of the lines read so far of an incomplete reply.
    """

    def __init__(self, *, max_line_bytes: int, max_lines: int) -> None:
        """Set the limits.

        Args:
            max_line_bytes: longest line, CRLF included (RFC 5321 §4.5.3.1.5 says 512).
            max_lines: most lines in one reply.
        """
        self._max_line = max_line_bytes
        self._max_lines = max_lines
        self._code: bytes | None = None
        self._texts: list[bytes] = []
        self._cut: bytes | None = None  # the kept start of an over-long line
        self.held_bytes = 0

    @property
    def in_reply(self) -> bool:
        """True between the first line of a multi-line reply and its last line."""
        return self._code is not None

    def read(self, buf: bytearray) -> Reply | None:
        """Take the next complete reply out of *buf*.

        Args:
            buf: the receive buffer; the lines read are removed from it.

        Returns:
            The reply, or None if *buf* holds no complete reply yet (the lines read so
            far are kept).

        A line over ``max_line_bytes`` is cut to that length and the rest of it is
        discarded as it arrives (nothing over the limit is buffered): its code still
        counts. Failing instead would turn a long ``250`` after the message content
        into a temporary failure, and the message would be sent again.

        Raises:
            RemoteProtocolError: a malformed line, a bare CR, lines with different
                codes, or more than ``max_lines`` lines.
        """
        while True:
            if self._cut is not None:  # skipping the rest of an over-long line
                end = buf.find(b"\n")
                if end < 0:
                    del buf[:]
                    return None
                del buf[: end + 1]
                line, self._cut = self._cut, None
            else:
                end = buf.find(b"\n", 0, self._max_line)
                if end < 0:
                    if len(buf) >= self._max_line:
                        self._cut = bytes(buf[: self._max_line - 2]).rstrip(b"\r")
                        del buf[: self._max_line - 2]
                        continue
                    return None
                line = bytes(buf[:end])
                del buf[: end + 1]
                line = line[:-1] if line.endswith(b"\r") else line
            reply = self._line(line)
            if reply is not None:
                return reply

    def _line(self, line: bytes) -> Reply | None:
        code, separator, text = line[:3], line[3:4], line[4:]
        if not _CODE.match(code) or separator not in (b" ", b"-", b""):
            raise protocol_error(f"malformed reply line {_shown(line)}")
        if b"\r" in text:
            raise protocol_error(f"bare CR in reply line {_shown(line)}")
        if self._code is not None and code != self._code:
            raise protocol_error(f"reply lines with different codes: {self._code!r} {code!r}")
        if len(self._texts) >= self._max_lines:
            raise protocol_error(f"reply longer than {self._max_lines} lines")
        self._code = code
        self._texts.append(text)
        self.held_bytes += len(line)
        if separator == b"-":
            return None
        texts = [t.decode("utf-8", errors="replace") for t in self._texts]
        self._code, self._texts, self.held_bytes = None, [], 0
        return build_reply(int(code), texts)


def parse_reply(data: bytes, *, max_line_bytes: int = 4096, max_lines: int = 200) -> Reply:
    """Parse exactly one complete reply, e.g. ``b"250-a\\r\\n250 b\\r\\n"``.

    Args:
        data: the reply's octets, its last line ended by CRLF (or LF).
        max_line_bytes: longest line, CRLF included.
        max_lines: most lines.

    Returns:
        The reply, enhanced status split as by `ClientConnection`.

    Raises:
        RemoteProtocolError: the bytes are not exactly one well-formed reply.
    """
    buf = bytearray(data)
    reply = ReplyReader(max_line_bytes=max_line_bytes, max_lines=max_lines).read(buf)
    if reply is None:
        raise protocol_error("incomplete reply")
    if buf:
        raise protocol_error("bytes after the reply")
    return reply
