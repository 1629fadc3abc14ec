"""Golden transcripts (tests/imap/transcripts/*.txt), fed whole, byte by byte and cut."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trimail.imap import (
    Append,
    CommandReceived,
    ConnectionClosed,
    LiteralRequest,
    Logout,
    Search,
    SearchKey,
)
from trimail.testing.imap_transcript import (
    ImapTranscript,
    ImapTranscriptResult,
    load_imap_transcript,
    parse_imap_transcript,
    run_imap_transcript,
)
from trimail.testing.transcript import byte_by_byte, split_at

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.txt"))
IDS = [p.stem for p in TRANSCRIPTS]


def _check(transcript: ImapTranscript, result: ImapTranscriptResult) -> None:
    assert result.output.decode("utf-8", "replace") == transcript.expected.decode(
        "utf-8", "replace"
    )
    assert result.output == transcript.expected
    if transcript.events:
        assert result.event_reprs == list(transcript.events)
    assert result.closed


def test_transcripts_exist() -> None:
    assert len(TRANSCRIPTS) >= 20


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_whole(path: Path) -> None:
    transcript = load_imap_transcript(path)
    _check(transcript, run_imap_transcript(transcript))


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_byte_by_byte(path: Path) -> None:
    transcript = load_imap_transcript(path)
    _check(transcript, run_imap_transcript(transcript, pieces=byte_by_byte))


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=1, max_value=3000), max_size=12))
def test_random_cuts(path: Path, cuts: list[int]) -> None:
    transcript = load_imap_transcript(path)
    _check(transcript, run_imap_transcript(transcript, pieces=split_at(cuts)))


def _run(name: str) -> ImapTranscriptResult:
    return run_imap_transcript(load_imap_transcript(Path(__file__).parent / "transcripts" / name))


def test_append_message_octets() -> None:
    """The literal octets arrive unchanged, CRLFs and NULs included."""
    appends = [
        e.command
        for e in _run("append.txt").events
        if isinstance(e, CommandReceived) and isinstance(e.command, Append)
    ]
    first = appends[0].messages[0].data
    assert len(first) == 310 and first.startswith(b"Date: Mon, 7 Feb 1994")
    assert first.endswith(b"tomorrow?\r\n")
    assert [m.data for m in appends[2].messages] == [b"one", b"two", b"three"]
    assert [m.data for m in appends[3].messages] == [b"a\x00b", b"c\x00d"]


def test_literal_requests_only_for_sync_append_data() -> None:
    events = _run("append.txt").events
    requests = [e for e in events if isinstance(e, LiteralRequest)]
    assert [(r.tag, r.mailbox, r.size) for r in requests] == [
        ("A003", "saved-messages", 310),
        ("A004", "missing", 5),
        ("A006", "INBOX", 5),
        ("A010", "INBOX", 3),
    ]
    assert not any(isinstance(e, LiteralRequest) for e in _run("literals.txt").events)


def test_literal_is_not_a_command() -> None:
    searches = [
        e.command
        for e in _run("literals.txt").events
        if isinstance(e, CommandReceived) and isinstance(e.command, Search)
    ]
    key = searches[0].program.args[0]
    assert isinstance(key, SearchKey) and key.args == ("x\r\na3 LOGOUT\r\n",)


def test_starttls_injection_discarded() -> None:
    result = _run("starttls-injection.txt")
    names = [type(e.command).__name__ for e in result.events if isinstance(e, CommandReceived)]
    assert names == ["StartTls", "Login"]  # d LOGIN and e SELECT never ran


def test_transcript_format_errors() -> None:
    with pytest.raises(ValueError, match="cannot read"):
        parse_imap_transcript("X: nonsense")
    with pytest.raises(ValueError, match="unknown connection option"):
        parse_imap_transcript("! connection fast=true")


def test_logout_closes() -> None:
    result = _run("capability.txt")
    assert result.closed and isinstance(result.events[-1], ConnectionClosed)
    last = result.events[-2]
    assert isinstance(last, CommandReceived) and isinstance(last.command, Logout)
