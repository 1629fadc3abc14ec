"""Fuzz target for the SMTP server engine.

Invariant: feeding any bytes yields events or `RemoteProtocolError`, nothing else; every
reply is well formed; the engine never holds more than a line limit of unprocessed bytes.

Run with atheris if installed (``python fuzz/fuzz_smtp.py [corpus_dir]``); without it,
a bounded random loop mutates seeds taken from tests/smtp/transcripts, replayed after
priming prefixes (none, EHLO, EHLO+MAIL+RCPT, EHLO+MAIL+RCPT+DATA).
"""

from __future__ import annotations

import re
from pathlib import Path

from trimail.smtp import SmtpConfig
from trimail.testing import Transcript, fuzzing, load_transcript, run_transcript, split_at

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = [
    b"",
    b"EHLO c.example\r\n",
    b"EHLO c.example\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<b@example.org>\r\n",
    b"EHLO c.example\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n",
]
CONFIG = SmtpConfig(
    hostname="mx.example.org",
    max_command_line_bytes=128,
    max_text_line_bytes=80,
    max_message_bytes=4096,
    max_bad_commands=20,
    starttls=True,
)
_LINE = re.compile(rb"\d{3}[ -][^\r\n]*\Z")


def _check_reply(reply: bytes) -> None:
    lines = reply.split(b"\r\n")
    assert lines[-1] == b"" and len(lines) > 1, reply
    for index, line in enumerate(lines[:-1]):
        assert _LINE.match(line), reply
        assert line[3:4] == (b" " if index == len(lines) - 2 else b"-"), reply


def fuzz_one_input(data: bytes) -> None:
    """Run one input: first byte picks the prefix and the cut points, the rest is fed."""
    if not data:
        return
    prefix = PREFIXES[data[0] % len(PREFIXES)]
    cuts = [b * 7 + i for i, b in enumerate(data[1:9])]
    transcript = Transcript(name="fuzz", segments=(prefix + data[1:],), expected=b"", config=CONFIG)
    result = run_transcript(transcript, pieces=split_at(cuts))  # RemoteProtocolError is handled
    for reply in result.replies:
        _check_reply(reply)
    limit = max(CONFIG.max_command_line_bytes, CONFIG.max_text_line_bytes)
    assert result.max_buffered < limit, result.max_buffered


def seeds() -> list[bytes]:
    """Client bytes of every golden transcript, with each prefix selector."""
    found = []
    for path in sorted((ROOT / "tests" / "smtp" / "transcripts").glob("*.txt")):
        client = load_transcript(path).client_bytes
        found.extend(bytes([selector]) + client for selector in range(len(PREFIXES)))
    return found


TOKENS = [b"\r\n", b"\n", b"\r", b".", b"\r\n.\r\n", b"\n.\n", b"BDAT 7\r\n", b"\x00", b"\xff"]


def fallback(iterations: int = 20_000, seed: int = 0) -> None:
    """Plain-Python fuzzing: mutate the seeds *iterations* times with a seeded RNG."""
    fuzzing.fallback("fuzz_smtp", fuzz_one_input, seeds(), TOKENS, iterations, seed)


if __name__ == "__main__":
    fuzzing.main("fuzz_smtp", fuzz_one_input, seeds, TOKENS)
