"""Stateful property: UID, UIDNEXT, MODSEQ and HIGHESTMODSEQ never decrease.

Also across close/reopen of the store (RFC 3501 §2.3.1.1, RFC 7162 §3.1).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from trimail.storage import MailboxExists, SqliteMailStore

WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


class StoreCounters(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="trimail-stateful-"))
        self.store = SqliteMailStore(self.root)
        self.store.create_account("alice")
        self.boxes = ["INBOX"]
        self.last_uid: dict[str, int] = {"INBOX": 0}
        self.uidnext: dict[str, int] = {"INBOX": 1}
        self.highestmodseq: dict[str, int] = {"INBOX": 0}
        self.uidvalidity: dict[str, int] = {}
        self.modseq = 0
        self.contents: dict[tuple[str, int], bytes] = {}

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.store.close()
            shutil.rmtree(self.root, ignore_errors=True)

    @rule(name=st.sampled_from(["Work", "Lists", "inbox/Sub", "Trash"]))
    def create_mailbox(self, name: str) -> None:
        try:
            info = self.store.create_mailbox("alice", name)
        except MailboxExists:  # Trash is a default mailbox
            assert self.store.mailbox_status("alice", name)
            return
        assert info.name not in self.boxes
        self.boxes.append(info.name)
        self.last_uid[info.name] = 0
        self.uidnext[info.name] = 1
        self.highestmodseq[info.name] = 0

    @rule(data=st.data(), body=st.binary(max_size=300), prefix=st.binary(max_size=20))
    def deliver(self, data: st.DataObject, body: bytes, prefix: bytes) -> None:
        box = data.draw(st.sampled_from(self.boxes))
        got = self.store.deliver("alice", box, body, prefix=prefix, internal_date=WHEN)
        assert got.uid > self.last_uid[box]
        assert got.uid >= self.uidnext[box]
        assert got.modseq > self.modseq
        self.last_uid[box], self.modseq = got.uid, got.modseq
        self.contents[(box, got.uid)] = prefix + body

    @rule()
    def reopen(self) -> None:
        self.store.close()
        self.store = SqliteMailStore(self.root)

    @rule(data=st.data())
    def read_back(self, data: st.DataObject) -> None:
        if self.contents:
            (box, uid), octets = data.draw(st.sampled_from(sorted(self.contents.items())))
            assert self.store.read_message("alice", box, uid) == octets

    @invariant()
    def counters_never_decrease(self) -> None:
        if not hasattr(self, "store"):
            return
        for box in self.boxes:
            status = self.store.mailbox_status("alice", box)
            assert status.uidnext >= self.uidnext[box]
            assert status.uidnext > self.last_uid[box]
            assert status.highestmodseq >= self.highestmodseq[box]
            assert self.uidvalidity.setdefault(box, status.uidvalidity) == status.uidvalidity
            self.uidnext[box] = status.uidnext
            self.highestmodseq[box] = status.highestmodseq
        assert max(self.highestmodseq.values()) >= self.modseq


StoreCounters.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
TestStoreCounters = StoreCounters.TestCase
