"""SASL SCRAM-SHA-256, server side (RFC 5802, RFC 7677): no I/O, no clock, no randomness.

The exchange is three messages after the mechanism name (RFC 5802 §5)::

    C: client-first-message        -> ScramServer.first()      (who is this?)
    S: server-first-message        <- ScramServer.challenge()  (salt, iterations, nonce)
    C: client-final-message        -> ScramServer.final()      (proof)
    S: server-final-message        <- return value of final()  (server signature)

The caller base64-decodes what the client sends, looks up the stored
`ScramCredentials` for the username that `first` returns, and supplies the server
nonce, which must come from a cryptographic random source (RFC 5802 §5.1 "r=").
Channel binding (SCRAM-SHA-256-PLUS) is not supported.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import hashlib
import hmac
import unicodedata
from collections.abc import Iterator

import attrs

from trimail.sasl.plain import SaslError

MECHANISM = "SCRAM-SHA-256"
MIN_ITERATIONS = 4096  # RFC 7677 §4: the iteration count SHOULD be at least 4096
MAX_MESSAGE_BYTES = 4096  # octets per client message; RFC 5802 sets none, this is our limit
_HASH = "sha256"  # RFC 7677 §3: H() and HMAC() are SHA-256


class SaslStateError(RuntimeError):
    """trimail called a mechanism step out of order: a bug in the caller, not the peer."""


class ScramError(SaslError):
    """A SCRAM exchange failed (RFC 5802 §7).

    Attributes:
        server_error: the RFC 5802 §7 ``server-error-value``, e.g. ``"invalid-proof"``.
            Only a failed `ScramServer.final` may answer with it (render it with
            `server_final`); after a failed `ScramServer.first` the engine just
            fails the exchange (RFC 4422 §3.6).
    """

    def __init__(self, message: str, *, server_error: str = "other-error") -> None:
        super().__init__(message)
        self.server_error = server_error

    def server_final(self) -> bytes:
        """Return the failing server-final-message ``e=<server-error-value>`` (RFC 5802 §7)."""
        return f"e={self.server_error}".encode("ascii")


def _check_iterations(_instance: object, _attribute: object, value: int) -> None:
    if value < MIN_ITERATIONS:
        raise ValueError(f"iteration count {value} below {MIN_ITERATIONS} (RFC 7677 §4)")


@attrs.frozen(kw_only=True)
class ScramCredentials:
    """What the server stores for one user instead of the password (RFC 5802 §3).

    Attributes:
        salt: the random salt used to derive SaltedPassword; non-empty.
        iterations: the PBKDF2 iteration count ``i``; at least 4096 (RFC 7677 §4).
        stored_key: ``H(HMAC(SaltedPassword, "Client Key"))``, 32 octets.
        server_key: ``HMAC(SaltedPassword, "Server Key")``, 32 octets.
    """

    salt: bytes = attrs.field(validator=attrs.validators.min_len(1))
    iterations: int = attrs.field(validator=_check_iterations)
    stored_key: bytes = attrs.field(repr=False)
    server_key: bytes = attrs.field(repr=False)

    def to_text(self) -> str:
        """Render for a password database, in PostgreSQL's layout.

        The form is ``SCRAM-SHA-256$<iterations>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>``
        with standard base64 (RFC 4648 §4), padded. `from_text` also reads Dovecot's
        ``{SCRAM-SHA-256}<iterations>,<b64 salt>,<b64 StoredKey>,<b64 ServerKey>``.
        """
        salt, stored, server = (_b64(v) for v in (self.salt, self.stored_key, self.server_key))
        return f"{MECHANISM}${self.iterations}:{salt}${stored}:{server}"

    @classmethod
    def from_text(cls, text: str) -> ScramCredentials:
        """Parse what `to_text` wrote, or Dovecot's ``{SCRAM-SHA-256}i,salt,stored,server``.

        Raises:
            ValueError: not one of the two layouts, bad base64, or fewer than 4096
                iterations.
        """
        if text.startswith(MECHANISM + "$"):
            head, sep, keys = text[len(MECHANISM) + 1 :].partition("$")
            fields = [*head.split(":"), *keys.split(":")] if sep else []
        elif text.startswith("{" + MECHANISM + "}"):
            fields = text[len(MECHANISM) + 2 :].split(",")
        else:
            raise ValueError(f"not a {MECHANISM} credential")
        if len(fields) != 4 or not fields[0].isascii() or not fields[0].isdigit():
            raise ValueError(f"malformed {MECHANISM} credential")
        try:
            salt, stored, server = (_unb64(f) for f in fields[1:])
        except SaslError as exc:
            raise ValueError(str(exc)) from None
        return cls(salt=salt, iterations=int(fields[0]), stored_key=stored, server_key=server)


def saslprep(text: str) -> str:
    """Prepare a password, approximating SASLprep (RFC 4013).

    Done: non-ASCII spaces map to U+0020 (§2.1), the "commonly mapped to nothing"
    characters of RFC 3454 B.1 are removed (§2.2), NFKC (§2.3), and control,
    private-use and surrogate code points are refused (§2.3, subset of the
    prohibited tables). Not done: the unassigned-code-point and bidirectional checks.

    Raises:
        ValueError: a prohibited character, or nothing left after mapping.
    """
    mapped = "".join(
        " " if unicodedata.category(ch) == "Zs" else ch for ch in text if ch not in _B1
    )
    prepared = unicodedata.normalize("NFKC", mapped)
    for ch in prepared:
        if unicodedata.category(ch) in ("Cc", "Co", "Cs"):
            raise ValueError(f"prohibited character U+{ord(ch):04X} (RFC 4013 §2.3)")
    if not prepared:
        raise ValueError("empty string after SASLprep (RFC 4013 §2)")
    return prepared


# RFC 3454 table B.1, "commonly mapped to nothing" (RFC 4013 §2.2).
_B1 = frozenset(
    "\u00ad\u034f\u1806\u180b\u180c\u180d\u200b\u200c\u200d\u2060\ufeff"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
)


def derive_credentials(
    password: str, salt: bytes, iterations: int = MIN_ITERATIONS
) -> ScramCredentials:
    """Derive the stored keys for *password* (RFC 5802 §3), e.g. when setting a password.

    Args:
        password: clear text; prepared with `saslprep` (an approximation of RFC 4013).
        salt: random octets from the caller (RFC 5802 §5.1 suggests a per-user salt);
            at least 16 is sensible.
        iterations: PBKDF2-HMAC-SHA-256 rounds; at least 4096 (RFC 7677 §4).

    Raises:
        ValueError: the password is refused by `saslprep`, the salt is empty, or
            fewer than 4096 iterations.
    """
    if iterations < MIN_ITERATIONS:
        raise ValueError(f"iteration count {iterations} below {MIN_ITERATIONS} (RFC 7677 §4)")
    if not salt:
        raise ValueError("empty salt")
    salted = hashlib.pbkdf2_hmac(_HASH, saslprep(password).encode("utf-8"), salt, iterations)
    client_key = _hmac(salted, b"Client Key")
    return ScramCredentials(
        salt=salt,
        iterations=iterations,
        stored_key=hashlib.sha256(client_key).digest(),
        server_key=_hmac(salted, b"Server Key"),
    )


def fake_credentials(
    secret: bytes, username: str, iterations: int = MIN_ITERATIONS, *, salt_bytes: int = 16
) -> ScramCredentials:
    """Made-up but stable credentials for a user that has none (RFC 5802 §9).

    Give them to `ScramServer.challenge` when the user is unknown (or has no SCRAM
    keys), so that the exchange goes on as for a real user and fails at the proof:
    the salt is the same at every attempt and looks like a real one, and no proof
    matches the StoredKey. Nothing tells the two cases apart on the wire.

    Args:
        secret: a server secret (random, kept across restarts, at least 16 octets);
            without it anyone could compute the fake salt and compare.
        username: the name the client gave, normalized as the caller's lookups do
            (say, lower-cased), so that spellings of one name get one salt.
        iterations: the count real users have, so that ``i=`` does not differ.
        salt_bytes: the length of real users' salts (1 to 32 octets).

    Raises:
        ValueError: empty *secret*, *salt_bytes* out of range, or fewer than 4096
            iterations.
    """
    if not secret:
        raise ValueError("empty secret")
    if not 1 <= salt_bytes <= hashlib.sha256().digest_size:
        raise ValueError(f"salt_bytes must be 1 to 32, got {salt_bytes}")
    name = username.encode("utf-8")

    def derive(label: bytes) -> bytes:
        return _hmac(secret, label + b"\x00" + name)

    return ScramCredentials(
        salt=derive(b"salt")[:salt_bytes],
        iterations=iterations,
        stored_key=derive(b"stored-key"),
        server_key=derive(b"server-key"),
    )


class _State(enum.Enum):
    START = enum.auto()  # waiting for client-first-message
    FIRST_RECEIVED = enum.auto()  # username known, waiting for credentials
    CHALLENGED = enum.auto()  # server-first-message sent, waiting for client-final-message
    DONE = enum.auto()  # server-final-message produced
    FAILED = enum.auto()  # a SaslError was raised; the exchange is over


class ScramServer:
    """One SCRAM-SHA-256 exchange, server side (RFC 5802 §5, RFC 7677).

    Call `first`, `challenge` and `final` once each, in that order. Any `SaslError`
    ends the exchange.

    Args:
        nonce: the server's part of the nonce, fresh from a cryptographic random
            source; printable ASCII without "," (RFC 5802 §7 ``printable``).
        channel_binding_offered: whether SCRAM-SHA-256-PLUS was advertised; if so a
            client saying "y" is refused, since it believes the server cannot bind
            (RFC 5802 §6).

    Raises:
        ValueError: *nonce* is empty or has a character outside ``printable``.
    """

    def __init__(self, nonce: str, *, channel_binding_offered: bool = False) -> None:
        if not nonce or not _is_printable(nonce):
            raise ValueError("server nonce must be non-empty printable ASCII without ','")
        self._server_nonce = nonce
        self._channel_binding_offered = channel_binding_offered
        self._state = _State.START
        self._gs2_header = ""
        self._client_first_bare = ""
        self._nonce = ""
        self._server_first = ""
        self._credentials: ScramCredentials | None = None

    def first(self, client_first: bytes) -> tuple[str, str]:
        """Read the client-first-message (RFC 5802 §7), already base64-decoded.

        Args:
            client_first: ``gs2-header client-first-message-bare``, e.g.
                ``b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"``; at most 4096 octets.

        Returns:
            ``(username, authzid)``, with ``=2C`` and ``=3D`` decoded; authzid is
            ``""`` when absent. SASLprep is not applied to either.

        Raises:
            SaslError: malformed message, channel binding requested ("p=") or
                "y" while -PLUS was offered (RFC 5802 §6), or a mandatory
                extension ("m=", RFC 5802 §5.1).
            SaslStateError: called twice.
        """
        self._expect(_State.START)
        with self._failing():
            text = _decode(client_first, "client-first-message")
            parts = text.split(",")
            if len(parts) < 4:
                raise ScramError("client-first-message too short")
            cbind, authzid_attr = parts[0], parts[1]
            self._check_cbind_flag(cbind)
            authzid = _saslname(authzid_attr[2:]) if authzid_attr.startswith("a=") else ""
            if authzid_attr and not authzid:
                raise ScramError("malformed authzid in gs2-header")
            bare = parts[2:]
            if bare[0].startswith("m="):
                raise ScramError(
                    "mandatory extension not supported", server_error="extensions-not-supported"
                )
            if not bare[0].startswith("n="):
                raise ScramError("expected n=username")
            username = _saslname(bare[0][2:])
            client_nonce = _attr(bare[1], "r")
            if not client_nonce or not _is_printable(client_nonce):
                raise ScramError("malformed client nonce")
            _check_extensions(bare[2:])
            self._gs2_header = f"{cbind},{authzid_attr},"
            self._client_first_bare = ",".join(bare)
            self._nonce = client_nonce + self._server_nonce
            self._state = _State.FIRST_RECEIVED
            return username, authzid

    def challenge(self, credentials: ScramCredentials) -> bytes:
        """Build the server-first-message ``r=<nonce>,s=<salt>,i=<iterations>`` (RFC 5802 §7).

        For an unknown user, pass made-up but stable credentials (say, derived
        from a secret and the username) and let `final` fail, so that the
        exchange does not reveal which users exist (RFC 5802 §9).

        Args:
            credentials: what is stored for the username `first` returned.

        Raises:
            SaslStateError: not right after `first`.
        """
        self._expect(_State.FIRST_RECEIVED)
        self._credentials = credentials
        salt = _b64(credentials.salt)
        self._server_first = f"r={self._nonce},s={salt},i={credentials.iterations}"
        self._state = _State.CHALLENGED
        return self._server_first.encode("ascii")

    def final(self, client_final: bytes) -> bytes:
        """Verify the client-final-message (RFC 5802 §7), already base64-decoded.

        Checks ``c=`` is the base64 of the gs2-header (``"biws"`` for ``"n,,"``),
        ``r=`` is the combined nonce, and the ClientProof against StoredKey
        (RFC 5802 §3), in constant time.

        Args:
            client_final: ``c=...,r=...[,ext...],p=...``; at most 4096 octets.

        Returns:
            The server-final-message ``v=<base64 ServerSignature>``.

        Raises:
            ScramError: malformed message, channel-binding or nonce mismatch, or a
                wrong proof ("authentication failed"); ``.server_error`` says which.
            SaslStateError: not right after `challenge`.
        """
        self._expect(_State.CHALLENGED)
        assert self._credentials is not None
        with self._failing():
            text = _decode(client_final, "client-final-message")
            without_proof, sep, proof_b64 = text.rpartition(",p=")
            if not sep:
                raise ScramError("missing proof")
            parts = without_proof.split(",")
            if len(parts) < 2:
                raise ScramError("client-final-message too short")
            binding = _attr(parts[0], "c")
            if binding != _b64(self._gs2_header.encode("utf-8")):
                raise ScramError(
                    "channel binding mismatch", server_error="channel-bindings-dont-match"
                )
            if _attr(parts[1], "r") != self._nonce:
                raise ScramError("nonce mismatch")
            _check_extensions(parts[2:])
            proof = _unb64(proof_b64)
            auth_message = f"{self._client_first_bare},{self._server_first},{without_proof}"
            self._verify(proof, auth_message.encode("utf-8"))
            signature = _hmac(self._credentials.server_key, auth_message.encode("utf-8"))
            self._state = _State.DONE
            return b"v=" + _b64(signature).encode("ascii")

    def _verify(self, proof: bytes, auth_message: bytes) -> None:
        assert self._credentials is not None
        stored_key = self._credentials.stored_key
        signature = _hmac(stored_key, auth_message)
        if len(proof) != len(signature):
            raise ScramError("authentication failed", server_error="invalid-proof")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key):
            raise ScramError("authentication failed", server_error="invalid-proof")

    def _check_cbind_flag(self, cbind: str) -> None:
        if cbind.startswith("p="):
            raise ScramError(
                "channel binding not supported", server_error="channel-binding-not-supported"
            )
        if cbind == "y" and self._channel_binding_offered:
            raise ScramError(
                "client thinks the server cannot bind",
                server_error="server-does-support-channel-binding",
            )
        if cbind not in ("n", "y"):
            raise ScramError("malformed gs2-cbind-flag")

    def _expect(self, state: _State) -> None:
        if self._state is not state:
            raise SaslStateError(f"SCRAM step out of order in state {self._state.name}")

    @contextlib.contextmanager
    def _failing(self) -> Iterator[None]:
        """Mark the exchange FAILED when a SaslError escapes a step."""
        try:
            yield
        except SaslError:
            self._state = _State.FAILED
            raise


def _decode(raw: bytes, name: str) -> str:
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ScramError(f"{name} longer than {MAX_MESSAGE_BYTES} octets")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScramError(f"{name} is not valid UTF-8", server_error="invalid-encoding") from None
    if "\x00" in text:
        raise ScramError(f"NUL in {name}", server_error="invalid-encoding")
    return text


def _attr(part: str, name: str) -> str:
    """Return the value of ``name=value`` (RFC 5802 §5.1), refusing any other attribute."""
    if not part.startswith(name + "="):
        raise ScramError(f"expected attribute {name}=")
    return part[2:]


def _saslname(value: str) -> str:
    """Decode a saslname: ``=2C`` is ",", ``=3D`` is "=", any other "=" is an error (§5.1)."""
    if not value:
        raise ScramError("empty saslname")
    pieces = value.split("=")
    out = [pieces[0]]
    for piece in pieces[1:]:
        if piece[:2] == "2C":
            out.append("," + piece[2:])
        elif piece[:2] == "3D":
            out.append("=" + piece[2:])
        else:
            raise ScramError("bad '=' escape in saslname", server_error="invalid-username-encoding")
    return "".join(out)


def _check_extensions(parts: list[str]) -> None:
    """Allow optional extensions ``attr=value`` with attr a letter (RFC 5802 §5.1, §7)."""
    for part in parts:
        if len(part) < 2 or not (part[0].isascii() and part[0].isalpha()) or part[1] != "=":
            raise ScramError("malformed attribute")


def _is_printable(text: str) -> bool:
    return all(0x21 <= ord(ch) <= 0x7E and ch != "," for ch in text)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise ScramError("bad base64", server_error="invalid-encoding") from None


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, _HASH).digest()
