"""ContentCheck against a plain reference: same verdict at any split of the content."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from trimail.smtp import _replies as R
from trimail.smtp._data import ContentCheck

_BARE = re.compile(rb"\r(?!\n)|(?<!\r)\n")


def reference(data: bytes, max_line: int) -> set[str]:
    """Every failure the content has: bare CR/LF, a line longer than max_line."""
    kinds = set()
    if _BARE.search(data):
        kinds.add("bare")
    if max(map(len, re.split(rb"\r\n|\r|\n", data))) > max_line:
        kinds.add("long")
    return kinds


pieces = st.sampled_from([b"a", b"aaaa", b"a" * 9, b"a" * 12, b"\r\n", b"\r", b"\n", b"."])


@given(
    parts=st.lists(pieces, max_size=30),
    cuts=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=30),
)
def test_verdict_does_not_depend_on_the_split(parts: list[bytes], cuts: list[int]) -> None:
    data = b"".join(parts) + b"\r\n"
    check = ContentCheck(max_text_line_bytes=10 + 2, max_message_bytes=10**9)
    pos, i = 0, 0
    while pos < len(data):
        step = cuts[i % len(cuts)]
        check.feed(data[pos : pos + step])
        pos, i = pos + step, i + 1
    failure = check.finish()
    expected = reference(data, 10)
    if not expected:
        assert failure is None
    else:
        kind = "long" if failure == R.R500_TEXT_LINE_TOO_LONG else "bare"
        assert failure is not None and kind in expected
