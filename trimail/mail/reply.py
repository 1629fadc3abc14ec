"""SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 3463, RFC 2034)."""

from __future__ import annotations

import attrs


def _lines(value: str | tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@attrs.frozen(kw_only=True)
class Reply:
    """One SMTP reply, possibly multi-line (RFC 5321 §4.2.1).

    Attributes:
        code: the three-digit reply code, 200..599 (RFC 5321 §4.2.2).
        enhanced_status: ``class.subject.detail`` (RFC 3463), e.g. ``"5.1.1"``, or None
            where none applies (greeting, EHLO, and clients that did not get
            ENHANCEDSTATUSCODES advertised still receive it: RFC 2034 §3 allows that).
        text: the text of each line, without code, CR or LF; a str is one line.
    """

    code: int = attrs.field()
    enhanced_status: str | None = None
    text: tuple[str, ...] = attrs.field(default=("",), converter=_lines)

    @code.validator
    def _check_code(self, _attribute: object, value: int) -> None:
        if not 200 <= value <= 599:
            raise ValueError(f"reply code {value} is outside 200..599 (RFC 5321 §4.2.2)")

    @property
    def is_positive(self) -> bool:
        """True for 2xx and 3xx replies."""
        return self.code < 400

    @property
    def is_transient(self) -> bool:
        """True for 4xx replies (RFC 5321 §4.2.1: try again later)."""
        return 400 <= self.code < 500

    @property
    def is_permanent(self) -> bool:
        """True for 5xx replies."""
        return self.code >= 500
