"""The SMTP envelope (RFC 5321 §2.3.1)."""

from __future__ import annotations

import attrs

from trimail.mail.address import Mailbox, ReversePath


@attrs.frozen(kw_only=True)
class Envelope:
    """What the SMTP transaction said about a message, apart from its content.

    Attributes:
        reverse_path: MAIL FROM's path; ``NULL_PATH`` for ``<>``.
        forward_paths: RCPT TO's accepted paths, in the order they were accepted.
        parameters: MAIL FROM's ESMTP parameters as (keyword upper-cased, value or None).
        helo_identity: the HELO/EHLO argument (RFC 7208 §2.3).
        smtputf8: True if MAIL FROM carried SMTPUTF8 (RFC 6531 §3.4).
    """

    reverse_path: ReversePath
    forward_paths: tuple[Mailbox, ...] = ()
    parameters: tuple[tuple[str, str | None], ...] = ()
    helo_identity: str = ""
    smtputf8: bool = False
