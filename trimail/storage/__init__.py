"""Mail storage: the MailStore API and the default SQLite + files backend."""

from trimail.storage.api import (
    SYSTEM_FLAGS,
    Delivered,
    InvalidMailboxName,
    MailboxExists,
    MailboxInfo,
    MailboxStatus,
    MailStore,
    MessageInfo,
    NoSuchAccount,
    NoSuchMailbox,
    NoSuchMessage,
    StorageError,
)
from trimail.storage.sqlite_store import SqliteMailStore

__all__ = [
    "SYSTEM_FLAGS",
    "Delivered",
    "InvalidMailboxName",
    "MailStore",
    "MailboxExists",
    "MailboxInfo",
    "MailboxStatus",
    "MessageInfo",
    "NoSuchAccount",
    "NoSuchMailbox",
    "NoSuchMessage",
    "SqliteMailStore",
    "StorageError",
]
