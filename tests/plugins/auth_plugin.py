"""A plugin used by the tests: an auth backend that replaces the built-in one."""

from __future__ import annotations

from trimail.plugins import hookimpl


class FixedBackend:
    async def verify(self, username: str, password: str) -> str | None:
        if username.lower() == "alice@example.org" and password == "from-the-plugin":
            return "alice@example.org"
        return None


@hookimpl
def trimail_auth_backend():
    return FixedBackend()
