"""Fuzz target for the Sieve plugin's parser and interpreter (plugins/trimail-sieve).

Invariant: any bytes either compile (`compile_script`) or raise `ScriptError`; a script
that compiles runs on a fixed message to an `Outcome` or raises `SieveRuntimeError`
(the plugin then keeps the message, RFC 5228 §2.10.6); nothing else escapes. Run with
atheris if installed (``python fuzz/fuzz_sieve.py [corpus_dir]``); without it, a
bounded random loop mutates the seeds (the RFC examples below).
"""

from __future__ import annotations

import contextlib

from trimail_sieve.interpreter import MessageData, SieveRuntimeError, run
from trimail_sieve.script import ScriptError, compile_script

from trimail.testing import fuzzing

MESSAGE = MessageData.from_message(
    b"From: Joe <joe@example.net>\r\nTo: alice@example.org\r\n"
    b"Subject: [work] =?utf-8?q?caf=C3=A9?=\r\n"
    b"List-Id: <l.example.net>\r\nX-Spam: Yes\r\n\r\nbody\r\n",
    envelope_from="joe@example.net",
    envelope_to="alice@example.org",
    user_address="alice@example.org",
)


def fuzz_one_input(data: bytes) -> None:
    """Compile *data* and run it; only the documented errors may come out."""
    try:
        script = compile_script(data, max_bytes=16 * 1024)
    except ScriptError:
        return
    with contextlib.suppress(SieveRuntimeError):  # the plugin keeps the message then
        run(script, MESSAGE, default_mailbox="INBOX", max_actions=32)


SEEDS = [
    b'require ["fileinto", "imap4flags"];\nif header :contains "subject" "[work]" '
    b'{ fileinto :flags "\\\\Flagged" "Work"; } else { keep; }\n',
    b'require "reject";\nif address :domain :is "from" "example.net" { reject "no"; }\n',
    b'require "vacation";\nvacation :days 7 :subject "Away" '
    b':addresses ["alice@example.org"] "Back soon";\n',
    b'require ["envelope", "imap4flags"];\nif envelope :localpart :matches "from" "jo*" '
    b'{ addflag "$x"; } if anyof (exists "x-spam", size :over 1K) { discard; stop; }\n',
    b'if not allof (header :matches "to" "*@example.org", true) { keep; }\n',
    b'redirect "carol@example.org";\n',
]
TOKENS = [b"{", b"}", b";", b'"', b"[", b"]", b"(", b")", b",", b":matches", b"*", b"?",
          b"\\", b"text:\r\n", b"\r\n.\r\n", b"#", b"/*", b"*/", b"\xff", b"\x00"]  # fmt: skip


def seeds() -> list[bytes]:
    """The seed scripts."""
    return list(SEEDS)


def fallback(iterations: int = 20_000, seed: int = 0) -> None:
    """Plain-Python fuzzing: mutate the seeds *iterations* times with a seeded RNG."""
    fuzzing.fallback("fuzz_sieve", fuzz_one_input, seeds(), TOKENS, iterations, seed)


if __name__ == "__main__":
    fuzzing.main("fuzz_sieve", fuzz_one_input, seeds, TOKENS)
