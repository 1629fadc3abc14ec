"""Benchmark the IMAP read/write paths of SqliteMailStore on one large mailbox.

Fills INBOX with ``--messages`` small messages (default 100,000): ``--distinct`` of them
(default 2,000) by ``deliver`` from 8 threads, the rest by doubling with
``copy_messages`` into the same mailbox (each copy is a hard link and an index row, all
through the public API). Then times what an IMAP session does against it: SELECT
(``mailbox_status``, ``message_uids``, ``keywords``, ``claim_recent``), sync points
(``changes_since``), FETCH 1:* (``messages``), STORE 1:* (``store_flags``), the IDLE
poll (``last_modseq``), and EXPUNGE.

Usage: python benchmarks/store_imap.py [--messages 100000] [--dir /path/on/target/disk]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trimail.storage import SqliteMailStore

WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
ACCOUNT = "bench"


def make_message(n: int) -> bytes:
    return (
        b"From: Bench <bench@example.com>\r\nTo: alice@example.com\r\n"
        b"Subject: benchmark message %d\r\nDate: Wed, 1 May 2024 12:00:00 +0000\r\n"
        b"Message-ID: <%d@bench.example.com>\r\n\r\nHello %d.\r\n" % (n, n, n)
    )


def fill(store: SqliteMailStore, total: int, distinct: int) -> None:
    """Deliver ``distinct`` messages from 8 threads, then double by COPY up to ``total``."""
    started = time.perf_counter()
    counter = iter(range(distinct))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            store.deliver(ACCOUNT, "INBOX", make_message(n), internal_date=WHEN)

    pool = [threading.Thread(target=worker) for _ in range(8)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    print(f"deliver {distinct:>7} msgs, 8 threads   {elapsed:8.2f} s  ({distinct / elapsed:.0f}/s)")
    while True:
        uids = store.message_uids(ACCOUNT, "INBOX")[1]
        missing = total - len(uids)
        if missing <= 0:
            break
        batch = uids[: min(missing, len(uids))]
        started = time.perf_counter()
        result = store.copy_messages(ACCOUNT, "INBOX", batch, "INBOX")
        elapsed = time.perf_counter() - started
        print(
            f"copy    {len(result.pairs):>7} msgs (links)     {elapsed:8.2f} s"
            f"  ({len(result.pairs) / elapsed:.0f}/s)"
        )


def timed(label: str, call: Callable[[], Any], repeat: int = 5) -> Any:
    """Run ``call`` ``repeat`` times; print min and median in ms; return the last result."""
    times = []
    result = None
    for _ in range(repeat):
        started = time.perf_counter()
        result = call()
        times.append((time.perf_counter() - started) * 1000)
    print(f"{label:<44} min {min(times):9.2f} ms   median {statistics.median(times):9.2f} ms")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--distinct", type=int, default=2_000)
    parser.add_argument("--dir", default=None, help="parent of the temp dir (target disk)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="trimail-bench-") as tmp:
        store = SqliteMailStore(Path(tmp))
        store.create_account(ACCOUNT)
        fill(store, args.messages, min(args.distinct, args.messages))
        n = args.messages
        status = timed("mailbox_status", lambda: store.mailbox_status(ACCOUNT, "INBOX"))
        assert status.exists == n, status
        hms, uids = timed("message_uids", lambda: store.message_uids(ACCOUNT, "INBOX"))
        timed("keywords", lambda: store.keywords(ACCOUNT, "INBOX"))
        timed("claim_recent", lambda: store.claim_recent(ACCOUNT, "INBOX"))
        timed("last_modseq (IDLE poll)", lambda: store.last_modseq(ACCOUNT), repeat=50)
        timed("changes_since(highestmodseq)", lambda: store.changes_since(ACCOUNT, "INBOX", hms))
        changes = timed("changes_since(0)", lambda: store.changes_since(ACCOUNT, "INBOX", 0), 3)
        assert len(changes.changed) == n
        del changes  # big results left alive make every later GC pass slower
        got = timed(f"messages(all {n})", lambda: store.messages(ACCOUNT, "INBOX", uids), 3)
        assert len(got) == n
        del got
        timed(
            f"messages(all {n}, 1000 per call)",
            lambda: sum(  # each chunk dropped after use, as a FETCH writes it out
                len(store.messages(ACCOUNT, "INBOX", uids[i : i + 1000])) for i in range(0, n, 1000)
            ),
            3,
        )
        timed("messages(100 at the end)", lambda: store.messages(ACCOUNT, "INBOX", uids[-100:]))
        sparse = uids[::7]
        timed(
            f"messages(every 7th: {len(sparse)})",
            lambda: store.messages(ACCOUNT, "INBOX", sparse),
            3,
        )
        result = timed(
            "store_flags(1:*, +\\Seen)",
            lambda: store.store_flags(ACCOUNT, "INBOX", uids, "add", ["\\Seen"]),
            repeat=1,
        )
        assert len(result.changed) == n
        timed(
            "store_flags(1:*, +\\Seen) again (no-op)",
            lambda: store.store_flags(ACCOUNT, "INBOX", uids, "add", ["\\Seen"]),
            repeat=1,
        )
        timed(
            "store_flags(1:*, -\\Seen)",
            lambda: store.store_flags(ACCOUNT, "INBOX", uids, "remove", ["\\Seen"]),
            repeat=1,
        )
        timed(
            "store_flags(last 10, +$Label)",
            lambda: store.store_flags(ACCOUNT, "INBOX", uids[-10:], "add", ["$Label"]),
        )
        timed("mailbox_status (after flag changes)", lambda: store.mailbox_status(ACCOUNT, "INBOX"))
        timed(
            "changes_since(before the last STORE)",
            lambda: store.changes_since(ACCOUNT, "INBOX", hms + 2 * n),
        )
        doomed = uids[: n // 100]
        timed(f"expunge({len(doomed)})", lambda: store.expunge(ACCOUNT, "INBOX", doomed), 1)
        timed(
            f"messages({len(doomed)}, include_expunged)",
            lambda: store.messages(ACCOUNT, "INBOX", doomed, include_expunged=True),
        )
        moved = uids[n // 100 : n // 50]
        timed(
            f"copy_messages(move {len(moved)} to Archive)",
            lambda: store.copy_messages(ACCOUNT, "INBOX", moved, "Archive", move=True),
            repeat=1,
        )
        timed("message_uids (after)", lambda: store.message_uids(ACCOUNT, "INBOX"))
        timed("mailbox_status (after)", lambda: store.mailbox_status(ACCOUNT, "INBOX"))
        store.close()


if __name__ == "__main__":
    main()
