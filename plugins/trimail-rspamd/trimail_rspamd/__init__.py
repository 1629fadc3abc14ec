"""Spam scoring with rspamd: each received message is posted to rspamd's normal worker
(``/checkv2``, the rspamd HTTP protocol) and its recommended action becomes trimail's
verdict: refuse (554 5.7.1), tempfail (451 4.7.1), file into Junk, or just mark.

Configured by a ``[plugin.rspamd]`` table; without one the plugin does nothing::

    [plugin.rspamd]
    url = "http://127.0.0.1:11333"   # rspamd's normal worker
    on_error = "accept"              # or "tempfail"

See README.md for every key, the header fields added and the error policy.
"""

from __future__ import annotations

from trimail_rspamd.client import RspamdUnavailable, post_checkv2, request_headers
from trimail_rspamd.headers import fold, printable, safe_milter_headers, spamd_result, unfold
from trimail_rspamd.plugin import RspamdPlugin
from trimail_rspamd.result import Action, MalformedReply, ScanResult, Symbol, parse_reply
from trimail_rspamd.settings import TABLE, RspamdSettings, parse_url
from trimail_rspamd.verdict import verdict_for

__all__ = [
    "TABLE",
    "Action",
    "MalformedReply",
    "RspamdPlugin",
    "RspamdSettings",
    "RspamdUnavailable",
    "ScanResult",
    "Symbol",
    "fold",
    "parse_reply",
    "parse_url",
    "plugin",
    "post_checkv2",
    "printable",
    "request_headers",
    "safe_milter_headers",
    "spamd_result",
    "unfold",
    "verdict_for",
]

plugin = RspamdPlugin()
"""The instance registered by the ``trimail`` entry point (state lives on it)."""
