"""The ``[plugin.rspamd]`` table: where rspamd is and what to do with its answers."""

from __future__ import annotations

import ipaddress
import math
import urllib.parse
from typing import Any

import attrs

TABLE = "rspamd"

DEFAULT_URL = "http://127.0.0.1:11333"  # rspamd's normal worker (worker-normal.inc)
DEFAULT_MAX_SIZE_BYTES = 20 * 1024 * 1024  # rspamd's own max_message is 50 MiB
MAX_TIMEOUT_SECONDS = 600.0
ON_ERROR_CHOICES = ("accept", "tempfail")


@attrs.frozen(kw_only=True)
class Endpoint:
    """Where to POST: the parts of a validated ``url`` setting.

    Attributes:
        scheme: ``"http"`` or ``"https"``.
        host: the host name or IP address (IPv6 without brackets).
        port: the TCP port (the URL's, else 80 / 443).
        path: the request path ending in ``/checkv2``.
    """

    scheme: str
    host: str
    port: int
    path: str


def parse_url(url: str) -> Endpoint:
    """Split an rspamd base URL (``http://host:port`` or ``https://host:port/prefix``).

    The scan path is the URL's path with ``/checkv2`` appended (a prefix lets rspamd
    sit behind a reverse proxy).

    Args:
        url: the ``url`` setting.

    Returns:
        The `Endpoint` to connect to.

    Raises:
        ValueError: not an http:// or https:// URL with a host, or it has user
            information, a query or a fragment (with a message for the operator).
    """
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise ValueError(f"url: {url!r} has spaces or control characters")
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"url: {url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"url: {url!r} must start with http:// or https://")
    if not parts.hostname:
        raise ValueError(f"url: {url!r} names no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("url: must not hold a user name or password (use `password`)")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ValueError(f"url: {url!r} must not have a query or fragment")
    if port == 0:
        raise ValueError(f"url: {url!r} has port 0")
    path = parts.path.rstrip("/")
    if path.endswith("/checkv2"):  # the operator gave the whole scan URL
        path = path[: -len("/checkv2")]
    default_port = 443 if parts.scheme == "https" else 80
    return Endpoint(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or default_port,
        path=path + "/checkv2",
    )


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    parse_url(value)


def _timeout(_inst: object, _attribute: attrs.Attribute[float], value: float) -> None:
    if not math.isfinite(value) or not 0 < value <= MAX_TIMEOUT_SECONDS:
        raise ValueError(
            f"timeout_seconds: must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g}; "
            f"got {value!r}"
        )


def _on_error(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ON_ERROR_CHOICES:
        raise ValueError(f'on_error: must be "accept" or "tempfail", not {value!r}')


def _mailbox(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip() or any(not ch.isprintable() for ch in value):
        raise ValueError(f"junk_mailbox: {value!r} is not a mailbox name (e.g. Junk)")


def _size(_inst: object, _attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"max_size_bytes: must be at least 1; got {value}")


def _header_value(_inst: object, attribute: attrs.Attribute[str], value: str) -> None:
    if any(not 0x20 < ord(ch) < 0x7F for ch in value) or len(value) > 256:
        raise ValueError(
            f"{attribute.name}: printable ASCII without spaces, at most 256 characters"
        )


@attrs.frozen(kw_only=True)
class RspamdSettings:
    """The ``[plugin.rspamd]`` table (every key has a default; see README.md).

    Attributes:
        url: rspamd's normal worker, ``http://`` or ``https://`` (``/checkv2`` is
            appended). Plain http should only be used to a loopback address or over
            a trusted network: the message travels in clear.
        timeout_seconds: the whole exchange (connect, send, answer) must finish within
            this many seconds; keep it under the server's ``plugin_timeout_seconds``.
        on_error: ``"accept"`` (deliver unscanned, with ``X-Spamd-Result:
            unavailable``) or ``"tempfail"`` (451 4.3.0: the client retries later)
            when rspamd cannot be asked or answers nonsense.
        junk_mailbox: where mail that rspamd marks ``add header`` or ``rewrite
            subject`` is filed (created if missing).
        scan_outbound: also scan mail from authenticated clients (submission).
        max_size_bytes: messages bigger than this are not scanned (like rspamd's
            own ``max_message`` limit); they get ``X-Spamd-Result: skipped``.
        password: sent as the ``Password`` header when set (for a worker or proxy
            that asks for one; rspamd's normal worker does not need it for
            ``/checkv2``).
        mta_name: sent as ``MTA-Name`` when set (rspamd's milter_headers and
            external_relay modules use it).
        settings_id: sent as ``Settings-ID`` when set (selects one of rspamd's
            settings rules, e.g. one for inbound mail).
    """

    url: str = attrs.field(default=DEFAULT_URL, validator=_url)
    timeout_seconds: float = attrs.field(default=20.0, validator=_timeout)
    on_error: str = attrs.field(default="accept", validator=_on_error)
    junk_mailbox: str = attrs.field(default="Junk", validator=_mailbox)
    scan_outbound: bool = False
    max_size_bytes: int = attrs.field(default=DEFAULT_MAX_SIZE_BYTES, validator=_size)
    password: str = attrs.field(default="", validator=_header_value)
    mta_name: str = attrs.field(default="", validator=_header_value)
    settings_id: str = attrs.field(default="", validator=_header_value)

    @property
    def endpoint(self) -> Endpoint:
        """The parsed `url`."""
        return parse_url(self.url)


def describe(settings: RspamdSettings) -> dict[str, Any]:
    """The settings for a log line, with the password hidden."""
    values = attrs.asdict(settings)
    if values["password"]:
        values["password"] = "***"
    return values
