"""A plugin used by the tests: exercises envelope and message filter hooks."""

from __future__ import annotations

from trimail.mail.reply import Reply
from trimail.plugins import hookimpl
from trimail.verdicts import MessageVerdict, Reject


@hookimpl
def trimail_smtp_helo(helo_identity):
    if helo_identity == "spammer.example":
        return Reject(reply=Reply(code=550, enhanced_status="5.7.1", text="Go away"))
    return None


@hookimpl
def trimail_smtp_mail_from(reverse_path):
    if str(reverse_path) == "blocked@bad.example":
        return Reject(reply=Reply(code=550, enhanced_status="5.7.1", text="Sender blocked"))
    return None


@hookimpl
def trimail_message_filter(envelope, message):
    if b"X-Spam: yes" in message:
        return MessageVerdict(add_headers=("X-Filtered: junk",), mailbox_name="Junk")
    if b"tempfail-me" in message:
        return MessageVerdict(
            reject=Reject(reply=Reply(code=451, enhanced_status="4.7.1", text="Try later"))
        )
    return MessageVerdict(add_headers=(f"X-Envelope-Count: {len(envelope.forward_paths)}",))


@hookimpl
def trimail_smtp_rcpt_to(forward_path):
    if "crash" in forward_path.local_part:
        raise RuntimeError("a plugin bug")
    return None
