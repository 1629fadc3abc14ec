"""Reading message content: DATA up to CRLF.CRLF (RFC 5321 §4.1.1.4) and BDAT chunks.

Work is done per received block with bytes methods (find, count, replace, split), never
per line in Python. The content is checked as it passes (`ContentCheck`); once it fails,
the rest is read and dropped so memory stays bounded.

SMTP smuggling defence: only CRLF "." CRLF ends DATA. ``LF.LF``, ``LF.CRLF``,
``CR.CR`` and the like are content containing bare LF or CR, and a message with any
bare LF or CR is refused at its end (554 5.6.0), so nothing downstream can read a
different end of data than we did.
"""

from __future__ import annotations

from trimail.mail.reply import Reply
from trimail.smtp import _replies as R

_TERMINATOR = b"\r\n.\r\n"


class ContentCheck:
    """Checks message content for bare CR/LF, long lines and total size.

    Attributes:
        failure: the reply refusing the message, once a check failed, else None.
        size: octets seen so far.
    """

    def __init__(self, *, max_text_line_bytes: int, max_message_bytes: int) -> None:
        self._max_line = max_text_line_bytes - 2  # the limit counts the CRLF
        self._max_bytes = max_message_bytes
        self._line = 0  # octets of the current line seen so far, CR/LF excluded
        self._pending_cr = False  # the last piece ended with CR (its LF may follow)
        self.size = 0
        self.failure: Reply | None = None

    def feed(self, piece: bytes) -> None:
        """Check the next piece of content (any split, even inside a CRLF)."""
        self.size += len(piece)
        if self.failure is not None or not piece:
            return
        if self.size > self._max_bytes:
            self.failure = R.R552_MESSAGE_TOO_BIG
            return
        continues_crlf = self._pending_cr
        self._check_newlines(piece)
        if self.failure is None:
            self._check_lines(piece, continues_crlf=continues_crlf)

    def refuse(self, reply: Reply) -> None:
        """Refuse the message with *reply* unless it was refused already."""
        if self.failure is None:
            self.failure = reply

    def finish(self) -> Reply | None:
        """End of content: return the refusal, or None if the message is fine."""
        if self.failure is None and self._pending_cr:
            self.failure = R.R554_BARE_CR
        return self.failure

    def _check_newlines(self, piece: bytes) -> None:
        crlf, cr, lf = piece.count(b"\r\n"), piece.count(b"\r"), piece.count(b"\n")
        if self._pending_cr:
            if piece[:1] != b"\n":
                self.failure = R.R554_BARE_CR
                return
            crlf, cr = crlf + 1, cr + 1
        self._pending_cr = piece[-1:] == b"\r"
        if self._pending_cr:
            cr -= 1
        if lf != crlf:
            self.failure = R.R554_BARE_LF
        elif cr != crlf:
            self.failure = R.R554_BARE_CR

    def _check_lines(self, piece: bytes, *, continues_crlf: bool) -> None:
        # Called only when the piece has no bare CR or LF, so every LF ends a CRLF.
        start = 1 if continues_crlf else 0  # the LF of a CRLF split over two pieces
        if continues_crlf:
            self._line = 0
        end = len(piece) - (1 if self._pending_cr else 0)  # a final CR is not content
        first_lf = piece.find(b"\n", start)
        if first_lf < 0:
            self._line += end - start
        else:
            if self._line + (first_lf - 1 - start) > self._max_line:
                self.failure = R.R500_TEXT_LINE_TOO_LONG
                return
            if not self._lines_fit(piece, first_lf + 1):
                self.failure = R.R500_TEXT_LINE_TOO_LONG
                return
            self._line = end - (piece.rfind(b"\n") + 1)
        if self._line > self._max_line:
            self.failure = R.R500_TEXT_LINE_TOO_LONG

    def _lines_fit(self, piece: bytes, pos: int) -> bool:
        """True if no complete line from *pos* on is longer than the limit.

        Jumps from line start to the last LF within one maximal line's reach, so a
        64 KiB piece costs about 130 ``rfind`` calls in C, not one step per line.
        """
        reach = self._max_line + 2  # content + CRLF
        rfind = piece.rfind
        last_lf = rfind(b"\n")
        while last_lf - pos >= reach:
            lf = rfind(b"\n", pos, pos + reach)
            if lf < 0:
                return False
            pos = lf + 1
        return True


class DotReader:
    """Reads DATA content up to CRLF.CRLF and undoes dot-stuffing (RFC 5321 §4.5.2).

    The content handed out is cut after the last complete CRLF in the buffer, so a
    line's leading dot and a CRLF are never split between pieces; a line longer than
    ``max_text_line_bytes`` is cut anyway (keeping a trailing CR) so the buffer stays
    bounded.
    """

    def __init__(self, *, max_text_line_bytes: int) -> None:
        self._hold = max_text_line_bytes
        self._line_start = True  # the DATA line's CRLF precedes the content

    def read(self, buf: bytearray, *, keep: bool) -> tuple[bytes, bool] | None:
        """Take the next piece of content out of *buf*.

        Args:
            buf: the connection's receive buffer; consumed bytes are removed.
            keep: False once the message is refused: the piece is dropped unread.

        Returns:
            (unstuffed piece, True if the end of data was reached), or None if more
            bytes are needed.
        """
        if self._line_start:
            if buf[:3] == b".\r\n":
                del buf[:3]
                return b"", True
            if len(buf) < 3 and b".\r\n".startswith(buf):
                return None
        end = buf.find(_TERMINATOR)
        if end >= 0:
            return self._take(buf, end + 2, end + 5, keep=keep), True
        cut = buf.rfind(b"\r\n") + 2
        if cut >= 2:
            piece = self._take(buf, cut, cut, keep=keep)
            self._line_start = True
            return piece, False
        if len(buf) < self._hold:
            return None
        cut = len(buf) - 1 if buf[-1:] == b"\r" else len(buf)
        piece = self._take(buf, cut, cut, keep=keep)
        self._line_start = False
        return piece, False

    def _take(self, buf: bytearray, content_end: int, consumed: int, *, keep: bool) -> bytes:
        piece = bytes(buf[:content_end]) if keep else b""
        del buf[:consumed]
        if not keep:
            return b""
        if self._line_start and piece[:1] == b".":
            piece = piece[1:]
        return piece.replace(b"\r\n.", b"\r\n")


class ChunkReader:
    """Reads the octets of one BDAT chunk, as sent (RFC 3030 §2: no dot-stuffing).

    Attributes:
        size: the chunk size from the command, in octets.
        last: True for ``BDAT n LAST``.
        remaining: octets still to read.
    """

    def __init__(self, size: int, *, last: bool) -> None:
        self.size = size
        self.last = last
        self.remaining = size

    def read(self, buf: bytearray, *, keep: bool) -> tuple[bytes, bool] | None:
        """Take the chunk's next octets out of *buf*.

        Returns:
            (octets, True once the chunk is complete), or None if *buf* is empty and
            octets remain. With ``keep=False`` the octets are dropped and b"" returned.
        """
        if self.remaining and not buf:
            return None
        count = min(self.remaining, len(buf))
        piece = bytes(buf[:count]) if keep else b""
        del buf[:count]
        self.remaining -= count
        return piece, self.remaining == 0
