"""Sieve scripts: parse with sievelib (RFC 5228 §8 grammar), check, and turn into a small
tree of frozen nodes that `trimail_sieve.interpreter` runs.

sievelib's parser checks the grammar, each command's arguments (tagged arguments of
vacation, fileinto :flags, the imap4flags commands...) and that a command's extension
was required. This module adds what sievelib leaves out: the capabilities this server
supports (an unknown one in ``require`` is an error, RFC 5228 §3.2), ``require``
before any other command, the final semicolon, limits on size and nesting, string
decoding (quoted and multi-line strings, RFC 5228 §2.4.2), and the values of arguments
(mailbox names, flags, envelope parts, address headers).
"""

from __future__ import annotations

import re
from typing import Any

import attrs
from sievelib.parser import Parser

from trimail_sieve.flags import FlagError, normalize_flags
from trimail_sieve.grammar import GrammarError, check_grammar
from trimail_sieve.matching import ASCII_CASEMAP, COMPARATORS, Match, MatchType
from trimail_sieve.redirect import AddressError, parse_address

MAX_PATTERN_CHARS = 1024  # one :matches key; real patterns are a few dozen characters
MAX_NESTING = 32  # blocks and tests inside one another; real scripts use 3 or 4

CAPABILITIES = (
    "comparator-i;ascii-casemap",  # RFC 5228 §2.7.3, always available
    "comparator-i;octet",
    "copy",  # RFC 3894: fileinto :copy, redirect :copy
    "envelope",  # RFC 5228 §5.4
    "fileinto",  # RFC 5228 §4.1
    "imap4flags",  # RFC 5232
    "reject",  # RFC 5429
    "vacation",  # RFC 5230
)
"""What ``require`` may name (RFC 5228 §3.2); anything else is a script error."""

ENVELOPE_PARTS = ("from", "to")  # RFC 5228 §5.4

# RFC 5228 §5.1: the address test is restricted to header fields that hold addresses.
ADDRESS_HEADERS = frozenset(
    {
        "from",
        "sender",
        "reply-to",
        "to",
        "cc",
        "bcc",
        "resent-from",
        "resent-sender",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "return-path",
        "delivered-to",
        "envelope-to",
        "x-original-to",
        "errors-to",
        "disposition-notification-to",
        "mail-followup-to",
        "mail-reply-to",
        "x-envelope-to",
        "x-envelope-from",
    }
)

_NUMBER = re.compile(r"([0-9]+)([KMGkmg]?)")
_MULTIPLIER = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}  # RFC 5228 §2.4.1
_MAX_MAILBOX_OCTETS = 1000


class ScriptError(Exception):
    """A script that cannot run: a syntax error, an unknown capability, a bad argument.

    Attributes:
        message: what is wrong, for a person.
        line: the 1-based line where it was found, or None.
        column: the 1-based column, or None.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        if self.line is None:
            return self.message
        if self.column is None:
            return f"line {self.line}: {self.message}"
        return f"line {self.line}, column {self.column}: {self.message}"


# -- tests -----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class HeaderTest:
    """``header`` (RFC 5228 §5.7): values of the named fields, RFC 2047 decoded."""

    names: tuple[str, ...]
    match: Match


@attrs.frozen(kw_only=True)
class AddressTest:
    """``address`` (RFC 5228 §5.1): addresses in the named fields; ``part`` is
    ``all``, ``localpart`` or ``domain``."""

    names: tuple[str, ...]
    part: str
    match: Match


@attrs.frozen(kw_only=True)
class EnvelopeTest:
    """``envelope`` (RFC 5228 §5.4): the reverse-path (``from``) or the forward-path
    that reached this user (``to``)."""

    parts: tuple[str, ...]
    part: str
    match: Match


@attrs.frozen(kw_only=True)
class ExistsTest:
    """``exists`` (RFC 5228 §5.5): true if every named field is present."""

    names: tuple[str, ...]


@attrs.frozen(kw_only=True)
class SizeTest:
    """``size :over/:under`` (RFC 5228 §5.9); *limit* in octets."""

    over: bool
    limit: int


@attrs.frozen(kw_only=True)
class AllOf:
    """``allof`` (RFC 5228 §5.2)."""

    tests: tuple[Test, ...]


@attrs.frozen(kw_only=True)
class AnyOf:
    """``anyof`` (RFC 5228 §5.3)."""

    tests: tuple[Test, ...]


@attrs.frozen(kw_only=True)
class Not:
    """``not`` (RFC 5228 §5.8)."""

    test: Test


@attrs.frozen(kw_only=True)
class Constant:
    """``true`` or ``false`` (RFC 5228 §5.6, §5.10)."""

    value: bool


@attrs.frozen(kw_only=True)
class HasFlag:
    """``hasflag`` (RFC 5232 §4): the internal flags variable against the keys."""

    match: Match


Test = (
    HeaderTest | AddressTest | EnvelopeTest | ExistsTest | SizeTest | AllOf | AnyOf | Not | Constant
) | HasFlag

# -- commands --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class If:
    """``if`` / ``elsif`` / ``else`` (RFC 5228 §3.1): (test, block) pairs in order; the
    test of an ``else`` is None."""

    branches: tuple[tuple[Test | None, tuple[Command, ...]], ...]


@attrs.frozen(kw_only=True)
class Stop:
    """``stop`` (RFC 5228 §3.3)."""


@attrs.frozen(kw_only=True)
class Keep:
    """``keep`` (RFC 5228 §4.3); *flags* from ``:flags`` (RFC 5232 §5) or None for the
    internal variable."""

    flags: tuple[str, ...] | None = None


@attrs.frozen(kw_only=True)
class Discard:
    """``discard`` (RFC 5228 §4.4)."""


@attrs.frozen(kw_only=True)
class FileInto:
    """``fileinto`` (RFC 5228 §4.1), with ``:flags`` (RFC 5232) and ``:copy`` (RFC 3894)."""

    mailbox: str
    flags: tuple[str, ...] | None = None
    copy: bool = False


@attrs.frozen(kw_only=True)
class Redirect:
    """``redirect`` (RFC 5228 §4.2), with ``:copy`` (RFC 3894); *address* is the checked
    forward-path ``local@domain`` (`trimail_sieve.redirect.parse_address`)."""

    address: str
    copy: bool = False


@attrs.frozen(kw_only=True)
class RejectAction:
    """``reject`` (RFC 5429 §2.2) with its reason."""

    reason: str


@attrs.frozen(kw_only=True)
class Vacation:
    """``vacation`` (RFC 5230 §4). None means "not given" (defaults apply)."""

    reason: str
    subject: str | None = None
    from_address: str | None = None
    addresses: tuple[str, ...] = ()
    days: int | None = None
    handle: str | None = None
    mime: bool = False


@attrs.frozen(kw_only=True)
class FlagAction:
    """``setflag`` / ``addflag`` / ``removeflag`` (RFC 5232 §3) on the internal variable."""

    operation: str
    flags: tuple[str, ...]


Command = If | Stop | Keep | Discard | FileInto | Redirect | RejectAction | Vacation | FlagAction


@attrs.frozen(kw_only=True)
class Script:
    """A checked script, ready to run.

    Attributes:
        commands: the top-level commands after the ``require`` commands.
        capabilities: what the script required.
    """

    commands: tuple[Command, ...]
    capabilities: frozenset[str]


# -- compiling -------------------------------------------------------------------------


def compile_script(
    source: bytes, *, max_bytes: int = 64 * 1024, allow_redirect: bool = True
) -> Script:
    """Parse and check a Sieve script (RFC 5228 §8, with the extensions of `CAPABILITIES`).

    Args:
        source: the script (UTF-8, RFC 5228 §2.2; any line ends).
        max_bytes: the largest script accepted, in octets.
        allow_redirect: False refuses ``redirect`` (the ``max_redirects = 0`` policy).

    Returns:
        The checked script.

    Raises:
        ScriptError: too large, a syntax error (with line and column), an unknown
            capability, ``require`` after other commands, an unsupported command, a bad
            argument value (a ``redirect`` address that is not a valid address, RFC 5228
            §4.2), ``redirect`` when not allowed, or nesting deeper than `MAX_NESTING`.
    """
    if len(source) > max_bytes:
        raise ScriptError(f"the script is {len(source)} octets, over the limit of {max_bytes}")
    tree = _parse(source)
    capabilities = _check_require(tree, source)
    body = [cmd for cmd in tree if cmd.name != "require"]
    commands = _block(body, depth=0, source=source)
    if not allow_redirect and _uses_redirect(commands):
        raise _error(
            "redirect is not allowed on this server (max_redirects = 0)", source, "redirect"
        )
    return Script(commands=commands, capabilities=frozenset(capabilities))


def _uses_redirect(commands: tuple[Command, ...]) -> bool:
    for command in commands:
        if isinstance(command, Redirect):
            return True
        if isinstance(command, If) and any(_uses_redirect(b) for _t, b in command.branches):
            return True
    return False


def _parse(source: bytes) -> list[Any]:
    parser = Parser()
    try:
        ok = parser.parse(source)
    except RecursionError:
        raise ScriptError("the script is nested too deeply") from None
    except Exception as exc:  # sievelib on input it did not foresee: still a bad script
        raise ScriptError(f"cannot parse the script ({type(exc).__name__})") from None
    if not ok:
        line, column = _error_position(parser, source)
        raise ScriptError(_clean_error(str(parser.error)), line=line, column=column)
    pending = getattr(parser, "_Parser__curcommand", None)  # e.g. "keep" at the very end
    if pending is not None:
        lines = source.rstrip().count(b"\n") + 1
        raise ScriptError(
            f"incomplete command {getattr(pending, 'name', '?')}: an argument, ';' or '}}'"
            " is missing",
            line=lines,
        )
    try:
        check_grammar(source, max_depth=MAX_NESTING)
    except GrammarError as exc:
        line, column = _position(source, exc.offset)
        raise ScriptError(str(exc), line=line, column=column) from None
    return list(parser.result)


def _error_position(parser: Parser, source: bytes) -> tuple[int | None, int | None]:
    position = getattr(parser, "error_pos", None)
    if not isinstance(position, tuple) or len(position) < 2:
        return None, None
    line, column = position[0], position[1]  # 1-based, at the token's start
    return (line, column) if isinstance(line, int) and isinstance(column, int) else (None, None)


def _clean_error(text: str) -> str:
    text = re.sub(r"^line \d+: ", "", text)
    text = text.removeprefix("parsing error: ")
    return text.replace("'utf-8' codec can't decode", "not UTF-8: cannot decode")


def _locate(source: bytes, needle: str) -> tuple[int | None, int | None]:
    """Best-effort line and column of *needle* in the script, for error messages."""
    where = source.find(needle.encode("utf-8", "replace"))
    if where < 0:
        return None, None
    return _position(source, where)


def _position(source: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in octets) of *offset*."""
    line = source.count(b"\n", 0, offset) + 1
    return line, offset - (source.rfind(b"\n", 0, offset) + 1) + 1


def _error(message: str, source: bytes, needle: str) -> ScriptError:
    line, column = _locate(source, f'"{needle}"')
    if line is None:
        line, column = _locate(source, needle)
    return ScriptError(message, line=line, column=column)


def _check_require(tree: list[Any], source: bytes) -> list[str]:
    capabilities: list[str] = []
    seen_other = False
    for cmd in tree:
        if cmd.name != "require":
            seen_other = True
            continue
        if seen_other:
            raise _error("require must come before any other command", source, "require")
        for name in _strings(cmd.arguments["capabilities"]):
            if name not in CAPABILITIES:
                raise _error(
                    f"unknown capability {name!r} in require (supported: "
                    + ", ".join(CAPABILITIES)
                    + ")",
                    source,
                    f'"{name}"',
                )
            capabilities.append(name)
    return capabilities


def _block(children: list[Any], *, depth: int, source: bytes) -> tuple[Command, ...]:
    if depth > MAX_NESTING:
        raise ScriptError(f"blocks are nested more than {MAX_NESTING} deep")
    commands: list[Command] = []
    branches: list[tuple[Test | None, tuple[Command, ...]]] = []
    for cmd in children:
        if cmd.name in ("elsif", "else"):
            test = _test(cmd.arguments["test"], depth + 1, source) if cmd.name == "elsif" else None
            branches.append((test, _block(cmd.children, depth=depth + 1, source=source)))
            continue
        if branches:
            commands.append(If(branches=tuple(branches)))
            branches = []
        if cmd.name == "if":
            test = _test(cmd.arguments["test"], depth + 1, source)
            branches = [(test, _block(cmd.children, depth=depth + 1, source=source))]
        else:
            commands.append(_action(cmd, source))
    if branches:
        commands.append(If(branches=tuple(branches)))
    return tuple(commands)


def _action(cmd: Any, source: bytes) -> Command:
    name, args, extra = cmd.name, cmd.arguments, cmd.extra_arguments
    if name == "stop":
        return Stop()
    if name == "keep":
        return Keep(flags=_flag_arg(extra, "flags", source) if "flags" in args else None)
    if name == "discard":
        return Discard()
    if name == "fileinto":
        mailbox = _mailbox(_string(args["mailbox"]), source)
        flags = _flag_arg(extra, "flags", source) if "flags" in args else None
        return FileInto(mailbox=mailbox, flags=flags, copy="copy" in args)
    if name == "redirect":
        return Redirect(address=_redirect_address(args["address"], source), copy="copy" in args)
    if name == "reject":
        return RejectAction(reason=_string(args["text"]))
    if name == "vacation":
        return _vacation(args, extra, source)
    if name in ("setflag", "addflag", "removeflag"):
        if "variable-name" in args:
            raise _error(f"{name}: variables (RFC 5229) are not supported", source, name)
        return FlagAction(operation=name, flags=_flags(args["list-of-flags"], source))
    if name == "require":
        raise _error("require must come before any other command", source, "require")
    raise _error(f"{name} is not supported by this server", source, name)


def _redirect_address(raw: Any, source: bytes) -> str:
    """The checked address of ``redirect`` (RFC 5228 §4.2: a constant string is checked
    when the script is stored; this server has no variables, so every one is)."""
    text = _string(raw)
    try:
        return parse_address(text)
    except AddressError as exc:
        line, column = _locate(source, str(raw))
        raise ScriptError(
            f"redirect: {text!r} is not a valid address: {exc}", line=line, column=column
        ) from None


def _vacation(args: dict[str, Any], extra: dict[str, Any], source: bytes) -> Vacation:
    def text(key: str) -> str | None:
        return _string(extra[key]) if key in args and key in extra else None

    days = _number(extra["days"], source) if "days" in args and "days" in extra else None
    addresses = _strings(extra["addresses"]) if "addresses" in args else ()
    from_address = text("from")
    for address in (*addresses, *([from_address] if from_address else [])):
        if "@" not in address:
            raise _error(f"vacation: {address!r} is not an address", source, address)
    return Vacation(
        reason=_string(args["reason"]),
        subject=text("subject"),
        from_address=from_address,
        addresses=addresses,
        days=days,
        handle=text("handle"),
        mime="mime" in args,
    )


def _test(cmd: Any, depth: int, source: bytes) -> Test:
    if depth > MAX_NESTING:
        raise ScriptError(f"tests are nested more than {MAX_NESTING} deep")
    name, args = cmd.name, cmd.arguments
    if name in ("true", "false"):
        return Constant(value=name == "true")
    if name == "not":
        return Not(test=_test(args["test"], depth + 1, source))
    if name in ("allof", "anyof"):
        tests = tuple(_test(t, depth + 1, source) for t in args.get("tests", []))
        return AllOf(tests=tests) if name == "allof" else AnyOf(tests=tests)
    if name == "exists":
        return ExistsTest(names=_strings(args["header-names"]))
    if name == "size":
        over = str(args["comparator"]).lower() == ":over"
        return SizeTest(over=over, limit=_number(args["limit"], source))
    if name == "header":
        return HeaderTest(names=_strings(args["header-names"]), match=_match(cmd, "key-list"))
    if name == "address":
        names = _strings(args["header-list"])
        for header in names:
            if header.lower() not in ADDRESS_HEADERS:
                raise _error(
                    f"address: {header!r} is not a header field with addresses", source, header
                )
        return AddressTest(names=names, part=_part(args), match=_match(cmd, "key-list"))
    if name == "envelope":
        parts = tuple(p.lower() for p in _strings(args["header-list"]))
        for part in parts:
            if part not in ENVELOPE_PARTS:
                raise _error(f"envelope: unknown envelope part {part!r} (from or to)", source, part)
        return EnvelopeTest(parts=parts, part=_part(args), match=_match(cmd, "key-list"))
    if name == "hasflag":
        if "variable-list" in args and "list-of-flags" in args:
            raise _error("hasflag: variables (RFC 5229) are not supported", source, "hasflag")
        return HasFlag(match=_match(cmd, "list-of-flags"))
    raise _error(f"the test {name} is not supported by this server", source, name)


def _match(cmd: Any, keys_argument: str) -> Match:
    args, extra = cmd.arguments, cmd.extra_arguments
    raw_type = str(args.get("match-type", ":is")).lower().lstrip(":")
    try:
        match_type = MatchType(raw_type)
    except ValueError:
        raise ScriptError(f"match type :{raw_type} is not supported") from None
    comparator = ASCII_CASEMAP
    if "comparator" in args and "comparator" in extra:
        comparator = _string(extra["comparator"]).lower()
    if comparator not in COMPARATORS:
        raise ScriptError(f"comparator {comparator!r} is not supported")
    keys = _strings(args[keys_argument])
    if match_type is MatchType.MATCHES:
        for key in keys:
            if len(key) > MAX_PATTERN_CHARS:  # a comparison costs value x pattern length
                raise ScriptError(
                    f":matches pattern of {len(key)} characters, over {MAX_PATTERN_CHARS}"
                )
    return Match(match_type=match_type, comparator=comparator, keys=keys)


def _part(args: dict[str, Any]) -> str:
    return str(args.get("address-part", ":all")).lower().lstrip(":")


def _flag_arg(extra: dict[str, Any], key: str, source: bytes) -> tuple[str, ...]:
    return _flags(extra.get(key, []), source)


def _flags(raw: Any, source: bytes) -> tuple[str, ...]:
    try:
        return normalize_flags(_strings(raw))
    except FlagError as exc:
        raise _error(str(exc), source, exc.flag) from None


def _mailbox(name: str, source: bytes) -> str:
    if (
        not name
        or len(name.encode("utf-8", "surrogatepass")) > _MAX_MAILBOX_OCTETS
        or any(c in name for c in "\r\n\0")
        or "" in name.split("/")
    ):
        raise _error(f"fileinto: {name!r} is not a valid mailbox name", source, name)
    head, sep, rest = name.partition("/")
    return "INBOX" + sep + rest if head.upper() == "INBOX" else name


def _number(raw: Any, source: bytes) -> int:
    found = _NUMBER.fullmatch(str(raw))
    if found is None:
        raise _error(f"{raw!r} is not a number", source, str(raw))
    return int(found.group(1)) * _MULTIPLIER[found.group(2).lower()]


def _string(raw: Any) -> str:
    """Decode a sievelib string token: quoted (RFC 5228 §2.4.2: ``\\`` quotes the next
    character) or multi-line (``text:`` ... ``.``, dot-stuffed)."""
    text = str(raw)
    if text.startswith("text:"):
        return _multiline(text)
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.DOTALL)
    return text


def _multiline(text: str) -> str:
    newline = text.find("\n")
    body = text[newline + 1 :] if newline >= 0 else ""
    body = body.rstrip("\r")
    body = body.removesuffix(".")
    lines = body.replace("\r\n", "\n").split("\n")
    # RFC 5228 §8.1 multiline-dotstart: only a leading "." followed by another "." is
    # removed (dot-stuffing); ".hidden" stays as it is
    return "\n".join(line[1:] if line.startswith("..") else line for line in lines)


def _strings(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, list):
        return tuple(_string(item) for item in raw)
    return (_string(raw),)
