"""What trimail does with rspamd's recommended action (a `MessageVerdict`).

| rspamd action               | trimail                                              |
|-----------------------------|------------------------------------------------------|
| ``reject``                  | 554 5.7.1 at the end of DATA (rspamd's smtp_message) |
| ``soft reject``, ``greylist`` | 451 4.7.1: the client tries again later            |
| ``add header``, ``rewrite subject`` | the result fields, filed into ``junk_mailbox`` |
| ``no action``               | the result fields only                               |

Message filters can only prepend header fields, so ``rewrite subject`` cannot change
the Subject: it is treated as ``add header`` (``X-Spam: Yes``, filed as junk).
"""

from __future__ import annotations

from trimail.mail.reply import Reply
from trimail.verdicts import MessageVerdict, Reject
from trimail_rspamd.headers import reply_text, result_fields, safe_milter_headers
from trimail_rspamd.result import Action, ScanResult
from trimail_rspamd.settings import RspamdSettings

REJECT_TEXT = "Message rejected as spam"
SOFT_REJECT_TEXT = "Try again later"
UNAVAILABLE_TEXT = "Spam filter unavailable, try again later"

R451_UNAVAILABLE = Reply(code=451, enhanced_status="4.3.0", text=UNAVAILABLE_TEXT)


def verdict_for(result: ScanResult, settings: RspamdSettings) -> MessageVerdict:
    """Map rspamd's answer to trimail's verdict (table in the module docstring).

    Args:
        result: rspamd's validated answer.
        settings: for ``junk_mailbox``.

    Returns:
        The verdict: a Reject (5xx: RFC 5321 §4.2.5 permanent; 4xx: retry, §4.2.1;
        enhanced status 7.1 "delivery not authorized", RFC 3463 §3.8), or header
        fields (`trimail_rspamd.headers.result_fields` and the safe ones rspamd asked
        for) with a mailbox for spam.
    """
    if result.action is Action.REJECT:
        text = reply_text(result.smtp_message, REJECT_TEXT)
        return MessageVerdict(
            reject=Reject(reply=Reply(code=554, enhanced_status="5.7.1", text=text))
        )
    if result.action in (Action.SOFT_REJECT, Action.GREYLIST):
        text = reply_text(result.smtp_message, SOFT_REJECT_TEXT)
        return MessageVerdict(
            reject=Reject(reply=Reply(code=451, enhanced_status="4.7.1", text=text))
        )
    headers = (*result_fields(result), *safe_milter_headers(result.milter_headers))
    if result.action in (Action.ADD_HEADER, Action.REWRITE_SUBJECT):
        return MessageVerdict(add_headers=headers, mailbox_name=settings.junk_mailbox)
    return MessageVerdict(add_headers=headers)
