"""DKIM signing and verification (RFC 6376, RFC 8463 ed25519) with dkimpy.

Pure: key records come from the :class:`~trimail.mailauth.resolver.Resolver` passed
in. dkimpy does the cryptography and canonicalization; this module only feeds it DNS
and turns its booleans and exceptions into RFC 8601 §2.7.1 results. Verifying is
CPU-heavy: the server calls :func:`verify` in a worker thread (STYLE.md §3).
"""

from __future__ import annotations

import base64
from typing import Literal, TypeAlias

import attrs
import dkim as dkimpy
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from dkim.util import InvalidTagValueList, parse_tag_value

from trimail.mailauth.records import DkimPrivateKey
from trimail.mailauth.resolver import Resolver, TempError

DkimResultCode: TypeAlias = Literal["pass", "fail", "neutral", "temperror", "permerror"]
# dkimpy raises these when it meets input it cannot handle (a malformed l=, bad
# base64 ...); they mean "cannot be processed", never a crash of ours.
_DKIMPY_BUGS = (ValueError, IndexError, KeyError, TypeError)


@attrs.frozen(kw_only=True)
class DkimResult:
    """The outcome for one DKIM-Signature field, in the order they appear."""

    domain: str  # d= (SDID), "" if the signature has none
    selector: str  # s=, "" if the signature has none
    result: DkimResultCode
    reason: str = ""  # short human text for reason= (RFC 8601 §2.2), "" on pass
    b: str = ""  # b= without white space, for header.b (RFC 6008)


class _KeyLookup:
    """A dkimpy ``dnsfunc`` that remembers why a key could not be had."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.problem: tuple[DkimResultCode, str] | None = None

    def __call__(self, name: bytes, timeout: float = 5) -> bytes | None:
        qname = name.decode("ascii", "replace")
        try:
            records = self.resolver.txt(qname.rstrip("."))
        except TempError as e:
            self.problem = ("temperror", f"key lookup failed: {e}")
            return None
        if not records:
            self.problem = ("permerror", f"no key at {qname}")
            return None
        record = records[0].encode("utf-8", "replace")  # several: undefined, §3.6.2.2
        try:
            dkimpy.evaluate_pk(name, record)
        except (dkimpy.DKIMException, *_DKIMPY_BUGS) as e:
            self.problem = ("permerror", f"unusable key: {e}")
        return record


def _tags(field_value: bytes) -> dict[bytes, bytes]:
    try:
        return dict(parse_tag_value(field_value))
    except (InvalidTagValueList, *_DKIMPY_BUGS):
        return {}


def _text(value: bytes | None) -> str:
    return (value or b"").decode("ascii", "replace")


def _one(message: bytes, idx: int, field_value: bytes, resolver: Resolver) -> DkimResult:
    tags = _tags(field_value)
    b = "".join(_text(tags.get(b"b")).split())
    lookup = _KeyLookup(resolver)

    def result(code: DkimResultCode, reason: str = "") -> DkimResult:
        domain, selector = _text(tags.get(b"d")).lower(), _text(tags.get(b"s"))
        return DkimResult(domain=domain, selector=selector, result=code, reason=reason, b=b)

    try:
        ok = dkimpy.DKIM(message).verify(idx=idx, dnsfunc=lookup)
    except dkimpy.ValidationError as e:
        if "body hash mismatch" in str(e):
            return result("fail", "body hash did not verify")
        return result("permerror", str(e))
    except dkimpy.MessageFormatError as e:
        return result("neutral", f"signature syntax: {e}")
    except (dkimpy.DKIMException, *_DKIMPY_BUGS) as e:
        return result("permerror", str(e) or type(e).__name__)
    if lookup.problem is not None:
        return result(*lookup.problem)
    return result("pass") if ok else result("fail", "signature did not verify")


MAX_SIGNATURES = 5  # verified per message (RFC 6376 §6.1 lets a verifier limit them)


def verify(
    message: bytes, resolver: Resolver, *, max_signatures: int = MAX_SIGNATURES
) -> list[DkimResult]:
    """Verify the DKIM-Signatures of *message* (RFC 6376 §6.1), the first
    *max_signatures* of them: each costs a key lookup and a pass over the body, and a
    sender could add hundreds (RFC 6376 §6.1 allows a verifier to stop).

    Args:
        message: the whole message as received, header and body, CRLF line ends.
        resolver: answers the ``<selector>._domainkey.<d>`` TXT queries (§3.6.2).
        max_signatures: how many signatures, top to bottom, are verified.

    Returns:
        One result per verified DKIM-Signature field, top to bottom; ``[]`` when there
        is none or the header cannot be parsed at all.

    Error handling:
        A resolver :class:`TempError` gives ``temperror``; no key record or an
        unusable one (bad ``p=``, ``k=``, too small) gives ``permerror``; a body hash
        or signature mismatch gives ``fail``; a signature whose tag list does not
        parse gives ``neutral``; missing or invalid required tags give ``permerror``.
    """
    try:
        headers = dkimpy.DKIM(message).headers
    except (dkimpy.DKIMException, *_DKIMPY_BUGS):
        return []
    fields = [value for name, value in headers if name.lower() == b"dkim-signature"]
    return [
        _one(message, idx, value, resolver) for idx, value in enumerate(fields[:max_signatures])
    ]


# RFC 6376 §5.4.1's recommended fields; From is listed twice ("oversigned", §8.15) so
# that a second From added in transit breaks the signature instead of riding on it.
SIGNED_HEADERS: tuple[bytes, ...] = (
    b"from", b"from", b"reply-to", b"subject", b"date", b"to", b"cc", b"resent-date",
    b"resent-from", b"resent-to", b"resent-cc", b"in-reply-to", b"references",
    b"list-id", b"list-help", b"list-unsubscribe", b"list-subscribe", b"list-post",
    b"list-owner", b"list-archive", b"message-id", b"mime-version", b"content-type",
    b"content-transfer-encoding",
)  # fmt: skip


class DkimSignError(Exception):
    """The message cannot be signed (no header section, a key dkimpy refuses)."""


def sign(
    message: bytes,
    *,
    domain: str,
    selector: str,
    key: DkimPrivateKey,
) -> str:
    """A DKIM-Signature field for *message* (RFC 6376 §5), relaxed/relaxed, From oversigned.

    Args:
        message: the message as it will be sent (CRLF line ends); it is not changed.
        domain: the signing domain (d=), an A-label.
        selector: the selector (s=).
        key: RSA (rsa-sha256) or Ed25519 (ed25519-sha256, RFC 8463).

    Returns:
        The complete field ``DKIM-Signature: ...`` with folded lines joined by CRLF and
        whitespace, without the final CRLF (prepend it with a CRLF after it).

    Raises:
        DkimSignError: dkimpy refused the message or the key.
    """
    if isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = b"ed25519-sha256"
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        private = base64.b64encode(raw)
    else:
        algorithm = b"rsa-sha256"
        private = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    try:
        field = dkimpy.DKIM(message).sign(
            selector.encode("ascii"),
            domain.encode("ascii"),
            private,
            canonicalize=(b"relaxed", b"relaxed"),
            include_headers=list(SIGNED_HEADERS),
            signature_algorithm=algorithm,
        )
    except (dkimpy.DKIMException, UnicodeEncodeError, *_DKIMPY_BUGS) as exc:
        raise DkimSignError(f"cannot sign for {domain}: {exc}") from None
    text: str = field.decode("ascii")
    return text.rstrip("\r\n")


ArcResultCode: TypeAlias = Literal["none", "pass", "fail", "temperror"]


def verify_arc(message: bytes, resolver: Resolver) -> tuple[ArcResultCode, str]:
    """Validate the ARC chain of *message* (RFC 8617 §5.2) with dkimpy.

    Args:
        message: the whole message as received.
        resolver: answers the seal and signature key lookups.

    Returns:
        (``"none"`` without ARC sets, ``"pass"``, ``"fail"`` or ``"temperror"``, a
        short reason); the result goes into Authentication-Results as ``arc=``
        (RFC 8617 §10.1). Never raises for malformed chains: they fail.
    """
    if b"arc-seal" not in message[: message.find(b"\r\n\r\n") + 1].lower():
        return "none", ""
    lookup = _KeyLookup(resolver)
    try:
        cv, _results, comment = dkimpy.ARC(message).verify(dnsfunc=lookup)
    except (dkimpy.DKIMException, *_DKIMPY_BUGS) as exc:
        return "fail", str(exc) or type(exc).__name__
    if lookup.problem is not None and lookup.problem[0] == "temperror":
        return "temperror", lookup.problem[1]
    code = _text(cv).lower()
    if code == "pass":
        return "pass", ""
    if code == "none":
        return "none", ""
    return "fail", _text(comment) if isinstance(comment, bytes) else str(comment or "")
