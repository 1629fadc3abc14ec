"""A session's view of its selected mailbox (IMAP-NOTES §1, RFC 3501 §7.4.1).

The view is the session's ascending UID list: sequence number n is ``uids[n - 1]``. It
is built at SELECT and changed only at sync points, from `MailboxChanges` the store
reports above ``synced_modseq``; it is never derived from the live index, so sequence
numbers mean the same message to the client and to us until we tell the client
otherwise (EXISTS, EXPUNGE, VANISHED).

Pure bookkeeping: no I/O; the session renders the `SyncUpdate` it gets.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

import attrs

from trimail.storage.api import MailboxChanges, MessageFlags

__all__ = ["MailboxView", "SyncUpdate", "UidListCache"]


@attrs.define(kw_only=True)
class SyncUpdate:
    """What one sync point tells the client, in this order (IMAP-NOTES §1).

    Attributes:
        expunged_seqs: sequence numbers for ``* n EXPUNGE``, in the order to send
            (descending, so that no number shifts under a later one).
        vanished: the expunged UIDs, for ``* VANISHED`` under QRESYNC (RFC 7162 §3.2.10).
        exists: the new message count for ``* n EXISTS``, or None if unchanged.
        recent: the new ``\\Recent`` count for ``* n RECENT``, or None if unchanged.
        flags: ``(seq, MessageFlags)`` for ``* seq FETCH (FLAGS ..)``, ascending.
        new_keywords: True if a keyword not yet announced appeared (send ``* FLAGS``).
    """

    expunged_seqs: list[int] = attrs.field(factory=list)
    vanished: list[int] = attrs.field(factory=list)
    exists: int | None = None
    recent: int | None = None
    flags: list[tuple[int, MessageFlags]] = attrs.field(factory=list)
    new_keywords: bool = False

    def __bool__(self) -> bool:
        return bool(
            self.expunged_seqs
            or self.vanished
            or self.exists is not None
            or self.recent is not None
            or self.flags
            or self.new_keywords
        )


@attrs.define(kw_only=True)
class MailboxView:
    """The selected mailbox as one session sees it.

    Attributes:
        name: the mailbox name (UTF-8).
        uidvalidity: UIDVALIDITY at SELECT.
        uids: the view, ascending; seq n is ``uids[n-1]``. Replaced, never changed in
            place, so it may be shared with `UidListCache`.
        synced_modseq: every change up to this MODSEQ is in the view (or pending).
        read_only: EXAMINE, or SELECT of a mailbox we may not change.
        recent: UIDs this session sees as ``\\Recent`` (rev1 only).
        pending_expunges: UIDs expunged in the store but still in the view, because no
            command allowed reporting them yet.
        keywords: keywords announced to the client in ``* FLAGS``.
        reported: ``uid -> modseq`` of changes this session already told its client
            (its own STORE), so the next sync does not repeat them.
    """

    name: str
    uidvalidity: int
    uids: list[int]
    synced_modseq: int
    read_only: bool = False
    recent: set[int] = attrs.field(factory=set)
    pending_expunges: set[int] = attrs.field(factory=set)
    keywords: set[str] = attrs.field(factory=set)
    reported: dict[int, int] = attrs.field(factory=dict)

    # --- numbering -------------------------------------------------------------------

    @property
    def exists(self) -> int:
        """The message count the client knows (pending expunges included)."""
        return len(self.uids)

    def seq_of(self, uid: int) -> int | None:
        """The sequence number of ``uid``, or None if it is not in the view."""
        i = bisect.bisect_left(self.uids, uid)
        return i + 1 if i < len(self.uids) and self.uids[i] == uid else None

    def uids_in(self, ranges: Iterable[tuple[int, int]]) -> list[int]:
        """UIDs of the view within inclusive UID ranges, ascending (missing ones ignored,
        RFC 3501 §6.4.8)."""
        out: list[int] = []
        uids = self.uids
        for low, high in ranges:
            start = bisect.bisect_left(uids, low)
            stop = bisect.bisect_right(uids, high)
            out.extend(uids[start:stop])
        return out

    def seqs_in(self, ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
        """``(seq, uid)`` pairs for inclusive sequence-number ranges, ascending.

        Raises:
            ValueError: a number above the message count (RFC 3501 §9: BAD).
        """
        out: list[tuple[int, int]] = []
        count = len(self.uids)
        for low, high in ranges:
            if high > count:
                raise ValueError(f"no message {high}; the mailbox has {count}")
            out.extend((seq, self.uids[seq - 1]) for seq in range(low, high + 1))
        return out

    def uid_pairs(self, uids: Iterable[int]) -> list[tuple[int, int]]:
        """``(seq, uid)`` for UIDs of the view (others left out), ascending."""
        pairs = []
        for uid in uids:
            seq = self.seq_of(uid)
            if seq is not None:
                pairs.append((seq, uid))
        return pairs

    # --- sync points -----------------------------------------------------------------

    def apply(
        self,
        changes: MailboxChanges,
        *,
        expunge_ok: bool,
        claim_recent: bool = False,
        recent_mark: int | None = None,
    ) -> SyncUpdate:
        """Fold store changes into the view and say what to tell the client.

        Args:
            changes: `MailStore.changes_since(self.synced_modseq)`.
            expunge_ok: the running command allows EXPUNGE responses (not FETCH, STORE,
                SEARCH and their sequence-number forms; RFC 3501 §7.4.1). Otherwise
                expunges stay pending and the messages keep their numbers.
            claim_recent: the session claimed ``\\Recent`` for new messages; with
                ``recent_mark``, the UIDs above the mark become recent here.
            recent_mark: the mark returned by `MailStore.claim_recent`.

        Returns:
            The `SyncUpdate` to render, in its field order.
        """
        update = SyncUpdate()
        top = self.uids[-1] if self.uids else 0
        in_view = set()
        new: list[int] = []
        flag_changes: list[MessageFlags] = []
        for item in changes.changed:
            if item.uid > top:
                new.append(item.uid)
            else:
                in_view.add(item.uid)
                if self.reported.get(item.uid, -1) < item.modseq:
                    flag_changes.append(item)
            for flag in item.flags:
                if not flag.startswith("\\") and flag not in self.keywords:
                    self.keywords.add(flag)
                    update.new_keywords = True
        gone = {uid for uid in changes.expunged if uid <= top and self.seq_of(uid) is not None}
        self.pending_expunges |= gone
        if expunge_ok and self.pending_expunges:
            doomed = self.pending_expunges
            update.expunged_seqs = sorted(
                (i + 1 for i, uid in enumerate(self.uids) if uid in doomed), reverse=True
            )
            update.vanished = sorted(doomed)
            self.uids = [uid for uid in self.uids if uid not in doomed]
            self.recent -= doomed
            self.pending_expunges = set()
        if new:
            new.sort()
            self.uids = self.uids + new  # never in place: the list may be shared (cache)
            update.exists = len(self.uids)
            if claim_recent and recent_mark is not None:
                self.recent.update(uid for uid in new if uid > recent_mark)
                update.recent = len(self.recent)
        elif update.expunged_seqs and update.recent is None and claim_recent:
            update.recent = len(self.recent)
        for item in flag_changes:
            seq = self.seq_of(item.uid)
            if seq is not None:
                update.flags.append((seq, item))
        update.flags.sort(key=lambda pair: pair[0])
        self.synced_modseq = max(self.synced_modseq, changes.highestmodseq)
        self.reported = {}
        return update


class UidListCache:
    """Recently selected mailboxes' UID lists, per worker process, for a fast SELECT.

    SELECT of a 100,000-message mailbox would read 100,000 UIDs from the index; with a
    cached list it reads only the changes since (`MailStore.changes_since`, usually
    none) and copies the list. Keyed by (account, mailbox name); an entry is used only
    while the mailbox keeps its UIDVALIDITY.

    Args:
        max_entries: mailboxes kept; the least recently used goes first.
    """

    def __init__(self, max_entries: int = 32) -> None:
        self._entries: dict[tuple[str, str], tuple[int, int, list[int]]] = {}
        self._max = max_entries

    def get(self, key: tuple[str, str], uidvalidity: int) -> tuple[int, list[int]] | None:
        """``(modseq, uids)`` cached for ``key`` under ``uidvalidity``, or None."""
        entry = self._entries.pop(key, None)
        if entry is None or entry[0] != uidvalidity:
            return None
        self._entries[key] = entry  # most recently used last
        return entry[1], entry[2]

    def put(self, key: tuple[str, str], uidvalidity: int, modseq: int, uids: list[int]) -> None:
        """Remember ``uids`` (the caller must not change the list afterwards)."""
        self._entries.pop(key, None)
        self._entries[key] = (uidvalidity, modseq, uids)
        while len(self._entries) > self._max:
            del self._entries[next(iter(self._entries))]

    @staticmethod
    def updated(uids: list[int], changes: MailboxChanges) -> list[int]:
        """A new list: ``uids`` with the expunged removed and new arrivals appended."""
        top = uids[-1] if uids else 0
        new = sorted({c.uid for c in changes.changed if c.uid > top})
        if changes.expunged:
            gone = set(changes.expunged)
            return [uid for uid in uids if uid not in gone] + new
        return uids + new if new else uids
