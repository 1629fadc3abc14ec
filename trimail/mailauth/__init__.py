"""Mail authentication: SPF, DKIM, DMARC, ARC and the DNS records they need.

Pure code over a resolver protocol: nothing here opens files or sockets, reads the
clock or draws random numbers (ARCHITECTURE.md, "Layers and their rooms").
"""

from trimail.mailauth.records import (
    DEFAULT_SELECTOR,
    DkimPrivateKey,
    DkimPublicKey,
    RecordError,
    check_selector,
    dkim_record_lines,
    dkim_txt,
    dns_records,
    load_private_key_pem,
    private_key_pem,
    split_txt,
)
from trimail.mailauth.resolver import PermError, Resolver, StaticResolver, TempError

__all__ = [
    "DEFAULT_SELECTOR",
    "DkimPrivateKey",
    "DkimPublicKey",
    "PermError",
    "RecordError",
    "Resolver",
    "StaticResolver",
    "TempError",
    "check_selector",
    "dkim_record_lines",
    "dkim_txt",
    "dns_records",
    "load_private_key_pem",
    "private_key_pem",
    "split_txt",
]
