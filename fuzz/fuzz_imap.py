"""Fuzz target for the IMAP server engine.

Invariant: feeding any bytes yields events or `RemoteProtocolError`, nothing else; every
response is made of well-formed lines (``* ...``, ``+ ...`` or ``tag OK|NO|BAD ...``,
CRLF-terminated); the engine never holds more than its line and command limits.

Run with atheris if installed (``python fuzz/fuzz_imap.py [corpus_dir]``); without it,
a bounded random loop mutates seeds taken from tests/imap/transcripts, replayed after
priming prefixes (none, LOGIN, LOGIN+SELECT, AUTHENTICATE, IDLE, APPEND).
"""

from __future__ import annotations

import re
from pathlib import Path

from trimail.imap import ImapConfig
from trimail.testing import fuzzing
from trimail.testing.imap_transcript import (
    ImapTranscript,
    load_imap_transcript,
    run_imap_transcript,
)
from trimail.testing.transcript import split_at

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = [
    b"",
    b"p1 LOGIN alice secret\r\n",
    b"p1 LOGIN alice secret\r\np2 SELECT INBOX\r\n",
    b"p1 AUTHENTICATE PLAIN\r\n",
    b"p1 LOGIN alice secret\r\np2 IDLE\r\n",
    b"p1 LOGIN alice secret\r\np2 APPEND INBOX {40}\r\n",
    b"p1 LOGIN alice secret\r\np2 ENABLE UTF8=ACCEPT QRESYNC\r\np3 SELECT INBOX\r\n",
]
CONFIG = ImapConfig(
    max_line_bytes=256,
    max_literal_bytes=512,
    max_append_bytes=2048,
    max_command_bytes=4096,
    max_discard_bytes=8192,
    max_bad_commands=30,
)
MEMORY_BOUND = CONFIG.max_command_bytes + 2 * CONFIG.max_line_bytes
_LINE = re.compile(rb"(\* |\+ |\+$|[\x21-\x7e]+ (OK|NO|BAD) )")


def check_response(data: bytes) -> None:
    """Assert that *data* is one or more well-formed response lines (RFC 3501 §7)."""
    assert data.endswith(b"\r\n"), data
    for line in data[:-2].split(b"\r\n"):
        assert b"\n" not in line and b"\r" not in line, data
        assert _LINE.match(line), data


def fuzz_one_input(data: bytes) -> None:
    """Run one input: first byte picks the prefix and cut points, the rest is fed."""
    if not data:
        return
    prefix = PREFIXES[data[0] % len(PREFIXES)]
    cuts = [b * 7 + i for i, b in enumerate(data[1:9])]
    transcript = ImapTranscript(
        name="fuzz",
        segments=(prefix + data[1:],),
        expected=b"",
        events=(),
        config=CONFIG,
        loopback=bool(data[0] & 0x80),
    )
    result = run_imap_transcript(transcript, pieces=split_at(cuts))  # handles RemoteProtocolError
    for response in result.responses:
        check_response(response)
    assert result.max_buffered < MEMORY_BOUND, result.max_buffered


def seeds() -> list[bytes]:
    """Client bytes of every golden transcript, with each prefix selector."""
    found: list[bytes] = []
    for path in sorted((ROOT / "tests" / "imap" / "transcripts").glob("*.txt")):
        client = load_imap_transcript(path).client_bytes
        found.extend(bytes([selector | 0x80]) + client for selector in range(len(PREFIXES)))
    return found


TOKENS = [
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"{5}\r\n",
    b"{3+}\r\n",
    b"~{2}\r\n",
    b"{99999999999}\r\n",
    b"(",
    b")",
    b'"',
    b"\\",
    b"NIL",
    b"*",
    b"DONE\r\n",
    b"x UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (From)]<0.10>)\r\n",
    b"x STARTTLS\r\n",
    b"&AOk-",
    b"\x00",
    b"\xff",
]


def fallback(iterations: int = 20_000, seed: int = 0) -> None:
    """Plain-Python fuzzing: mutate the seeds *iterations* times with a seeded RNG."""
    fuzzing.fallback("fuzz_imap", fuzz_one_input, seeds(), TOKENS, iterations, seed)


if __name__ == "__main__":
    fuzzing.main("fuzz_imap", fuzz_one_input, seeds, TOKENS)
