"""Golden transcripts (tests/smtp/transcripts/*.txt), fed whole, byte by byte and cut."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trimail.smtp import MailFrom, MessageData, RcptTo
from trimail.testing import (
    TranscriptResult,
    byte_by_byte,
    load_transcript,
    run_transcript,
    split_at,
)

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.txt"))
IDS = [p.stem for p in TRANSCRIPTS]


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_whole(path: Path) -> None:
    transcript = load_transcript(path)
    assert run_transcript(transcript).output.decode() == transcript.expected.decode()


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_byte_by_byte(path: Path) -> None:
    transcript = load_transcript(path)
    result = run_transcript(transcript, pieces=byte_by_byte)
    assert result.output.decode() == transcript.expected.decode()


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=1, max_value=2000), max_size=12))
def test_random_cuts(path: Path, cuts: list[int]) -> None:
    transcript = load_transcript(path)
    result = run_transcript(transcript, pieces=split_at(cuts))
    assert result.output == transcript.expected


def _run(name: str) -> TranscriptResult:
    return run_transcript(load_transcript(Path(__file__).parent / "transcripts" / name))


def test_dot_stuffing_content() -> None:
    result = _run("dot-stuffing.txt")
    assert result.messages == [b".\r\n..leading dots\r\na line with . inside\r\n.\r\nx\r\n\r\n"]


def test_empty_message() -> None:
    assert _run("empty-message.txt").messages == [b""]


def test_message_data_is_not_per_line() -> None:
    result = _run("basic.txt")
    pieces = [e.data for e in result.events if isinstance(e, MessageData)]
    assert pieces == [b"From: alice@client.example\r\nSubject: hello\r\n\r\nHi Bob.\r\n"]


def test_bdat_content() -> None:
    result = _run("bdat.txt")
    assert result.messages == [b"Subject: chunks\r\n\r\n.hello\r\n.\r\n", b"hi\r\n..\r\n"]


@pytest.mark.parametrize("name", ["smuggling-bare-lf.txt", "smuggling-bare-cr.txt"])
def test_smuggled_commands_are_not_commands(name: str) -> None:
    result = _run(name)
    assert result.messages == []
    senders = [str(e.reverse_path) for e in result.events if isinstance(e, MailFrom)]
    recipients = [e.forward_path.local_part for e in result.events if isinstance(e, RcptTo)]
    assert not any(s.startswith("admin") for s in senders)
    assert not any(r.startswith("victim") for r in recipients)


def test_starttls_injection_is_dropped() -> None:
    result = _run("starttls-injection.txt")
    assert not any(isinstance(e, MailFrom | RcptTo) for e in result.events)


def test_size_transcript_accepts_only_the_small_message() -> None:
    assert _run("size.txt").messages == [b"small\r\n"]
