"""Parsing rspamd's /checkv2 JSON answer: real answers, malformed ones, and any JSON."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trimail_rspamd import Action, MalformedReply, ScanResult, Symbol, parse_reply
from trimail_rspamd.result import MAX_MILTER_HEADERS, MAX_REPLY_BYTES

# What rspamd 3.4 answered for an ordinary message and for GTUBE (trimmed).
HAM = {
    "is_skipped": False,
    "score": 0.4,
    "required_score": 15.0,
    "action": "no action",
    "symbols": {
        "FROM_NO_DN": {"name": "FROM_NO_DN", "score": 0.0, "metric_score": 0.0},
        "RCVD_COUNT_ZERO": {"name": "RCVD_COUNT_ZERO", "score": 0.4, "options": ["0"]},
    },
    "messages": {},
    "message-id": "x1@example.org",
    "time_real": 0.18,
    "milter": {
        "remove_headers": {"X-Spam": 0, "X-Spamd-Bar": 0},
        "add_headers": {"X-Spamd-Bar": {"order": -1, "value": "/"}},
    },
}
GTUBE = {
    "is_skipped": True,
    "score": 15.0,
    "required_score": 15.0,
    "action": "reject",
    "symbols": {"GTUBE": {"name": "GTUBE", "score": 0.0, "metric_score": 0.0}},
    "messages": {"smtp_message": "Gtube pattern"},
}


def parse(data: Any) -> ScanResult:
    return parse_reply(json.dumps(data).encode())


def test_an_ordinary_answer() -> None:
    result = parse(HAM)
    assert result == ScanResult(
        action=Action.NO_ACTION,
        score=0.4,
        required_score=15.0,
        symbols=(
            Symbol(name="FROM_NO_DN", score=0.0),
            Symbol(name="RCVD_COUNT_ZERO", score=0.4, options=("0",)),
        ),
        milter_headers=(("X-Spamd-Bar", "/"),),
    )
    assert not result.is_spam


def test_gtube_is_a_reject_with_a_message() -> None:
    result = parse(GTUBE)
    assert result.action is Action.REJECT and result.is_spam
    assert result.smtp_message == "Gtube pattern"


@pytest.mark.parametrize("action", list(Action))
def test_every_action(action: Action) -> None:
    result = parse({"action": action.value, "score": 1})
    assert result.action is action and result.score == 1.0 and result.required_score == 0.0
    assert result.is_spam is (action not in (Action.NO_ACTION, Action.GREYLIST))


def test_rewrite_subject_carries_the_subject() -> None:
    result = parse({"action": "rewrite subject", "score": 7, "subject": "*** SPAM *** hi"})
    assert result.subject == "*** SPAM *** hi"


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"", "not JSON"),
        (b"<html>502 Bad Gateway</html>", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[]", "a JSON list instead of an object"),
        (b'"reject"', "a JSON str instead of an object"),
        (b"{}", "the action is missing"),
        (b'{"action": "discard", "score": 1}', "unknown action 'discard'"),
        (b'{"action": ["reject"], "score": 1}', "unknown action"),
        (b'{"action": "reject"}', "no numeric score"),
        (b'{"action": "reject", "score": "15"}', "no numeric score"),
        (b'{"action": "reject", "score": true}', "no numeric score"),
        (b'{"action": "reject", "score": NaN}', "NaN is not a JSON number"),
        (b'{"action": "reject", "score": Infinity}', "is not a JSON number"),
        (b'{"action": "reject", "score": 1e999}', "no numeric score"),
        (b'{"error": "invalid command", "error_domain": "protocol-error"}', "rspamd error"),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
)
def test_malformed_answers(body: bytes, why: str) -> None:
    with pytest.raises(MalformedReply) as caught:
        parse_reply(body)
    assert why in str(caught.value)


def test_a_huge_answer_is_refused() -> None:
    with pytest.raises(MalformedReply, match="reply over"):
        parse_reply(b" " * (MAX_REPLY_BYTES + 1))


def test_bad_parts_that_only_inform_are_dropped() -> None:
    result = parse(
        {
            "action": "add header",
            "score": 7.5,
            "required_score": "x",
            "symbols": {
                "GOOD": {"score": 1, "options": ["a", 5, None, "b"]},
                "NO_SCORE": {"name": "NO_SCORE"},
                "NOT_AN_OBJECT": 3,
                "BAD_NAME": {"name": 7, "score": 1},
            },
            "messages": {"smtp_message": ["not", "text"]},
            "subject": 5,
            "milter": {
                "add_headers": {
                    "X-A": "plain",
                    "X-B": [{"value": "one", "order": 2}, {"value": "two", "order": 1}],
                    "X-C": {"order": 1},
                    "X-D": 5,
                }
            },
        }
    )
    assert result.required_score == 0.0
    assert result.symbols == (Symbol(name="GOOD", score=1.0, options=("a", "b")),)
    assert result.smtp_message is None and result.subject is None
    assert result.milter_headers == (("X-A", "plain"), ("X-B", "two"), ("X-B", "one"))


def test_milter_headers_are_capped() -> None:
    headers = {f"X-H{i}": str(i) for i in range(100)}
    result = parse({"action": "no action", "score": 0, "milter": {"add_headers": headers}})
    assert len(result.milter_headers) == MAX_MILTER_HEADERS


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)
# Objects shaped like rspamd's, with any value in any place.
reply_like = st.fixed_dictionaries(
    {},
    optional={
        "action": st.sampled_from([a.value for a in Action]) | json_values,
        "score": st.floats(allow_nan=False) | json_values,
        "required_score": json_values,
        "symbols": st.dictionaries(
            st.text(), st.fixed_dictionaries({}, optional={"score": json_values,
            "options": json_values, "name": json_values}) | json_values, max_size=4
        ) | json_values,
        "messages": st.fixed_dictionaries({}, optional={"smtp_message": json_values}) | json_values,
        "milter": st.fixed_dictionaries({}, optional={"add_headers": json_values}) | json_values,
        "subject": json_values,
    },
)  # fmt: skip


@given(reply_like | json_values)
def test_any_json_gives_a_result_or_malformed_reply(data: Any) -> None:
    try:
        result = parse_reply(json.dumps(data).encode())
    except MalformedReply:
        return
    assert isinstance(result.action, Action)
    assert all(isinstance(s.name, str) for s in result.symbols)
    assert all(isinstance(n, str) and isinstance(v, str) for n, v in result.milter_headers)


@given(st.binary(max_size=300))
def test_any_bytes_give_a_result_or_malformed_reply(body: bytes) -> None:
    with contextlib.suppress(MalformedReply):
        parse_reply(body)
