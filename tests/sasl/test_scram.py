"""SASL SCRAM-SHA-256 server (RFC 5802, RFC 7677): the RFC example, failures, fuzzing."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.sasl import (
    MAX_MESSAGE_BYTES,
    SaslError,
    SaslStateError,
    ScramCredentials,
    ScramError,
    ScramServer,
    derive_credentials,
    saslprep,
)

# RFC 7677 §3, the example exchange.
CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
PENCIL = derive_credentials("pencil", SALT, 4096)


def _challenged(client_first: bytes = CLIENT_FIRST) -> ScramServer:
    server = ScramServer(SERVER_NONCE)
    server.first(client_first)
    server.challenge(PENCIL)
    return server


def test_rfc_7677_example() -> None:
    server = ScramServer(SERVER_NONCE)
    assert server.first(CLIENT_FIRST) == ("user", "")
    assert server.challenge(PENCIL) == SERVER_FIRST
    assert server.final(CLIENT_FINAL) == SERVER_FINAL


def test_wrong_proof_fails() -> None:
    wrong = derive_credentials("pencil2", SALT, 4096)
    server = ScramServer(SERVER_NONCE)
    server.first(CLIENT_FIRST)
    server.challenge(wrong)
    with pytest.raises(ScramError) as info:
        server.final(CLIENT_FINAL)
    assert info.value.server_final() == b"e=invalid-proof"
    with pytest.raises(SaslStateError):
        server.final(CLIENT_FINAL)


def test_tampered_proof_fails() -> None:
    proof = base64.b64decode(CLIENT_FINAL.rpartition(b"p=")[2])
    bad = base64.b64encode(bytes([proof[0] ^ 1]) + proof[1:])
    with pytest.raises(ScramError, match="authentication failed"):
        _challenged().final(CLIENT_FINAL.rpartition(b"p=")[0] + b"p=" + bad)


@pytest.mark.parametrize(
    "client_final",
    [
        CLIENT_FINAL.replace(b"c=biws", b"c=eSws"),  # gs2 header "y,," is not what was sent
        CLIENT_FINAL.replace(b"r=rOpr", b"r=xOpr"),  # nonce mismatch
        CLIENT_FINAL.replace(b"$k0,", b"$k0x,"),  # server nonce altered
        CLIENT_FINAL.rpartition(b",p=")[0],  # no proof
        CLIENT_FINAL.replace(b"p=dHz", b"p=!Hz"),  # proof not base64
        CLIENT_FINAL.replace(b"p=dHzbZapWIk4jUhN+", b"p="),  # short proof
        b"",
        b"\xff" + CLIENT_FINAL,
        b"x" * (MAX_MESSAGE_BYTES + 1),
    ],
)
def test_bad_client_final(client_final: bytes) -> None:
    with pytest.raises(ScramError):
        _challenged().final(client_final)


def test_authzid_and_escapes() -> None:
    server = ScramServer(SERVER_NONCE)
    assert server.first(b"n,a=ad=3Dmin,n=us=2Cer,r=abc") == ("us,er", "ad=min")


def test_y_flag_accepted_without_plus_and_checked_in_binding() -> None:
    server = _challenged(b"y,,n=user,r=rOprNGfwEbeRWgbNEkqO")
    with pytest.raises(ScramError, match="channel binding"):
        server.final(CLIENT_FINAL)  # c=biws but the header was "y,,"; c=eSws expected


@pytest.mark.parametrize(
    ("client_first", "server_error"),
    [
        (b"p=tls-unique,,n=user,r=abc", "channel-binding-not-supported"),
        (b"n,,m=ext,n=user,r=abc", "extensions-not-supported"),
        (b"n,,n=us=2Xer,r=abc", "invalid-username-encoding"),
        (b"n,,n=user,r=ab\x7fc", "other-error"),
        (b"n,,n=user,r=ab c", "other-error"),
        (b"n,,n=,r=abc", "other-error"),
        (b"n,,r=abc,n=user", "other-error"),
        (b"n,,n=user", "other-error"),
        (b"x,,n=user,r=abc", "other-error"),
        (b"n,b=x,n=user,r=abc", "other-error"),
        (b"n,,n=user,r=abc,1=x", "other-error"),
        (b"n,,n=user\x00,r=abc", "invalid-encoding"),
        (b"n,,n=\xff,r=abc", "invalid-encoding"),
    ],
)
def test_bad_client_first(client_first: bytes, server_error: str) -> None:
    with pytest.raises(ScramError) as info:
        ScramServer(SERVER_NONCE).first(client_first)
    assert info.value.server_error == server_error


def test_y_refused_when_plus_offered() -> None:
    with pytest.raises(SaslError):
        ScramServer("abc", channel_binding_offered=True).first(b"y,,n=user,r=abc")


def test_steps_out_of_order() -> None:
    server = ScramServer(SERVER_NONCE)
    with pytest.raises(SaslStateError):
        server.challenge(PENCIL)
    with pytest.raises(SaslStateError):
        server.final(CLIENT_FINAL)
    server.first(CLIENT_FIRST)
    with pytest.raises(SaslStateError):
        server.first(CLIENT_FIRST)


@pytest.mark.parametrize("nonce", ["", "a,b", "a b", "é"])
def test_bad_server_nonce(nonce: str) -> None:
    with pytest.raises(ValueError):
        ScramServer(nonce)


def test_iterations_and_salt_limits() -> None:
    with pytest.raises(ValueError):
        derive_credentials("pencil", SALT, 4095)
    with pytest.raises(ValueError):
        derive_credentials("pencil", b"")
    with pytest.raises(ValueError):
        ScramCredentials(salt=SALT, iterations=1, stored_key=b"", server_key=b"")


def test_saslprep_approximation() -> None:
    assert saslprep("I\u00adX") == "IX"  # RFC 4013 §3 example 1
    assert saslprep("\u00aa") == "a"  # example 3 (NFKC)
    assert saslprep("\u2168") == "IX"  # example 4
    assert saslprep("a\u00a0b") == "a b"
    for bad in ["\u0007", "", "\u00ad", "\ue000"]:  # example 5, empty, private use
        with pytest.raises(ValueError):
            saslprep(bad)


def test_text_round_trip_and_formats() -> None:
    text = PENCIL.to_text()
    assert text.startswith("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$")
    assert ScramCredentials.from_text(text) == PENCIL
    dovecot = text.replace("SCRAM-SHA-256$", "{SCRAM-SHA-256}").replace("$", ",")
    assert ScramCredentials.from_text(dovecot.replace(":", ",")) == PENCIL


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{PLAIN}pencil",
        "SCRAM-SHA-256$4096:W22Z",
        "SCRAM-SHA-256$4096:!!$AA==:AA==",
        "SCRAM-SHA-256$x:AA==$AA==:AA==",
        "SCRAM-SHA-256$100:AA==$AA==:AA==",
        "{SCRAM-SHA-256}4096,AA==,AA==",
    ],
)
def test_from_text_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        ScramCredentials.from_text(text)


credentials = st.builds(
    ScramCredentials,
    salt=st.binary(min_size=1, max_size=40),
    iterations=st.integers(4096, 10**9),
    stored_key=st.binary(max_size=40),
    server_key=st.binary(max_size=40),
)


@given(credentials)
def test_to_text_from_text_round_trip(creds: ScramCredentials) -> None:
    assert ScramCredentials.from_text(creds.to_text()) == creds


@given(st.binary(max_size=200) | st.builds(lambda b: CLIENT_FIRST[: len(b)] + b, st.binary()))
def test_first_never_crashes(data: bytes) -> None:
    try:
        username, authzid = ScramServer(SERVER_NONCE).first(data)
    except SaslError:
        return
    assert isinstance(username, str) and isinstance(authzid, str)


@given(st.binary(max_size=200) | st.builds(lambda b: CLIENT_FINAL[: len(b)] + b, st.binary()))
def test_final_never_crashes(data: bytes) -> None:
    try:
        reply = _challenged().final(data)
    except SaslError:
        return
    assert reply == SERVER_FINAL
