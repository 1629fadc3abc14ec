"""Test helpers: a fake rspamd (a tiny HTTP server) and a real, private rspamd process.

Both listen on loopback only. The real one runs from a config of its own in a
temporary directory (no controller, proxy, redis or statistics), with its DNS pointed
at a closed loopback port and no module that fetches maps or asks blocklists, so it
never sends a packet off the machine::

    with running_rspamd(tmp_path) as rspamd:
        settings = RspamdSettings(url=rspamd.url)
"""

from __future__ import annotations

import grp
import http.server
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import attrs

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
"""rspamd answers ``reject`` for a text part holding this (rspamd "GTUBE patterns")."""
GTUBE_ADD_HEADER = "Y" + GTUBE[1:]
"""``add header``, with ``enable_test_patterns = true`` (rspamd 2.3 to 3.7) or
``gtube_patterns = "all"`` (3.8 and later), as `CONFIG` has."""
GTUBE_REWRITE_SUBJECT = "Z" + GTUBE[1:]
"""``rewrite subject``, likewise."""


# -- a fake rspamd -----------------------------------------------------------------------


@attrs.define
class Request:
    """One request the fake received.

    Attributes:
        method: e.g. ``"POST"``.
        path: e.g. ``"/checkv2"``.
        headers: (name, value) in the order sent; repeated names (Rcpt) kept.
        body: the request body.
    """

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes

    def values(self, name: str) -> list[str]:
        """Every value of header *name* (case-insensitive), in order."""
        return [v for n, v in self.headers if n.lower() == name.lower()]


@attrs.define
class Answer:
    """What the fake sends back.

    Attributes:
        body: the response body (JSON text or raw bytes).
        status: the HTTP status.
        delay_seconds: wait this long before answering (cut short when the fake stops).
    """

    body: bytes | str = b"{}"
    status: int = 200
    delay_seconds: float = 0.0


Responder = Callable[[Request], Answer]


def answer_json(data: Any, status: int = 200) -> Answer:
    """An `Answer` with *data* as JSON."""
    return Answer(body=json.dumps(data), status=status)


class FakeRspamd:
    """An HTTP server on 127.0.0.1 that records requests and answers with *responder*.

    Use as a context manager; `url` is its base URL, `requests` what it received.
    """

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = Request(
                    method="POST",
                    path=self.path,
                    headers=list(self.headers.items()),
                    body=self.rfile.read(length),
                )
                fake.requests.append(request)
                answer = fake.responder(request)
                if answer.delay_seconds and fake.stopping.wait(answer.delay_seconds):
                    return
                body = answer.body.encode() if isinstance(answer.body, str) else answer.body
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeRspamd:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def unused_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A loopback port nothing listens on right now (TCP, or UDP with SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- a real rspamd -----------------------------------------------------------------------

# Only a few TLDs: rspamd compiles the suffix list at start-up (18 s for the full list).
TLDS = "com\norg\nnet\nexample\ntest\ninvalid\nlocalhost\n"

CONFIG = """\
# A private rspamd for trimail's tests: loopback only, nothing fetched from outside.
lua = "$RULESDIR/rspamd.lua";
.include "$CONFDIR/metrics.conf"
.include "$CONFDIR/groups.conf"
.include "$CONFDIR/composites.conf"
actions {{
  reject = 15;
  add_header = 6;
  greylist = null;
}}
modules {{
  path = "${{PLUGINSDIR}}";
}}
options {{
  pidfile = "$RUNDIR/rspamd.pid";
  filters = "chartable,regexp";
  dns {{
    nameserver = ["127.0.0.1:{dns_port}"];
    timeout = 0.5s;
    retransmits = 1;
  }}
  enable_test_patterns = true;  # rspamd 2.3 to 3.7
  gtube_patterns = "all";  # rspamd 3.8 and later
  disable_hyperscan = true;  # no compiler process eating CPU while tests run
  url_tld = "$LOCAL_CONFDIR/tld.dat";
  local_addrs = [];
  hs_cache_dir = "$DBDIR/";
  cache_file = "$DBDIR/symbols.cache";
  task_timeout = 8s;
}}
logging {{
  type = "file";
  filename = "$LOGDIR/rspamd.log";
  level = "info";
}}
worker "normal" {{
  bind_socket = "127.0.0.1:{port}";
  count = 1;
}}
milter_headers {{
  skip_local = false;
  skip_authenticated = false;
  use = ["x-spamd-bar"];
}}
"""
"""rspamd.conf for `running_rspamd`: the stock symbols, metrics and Lua rules
(regular expressions only), but no module configs (so no rbl, surbl, fuzzy_check,
spf, dkim, dmarc, asn, phishing, multimap or maps over HTTP), no controller or proxy
worker, no redis; GTUBE test patterns on; milter_headers adds ``X-Spamd-Bar``."""


@attrs.define
class RspamdProcess:
    """A running private rspamd.

    Attributes:
        process: the main process (in the foreground, ``-f``).
        port: the normal worker's loopback port.
        workdir: its config, database, run and log directories.
        start_seconds: how long it took until ``/ping`` answered.
    """

    process: subprocess.Popen[bytes]
    port: int
    workdir: Path
    start_seconds: float = 0.0

    @property
    def url(self) -> str:
        """The normal worker's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        """rspamd's log so far."""
        try:
            return (self.workdir / "log" / "rspamd.log").read_text(errors="replace")
        except OSError:
            return ""

    def pids(self) -> list[int]:
        """The main process and its workers (children), from /proc."""
        found = [self.process.pid]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            if ppid == self.process.pid:
                found.append(int(entry.name))
        return found

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to the main process (it stops its workers), SIGKILL after *timeout*;
        then SIGKILL any worker left, by PID."""
        workers = self.pids()[1:]
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in workers:
            with suppress(OSError):  # gone already: fine
                if b"rspamd" in Path(f"/proc/{pid}/cmdline").read_bytes():  # not a reused PID
                    os.kill(pid, signal.SIGKILL)


def rspamd_binary() -> str | None:
    """The ``rspamd`` executable's path, or None when it is not installed."""
    return shutil.which("rspamd") or next(
        (p for p in ("/usr/bin/rspamd", "/usr/sbin/rspamd") if os.access(p, os.X_OK)), None
    )


_DIRS = {"DBDIR": "db", "RUNDIR": "run", "LOGDIR": "log"}


def write_config(workdir: Path, port: int, dns_port: int) -> Path:
    """Write rspamd.conf (`CONFIG`), tld.dat and the directories under *workdir*."""
    for sub in _DIRS.values():
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    (workdir / "tld.dat").write_text(TLDS)
    path = workdir / "rspamd.conf"
    path.write_text(CONFIG.format(port=port, dns_port=dns_port))
    return path


def _ping(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/ping", timeout=1) as response:
            return bool(response.read().strip() == b"pong")
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def running_rspamd(workdir: Path, *, start_timeout: float = 60.0) -> Iterator[RspamdProcess]:
    """Run a private rspamd (`CONFIG`) until the block ends, then stop it by PID.

    Args:
        workdir: an empty directory for its files.
        start_timeout: seconds to wait for ``/ping``.

    Yields:
        The `RspamdProcess` (``url`` for `trimail_rspamd.settings.RspamdSettings`).

    Raises:
        RuntimeError: rspamd is not installed, or did not start (its log is in the
            message).
    """
    binary = rspamd_binary()
    if binary is None:
        raise RuntimeError("rspamd is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    port = unused_port()
    config = write_config(workdir, port, dns_port=unused_port(socket.SOCK_DGRAM))
    argv = [binary, "-f", "-c", str(config), f"--var=LOCAL_CONFDIR={workdir}"]
    argv += [f"--var={var}={workdir / sub}" for var, sub in _DIRS.items()]
    if os.geteuid() == 0:  # rspamd refuses root workers unless told (-i)
        argv += ["-u", pwd.getpwuid(0).pw_name, "-g", grp.getgrgid(0).gr_name, "-i"]
    started = time.monotonic()
    with (workdir / "log" / "stdout.txt").open("wb") as out:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    rspamd = RspamdProcess(process=process, port=port, workdir=workdir)
    try:
        while not _ping(rspamd.url):
            if process.poll() is not None or time.monotonic() - started > start_timeout:
                said = (workdir / "log" / "stdout.txt").read_text(errors="replace")
                raise RuntimeError(f"rspamd did not start:\n{said}\n{rspamd.log_text()[-3000:]}")
            time.sleep(0.05)
        rspamd.start_seconds = time.monotonic() - started
        yield rspamd
    finally:
        rspamd.stop()


def socket_peers(pids: list[int]) -> list[tuple[str, str]]:
    """(local, peer) addresses of every TCP and UDP socket of *pids*, from ``ss -tunap``.

    Raises:
        FileNotFoundError: ``ss`` (iproute2) is not installed.
    """
    done = subprocess.run(["ss", "-tunapH"], capture_output=True, text=True, timeout=10, check=True)
    wanted = {f"pid={pid}," for pid in pids}
    found = []
    for line in done.stdout.splitlines():
        if any(w in line for w in wanted):
            fields = line.split()
            found.append((fields[4], fields[5]))
    return found
