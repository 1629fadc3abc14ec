"""SCRAM-SHA-256 on the server side: `ScramLogin` (backend, made-up keys, throttle) and
where the sessions offer it (TLS or loopback only, and only with a SCRAM backend)."""

from __future__ import annotations

import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from tests.sasl.scram_client import ScramClient
from trimail.config.model import (
    AuthConfig,
    ImapListenerConfig,
    Pop3ListenerConfig,
    SubmissionListenerConfig,
)
from trimail.mail.reply import Reply
from trimail.sasl import SaslError
from trimail.server.auth import (
    LoginBlocked,
    ScramBackend,
    ScramLogin,
    UserDatabaseBackend,
    sasl_mechanisms,
    supports_scram,
)
from trimail.server.imap_session import ImapContext, ImapSession
from trimail.server.pop3_session import Pop3Context, Pop3Session
from trimail.server.session_info import SessionInfo
from trimail.server.smtp_session import ServerContext, SmtpSession
from trimail.server.submission import SubmissionPolicy
from trimail.server.throttle import LoginThrottle
from trimail.smtp import Hello
from trimail.users.db import UserDatabase
from trimail.users.passwords import SCRAM_ITERATIONS, scram_credentials

PASSWORD = "pencil and paper"


class PasswordOnlyBackend:
    """A plugin backend from before SCRAM: ``verify`` only."""

    async def verify(self, username: str, password: str) -> str | None:
        return None


@pytest.fixture
def users(tmp_path: Path) -> UserDatabase:
    db = UserDatabase(tmp_path / "users.sqlite3")
    db.add_domain("example.org")
    db.add_user("alice@example.org", "unused-hash", scram_credentials(PASSWORD))
    db.add_user("old@example.org", "unused-hash")  # password set before SCRAM keys
    return db


def throttle(block_after_failures: int = 10) -> LoginThrottle:
    config = AuthConfig(
        failure_delay_seconds=1.0, max_delay_seconds=8.0, block_after_failures=block_after_failures
    )
    return LoginThrottle(config, trio.current_time)


def login(users: UserDatabase, limiter: LoginThrottle, peer: str = "192.0.2.1") -> ScramLogin:
    return ScramLogin(
        auth=UserDatabaseBackend(users),
        throttle=limiter,
        users=users,
        peer_host=peer,
        protocol="TEST",
    )


def run(test: Callable[[], Awaitable[None]]) -> None:
    trio.run(test, clock=trio.testing.MockClock(autojump_threshold=0))


async def exchange(scram: ScramLogin, client: ScramClient) -> Any:
    """Run the client's side; return the final outcome (UserInfo or None)."""
    server_first = await scram.step(client.first())
    assert isinstance(server_first, bytes)
    server_final = await scram.step(client.final(server_first))
    if server_final is None:
        return None
    assert isinstance(server_final, bytes) and client.verify(server_final)
    return await scram.step(b"")


def test_backend_protocol_and_mechanisms(users: UserDatabase) -> None:
    backend = UserDatabaseBackend(users)
    assert supports_scram(backend) and isinstance(backend, ScramBackend)
    assert not supports_scram(PasswordOnlyBackend())  # type: ignore[arg-type]
    assert sasl_mechanisms(backend, "PLAIN", "LOGIN") == ("PLAIN", "LOGIN", "SCRAM-SHA-256")
    assert sasl_mechanisms(PasswordOnlyBackend(), "PLAIN") == ("PLAIN",)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ScramLogin(
            auth=PasswordOnlyBackend(),  # type: ignore[arg-type]
            throttle=LoginThrottle(AuthConfig(), lambda: 0.0),
            users=users,
            peer_host="192.0.2.1",
            protocol="TEST",
        )


def test_right_password_logs_in(users: UserDatabase) -> None:
    async def main() -> None:
        limiter = throttle(block_after_failures=2)
        limiter.failed("192.0.2.9", "ALICE@example.org")
        user = await exchange(login(users, limiter), ScramClient("ALICE@example.org", PASSWORD))
        assert user is not None and user.address == "alice@example.org"
        limiter.failed("192.0.2.10", "alice@example.org")
        assert not limiter.blocked("192.0.2.11", "alice@example.org")  # success forgot one

    run(main)


def test_wrong_password_unknown_user_and_user_without_keys_fail_alike(
    users: UserDatabase,
) -> None:
    async def attempt(username: str, password: str) -> tuple[bytes, float]:
        scram = login(users, throttle())
        client = ScramClient(username, password)
        server_first = await scram.step(client.first())
        assert isinstance(server_first, bytes)
        start = trio.current_time()
        assert await scram.step(client.final(server_first)) is None
        return client.salt(), trio.current_time() - start

    async def main() -> None:
        wrong_salt, wrong_delay = await attempt("alice@example.org", "not the password")
        nobody_salt, nobody_delay = await attempt("nobody@example.org", PASSWORD)
        old_salt, old_delay = await attempt("old@example.org", PASSWORD)
        assert wrong_delay == nobody_delay == old_delay == 1.0  # the throttle's delay
        # the made-up salt looks like a real one and is the same every time, for every
        # spelling of the name: comparing two attempts tells nothing
        assert len(nobody_salt) == len(wrong_salt) == 16
        assert (await attempt("Nobody@Example.org", PASSWORD))[0] == nobody_salt
        assert old_salt != nobody_salt

    run(main)


def test_iterations_match_real_users(users: UserDatabase) -> None:
    async def main() -> None:
        for name in ("alice@example.org", "nobody@example.org"):
            challenge = await login(users, throttle()).step(ScramClient(name, "x").first())
            assert isinstance(challenge, bytes)
            assert challenge.endswith(b",i=%d" % SCRAM_ITERATIONS)

    run(main)


def test_failures_are_throttled_and_then_blocked(users: UserDatabase) -> None:
    async def main() -> None:
        limiter = throttle(block_after_failures=3)
        delays = []
        for _ in range(3):
            start = trio.current_time()
            scram = login(users, limiter, peer="192.0.2.7")
            assert await exchange(scram, ScramClient("alice@example.org", "wrong")) is None
            delays.append(trio.current_time() - start)
        assert delays == [1.0, 2.0, 4.0]
        # blocked now, even with the right password, before any challenge
        with pytest.raises(LoginBlocked):
            await login(users, limiter, peer="192.0.2.8").step(
                ScramClient("alice@example.org", PASSWORD).first()
            )

    run(main)


def test_failures_count_with_password_logins(users: UserDatabase) -> None:
    async def main() -> None:
        limiter = throttle(block_after_failures=2)
        limiter.failed("192.0.2.1", "alice@example.org")  # e.g. a wrong PLAIN password
        scram = login(users, limiter, peer="192.0.2.2")
        client = ScramClient("alice@example.org", PASSWORD)
        server_first = await scram.step(client.first())
        assert isinstance(server_first, bytes)
        limiter.failed("192.0.2.3", "alice@example.org")  # meanwhile, elsewhere
        with pytest.raises(LoginBlocked):  # checked again before the proof
            await scram.step(client.final(server_first))

    run(main)


def test_malformed_messages(users: UserDatabase) -> None:
    async def main() -> None:
        for message in (b"", b"p=tls-unique,,n=a,r=b", b"n,a=bob@example.org,n=alice,r=x"):
            with pytest.raises(SaslError):
                await login(users, throttle()).step(message)
        scram = login(users, throttle())
        client = ScramClient("alice@example.org", PASSWORD)
        server_first = await scram.step(client.first())
        assert isinstance(server_first, bytes)
        assert isinstance(await scram.step(client.final(server_first)), bytes)
        with pytest.raises(SaslError):
            await scram.step(b"more")  # nothing may follow the server-final-message

    run(main)


def test_authzid_equal_to_the_user_is_accepted(users: UserDatabase) -> None:
    async def main() -> None:
        client = ScramClient("alice@example.org", PASSWORD, authzid="Alice@example.org")
        assert await exchange(login(users, throttle()), client) is not None

    run(main)


# --- where the sessions offer SCRAM-SHA-256 ------------------------------------------

FAKE_STREAM: Any = types.SimpleNamespace(socket=types.SimpleNamespace(_sock=None))
REMOTE, LOOPBACK = "192.0.2.1", "127.0.0.1"


def info(peer: str, *, tls: bool = False, listener: str = "x") -> SessionInfo:
    return SessionInfo(
        listener=listener, peer_host=peer, peer_port=1, local_host="x", local_port=2, tls=tls
    )


def ehlo_auth(session: SmtpSession) -> list[str]:
    conn = session.conn
    conn.send(Reply(code=220, text="hi"))
    conn.receive_data(b"EHLO c.example\r\n")
    assert isinstance(conn.next_event(), Hello)
    lines = conn.send(conn.ehlo_reply("mx.example.org")).decode().split("\r\n")
    return [line[4:] for line in lines if line[4:].startswith("AUTH")]


@pytest.mark.parametrize(
    ("peer", "tls", "scram", "expected"),
    [
        (REMOTE, False, True, []),
        (REMOTE, True, True, ["AUTH PLAIN LOGIN SCRAM-SHA-256"]),
        (LOOPBACK, False, True, ["AUTH PLAIN LOGIN SCRAM-SHA-256"]),
        (REMOTE, True, False, ["AUTH PLAIN LOGIN"]),
    ],
)
def test_submission_ehlo(
    users: UserDatabase, peer: str, tls: bool, scram: bool, expected: list[str]
) -> None:
    auth: Any = UserDatabaseBackend(users) if scram else PasswordOnlyBackend()
    ctx = ServerContext(
        listener="submission",
        hostname="mx.example.org",
        config=SubmissionListenerConfig(),
        delivery=None,  # type: ignore[arg-type]
        hooks=None,  # type: ignore[arg-type]
        spool_dir=Path("/nonexistent"),
        submission=SubmissionPolicy(auth=auth, throttle=throttle(), users=users),
    )
    session = SmtpSession(ctx, FAKE_STREAM, info(peer, tls=tls, listener="submission"))
    assert ehlo_auth(session) == expected


@pytest.mark.parametrize(
    ("peer", "scram", "expected"),
    [
        (REMOTE, True, None),
        (LOOPBACK, True, "SASL PLAIN SCRAM-SHA-256"),
        (LOOPBACK, False, "SASL PLAIN"),
    ],
)
def test_pop3_capa(users: UserDatabase, peer: str, scram: bool, expected: str | None) -> None:
    auth: Any = UserDatabaseBackend(users) if scram else PasswordOnlyBackend()
    ctx = Pop3Context(
        hostname="mx.example.org",
        config=Pop3ListenerConfig(),
        store=None,  # type: ignore[arg-type]
        users=users,
        auth=auth,
        throttle=throttle(),
    )
    conn = Pop3Session(ctx, FAKE_STREAM, info(peer)).conn
    conn.greeting()
    conn.receive_data(b"CAPA\r\n")
    capa = conn.next_event()
    sasl = [line for line in capa.data.decode().split("\r\n") if line.startswith("SASL")]  # type: ignore[union-attr]
    assert sasl == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    ("peer", "implicit_tls", "scram", "auth_caps"),
    [
        (REMOTE, False, True, ["LOGINDISABLED"]),
        (REMOTE, True, True, ["AUTH=PLAIN", "AUTH=SCRAM-SHA-256"]),
        (LOOPBACK, False, True, ["AUTH=PLAIN", "AUTH=SCRAM-SHA-256"]),
        (LOOPBACK, False, False, ["AUTH=PLAIN"]),
    ],
)
def test_imap_capability(
    users: UserDatabase, peer: str, implicit_tls: bool, scram: bool, auth_caps: list[str]
) -> None:
    auth: Any = UserDatabaseBackend(users) if scram else PasswordOnlyBackend()
    ctx = ImapContext(
        hostname="mx.example.org",
        config=ImapListenerConfig(),
        store=None,  # type: ignore[arg-type]
        users=users,
        auth=auth,
        throttle=throttle(),
        notifier=None,  # type: ignore[arg-type]
    )
    session = ImapSession(ctx, FAKE_STREAM, info(peer), implicit_tls=implicit_tls)
    caps = session.conn.capabilities()
    assert [c for c in caps if c.startswith("AUTH=") or c == "LOGINDISABLED"] == auth_caps
