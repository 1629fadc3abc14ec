"""Per-user Sieve mail filtering for trimail (RFC 5228), with fileinto, redirect (and
``:copy``, RFC 3894), reject (RFC 5429), vacation (RFC 5230), envelope and imap4flags
(RFC 5232).

Configured by a ``[plugin.sieve]`` table; without one the plugin does nothing::

    [plugin.sieve]
    max_script_bytes = 65536

Scripts are stored per user with ``trimail sieve put alice@example.org filter.sieve``.
"""

from __future__ import annotations

from trimail_sieve.hooks import SievePlugin, reject_reply, verdict
from trimail_sieve.interpreter import MessageData, Outcome, SieveRuntimeError, run
from trimail_sieve.script import CAPABILITIES, Script, ScriptError, compile_script
from trimail_sieve.settings import SieveSettings

__all__ = [
    "CAPABILITIES",
    "MessageData",
    "Outcome",
    "Script",
    "ScriptError",
    "SievePlugin",
    "SieveRuntimeError",
    "SieveSettings",
    "compile_script",
    "plugin",
    "reject_reply",
    "run",
    "verdict",
]

plugin = SievePlugin()
"""The instance registered by the ``trimail_sieve`` entry point (state lives on it)."""
