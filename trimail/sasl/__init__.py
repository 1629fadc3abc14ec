"""Sans-IO SASL mechanisms shared by SMTP, IMAP and POP3 (RFC 4422).

Only PLAIN (RFC 4616) so far. The engines decode base64 and call these; checking the
password belongs to the auth backend.
"""

from trimail.sasl.plain import (
    MAX_FIELD_BYTES,
    PlainCredentials,
    SaslError,
    encode_plain,
    parse_plain,
)

__all__ = ["MAX_FIELD_BYTES", "PlainCredentials", "SaslError", "encode_plain", "parse_plain"]
