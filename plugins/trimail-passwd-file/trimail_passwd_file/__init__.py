"""An auth backend that reads a Dovecot passwd-file, so an existing user list works as is.

Configured by a ``[plugin.passwd_file]`` table; without one the plugin does nothing and
trimail's own user database checks logins::

    [plugin.passwd_file]
    path = "/etc/dovecot/users"
    default_domain = "example.org"   # optional: "alice" in the file is alice@example.org

Every address must also be a trimail user (``trimail user add``): that is its mailbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from trimail.config.loader import structure_plugin_table
from trimail.config.model import is_hostname
from trimail.plugins import ConfigTable, hookimpl
from trimail_passwd_file.backend import PasswdFileBackend
from trimail_passwd_file.schemes import UnsupportedScheme, verify_password

if TYPE_CHECKING:
    from trimail.config.model import Config

__all__ = [
    "PasswdFileBackend",
    "PasswdFileSettings",
    "UnsupportedScheme",
    "trimail_auth_backend",
    "trimail_config_table",
    "verify_password",
]

TABLE = "passwd_file"


def _path(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if not value.strip():
        raise ValueError("path: must name the passwd-file, e.g. /etc/dovecot/users")


def _domain(_inst: object, _attribute: attrs.Attribute[str], value: str) -> None:
    if value and ("@" in value or not is_hostname(value)):
        raise ValueError(f"default_domain: {value!r} is not a domain name")


@attrs.frozen(kw_only=True)
class PasswdFileSettings:
    """The ``[plugin.passwd_file]`` table."""

    path: str = attrs.field(validator=_path)
    default_domain: str = attrs.field(default="", validator=_domain)


@hookimpl
def trimail_config_table() -> ConfigTable:
    """Declare ``[plugin.passwd_file]`` (validated by trimail at start-up)."""
    return ConfigTable(TABLE, PasswdFileSettings)


@hookimpl(tryfirst=True)
def trimail_auth_backend(config: Config) -> PasswdFileBackend | None:
    """Check logins against the passwd-file when ``[plugin.passwd_file]`` is set.

    Raises:
        trimail.config.ConfigError: ``plugin.passwd_file.KEY: reason``.
    """
    settings = structure_plugin_table(config, TABLE, PasswdFileSettings)
    if settings is None:
        return None
    return PasswdFileBackend(settings.path, default_domain=settings.default_domain)
