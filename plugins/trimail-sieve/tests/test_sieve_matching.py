"""Comparators and match types (RFC 5228 §2.7): tables, and :matches against fnmatch
and against the clock."""

from __future__ import annotations

import fnmatch
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trimail_sieve.matching import ASCII_CASEMAP, OCTET, MatchType, compare, glob_match

IS, CONTAINS, MATCHES = MatchType.IS, MatchType.CONTAINS, MatchType.MATCHES


@pytest.mark.parametrize(
    ("value", "key", "match_type", "comparator", "expected"),
    [
        ("Hello", "hello", IS, ASCII_CASEMAP, True),
        ("Hello", "hello", IS, OCTET, False),
        ("Hello", "Hello", IS, OCTET, True),
        ("Hello", "hell", IS, ASCII_CASEMAP, False),
        ("Hello World", "O w", CONTAINS, ASCII_CASEMAP, True),
        ("Hello World", "O w", CONTAINS, OCTET, False),
        ("anything", "", CONTAINS, OCTET, True),  # RFC 5228 §2.7.1: "" is contained
        ("", "", IS, OCTET, True),
        ("ÉTÉ", "été", IS, ASCII_CASEMAP, False),  # only ASCII letters fold (RFC 4790)
        ("ÉTÉ", "ÉtÉ", IS, ASCII_CASEMAP, True),
        ("[spam] buy", "[SPAM]*", MATCHES, ASCII_CASEMAP, True),
        ("[spam] buy", "[SPAM]*", MATCHES, OCTET, False),
        ("abc", "a?c", MATCHES, OCTET, True),
        ("ac", "a?c", MATCHES, OCTET, False),
        ("aéc", "a?c", MATCHES, OCTET, True),  # "?" is one character
        ("a*c", "a\\*c", MATCHES, OCTET, True),  # "\\" quotes a wildcard
        ("abc", "a\\*c", MATCHES, OCTET, False),
        ("a?c", "a\\?c", MATCHES, OCTET, True),
        ("a\\c", "a\\\\c", MATCHES, OCTET, True),
        ("x", "*", MATCHES, OCTET, True),
        ("", "*", MATCHES, OCTET, True),
        ("", "?", MATCHES, OCTET, False),
        ("abcabc", "*abc", MATCHES, OCTET, True),
        ("abcab", "*abc", MATCHES, OCTET, False),
        ("abab", "a*b*b", MATCHES, OCTET, True),
        ("ab", "a*b*b", MATCHES, OCTET, False),  # segments may not overlap
        ("aXbXc", "a*b*c", MATCHES, OCTET, True),
        ("line1\nline2", "line1*", MATCHES, OCTET, True),  # "*" spans line ends
        ("trailing\\", "trailing\\", MATCHES, OCTET, True),
    ],
)
def test_compare_table(
    value: str, key: str, match_type: MatchType, comparator: str, expected: bool
) -> None:
    assert compare(value, key, match_type, comparator) is expected


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="ab*?", max_size=10), st.text(alphabet="ab", max_size=12))
def test_matches_agrees_with_fnmatch(pattern: str, value: str) -> None:
    assert glob_match(pattern, value) == fnmatch.fnmatchcase(value, pattern)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40))
def test_literal_pattern_is_equality(value: str, literal: str) -> None:
    escaped = "".join("\\" + c if c in "*?\\" else c for c in literal)
    assert glob_match(escaped, value) == (value == literal)


@pytest.mark.parametrize(
    ("pattern", "value"),
    [
        ("*a" * 2000 + "*b", "a" * 100_000),
        ("*?" * 3000 + "*b", "a" * 100_000),
        ("a*" * 5000, "a" * 100_000 + "b"),
        ("*" + "a?" * 500 + "b*", "a" * 100_000),
    ],
    ids=["stars", "stars-and-marks", "trailing-stars", "long-segment"],
)
def test_matches_is_never_slow(pattern: str, value: str) -> None:
    started = time.perf_counter()
    glob_match(pattern, value)
    assert time.perf_counter() - started < 1.0
