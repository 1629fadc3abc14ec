"""Fill a trimail account's mailbox fast, for the IMAP probes (benchmarks/README.md).

Delivers the messages of an mbox (each with a unique ``X-Bench-Seq`` header) through
the store's public API, ``--distinct`` of them, then doubles the mailbox with
``copy_messages`` (hard links plus index rows) until it holds ``COUNT`` messages. Run it
with the server stopped, on the server's data directory.

Usage: python benchmarks/imap_fill.py DATA_DIR ADDRESS MAILBOX COUNT MBOX [--distinct N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import mailbox
import threading
import time
from pathlib import Path

from trimail.storage.plugin import open_default_store
from trimail.users.db import UserDatabase


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("address")
    ap.add_argument("mailbox")
    ap.add_argument("count", type=int)
    ap.add_argument("mbox")
    ap.add_argument("--distinct", type=int, default=2000)
    args = ap.parse_args()
    users = UserDatabase(args.data_dir / "users.sqlite3")
    account = {u.address: u.account_id for u in users.users()}[args.address]
    users.close()
    pool = [
        bytes(m.as_bytes()).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        for m in mailbox.mbox(args.mbox)
    ]
    store = open_default_store(args.data_dir / "accounts")
    if not store.account_exists(account):
        store.create_account(account)
    if args.mailbox not in {b.name for b in store.list_mailboxes(account)}:
        store.create_mailbox(account, args.mailbox)
    when = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
    started = time.perf_counter()
    counter = iter(range(min(args.distinct, args.count)))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                return
            message = b"X-Bench-Seq: %d\r\n" % n + pool[n % len(pool)]
            store.deliver(account, args.mailbox, message, internal_date=when)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"delivered {min(args.distinct, args.count)} in {time.perf_counter() - started:.1f} s")
    while True:
        status = store.mailbox_status(account, args.mailbox)
        missing = args.count - status.exists
        if missing <= 0:
            break
        _modseq, uids = store.message_uids(account, args.mailbox)
        store.copy_messages(account, args.mailbox, uids[:missing], args.mailbox)
    print(
        f"{args.mailbox}: {store.mailbox_status(account, args.mailbox).exists} messages, "
        f"{time.perf_counter() - started:.1f} s"
    )
    store.close()


if __name__ == "__main__":
    main()
