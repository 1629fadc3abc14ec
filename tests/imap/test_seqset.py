"""Sequence sets (RFC 3501 §9, RFC 9051 §9 ``$``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trimail.imap import SequenceSet
from trimail.imap._seqset import MAX_NZ_NUMBER

numbers = st.one_of(st.just(0), st.integers(1, MAX_NZ_NUMBER))
sets = st.one_of(
    st.just(SequenceSet(saved=True)),
    st.lists(st.tuples(numbers, numbers), min_size=1, max_size=20).map(
        lambda r: SequenceSet(tuple(r))
    ),
)


@given(sets)
def test_round_trip(value: SequenceSet) -> None:
    assert SequenceSet.parse(str(value)) == value


@pytest.mark.parametrize(
    ("text", "ranges"),
    [("1", ((1, 1),)), ("4:2", ((4, 2),)), ("1:*", ((1, 0),)), ("*", ((0, 0),))],
)
def test_parse(text: str, ranges: tuple[tuple[int, int], ...]) -> None:
    assert SequenceSet.parse(text).ranges == ranges


@pytest.mark.parametrize("text", ["", "0", "1:0", "01", ",", "1,", "1::2", "4294967296", "$,1"])
def test_invalid(text: str) -> None:
    with pytest.raises(ValueError):
        SequenceSet.parse(text)


def test_resolve() -> None:
    assert SequenceSet.parse("4:2,7:*,1").resolve(5) == [(1, 7)]  # 7:* is 5:7
    assert SequenceSet.parse("10:*").resolve(5) == [(5, 10)]
    assert SequenceSet.parse("*").resolve(0) == []
    with pytest.raises(ValueError):
        SequenceSet(saved=True).resolve(3)


@given(st.lists(st.integers(1, 1000), max_size=50))
def test_from_values(values: list[int]) -> None:
    value = SequenceSet.from_values(values)
    covered = {n for a, b in value.resolve(1000) for n in range(a, b + 1)}
    assert covered == set(values)
