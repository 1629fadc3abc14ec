from __future__ import annotations

from trimail.config.model import AuthConfig
from trimail.server.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_delays_double_then_block_then_expire() -> None:
    clock = Clock()
    config = AuthConfig(
        failure_delay_seconds=1, max_delay_seconds=5, block_after_failures=4, window_seconds=60
    )
    throttle = LoginThrottle(config, clock)
    assert [throttle.failed("10.0.0.1", "alice@x") for _ in range(4)] == [1, 2, 4, 5]
    assert throttle.blocked("10.0.0.1", "bob@x")  # the address is blocked
    assert throttle.blocked("10.0.0.2", "ALICE@x ")  # and the user name, from anywhere
    assert not throttle.blocked("10.0.0.2", "bob@x")
    clock.now = 61
    assert not throttle.blocked("10.0.0.1", "alice@x")


def test_success_forgets_the_user_not_the_address() -> None:
    throttle = LoginThrottle(AuthConfig(block_after_failures=2), Clock())
    throttle.failed("10.0.0.1", "alice@x")
    throttle.failed("10.0.0.9", "alice@x")
    throttle.succeeded("10.0.0.9", "alice@x")
    assert not throttle.blocked("10.0.0.5", "alice@x")
    throttle.failed("10.0.0.1", "carol@x")
    assert throttle.blocked("10.0.0.1", "dave@x")
