"""Start a real ``trimail serve`` process for tests (free ports, temporary data dir).

Used by trimail's own integration tests and available to plugin authors::

    users = {"a@example.org": "pw12345678"}
    with running_server(tmp_path, domains=["example.org"], users=users) as srv:
        smtplib.SMTP("127.0.0.1", srv.smtp_port)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import attrs

_LISTENING = re.compile(r"(\w+) listening on (\S+) port (\d+)")


def trimail_command(*args: str) -> list[str]:
    """The argv that runs the ``trimail`` CLI with this interpreter."""
    return [sys.executable, "-m", "trimail.cli.main", *args]


def run_cli(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run ``trimail --config CONFIG ARGS...`` and return the finished process."""
    return subprocess.run(
        trimail_command("--config", str(config), *args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


_STEPS_SCRIPT = """
import io, json, sys
from trimail.cli.main import main
config, steps = sys.argv[1], json.loads(sys.argv[2])
for args, stdin in steps:
    sys.stdin = io.StringIO(stdin)
    if main(["--config", config, *args]) != 0:
        sys.exit(f"trimail {' '.join(args)} failed")
"""


def run_cli_steps(config: Path, steps: Sequence[tuple[Sequence[str], str]]) -> None:
    """Run several ``trimail`` CLI commands (args, stdin) in one child process, in order
    (one interpreter start instead of one per command).

    Raises:
        RuntimeError: a command failed (its error output is in the message).
    """
    if not steps:
        return
    done = subprocess.run(
        [sys.executable, "-c", _STEPS_SCRIPT, str(config), json.dumps([list(s) for s in steps])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{done.stderr.strip()}")


@attrs.define
class ServerProcess:
    """A running ``trimail serve``.

    Attributes:
        process: the child process.
        config_path: its TOML config.
        data_dir: its data directory.
        ports: listener name -> bound port.
        log_lines: what it has logged so far (stderr), collected by a thread.
    """

    process: subprocess.Popen[str]
    config_path: Path
    data_dir: Path
    ports: dict[str, int] = attrs.field(factory=dict)
    log_lines: list[str] = attrs.field(factory=list)

    @property
    def smtp_port(self) -> int:
        """The MX listener's port."""
        return self.ports["smtp"]

    @property
    def pop3_port(self) -> int:
        """The POP3 listener's port."""
        return self.ports["pop3"]

    @property
    def submission_port(self) -> int:
        """The STARTTLS submission listener's port (587 in production)."""
        return self.ports["submission"]

    @property
    def submissions_port(self) -> int:
        """The implicit-TLS submission listener's port (465 in production)."""
        return self.ports["submissions"]

    @property
    def pop3s_port(self) -> int:
        """The POP3S (implicit TLS) listener's port."""
        return self.ports["pop3s"]

    @property
    def imap_port(self) -> int:
        """The IMAP listener's port (143 in production)."""
        return self.ports["imap"]

    @property
    def imaps_port(self) -> int:
        """The IMAPS (implicit TLS) listener's port (993 in production)."""
        return self.ports["imaps"]

    def log_text(self) -> str:
        """Everything logged so far."""
        return "".join(self.log_lines)

    def stop(self, timeout: float = 30.0) -> int:
        """Send SIGTERM and wait; returns the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def write_config(
    path: Path,
    data_dir: Path,
    extra: str = "",
    *,
    hostname: str = "mx.test.example",
    top_extra: str = "",
    pop3_extra: str = "",
    submission_extra: str = "",
    imap_extra: str = "",
    smtp_listen: str = "127.0.0.1:0",
) -> Path:
    """Write a config with every listener on a free loopback port.

    Args:
        path: the file to write.
        data_dir: the server's data directory.
        extra: TOML lines for the ``[smtp]`` table.
        hostname: the server's host name.
        top_extra: TOML lines for the top level (e.g. ``plugins = [...]``).
        pop3_extra: TOML lines for the ``[pop3]`` table.
        submission_extra: TOML lines for the ``[submission]`` table.
        imap_extra: TOML lines for the ``[imap]`` table. Unless *top_extra* has a
            ``[dns]`` table, the server's DNS points at a closed loopback port, so a
            test never sends DNS queries (or, through MX lookups, mail) off the
            machine, and incoming mail is not checked with SPF/DKIM/DMARC.
        smtp_listen: the MX listener's address (e.g. ``127.0.0.2:2525`` for a second
            server that plays a remote MX).
    """
    if "[dns]" not in top_extra:
        top_extra += '[dns]\nnameservers = ["127.0.0.1:9"]\ntimeout_seconds = 1.0\n'
        if "[mailauth]" not in top_extra:  # no DNS: no SPF/DKIM/DMARC checks either
            top_extra += "[mailauth]\ncheck_incoming = false\n"
    path.write_text(
        f'hostname = "{hostname}"\n'
        f"data_dir = {str(data_dir)!r}\n"
        'log_level = "info"\n' + top_extra + "[pop3]\n"
        'listen = ["127.0.0.1:0"]\nlisten_tls = ["127.0.0.1:0"]\n' + pop3_extra + "[submission]\n"
        'listen = ["127.0.0.1:0"]\nlisten_tls = ["127.0.0.1:0"]\n' + submission_extra + "[imap]\n"
        'listen = ["127.0.0.1:0"]\nlisten_tls = ["127.0.0.1:0"]\n' + imap_extra + "[smtp]\n"
        f'listen = ["{smtp_listen}"]\n' + extra,
        encoding="utf-8",
    )
    return path


@contextmanager
def running_server(
    workdir: Path,
    *,
    domains: Sequence[str] = (),
    users: Mapping[str, str] = {},
    aliases: Sequence[tuple[str, str]] = (),
    smtp_extra: str = "",
    top_extra: str = "",
    pop3_extra: str = "",
    submission_extra: str = "",
    imap_extra: str = "",
    start_timeout: float = 30.0,
    hostname: str = "mx.test.example",
    smtp_listen: str = "127.0.0.1:0",
) -> Iterator[ServerProcess]:
    """Set up domains, users and aliases with the CLI, then run ``trimail serve``.

    Args:
        workdir: an empty directory for the config and data.
        domains: local domains to add.
        users: address -> password.
        aliases: (source, target) pairs.
        smtp_extra: TOML lines appended to the ``[smtp]`` table.
        top_extra: TOML lines for the top level of the config.
        pop3_extra: TOML lines for the ``[pop3]`` table.
        submission_extra: TOML lines for the ``[submission]`` table.
        imap_extra: TOML lines for the ``[imap]`` table.
        start_timeout: seconds to wait for the listeners.
        hostname: the server's host name (greeting, Received, certificate).
        smtp_listen: the MX listener's address.

    Yields:
        The running server; it is stopped (SIGTERM) on exit.

    Raises:
        RuntimeError: a CLI step failed or the server did not start.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    data_dir = workdir / "data"
    config = write_config(
        workdir / "trimail.toml",
        data_dir,
        smtp_extra,
        top_extra=top_extra,
        pop3_extra=pop3_extra,
        submission_extra=submission_extra,
        imap_extra=imap_extra,
        hostname=hostname,
        smtp_listen=smtp_listen,
    )
    steps: list[tuple[list[str], str]] = [(["domain", "add", d], "") for d in domains]
    steps += [(["user", "add", a, "--password-stdin"], pw + "\n") for a, pw in users.items()]
    steps += [(["alias", "add", s, t], "") for s, t in aliases]
    run_cli_steps(config, steps)
    with serving(config, data_dir, start_timeout=start_timeout) as server:
        yield server


@contextmanager
def serving(
    config: Path, data_dir: Path, *, start_timeout: float = 30.0
) -> Iterator[ServerProcess]:
    """Run ``trimail serve`` with an existing config and data directory (e.g. again
    after a crash); stop it (SIGTERM) when the block ends.

    Raises:
        RuntimeError: the server did not start within *start_timeout* seconds.
    """
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        trimail_command("--config", str(config), "serve"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    server = ServerProcess(process=process, config_path=config, data_dir=data_dir)
    ready = threading.Event()
    wanted = {"smtp", "pop3", "pop3s", "submission", "submissions", "imap", "imaps"}

    def collect() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            server.log_lines.append(line)
            match = _LISTENING.search(line)
            if match:
                server.ports[match.group(1)] = int(match.group(3))
                if wanted <= server.ports.keys():
                    ready.set()
        ready.set()

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + start_timeout
        ready.wait(start_timeout)
        if not wanted <= server.ports.keys() or time.monotonic() > deadline:
            raise RuntimeError(f"trimail serve did not start:\n{server.log_text()}")
        yield server
    finally:
        server.stop()
        reader.join(5)
