"""The hooks, called through pluggy as the server calls them, with a static resolver."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path
from typing import Any

import pytest
from trimail_dnsbl import (
    DnsblList,
    DnsblPlugin,
    DnsblResult,
    DnsblSettings,
    Listing,
    header_field,
    plugin,
    reject_reply,
)
from trimail_dnsbl.replies import HEADER_NAME

from trimail.config.model import Config
from trimail.mail.address import Mailbox
from trimail.mail.envelope import Envelope
from trimail.mailauth.resolver import StaticResolver, TempError
from trimail.plugins import PluginContext, Plugins
from trimail.server.session_info import SessionInfo
from trimail.verdicts import MessageVerdict, Reject

LISTED = "192.0.2.2"
CLEAN = "192.0.2.3"
REASON = "Listed: see https://zen.example/q?192.0.2.2"
RECORDS: dict[str, Any] = {
    "2.2.0.192.zen.example": [("A", "127.0.0.2"), REASON],
    "2.2.0.192.half.example": [("A", "127.0.0.3")],
    "3.2.0.192.half.example": [("A", "127.0.0.3")],
}
ENVELOPE = Envelope(reverse_path=Mailbox(local_part="sender", domain="remote.example"))
USER = Mailbox(local_part="user", domain="example.org")
MESSAGE = b"From: a@remote.example\r\nSubject: hi\r\n\r\nbody\r\n"
HEADER_FIELD = re.compile(r"[\x21-\x39\x3b-\x7e]+:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*")  # as delivery.py


def session(peer: str = LISTED, **kwargs: Any) -> SessionInfo:
    fields: dict[str, Any] = {
        "listener": "smtp",
        "peer_host": peer,
        "peer_port": 40000,
        "local_host": "192.0.2.25",
        "local_port": 25,
    }
    return SessionInfo(**(fields | kwargs))


def started(
    tmp_path: Path, resolver: Any = None, **table: Any
) -> tuple[Plugins, DnsblPlugin, StaticResolver]:
    """A plugin manager with a fresh DnsblPlugin, started as the server starts it."""
    resolver = resolver if resolver is not None else StaticResolver(RECORDS)
    lists = table.pop("lists", (DnsblList(zone="zen.example"),))
    settings = DnsblSettings(lists=lists, **table)
    instance = DnsblPlugin()
    pm = Plugins()
    pm.register(instance, name="trimail_dnsbl")
    pm.check_pending()
    context = PluginContext(
        config=Config(), data_dir=tmp_path, tables={"dnsbl": settings}, resolver=resolver
    )
    pm.hook.trimail_startup(context=context)
    return pm, instance, resolver


def connect(pm: Plugins, info: SessionInfo) -> Reject | None:
    results = pm.hook.trimail_smtp_connect(session=info)
    return results[0] if results else None


def rcpt(pm: Plugins, info: SessionInfo, forward_path: Mailbox = USER) -> Reject | None:
    results = pm.hook.trimail_smtp_rcpt_to(
        session=info, envelope=ENVELOPE, forward_path=forward_path
    )
    return results[0] if results else None


def message(pm: Plugins, info: SessionInfo, resolver: Any) -> MessageVerdict | None:
    results = pm.hook.trimail_message_filter(
        session=info,
        envelope=ENVELOPE,
        message=MESSAGE,
        config=Config(),
        resolver=resolver,
        queue_id="0a1b",
    )
    return results[0] if results else None


def test_the_entry_point_names_the_plugin_instance() -> None:
    (entry,) = importlib.metadata.entry_points(group="trimail", name="trimail_dnsbl")
    assert entry.load() is plugin
    assert isinstance(plugin, DnsblPlugin)


def test_reject_at_rcpt_refuses_each_recipient_but_postmaster(tmp_path: Path) -> None:
    pm, _, resolver = started(tmp_path)
    assert connect(pm, session()) is None
    reject = rcpt(pm, session())
    assert reject is not None
    assert reject.reply.code == 554 and reject.reply.enhanced_status == "5.7.1"
    assert reject.reply.text == (
        f"Service unavailable; client host [{LISTED}] blocked using zen.example; {REASON}",
    )
    assert rcpt(pm, session(), Mailbox(local_part="PostMaster", domain="example.org")) is None
    assert rcpt(pm, session(), Mailbox(local_part="postmaster", domain="")) is None
    assert rcpt(pm, session(CLEAN)) is None
    assert resolver.lookups.count(("2.2.0.192.zen.example", "A")) == 1  # cached


def test_postmaster_is_refused_too_without_allow_postmaster(tmp_path: Path) -> None:
    pm, _, _ = started(tmp_path, allow_postmaster=False)
    assert rcpt(pm, session(), Mailbox(local_part="postmaster", domain="example.org")) is not None


def test_reject_at_connect_greets_with_554(tmp_path: Path) -> None:
    pm, _, _ = started(tmp_path, reject_at="connect")
    reject = connect(pm, session())
    assert reject is not None and reject.reply.code == 554
    assert connect(pm, session(CLEAN)) is None
    assert rcpt(pm, session()) is None  # decided at connect


def test_submission_authenticated_and_internal_clients_are_never_checked(tmp_path: Path) -> None:
    pm, _, resolver = started(tmp_path, reject_at="connect")
    assert connect(pm, session(listener="submission")) is None
    assert connect(pm, session(listener="submissions")) is None
    assert connect(pm, session(authenticated_as="user@example.org")) is None
    assert connect(pm, session("127.0.0.1")) is None
    assert connect(pm, session("10.1.2.3")) is None
    assert resolver.lookups == []
    pm, _, resolver = started(tmp_path)
    assert rcpt(pm, session(authenticated_as="user@example.org")) is None
    assert message(pm, session(listener="submission"), resolver) is None
    assert resolver.lookups == []


def test_a_dns_failure_lets_mail_through(tmp_path: Path) -> None:
    resolver = StaticResolver(RECORDS, failing=["2.2.0.192.zen.example"])
    pm, _, _ = started(tmp_path, resolver)
    assert rcpt(pm, session()) is None
    assert message(pm, session(), resolver) is None


def test_reject_mode_tags_postmaster_mail_and_keeps_it_in_inbox(tmp_path: Path) -> None:
    pm, _, resolver = started(tmp_path)
    verdict = message(pm, session(), resolver)
    assert verdict is not None and verdict.mailbox_name is None
    (field,) = verdict.add_headers
    assert field.startswith("X-DNSBL: listed in zen.example (weight 1.0) 127.0.0.2 ")


def test_tag_files_into_junk_at_the_threshold(tmp_path: Path) -> None:
    lists = (DnsblList(zone="zen.example"), DnsblList(zone="half.example", weight=0.5))
    pm, _, resolver = started(tmp_path, lists=lists, action="tag", threshold=1.5)
    assert connect(pm, session()) is None and rcpt(pm, session()) is None
    verdict = message(pm, session(), resolver)
    assert verdict is not None and verdict.mailbox_name == "Junk"
    (field,) = verdict.add_headers
    assert HEADER_FIELD.fullmatch(field)
    assert field == (
        f'X-DNSBL: listed in zen.example (weight 1.0) 127.0.0.2 "{REASON}",\r\n'
        " listed in half.example (weight 0.5) 127.0.0.3;\r\n"
        f" client={LISTED} score=1.5 threshold=1.5"
    )
    verdict = message(pm, session(CLEAN), resolver)  # listed, but below the threshold
    assert verdict is not None and verdict.mailbox_name is None
    assert verdict.add_headers[0].endswith("score=0.5 threshold=1.5")
    assert message(pm, session("192.0.2.4"), resolver) is None  # not listed anywhere


def test_message_filter_uses_the_hooks_resolver(tmp_path: Path) -> None:
    pm, _, context_resolver = started(tmp_path, action="tag")
    own = StaticResolver(RECORDS)
    verdict = message(pm, session(), own)
    assert verdict is not None and verdict.mailbox_name == "Junk"
    assert context_resolver.lookups == [] and own.lookups


def test_without_a_table_or_before_startup_nothing_happens(tmp_path: Path) -> None:
    instance = DnsblPlugin()
    pm = Plugins()
    pm.register(instance)
    resolver = StaticResolver(RECORDS)
    assert connect(pm, session()) is None and rcpt(pm, session()) is None
    assert message(pm, session(), resolver) is None
    pm.hook.trimail_startup(context=PluginContext(config=Config(), data_dir=tmp_path))
    assert instance.settings is None
    assert message(pm, session(), resolver) is None
    assert resolver.lookups == []


def test_shutdown_forgets_everything(tmp_path: Path) -> None:
    pm, instance, _ = started(tmp_path)
    pm.hook.trimail_shutdown(context=PluginContext(config=Config(), data_dir=tmp_path))
    assert instance.checker is None and rcpt(pm, session()) is None


def test_no_resolver_from_the_context_only_messages_are_checked(tmp_path: Path) -> None:
    instance = DnsblPlugin()
    settings = DnsblSettings(lists=(DnsblList(zone="zen.example"),), action="tag")
    context = PluginContext(config=Config(), data_dir=tmp_path, tables={"dnsbl": settings})
    instance.trimail_startup(context)
    assert instance.trimail_smtp_connect(session()) is None
    verdict = instance.trimail_message_filter(session(), StaticResolver(RECORDS))
    assert verdict is not None and verdict.mailbox_name == "Junk"


def test_reject_reply_has_one_line_per_list() -> None:
    result = DnsblResult(
        address="2001:db8::1",
        threshold=1.0,
        listings=(
            Listing(zone="a.example", weight=1.0, codes=("127.0.0.2",), reason="why"),
            Listing(zone="b.example", weight=1.0, codes=("127.0.0.3",)),
        ),
    )
    reply = reject_reply(result)
    assert reply.text == (
        "Service unavailable; client host [2001:db8::1] blocked using a.example; why",
        "Service unavailable; client host [2001:db8::1] blocked using b.example",
    )


def test_header_field_names_unanswered_lists_and_quotes_safely() -> None:
    result = DnsblResult(
        address="192.0.2.1",
        threshold=2.0,
        listings=(Listing(zone="a.example", weight=0.25, codes=("127.0.0.2",), reason='say "x"'),),
        failed=("b.example", "c.example"),
    )
    field = header_field(result)
    assert HEADER_FIELD.fullmatch(field)
    assert field == (
        f"{HEADER_NAME}: listed in a.example (weight 0.25) 127.0.0.2 \"say 'x'\";\r\n"
        " client=192.0.2.1 score=0.25 threshold=2.0;\r\n"
        " unanswered: b.example,\r\n c.example"
    )


def test_a_temperror_in_txt_still_rejects(tmp_path: Path) -> None:
    resolver = StaticResolver(RECORDS, failing=[("2.2.0.192.zen.example", "TXT")])
    pm, _, _ = started(tmp_path, resolver)
    reject = rcpt(pm, session())
    assert reject is not None
    assert reject.reply.text == (
        f"Service unavailable; client host [{LISTED}] blocked using zen.example",
    )
    with pytest.raises(TempError):
        resolver.lookup("2.2.0.192.zen.example", "TXT")


def test_reply_lines_stay_within_512_octets() -> None:
    zone = ".".join(["z" * 59] * 4)  # 239 characters
    result = DnsblResult(
        address="192.0.2.1",
        threshold=1.0,
        listings=(Listing(zone=zone, weight=1.0, codes=("127.0.0.2",), reason="r" * 210),),
    )
    (line,) = reject_reply(result).text
    assert len(f"554 5.7.1 {line}\r\n") == 512 and line.endswith("r...")
