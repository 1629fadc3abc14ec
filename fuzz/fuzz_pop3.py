"""Fuzz target for the POP3 server engine.

Invariant: feeding any bytes yields events or `RemoteProtocolError`, nothing else; every
response is well formed (``+OK``/``-ERR`` lines, ``+ `` continuations, or a multi-line
``+OK`` ending in ``.``); the engine never holds more than a line limit of unprocessed
bytes.

Run with atheris if installed (``python fuzz/fuzz_pop3.py [corpus_dir]``); without it,
a bounded random loop mutates seeds taken from tests/pop3/transcripts, replayed after
priming prefixes (none, USER+PASS, AUTH PLAIN, AUTH PLAIN + login).
"""

from __future__ import annotations

from pathlib import Path

from trimail.pop3 import Pop3Config
from trimail.testing import fuzzing
from trimail.testing.pop3_transcript import (
    Pop3Transcript,
    load_pop3_transcript,
    run_pop3_transcript,
)
from trimail.testing.transcript import split_at

ROOT = Path(__file__).resolve().parent.parent
PREFIXES = [
    b"",
    b"USER alice\r\nPASS secret\r\n",
    b"AUTH PLAIN\r\n",
    b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nDELE 1\r\n",
]
CONFIG = Pop3Config(max_line_bytes=128, max_bad_commands=20)


def check_response(data: bytes) -> None:
    """Assert that *data* is one well-formed POP3 response (RFC 1939 §3, RFC 5034 §4)."""
    assert data.endswith(b"\r\n"), data
    first, _, rest = data.partition(b"\r\n")
    assert b"\n" not in first and b"\r" not in first, data
    assert first.startswith((b"+OK", b"-ERR", b"+ ")), data
    if rest:  # multi-line: stuffed lines, then the terminator
        assert first.startswith(b"+OK") and rest.endswith(b".\r\n"), data
        lines = rest[:-3].split(b"\r\n")
        assert lines[-1] == b"", data
        assert all(not line.startswith(b".") or line.startswith(b"..") for line in lines), data


def fuzz_one_input(data: bytes) -> None:
    """Run one input: first byte picks the prefix and the cut points, the rest is fed."""
    if not data:
        return
    prefix = PREFIXES[data[0] % len(PREFIXES)]
    cuts = [b * 7 + i for i, b in enumerate(data[1:9])]
    transcript = Pop3Transcript(
        name="fuzz", client_bytes=prefix + data[1:], expected=b"", config=CONFIG
    )
    result = run_pop3_transcript(transcript, pieces=split_at(cuts))  # handles RemoteProtocolError
    for response in result.responses:
        check_response(response)
    assert result.max_buffered < CONFIG.max_line_bytes, result.max_buffered


def seeds() -> list[bytes]:
    """Client bytes of every golden transcript, with each prefix selector."""
    found: list[bytes] = []
    for path in sorted((ROOT / "tests" / "pop3" / "transcripts").glob("*.txt")):
        client = load_pop3_transcript(path).client_bytes
        found.extend(bytes([selector]) + client for selector in range(len(PREFIXES)))
    return found


TOKENS = [b"\r\n", b"\n", b"\r", b".", b"*\r\n", b"RETR 2\r\n", b"DELE 1\r\n", b"\x00", b"\xff"]


def fallback(iterations: int = 20_000, seed: int = 0) -> None:
    """Plain-Python fuzzing: mutate the seeds *iterations* times with a seeded RNG."""
    fuzzing.fallback("fuzz_pop3", fuzz_one_input, seeds(), TOKENS, iterations, seed)


if __name__ == "__main__":
    fuzzing.main("fuzz_pop3", fuzz_one_input, seeds, TOKENS)
