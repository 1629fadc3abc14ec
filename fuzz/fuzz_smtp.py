"""Fuzz target for the SMTP server engine.

Invariant: feeding any bytes yields events or `RemoteProtocolError`, nothing else; every
reply is well formed; the engine never holds more than a line limit of unprocessed bytes.

Run with atheris if installed (``python fuzz/fuzz_smtp.py [corpus_dir]``); without it,
a bounded random loop mutates seeds taken from tests/smtp/transcripts, replayed after
priming prefixes (none, EHLO, EHLO+MAIL+RCPT, EHLO+MAIL+RCPT+DATA).
"""

from __future__ import annotations

import random
import re
import sys
from pathlib import Path

from trimail.smtp import SmtpConfig
from trimail.testing import Transcript, load_transcript, run_transcript, split_at

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


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    tokens = [b"\r\n", b"\n", b"\r", b".", b"\r\n.\r\n", b"\n.\n", b"BDAT 7\r\n", b"\x00", b"\xff"]
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        position = rng.randint(0, len(buf))
        if choice < 0.3 and buf:
            del buf[position : position + rng.randint(1, 16)]
        elif choice < 0.6:
            buf[position:position] = rng.choice(tokens)
        elif choice < 0.8 and buf:
            buf[min(position, len(buf) - 1)] = rng.randrange(256)
        else:
            buf[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    return bytes(buf)


def fallback(iterations: int = 20_000, seed: int = 0) -> None:
    """Plain-Python fuzzing: mutate the seeds *iterations* times with a seeded RNG."""
    rng = random.Random(seed)
    corpus = seeds()
    for data in corpus:
        fuzz_one_input(data)
    for _ in range(iterations):
        fuzz_one_input(_mutate(rng, rng.choice(corpus)))
    print(f"fuzz_smtp: {len(corpus)} seeds and {iterations} mutations passed")


def _runs(args: list[str], default: int = 20_000) -> int:
    """Iterations for the fallback: ``N`` or libFuzzer's ``-runs=N``."""
    for arg in args:
        value = arg.removeprefix("-runs=")
        if value.isdigit():
            return int(value)
    return default


def main() -> None:
    try:
        import atheris  # type: ignore[import-not-found]
    except ImportError:
        fallback(_runs(sys.argv[1:]))
        return
    atheris.Setup(sys.argv, fuzz_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
