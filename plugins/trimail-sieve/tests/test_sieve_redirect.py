"""redirect (RFC 5228 §4.2, RFC 3894 :copy): the interpreter's outcome, the cap, loop
detection, the message and envelope sent on, and the hook with a fake outbox (a failed
send keeps the message)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trimail_sieve import MessageData, SievePlugin, SieveRuntimeError, SieveSettings, run
from trimail_sieve.interpreter import Outcome
from trimail_sieve.message import Headers
from trimail_sieve.redirect import (
    LOOP_FIELD,
    AddressError,
    envelope_sender,
    loop_detected,
    parse_address,
    redirected_message,
)
from trimail_sieve.script import compile_script
from trimail_sieve.store import FILE_NAME, SieveStore

from trimail.mail.address import NULL_PATH, Mailbox
from trimail.mail.envelope import Envelope
from trimail.verdicts import DeliveryVerdict

USER = "bob@example.org"
ALIAS = "robert@example.org"
HEAD = 'require ["fileinto", "copy", "imap4flags", "reject", "vacation"];\n'
MESSAGE = (
    b"Return-Path: <alice@example.com>\r\n"
    b"Received: from mx.example.com by mail.example.org; Sun, 29 Nov 2026 18:00:00 +0000\r\n"
    b"From: alice@example.com\r\n"
    b"To: bob@example.org\r\n"
    b"Subject: Hello\r\n"
    b"Message-ID: <1@example.com>\r\n"
    b"\r\n"
    b"Return-Path: this line is in the body\r\n"
)


def decide(
    body: str,
    message: bytes = MESSAGE,
    *,
    max_redirects: int = 4,
    envelope_to: str = USER,
) -> Outcome:
    data = MessageData.from_message(
        message, envelope_from="alice@example.com", envelope_to=envelope_to, user_address=USER
    )
    script = compile_script((HEAD + body).encode())
    return run(script, data, default_mailbox="INBOX", max_actions=32, max_redirects=max_redirects)


def copies(outcome: Outcome) -> dict[str, list[str]]:
    return {d.mailbox: sorted(d.flags) for d in outcome.deliveries}


# -- the interpreter -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "stored", "redirects"),
    [
        ('redirect "carol@example.org";', {}, ["carol@example.org"]),  # cancels the keep
        ('redirect :copy "carol@example.org";', {"INBOX": []}, ["carol@example.org"]),
        ('redirect "carol@example.org"; keep;', {"INBOX": []}, ["carol@example.org"]),
        ('fileinto "A"; redirect "c@x.org";', {"A": []}, ["c@x.org"]),
        ('redirect "c@x.org"; redirect "C@X.ORG";', {}, ["c@x.org"]),  # once per address
        ('redirect "a@x.org"; redirect "b@x.org";', {}, ["a@x.org", "b@x.org"]),
        ('redirect "a@x.org"; stop; redirect "b@x.org";', {}, ["a@x.org"]),
        ('discard; redirect "a@x.org";', {}, ["a@x.org"]),
        ('if header :is "subject" "nope" { redirect "a@x.org"; }', {"INBOX": []}, []),
        ('addflag "$x"; redirect :copy "a@x.org";', {"INBOX": ["$x"]}, ["a@x.org"]),
    ],
)
def test_outcomes(body: str, stored: dict[str, list[str]], redirects: list[str]) -> None:
    outcome = decide(body)
    assert copies(outcome) == stored
    assert list(outcome.redirects) == redirects


def test_the_cap_counts_distinct_addresses() -> None:
    four = "".join(f'redirect "u{i}@example.net";' for i in range(4))
    assert len(decide(four + 'redirect "U0@example.net";').redirects) == 4
    with pytest.raises(SieveRuntimeError, match="more than 4 redirects"):
        decide(four + 'redirect "u4@example.net";')
    with pytest.raises(SieveRuntimeError, match="more than 1 redirects"):
        decide('redirect "a@x.org"; redirect :copy "b@x.org";', max_redirects=1)
    with pytest.raises(SieveRuntimeError, match="more than 0 redirects"):
        decide('redirect "a@x.org";', max_redirects=0)


@pytest.mark.parametrize(
    "body", ['reject "no"; redirect "a@x.org";', 'redirect :copy "a@x.org"; reject "no";']
)
def test_reject_excludes_redirect(body: str) -> None:
    with pytest.raises(SieveRuntimeError, match="reject cannot be combined with redirect"):
        decide(body)


@pytest.mark.parametrize(
    ("field", "loop"),
    [
        (f"{LOOP_FIELD}: bob@example.org", True),
        (f"{LOOP_FIELD}: <BOB@Example.org> ", True),
        (f"x-sieve-redirected-from: {ALIAS}", True),  # the alias that reached bob
        (f"{LOOP_FIELD}: carol@example.org", False),  # someone else redirected it
        ("X-Other: bob@example.org", False),
    ],
)
def test_loop_field_for_this_user_is_an_error(field: str, loop: bool) -> None:
    message = field.encode() + b"\r\n" + MESSAGE
    if loop:
        with pytest.raises(SieveRuntimeError, match="mail loop"):
            decide('redirect :copy "carol@example.org";', message, envelope_to=ALIAS)
    else:
        outcome = decide('redirect "carol@example.org";', message, envelope_to=ALIAS)
        assert outcome.redirects == ("carol@example.org",)
    assert copies(decide("keep;", message, envelope_to=ALIAS)) == {"INBOX": []}


def test_implicit_keep_can_be_restored() -> None:
    outcome = decide('addflag "$x"; redirect "a@x.org";')
    assert copies(outcome.with_implicit_keep("INBOX")) == {"INBOX": ["$x"]}
    assert copies(outcome.with_implicit_keep("Junk")) == {"Junk": ["$x"]}
    merged = decide('addflag "$x"; fileinto :flags "\\\\Seen" "INBOX"; redirect "a@x.org";')
    assert copies(merged.with_implicit_keep("INBOX")) == {"INBOX": ["$x", "\\Seen"]}
    kept = decide('redirect :copy "a@x.org";')
    assert kept.with_implicit_keep("INBOX") is kept


# -- the redirect module ---------------------------------------------------------------


def test_redirected_message_drops_return_path_and_adds_the_loop_field() -> None:
    folded = MESSAGE.replace(b"Return-Path: <a", b"return-path :\r\n <a")
    for message in (MESSAGE, folded):
        out = redirected_message(message, user_address=USER, message_id=None)
        assert out.startswith(f"{LOOP_FIELD}: {USER}\r\nReceived: from mx".encode())
        assert b"<alice@example.com>" not in out
        assert out.endswith(b"\r\n\r\nReturn-Path: this line is in the body\r\n")
        assert out.count(b"\r\n\r\n") == 1


def test_redirected_message_edge_cases() -> None:
    out = redirected_message(b"Subject: x\n\nbody\n", user_address=USER, message_id="<n@x>")
    assert out == f"{LOOP_FIELD}: {USER}\r\nMessage-ID: <n@x>\r\nSubject: x\n\nbody\n".encode()
    assert redirected_message(b"Return-Path: <>\r\n\r\nb", user_address=USER, message_id=None) == (
        f"{LOOP_FIELD}: {USER}\r\n\r\nb".encode()
    )
    assert redirected_message(b"\r\nReturn-Path: body", user_address=USER, message_id=None) == (
        f"{LOOP_FIELD}: {USER}\r\n\r\nReturn-Path: body".encode()
    )
    assert redirected_message(b"A: 1", user_address=USER, message_id=None).endswith(b"\r\nA: 1")


def test_envelope_sender_keeps_the_null_reverse_path() -> None:
    assert envelope_sender("alice@example.com", USER) == USER
    assert envelope_sender("", USER) == ""  # RFC 5228 §4.2 MUST


def test_loop_detected() -> None:
    headers = Headers.parse(f"{LOOP_FIELD}: a@x.org\r\n{LOOP_FIELD}: <B@X.org>\r\n\r\n".encode())
    assert loop_detected(headers, ["b@x.org"])
    assert loop_detected(headers, ["", "A@x.org"])
    assert not loop_detected(headers, ["c@x.org", ""])


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("carol@example.org", "carol@example.org"),
        (" <carol@example.org> ", "carol@example.org"),
        ('"Carol, Example" <carol@example.org>', "carol@example.org"),
        ('"a b"@example.org', '"a b"@example.org'),
        ("josé@exämple.org", "josé@exämple.org"),
        ("x@[192.0.2.1]", "x@[192.0.2.1]"),
    ],
)
def test_parse_address(text: str, address: str) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize(
    "text", ["", "carol", "<>", "a@", "@x.org", "a@b@c", "a b@c.org", "a@x.org, b@x.org", "a<b>c"]
)
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(AddressError):
        parse_address(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_parse_address_never_crashes_and_is_idempotent(text: str) -> None:
    try:
        address = parse_address(text)
    except AddressError:
        return
    assert parse_address(address) == address


# -- the hook with a fake outbox -------------------------------------------------------


class FakeOutbox:
    def __init__(self, fail_for: Sequence[str] = ()) -> None:
        self.sent: list[tuple[str, list[str], bytes]] = []
        self.fail_for = set(fail_for)

    def send(self, *, reverse_path: str, recipients: Sequence[str], message: bytes) -> str:
        if self.fail_for & set(recipients) or "*" in self.fail_for:
            raise OSError("outbox: the queue is full")
        self.sent.append((reverse_path, list(recipients), message))
        return f"Q{len(self.sent)}"


def make_plugin(tmp_path: Path, outbox: FakeOutbox | None, **kwargs: int) -> SievePlugin:
    plugin = SievePlugin()
    plugin.start(SieveSettings(**kwargs), SieveStore(tmp_path / FILE_NAME), outbox)
    return plugin


def deliver(
    plugin: SievePlugin,
    body: str,
    *,
    message: bytes = MESSAGE,
    null_sender: bool = False,
    mailbox: str = "INBOX",
) -> object:
    assert plugin.store is not None
    plugin.store.put("a1", USER, (HEAD + body).encode(), now=0)
    bob = Mailbox(local_part="bob", domain="example.org")
    sender = NULL_PATH if null_sender else Mailbox(local_part="alice", domain="example.com")
    return plugin.trimail_local_delivery(
        envelope=Envelope(reverse_path=sender, forward_paths=(bob,)),
        forward_path=bob,
        address=USER,
        account_id="a1",
        message=message,
        mailbox_name=mailbox,
    )


def test_hook_sends_from_the_user_with_the_loop_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = FakeOutbox()
    plugin = make_plugin(tmp_path, outbox)
    with caplog.at_level(logging.INFO, logger="trimail.sieve"):
        verdict = deliver(plugin, 'redirect "carol@example.org";')
    assert verdict == DeliveryVerdict(discard=True)  # bob's copy is not stored
    [(sender, recipients, message)] = outbox.sent
    assert (sender, recipients) == (USER, ["carol@example.org"])
    assert message == redirected_message(MESSAGE, user_address=USER, message_id=None)
    assert "redirected to <carol@example.org> from <bob@example.org>, queued as Q1" in caplog.text


def test_hook_redirects_a_bounce_with_the_null_reverse_path(tmp_path: Path) -> None:
    outbox = FakeOutbox()
    plugin = make_plugin(tmp_path, outbox)
    assert deliver(plugin, 'redirect "carol@example.org";', null_sender=True) == (
        DeliveryVerdict(discard=True)
    )
    assert outbox.sent[0][0] == ""


def test_hook_adds_a_message_id_when_missing(tmp_path: Path) -> None:
    outbox = FakeOutbox()
    plugin = make_plugin(tmp_path, outbox)
    deliver(plugin, 'redirect "carol@example.org";', message=b"Subject: x\r\n\r\nbody\r\n")
    message = outbox.sent[0][2]
    assert message.startswith(f"{LOOP_FIELD}: {USER}\r\nMessage-ID: <".encode())
    assert b"@example.org>\r\nSubject: x\r\n\r\nbody\r\n" in message


def test_hook_copy_and_several_addresses(tmp_path: Path) -> None:
    outbox = FakeOutbox()
    plugin = make_plugin(tmp_path, outbox)
    verdict = deliver(plugin, 'redirect :copy "a@x.org"; redirect :copy "b@x.org";')
    assert verdict == DeliveryVerdict(mailboxes=("INBOX",))
    assert [r for _s, r, _m in outbox.sent] == [["a@x.org"], ["b@x.org"]]


@pytest.mark.parametrize("fail_for", [["*"], ["b@x.org"]])
def test_hook_keeps_the_message_when_a_redirect_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, fail_for: list[str]
) -> None:
    outbox = FakeOutbox(fail_for)
    plugin = make_plugin(tmp_path, outbox)
    body = 'addflag "$fwd"; redirect "a@x.org"; redirect "b@x.org";'
    verdict = deliver(plugin, body, mailbox="Junk")
    assert verdict == DeliveryVerdict(mailboxes=("Junk",), flags=frozenset({"$fwd"}))
    assert "redirect to <b@x.org> failed, message kept: outbox: the queue is full" in caplog.text
    assert [r for _s, r, _m in outbox.sent] == ([] if "*" in fail_for else [["a@x.org"]])


def test_hook_keeps_the_filed_copies_too_when_a_redirect_fails(tmp_path: Path) -> None:
    plugin = make_plugin(tmp_path, FakeOutbox(["*"]))
    verdict = deliver(plugin, 'fileinto "A"; redirect "a@x.org";')
    assert verdict == DeliveryVerdict(mailboxes=("A", "INBOX"))


def test_hook_without_an_outbox_keeps(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    plugin = make_plugin(tmp_path, None)
    assert deliver(plugin, 'redirect "a@x.org";') == DeliveryVerdict(mailboxes=("INBOX",))
    assert "no outbox, redirect not sent, message kept" in caplog.text


def test_hook_loop_means_implicit_keep_and_nothing_sent(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = FakeOutbox()
    plugin = make_plugin(tmp_path, outbox)
    looped = f"{LOOP_FIELD}: {USER}\r\n".encode() + MESSAGE
    assert deliver(plugin, 'fileinto "A"; redirect "a@x.org";', message=looped) is None
    assert outbox.sent == []
    assert "mail loop" in caplog.text and USER in caplog.text


def test_hook_cap_and_forbidden_redirect_keep(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = FakeOutbox()
    (tmp_path / "a").mkdir()
    capped = make_plugin(tmp_path / "a", outbox, max_redirects=1)
    assert deliver(capped, 'redirect "a@x.org"; redirect "b@x.org";') is None
    assert "more than 1 redirects" in caplog.text
    (tmp_path / "b").mkdir()
    forbidden = make_plugin(tmp_path / "b", outbox, max_redirects=0)
    assert deliver(forbidden, 'redirect "a@x.org";') is None
    assert "max_redirects = 0" in caplog.text
    assert outbox.sent == []


def test_max_redirects_setting() -> None:
    assert SieveSettings().max_redirects == 4
    with pytest.raises(ValueError, match="max_redirects"):
        SieveSettings(max_redirects=101)
    with pytest.raises(ValueError, match="max_redirects"):
        SieveSettings(max_redirects=-1)
