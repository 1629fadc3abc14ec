"""The header fields the plugin prepends: X-Spamd-Result, X-Spam-Score, X-Spam, and the
ones rspamd asks for (``milter.add_headers``), folded as RFC 5322 §2.2.3 says.

Everything here is printable ASCII: rspamd's texts (symbol options, SMTP messages,
header values) come from the scanned message and may hold anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from trimail_rspamd.result import ScanResult

MAX_LINE = 78  # characters per line, excluding CRLF: RFC 5322 §2.1.1 SHOULD
MAX_WORD = 900  # a word is never folded; with the name it stays under 998 (§2.1.1 MUST)
MAX_OPTION = 64  # characters of one symbol option shown in X-Spamd-Result
MAX_RESULT = 8000  # characters of X-Spamd-Result before "(N more)"
MAX_REPLY_TEXT = 200  # an SMTP reply line is at most 512 octets (RFC 5321 §4.5.3.1.5)
MAX_MILTER_VALUE = 2000  # characters of an unfolded header value rspamd asks for

RESULT_FIELD = "X-Spamd-Result"
SCORE_FIELD = "X-Spam-Score"
SPAM_FIELD = "X-Spam"
OWN_FIELDS = frozenset(n.lower() for n in (RESULT_FIELD, SCORE_FIELD, SPAM_FIELD))

# Only experimental "X-" fields are taken from rspamd: a field with a meaning (Received,
# Authentication-Results, DKIM-Signature, Subject...) must not be added by a spam filter.
_MILTER_NAME = re.compile(r"[Xx]-[A-Za-z0-9][A-Za-z0-9-]{0,60}")
_SPACES = re.compile(r" +")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def printable(text: str) -> str:
    """*text* as printable ASCII on one line: whitespace (CR, LF, TAB...) becomes a
    space, other characters outside U+0020..U+007E become ``?``; runs of spaces are
    collapsed and the ends stripped; words longer than `MAX_WORD` are cut."""
    chars = (ch if " " <= ch <= "~" else " " if ch.isspace() or ch < " " else "?" for ch in text)
    words = _SPACES.sub(" ", "".join(chars)).strip().split(" ")
    return " ".join(word[:MAX_WORD] for word in words)


def fold(name: str, value: str, limit: int = MAX_LINE) -> str:
    """One header field ``Name: value``, folded before spaces so that each line has at
    most *limit* characters (RFC 5322 §2.2.3); a word longer than a line stays whole
    on its own line (at most 998 characters with `printable` values, §2.1.1).

    Args:
        name: the field name (printable ASCII without ``:`` or spaces).
        value: the field body, already `printable` (single spaces, no CR/LF).
        limit: the line length to keep under, excluding CRLF.

    Returns:
        The field without a trailing CRLF; continuation lines start with a space, so
        unfolding (removing each CRLF) gives back ``f"{name}: {value}"``.
    """
    lines: list[str] = []
    line, words_on_line = f"{name}:", 0
    for word in value.split(" ") if value else []:
        if words_on_line and len(line) + 1 + len(word) > limit:
            lines.append(line)
            line, words_on_line = "", 0
        line += " " + word
        words_on_line += 1
    lines.append(line)
    return "\r\n".join(lines)


def unfold(field: str) -> str:
    """Undo folding: remove every CRLF (or bare LF) that is followed by a space or TAB
    (RFC 5322 §2.2.3)."""
    return _FOLD.sub("", field)


def reply_text(text: str | None, default: str) -> str:
    """A text from rspamd made fit for an SMTP reply line: `printable`, at most
    `MAX_REPLY_TEXT` characters; *default* when nothing is left."""
    cleaned = printable(text or "")[:MAX_REPLY_TEXT].strip()
    return cleaned or default


def _symbol(name: str, score: float, options: Iterable[str]) -> str:
    shown = [printable(o)[:MAX_OPTION] for o in options]
    label = printable(name).replace(" ", "_")[:MAX_OPTION] or "?"
    text = f"{label}({score:.2f})"
    return f"{text}[{', '.join(shown)}]" if shown else text


def spamd_result(result: ScanResult) -> str:
    """The ``X-Spamd-Result`` field in rspamd's own layout::

        X-Spamd-Result: default: True [16.00 / 15.00]; GTUBE(15.00);
         SYMBOL(0.50)[option, option]

    Symbols are listed by score (highest first, then by name), cut after
    `MAX_RESULT` characters with ``(N more)``.
    """
    verdict = "True" if result.is_spam else "False"
    parts = [f"default: {verdict} [{result.score:.2f} / {result.required_score:.2f}]"]
    size = len(parts[0])
    symbols = sorted(result.symbols, key=lambda s: (-s.score, s.name))
    for index, symbol in enumerate(symbols):
        part = _symbol(symbol.name, symbol.score, symbol.options)
        if size + len(part) > MAX_RESULT:
            parts.append(f"({len(symbols) - index} more)")
            break
        parts.append(part)
        size += len(part) + 2
    return fold(RESULT_FIELD, "; ".join(parts))


def result_fields(result: ScanResult) -> tuple[str, ...]:
    """X-Spamd-Result, X-Spam-Score and, for spam (`ScanResult.is_spam`), ``X-Spam: Yes``."""
    fields = (spamd_result(result), fold(SCORE_FIELD, f"{result.score:.2f}"))
    return (*fields, fold(SPAM_FIELD, "Yes")) if result.is_spam else fields


def unavailable_field(reason: str = "unavailable") -> str:
    """``X-Spamd-Result: unavailable`` (or another short reason): the message was not
    scanned, so that a user's filter can tell unscanned mail from clean mail."""
    return fold(RESULT_FIELD, printable(reason))


def safe_milter_headers(pairs: Iterable[tuple[str, str]]) -> tuple[str, ...]:
    """The header fields rspamd asked for (``milter.add_headers``) that are safe to add.

    Kept: names ``X-...`` (letters, digits, ``-``), except the plugin's own fields;
    values that unfold to printable ASCII (RFC 2047 encoded words included) of at most
    `MAX_MILTER_VALUE` characters. They are refolded to `MAX_LINE`.

    Returns:
        Complete fields for `trimail.verdicts.MessageVerdict.add_headers`; unsafe
        ones are dropped, not repaired.
    """
    fields = []
    for name, value in pairs:
        if not _MILTER_NAME.fullmatch(name) or name.lower() in OWN_FIELDS:
            continue
        flat = unfold(value).replace("\t", " ")
        if len(flat) > MAX_MILTER_VALUE or any(not " " <= ch <= "~" for ch in flat):
            continue
        fields.append(fold(name, printable(flat)))
    return tuple(fields)
