#!/usr/bin/env python3
"""Durable SMTP ingest rate of ``trimail serve``: messages per second.

Starts a real server in a temporary directory, loads it with Postfix's ``smtp-source``
(one message per connection, as an MX sees it), and prints one line per run:

    size=4096 sessions=10 msgs=2000 wall=3.10 rate=645.2 stored=2000 server_cpu_pct=98

``stored`` is counted from the mail store after the run: every 250 must be durable, so
it must equal ``msgs``. Run it with ``nox -s bench`` or directly; it needs
``/usr/sbin/smtp-source`` (Debian package postfix). To compare with Postfix and
aiosmtpd in the same run, see ../shared/bench/README.md (anchors_smtp.sh).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trimail.storage.plugin import open_default_store
from trimail.testing.process import running_server
from trimail.users.db import UserDatabase

SMTP_SOURCE = "/usr/sbin/smtp-source"


def cpu_seconds(pid: int) -> float:
    """User+system CPU seconds so far of process *pid* and its live descendants."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


def stored_count(data_dir: Path, account_id: str) -> int:
    store = open_default_store(data_dir / "accounts")
    try:
        return store.mailbox_status(account_id, "INBOX").exists
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="4096,102400", help="message sizes, octets")
    parser.add_argument("--sessions", default="1,10,50", help="concurrent sessions")
    parser.add_argument("--messages", type=int, default=2000, help="messages per run")
    parser.add_argument("--workers", type=int, default=0, help="worker processes (0: one per core)")
    parser.add_argument(
        "--per-session",
        choices=("1", "all"),
        default="1",
        help="1: one message per connection; all: reuse connections",
    )
    args = parser.parse_args()
    if not os.access(SMTP_SOURCE, os.X_OK):
        print(f"{SMTP_SOURCE} not found: apt-get install postfix", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="trimail-bench-"))
    try:
        with running_server(
            workdir,
            domains=["bench.example"],
            users={"alice@bench.example": "benchmark-password"},
            smtp_extra="max_connections_per_ip = 1000\n",
            top_extra=f"workers = {args.workers}\n",
        ) as srv:
            users = UserDatabase(srv.data_dir / "users.sqlite3")
            (account,) = users.users()
            users.close()
            for size in (int(s) for s in args.sizes.split(",")):
                for sessions in (int(s) for s in args.sessions.split(",")):
                    before = stored_count(srv.data_dir, account.account_id)
                    cpu0 = cpu_seconds(srv.process.pid)
                    command = [
                        SMTP_SOURCE,
                        "-s",
                        str(sessions),
                        "-m",
                        str(args.messages),
                        "-l",
                        str(size),
                        "-f",
                        "bench@client.example",
                        "-t",
                        "alice@bench.example",
                        "-M",
                        "client.example",
                    ]
                    if args.per_session == "all":
                        command.append("-d")
                    start = time.monotonic()
                    done = subprocess.run(
                        [*command, f"127.0.0.1:{srv.smtp_port}"],
                        capture_output=True,
                        text=True,
                        timeout=900,
                    )
                    wall = time.monotonic() - start
                    cpu = cpu_seconds(srv.process.pid) - cpu0
                    stored = stored_count(srv.data_dir, account.account_id) - before
                    print(
                        f"size={size} sessions={sessions} msgs={args.messages} "
                        f"wall={wall:.2f} rate={args.messages / wall:.1f} stored={stored} "
                        f"server_cpu_pct={100 * cpu / wall:.0f} rc={done.returncode}"
                        + (f" err={done.stderr.strip()[:200]!r}" if done.returncode else ""),
                        flush=True,
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
