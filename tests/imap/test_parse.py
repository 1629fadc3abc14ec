"""The command parser (RFC 3501 §9, RFC 9051 §9): tokens, commands, round trips."""

from __future__ import annotations

import contextlib
import datetime as dt
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.imap import commandtext
from trimail.imap import (
    FETCH_MACROS,
    Append,
    Authenticate,
    Command,
    Copy,
    Create,
    Fetch,
    FetchAttribute,
    Id,
    List,
    LiteralData,
    Login,
    ParseContext,
    ParseError,
    Search,
    SearchKey,
    Section,
    Select,
    SequenceSet,
    Status,
    Store,
    decode_mailbox,
    mutf7,
    parse_command,
)
from trimail.imap._parse import check_prefix, parse_head

CTX = ParseContext()
QRESYNC = ParseContext(enabled=frozenset({"QRESYNC", "CONDSTORE"}))


def frame(data: bytes) -> list[bytes | LiteralData]:
    """Split command bytes (CRLF at the end) into parts, as the connection does."""
    parts: list[bytes | LiteralData] = []
    rest = data
    while True:
        line, _, rest = rest.partition(b"\r\n")
        marker = re.search(rb"(~?)\{([0-9]+)\+?\}\Z", line)
        if marker is None:
            parts.append(line)
            assert not rest, rest
            return parts
        parts.append(line[: marker.start()])
        size = int(marker[2])
        parts.append(LiteralData(data=rest[:size], binary=bool(marker[1])))
        rest = rest[size:]


def parse(data: bytes, context: ParseContext = CTX) -> Command:
    return parse_command(frame(data + b"\r\n"), context)


def bad(data: bytes, context: ParseContext = CTX) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(data, context)
    return info.value


# --- tokens ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arg", "value"),
    [
        (b"alice", "alice"),
        (b'"al ice"', "al ice"),
        (b'"a\\"b\\\\c"', 'a"b\\c'),
        (b'""', ""),
        (b"{3+}\r\na b", "a b"),
        (b"{0+}\r\n", ""),
        (b"a]b", "a]b"),  # astring allows "]"
        (b"[x}", "[x}"),  # "[" and "}" are atom chars
        (b"NIL", "NIL"),
        ('"caf\u00e9"'.encode(), "caf\u00e9"),  # raw UTF-8 in quoted strings
    ],
)
def test_astring(arg: bytes, value: str) -> None:
    assert parse(b"a LOGIN " + arg + b" pw") == Login(username=value, password="pw")


@pytest.mark.parametrize(
    "arg",
    [b'"a\\nb"', b'"unterminated', b"a(b", b"a%b", b"a*b", b'"a\\', b"a\\b", b"{", b'"\x00"'],
)
def test_bad_astring(arg: bytes) -> None:
    bad(b"a LOGIN " + arg + b" pw")


def test_invalid_utf8_login() -> None:
    assert "UTF-8" in bad(b'a LOGIN "\xff" pw').text


def test_nul_in_literal() -> None:
    assert "NUL" in bad(b"a LOGIN {3+}\r\na\x00b pw").text


def test_literal8_only_for_messages() -> None:
    assert "literal8" in bad(b"a LOGIN ~{1+}\r\na pw").text


@pytest.mark.parametrize(
    "line",
    [b"a NOOP ", b"a  NOOP", b"a NOOP x", b"a", b"", b"a LOGIN alice  pw", b"a LOGIN alice"],
)
def test_spacing_is_strict(line: bytes) -> None:
    bad(line)


def test_parse_head() -> None:
    assert parse_head(b"a01 uid fetch 1 x").name == "UID FETCH"
    assert parse_head(b"a]b NOOP").tag == "a]b"
    assert parse_head(b"a+b NOOP").tag is None  # "+" is not a tag char
    assert parse_head(b"* NOOP").tag is None
    assert parse_head(b"tag").name == ""


# --- mailbox names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b"inbox", "INBOX"),
        (b"InBoX/Sub", "INBOX/Sub"),
        (b"INBOXES", "INBOXES"),
        (b"&AOk-", "\u00e9"),
        (b"a&-b", "a&b"),
    ],
)
def test_decode_mailbox(raw: bytes, name: str) -> None:
    assert decode_mailbox(raw, utf8=False) == name


def test_decode_mailbox_utf8() -> None:
    assert decode_mailbox("&AOk-/\u00e9".encode(), utf8=True) == "&AOk-/\u00e9"
    with pytest.raises(ParseError):
        decode_mailbox(b"\xff", utf8=True)
    with pytest.raises(ParseError):
        decode_mailbox("\u00e9".encode(), utf8=False)


@given(st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1))
def test_mailbox_round_trip(name: str) -> None:
    wire = mutf7.encode(name)
    command = parse(b"a CREATE " + commandtext.string(wire))
    expected = decode_mailbox(wire.encode(), utf8=False)  # INBOX normalization
    assert command == Create(mailbox=expected)
    utf8 = parse(b"a CREATE " + commandtext.string(name), ParseContext(utf8_names=True))
    assert isinstance(utf8, Create) and utf8.mailbox == decode_mailbox(name.encode(), utf8=True)


# --- commands ---------------------------------------------------------------------------


def test_select_params() -> None:
    assert parse(b"a SELECT x (CONDSTORE)") == Select(mailbox="x", condstore=True)
    command = parse(b"a EXAMINE x (QRESYNC (1 2 3:4 (1:2 3:4)) CONDSTORE)", QRESYNC)
    assert isinstance(command, Select) and command.condstore and command.qresync is not None
    assert command.qresync.known_uids == SequenceSet(((3, 4),))
    assert command.qresync.seq_match == (SequenceSet(((1, 2),)), SequenceSet(((3, 4),)))
    assert "ENABLE QRESYNC" in bad(b"a SELECT x (QRESYNC (1 2))").text
    bad(b"a SELECT x (QRESYNC (1 2)", QRESYNC)
    bad(b"a SELECT x (QRESYNC 1 2)", QRESYNC)


def test_create_special_use() -> None:
    assert parse(b"a CREATE x (USE (\\Drafts \\Sent))") == Create(
        mailbox="x", special_use=("\\Drafts", "\\Sent")
    )
    bad(b"a CREATE x (USE ())")
    bad(b"a CREATE x (USE (Drafts))")
    bad(b"a CREATE x (USE (\\Drafts) USE (\\Sent))")


def test_list_forms() -> None:
    assert parse(b'a LIST "" %') == List(reference="", patterns=("%",))
    assert parse(b"a LIST inbox inbox/%") == List(reference="INBOX", patterns=("INBOX/%",))
    command = parse(b'a LIST (REMOTE SUBSCRIBED) "" (% "*") RETURN (STATUS (UIDNEXT))')
    assert command == List(
        reference="",
        patterns=("%", "*"),
        selection=("REMOTE", "SUBSCRIBED"),
        return_options=("STATUS",),
        status_items=("UIDNEXT",),
        extended=True,
    )
    bad(b'a LIST (REMOTE RECURSIVEMATCH) "" %')
    bad(b'a LIST "" ()')
    bad(b'a LIST "" % RETURN (CHILDREN CHILDREN)')


def test_status_items() -> None:
    assert parse(b"a STATUS x (messages size)") == Status(mailbox="x", items=("MESSAGES", "SIZE"))


def test_append() -> None:
    command = parse(b'a APPEND x (\\Seen $Junk) "17-Jul-1996 02:44:25 -0700" {2+}\r\nhi')
    assert isinstance(command, Append)
    message = command.messages[0]
    assert message.flags == ("\\Seen", "$Junk") and message.data == b"hi"
    zone = dt.timezone(-dt.timedelta(hours=7))
    assert message.internal_date == dt.datetime(1996, 7, 17, 2, 44, 25, tzinfo=zone)
    day = parse(b'a APPEND x " 1-Jan-2000 00:00:00 +0000" {0+}\r\n')
    assert isinstance(day, Append) and day.messages[0].internal_date is not None
    assert day.messages[0].internal_date.day == 1
    for wrong in [
        b"a APPEND x",
        b"a APPEND x hi",
        b'a APPEND x "1-Foo-2000 00:00:00 +0000" {0+}\r\n',
        b'a APPEND x "1-Jan-2000 24:00:00 +0000" {0+}\r\n',
        b'a APPEND x "1-Jan-2000 00:00:00 +0060" {0+}\r\n',
        b"a APPEND x {0+}\r\n extra",
        b"a APPEND x UTF8 {0+}\r\n",
    ]:
        bad(wrong)


def test_id_and_enable() -> None:
    assert parse(b'a ID ("k" "v" "n" NIL)') == Id(params=(("k", "v"), ("n", None)))
    bad(b'a ID ("k")')
    bad(b"a ENABLE")


def test_authenticate() -> None:
    assert parse(b"a AUTHENTICATE plain") == Authenticate(mechanism="PLAIN")
    assert parse(b"a AUTHENTICATE PLAIN dGVzdA==") == Authenticate(
        mechanism="PLAIN", initial_response=b"test"
    )
    bad(b"a AUTHENTICATE PLAIN dGVzdA=")
    bad(b"a AUTHENTICATE PLAIN ")


def test_store_forms() -> None:
    assert parse(b"a STORE 1 +FLAGS.SILENT \\Seen keyword") == Store(
        sequence_set=SequenceSet(((1, 1),)),
        mode="add",
        flags=("\\Seen", "keyword"),
        silent=True,
    )
    assert parse(b"a UID STORE $ -flags ()") == Store(
        sequence_set=SequenceSet(saved=True), mode="remove", flags=(), uid=True
    )
    for wrong in [
        b"a STORE 1 FLAGS",
        b"a STORE 1 +FLAGS (\\Seen",
        b"a STORE 1 *FLAGS x",
        b"a STORE 1 FLAGS.LOUD x",
        b"a STORE 1 (CHANGEDSINCE 1) FLAGS x",
        b"a STORE 1 +FLAGS \\",
    ]:
        bad(wrong)


def test_copy_move_mailbox_decoded() -> None:
    assert parse(b"a UID COPY 1:2 &AOk-") == Copy(
        sequence_set=SequenceSet(((1, 2),)), mailbox="\u00e9", uid=True
    )


def test_fetch_macros_expanded() -> None:
    for macro, names in FETCH_MACROS.items():
        command = parse(b"a FETCH 1 " + macro.lower().encode())
        assert isinstance(command, Fetch)
        assert [a.name for a in command.attributes] == list(names)


def test_fetch_modifiers() -> None:
    command = parse(b"a UID FETCH 1:* (FLAGS) (VANISHED CHANGEDSINCE 0)", QRESYNC)
    assert isinstance(command, Fetch) and command.vanished and command.changed_since == 0
    bad(b"a FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", QRESYNC)  # not UID FETCH
    bad(b"a UID FETCH 1 (FLAGS) (VANISHED)", QRESYNC)
    bad(b"a FETCH 1 (FLAGS) (FOO)")
    bad(b"a FETCH 1 (FLAGS) ()")


def test_fetch_numbers_in_range() -> None:
    bad(b"a FETCH 1 BODY[]<4294967296.1>")
    bad(b"a FETCH 1 BODY[4294967296]")
    bad(b"a FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775808)")
    command = parse(b"a FETCH 1 (FLAGS) (CHANGEDSINCE 9223372036854775807)")
    assert isinstance(command, Fetch) and command.changed_since == 2**63 - 1


def test_search_nesting_limit() -> None:
    deep = b"(" * 100 + b"ALL" + b")" * 100
    assert "deep" in bad(b"a SEARCH " + deep).text
    command = parse(b"a SEARCH " + b"NOT " * 30 + b"ALL")
    assert isinstance(command, Search)


def test_search_charset_no() -> None:
    error = bad(b"a SEARCH CHARSET ISO-8859-1 ALL")
    assert (error.status, error.code) == ("NO", "BADCHARSET (UTF-8 US-ASCII)")
    command = parse(b"a SEARCH CHARSET us-ascii ALL")
    assert isinstance(command, Search) and command.charset == "US-ASCII"


def test_check_prefix() -> None:
    assert check_prefix([b"a APPEND box "], CTX).append_mailbox == "box"
    assert check_prefix([b"a APPEND "], CTX).append_mailbox is None
    assert check_prefix([b"a APPEND x ", LiteralData(data=b"1"), b" "], CTX).append_mailbox == "x"
    assert check_prefix([b"a APPEND x UTF8 ("], CTX, binary=True).append_mailbox == "x"
    with pytest.raises(ParseError):
        check_prefix([b"a APPEND x ("], CTX)
    with pytest.raises(ParseError):
        check_prefix([b"a NOOP "], CTX)
    with pytest.raises(ParseError):
        check_prefix([b"a FETCH "], CTX)


# --- round trips ----------------------------------------------------------------------------

texts = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))
atoms = st.text(st.sampled_from("abcXYZ019$.-_[}~!#&'+/:;<=>?@^`|"), min_size=1, max_size=8)
numbers = st.integers(0, 2**32 - 1)
seqsets = st.one_of(
    st.just(SequenceSet(saved=True)),
    st.lists(st.tuples(numbers, numbers), min_size=1, max_size=4).map(
        lambda r: SequenceSet(tuple(r))
    ),
)
dates = st.dates(min_value=dt.date(1000, 1, 1), max_value=dt.date(9999, 12, 31))


def _keys() -> st.SearchStrategy[SearchKey]:
    simple = st.one_of(
        st.sampled_from(["ALL", "ANSWERED", "DELETED", "NEW", "SEEN", "UNDRAFT"]).map(
            lambda op: SearchKey(op=op)
        ),
        st.builds(
            lambda op, s: SearchKey(op=op, args=(s,)),
            st.sampled_from(["BCC", "BODY", "CC", "FROM", "SUBJECT", "TEXT", "TO"]),
            texts,
        ),
        st.builds(
            lambda op, a: SearchKey(op=op, args=(a,)),
            st.sampled_from(["KEYWORD", "UNKEYWORD"]),
            atoms,
        ),
        st.builds(
            lambda op, d: SearchKey(op=op, args=(d,)),
            st.sampled_from(["BEFORE", "ON", "SINCE", "SENTBEFORE", "SENTON", "SENTSINCE"]),
            dates,
        ),
        st.builds(
            lambda op, n: SearchKey(op=op, args=(n,)),
            st.sampled_from(["LARGER", "SMALLER"]),
            numbers,
        ),
        st.builds(lambda n: SearchKey(op="MODSEQ", args=(n,)), st.integers(0, 2**63 - 1)),
        st.builds(lambda f, v: SearchKey(op="HEADER", args=(f, v)), texts, texts),
        st.builds(lambda s: SearchKey(op="UID", args=(s,)), seqsets),
        st.builds(lambda s: SearchKey(op="SEQSET", args=(s,)), seqsets),
    )
    return st.recursive(
        simple,
        lambda inner: st.one_of(
            inner.map(lambda k: SearchKey(op="NOT", args=(k,))),
            st.tuples(inner, inner).map(lambda p: SearchKey(op="OR", args=p)),
            st.lists(inner, min_size=1, max_size=3).map(
                lambda ks: SearchKey(op="AND", args=tuple(ks))
            ),
        ),
        max_leaves=8,
    )


@settings(max_examples=200)
@given(st.lists(_keys(), min_size=1, max_size=4), st.booleans())
def test_search_round_trip(keys: list[SearchKey], uid: bool) -> None:
    program = SearchKey(op="AND", args=tuple(keys))
    name = b"UID SEARCH " if uid else b"SEARCH "
    command = parse(b"a " + name + commandtext.search_program(program))
    assert command == Search(program=program, uid=uid)


sections = st.builds(
    Section,
    part=st.lists(st.integers(1, 99), max_size=3).map(tuple),
    text=st.sampled_from([None, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"]),
    fields=st.just(()),
).map(
    lambda s: Section(
        part=s.part or ((1,) if s.text == "MIME" else ()),
        text=s.text,
        fields=("From", "X-\u00e9") if s.text and s.text.startswith("HEADER.FIELDS") else (),
    )
)
partials = st.one_of(st.none(), st.tuples(numbers, st.integers(1, 2**32 - 1)))
fetch_atts = st.one_of(
    st.sampled_from(
        [
            *("ENVELOPE", "FLAGS", "INTERNALDATE", "RFC822", "RFC822.HEADER", "RFC822.SIZE"),
            *("RFC822.TEXT", "BODY", "BODYSTRUCTURE", "UID", "MODSEQ"),
        ]
    ).map(lambda n: FetchAttribute(name=n)),
    st.builds(
        lambda s, peek, p: FetchAttribute(name="BODY", section=s, peek=peek, partial=p),
        sections,
        st.booleans(),
        partials,
    ),
    st.builds(
        lambda part, peek, p: FetchAttribute(
            name="BINARY", section=Section(part=part), peek=peek, partial=p
        ),
        st.lists(st.integers(1, 99), max_size=3).map(tuple),
        st.booleans(),
        partials,
    ),
    st.lists(st.integers(1, 99), max_size=3).map(
        lambda part: FetchAttribute(name="BINARY.SIZE", section=Section(part=tuple(part)))
    ),
)


@given(st.lists(fetch_atts, min_size=1, max_size=6), seqsets)
def test_fetch_round_trip(atts: list[FetchAttribute], sequence_set: SequenceSet) -> None:
    items = b" ".join(commandtext.fetch_attribute(a) for a in atts)
    command = parse(b"a FETCH " + str(sequence_set).encode() + b" (" + items + b")")
    assert command == Fetch(sequence_set=sequence_set, attributes=tuple(atts))


@given(texts, texts)
def test_login_string_round_trip(user: str, password: str) -> None:
    line = b"a LOGIN " + commandtext.string(user) + b" " + commandtext.string(password)
    assert parse(line) == Login(username=user, password=password)


@given(st.binary(max_size=200))
def test_parser_never_crashes(data: bytes) -> None:
    for context in (CTX, QRESYNC, ParseContext(utf8_names=True)):
        for prefix in (b"a ", b"a SEARCH ", b"a FETCH 1 ", b"a LIST ", b"a APPEND x "):
            with contextlib.suppress(ParseError):
                parse_command([prefix + data.replace(b"\n", b" ")], context)
            with contextlib.suppress(ParseError):
                check_prefix([prefix + data], context)
