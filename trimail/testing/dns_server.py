"""A real authoritative DNS server on loopback for tests: NSD serving given zones.

Used by trimail's own DNS tests and available to plugin authors::

    zones = {"example.test": "@ 300 MX 10 mx1\\nmx1 300 A 192.0.2.1\\n"}
    with LoopbackDns(zones) as dns_server:
        resolver = DnsResolver([dns_server.nameserver])   # "127.0.0.1:PORT"

NSD (NLnet Labs) must be installed: ``apt-get install nsd`` on Debian and Ubuntu. It
runs unprivileged-style from a temporary directory (no chroot, no user switch, no
database, remote control off) on a free port, and never on port 53.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from types import TracebackType

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.zone

from trimail.server.dns import domain_to_ascii

__all__ = [
    "DEFAULT_TTL",
    "NEGATIVE_TTL",
    "LoopbackDns",
    "NsdNotInstalledError",
    "find_nsd",
    "zone_file_text",
]

DEFAULT_TTL = 300  # seconds; the $TTL added to zone bodies without one (RFC 2308 §4)
NEGATIVE_TTL = 60  # seconds; SOA MINIMUM of the added SOA = the negative TTL (RFC 2308 §5)
_PROBE_TIMEOUT_SECONDS = 0.2
_GROUP_EXIT_SECONDS = 2.0  # after the main process: how long its children may linger
_START_ATTEMPTS = 3  # a free port may be taken between choosing it and NSD binding it


class NsdNotInstalledError(RuntimeError):
    """The ``nsd`` program was not found."""


def zone_file_text(origin: str, body: str) -> str:
    """Complete and check a zone's text; return it as NSD should load it.

    Whatever the body lacks of the boilerplate is added: ``$TTL 300`` when it has no
    ``$TTL`` line, then ``@ SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 60``
    (so the negative TTL is 60 s) and ``@ NS ns.invalid.`` at the apex when it has no
    SOA or NS records there. The result is parsed by dnspython and rendered by it, so
    NSD serves exactly what dnspython read.

    Args:
        origin: the zone's name, e.g. ``"example.test"`` or ``"bücher.test"`` (U-labels
            are converted as :func:`trimail.server.dns.domain_to_ascii` does).
        body: master-file text (RFC 1035 §5) relative to *origin*, e.g.
            ``"@ MX 10 mx1\\nmx1 A 192.0.2.1\\n"``. Write names in it as A-labels:
            dnspython reads U-labels there with IDNA 2003 unless idna>=3.20 is
            installed, which can differ from the resolver's IDNA 2008.

    Returns:
        The zone file text, with ``$ORIGIN`` and absolute TTLs.

    Raises:
        ValueError: the body is not a valid zone; the message names the zone, the line
            in *body* (or the one after: dnspython reports some errors there) and
            dnspython's complaint.
    """
    name = dns.name.from_text(domain_to_ascii(origin))
    head = "" if "$TTL" in body.upper() else f"$TTL {DEFAULT_TTL}\n"
    zone = _parse(name, head + body, added_lines=head.count("\n"), check_origin=False)
    if zone.get_rdataset(dns.name.empty, dns.rdatatype.SOA) is None:
        head += f"@ SOA ns.invalid. hostmaster.invalid. 1 3600 600 86400 {NEGATIVE_TTL}\n"
    if zone.get_rdataset(dns.name.empty, dns.rdatatype.NS) is None:
        head += "@ NS ns.invalid.\n"
    zone = _parse(name, head + body, added_lines=head.count("\n"), check_origin=True)
    return zone.to_text(want_origin=True)


def _parse(
    origin: dns.name.Name, text: str, *, added_lines: int, check_origin: bool
) -> dns.zone.Zone:
    """dnspython's reading of a zone; ValueError naming the zone if it has none.

    *added_lines* lines were put before the caller's body: error line numbers are
    shifted back by that many (dnspython itself often reports the line after).
    """
    try:
        return dns.zone.from_text(text, origin, relativize=True, check_origin=check_origin)
    except dns.exception.DNSException as e:
        where = re.match(r"<string>:(\d+): ", str(e))
        if where is None:
            raise ValueError(f"zone {origin}: {e}") from e
        line = max(1, int(where.group(1)) - added_lines)
        raise ValueError(f"zone {origin}: near line {line}: {str(e)[where.end() :]}") from e


def _free_port(address: str) -> int:
    """A port free for both UDP and TCP on *address* (released again: it may be taken)."""
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((address, 0))
            except OSError as e:
                raise RuntimeError(f"cannot listen on {address} (no such loopback?): {e}") from e
            port = int(udp.getsockname()[1])
            with socket.socket(family, socket.SOCK_STREAM) as tcp, contextlib.suppress(OSError):
                tcp.bind((address, port))
                return port
    raise RuntimeError(f"no port free for both UDP and TCP on {address}")


def find_nsd() -> str:
    """The path of the ``nsd`` program (also looked for in /usr/sbin, often off PATH).

    Raises:
        NsdNotInstalledError: not installed.
    """
    found = shutil.which("nsd") or shutil.which("nsd", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise NsdNotInstalledError(
            "nsd (NLnet Labs' authoritative DNS server) is needed for DNS tests: "
            "apt-get install nsd"
        )
    return found


class LoopbackDns:
    """NSD serving *zones* on a loopback address and a free port, for tests.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`). Queries for
    names outside the zones are REFUSED, which a stub resolver reports as a temporary
    failure.

    Args:
        zones: zone name -> zone body (see :func:`zone_file_text`: SOA, NS and $TTL are
            added when missing), e.g. ``{"example.test": "@ MX 10 mx1\\n..."}``.
        address: the loopback address to listen on, ``"127.0.0.1"`` or ``"::1"``.
        servfail_zones: zone names NSD is configured for but cannot load; it answers
            SERVFAIL for every name in them.
        nsd: the ``nsd`` program; found on PATH or in /usr/sbin by default.
        start_timeout_seconds: how long to wait for NSD to answer.

    Attributes:
        port: the UDP and TCP port NSD listens on (0 until started).
        directory: the temporary directory with nsd.conf, the zone files and the log.

    Raises:
        ValueError: a zone does not parse, or *address* is not an IP address (raised
            here, before anything starts).
        NsdNotInstalledError: ``nsd`` is not installed.
    """

    def __init__(
        self,
        zones: Mapping[str, str],
        address: str = "127.0.0.1",
        *,
        servfail_zones: Collection[str] = (),
        nsd: str | None = None,
        start_timeout_seconds: float = 10.0,
    ) -> None:
        self.address = str(ipaddress.ip_address(address))
        self.zones = {_zone_name(z): zone_file_text(z, body) for z, body in zones.items()}
        self.servfail_zones = [_zone_name(z) for z in servfail_zones]
        self.nsd = nsd if nsd is not None else find_nsd()
        if not os.access(self.nsd, os.X_OK):
            raise NsdNotInstalledError(f"{self.nsd} is not an executable: apt-get install nsd")
        self.start_timeout_seconds = start_timeout_seconds
        self.port = 0
        self.directory: Path | None = None
        self._tempdir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def nameserver(self) -> str:
        """Where to send queries, for :class:`trimail.server.dns.DnsResolver`.

        ``"127.0.0.1:PORT"`` or ``"[::1]:PORT"``.
        """
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the NSD process is alive."""
        return self._process is not None and self._process.poll() is None

    def log_text(self) -> str:
        """What NSD has logged so far ("" before the start)."""
        if self.directory is None:
            return ""
        parts = []
        for name in ("nsd.log", "stderr.log"):
            with contextlib.suppress(OSError):
                parts.append((self.directory / name).read_text(errors="replace"))
        return "".join(parts)

    def start(self) -> None:
        """Write the configuration, start NSD and wait until every zone answers.

        Raises:
            RuntimeError: *address* cannot be bound (e.g. no IPv6 loopback), or NSD
                exited or did not answer within the start timeout; the message
                includes its log.
        """
        if self._process is not None:
            raise RuntimeError("LoopbackDns is already started")
        self._tempdir = tempfile.TemporaryDirectory(prefix="trimail-nsd-")
        self.directory = Path(self._tempdir.name)
        try:
            self._write_zones()
            self._start_nsd()
        except BaseException:
            self.stop()
            raise

    def _start_nsd(self) -> None:
        """Start NSD on a free port, again on another one if that was taken meanwhile."""
        for attempt in range(_START_ATTEMPTS):
            self.port = _free_port(self.address)
            self._spawn()
            if self._wait_until_answering():
                return
            self._stop_process()
            if attempt == _START_ATTEMPTS - 1 or "already in use" not in self.log_text():
                break
        raise RuntimeError(f"{self.nsd} did not start on {self.nameserver}:\n{self.log_text()}")

    def stop(self) -> None:
        """Stop NSD (SIGTERM, then SIGKILL to its process group) and delete its files.

        Safe to call more than once; the object can be started again afterwards.
        """
        self._stop_process()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None
            self.directory = None

    def __enter__(self) -> LoopbackDns:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _write_zones(self) -> None:
        assert self.directory is not None
        for index, text in enumerate(self.zones.values()):
            (self.directory / f"{index}.zone").write_text(text, encoding="utf-8")

    def _config_text(self) -> str:
        """nsd.conf (nsd.conf(5)): everything in the temporary directory."""
        assert self.directory is not None
        d = self.directory
        ipv6 = ":" in self.address
        lines = [
            "server:",
            '  username: ""',
            '  chroot: ""',
            '  database: ""',
            f'  zonesdir: "{d}"',
            f'  pidfile: "{d}/nsd.pid"',
            f'  zonelistfile: "{d}/zone.list"',
            f'  xfrdfile: "{d}/xfrd.state"',
            f'  xfrdir: "{d}"',
            f'  logfile: "{d}/nsd.log"',
            f"  ip-address: {self.address}@{self.port}",
            f"  port: {self.port}",
            f"  do-ip4: {'no' if ipv6 else 'yes'}",
            f"  do-ip6: {'yes' if ipv6 else 'no'}",
            "  server-count: 1",
            "  verbosity: 1",
            "  hide-version: yes",
            "  hide-identity: yes",
            "  zonefiles-write: 0",
            "remote-control:",
            "  control-enable: no",
        ]
        for index, name in enumerate(self.zones):
            lines += ["zone:", f'  name: "{name}"', f'  zonefile: "{d}/{index}.zone"']
        for name in self.servfail_zones:  # a zone file that does not exist: SERVFAIL
            lines += ["zone:", f'  name: "{name}"', f'  zonefile: "{d}/missing-{name}.zone"']
        return "\n".join(lines) + "\n"

    def _spawn(self) -> None:
        assert self.directory is not None
        config = self.directory / "nsd.conf"
        config.write_text(self._config_text(), encoding="utf-8")
        with open(self.directory / "stderr.log", "ab") as stderr:
            self._process = subprocess.Popen(
                [self.nsd, "-d", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # its own process group, so no child survives stop()
            )

    def _wait_until_answering(self) -> bool:
        """Poll every zone's SOA until NSD answers it; False if NSD exited or timed out."""
        deadline = time.monotonic() + self.start_timeout_seconds
        waiting = list(self.zones) or self.servfail_zones
        while waiting and time.monotonic() < deadline and self.running:
            if self._answers(waiting[0]):
                waiting.pop(0)
            else:
                time.sleep(0.02)
        return not waiting and self.running

    def _answers(self, zone: str) -> bool:
        query = dns.message.make_query(zone, dns.rdatatype.SOA)
        try:
            response = dns.query.udp(
                query, self.address, timeout=_PROBE_TIMEOUT_SECONDS, port=self.port
            )
        except (dns.exception.DNSException, OSError):
            return False
        return zone in self.servfail_zones or response.rcode() == dns.rcode.NOERROR

    def _stop_process(self) -> None:
        """SIGTERM; wait until NSD's whole process group is gone; SIGKILL what is left."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        _end_process_group(process.pid, _GROUP_EXIT_SECONDS)
        process.wait()


def _end_process_group(pgid: int, timeout_seconds: float) -> None:
    """Wait for the live processes of group *pgid* to go; SIGKILL the group if some stay.

    NSD's main process exits before its server child is reaped; the child is then
    reparented to init, which may take a while to reap it. A zombie holds no socket, so
    only live members are waited for. The group id cannot be reused while it has
    members.
    """
    deadline = time.monotonic() + timeout_seconds
    while _live_group_members(pgid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
            return
        time.sleep(0.01)


def _live_group_members(pgid: int) -> bool:
    """True if a process of group *pgid* is alive (not a zombie), from /proc (Linux).

    Without /proc: True while the group has any member, zombies included.
    """
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state, _ppid, group = stat.rpartition(")")[2].split()[:3]  # proc(5): after comm
        if int(group) == pgid and state != "Z":
            return True
    return False


def _zone_name(text: str) -> str:
    """A zone name as NSD is configured with it: A-labels, no trailing dot."""
    return dns.name.from_text(domain_to_ascii(text)).to_text(omit_final_dot=True)
