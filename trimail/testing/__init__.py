"""Test kit for trimail and its users: transcript runner (more to come: fake clock,
fixtures that start a server, plugin conformance checks)."""

from trimail.testing.transcript import (
    Transcript,
    TranscriptPolicy,
    TranscriptResult,
    byte_by_byte,
    load_transcript,
    parse_transcript,
    run_transcript,
    split_at,
)

__all__ = [
    "Transcript",
    "TranscriptPolicy",
    "TranscriptResult",
    "byte_by_byte",
    "load_transcript",
    "parse_transcript",
    "run_transcript",
    "split_at",
]
