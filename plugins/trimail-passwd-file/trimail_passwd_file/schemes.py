"""Dovecot password schemes: ``{SCHEME}encoded`` as in a passwd-file's password field.

Salted digests are ``base64(digest + salt)``, plain digests ``base64(digest)``; a
``.HEX`` suffix (``{SSHA256.HEX}``) means hex instead of base64, as in Dovecot.
{SHA256-CRYPT} and {SHA512-CRYPT} need libpass (or passlib) installed; without it they
raise `UnsupportedScheme`, as do schemes not listed here (MD5-CRYPT, DES CRYPT, ...).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

import argon2
import argon2.exceptions

try:
    import bcrypt
except ImportError:  # pragma: no cover - a dependency of this package
    bcrypt = None  # type: ignore[assignment]

try:
    from passlib.hash import sha256_crypt, sha512_crypt
except ImportError:
    sha256_crypt = sha512_crypt = None

_DIGESTS = {"SHA": "sha1", "SHA1": "sha1", "SHA256": "sha256", "SHA512": "sha512"}
_SALTED = {"SSHA": "sha1", "SSHA256": "sha256", "SSHA512": "sha512"}
_ARGON2 = argon2.PasswordHasher()


class UnsupportedScheme(Exception):
    """The scheme is unknown, or needs a library that is not installed."""


def split_scheme(stored: str) -> tuple[str, str]:
    """``"{SSHA256}abc"`` -> ``("SSHA256", "abc")``; no braces: Dovecot's default, CRYPT."""
    if stored.startswith("{") and "}" in stored:
        scheme, _, encoded = stored[1:].partition("}")
        return scheme.upper(), encoded
    return "CRYPT", stored


def _decode(encoded: str, hex_encoded: bool) -> bytes:
    try:
        if hex_encoded:
            return bytes.fromhex(encoded)
        return base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        return b""  # matches nothing


def _argon2(encoded: str, password: bytes) -> bool:
    try:
        return _ARGON2.verify(encoded, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def _blf_crypt(encoded: str, password: bytes) -> bool:
    if bcrypt is None:
        raise UnsupportedScheme("BLF-CRYPT needs the bcrypt package")
    try:
        return bcrypt.checkpw(password, encoded.encode("ascii"))
    except ValueError:  # malformed hash (or a password over 72 bytes, bcrypt >= 5)
        return False


def _sha256_crypt(encoded: str, password: bytes) -> bool:
    return _sha_crypt("SHA256-CRYPT", sha256_crypt, encoded, password)


def _sha512_crypt(encoded: str, password: bytes) -> bool:
    return _sha_crypt("SHA512-CRYPT", sha512_crypt, encoded, password)


def _sha_crypt(scheme: str, handler: Any, encoded: str, password: bytes) -> bool:
    if handler is None:
        raise UnsupportedScheme(f"{scheme} needs libpass installed (pip install libpass)")
    try:
        return bool(handler.verify(password, encoded))
    except ValueError:  # malformed hash
        return False


_CRYPT: dict[str, Callable[[str, bytes], bool]] = {
    "ARGON2I": _argon2,
    "ARGON2ID": _argon2,
    "BLF-CRYPT": _blf_crypt,
    "SHA256-CRYPT": _sha256_crypt,
    "SHA512-CRYPT": _sha512_crypt,
}
# crypt(3) strings without a {SCHEME}, by their $id$ prefix.
_CRYPT_PREFIXES = {
    "$argon2i$": "ARGON2I",
    "$argon2id$": "ARGON2ID",
    "$2a$": "BLF-CRYPT",
    "$2b$": "BLF-CRYPT",
    "$2y$": "BLF-CRYPT",
    "$5$": "SHA256-CRYPT",
    "$6$": "SHA512-CRYPT",
}


def supported_schemes() -> list[str]:
    """The schemes this installation can check."""
    names = ["PLAIN", "CLEAR", "CLEARTEXT", *_DIGESTS, *_SALTED, "ARGON2I", "ARGON2ID"]
    if bcrypt is not None:
        names.append("BLF-CRYPT")
    if sha512_crypt is not None:
        names += ["SHA256-CRYPT", "SHA512-CRYPT"]
    return names


def verify_password(stored: str, password: str) -> bool:
    """Check *password* against a passwd-file password field.

    Args:
        stored: ``{SCHEME}encoded`` (or a bare crypt(3) string with a known ``$id$``).
        password: as the client sent it.

    Returns:
        Whether it matches. Digests are compared with `hmac.compare_digest`.

    Raises:
        UnsupportedScheme: the scheme cannot be checked here.
    """
    scheme, encoded = split_scheme(stored)
    given = password.encode("utf-8")
    if scheme == "CRYPT":
        for prefix, name in _CRYPT_PREFIXES.items():
            if encoded.startswith(prefix):
                scheme = name
                break
        else:
            raise UnsupportedScheme("CRYPT (DES or MD5 crypt)")
    base, _, encoding = scheme.partition(".")
    if encoding not in ("", "HEX", "B64", "BASE64"):
        raise UnsupportedScheme(scheme)
    hex_encoded = encoding == "HEX"
    if base in ("PLAIN", "CLEAR", "CLEARTEXT"):
        expected = _decode(encoded, hex_encoded) if encoding else encoded.encode("utf-8")
        return hmac.compare_digest(expected, given)
    if base in _DIGESTS:
        digest = hashlib.new(_DIGESTS[base], given).digest()
        return hmac.compare_digest(_decode(encoded, hex_encoded), digest)
    if base in _SALTED:
        algorithm = _SALTED[base]
        size = hashlib.new(algorithm).digest_size
        raw = _decode(encoded, hex_encoded)
        digest, salt = raw[:size], raw[size:]
        if len(digest) != size:
            return False
        return hmac.compare_digest(digest, hashlib.new(algorithm, given + salt).digest())
    if base in _CRYPT and not encoding:
        return _CRYPT[base](encoded, given)
    raise UnsupportedScheme(scheme)
