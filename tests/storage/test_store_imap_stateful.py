"""Stateful property: the IMAP methods of the default store against a model.

Two store instances on one root stand for two processes. Over random deliveries,
STOREs, expunges, COPY/MOVE, RENAME and reopen, the store must hold exactly the
model's messages and flags, and MODSEQ must never decrease: not the account's
counter, not a mailbox's HIGHESTMODSEQ, and every change must carry a MODSEQ above
every earlier one (RFC 7162 §3.1, IMAP-NOTES §2).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from trimail.storage import SqliteMailStore

WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
FLAGS = st.lists(st.sampled_from(["\\Seen", "\\Flagged", "\\Deleted", "$A", "$b"]), max_size=3)


class ImapStoreModel(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="trimail-imap-stateful-"))
        self.stores = [SqliteMailStore(self.root), SqliteMailStore(self.root)]
        self.stores[0].create_account("alice")
        # name -> {uid: (flags, octets)}; the model of every selectable mailbox we use
        self.boxes: dict[str, dict[int, tuple[frozenset[str], bytes]]] = {
            "INBOX": {},
            "Archive": {},
        }
        self.uidvalidity: dict[str, int] = {}
        self.highest: dict[str, int] = {}
        self.last = 0
        self.counter = 0
        self.renames = 0

    def teardown(self) -> None:
        if hasattr(self, "stores"):
            for store in self.stores:
                store.close()
            shutil.rmtree(self.root, ignore_errors=True)

    def _check_new(self, modseqs: list[int]) -> None:
        assert all(m > self.last for m in modseqs), (modseqs, self.last)
        if modseqs:
            self.last = max(modseqs)

    @rule(data=st.data(), flags=FLAGS, which=st.integers(0, 1), count=st.integers(1, 3))
    def deliver(self, data: st.DataObject, flags: list[str], which: int, count: int) -> None:
        box = data.draw(st.sampled_from(sorted(self.boxes)))
        for _ in range(count):
            self.counter += 1
            octets = b"Subject: %d\r\n\r\nbody\r\n" % self.counter
            got = self.stores[which].deliver("alice", box, octets, flags=flags, internal_date=WHEN)
            assert all(got.uid > uid for uid in self.boxes[box])
            self._check_new([got.modseq])
            canonical = frozenset(f if f.startswith("$") else f.title() for f in flags)
            self.boxes[box][got.uid] = (canonical, octets)

    @rule(
        data=st.data(),
        mode=st.sampled_from(["add", "remove", "replace"]),
        flags=FLAGS,
        which=st.integers(0, 1),
    )
    def store_flags(self, data: st.DataObject, mode: str, flags: list[str], which: int) -> None:
        box = data.draw(st.sampled_from(sorted(self.boxes)))
        model = self.boxes[box]
        pick = data.draw(st.lists(st.sampled_from(sorted(model) or [1]), max_size=4))
        result = self.stores[which].store_flags("alice", box, pick, mode, flags)
        given = frozenset(flags)
        expect_changed = []
        for uid in sorted(set(pick) & set(model)):
            old, octets = model[uid]
            new = {"add": old | given, "remove": old - given, "replace": given}[mode]
            if new != old:
                expect_changed.append(uid)
            model[uid] = (new, octets)
        assert [m.uid for m in result.changed] == expect_changed
        assert all(m.flags == model[m.uid][0] for m in result.changed + result.unchanged)
        modseqs = [m.modseq for m in result.changed]
        assert len(set(modseqs)) == len(modseqs)
        self._check_new(modseqs)

    @rule(data=st.data(), which=st.integers(0, 1))
    def expunge(self, data: st.DataObject, which: int) -> None:
        box = data.draw(st.sampled_from(sorted(self.boxes)))
        model = self.boxes[box]
        pick = data.draw(st.lists(st.sampled_from(sorted(model) or [1]), max_size=3))
        removed = self.stores[which].expunge("alice", box, pick)
        assert removed == sorted(set(pick) & set(model))
        for uid in removed:
            del model[uid]

    @rule(data=st.data(), move=st.booleans(), which=st.integers(0, 1))
    def copy(self, data: st.DataObject, move: bool, which: int) -> None:
        src = data.draw(st.sampled_from(sorted(self.boxes)))
        dst = data.draw(st.sampled_from(sorted(self.boxes)))
        model = self.boxes[src]
        pick = data.draw(st.lists(st.sampled_from(sorted(model) or [1]), max_size=3))
        before = self.stores[which].last_modseq("alice")
        result = self.stores[which].copy_messages("alice", src, pick, dst, move=move)
        assert [s for s, _ in result.pairs] == sorted(set(pick) & set(model))
        moved = [(model[s], t) for s, t in result.pairs]
        if move:
            for s, _ in result.pairs:
                del model[s]
        for state, target in moved:
            assert target not in self.boxes[dst]
            self.boxes[dst][target] = state
        if result.pairs:
            infos = self.stores[which].messages("alice", dst, [t for _, t in result.pairs])
            assert all(m.modseq > before for m in infos)
            self.last = max(self.last, self.stores[which].last_modseq("alice"))

    def _forget(self, box: str) -> None:
        self.uidvalidity.pop(box, None)
        self.highest.pop(box, None)

    @precondition(lambda self: len(self.boxes) < 6)
    @rule(data=st.data(), which=st.integers(0, 1))
    def rename(self, data: st.DataObject, which: int) -> None:
        store = self.stores[which]
        old = data.draw(st.sampled_from(sorted(self.boxes)))
        self.renames += 1
        new = f"Old/R{self.renames}"
        status = store.mailbox_status("alice", old)
        store.rename_mailbox("alice", old, new)
        after = store.mailbox_status("alice", new)
        if old == "INBOX":  # its messages move to a new mailbox with new UIDs
            uids = store.message_uids("alice", new)[1]
            self.boxes[new] = dict(zip(uids, self.boxes["INBOX"].values(), strict=True))
            self.boxes["INBOX"] = {}
            assert after.uidvalidity != status.uidvalidity
            return
        assert (after.uidvalidity, after.uidnext) == (status.uidvalidity, status.uidnext)
        self.boxes[new] = self.boxes.pop(old)
        self.uidvalidity[new] = self.uidvalidity.pop(old)
        self.highest[new] = self.highest.pop(old)
        if old == "Archive":  # keep a second mailbox; CREATE gives a new UIDVALIDITY
            assert store.create_mailbox("alice", "Archive").uidvalidity != status.uidvalidity
            self.boxes["Archive"] = {}

    @precondition(lambda self: len(self.boxes) > 2)
    @rule(data=st.data(), which=st.integers(0, 1))
    def delete(self, data: st.DataObject, which: int) -> None:
        box = data.draw(st.sampled_from(sorted(set(self.boxes) - {"INBOX", "Archive"})))
        self.stores[which].delete_mailbox("alice", box)
        del self.boxes[box]
        self._forget(box)

    @rule(which=st.integers(0, 1))
    def reopen(self, which: int) -> None:
        self.stores[which].close()
        self.stores[which] = SqliteMailStore(self.root)

    @invariant()
    def store_matches_model(self) -> None:
        if not hasattr(self, "stores"):
            return
        last = self.stores[0].last_modseq("alice")
        assert last >= self.last
        assert self.stores[1].last_modseq("alice") == last
        self.last = last
        for box, model in self.boxes.items():
            highest, uids = self.stores[1].message_uids("alice", box)
            assert uids == sorted(model)
            status = self.stores[0].mailbox_status("alice", box)
            assert status.highestmodseq == highest <= last
            # STATUS counters (kept by triggers) agree with the model.
            assert status.exists == len(model)
            assert status.unseen == sum("\\Seen" not in f for f, _ in model.values())
            assert status.size == sum(len(octets) for _, octets in model.values())
            if self.uidvalidity.setdefault(box, status.uidvalidity) == status.uidvalidity:
                assert highest >= self.highest.get(box, 0)
            self.highest[box] = highest
            for info in self.stores[0].messages("alice", box, uids):
                assert info.flags == model[info.uid][0]
                assert info.modseq <= highest


ImapStoreModel.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
TestImapStoreModel = ImapStoreModel.TestCase
