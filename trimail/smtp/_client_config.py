"""Client engine configuration: our name and the limits on what the server sends."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from trimail.smtp._client_render import check_hostname


def _at_least(minimum: int) -> Callable[[object, attrs.Attribute[int], int], None]:
    def check(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
        if value < minimum:
            raise ValueError(f"{attribute.name} must be at least {minimum}, got {value}")

    return check


def _hostname(_instance: object, _attribute: attrs.Attribute[str], value: str) -> None:
    check_hostname(value)


@attrs.frozen(kw_only=True)
class ClientConfig:
    """Identity and limits of one `ClientConnection` (units in the field names).

    Attributes:
        local_hostname: the EHLO/HELO argument: our fully qualified domain name, or an
            address literal such as ``[192.0.2.1]`` (RFC 5321 §4.1.1.1, §2.3.5). It
            comes from config, never from a lookup by the engine.
        max_reply_line_bytes: longest reply line accepted, CRLF included. RFC 5321
            §4.5.3.1.5 sets 512 octets; real servers exceed it (long EHLO keywords,
            UTF-8 texts), so the default is lenient. A longer line is a
            `RemoteProtocolError`.
        max_reply_lines: most lines in one reply (an EHLO reply has about 10-20).
        max_buffer_bytes: most octets held for one incomplete reply (its lines so far
            plus the unread rest); more is a `RemoteProtocolError`.
    """

    local_hostname: str = attrs.field(validator=_hostname)
    max_reply_line_bytes: int = attrs.field(default=4096, validator=_at_least(16))
    max_reply_lines: int = attrs.field(default=200, validator=_at_least(1))
    max_buffer_bytes: int = attrs.field(default=1024 * 1024, validator=_at_least(16))
