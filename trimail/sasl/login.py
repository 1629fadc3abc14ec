"""SASL LOGIN (draft-murchison-sasl-login-00), server side: no I/O.

The obsolete but widespread mechanism: the server prompts ``Username:``, the client
answers, the server prompts ``Password:``, the client answers (draft §2). The engine
base64-encodes the prompts and decodes the answers. An initial response, if any,
is the username (draft §2, as sent by e.g. Outlook with ``AUTH LOGIN <b64>``).
Verifying the password is the caller's business.
"""

from __future__ import annotations

import enum

from trimail.sasl.plain import MAX_FIELD_BYTES, SaslError
from trimail.sasl.scram import SaslStateError

LOGIN_USERNAME_PROMPT = b"Username:"  # draft-murchison-sasl-login-00 §2
LOGIN_PASSWORD_PROMPT = b"Password:"  # draft-murchison-sasl-login-00 §2


class _State(enum.Enum):
    USERNAME = enum.auto()  # waiting for the username
    PASSWORD = enum.auto()  # waiting for the password
    DONE = enum.auto()  # both received
    FAILED = enum.auto()  # a SaslError was raised


class LoginServer:
    """One LOGIN exchange, server side (draft-murchison-sasl-login-00 §2).

    Send `LOGIN_USERNAME_PROMPT` first (unless the client gave an initial
    response), then feed each decoded client response to `step`, and send what
    it returns until it returns None.
    """

    def __init__(self) -> None:
        self._state = _State.USERNAME
        self._username = ""
        self._password = ""

    @property
    def done(self) -> bool:
        """True once both the username and the password have been received."""
        return self._state is _State.DONE

    @property
    def credentials(self) -> tuple[str, str]:
        """``(username, password)`` once `done`.

        Raises:
            SaslStateError: the exchange is not finished.
        """
        if self._state is not _State.DONE:
            raise SaslStateError("LOGIN credentials requested before the exchange finished")
        return self._username, self._password

    def step(self, response: bytes) -> bytes | None:
        """Take the client's next response, already base64-decoded.

        Args:
            response: the username, then the password; UTF-8 without NUL, 1 to 255
                octets (the same limit as PLAIN, RFC 4616 §2).

        Returns:
            The next prompt to send (`LOGIN_PASSWORD_PROMPT`), or None when done.

        Raises:
            SaslError: empty, too long, NUL or not UTF-8; the exchange is over.
            SaslStateError: called after the exchange finished or failed.
        """
        if self._state is _State.USERNAME:
            self._username = self._field(response, "username")
            self._state = _State.PASSWORD
            return LOGIN_PASSWORD_PROMPT
        if self._state is _State.PASSWORD:
            self._password = self._field(response, "password")
            self._state = _State.DONE
            return None
        raise SaslStateError(f"LOGIN step in state {self._state.name}")

    def _field(self, raw: bytes, name: str) -> str:
        try:
            return _field(raw, name)
        except SaslError:
            self._state = _State.FAILED
            raise


def _field(raw: bytes, name: str) -> str:
    if not raw:
        raise SaslError(f"empty {name}")
    if len(raw) > MAX_FIELD_BYTES:
        raise SaslError(f"{name} longer than {MAX_FIELD_BYTES} octets")
    if b"\x00" in raw:
        raise SaslError(f"NUL in {name}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SaslError(f"{name} is not valid UTF-8") from None
