"""Fuzz target for the rspamd plugin's reply parser and header folding
(plugins/trimail-rspamd).

Invariant: any HTTP body gives a `ScanResult` or raises `MalformedReply`; the verdict
built from a result has only single, well-formed header fields. Run with atheris if
installed (``python fuzz/fuzz_rspamd_reply.py [corpus_dir]``); without it, a bounded
random loop mutates the seeds (rspamd 3.4 answers).
"""

from __future__ import annotations

import re

from trimail_rspamd.result import MalformedReply, parse_reply
from trimail_rspamd.settings import RspamdSettings
from trimail_rspamd.verdict import verdict_for

from trimail.testing import fuzzing

ONE_FIELD = re.compile(r"[\x21-\x39\x3b-\x7e]+:[^\r\n]*(?:\r\n[ \t][^\r\n]*)*")


def fuzz_one_input(data: bytes) -> None:
    """Parse *data* as an rspamd reply and check the verdict's header fields."""
    try:
        result = parse_reply(data)
    except MalformedReply:
        return
    verdict = verdict_for(result, RspamdSettings())
    for field in verdict.add_headers:
        assert ONE_FIELD.fullmatch(field), field
        assert all(len(line) <= 998 for line in field.split("\r\n")), field


SEEDS = [
    b'{"is_skipped":false,"score":15.5,"required_score":15.0,"action":"reject",'
    b'"symbols":{"GTUBE":{"name":"GTUBE","score":0.0,"metric_score":0.0}},'
    b'"messages":{"smtp_message":"Gtube pattern"},"message-id":"x@y"}',
    b'{"score":6.1,"required_score":15,"action":"add header","symbols":{"A":{"name":"A",'
    b'"score":6.1,"options":["x","y"]}},"milter":{"add_headers":{"X-Extra":"v"}}}',
    b'{"score":0.0,"required_score":15.0,"action":"no action","symbols":{}}',
    b'{"score":4.0,"action":"soft reject"}',
]
TOKENS = [b"{", b"}", b'"', b":", b",", b"[", b"]", b"null", b"1e999", b"NaN", b"\\u0000",
          b"\\r\\n", b'"action"', b'"score"', b"\xff"]  # fmt: skip


def seeds() -> list[bytes]:
    """The seed replies."""
    return list(SEEDS)


def fallback(iterations: int = 20_000, seed: int = 0) -> None:
    """Plain-Python fuzzing: mutate the seeds *iterations* times with a seeded RNG."""
    fuzzing.fallback("fuzz_rspamd_reply", fuzz_one_input, seeds(), TOKENS, iterations, seed)


if __name__ == "__main__":
    fuzzing.main("fuzz_rspamd_reply", fuzz_one_input, seeds, TOKENS)
