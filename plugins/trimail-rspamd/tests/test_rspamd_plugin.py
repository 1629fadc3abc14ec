"""The message filter hook against a fake rspamd: each action's verdict, the error policy,
and the messages that are not scanned."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from trimail_rspamd import RspamdPlugin, RspamdSettings
from trimail_rspamd import plugin as registered
from trimail_rspamd.testing import Answer, FakeRspamd, Request, answer_json, unused_port

from trimail.config.model import Config
from trimail.mail.address import Mailbox
from trimail.mail.envelope import Envelope
from trimail.mail.reply import Reply
from trimail.plugins import PluginContext, make_plugin_manager
from trimail.server.session_info import SessionInfo
from trimail.verdicts import MessageVerdict, Reject

MESSAGE = b"From: a@example.org\r\nSubject: hi\r\n\r\nHello.\r\n"
SESSION = SessionInfo(
    listener="smtp", peer_host="192.0.2.7", peer_port=40000, local_host="127.0.0.1",
    local_port=25, helo_identity="mail.example.org",
)  # fmt: skip
AUTHED = SessionInfo(
    listener="submission", peer_host="192.0.2.8", peer_port=40000, local_host="127.0.0.1",
    local_port=587, helo_identity="laptop", authenticated_as="alice@example.org",
)  # fmt: skip
ENVELOPE = Envelope(
    reverse_path=Mailbox(local_part="a", domain="example.org"),
    forward_paths=(Mailbox(local_part="b", domain="example.net"),),
)


def config(**table: Any) -> Config:
    return Config(plugin={"rspamd": table})


def scan(
    cfg: Config, session: SessionInfo = SESSION, message: bytes = MESSAGE
) -> MessageVerdict | None:
    verdict: MessageVerdict | None = RspamdPlugin().trimail_message_filter(
        session=session, envelope=ENVELOPE, message=message, config=cfg
    )
    return verdict


def answering(data: dict[str, Any]) -> FakeRspamd:
    return FakeRspamd(lambda _r: answer_json(data))


def test_reject_is_554_with_rspamds_text() -> None:
    with answering(
        {"action": "reject", "score": 20, "messages": {"smtp_message": "Go\r\naway é"}}
    ) as fake:
        verdict = scan(config(url=fake.url))
    assert verdict == MessageVerdict(
        reject=Reject(reply=Reply(code=554, enhanced_status="5.7.1", text="Go away ?"))
    )


def test_reject_without_a_message_has_our_text() -> None:
    with answering({"action": "reject", "score": 20}) as fake:
        verdict = scan(config(url=fake.url))
    assert verdict is not None and verdict.reject is not None
    assert verdict.reject.reply.text == ("Message rejected as spam",)


@pytest.mark.parametrize("action", ["soft reject", "greylist"])
def test_soft_reject_and_greylist_are_451(action: str) -> None:
    with answering(
        {"action": action, "score": 5, "messages": {"smtp_message": "Try again later"}}
    ) as fake:
        verdict = scan(config(url=fake.url))
    assert verdict == MessageVerdict(
        reject=Reject(reply=Reply(code=451, enhanced_status="4.7.1", text="Try again later"))
    )


@pytest.mark.parametrize("action", ["add header", "rewrite subject"])
def test_spam_is_marked_and_filed_as_junk(action: str) -> None:
    answer = {
        "action": action, "score": 8.25, "required_score": 15, "subject": "*** SPAM *** hi",
        "symbols": {"BAYES_SPAM": {"score": 5.1, "options": ["99%"]}},
        "milter": {"add_headers": {"X-Spamd-Bar": {"value": "++++++++", "order": 0},
                                   "Subject": "*** SPAM *** hi", "X-Spam": "No"}},
    }  # fmt: skip
    with answering(answer) as fake:
        verdict = scan(config(url=fake.url, junk_mailbox="Spam"))
    assert verdict == MessageVerdict(
        add_headers=(
            "X-Spamd-Result: default: True [8.25 / 15.00]; BAYES_SPAM(5.10)[99%]",
            "X-Spam-Score: 8.25",
            "X-Spam: Yes",
            "X-Spamd-Bar: ++++++++",
        ),
        mailbox_name="Spam",
    )


def test_ham_gets_the_result_fields_only() -> None:
    with answering({"action": "no action", "score": -0.5, "required_score": 15}) as fake:
        verdict = scan(config(url=fake.url))
    assert verdict == MessageVerdict(
        add_headers=("X-Spamd-Result: default: False [-0.50 / 15.00]", "X-Spam-Score: -0.50")
    )


def test_authenticated_clients_are_not_scanned_by_default() -> None:
    with answering({"action": "reject", "score": 20}) as fake:
        assert scan(config(url=fake.url), session=AUTHED) is None
        verdict = scan(config(url=fake.url, scan_outbound=True), session=AUTHED)
    assert verdict is not None and verdict.reject is not None
    [request] = fake.requests
    assert request.values("User") == ["alice@example.org"]


def test_a_message_over_the_limit_is_not_scanned() -> None:
    with answering({"action": "reject", "score": 20}) as fake:
        verdict = scan(config(url=fake.url, max_size_bytes=len(MESSAGE) - 1))
        assert scan(config(url=fake.url, max_size_bytes=len(MESSAGE))) is not None
    assert verdict == MessageVerdict(add_headers=("X-Spamd-Result: skipped (message too big)",))
    assert len(fake.requests) == 1


def test_without_the_table_the_plugin_is_off() -> None:
    assert scan(Config()) is None


def refused() -> str:
    return f"http://127.0.0.1:{unused_port()}"


FAILURES: list[tuple[str, Answer | None]] = [
    ("refused", None),
    ("timeout", Answer(body="{}", delay_seconds=3)),
    ("http 500", answer_json({"error": "oops"}, status=500)),
    ("bad json", Answer(body="{not json")),
    ("unknown action", answer_json({"action": "discard", "score": 1})),
]


@pytest.mark.parametrize(("what", "answer"), FAILURES, ids=[f[0] for f in FAILURES])
@pytest.mark.parametrize("on_error", ["accept", "tempfail"])
def test_failures_follow_on_error(
    what: str, answer: Answer | None, on_error: str, caplog: pytest.LogCaptureFixture
) -> None:
    def respond(_request: Request) -> Answer:
        assert answer is not None
        return answer

    with FakeRspamd(respond) as fake, caplog.at_level(logging.WARNING, "trimail.rspamd"):
        url = refused() if answer is None else fake.url
        verdict = scan(config(url=url, on_error=on_error, timeout_seconds=0.2))
    if on_error == "accept":
        assert verdict == MessageVerdict(add_headers=("X-Spamd-Result: unavailable",))
        assert "message accepted unscanned" in caplog.text
    else:
        assert verdict == MessageVerdict(
            reject=Reject(
                reply=Reply(
                    code=451,
                    enhanced_status="4.3.0",
                    text="Spam filter unavailable, try again later",
                )
            )
        )
        assert "message refused with 451" in caplog.text


def test_startup_takes_the_settings_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugin = RspamdPlugin()
    cfg = Config(plugin={"rspamd": {}}, plugin_timeout_seconds=10.0)
    settings = RspamdSettings(url="http://192.0.2.1:11333", timeout_seconds=30)
    context = PluginContext(config=cfg, data_dir=tmp_path, tables={"rspamd": settings})
    with caplog.at_level(logging.INFO, "trimail.rspamd"):
        plugin.trimail_startup(context=context)
    assert plugin.settings_for(cfg) is settings
    assert "plain http to a remote host" in caplog.text
    assert "timeout_seconds (30) should be below plugin_timeout_seconds (10)" in caplog.text
    plugin.trimail_shutdown()
    assert plugin.settings is None


def test_startup_without_the_table_does_nothing(tmp_path: Path) -> None:
    plugin = RspamdPlugin()
    plugin.trimail_startup(context=PluginContext(config=Config(), data_dir=tmp_path))
    assert plugin.settings is None


def test_the_entry_point_registers_the_plugin_only_with_its_table() -> None:
    pm = make_plugin_manager(config(url="http://127.0.0.1:11333"))
    assert pm.get_plugin("trimail_rspamd") is registered
    assert pm.tables["rspamd"] == RspamdSettings()
    off = make_plugin_manager(Config())
    assert off.get_plugin("trimail_rspamd") is None
    assert "trimail_rspamd" in off.disabled
