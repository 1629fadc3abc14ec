"""Triplets from arbitrary addresses and paths: grouping, keys, never a crash."""

from __future__ import annotations

import contextlib
import ipaddress
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trimail_greylist import GreylistSettings, GreylistStore
from trimail_greylist.policy import Greylist
from trimail_greylist.settings import normalize_path_pattern, parse_network
from trimail_greylist.triplet import client_network, make_triplet, path_key, path_matches

from trimail.mail.address import NULL_PATH, Mailbox, ReversePath
from trimail.server.session_info import SessionInfo

mailboxes = st.builds(Mailbox, local_part=st.text(max_size=70), domain=st.text(max_size=70))
reverse_paths = st.one_of(st.just(NULL_PATH), mailboxes)
ip_texts = st.one_of(
    st.ip_addresses().map(str),
    st.text(max_size=60),
    st.ip_addresses(v=6).map(lambda a: f"{a}%eth0"),
)


@given(st.ip_addresses(v=4), st.integers(0, 32))
def test_ipv4_network_contains_the_client(address: ipaddress.IPv4Address, bits: int) -> None:
    network = ipaddress.ip_network(
        client_network(str(address), ipv4_prefix_length=bits, ipv6_prefix_length=64)
    )
    assert address in network and network.prefixlen == bits


@given(st.ip_addresses(v=6), st.integers(0, 128))
def test_ipv6_network_contains_the_client(address: ipaddress.IPv6Address, bits: int) -> None:
    network = ipaddress.ip_network(
        client_network(str(address), ipv4_prefix_length=24, ipv6_prefix_length=bits)
    )
    if address.ipv4_mapped is not None:
        assert network.version == 4 and address.ipv4_mapped in network
    else:
        assert address in network and network.prefixlen == bits


@given(ip_texts, reverse_paths, mailboxes)
def test_make_triplet_never_crashes(
    peer: str, reverse_path: ReversePath, forward_path: Mailbox
) -> None:
    triplet = make_triplet(peer, reverse_path, forward_path)
    assert (
        triplet.forward_path == triplet.forward_path.lower() or not triplet.forward_path.isascii()
    )
    if reverse_path is NULL_PATH:
        assert triplet.reverse_path == "<>"


@given(mailboxes)
def test_path_key_ignores_case(mailbox: Mailbox) -> None:
    upper = Mailbox(local_part=mailbox.local_part.upper(), domain=mailbox.domain.upper())
    assert path_key(upper) == path_key(
        Mailbox(local_part=upper.local_part.lower(), domain=upper.domain.lower())
    )


@given(st.text(max_size=80))
def test_patterns_and_networks_parse_or_raise_value_error(text: str) -> None:
    for parse in (normalize_path_pattern, parse_network):
        with contextlib.suppress(ValueError):
            parse(text)


@given(
    st.text(max_size=40),
    st.frozensets(st.sampled_from(["example.org", ".example.org", "a@example.org", "org"])),
)
def test_path_matches_never_crashes(address: str, patterns: frozenset[str]) -> None:
    path_matches(address, patterns)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ip_texts, reverse_paths, mailboxes, st.sampled_from(["smtp", "submission"]))
def test_the_whole_decision_never_crashes(
    tmp_path: Path, peer: str, reverse_path: ReversePath, forward_path: Mailbox, listener: str
) -> None:
    store = GreylistStore(tmp_path / "g.sqlite3")
    try:
        greylist = Greylist(GreylistSettings(greylist_loopback=True), store, lambda: 1e9)
        session = SessionInfo(
            listener=listener, peer_host=peer, peer_port=1, local_host="::1", local_port=25
        )
        first = greylist.judge(session, reverse_path, forward_path)
        assert first is None or first.reply.code == 451
        if listener != "smtp":
            assert first is None
    finally:
        store.close()
