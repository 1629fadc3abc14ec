"""``trimail queue``: look at and act on the outbound queue.

Works on the queue directory directly, with or without a running server: changes are
made under the queue's lock, and a running server sees them within
``[queue] poll_seconds``.

    trimail queue list              one line per entry: id, age, size, sender, recipients
    trimail queue show ID           envelope, per-recipient state and last reply, headers
    trimail queue flush             every entry is due now
    trimail queue retry ID          this entry is due now
    trimail queue delete ID         remove the entry (no DSN is sent)
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path
from typing import Any

from trimail.cli.admin import AdminError
from trimail.config.model import Config
from trimail.queue.spool import (
    QueueEntry,
    RecipientState,
    Spool,
    SpoolError,
    entry_to_json,
    valid_queue_id,
)

HEADER_PREVIEW_BYTES = 16 * 1024


class QueueCommandError(AdminError):
    """A ``queue`` command failed; printed as one ``trimail: ...`` line."""


def format_age(seconds: float) -> str:
    """``"3d 4h"``, ``"2h 5m"``, ``"5m"``, ``"12s"``: an age for people."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m"
    return f"{secs}s"


def _spool(config: Config) -> Spool:
    root = Path(config.data_dir) / "queue"
    if not (root / "entries").is_dir():
        raise QueueCommandError(f"{root}: no queue here (has the server run with this data_dir?)")
    return Spool(root)


def _checked_id(text: str) -> str:
    queue_id = text.strip().upper()
    if not valid_queue_id(queue_id):
        raise QueueCommandError(f"{text!r} is not a queue id (8-32 hex digits, see `queue list`)")
    return queue_id


def _line(entry: QueueEntry, now: float) -> str:
    pending = [r for r in entry.recipients if r.state is RecipientState.PENDING]
    sender = f"<{entry.reverse_path}>" if entry.reverse_path else "<>"
    rcpts = ",".join(str(r.forward_path) for r in pending) or "-"
    due = "now" if entry.next_attempt <= now else f"in {format_age(entry.next_attempt - now)}"
    return (
        f"{entry.queue_id}  {format_age(now - entry.arrival):>7}  {entry.size:>9}  "
        f"{entry.attempts:>5}  {due:<10}  {sender} -> {rcpts}"
    )


def _list(config: Config, args: argparse.Namespace) -> int:
    spool = _spool(config)
    now = time.time()
    entries = sorted(spool.entries(), key=lambda e: e.arrival)
    if args.json:
        print(json.dumps([json.loads(entry_to_json(e)) for e in entries], indent=1))
        return 0
    if not entries:
        print("queue is empty")
        return 0
    print(f"{'ID':<12}  {'AGE':>7}  {'SIZE':>9}  {'TRIES':>5}  {'NEXT':<10}  FROM -> TO")
    for entry in entries:
        print(_line(entry, now))
    oldest = max(now - e.arrival for e in entries)
    pending = sum(len(e.pending) for e in entries)
    print(f"{len(entries)} messages, {pending} recipients pending, oldest {format_age(oldest)}")
    return 0


def _show(config: Config, args: argparse.Namespace) -> int:
    spool = _spool(config)
    queue_id = _checked_id(args.queue_id)
    entry = spool.load(queue_id)
    if entry is None:
        raise QueueCommandError(f"queue id {queue_id}: not in the queue")
    if args.json:
        print(entry_to_json(entry).decode("utf-8"))
        return 0
    now = time.time()
    when = datetime.datetime.fromtimestamp(entry.arrival, datetime.UTC).isoformat(
        timespec="seconds"
    )
    print(f"queue id:     {entry.queue_id}")
    print(f"arrived:      {when} ({format_age(now - entry.arrival)} ago)")
    print(f"size:         {entry.size} octets")
    print(f"from:         <{entry.reverse_path or ''}>")
    if entry.envid or entry.ret:
        print(f"DSN:          ENVID={entry.envid or '-'} RET={entry.ret or '-'}")
    if entry.submitted_by:
        print(f"submitted by: {entry.submitted_by}")
    print(f"attempts:     {entry.attempts}")
    due = "now" if entry.next_attempt <= now else f"in {format_age(entry.next_attempt - now)}"
    print(f"next attempt: {due}")
    for recipient in entry.recipients:
        notify = f"  NOTIFY={','.join(recipient.notify)}" if recipient.notify else ""
        orcpt = f"  ORCPT={recipient.orcpt[0]};{recipient.orcpt[1]}" if recipient.orcpt else ""
        print(f"to:           <{recipient.forward_path}>  {recipient.state.value}{notify}{orcpt}")
        if recipient.last_reply:
            via = f" (from {recipient.remote_mta})" if recipient.remote_mta else ""
            print(f"  last reply: {recipient.last_reply}{via}")
    try:
        with open(spool.message_path(queue_id), "rb") as message:
            head = message.read(HEADER_PREVIEW_BYTES)
    except OSError as exc:
        raise QueueCommandError(f"{spool.message_path(queue_id)}: {exc.strerror}") from None
    header = head.split(b"\r\n\r\n", 1)[0]
    print("headers:")
    for line in header.decode("utf-8", errors="replace").split("\r\n"):
        print(f"  {line}")
    return 0


def _flush(config: Config, _args: argparse.Namespace) -> int:
    spool = _spool(config)
    count = 0
    for queue_id in spool.ids():
        if spool.update(queue_id, _due_now) is not None:
            count += 1
    print(f"{count} messages due now")
    return 0


def _retry(config: Config, args: argparse.Namespace) -> int:
    spool = _spool(config)
    queue_id = _checked_id(args.queue_id)
    if spool.update(queue_id, _due_now) is None:
        raise QueueCommandError(f"queue id {queue_id}: not in the queue")
    print(f"{queue_id}: due now")
    return 0


def _delete(config: Config, args: argparse.Namespace) -> int:
    spool = _spool(config)
    queue_id = _checked_id(args.queue_id)
    if not spool.remove(queue_id):
        raise QueueCommandError(f"queue id {queue_id}: not in the queue")
    print(f"{queue_id}: deleted (no bounce sent)")
    return 0


def _due_now(entry: QueueEntry) -> QueueEntry:
    entry.next_attempt = 0.0
    return entry


def _run(config: Config, args: argparse.Namespace) -> int:
    handler = {
        "list": _list,
        "show": _show,
        "flush": _flush,
        "retry": _retry,
        "delete": _delete,
    }[args.action]
    try:
        return handler(config, args)
    except SpoolError as exc:
        raise QueueCommandError(str(exc)) from None


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``queue`` sub-command and its actions to *commands*."""
    queue = commands.add_parser("queue", parents=[common], help="the outbound mail queue")
    queue.set_defaults(handler=_run)
    actions = queue.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="list queued messages")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    show = actions.add_parser("show", parents=[common], help="one message in detail")
    show.add_argument("queue_id", metavar="ID")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    actions.add_parser("flush", parents=[common], help="try every message now")
    retry = actions.add_parser("retry", parents=[common], help="try one message now")
    retry.add_argument("queue_id", metavar="ID")
    delete = actions.add_parser("delete", parents=[common], help="remove a message (no DSN)")
    delete.add_argument("queue_id", metavar="ID")
