"""IMAP speed on a large mailbox, and memory per idle IDLE connection (issue 3 goals).

Sets up a throw-away ``trimail serve`` (one worker) whose mailbox holds ``--messages``
messages (filled through the store API by ``benchmarks/imap_fill.py``: an mbox of
realistic messages, then COPY doubling), then times over raw sockets, median of
``--runs``:

* SELECT (warm: the mailbox was selected before), STATUS;
* FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE), all responses read;
* UID SEARCH HEADER Subject / FROM / BODY;
* the server's resident memory with ``--idle`` connections in IDLE, per connection
  (measured first, on the fresh server, so memory freed by the big FETCH does not hide
  it).

Compare with Dovecot in the same run: ``shared/bench/imap_anchor_setup.sh`` and
``shared/bench/imap_probes.py`` (benchmarks/README.md).

Usage: python benchmarks/imap_speed.py MBOX [--messages 100000] [--runs 3] [--idle 1000]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
USER, PASSWORD = "bench@example.test", "bench password"


class Client:
    """A raw IMAP connection: send a command, read to its tagged reply."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=600)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.n = 0
        self.line()

    def line(self) -> bytes:
        while (i := self.buf.find(b"\r\n")) < 0:
            data = self.sock.recv(1 << 18)
            if not data:
                raise ConnectionError("closed")
            self.buf += data
        out = bytes(self.buf[: i + 2])
        del self.buf[: i + 2]
        return out

    def command(self, text: str) -> tuple[bytes, int]:
        """Run one command; return (tagged line, octets of untagged data)."""
        self.n += 1
        tag = b"c%d" % self.n
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        size = 0
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                return line, size
            size += len(line)
            literal = re.search(rb"\{(\d+)\}\r\n$", line)
            if literal:
                want = int(literal.group(1))
                while len(self.buf) < want:
                    self.buf += self.sock.recv(1 << 18)
                del self.buf[:want]
                size += want


def timed(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mbox")
    ap.add_argument("--messages", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--port", type=int, default=21143)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.idle + 256)), hard))
    with tempfile.TemporaryDirectory(prefix="trimail-imap-bench-") as tmp:
        work = Path(tmp)
        config = work / "trimail.toml"
        config.write_text(
            f'hostname = "bench.test"\ndata_dir = "{work / "data"}"\nworkers = 1\n'
            'log_level = "warning"\n'
            f'[imap]\nlisten = ["127.0.0.1:{args.port}"]\nlisten_tls = []\n'
            f"max_connections = {args.idle + 100}\nmax_connections_per_ip = {args.idle + 100}\n"
            "[pop3]\nlisten = []\nlisten_tls = []\n[submission]\nlisten = []\nlisten_tls = []\n"
            '[smtp]\nlisten = ["127.0.0.1:0"]\n'
        )
        cli = [sys.executable, "-m", "trimail.cli.main", "--config", str(config)]
        subprocess.run([*cli, "domain", "add", "example.test"], check=True, capture_output=True)
        subprocess.run(
            [*cli, "user", "add", USER, "--password-stdin"],
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
        )
        box = f"bench{args.messages}"
        subprocess.run(
            [
                sys.executable,
                str(HERE / "imap_fill.py"),
                str(work / "data"),
                USER,
                box,
                str(args.messages),
                args.mbox,
            ],
            check=True,
        )
        server = subprocess.Popen([*cli, "serve"], stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)
            before = rss_kib(server.pid)
            idlers = []
            for _ in range(args.idle):
                c = Client(args.port)
                c.command(f'LOGIN "{USER}" "{PASSWORD}"')
                c.command("SELECT INBOX")
                c.sock.sendall(b"i IDLE\r\n")
                c.line()
                idlers.append(c)
            time.sleep(2)
            after = rss_kib(server.pid)
            idle_kib = (after - before) / max(1, args.idle)
            for c in idlers:
                c.sock.close()
            client = Client(args.port)
            client.command(f'LOGIN "{USER}" "{PASSWORD}"')
            client.command(f"SELECT {box}")  # warm
            figures = {
                "idle_kib_per_conn": idle_kib,
                "select_ms": 1000 * timed(lambda: client.command(f"SELECT {box}"), 20),
                "status_ms": 1000
                * timed(lambda: client.command(f"STATUS {box} (MESSAGES UNSEEN UIDNEXT)"), 20),
                "fetch_s": timed(
                    lambda: client.command("FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)"), args.runs
                ),
                "search_subject_s": timed(
                    lambda: client.command('UID SEARCH HEADER Subject "invoice"'), args.runs
                ),
                "search_from_s": timed(
                    lambda: client.command('UID SEARCH FROM "alice"'), args.runs
                ),
                "search_body_s": timed(
                    lambda: client.command('UID SEARCH BODY "nostrud"'), args.runs
                ),
            }
        finally:
            server.terminate()
            server.wait(30)
    print(f"trimail, {args.messages} messages, median of {args.runs} (select/status of 20)")
    for name, value in figures.items():
        print(f"  {name:20} {value:10.3f}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
