"""The interpreter: every test and action, the implicit keep, imap4flags, runtime errors,
and the examples of RFC 5228 §9, RFC 5230 and RFC 5429, table-driven."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trimail_sieve import MessageData, SieveRuntimeError, compile_script, run
from trimail_sieve.interpreter import Outcome
from trimail_sieve.message import Headers

MESSAGE = (
    b"Return-Path: <alice@example.com>\r\n"
    b"Received: from mx.example.com by mx.example.org\r\n"
    b"From: Alice Example <alice@Example.COM>\r\n"
    b"Sender: owner-ietf-mta-filters@imc.org\r\n"
    b'To: me@example.org, "Group": bob@example.net, carol@example.net;\r\n'
    b"Cc: undisclosed-recipients:;\r\n"
    b"Subject: =?UTF-8?Q?Caf=C3=A9_menu?= and\r\n"
    b"  more\r\n"
    b"X-Spam: yes\r\n"
    b"X-Empty:\r\n"
    b"Message-ID: <1@example.com>\r\n"
    b"\r\n"
    b"Body line\r\n"
    b"From: not-a-header@example.com\r\n"
)


def decide(
    source: str,
    message: bytes = MESSAGE,
    *,
    envelope_from: str = "alice@example.com",
    envelope_to: str = "me@example.org",
    mailbox: str = "INBOX",
    max_actions: int = 32,
) -> Outcome:
    script = compile_script(source.encode())
    data = MessageData.from_message(message, envelope_from=envelope_from, envelope_to=envelope_to)
    return run(script, data, default_mailbox=mailbox, max_actions=max_actions)


def summary(outcome: Outcome) -> object:
    """ "reject: reason", or the stored copies as {mailbox: sorted flags}."""
    if outcome.reject is not None:
        return f"reject: {outcome.reject}"
    return {d.mailbox: sorted(d.flags) for d in outcome.deliveries}


def filed(test: str) -> str:
    """A script that files into "yes" when *test* is true."""
    return f'require ["fileinto", "envelope", "imap4flags"];\nif {test} {{ fileinto "yes"; }}'


YES = {"yes": []}
NO = {"INBOX": []}

TESTS = [
    # header (RFC 5228 §5.7): decoded, unfolded, any-of semantics
    ('header :is "subject" "Café menu and  more"', YES),
    ('header :contains "SUBJECT" "café"', YES),  # names are case-insensitive
    ('header :contains "subject" "CAFÉ"', NO),  # only ASCII letters fold
    ('header :contains :comparator "i;octet" "subject" "Café"', YES),
    ('header :contains :comparator "i;octet" "subject" "café"', NO),
    ('header :matches "subject" "*menu*"', YES),
    ('header :matches "subject" "menu*"', NO),
    ('header :is ["x-none", "x-spam"] ["no", "YES"]', YES),
    ('header :contains "x-none" ""', NO),  # a missing field never matches
    ('header :is "x-empty" ""', YES),
    ('header :is "from" "not-a-header@example.com"', NO),  # the body is not the header
    # address (RFC 5228 §5.1, §2.7.4)
    ('address :is "from" "alice@example.com"', YES),  # :all is the default
    ('address :localpart "from" "ALICE"', YES),
    ('address :domain :is "from" "example.com"', YES),
    ('address :domain :comparator "i;octet" "from" "example.com"', NO),
    ('address :all :is "to" "carol@example.net"', YES),  # group members count
    ('address :contains "cc" ""', NO),  # an empty group has no address
    ('address :matches "sender" "owner-*"', YES),
    ('address :is "from" "Alice Example"', NO),  # display names are not compared
    # envelope (RFC 5228 §5.4)
    ('envelope :is "from" "alice@example.com"', YES),
    ('envelope :domain "to" "example.org"', YES),
    ('envelope :localpart "to" "you"', NO),
    # exists, size, true, false, not, allof, anyof
    ('exists ["subject", "x-spam"]', YES),
    ('exists ["subject", "x-none"]', NO),
    ("size :over 100", YES),
    ("size :under 100", NO),
    ("size :over 1M", NO),
    ("true", YES),
    ("false", NO),
    ("not false", YES),
    ('allof(true, header :is "x-spam" "yes")', YES),
    ("allof(true, false)", NO),
    ("anyof(false, true)", YES),
    ("anyof(false, false)", NO),
    ("not anyof(false)", YES),
    # hasflag (RFC 5232 §4) sees the internal variable
    ('hasflag :is "\\\\Seen"', NO),
]


@pytest.mark.parametrize(("test", "expected"), TESTS, ids=[t for t, _ in TESTS])
def test_tests(test: str, expected: object) -> None:
    assert summary(decide(filed(test))) == expected


def test_null_reverse_path_is_the_empty_string_for_any_part() -> None:
    source = filed('envelope :localpart :is "from" ""')
    assert summary(decide(source, envelope_from="")) == YES
    assert summary(decide(filed('envelope :is "from" ""'), envelope_from="")) == YES


ACTIONS = [
    ("", NO),  # the implicit keep
    ("keep;", NO),
    ("discard;", {}),
    ("discard; keep;", NO),  # an explicit keep still stores
    ('fileinto "A";', {"A": []}),
    ('fileinto "A"; keep;', {"A": [], "INBOX": []}),
    ('fileinto "A"; fileinto "A"; fileinto "inbox";', {"A": [], "INBOX": []}),
    ('fileinto :copy "A";', {"A": [], "INBOX": []}),  # RFC 3894: keeps the implicit keep
    ('fileinto "A"; stop; fileinto "B";', {"A": []}),
    ("stop; discard;", NO),
    ('reject "go away";', "reject: go away"),
    ('discard; reject "no";', "reject: no"),
    ('addflag "\\\\Seen";', {"INBOX": ["\\Seen"]}),  # implicit keep uses the variable
    ('addflag "$a $b"; removeflag "$A";', {"INBOX": ["$b"]}),
    ('setflag "$a"; setflag ["$b", "\\\\flagged"];', {"INBOX": ["$b", "\\Flagged"]}),
    ('addflag "$a"; fileinto "A"; removeflag "$a"; keep;', {"A": ["$a"], "INBOX": []}),
    ('fileinto :flags "\\\\Flagged" "A"; addflag "$x";', {"A": ["\\Flagged"]}),
    ('keep :flags ["$k"]; addflag "$x";', {"INBOX": ["$k"]}),
    ('addflag "$x"; keep; keep :flags "$y";', {"INBOX": ["$x", "$y"]}),
    ('addflag "$x"; if hasflag :contains "$X" { fileinto "yes"; }', {"yes": ["$x"]}),
    ('addflag "\\\\Seen"; if hasflag :is "\\\\seen" { discard; }', {}),
]


@pytest.mark.parametrize(("body", "expected"), ACTIONS, ids=[a for a, _ in ACTIONS])
def test_actions(body: str, expected: object) -> None:
    source = 'require ["fileinto", "reject", "imap4flags", "copy"];\n' + body
    assert summary(decide(source)) == expected


def test_keep_uses_the_default_mailbox() -> None:
    assert summary(decide("keep;", mailbox="Junk")) == {"Junk": []}
    assert summary(decide("", mailbox="Junk")) == {"Junk": []}


@pytest.mark.parametrize(
    "body",
    [
        'reject "a"; reject "b";',
        'reject "a"; keep;',
        'fileinto "A"; reject "a";',
        'vacation "a"; reject "b";',
        'reject "b"; vacation "a";',
        'vacation "a"; vacation "b";',
        "keep; keep; keep; keep;",
    ],
)
def test_runtime_errors(body: str) -> None:
    source = 'require ["fileinto", "reject", "vacation"];\n' + body
    with pytest.raises(SieveRuntimeError):
        decide(source, max_actions=3)


def test_action_limit_counts_flag_actions_too() -> None:
    source = 'require "imap4flags";\n' + 'addflag "$a";' * 5
    decide(source, max_actions=5)
    with pytest.raises(SieveRuntimeError, match="more than 4 actions"):
        decide(source, max_actions=4)


RFC5228_EXAMPLE = """
# Example Sieve Filter (RFC 5228 section 9)
require ["fileinto"];
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        fileinto "personal";
        }
"""


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (b"Sender: owner-ietf-mta-filters@imc.org\r\n", {"filter": []}),
        (b"From: boss@example.com\r\nTo: me@example.com\r\n", NO),
        (b"From: x@example.net\r\nTo: other@example.net\r\n", {"spam": []}),
        (
            b"From: x@example.net\r\nCc: me@example.com\r\nSubject: Make MONEY fast!\r\n",
            {"spam": []},
        ),
        (b"From: x@example.net\r\nCc: me@example.com\r\nSubject: hi\r\n", {"personal": []}),
    ],
)
def test_rfc5228_example(headers: bytes, expected: object) -> None:
    assert summary(decide(RFC5228_EXAMPLE, headers + b"\r\nbody\r\n")) == expected


def test_rfc5429_example_reject_by_size() -> None:
    source = """require ["reject"];
if size :over 100K {
   reject text:
Your message is too big.  If you want to send me a big attachment,
put it on a public web site and send me a URL.
.
;
}
"""
    big = MESSAGE + b"x" * 110_000
    assert decide(source, big).reject == (
        "Your message is too big.  If you want to send me a big attachment,\n"
        "put it on a public web site and send me a URL.\n"
    )
    assert summary(decide(source)) == NO


def test_rfc5230_examples_record_the_vacation() -> None:
    source = """require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at 650-555-1212";
}
"""
    outcome = decide(source)
    assert outcome.vacation is not None
    assert outcome.vacation.reason == "I'm out -- call me at 650-555-1212"
    assert summary(outcome) == NO  # vacation keeps the implicit keep
    second = decide(
        'require "vacation";\nvacation :days 23 :addresses ["tjs@example.edu", '
        '"ts4z@landru.example.edu"]\n"I\'m away until October 19.";'
    )
    assert second.vacation is not None
    assert second.vacation.days == 23
    assert second.vacation.addresses == ("tjs@example.edu", "ts4z@landru.example.edu")


def test_rfc5232_example_flags() -> None:
    source = """require ["imap4flags", "fileinto"];
if size :over 500 { addflag "$Big"; }
if address :is "from" "alice@example.com" { addflag "\\\\Flagged"; }
if header :contains "subject" "menu" {
    fileinto "Food";
} else {
    fileinto :flags "\\\\Seen" "Other";
}
"""
    assert summary(decide(source)) == {"Food": ["\\Flagged"]}
    assert summary(decide(source, MESSAGE + b"x" * 600)) == {"Food": ["$Big", "\\Flagged"]}


def test_headers_parse_oddities() -> None:
    headers = Headers.parse(
        b"A: 1\nB : 2\r\n\tcontinued\r\nnot a field\r\n: empty name\r\nA: 3\r\n\r\nC: 4\r\n"
    )
    assert headers.raw("a") == ["1", "3"]
    assert headers.raw("B") == ["2\tcontinued"]
    assert not headers.exists("c")
    assert Headers.parse(b"Subject: =?bogus?Q?x?=\r\n\r\n").decoded("subject") == ["=?bogus?Q?x?="]


@pytest.mark.parametrize(
    "value",
    [b"(" * 200_000, b"<" * 200_000, b"=?utf-8?q?a?= " * 20_000, b"a@b.c, " * 40_000],
    ids=["comments", "angles", "encoded-words", "many"],
)
def test_hostile_header_fields_are_quick(value: bytes) -> None:
    import time

    message = b"To: " + value + b"\r\nSubject: " + value + b"\r\n\r\nx"
    source = filed('anyof(address :is "to" "x@y", header :contains "subject" "zzz")')
    started = time.perf_counter()
    for _ in range(3):  # the second and third look-ups are cached
        assert summary(decide(source, message)) == NO
    assert time.perf_counter() - started < 2.0


EVERY_TEST = """require ["envelope", "imap4flags", "fileinto"];
if anyof(header :matches ["subject", "x-a"] "*a?b*",
         address :domain :contains ["from", "to", "cc"] "exa",
         address :localpart :matches "sender" "?*",
         envelope :all :is ["from", "to"] "",
         exists "received", size :over 10, hasflag "x") {
    fileinto "yes";
}
"""


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400), st.text(max_size=30))
def test_run_never_crashes_on_arbitrary_messages(message: bytes, envelope_from: str) -> None:
    outcome = decide(EVERY_TEST, message, envelope_from=envelope_from)
    assert [d.mailbox for d in outcome.deliveries] in (["yes"], ["INBOX"])


def test_a_run_over_its_time_budget_is_a_runtime_error() -> None:
    """Many cheap comparisons against many header fields: stopped by the clock."""
    script = compile_script(b'if header :is "received" ["a", "b"] { discard; }')
    many = b"".join(b"Received: from x\r\n" for _ in range(50)) + b"\r\nbody\r\n"
    data = MessageData.from_message(many, envelope_from="", envelope_to="me@example.org")
    ticks = iter(range(1000))
    with pytest.raises(SieveRuntimeError, match="ran longer than 10 s"):
        run(
            script,
            data,
            default_mailbox="INBOX",
            max_actions=32,
            max_seconds=10,
            clock=lambda: float(next(ticks)),  # one second per comparison
        )
    assert run(script, data, default_mailbox="INBOX", max_actions=32).implicit_keep
