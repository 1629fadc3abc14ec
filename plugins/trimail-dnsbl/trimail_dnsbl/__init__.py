"""Reject or tag mail from SMTP clients listed in DNS blocklists (RFC 5782).

Configured by ``[plugin.dnsbl]``; without that table the plugin does nothing::

    [plugin.dnsbl]
    action = "reject"          # or "tag": X-DNSBL header field and the Junk mailbox
    reject_at = "rcpt"         # or "connect"
    threshold = 1.0            # sum of the weights of the lists that list the client

    [[plugin.dnsbl.lists]]
    zone = "zen.spamhaus.org"
    weight = 1.0

The entry point ``trimail_dnsbl = "trimail_dnsbl:plugin"`` registers `plugin`, one
`DnsblPlugin` instance.
"""

from __future__ import annotations

from trimail_dnsbl.check import DnsblChecker, DnsblResult, Listing
from trimail_dnsbl.names import address_from_query_name, client_address, is_internal, query_name
from trimail_dnsbl.plugin import DnsblPlugin
from trimail_dnsbl.reason import sanitize_reason
from trimail_dnsbl.replies import header_field, reject_reply
from trimail_dnsbl.settings import DnsblList, DnsblSettings

__all__ = [
    "DnsblChecker",
    "DnsblList",
    "DnsblPlugin",
    "DnsblResult",
    "DnsblSettings",
    "Listing",
    "address_from_query_name",
    "client_address",
    "header_field",
    "is_internal",
    "plugin",
    "query_name",
    "reject_reply",
    "sanitize_reason",
]

plugin = DnsblPlugin()
"""The instance trimail registers (entry point ``trimail_dnsbl``)."""
