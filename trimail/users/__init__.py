"""The built-in user database: local domains, users (accounts) and aliases."""

from trimail.users.db import (
    Resolution,
    UserDatabase,
    UserDatabaseError,
    UserInfo,
)

__all__ = ["Resolution", "UserDatabase", "UserDatabaseError", "UserInfo"]
