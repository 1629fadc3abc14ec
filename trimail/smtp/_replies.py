"""Replies the engine gives by itself (syntax, sequence, limits): ASCII text only."""

from __future__ import annotations

from trimail.mail.reply import Reply


def _reply(code: int, status: str, text: str) -> Reply:
    return Reply(code=code, enhanced_status=status, text=text)


# RFC 5321 §4.2.4: 500 for an unknown command, 502 for a known but unimplemented one.
R500_UNRECOGNIZED = _reply(500, "5.5.1", "Command unrecognized")
R502_NOT_IMPLEMENTED = _reply(502, "5.5.1", "Command not implemented")
R500_LINE_TOO_LONG = _reply(500, "5.5.6", "Line too long")  # RFC 5321 §4.5.3.1.4
R500_BARE_NEWLINE = _reply(
    500, "5.5.2", "Syntax error: command lines must end with CRLF (RFC 5321 section 2.3.8)"
)
R501_BAD_UTF8 = _reply(501, "5.5.2", "Syntax error: invalid UTF-8")
R501_NO_ARGUMENTS = _reply(501, "5.5.4", "Syntax error: no arguments allowed")
R501_EHLO = _reply(501, "5.5.4", "Syntax: EHLO hostname")
R501_HELO = _reply(501, "5.5.4", "Syntax: HELO hostname")
R501_MAIL = _reply(501, "5.5.4", "Syntax: MAIL FROM:<address> [parameters]")
R501_RCPT = _reply(501, "5.5.4", "Syntax: RCPT TO:<address> [parameters]")
R501_VRFY = _reply(501, "5.5.4", "Syntax: VRFY string")
R501_BDAT = _reply(501, "5.5.4", "Syntax: BDAT chunk-size [LAST]")
R501_PARAMETER = _reply(501, "5.5.4", "Syntax error in parameters")
R501_DUPLICATE_PARAMETER = _reply(501, "5.5.4", "Duplicate parameter")
R501_SIZE = _reply(501, "5.5.4", "Syntax: SIZE=octets")
R501_NULL_RCPT = _reply(501, "5.1.3", "Null forward-path not allowed")
R555_PARAMETER = _reply(555, "5.5.4", "Unsupported parameter")  # RFC 5321 §4.1.1.11
R552_SIZE = _reply(552, "5.3.4", "Message size exceeds fixed maximum message size")  # RFC 1870
R452_TOO_MANY_RECIPIENTS = _reply(452, "4.5.3", "Too many recipients")  # RFC 5321 §4.5.3.1.10

R503_HELLO_FIRST = _reply(503, "5.5.1", "Bad sequence of commands: send HELO/EHLO first")
R503_NESTED_MAIL = _reply(503, "5.5.1", "Bad sequence of commands: nested MAIL command")
R503_MAIL_FIRST = _reply(503, "5.5.1", "Bad sequence of commands: need MAIL first")
R503_RCPT_FIRST = _reply(503, "5.5.1", "Bad sequence of commands: need RCPT first")
R503_MIXED_DATA = _reply(503, "5.5.1", "Bad sequence of commands: DATA after BDAT")
R503_BAD_SEQUENCE = _reply(503, "5.5.1", "Bad sequence of commands")
R503_TLS_ACTIVE = _reply(503, "5.5.1", "TLS already active")
# AUTH, RFC 4954 §4, §6
R503_ALREADY_AUTHENTICATED = _reply(503, "5.5.1", "Already authenticated")
R503_AUTH_IN_TRANSACTION = _reply(503, "5.5.1", "AUTH not permitted during a mail transaction")
R504_UNKNOWN_MECHANISM = _reply(504, "5.5.4", "Unrecognized authentication type")
R501_AUTH_SYNTAX = _reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]")
R501_CANNOT_DECODE = _reply(501, "5.5.2", "Cannot decode response")
R501_AUTH_CANCELLED = _reply(501, "5.7.0", "Authentication cancelled")
R503_NO_SERVICE = _reply(503, "5.5.1", "No service here, send QUIT")  # RFC 5321 §3.1
R554_NO_VALID_RECIPIENTS = _reply(554, "5.5.1", "No valid recipients")  # RFC 5321 §3.3

# Refusals at the end of message content (the driver sends MessageAborted.reply).
R552_MESSAGE_TOO_BIG = _reply(552, "5.3.4", "Message size exceeds fixed maximum message size")
R500_TEXT_LINE_TOO_LONG = _reply(
    500, "5.5.2", "Message refused: a text line is too long (RFC 5321 section 4.5.3.1.6)"
)
R554_BARE_LF = _reply(
    554, "5.6.0", "Message refused: bare LF in message data, lines must end with CRLF"
)
R554_BARE_CR = _reply(
    554, "5.6.0", "Message refused: bare CR in message data, lines must end with CRLF"
)

# Defaults carried by events whose reply needs no policy.
R250_OK = _reply(250, "2.0.0", "OK")
R252_CANNOT_VRFY = _reply(
    252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"
)  # RFC 5321 §3.5.3
R214_HELP = _reply(214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP VRFY HELP QUIT")


def r421(hostname: str, status: str, text: str) -> Reply:
    """A 421 closing reply (RFC 5321 §3.8): ``421 <status> <hostname> <text>``."""
    return Reply(code=421, enhanced_status=status, text=f"{hostname} {text}")
