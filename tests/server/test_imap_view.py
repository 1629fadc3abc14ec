"""The session's mailbox view: numbering only changes at sync points (IMAP-NOTES §1)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trimail.server.imap_view import MailboxView
from trimail.storage.api import MailboxChanges, MessageFlags


def changes(
    *, changed: list[tuple[int, int, set[str]]] = (), expunged: list[int] = (), hms: int = 100
) -> MailboxChanges:
    return MailboxChanges(
        uidvalidity=7,
        uidnext=1000,
        highestmodseq=hms,
        changed=[MessageFlags(uid=u, modseq=m, flags=frozenset(f)) for u, m, f in changed],
        expunged=list(expunged),
    )


def view(uids: list[int]) -> MailboxView:
    return MailboxView(name="INBOX", uidvalidity=7, uids=list(uids), synced_modseq=10)


def test_new_messages_give_exists() -> None:
    v = view([1, 2])
    update = v.apply(changes(changed=[(3, 11, set()), (4, 12, set())]), expunge_ok=False)
    assert update.exists == 4 and v.uids == [1, 2, 3, 4]
    assert update.flags == []  # new messages are announced by EXISTS only
    assert v.synced_modseq == 100


def test_expunges_wait_for_a_command_that_allows_them() -> None:
    v = view([1, 2, 3, 4])
    update = v.apply(changes(expunged=[2, 4]), expunge_ok=False)
    assert not update.expunged_seqs and v.uids == [1, 2, 3, 4]
    assert v.pending_expunges == {2, 4}
    update = v.apply(changes(hms=101), expunge_ok=True)
    assert update.expunged_seqs == [4, 2]  # descending: no number shifts under another
    assert update.vanished == [2, 4]
    assert v.uids == [1, 3] and not v.pending_expunges


def test_exists_includes_pending_expunges_and_never_drops() -> None:
    v = view([1, 2, 3])
    update = v.apply(changes(changed=[(9, 20, set())], expunged=[1]), expunge_ok=False)
    assert update.exists == 4 and v.seq_of(9) == 4


def test_flag_changes_by_sequence_number_and_own_changes_not_repeated() -> None:
    v = view([5, 6, 7])
    v.reported[6] = 30
    update = v.apply(
        changes(changed=[(6, 30, {"\\Seen"}), (7, 31, {"\\Flagged", "todo"})]), expunge_ok=True
    )
    assert [(seq, item.uid) for seq, item in update.flags] == [(3, 7)]
    assert update.new_keywords and "todo" in v.keywords
    assert v.reported == {}


def test_expunge_of_unknown_uid_is_ignored() -> None:
    v = view([1, 2])
    update = v.apply(changes(expunged=[99]), expunge_ok=True)
    assert not update


def test_recent_claimed_for_new_messages() -> None:
    v = view([1])
    update = v.apply(
        changes(changed=[(2, 11, set()), (3, 12, set())]),
        expunge_ok=True,
        claim_recent=True,
        recent_mark=2,
    )
    assert v.recent == {3} and update.recent == 1


@given(
    st.lists(st.integers(1, 60), unique=True, max_size=30).map(sorted),
    st.lists(st.tuples(st.booleans(), st.integers(1, 80)), max_size=30),
)
def test_view_stays_ascending_and_consistent(
    start: list[int], steps: list[tuple[bool, int]]
) -> None:
    """Whatever arrives, UIDs stay strictly ascending and sequence numbers match them."""
    v = view(start)
    modseq = 10
    for expunge, uid in steps:
        modseq += 1
        if expunge:
            update = v.apply(changes(expunged=[uid], hms=modseq), expunge_ok=uid % 2 == 0)
        else:
            update = v.apply(changes(changed=[(uid, modseq, set())], hms=modseq), expunge_ok=False)
        assert v.uids == sorted(set(v.uids))
        if update.exists is not None:
            assert update.exists == len(v.uids)
        for uid_in_view in v.uids:
            assert v.uids[v.seq_of(uid_in_view) - 1] == uid_in_view
        assert v.pending_expunges <= set(v.uids)
