"""A stateful test: two IMAP sessions on one mailbox against a model (IMAP-NOTES §1).

Hypothesis drives APPEND, STORE, EXPUNGE, FETCH, SEARCH and NOOP on two sessions of a
real ``trimail serve``. Each session keeps the numbering the server told it (EXISTS and
EXPUNGE responses); the invariants are RFC 3501 §7.4.1's:

* FETCH, STORE and SEARCH by sequence number never carry an EXPUNGE, and the UID the
  server returns for each sequence number is the one the session's numbering says;
* EXISTS never goes below what the session knows;
* after NOOP, a session's numbering is exactly the model's UIDs, and the flags agree.
"""

from __future__ import annotations

import itertools
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.integration.conftest import PASSWORD
from trimail.testing.process import ServerProcess, running_server

USER = "alice@example.org"
_FLAGS = ("\\Flagged", "\\Seen", "$Work")


class Session:
    """A raw IMAP session that keeps the numbering the server reported."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.reader = self.sock.makefile("rb")
        self.reader.readline()
        self.n = 0
        self.view: list[int] = []  # seq n -> UID view[n-1], as the client knows it
        self.untagged: list[bytes] = []

    def command(self, text: str, *, by_sequence: bool = False) -> bytes:
        """Run a command, then fold its EXPUNGE/EXISTS responses into the numbering.

        Args:
            by_sequence: a FETCH/STORE/SEARCH by sequence number, which must not carry
                EXPUNGE responses (RFC 3501 §7.4.1).
        """
        self.n += 1
        tag = b"t%d" % self.n
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        self.untagged = []
        while True:
            line = self.reader.readline()
            if not line:
                raise ConnectionError(f"closed after {text!r}: {self.untagged!r}")
            literal = re.search(rb"\{(\d+)\}\r\n$", line)
            if literal:
                line += self.reader.read(int(literal.group(1))) + self.reader.readline()
            if line.startswith(tag + b" "):
                assert line.startswith(tag + b" OK"), (text, line)
                if by_sequence:
                    assert not any(b" EXPUNGE" in u for u in self.untagged), self.untagged
                self.apply_untagged()
                return line
            self.untagged.append(line)

    def apply_untagged(self) -> None:
        """Fold EXPUNGE and EXISTS into the numbering (new UIDs fetched after)."""
        for line in self.untagged:
            if m := re.match(rb"\* (\d+) EXPUNGE\r\n", line):
                seq = int(m.group(1))
                assert 1 <= seq <= len(self.view), (line, self.view)
                del self.view[seq - 1]
            elif m := re.match(rb"\* (\d+) EXISTS\r\n", line):
                count = int(m.group(1))
                assert count >= len(self.view), "EXISTS went down"
                if count > len(self.view):
                    self.view.extend([0] * (count - len(self.view)))  # UIDs unknown yet

    def learn_uids(self) -> None:
        """Fill in UIDs of sequence numbers announced by EXISTS (FETCH by seq)."""
        while unknown := [i + 1 for i, uid in enumerate(self.view) if uid == 0]:
            self._learn(unknown[0])

    def _learn(self, first: int) -> None:
        last = len(self.view)
        self.command(f"FETCH {first}:{last} (UID)", by_sequence=True)
        for line in self.untagged:
            if m := re.match(rb"\* (\d+) FETCH \(.*UID (\d+)", line):
                seq, uid = int(m.group(1)), int(m.group(2))
                if self.view[seq - 1] == 0:
                    self.view[seq - 1] = uid
                assert self.view[seq - 1] == uid, (seq, uid, self.view)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def imap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with running_server(
        tmp_path_factory.mktemp("stateful"),
        domains=["example.org"],
        users={USER: PASSWORD},
        imap_extra="max_connections_per_ip = 1000\n",  # shrinking opens many sessions
    ) as srv:
        yield srv


class TwoSessions(RuleBasedStateMachine):
    port = 0
    boxes = itertools.count(1)  # a new mailbox for every run

    def __init__(self) -> None:
        super().__init__()
        self.sessions = [Session(self.port), Session(self.port)]
        for s in self.sessions:
            s.command(f'LOGIN {USER} "{PASSWORD}"')
        box = f"S{next(TwoSessions.boxes)}"
        self.box = box
        self.sessions[0].command(f"CREATE {box}")
        for s in self.sessions:
            s.command(f"SELECT {box}")
        self.model: dict[int, set[str]] = {}  # UID -> flags

    def teardown(self) -> None:
        for s in self.sessions:
            s.close()

    @rule(who=st.integers(0, 1), flags=st.sets(st.sampled_from(_FLAGS)))
    def append(self, who: int, flags: set[str]) -> None:
        message = b"Subject: stateful\r\n\r\nbody\r\n"
        s = self.sessions[who]
        tagged = s.command(
            f"APPEND {self.box} ({' '.join(sorted(flags))}) {{{len(message)}+}}\r\n"
            + message.decode()
        )
        uid = int(re.search(rb"APPENDUID \d+ (\d+)", tagged).group(1))  # type: ignore[union-attr]
        self.model[uid] = set(flags)

    @precondition(lambda self: any(s.view for s in self.sessions))
    @rule(who=st.integers(0, 1), data=st.data(), flag=st.sampled_from(_FLAGS), add=st.booleans())
    def store(self, who: int, data: st.DataObject, flag: str, add: bool) -> None:
        s = self.sessions[who]
        if not s.view:
            return
        s.learn_uids()
        seq = data.draw(st.integers(1, len(s.view)))
        uid = s.view[seq - 1]
        s.command(f"STORE {seq} {'+' if add else '-'}FLAGS ({flag})", by_sequence=True)
        if uid in self.model:  # else expunged by the other session: the store is a no-op
            (self.model[uid].add if add else self.model[uid].discard)(flag)
            assert any(re.match(rb"\* %d FETCH" % seq, line) for line in s.untagged), s.untagged

    @precondition(lambda self: any(s.view for s in self.sessions))
    @rule(who=st.integers(0, 1), data=st.data())
    def expunge(self, who: int, data: st.DataObject) -> None:
        s = self.sessions[who]
        if not s.view:
            return
        s.learn_uids()
        seq = data.draw(st.integers(1, len(s.view)))
        uid = s.view[seq - 1]
        s.command(f"UID STORE {uid} +FLAGS (\\Deleted)")
        s.command("EXPUNGE")
        self.model.pop(uid, None)
        assert uid not in s.view

    @rule(who=st.integers(0, 1))
    def fetch_by_sequence(self, who: int) -> None:
        s = self.sessions[who]
        if not s.view:
            return
        s.learn_uids()
        known = list(s.view)
        s.command(f"FETCH 1:{len(known)} (UID FLAGS)", by_sequence=True)
        for line in s.untagged:
            if m := re.match(rb"\* (\d+) FETCH \(.*UID (\d+)", line):
                assert known[int(m.group(1)) - 1] == int(m.group(2)), (line, known)

    @rule(who=st.integers(0, 1))
    def search_by_sequence(self, who: int) -> None:
        s = self.sessions[who]
        s.command("SEARCH ALL", by_sequence=True)

    @rule(who=st.integers(0, 1))
    def noop(self, who: int) -> None:
        s = self.sessions[who]
        s.command("NOOP")
        s.learn_uids()
        assert s.view == sorted(self.model), (s.view, sorted(self.model))
        if s.view:
            s.command("UID FETCH 1:* (FLAGS)")
            for line in s.untagged:
                m = re.match(rb"\* \d+ FETCH \((.*)\)\r\n", line)
                if m is None:
                    continue
                uid = int(re.search(rb"UID (\d+)", m.group(1)).group(1))  # type: ignore[union-attr]
                flags = set(re.search(rb"FLAGS \(([^)]*)\)", m.group(1)).group(1).decode().split())  # type: ignore[union-attr]
                flags.discard("\\Recent")
                assert flags == self.model[uid], (uid, flags, self.model[uid])

    @invariant()
    def views_ascend(self) -> None:
        for s in self.sessions:
            known = [u for u in s.view if u]
            assert known == sorted(set(known))


def test_two_sessions_against_a_model(imap_server: ServerProcess) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    TwoSessions.port = imap_server.imap_port
    run_state_machine_as_test(
        TwoSessions,
        settings=settings(
            max_examples=8,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )


def test_model_helpers_are_sane(tmp_path: Path) -> None:
    """The Session bookkeeping itself: EXPUNGE removes by number, EXISTS appends."""
    s = Session.__new__(Session)
    s.view = [5, 6, 7]
    s.untagged = [b"* 2 EXPUNGE\r\n", b"* 4 EXISTS\r\n"]
    s.apply_untagged()
    assert s.view == [5, 7, 0, 0]
