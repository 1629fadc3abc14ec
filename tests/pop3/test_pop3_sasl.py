"""POP3 AUTH with a multi-step mechanism (RFC 5034 §4): SCRAM-SHA-256 through the engine.

The transcripts in ``sasl_transcripts/`` run with ``sasl_mechanisms=("PLAIN",
"SCRAM-SHA-256")`` and a policy that runs `trimail.sasl.ScramServer` with the RFC 7677
§3 example (user "user", password "pencil", fixed server nonce).
"""

from __future__ import annotations

import base64
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trimail.pop3 import (
    NEED_DATA,
    PAUSED,
    Event,
    LocalProtocolError,
    Pop3Config,
    Pop3Connection,
    Reply,
    SaslAuthenticate,
    SaslResponse,
    State,
)
from trimail.sasl import SaslError, ScramCredentials, ScramServer, derive_credentials
from trimail.testing.pop3_transcript import (
    MAILDROP,
    Pop3Transcript,
    Pop3TranscriptPolicy,
    Pop3TranscriptResult,
    load_pop3_transcript,
    run_pop3_transcript,
)
from trimail.testing.transcript import Pieces, byte_by_byte, split_at

MECHANISMS = ("PLAIN", "SCRAM-SHA-256")
SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"  # RFC 7677 §3
PENCIL = derive_credentials("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
NOBODY = ScramCredentials(  # what an unknown user is challenged with here
    salt=b"nobody-salt", iterations=4096, stored_key=bytes(32), server_key=bytes(32)
)
TRANSCRIPTS = sorted((Path(__file__).parent / "sasl_transcripts").glob("*.txt"))
IDS = [p.stem for p in TRANSCRIPTS]


class ScramPolicy(Pop3TranscriptPolicy):
    """The runner's policy plus a SCRAM-SHA-256 exchange, driver side."""

    def __init__(self) -> None:
        self.server: ScramServer | None = None
        self.step = 0

    def answer(self, conn: Pop3Connection, event: Event) -> bytes:
        match event:
            case SaslAuthenticate(initial_response=data):
                self.server, self.step = ScramServer(SERVER_NONCE), 0
                return conn.sasl_challenge(b"") if data is None else self.scram(conn, data)
            case SaslResponse(data=data):
                return self.scram(conn, data)
        return super().answer(conn, event)

    def scram(self, conn: Pop3Connection, data: bytes) -> bytes:
        assert self.server is not None
        self.step += 1
        try:
            if self.step == 1:
                username, _ = self.server.first(data)
                return conn.sasl_challenge(
                    self.server.challenge(PENCIL if username == "user" else NOBODY)
                )
            if self.step == 2:
                return conn.sasl_challenge(self.server.final(data))
        except SaslError:
            return conn.reject_login(
                "malformed SCRAM message" if self.step == 1 else "invalid credentials"
            )
        if data:
            return conn.reject_login("unexpected data after the server-final-message")
        return conn.accept_login(MAILDROP)


def load(path: Path) -> Pop3Transcript:
    transcript = load_pop3_transcript(path)
    config = attrs.evolve(transcript.config, sasl_mechanisms=MECHANISMS)
    return attrs.evolve(transcript, config=config)


def run(path: Path, pieces: Pieces | None = None) -> Pop3TranscriptResult:
    return run_pop3_transcript(load(path), pieces=pieces, policy=ScramPolicy())


def test_transcripts_exist() -> None:
    assert {p.name for p in TRANSCRIPTS} >= {
        "scram.txt",
        "scram-initial-response.txt",
        "scram-not-allowed.txt",
    }


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_whole(path: Path) -> None:
    assert run(path).output.decode() == load(path).expected.decode()


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
def test_byte_by_byte(path: Path) -> None:
    assert run(path, byte_by_byte).output.decode() == load(path).expected.decode()


@pytest.mark.parametrize("path", TRANSCRIPTS, ids=IDS)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=1, max_value=2000), max_size=12))
def test_random_cuts(path: Path, cuts: list[int]) -> None:
    assert run(path, split_at(cuts)).output == load(path).expected


def test_events_of_the_exchange() -> None:
    events = [
        e
        for e in run(Path(__file__).parent / "sasl_transcripts" / "scram.txt").events
        if isinstance(e, SaslAuthenticate | SaslResponse)
    ]
    assert [type(e).__name__ for e in events] == [
        "SaslAuthenticate",
        "SaslResponse",
        "SaslResponse",
        "SaslResponse",
    ]
    assert events[0] == SaslAuthenticate(mechanism="SCRAM-SHA-256", initial_response=None)
    assert events[1] == SaslResponse(
        mechanism="SCRAM-SHA-256", data=b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    )
    assert events[-1] == SaslResponse(mechanism="SCRAM-SHA-256", data=b"")


def _started(line: bytes = b"AUTH SCRAM-SHA-256\r\n") -> tuple[Pop3Connection, Event]:
    conn = Pop3Connection(Pop3Config(sasl_mechanisms=MECHANISMS))
    conn.greeting()
    conn.receive_data(line)
    event = conn.next_event()
    assert isinstance(event, SaslAuthenticate)
    return conn, event


def test_pauses_until_answered_then_reads_the_response() -> None:
    conn, _ = _started(b"AUTH SCRAM-SHA-256\r\nAQID\r\n")
    assert conn.next_event() is PAUSED
    assert conn.sasl_challenge(b"\x00hi") == b"+ AGhp\r\n"
    assert conn.state is State.AUTHORIZATION
    assert conn.next_event() == SaslResponse(mechanism="SCRAM-SHA-256", data=b"\x01\x02\x03")
    assert conn.accept_login(MAILDROP).startswith(b"+OK maildrop has 3 messages")
    assert conn.state is State.TRANSACTION


def test_reject_counts_as_a_failed_login() -> None:
    conn = Pop3Connection(Pop3Config(sasl_mechanisms=MECHANISMS, max_bad_commands=1))
    conn.greeting()
    conn.receive_data(b"AUTH SCRAM-SHA-256 =\r\nAUTH SCRAM-SHA-256 =\r\n")
    assert conn.next_event() == SaslAuthenticate(mechanism="SCRAM-SHA-256", initial_response=b"")
    assert conn.reject_login("no") == b"-ERR [AUTH] no\r\n"
    assert isinstance(conn.next_event(), SaslAuthenticate)
    assert conn.reject_login("no") == b"-ERR [AUTH] no\r\n"
    with pytest.raises(Exception, match="too many bad commands"):
        conn.next_event()


def test_misuse_raises_and_changes_nothing() -> None:
    conn = Pop3Connection(Pop3Config(sasl_mechanisms=MECHANISMS))
    conn.greeting()
    with pytest.raises(LocalProtocolError):
        conn.sasl_challenge(b"x")  # nothing owed
    conn.receive_data(b"USER a\r\nPASS b\r\n")
    assert isinstance(conn.next_event(), Reply)
    conn.next_event()  # Authenticate (USER/PASS): a single step
    with pytest.raises(LocalProtocolError):
        conn.sasl_challenge(b"x")
    assert conn.state is State.AUTHORIZATION
    conn, _ = _started()
    conn.sasl_challenge()
    with pytest.raises(LocalProtocolError):
        conn.sasl_challenge()  # waiting for the client now
    with pytest.raises(LocalProtocolError):
        conn.accept_login(MAILDROP)
    assert conn.next_event() is NEED_DATA


def test_stls_forgets_an_exchange_and_then_offers_scram() -> None:
    conn = Pop3Connection(Pop3Config(sasl_mechanisms=MECHANISMS, auth_allowed=False, stls=True))
    conn.greeting()
    conn.receive_data(b"CAPA\r\n")
    capa = conn.next_event()
    assert isinstance(capa, Reply) and b"SASL" not in capa.data
    conn.receive_data(b"STLS\r\n")
    conn.next_event()
    conn.start_tls()
    conn.start_tls_done(auth_allowed=True)
    conn.receive_data(b"CAPA\r\n")
    capa = conn.next_event()
    assert isinstance(capa, Reply) and b"\r\nSASL PLAIN SCRAM-SHA-256\r\n" in capa.data


def test_default_config_offers_plain_only() -> None:
    conn = Pop3Connection()
    conn.greeting()
    conn.receive_data(b"AUTH SCRAM-SHA-256\r\n")
    event = conn.next_event()
    assert isinstance(event, Reply)
    assert event.data == b"-ERR unsupported SASL mechanism\r\n"


@pytest.mark.parametrize("bad", [("plain",), ("",), ("X" * 21,), ["PLAIN"], ("A B",)])
def test_config_checks_mechanism_names(bad: object) -> None:
    with pytest.raises(ValueError):
        Pop3Config(sasl_mechanisms=bad)  # type: ignore[arg-type]
