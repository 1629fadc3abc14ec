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


def test_failures_are_shared_by_worker_processes() -> None:
    """Counts made in one forked worker block logins in every other one."""
    import os

    from trimail.server.throttle import SharedCounts

    table = SharedCounts(workers=2)
    config = AuthConfig(block_after_failures=3, window_seconds=60)
    pid = os.fork()
    if pid == 0:  # the second worker fails three times
        table.slot = 1
        child = LoginThrottle(config, table=table)
        for _ in range(3):
            child.failed("10.0.0.7", "mallory@x")
        os._exit(0)
    os.waitpid(pid, 0)
    parent = LoginThrottle(config, table=table)  # slot 0
    assert parent.blocked("10.0.0.7", "someone@x")
    assert parent.blocked("10.9.9.9", "MALLORY@x")
    parent.succeeded("10.9.9.9", "mallory@x")  # clears the user name in every row
    assert not parent.blocked("10.9.9.9", "mallory@x")
    assert parent.blocked("10.0.0.7", "anyone@x")
