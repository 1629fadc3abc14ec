"""The supervisor and its worker processes, under crashes and bad start-up conditions."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from trimail.testing.process import run_cli, running_server, trimail_command, write_config


def worker_pids(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def wait_for(condition, timeout: float = 15.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def greetings(port: int, count: int) -> list[bytes]:
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    try:
        return [s.recv(1024)[:3] for s in socks]
    finally:
        for s in socks:
            s.close()


def test_killed_workers_are_replaced_and_leak_no_connection_slots(tmp_path: Path) -> None:
    with running_server(
        tmp_path,
        domains=["example.org"],
        smtp_extra="max_connections_per_ip = 4\n",
        top_extra="workers = 2\n",
    ) as srv:
        held = [
            socket.create_connection(("127.0.0.1", srv.smtp_port), timeout=10) for _ in range(4)
        ]
        assert [s.recv(1024)[:3] for s in held] == [b"220"] * 4
        old = worker_pids(srv.process.pid)
        assert len(old) == 2
        for pid in old:
            os.kill(pid, signal.SIGKILL)
        for s in held:
            s.close()
        assert wait_for(lambda: srv.log_text().count("starting another") >= 2)
        assert wait_for(lambda: len(worker_pids(srv.process.pid)) == 2)
        time.sleep(0.5)
        assert set(worker_pids(srv.process.pid)).isdisjoint(old)
        assert greetings(srv.smtp_port, 4) == [b"220"] * 4
        time.sleep(0.5)  # the closed connections are released
        # workers check the shared counts without a lock: each may pass the limit by one
        assert b"421" in greetings(srv.smtp_port, 6)


def test_workers_exit_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    with running_server(tmp_path, domains=["example.org"], top_extra="workers = 2\n") as srv:
        workers = worker_pids(srv.process.pid)
        srv.process.kill()
        srv.process.wait(10)
        assert wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers))
        with socket.socket() as probe:  # the port is free again
            probe.bind(("127.0.0.1", srv.smtp_port))


def test_unusable_data_dir_stops_start_up_with_one_message(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a directory")
    config = write_config(tmp_path / "t.toml", blocker / "data", top_extra="workers = 2\n")
    done = subprocess.run(
        trimail_command("--config", str(config), "serve"),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert f"trimail: data_dir {blocker / 'data'}: Not a directory" in done.stderr
    assert "Traceback" not in done.stderr


def test_corrupt_user_database_is_a_clear_error(tmp_path: Path) -> None:
    config = write_config(tmp_path / "t.toml", tmp_path / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "users.sqlite3").write_bytes(b"garbage" * 100)
    for args in (("user", "list"), ("serve",)):
        done = run_cli(config, *args)
        assert done.returncode == 1, done.stderr
        assert "users.sqlite3: not a usable user database" in done.stderr
        assert "Traceback" not in done.stderr


def test_trickled_command_times_out_as_a_whole(tmp_path: Path) -> None:
    with (
        running_server(
            tmp_path, domains=["example.org"], smtp_extra="command_timeout_seconds = 1.0\n"
        ) as srv,
        socket.create_connection(("127.0.0.1", srv.smtp_port), timeout=10) as sock,
    ):
        assert sock.recv(1024).startswith(b"220")
        start = time.monotonic()
        reply = b""
        for byte in b"EHLO slowloris.example\r\n":
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sock.settimeout(0.3)
            try:
                reply = sock.recv(1024)
            except TimeoutError:
                continue
            break
        assert reply.startswith(b"421 4.4.2"), reply
        assert time.monotonic() - start < 3.0
