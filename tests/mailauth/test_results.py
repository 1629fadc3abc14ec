"""Authentication-Results (RFC 8601): rendering and folding, stripping forgeries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from trimail.mailauth import results as ar


def unfold(field: str) -> str:
    return field.replace("\r\n ", " ").removesuffix("\r\n")


def test_no_result() -> None:
    # RFC 8601 Appendix B.2
    assert ar.render("example.org", []) == "Authentication-Results: example.org; none\r\n"


def test_spf_only() -> None:
    # RFC 8601 Appendix B.3 shape
    field = ar.render("example.com", [ar.spf("pass", mailfrom="example.net")])
    assert (
        field == "Authentication-Results: example.com;\r\n spf=pass smtp.mailfrom=example.net\r\n"
    )


SENDER = "sender@example.net"


def test_several_methods_appendix_b4_shape() -> None:
    field = ar.render(
        "example.com",
        [
            ar.MethodResult(method="auth", result="pass", properties=(("smtp", "auth", SENDER),)),
            ar.spf("pass", mailfrom="example.net"),
            ar.dkim("pass", domain="example.org", selector="sel", b="abcd/EFGH+ijkl=="),
            ar.dmarc("pass", header_from="example.org"),
            ar.arc("none"),
        ],
    )  # fmt: skip
    assert field == (
        "Authentication-Results: example.com;\r\n"
        " auth=pass smtp.auth=sender@example.net;\r\n"
        " spf=pass smtp.mailfrom=example.net;\r\n"
        ' dkim=pass header.d=example.org header.s=sel header.b="abcd/EFG";\r\n'
        " dmarc=pass header.from=example.org;\r\n"
        " arc=none\r\n"
    )


def test_values_quoted_when_not_tokens() -> None:
    field = ar.render(
        "mx.example.org",
        [ar.dkim("fail", domain="example.org", reason='bad "sig" \\ here')],
    )
    assert 'reason="bad \\"sig\\" \\\\ here"' in field
    assert ar.quote("a b") == '"a b"'
    assert ar.quote("x@example.org") == '"x@example.org"'
    assert ar.quote("x@example.org", address_ok=True) == "x@example.org"
    assert ar.quote("@example.org", address_ok=True) == "@example.org"


def test_long_results_fold_within_78() -> None:
    many = ar.MethodResult(
        method="x-test",
        result="pass",
        properties=tuple(("header", f"p{i}", "value-" + "v" * i) for i in range(20)),
    )
    field = ar.render("mx.example.org", [many, ar.spf("fail", mailfrom="a" * 100 + "@x.test")])
    lines = field.removesuffix("\r\n").split("\r\n")
    assert all(line.startswith(" ") for line in lines[1:])
    # Only a single word longer than the limit may exceed it.
    for line in lines:
        assert len(line) <= ar.MAX_LINE or " " not in line.strip()
    assert unfold(field).startswith(
        "Authentication-Results: mx.example.org; x-test=pass header.p0="
    )


BLOCK_PARTS = [
    b"Received: from a by b;\r\n\tTue, 1 Jan 2030 00:00:00 +0000\r\n",
    b"Authentication-Results: mx.example.org; spf=pass\r\n",
    b"authentication-results:   (comment (nested)) MX.Example.Org;\r\n dkim=pass\r\n",
    b"Authentication-Results: other.example; spf=fail\r\n",
    b'Authentication-Results: "mx.example.org"; dmarc=pass\r\n',
    b"Authentication-Results:\r\n mx.example.org;\r\n\tarc=pass\r\n",
    b"Authentication-Results: mx.example.org.evil; spf=pass\r\n",
    b"ARC-Authentication-Results: i=1; mx.example.org; spf=pass\r\n",
    b"Subject: Authentication-Results: mx.example.org\r\n",
    b"\r\n",
]


def test_strip_forged() -> None:
    block = b"".join(BLOCK_PARTS)
    kept = [p for i, p in enumerate(BLOCK_PARTS) if i not in {1, 2, 4, 5}]
    assert ar.strip_forged(block, "mx.example.org") == b"".join(kept)


def test_strip_forged_keeps_block_without_ours() -> None:
    block = b"".join(BLOCK_PARTS)
    assert ar.strip_forged(block, "elsewhere.example") == block


def test_authserv_id_of() -> None:
    assert ar.authserv_id_of(b" (c) x.example ; spf=pass") == "x.example"
    assert ar.authserv_id_of(b' "a\\"b"; none') == 'a"b'
    assert ar.authserv_id_of(b"   ") is None


_OTHER_NAMES = st.sampled_from([b"Received", b"Subject", b"X-Authentication-Results", b"To"])
_TEXT = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@st.composite
def _field(draw: st.DrawFn) -> tuple[bytes, bool]:
    ours = draw(st.booleans())
    ar_names = st.sampled_from([b"Authentication-Results", b"AUTHENTICATION-RESULTS"])
    name = draw(ar_names if ours else _OTHER_NAMES)
    head = b" MX.example.org;" if ours else b" "
    lines = [name + b":" + head + draw(_TEXT).lstrip(b" \t")]
    for more in draw(st.lists(_TEXT, max_size=3)):
        lines.append(draw(st.sampled_from([b" ", b"\t"])) + more)
    return b"\r\n".join(lines) + b"\r\n", ours


@given(st.lists(_field(), max_size=8))
def test_stripping_never_changes_other_fields(fields: list[tuple[bytes, bool]]) -> None:
    block = b"".join(f for f, _ in fields) + b"\r\n"
    expected = b"".join(f for f, ours in fields if not ours) + b"\r\n"
    assert ar.strip_forged(block, "mx.example.ORG") == expected


@given(st.binary(max_size=300))
def test_strip_forged_total_and_only_removes(block: bytes) -> None:
    out = ar.strip_forged(block, "mx.example.org")
    it = iter(block)
    assert all(byte in it for byte in out)  # a subsequence of the input
