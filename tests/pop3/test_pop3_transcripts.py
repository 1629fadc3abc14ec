"""Golden transcripts (tests/pop3/transcripts/*.txt), fed whole, byte by byte and cut."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trimail.pop3 import Authenticate, Retrieve
from trimail.testing.pop3_transcript import (
    Pop3TranscriptResult,
    load_pop3_transcript,
    run_pop3_transcript,
)
from trimail.testing.transcript import byte_by_byte, split_at

TRANSCRIPTS = sorted((Path(__file__).parent / "transcripts").glob("*.txt"))
IDS = [p.stem for p in TRANSCRIPTS]


def test_transcripts_exist() -> None:
    assert len(TRANSCRIPTS) >= 10


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_whole(path: Path) -> None:
    transcript = load_pop3_transcript(path)
    assert run_pop3_transcript(transcript).output.decode() == transcript.expected.decode()


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_byte_by_byte(path: Path) -> None:
    transcript = load_pop3_transcript(path)
    result = run_pop3_transcript(transcript, pieces=byte_by_byte)
    assert result.output.decode() == transcript.expected.decode()


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=1, max_value=2000), max_size=12))
def test_random_cuts(path: Path, cuts: list[int]) -> None:
    transcript = load_pop3_transcript(path)
    result = run_pop3_transcript(transcript, pieces=split_at(cuts))
    assert result.output == transcript.expected


def _run(name: str) -> Pop3TranscriptResult:
    return run_pop3_transcript(load_pop3_transcript(Path(__file__).parent / "transcripts" / name))


@pytest.mark.parametrize(
    ("name", "deleted"),
    [("basic.txt", (0,)), ("dele-rset.txt", (2,)), ("quit-authorization.txt", ())],
)
def test_quit_reports_deletions(name: str, deleted: tuple[int, ...]) -> None:
    assert _run(name).deleted == deleted


def test_auth_plain_events() -> None:
    events = [e for e in _run("auth-plain.txt").events if isinstance(e, Authenticate)]
    assert [(e.username, e.password, e.mechanism) for e in events] == [
        ("alice", "wrong", "PLAIN"),
        ("alice", "secret", "PLAIN"),
    ]


def test_no_login_without_auth() -> None:
    assert not any(isinstance(e, Authenticate) for e in _run("auth-not-allowed.txt").events)


def test_retrieve_events() -> None:
    events = [e for e in _run("byte-stuffing.txt").events if isinstance(e, Retrieve)]
    assert [(e.msg_number, e.index, e.top_lines) for e in events] == [
        (2, 1, None),
        (3, 2, 1),
        (3, 2, 0),
        (2, 1, 5),
    ]


def test_too_many_errors_closes() -> None:
    result = _run("too-many-errors.txt")
    assert result.closed and result.deleted is None
    assert result.responses[-1] == b"-ERR [SYS/PERM] too many errors\r\n"
