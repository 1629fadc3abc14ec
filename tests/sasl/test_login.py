"""SASL LOGIN (draft-murchison-sasl-login-00): prompts, answers, refusals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.sasl import (
    LOGIN_PASSWORD_PROMPT,
    LOGIN_USERNAME_PROMPT,
    MAX_FIELD_BYTES,
    LoginServer,
    SaslError,
    SaslStateError,
)


def test_exchange() -> None:
    assert LOGIN_USERNAME_PROMPT == b"Username:"
    server = LoginServer()
    assert not server.done
    assert server.step("jörg".encode()) == LOGIN_PASSWORD_PROMPT
    assert server.step(b"tanstaaf") is None
    assert server.done
    assert server.credentials == ("jörg", "tanstaaf")


def test_credentials_before_done() -> None:
    server = LoginServer()
    server.step(b"tim")
    with pytest.raises(SaslStateError):
        _ = server.credentials


def test_step_after_done() -> None:
    server = LoginServer()
    server.step(b"tim")
    server.step(b"pw")
    with pytest.raises(SaslStateError):
        server.step(b"more")


@pytest.mark.parametrize("bad", [b"", b"a\x00b", b"\xff", b"x" * (MAX_FIELD_BYTES + 1)])
@pytest.mark.parametrize("at_password", [False, True])
def test_bad_fields(bad: bytes, at_password: bool) -> None:
    server = LoginServer()
    if at_password:
        server.step(b"tim")
    with pytest.raises(SaslError):
        server.step(bad)
    with pytest.raises(SaslStateError):
        server.step(b"tim")


@given(st.lists(st.binary(max_size=300), max_size=4))
def test_never_crashes(responses: list[bytes]) -> None:
    server = LoginServer()
    for response in responses:
        try:
            server.step(response)
        except (SaslError, SaslStateError):
            break
    if server.done:
        username, password = server.credentials
        assert username and password
