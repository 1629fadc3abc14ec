"""A small SCRAM-SHA-256 client (RFC 5802 §3, §7; RFC 7677) for the tests.

Written from the RFC, independently of `trimail.sasl.scram`, so that the server is
checked against a second implementation. No channel binding, no SASLprep (the test
passwords are ASCII).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


class ScramClient:
    """One exchange: `first`, then `final(server_first)`, then `verify(server_final)`.

    Args:
        username: sent as ``n=`` with ``,`` and ``=`` escaped (RFC 5802 §5.1).
        password: the clear text.
        nonce: the client nonce; random by default.
        authzid: sent in the gs2-header as ``a=`` when not empty.
    """

    def __init__(
        self, username: str, password: str, *, nonce: str | None = None, authzid: str = ""
    ) -> None:
        self.username = username
        self.password = password
        self.nonce = nonce or secrets.token_urlsafe(18)
        escaped = username.replace("=", "=3D").replace(",", "=2C")
        self.gs2_header = f"n,{'a=' + authzid if authzid else ''},"
        self.client_first_bare = f"n={escaped},r={self.nonce}"
        self.server_signature = b""
        self.server_first = ""

    def first(self) -> bytes:
        """The client-first-message."""
        return (self.gs2_header + self.client_first_bare).encode()

    def final(self, server_first: bytes) -> bytes:
        """The client-final-message with the proof, for the server-first-message."""
        self.server_first = server_first.decode()
        attrs = dict(part.split("=", 1) for part in self.server_first.split(","))
        nonce, salt, iterations = attrs["r"], base64.b64decode(attrs["s"]), int(attrs["i"])
        assert nonce.startswith(self.nonce) and len(nonce) > len(self.nonce)
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, iterations)
        client_key = _hmac(salted, b"Client Key")
        stored_key = hashlib.sha256(client_key).digest()
        channel = base64.b64encode(self.gs2_header.encode()).decode()
        without_proof = f"c={channel},r={nonce}"
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        signature = _hmac(stored_key, auth_message)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self.server_signature = _hmac(_hmac(salted, b"Server Key"), auth_message)
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> bool:
        """True if the server-final-message proves the server knows the keys."""
        return server_final == b"v=" + base64.b64encode(self.server_signature)

    def salt(self) -> bytes:
        """The salt of the server-first-message (after `final`)."""
        attrs = dict(part.split("=", 1) for part in self.server_first.split(","))
        return base64.b64decode(attrs["s"])
