"""Sans-IO SASL mechanisms shared by SMTP, IMAP and POP3 (RFC 4422).

PLAIN (RFC 4616), LOGIN and SCRAM-SHA-256 (RFC 7677). The engines decode base64 and
call these; checking the password belongs to the auth backend.
"""

from trimail.sasl.plain import (
    MAX_FIELD_BYTES,
    PlainCredentials,
    SaslError,
    encode_plain,
    parse_plain,
)

__all__ = ["MAX_FIELD_BYTES", "PlainCredentials", "SaslError", "encode_plain", "parse_plain"]

from trimail.sasl.login import (
    LOGIN_PASSWORD_PROMPT,
    LOGIN_USERNAME_PROMPT,
    LoginServer,
)
from trimail.sasl.scram import (
    MAX_MESSAGE_BYTES,
    MIN_ITERATIONS,
    SaslStateError,
    ScramCredentials,
    ScramError,
    ScramServer,
    derive_credentials,
    fake_credentials,
    saslprep,
)
from trimail.sasl.scram import MECHANISM as SCRAM_SHA_256

__all__ += [
    "LOGIN_PASSWORD_PROMPT",
    "LOGIN_USERNAME_PROMPT",
    "MAX_MESSAGE_BYTES",
    "MIN_ITERATIONS",
    "SCRAM_SHA_256",
    "LoginServer",
    "SaslStateError",
    "ScramCredentials",
    "ScramError",
    "ScramServer",
    "derive_credentials",
    "fake_credentials",
    "saslprep",
]
