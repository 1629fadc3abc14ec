"""Benchmark SqliteMailStore.deliver: deliveries/second by thread count and message size.

Each delivery is durable (file fsync + group-shared directory fsync + WAL fsync), so
the figures show how group commit amortizes fsyncs as concurrency grows.

Usage: python benchmarks/store_deliver.py [--seconds 3] [--dir /path/on/target/disk]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import threading
import time
from pathlib import Path

from trimail.storage import SqliteMailStore

WHEN = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def make_message(size: int) -> bytes:
    head = (
        b"From: Bench <bench@example.com>\r\nTo: alice@example.com\r\n"
        b"Subject: benchmark\r\nDate: Wed, 1 May 2024 12:00:00 +0000\r\n"
        b"Message-ID: <bench@example.com>\r\n\r\n"
    )
    line = b"x" * 76 + b"\r\n"
    return head + line * max(0, (size - len(head)) // len(line))


def run(root: Path, threads: int, message: bytes, seconds: float) -> tuple[float, float]:
    """Return (deliveries/second, mean commit group size)."""
    store = SqliteMailStore(root)
    store.create_account("bench")
    groups: list[int] = []
    real = SqliteMailStore._commit_batch

    def counting(self, acct, batch):  # type: ignore[no-untyped-def]
        groups.append(len(batch))
        real(self, acct, batch)

    SqliteMailStore._commit_batch = counting  # type: ignore[method-assign]
    stop = time.perf_counter() + seconds
    counts = [0] * threads

    def worker(i: int) -> None:
        while time.perf_counter() < stop:
            store.deliver("bench", "INBOX", message, internal_date=WHEN)
            counts[i] += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - started
    SqliteMailStore._commit_batch = real  # type: ignore[method-assign]
    store.close()
    return sum(counts) / elapsed, sum(groups) / max(1, len(groups))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--dir", default=None, help="parent of the temp dir (target disk)")
    args = parser.parse_args()
    print(f"{'size':>6} {'threads':>7} {'deliveries/s':>13} {'MB/s':>7} {'avg group':>9}")
    for size in (4 * 1024, 100 * 1024):
        message = make_message(size)
        for threads in (1, 10, 50):
            with tempfile.TemporaryDirectory(dir=args.dir, prefix="trimail-bench-") as tmp:
                rate, group = run(Path(tmp), threads, message, args.seconds)
            print(
                f"{size // 1024:>5}K {threads:>7} {rate:>13.0f} "
                f"{rate * len(message) / 1e6:>7.1f} {group:>9.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
