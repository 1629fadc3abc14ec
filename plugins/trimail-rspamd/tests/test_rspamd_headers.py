"""The fields the plugin adds: folding (RFC 5322 §2.2.3), X-Spamd-Result, and which of
rspamd's own header requests are safe."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from trimail_rspamd import fold, printable, safe_milter_headers, spamd_result, unfold
from trimail_rspamd.headers import (
    MAX_LINE,
    MAX_RESULT,
    MAX_WORD,
    reply_text,
    result_fields,
    unavailable_field,
)
from trimail_rspamd.result import Action, ScanResult, Symbol

# One header field as trimail's delivery accepts it (trimail.server.delivery._ONE_FIELD).
ONE_FIELD = re.compile(r"[\x21-\x39\x3b-\x7e]+:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*")


def test_printable_makes_one_clean_line() -> None:
    assert printable("  a\r\n\tb  c\x00d\x7fé€ ") == "a b c d???"
    assert printable("") == ""
    assert printable("x" * (MAX_WORD + 50)) == "x" * MAX_WORD


def test_fold_breaks_before_spaces() -> None:
    value = " ".join(f"WORD{i:02d}" for i in range(30))
    field = fold("X-Test", value)
    lines = field.split("\r\n")
    assert len(lines) > 1
    assert all(len(line) <= MAX_LINE for line in lines)
    assert all(line.startswith(" ") for line in lines[1:])
    assert unfold(field) == f"X-Test: {value}"


def test_fold_keeps_a_long_word_whole() -> None:
    word = "W" * 120
    assert fold("X-T", f"a {word} b") == f"X-T: a\r\n {word}\r\n b"
    assert fold("X-T", "") == "X-T:"


fields = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=":"),
                 min_size=1, max_size=40)  # fmt: skip


@given(fields, st.text(max_size=600), st.integers(min_value=40, max_value=200))
def test_folding_round_trips_and_keeps_lines_short(name: str, text: str, limit: int) -> None:
    value = printable(text)
    field = fold(name, value, limit)
    assert ONE_FIELD.fullmatch(field)
    assert unfold(field) == (f"{name}: {value}" if value else f"{name}:")
    for line in field.split("\r\n"):
        assert line.strip(" ")  # no line of white space only (RFC 5322 §3.2.2)
        assert len(line) <= limit or " " not in line.strip(" ") or line.startswith(f"{name}: ")
        assert len(line) <= 998  # RFC 5322 §2.1.1
        assert line == line.rstrip(" ")


@given(st.text(max_size=300))
def test_unfold_removes_only_folding(text: str) -> None:
    assert "\r\n " not in unfold(text) and "\r\n\t" not in unfold(text)


def test_spamd_result_layout() -> None:
    result = ScanResult(
        action=Action.ADD_HEADER,
        score=7.5,
        required_score=15,
        symbols=(
            Symbol(name="LOW", score=0.5, options=("a", "b c")),
            Symbol(name="HIGH", score=7.0),
            Symbol(name="NEG", score=-1.0, options=("x\r\nX-Evil: 1",)),
        ),
    )
    field = spamd_result(result)
    assert unfold(field) == (
        "X-Spamd-Result: default: True [7.50 / 15.00]; HIGH(7.00); LOW(0.50)[a, b c];"
        " NEG(-1.00)[x X-Evil: 1]"
    )
    assert ONE_FIELD.fullmatch(field)
    assert result_fields(result) == (field, "X-Spam-Score: 7.50", "X-Spam: Yes")


def test_ham_has_no_x_spam() -> None:
    result = ScanResult(action=Action.NO_ACTION, score=-0.1, required_score=15)
    assert result_fields(result) == (
        "X-Spamd-Result: default: False [-0.10 / 15.00]",
        "X-Spam-Score: -0.10",
    )


def test_spamd_result_is_bounded() -> None:
    symbols = tuple(
        Symbol(name=f"SYM_{i:03d}", score=1.0, options=("o" * 70,) * 10) for i in range(500)
    )
    field = spamd_result(ScanResult(action=Action.REJECT, score=500, symbols=symbols))
    assert len(unfold(field)) < MAX_RESULT + 1000
    assert re.search(r"\(\d+ more\)$", field)
    for line in field.split("\r\n"):  # folded at every space that keeps lines short
        assert len(line) <= MAX_LINE or " " not in line.strip(" ")


def test_unavailable_field() -> None:
    assert unavailable_field() == "X-Spamd-Result: unavailable"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Gtube pattern", "Gtube pattern"),
        ("spam\r\n250 OK injected", "spam 250 OK injected"),
        ("Ünïcode ✓", "?n?code ?"),
        ("", "default text"),
        (None, "default text"),
        (" \t ", "default text"),
        ("x" * 1000, "x" * 200),
    ],
)
def test_reply_text_is_safe(text: str | None, shown: str) -> None:
    assert reply_text(text, "default text") == shown


def test_milter_headers_kept_and_dropped() -> None:
    pairs = [
        ("X-Spamd-Bar", "+++"),
        ("X-Rspamd-Server", "rspamd.example"),
        ("x-spam-level", "*****"),
        ("X-Folded", "one\r\n\ttwo\n three"),
        ("X-Encoded", "=?UTF-8?B?w6k=?="),
        ("X-Spamd-Result", "default: False [-100 / 15]"),  # ours: never from rspamd
        ("X-Spam", "No"),
        ("x-spam-score", "0"),
        ("Authentication-Results", "mx; spf=pass"),  # not an X- field
        ("Received", "from evil"),
        ("Subject", "*** SPAM ***"),
        ("X-Bad Name", "v"),
        ("X-Colon:", "v"),
        ("X-", "v"),
        ("X-Smuggle", "a\r\nX-Other: b"),  # a line break not followed by WSP
        ("X-Utf8", "é"),
        ("X-Nul", "a\x00b"),
        ("X-Long", "v" * 3000),
    ]
    assert safe_milter_headers(pairs) == (
        "X-Spamd-Bar: +++",
        "X-Rspamd-Server: rspamd.example",
        "x-spam-level: *****",
        "X-Folded: one two three",
        "X-Encoded: =?UTF-8?B?w6k=?=",
    )


@given(st.lists(st.tuples(st.text(max_size=30), st.text(max_size=200)), max_size=10))
def test_milter_headers_are_always_single_fields(pairs: list[tuple[str, str]]) -> None:
    for field in safe_milter_headers(pairs):
        assert ONE_FIELD.fullmatch(field), field
        assert field.lower().startswith("x-")
        assert all(len(line) <= 998 for line in field.split("\r\n"))
