"""Each Dovecot scheme with vectors made by the same libraries, plus fixed vectors."""

from __future__ import annotations

import base64
import hashlib
import os

import argon2
import bcrypt
import pytest
from trimail_passwd_file import schemes
from trimail_passwd_file.schemes import UnsupportedScheme, verify_password

PASSWORD = "correct horse ☃"
SALT = os.urandom(8)


def digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def generated() -> list[str]:
    pw = PASSWORD.encode()
    out = [f"{{PLAIN}}{PASSWORD}", f"{{CLEAR}}{PASSWORD}", f"{{plain}}{PASSWORD}"]
    out.append("{PLAIN.HEX}" + pw.hex())
    for scheme, name in (("SHA", "sha1"), ("SHA256", "sha256"), ("SHA512", "sha512")):
        out.append(f"{{{scheme}}}{b64(digest(name, pw))}")
        out.append(f"{{{scheme}.HEX}}{digest(name, pw).hex()}")
    for scheme, name in (("SSHA", "sha1"), ("SSHA256", "sha256"), ("SSHA512", "sha512")):
        out.append(f"{{{scheme}}}{b64(digest(name, pw + SALT) + SALT)}")
        out.append(f"{{{scheme}.HEX}}{(digest(name, pw + SALT) + SALT).hex()}")
    argon2id = argon2.PasswordHasher(time_cost=1, memory_cost=1024, type=argon2.Type.ID)
    argon2i = argon2.PasswordHasher(time_cost=1, memory_cost=1024, type=argon2.Type.I)
    out += [f"{{ARGON2ID}}{argon2id.hash(PASSWORD)}", f"{{ARGON2I}}{argon2i.hash(PASSWORD)}"]
    blf = bcrypt.hashpw(pw, bcrypt.gensalt(4)).decode()
    out += [f"{{BLF-CRYPT}}{blf}", "{BLF-CRYPT}" + blf.replace("$2b$", "$2y$", 1), blf]
    return out


@pytest.mark.parametrize("stored", generated(), ids=lambda s: s.partition("}")[0] + "}")
def test_right_and_wrong_password(stored: str) -> None:
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "x")
    assert not verify_password(stored, "")


def test_fixed_ssha256_vector() -> None:
    # "secret" with the salt 01..08, base64(sha256(password + salt) + salt)
    stored = "{SSHA256}A7N1lAy5bBb4T6qH9e85zAvHBmzNPhRFbZ105DjjWDIBAgMEBQYHCA=="
    assert verify_password(stored, "secret")
    assert not verify_password(stored, "Secret")


# Test vectors from Ulrich Drepper's SHA-crypt specification (as glibc crypt(3) gives).
SHA_CRYPT_VECTORS = [
    "{SHA256-CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5",
    "{SHA512-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4"
    "OTLiBFdcbYEdFCoEOfaS35inz1",
]


@pytest.mark.skipif(schemes.sha512_crypt is None, reason="libpass not installed")
@pytest.mark.parametrize("stored", SHA_CRYPT_VECTORS)
def test_sha_crypt_fixed_vectors(stored: str) -> None:
    assert verify_password(stored, "Hello world!")
    assert not verify_password(stored, "Hello world")
    assert verify_password(stored.partition("}")[2], "Hello world!")  # bare crypt(3)


@pytest.mark.parametrize("stored", SHA_CRYPT_VECTORS)
def test_sha_crypt_without_library_is_unsupported(
    stored: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schemes, "sha256_crypt", None)
    monkeypatch.setattr(schemes, "sha512_crypt", None)
    with pytest.raises(UnsupportedScheme, match="libpass"):
        verify_password(stored, "Hello world!")


@pytest.mark.parametrize(
    "stored", ["{MD5-CRYPT}$1$abc$def", "{CRAM-MD5}abc", "abDES13chars", "{SSHA.ROT13}x"]
)
def test_unsupported_schemes(stored: str) -> None:
    with pytest.raises(UnsupportedScheme):
        verify_password(stored, "x")


@pytest.mark.parametrize(
    "stored",
    [
        "{SSHA256}not base64!",
        "{SSHA256}",
        "{SHA}AAAA",
        "{ARGON2ID}$argon2id$bad",
        "{BLF-CRYPT}$2y$x",
    ],
)
def test_malformed_hashes_do_not_match(stored: str) -> None:
    assert not verify_password(stored, "x")
