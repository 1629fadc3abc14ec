"""Whatever a server sends, the client engine yields events or RemoteProtocolError.

Uses the driver of the fuzz target (fuzz/fuzz_smtp_client.py), which plays the queue
runner and checks the invariants after every event.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

from trimail.smtp import AuthChallenge, CommandReply, ConnectionClosed
from trimail.testing import byte_by_byte, split_at

FUZZ = Path(__file__).resolve().parents[2] / "fuzz" / "fuzz_smtp_client.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_smtp_client", FUZZ)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FUZZ_MODULE = load()
GREETING = b"220 mx.example.org ESMTP\r\n"
REPLY_TOKENS = [
    b"220 mx\r\n",
    b"250 ok\r\n",
    b"250-",
    b"250 ",
    b"250-PIPELINING\r\n",
    b"250-CHUNKING\r\n",
    b"250 AUTH PLAIN\r\n",
    b"354 go\r\n",
    b"334 \r\n",
    b"334 ===\r\n",
    b"235 ok\r\n",
    b"421 bye\r\n",
    b"550 5.1.1 no\r\n",
    b"\r\n",
    b"\n",
    b"\r",
    b"x" * 130,
    b"\xff",
]


def test_fuzz_target_on_seeds() -> None:
    FUZZ_MODULE.fallback(iterations=300, seed=1)


def test_good_servers_complete_every_plan() -> None:
    for plan, happy in FUZZ_MODULE._HAPPY.items():
        if plan == "starttls":
            continue  # needs a cut after the 220 (below)
        driver = FUZZ_MODULE.run_client(plan, byte_by_byte(GREETING + happy))
        ends = [e for e in driver.events if isinstance(e, CommandReply) and e.ends_message]
        assert [e.reply.code for e in ends] == [250], plan
        assert isinstance(driver.events[-1], ConnectionClosed)


def test_starttls_plan_with_a_cut_after_the_220() -> None:
    data = GREETING + FUZZ_MODULE._HAPPY["starttls"]
    cut = data.index(b"220 2.0.0 go\r\n") + len(b"220 2.0.0 go\r\n")
    driver = FUZZ_MODULE.run_client("starttls", [data[:cut], data[cut:]])
    assert driver.conn.tls_active
    assert any(isinstance(e, CommandReply) and e.command == "DATA-END" for e in driver.events)


def test_auth_plan_sees_the_challenge() -> None:
    driver = FUZZ_MODULE.run_client("auth", [GREETING + FUZZ_MODULE._HAPPY["auth"]])
    assert AuthChallenge(data=b"") in driver.events and driver.conn.authenticated


@settings(max_examples=300, deadline=None)
@given(
    plan=st.sampled_from(sorted(FUZZ_MODULE.PLANS)),
    junk=st.binary(max_size=400)
    | st.lists(st.sampled_from(REPLY_TOKENS), max_size=40).map(b"".join),
    greeted=st.booleans(),
    cuts=st.lists(st.integers(1, 600), max_size=8),
)
def test_arbitrary_server_bytes_give_events_or_remote_errors(
    plan: str, junk: bytes, greeted: bool, cuts: list[int]
) -> None:
    data = (GREETING if greeted else b"") + junk
    FUZZ_MODULE.run_client(plan, split_at(cuts)(data))  # asserts the invariants
