"""What Sieve tests see of a message: header fields (RFC 5322 §2.2), decoded (RFC 2047),
and the addresses in them (RFC 5228 §2.7.4, §5.1)."""

from __future__ import annotations

import email.errors
import email.header
import email.utils
import re

import attrs

MAX_HEADER_BYTES = 256 * 1024  # octets of header section looked at; the rest is ignored
MAX_FIELDS = 10_000  # header fields kept; a message with more is hostile anyway
# Characters of one field value that are decoded or parsed for addresses: Python's
# RFC 2047 decoder and address parser are super-linear on hostile input.
MAX_FIELD_CHARS = 64 * 1024

_END_OF_HEADER = re.compile(rb"\r?\n\r?\n")
_ADDR_SPEC = re.compile(r"[^\s<>(),;:\"@]+@[^\s<>(),;:\"@]+")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")  # RFC 5322 §2.2 ftext


@attrs.frozen(kw_only=True)
class Address:
    """One address of an address header or of the envelope.

    Attributes:
        all: the whole address ``local@domain`` without display name or angle brackets.
        localpart: the part before the last ``@``, or None if not a valid address
            (then only ``:all`` can match it, RFC 5228 §2.7.4).
        domain: the part after the last ``@``, or None if not a valid address.
    """

    all: str
    localpart: str | None
    domain: str | None

    @classmethod
    def parse(cls, text: str) -> Address:
        """Split ``local@domain``; anything without a local part and a domain keeps
        only ``:all``."""
        local, at, domain = text.rpartition("@")
        if not at or not local or not domain:
            return cls(all=text, localpart=None, domain=None)
        if len(local) >= 2 and local.startswith('"') and local.endswith('"'):
            local = re.sub(r"\\(.)", r"\1", local[1:-1])  # quoted-string local part
        return cls(all=text, localpart=local, domain=domain)

    def part(self, name: str) -> str | None:
        """The ``:localpart``, ``:domain`` or ``:all`` part (``name`` without colon)."""
        if name == "localpart":
            return self.localpart
        if name == "domain":
            return self.domain
        return self.all


@attrs.frozen(kw_only=True)
class Headers:
    """The header section of a message: fields in order, names lower-cased.

    Attributes:
        fields: (lower-cased name, raw unfolded value without leading and trailing
            white space) in message order.
    """

    fields: tuple[tuple[str, str], ...]
    _decoded: dict[str, list[str]] = attrs.field(factory=dict, eq=False, repr=False)
    _addresses: dict[str, list[Address]] = attrs.field(factory=dict, eq=False, repr=False)

    @classmethod
    def parse(cls, message: bytes) -> Headers:
        """Read the header section (up to the first empty line, RFC 5322 §2.1).

        Lines that are not ``name: value`` (nor continuations) are skipped. Values are
        unfolded (RFC 5322 §2.2.3) and decoded as UTF-8 (RFC 6532), invalid octets
        replaced. At most `MAX_HEADER_BYTES` octets and `MAX_FIELDS` fields are read.
        """
        head = message[:MAX_HEADER_BYTES]
        end = _END_OF_HEADER.search(head)
        if end is not None:
            head = head[: end.start()]
        fields: list[tuple[str, list[str]]] = []
        for line in head.decode("utf-8", "replace").replace("\r\n", "\n").split("\n"):
            if line[:1] in (" ", "\t"):
                if fields:
                    fields[-1][1].append(line)
                continue
            name, colon, value = line.partition(":")
            name = name.rstrip(" \t")  # obsolete syntax allowed WSP before the colon
            if not colon or not _FIELD_NAME.fullmatch(name) or len(fields) >= MAX_FIELDS:
                continue
            fields.append((name.lower(), [value]))
        return cls(fields=tuple((n, "".join(v).strip(" \t")) for n, v in fields))

    def raw(self, name: str) -> list[str]:
        """The raw values of every field called *name* (any case), in order."""
        wanted = name.lower()
        return [value for field, value in self.fields if field == wanted]

    def exists(self, name: str) -> bool:
        """True if the message has a field called *name* (any case)."""
        wanted = name.lower()
        return any(field == wanted for field, _ in self.fields)

    def names(self) -> list[str]:
        """Every field name (lower-cased), in order, repeated names repeated."""
        return [field for field, _ in self.fields]

    def decoded(self, name: str) -> list[str]:
        """The values of *name*, RFC 2047 encoded words decoded (RFC 5228 §2.7.2)."""
        key = name.lower()
        if key not in self._decoded:  # a script may test one field many times
            self._decoded[key] = [decode_words(v[:MAX_FIELD_CHARS]) for v in self.raw(key)]
        return self._decoded[key]

    def addresses(self, name: str) -> list[Address]:
        """The addresses in every field called *name* (RFC 5322 §3.4: mailbox-list,
        address-list with groups, obsolete forms as Python's parser knows them).
        Display names and comments are dropped; an empty group yields nothing."""
        key = name.lower()
        if key not in self._addresses:
            found: list[Address] = []
            for value in self.raw(key):
                found.extend(Address.parse(a) for a in _addresses(value[:MAX_FIELD_CHARS]))
            self._addresses[key] = found
        return self._addresses[key]

    def first(self, name: str) -> str:
        """The first decoded value of *name*, or ``""``."""
        values = self.decoded(name)
        return values[0] if values else ""


def _addresses(value: str) -> list[str]:
    """The addr-specs in one field value; Python's parser first, a plain pattern for
    values it chokes on (nested comments thousands deep raise RecursionError)."""
    try:
        return [addr for _display, addr in email.utils.getaddresses([value]) if addr]
    except (RecursionError, ValueError, IndexError):
        return _ADDR_SPEC.findall(value)


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words in a header value; a value that cannot be decoded
    (unknown charset, broken encoding) is returned as it is."""
    if "=?" not in value:
        return value
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (LookupError, ValueError, UnicodeError, email.errors.HeaderParseError):
        return value
