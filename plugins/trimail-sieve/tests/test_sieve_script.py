"""Parsing and checking scripts: errors with positions, capabilities, limits, strings;
never a crash on arbitrary input."""

from __future__ import annotations

import contextlib
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trimail_sieve.script import (
    CAPABILITIES,
    MAX_NESTING,
    FileInto,
    FlagAction,
    HeaderTest,
    If,
    Keep,
    Redirect,
    RejectAction,
    ScriptError,
    Vacation,
    compile_script,
)


def test_empty_script_is_valid() -> None:
    assert compile_script(b"").commands == ()
    assert compile_script(b"# only a comment\r\n/* and another */").commands == ()


@pytest.mark.parametrize(
    ("source", "line", "column", "words"),
    [
        (b'require "foo";', 1, 9, "unknown capability 'foo'"),
        (b'require ["fileinto", "body"];\nkeep;', 1, 22, "unknown capability 'body'"),
        (b'keep;\nrequire "fileinto";', 2, 1, "require must come before"),
        (b'fileinto "x";', 1, None, "extension 'fileinto' not loaded"),
        (b"keep", 1, None, "incomplete command keep"),
        (b"keep;;", 1, 6, "unexpected token ';'"),
        (b"if true {\n  keep;\n", 3, None, "right_cbracket"),
        (b'redirect "nobody";', 1, 10, "'nobody' is not a valid address: an address needs"),
        (b'keep;\nredirect "a@b..c";', 2, 10, "'a@b..c' is not a valid address: bad address"),
        (b'redirect "@relay:a@b.c";', 1, 10, "source routes are not allowed"),
        (b'redirect "Carol <carol>";', 1, 10, "not a valid address"),
        (b'redirect :copy "a@b.c";', 1, None, "extension 'copy' not loaded"),
        (b'if true {\n  redirect "x" ;\n}', 2, 12, "not a valid address"),
        (b'if address "subject" "x" { keep; }', 1, 12, "not a header field with addresses"),
        (b'require "envelope";\nif envelope "auth" "x" {}', 2, 13, "unknown envelope part"),
        (b'require "fileinto";\nfileinto "a//b";', 2, 10, "not a valid mailbox name"),
        (
            b'require "imap4flags";\naddflag "\\\\Recent";',
            2,
            None,
            "not a system flag that can be set",
        ),
        (b'require "imap4flags";\naddflag "a(b";', 2, 9, "not a valid IMAP keyword"),
        (b'require "imap4flags";\nsetflag "var" "\\\\Seen";', 2, 1, "variables"),
        (b'if header :comparator "i;unicode-casemap" "a" "b" {}', 1, None, "comparator"),
        (b'if size :over "10" {}', 1, None, "bad argument"),
        (b'if header :is :contains "a" "b" {}', 1, None, "a single match-type"),
        (b'require "reject";\nreject "\xff";', 2, None, "not UTF-8"),
        (b'require "vacation";\nvacation :from "nobody" "x";', 2, 16, "not an address"),
        (b"elsif true {}", 1, None, "must follow an if"),
        (b"if anyof(true) false { keep; }", 1, 16, "';' or '{' expected"),
    ],
)
def test_errors_name_the_place(source: bytes, line: int, column: int | None, words: str) -> None:
    with pytest.raises(ScriptError) as caught:
        compile_script(source)
    assert words in caught.value.message
    assert caught.value.line == line
    if column is not None:
        assert caught.value.column == column
    assert str(caught.value).startswith(f"line {line}")


def test_every_capability_can_be_required() -> None:
    listed = ", ".join(f'"{c}"' for c in CAPABILITIES)
    script = compile_script(f"require [{listed}];".encode())
    assert script.capabilities == frozenset(CAPABILITIES)


def test_size_limit() -> None:
    with pytest.raises(ScriptError, match="over the limit of 1024"):
        compile_script(b"#" * 1025, max_bytes=1024)
    compile_script(b"#" * 1024, max_bytes=1024)


def test_nesting_limit() -> None:
    deep = b"if true {" * (MAX_NESTING + 2) + b"}" * (MAX_NESTING + 2)
    with pytest.raises(ScriptError, match="nested more than"):
        compile_script(deep)
    nots = b"if " + b"not " * (MAX_NESTING + 2) + b"true {}"
    with pytest.raises(ScriptError, match="nested more than"):
        compile_script(nots)
    ok = b"if true {" * 8 + b"keep;" + b"}" * 8
    assert compile_script(ok).commands


def test_strings_quoted_and_multiline() -> None:
    script = compile_script(
        b'require ["reject", "fileinto"];\n'
        b'fileinto "a\\"b\\\\c\\d";\n'
        b"reject text: # comment\r\n"
        b"line one\r\n"
        b"..dot-stuffed\r\n"
        b".kept as it is\r\n"
        b".\r\n"
        b";\n"
    )
    fileinto, reject = script.commands
    assert fileinto == FileInto(mailbox='a"b\\cd')
    # RFC 5228 §8.1: only a "." followed by another "." is removed
    assert reject == RejectAction(reason="line one\n.dot-stuffed\n.kept as it is\n")


def test_if_elsif_else_chain_and_case_insensitive_names() -> None:
    script = compile_script(
        b'If Header :CONTAINS "Subject" "x" { Keep; } ElsIf false { stop; } Else { discard; }'
        b"\nif true { keep; }"
    )
    first, second = script.commands
    assert isinstance(first, If) and len(first.branches) == 3
    assert isinstance(first.branches[0][0], HeaderTest)
    assert first.branches[2][0] is None
    assert isinstance(second, If) and len(second.branches) == 1


def test_tagged_arguments_of_the_extensions() -> None:
    script = compile_script(
        b'require ["vacation", "imap4flags", "fileinto", "copy"];\n'
        b'vacation :days 3 :subject "Away" :from "bob@example.org"\n'
        b'  :addresses ["bob@example.net", "b@example.org"] :handle "h1" :mime "Content-Type: '
        b'text/plain\r\n\r\nAway";\n'
        b'fileinto :copy :flags ["\\\\seen $Label", "\\\\Flagged"] "INBOX/Sub";\n'
        b'keep :flags "\\\\Answered";\n'
        b'removeflag ["$a", "$b"];\n'
    )
    vacation, fileinto, keep, flag = script.commands
    assert vacation == Vacation(
        reason="Content-Type: text/plain\r\n\r\nAway",
        subject="Away",
        from_address="bob@example.org",
        addresses=("bob@example.net", "b@example.org"),
        days=3,
        handle="h1",
        mime=True,
    )
    assert fileinto == FileInto(
        mailbox="INBOX/Sub", flags=("\\Seen", "$Label", "\\Flagged"), copy=True
    )
    assert keep == Keep(flags=("\\Answered",))
    assert flag == FlagAction(operation="removeflag", flags=("$a", "$b"))


def test_inbox_is_canonical_and_numbers_have_units() -> None:
    script = compile_script(b'require "fileinto"; fileinto "inbox"; if size :over 2K {}')
    assert script.commands[0] == FileInto(mailbox="INBOX")
    test = script.commands[1].branches[0][0]  # type: ignore[union-attr]
    assert test.limit == 2048  # type: ignore[union-attr]


SIEVE_WORDS = st.sampled_from(
    [
        "require",
        "if",
        "elsif",
        "else",
        "keep",
        "discard",
        "stop",
        "fileinto",
        "reject",
        "vacation",
        "setflag",
        "addflag",
        "hasflag",
        "header",
        "address",
        "envelope",
        "exists",
        "size",
        "allof",
        "anyof",
        "not",
        "true",
        "false",
        ":is",
        ":contains",
        ":matches",
        ":over",
        ":days",
        ":flags",
        ":comparator",
        ":localpart",
        '"fileinto"',
        '"imap4flags"',
        '"vacation"',
        '"x"',
        '"i;octet"',
        "text:\n..x\n.\n",
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        ",",
        ";",
        "1K",
        "# c\n",
        "/* c */",
        '"\\"',
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(SIEVE_WORDS, max_size=30))
def test_never_crashes_on_token_soup(words: list[str]) -> None:
    source = " ".join(words).encode()
    try:
        compile_script(source)
    except ScriptError as exc:
        assert str(exc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_never_crashes_on_bytes(source: bytes) -> None:
    try:
        compile_script(source)
    except ScriptError as exc:
        assert str(exc)


@pytest.mark.parametrize(
    "source",
    [
        b"if true {" * 5000,
        b"if true {" * 5000 + b"}" * 5000,
        b"if " + b"not " * 5000 + b"true {}",
        b'if header "a" "' + b"a" * 60000 + b'" {}',
        b"keep;" * 12000,
        b"text:" * 12000,
        b"/*" * 30000,
        b'"' + b"\\" * 60000,
        b"if anyof(" + b"true," * 10000 + b"true) {}",
    ],
    ids=["open", "deep", "nots", "long-string", "many", "text", "comments", "escapes", "wide"],
)
def test_hostile_scripts_are_quick(source: bytes) -> None:
    started = time.perf_counter()
    with contextlib.suppress(ScriptError):
        compile_script(source)
    assert time.perf_counter() - started < 2.0


def test_redirect_addresses_are_checked_and_normalized() -> None:
    script = compile_script(
        b'require "copy";\n'
        b'redirect "carol@example.org";\n'
        b'redirect :copy "Carol Example <carol@Example.ORG>";\n'
        b'redirect "\\"a b\\"@example.net";\n'
    )
    assert script.commands == (
        Redirect(address="carol@example.org"),
        Redirect(address="carol@Example.ORG", copy=True),
        Redirect(address='"a b"@example.net'),
    )


def test_redirect_can_be_forbidden() -> None:
    source = b'if true {\n  redirect "carol@example.org";\n}'
    assert compile_script(source).commands
    with pytest.raises(ScriptError, match="max_redirects = 0") as caught:
        compile_script(source, allow_redirect=False)
    assert (caught.value.line, caught.value.column) == (2, 3)
    assert compile_script(b"keep;", allow_redirect=False).commands == (Keep(),)


def test_long_matches_patterns_and_control_characters_in_redirects_are_refused() -> None:
    pattern = "a?" * 600
    with pytest.raises(ScriptError, match="over 1024"):
        compile_script(f'if header :matches "subject" "{pattern}" {{ keep; }}'.encode())
    with pytest.raises(ScriptError, match="display name"):  # says bob, would go to carol
        compile_script(b'redirect "bob@example.org\\r\\nRCPT TO:<carol@example.org>";')
    with pytest.raises(ScriptError, match="control characters"):
        compile_script(b'redirect "Bob\r\n<bob@example.org>";')
