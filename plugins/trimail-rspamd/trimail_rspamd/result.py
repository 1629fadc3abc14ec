"""rspamd's ``/checkv2`` JSON answer, validated into a `ScanResult`.

The answer is an object (rspamd protocol, "Rspamd HTTP reply")::

    {"is_skipped": false, "score": 3.5, "required_score": 15.0, "action": "no action",
     "symbols": {"NAME": {"name": "NAME", "score": 0.5, "options": ["..."]}, ...},
     "messages": {"smtp_message": "..."}, "subject": "...",
     "milter": {"add_headers": {"X-Spamd-Bar": {"value": "+++", "order": 0}},
                "remove_headers": {"X-Spam": 0}}}

Only ``action`` and ``score`` are required; everything else is optional, and a field of
the wrong shape is ignored where it is merely informative (a symbol, a header to add)
but makes the whole answer malformed where the verdict depends on it.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

MAX_REPLY_BYTES = 4 * 1024 * 1024  # symbols with options, urls: rspamd replies are small
MAX_SYMBOLS = 500  # more are dropped from X-Spamd-Result (rspamd has a few hundred rules)
MAX_OPTIONS = 10  # per symbol, as rspamd's own X-Spamd-Result shows a few
MAX_MILTER_HEADERS = 20


class MalformedReply(ValueError):
    """rspamd's answer is not the JSON object of the protocol; ``str(err)`` says why."""


class Action(enum.Enum):
    """rspamd's recommended action (rspamd "Actions and scores")."""

    NO_ACTION = "no action"
    GREYLIST = "greylist"
    ADD_HEADER = "add header"
    REWRITE_SUBJECT = "rewrite subject"
    SOFT_REJECT = "soft reject"
    REJECT = "reject"


@attrs.frozen(kw_only=True)
class Symbol:
    """One rule that matched.

    Attributes:
        name: the symbol name, e.g. ``"R_SPF_ALLOW"``.
        score: its contribution to the message's score.
        options: the rule's details (``["1"]``, a domain...), as rspamd gave them.
    """

    name: str
    score: float
    options: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class ScanResult:
    """A validated ``/checkv2`` answer.

    Attributes:
        action: the recommended action.
        score: the message's score.
        required_score: the score of the ``reject`` action (0.0 if rspamd gave none).
        symbols: the rules that matched, in the order rspamd listed them.
        smtp_message: ``messages.smtp_message`` (a text for the SMTP reply), or None.
        subject: the rewritten Subject for ``rewrite subject``, or None.
        milter_headers: ``milter.add_headers`` as (name, value) pairs, unchecked
            (see `trimail_rspamd.headers.safe_milter_headers`).
    """

    action: Action
    score: float
    required_score: float = 0.0
    symbols: tuple[Symbol, ...] = ()
    smtp_message: str | None = None
    subject: str | None = None
    milter_headers: tuple[tuple[str, str], ...] = ()

    @property
    def is_spam(self) -> bool:
        """True when rspamd would mark or refuse the message (rspamd's own ``is_spam``:
        any action but ``no action`` and ``greylist``)."""
        return self.action not in (Action.NO_ACTION, Action.GREYLIST)


def _refuse_constant(name: str) -> float:
    raise MalformedReply(f"{name} is not a JSON number")


def parse_reply(body: bytes) -> ScanResult:
    """Validate rspamd's JSON answer.

    Args:
        body: the HTTP response body (UTF-8 JSON), at most `MAX_REPLY_BYTES`.

    Returns:
        The `ScanResult`.

    Raises:
        MalformedReply: not JSON, not an object, no known ``action``, no finite
            ``score``, or too big.
    """
    if len(body) > MAX_REPLY_BYTES:
        raise MalformedReply(f"reply over {MAX_REPLY_BYTES} bytes")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except MalformedReply:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise MalformedReply(f"not JSON: {str(exc)[:80]}") from None
    if not isinstance(data, dict):
        raise MalformedReply(f"a JSON {type(data).__name__} instead of an object")
    if "error" in data and "action" not in data:
        raise MalformedReply(f"rspamd error: {_text(data['error'])[:200]}")
    action_name = data.get("action")
    if action_name is None:
        raise MalformedReply("the action is missing")
    try:
        action = Action(action_name)
    except ValueError:
        raise MalformedReply(f"unknown action {_text(action_name)[:40]!r}") from None
    score = _number(data.get("score"))
    if score is None:
        raise MalformedReply("no numeric score")
    required = _number(data.get("required_score"))
    messages = data.get("messages")
    smtp_message = messages.get("smtp_message") if isinstance(messages, dict) else None
    subject = data.get("subject")
    return ScanResult(
        action=action,
        score=score,
        required_score=0.0 if required is None else required,
        symbols=tuple(_symbols(data.get("symbols"))),
        smtp_message=smtp_message if isinstance(smtp_message, str) else None,
        subject=subject if isinstance(subject, str) else None,
        milter_headers=tuple(_milter_headers(data.get("milter"))),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def _number(value: object) -> float | None:
    """A finite JSON number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # a huge JSON integer
        return None
    return number if math.isfinite(number) else None


def _symbols(value: object) -> Iterator[Symbol]:
    """Symbols from the ``symbols`` object (name -> {score, options}); bad ones skipped."""
    if not isinstance(value, dict):
        return
    for count, (key, item) in enumerate(value.items()):
        if count >= MAX_SYMBOLS:
            return
        if not isinstance(item, dict):
            continue
        name = item.get("name", key)
        score = _number(item.get("score"))
        if not isinstance(name, str) or score is None:
            continue
        options = item.get("options")
        texts: tuple[str, ...] = ()
        if isinstance(options, list):
            texts = tuple(o for o in options[:MAX_OPTIONS] if isinstance(o, str))
        yield Symbol(name=name, score=score, options=texts)


def _milter_headers(value: object) -> Iterator[tuple[str, str]]:
    """``milter.add_headers``: name -> value, {"value", "order"}, or a list of those."""
    if not isinstance(value, dict):
        return
    added = value.get("add_headers")
    if not isinstance(added, dict):
        return
    ordered: list[tuple[float, int, str, str]] = []
    for name, spec in added.items():
        for item in spec if isinstance(spec, list) else [spec]:
            found = _milter_value(item)
            if found is not None and len(ordered) < MAX_MILTER_HEADERS:
                ordered.append((found[1], len(ordered), name, found[0]))
    for _order, _index, name, text in sorted(ordered):
        yield name, text


def _milter_value(item: Any) -> tuple[str, float] | None:
    """(value, order) of one header spec: a string, or {"value": str, "order": n}."""
    if isinstance(item, str):
        return item, 0.0
    if isinstance(item, Mapping) and isinstance(item.get("value"), str):
        order = _number(item.get("order"))
        return item["value"], 0.0 if order is None else order
    return None
